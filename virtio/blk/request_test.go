package blk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/govmm/govmm/virtio"
)

// fuzzChain builds a chain from fuzz input: a control byte, the 16 header
// bytes, up to 8 readable and 8 writable piece lengths, then payload
// bytes for the readable stream after the header.
func fuzzChain(data []byte) (ctl byte, c *virtio.Chain, readable []byte, ok bool) {
	if len(data) < 1+HeaderSize+2 {
		return 0, nil, nil, false
	}
	ctl = data[0]
	hdr := data[1 : 1+HeaderSize]
	nr, nw := int(data[1+HeaderSize]&7)+1, int(data[1+HeaderSize]>>4&7)
	rest := data[2+HeaderSize:]
	piece := func() int {
		if len(rest) < 2 {
			return 1
		}
		n := int(binary.LittleEndian.Uint16(rest)) % 4200
		rest = rest[2:]
		return max(n, 0)
	}
	rl, wl := make([]int, nr), make([]int, nw)
	total := 0
	for i := range rl {
		rl[i] = piece()
		total += rl[i]
	}
	for i := range wl {
		wl[i] = piece()
	}
	// The readable stream: header, then the payload cycled from rest.
	readable = make([]byte, total)
	n := copy(readable, hdr)
	for i := n; i < total && len(rest) > 0; i++ {
		readable[i] = rest[(i-n)%len(rest)]
	}
	c = &virtio.Chain{}
	s := readable
	for _, k := range rl {
		if k == 0 {
			continue // the queue drops empty descriptors
		}
		c.Readable = append(c.Readable, s[:k:k])
		c.ReadLen += uint64(k)
		s = s[k:]
	}
	// Guest buffers come from one mapping; separate Go allocations would
	// be wrongly joined when the heap places them side by side. Gaps of
	// one byte keep some pieces apart, others touch.
	wtotal := 0
	for _, k := range wl {
		wtotal += k + 1
	}
	wmem := bytes.Repeat([]byte{0xaa}, wtotal)
	for i, k := range wl {
		if k == 0 {
			continue
		}
		c.Writable = append(c.Writable, wmem[:k:k])
		c.WriteLen += uint64(k)
		wmem = wmem[k+i%2:]
	}
	return ctl, c, readable, true
}

