package main

import "testing"

func TestRingWindow(t *testing.T) {
	area := make([]byte, 10)
	for i := range area {
		area[i] = byte(i)
	}
	var dst [2][]byte
	for _, c := range []struct {
		off, n int
		want   []byte
		pieces int
	}{
		{0, 4, []byte{0, 1, 2, 3}, 1},
		{6, 4, []byte{6, 7, 8, 9}, 1},
		{8, 4, []byte{8, 9, 0, 1}, 2},
		{9, 10, []byte{9, 0, 1, 2, 3, 4, 5, 6, 7, 8}, 2},
	} {
		iov := ringWindow(area, c.off, c.n, &dst)
		var got []byte
		for _, b := range iov {
			got = append(got, b...)
		}
		if len(iov) != c.pieces || string(got) != string(c.want) {
			t.Errorf("off %d n %d: %v in %d pieces, want %v in %d", c.off, c.n, got, len(iov), c.want, c.pieces)
		}
	}
	if buffersFor(12+78, 1536) != 1 || buffersFor(12+1514, 1536) != 1 || buffersFor(12+1525, 1536) != 2 || buffersFor(12+65226, 4096) != 16 {
		t.Error("buffersFor")
	}
}