// FuzzRequest runs the request parser and executor on arbitrary chains
// against a strict in-memory backend: no panic, no access outside the
// disk, a valid status, nothing changed by a failed or read-only
// request, and IN/OUT moving exactly the right bytes.
//
//	go test ./virtio/blk -run '^$' -fuzz FuzzRequest -fuzztime 30s
func FuzzRequest(f *testing.F) {
	seed := func(ctl byte, typ uint32, sector uint64, nr, nw byte, pieces []uint16, payload []byte) {
		b := []byte{ctl}
		b = append(b, header(typ, sector)...)
		b = append(b, (nr-1)&7|nw<<4)
		for _, p := range pieces {
			b = binary.LittleEndian.AppendUint16(b, p)
		}
		f.Add(append(b, payload...))
	}
	seed(0, TypeIn, 3, 1, 2, []uint16{16, 1024, 1}, nil)
	seed(0, TypeOut, 5, 2, 1, []uint16{16, 512, 1}, []byte("data"))
	seed(0, TypeOut, 1, 3, 1, []uint16{3, 13 + 100, 412, 1}, []byte{1, 2, 3})
	seed(1, TypeOut, 0, 2, 1, []uint16{16, 512, 1}, nil)
	seed(0, TypeFlush, 0, 1, 1, []uint16{16, 1}, nil)
	seed(0, TypeGetID, 0, 1, 2, []uint16{16, 20, 1}, nil)
	seed(0, TypeDiscard, 0, 2, 1, []uint16{16, 32, 1}, append(segment(1, 2, 0), segment(9, 1, 0)...))
	seed(0, TypeWriteZeroes, 0, 2, 1, []uint16{16, 16, 1}, segment(4, 4, 1))
	seed(0, TypeIn, 127, 1, 1, []uint16{16, 1025}, nil)
	seed(0, 2, 0, 1, 1, []uint16{15, 1}, nil)
	seed(0, TypeIn, 0, 1, 0, []uint16{16}, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctl, c, _, ok := fuzzChain(data)
		if !ok {
			return
		}
		be := newMemBackend(t, 64<<10)
		ro := ctl&1 != 0
		d, err := New(Config{Backend: be, ReadOnly: ro, Serial: "fuzz"})
		if err != nil {
			t.Fatal(err)
		}
		features := d.Features()
		if ctl&2 != 0 {
			features &^= FeatureFlush
		}
		if ctl&4 != 0 {
			features &^= FeatureDiscard | FeatureWriteZeroes
		}
		var r request
		err = r.parse(c)
		switch {
		case c.ReadLen < HeaderSize:
			if !errors.Is(err, ErrShortHeader) {
				t.Fatalf("chain with %d readable bytes parsed: %v", c.ReadLen, err)
			}
			return
		case c.WriteLen < 1:
			if !errors.Is(err, ErrNoStatus) {
				t.Fatalf("chain without writable bytes parsed: %v", err)
			}
			return
		case err != nil:
			t.Fatalf("valid chain refused: %v", err)
		}
		if r.outLen != c.ReadLen-HeaderSize || r.inLen != c.WriteLen-1 || iovLen(r.out) != int64(r.outLen) || iovLen(r.in) != int64(r.inLen) {
			t.Fatalf("payload lengths out %d/%d in %d/%d", r.outLen, iovLen(r.out), r.inLen, iovLen(r.in))
		}
		last := c.Writable[len(c.Writable)-1]
		if &r.status[0] != &last[len(last)-1] {
			t.Fatal("status is not the last writable byte")
		}
		payload := make([]byte, r.outLen)
		gatherAt(payload, r.out, 0)
		before, _ := be.snapshot()

		x := &execState{d: d, be: be, features: features, writeThrough: features&FeatureFlush == 0}
		x.execute(&r)

		after, ops := be.snapshot()
		if r.result > StatusUnsupp {
			t.Fatalf("status %d", r.result)
		}
		if uint64(r.written) > r.inLen {
			t.Fatalf("wrote %d bytes into %d", r.written, r.inLen)
		}
		if r.status[0] != 0xaa {
			t.Fatal("execute wrote the status byte")
		}
		wrote := false
		for _, op := range ops {
			if !bytes.HasPrefix([]byte(op), []byte("read")) && op != "sync" {
				wrote = true
			}
		}
		if (r.result != StatusOK || ro) && (wrote || !bytes.Equal(before, after)) {
			t.Fatalf("status %d (read-only %v) but the backend changed: %q", r.result, ro, ops)
		}
		if r.result != StatusOK && r.written != 0 {
			t.Fatalf("status %d with %d bytes written", r.result, r.written)
		}
		in := make([]byte, r.inLen)
		gatherAt(in, r.in, 0)
		for _, b := range in[r.written:] {
			if b != 0xaa {
				t.Fatal("bytes past the used length were written")
			}
		}
		if r.result == StatusOK {
			off := r.sector * SectorSize
			switch r.typ {
			case TypeIn:
				if !bytes.Equal(in, after[off:off+r.inLen]) {
					t.Fatal("IN returned other bytes than the disk's")
				}
			case TypeOut:
				if !bytes.Equal(payload, after[off:off+r.outLen]) {
					t.Fatal("OUT left other bytes on the disk")
				}
				if x.writeThrough && ops[len(ops)-1] != "sync" {
					t.Fatalf("write-through OUT not synced: %q", ops)
				}
			case TypeFlush:
				if !ro && (len(ops) != 1 || ops[0] != "sync") {
					t.Fatalf("FLUSH operations %q", ops)
				}
			}
		}
	})
}

func TestParseSplitHeader(t *testing.T) {
	hdr := header(TypeOut, 0x0102030405060708)
	data := pattern(1, 1024)
	stream := append(append([]byte(nil), hdr...), data...)
	c := &virtio.Chain{
		Readable: [][]byte{stream[:1], stream[1:9], stream[9:20], stream[20:]},
		Writable: [][]byte{make([]byte, 1)},
		ReadLen:  uint64(len(stream)), WriteLen: 1,
	}
	var r request
	if err := r.parse(c); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, r.outLen)
	gatherAt(got, r.out, 0)
	if r.typ != TypeOut || r.sector != 0x0102030405060708 || !bytes.Equal(got, data) || len(r.in) != 0 {
		t.Fatalf("parsed type %d sector %#x payload equal %v in %d", r.typ, r.sector, bytes.Equal(got, data), len(r.in))
	}
	// The header is copied: the guest changing it later changes nothing.
	stream[0] = TypeIn
	if r.typ != TypeOut {
		t.Fatal("header not copied")
	}
}

func TestIOVHelpers(t *testing.T) {
	a, b, c := []byte("abc"), []byte("defg"), []byte("hi")
	iov := [][]byte{a, b, c}
	if got := advance(iov, 3); len(got) != 2 || &got[0][0] != &b[0] {
		t.Fatalf("advance 3: %q", got)
	}
	got := advance(iov, 5)
	if len(got) != 2 || string(got[0]) != "fg" || &iov[1][0] != &b[0] {
		t.Fatalf("advance 5: %q (iov %q)", got, iov)
	}
	if got := advance(iov, 9); len(got) != 0 {
		t.Fatalf("advance 9: %q", got)
	}
	scatter(iov, 2, []byte("XYZ"))
	if string(a)+string(b)+string(c) != "abXYZfghi" {
		t.Fatalf("scatter: %s%s%s", a, b, c)
	}
	dst := make([]byte, 4)
	gatherAt(dst, iov, 4)
	if string(dst) != "Zfgh" {
		t.Fatalf("gatherAt: %s", dst)
	}
}

// TestParseJoinsAdjacentBuffers: data split over descriptors that are
// consecutive in guest memory becomes one iovec; a gap keeps them apart.
func TestParseJoinsAdjacentBuffers(t *testing.T) {
	m := make([]byte, 3*4096+HeaderSize+2)
	hdr := m[:HeaderSize]
	copy(hdr, header(TypeIn, 0))
	data := m[HeaderSize : HeaderSize+3*4096]
	status := m[len(m)-1:]
	c := &virtio.Chain{
		Readable: [][]byte{hdr},
		Writable: [][]byte{data[:4096], data[4096:8192], data[8192:], status},
		ReadLen:  HeaderSize, WriteLen: 3*4096 + 1,
	}
	var r request
	if err := r.parse(c); err != nil {
		t.Fatal(err)
	}
	if len(r.in) != 1 || len(r.in[0]) != 3*4096 || &r.in[0][0] != &data[0] || &r.status[0] != &status[0] {
		t.Fatalf("adjacent buffers parsed as %d iovecs", len(r.in))
	}
	// The header and the first data byte are adjacent too, but the
	// header is not data; a one-byte gap before the status keeps it out.
	c.Readable = [][]byte{m[:HeaderSize+4096]}
	c.ReadLen = HeaderSize + 4096
	c.Writable = [][]byte{status}
	c.WriteLen = 1
	if err := r.parse(c); err != nil {
		t.Fatal(err)
	}
	if len(r.out) != 1 || len(r.out[0]) != 4096 || &r.out[0][0] != &m[HeaderSize] || len(r.in) != 0 {
		t.Fatalf("out %d iovecs of %d bytes, in %d", len(r.out), len(r.out[0]), len(r.in))
	}
}
