package mem

import (
	"errors"
	"math"
	"sync"
	"testing"
)

func newTestMem(t *testing.T) *Memory {
	t.Helper()
	m, err := New([]Spec{{GPA: 0x100000000, Size: 1 << 20}, {GPA: 0, Size: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestBounds(t *testing.T) {
	m := newTestMem(t)
	if m.Size() != 1<<20+64<<10 {
		t.Fatalf("Size = %#x", m.Size())
	}
	for _, c := range []struct {
		gpa GPA
		n   uint64
		ok  bool
	}{
		{0, 1, true},
		{0, 64 << 10, true},
		{0, 64<<10 + 1, false}, // runs past the region
		{64 << 10, 1, false},   // hole
		{0xffff, 1, true},
		{0x100000000, 1 << 20, true},
		{0x100000000 + 1<<20 - 1, 1, true},
		{0x100000000 + 1<<20, 1, false},
		{0x100000000, math.MaxUint64, false}, // length overflow
		{math.MaxUint64, 2, false},           // address overflow
		{0xfff0, math.MaxUint64 - 0xf, false},
	} {
		_, err := m.Slice(c.gpa, c.n)
		if (err == nil) != c.ok {
			t.Errorf("Slice(%#x, %#x) err = %v, want ok=%v", uint64(c.gpa), c.n, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrNotRAM) {
			t.Errorf("Slice error %v is not ErrNotRAM", err)
		}
	}
}

func TestReadWrite(t *testing.T) {
	m := newTestMem(t)
	if _, err := m.WriteAt([]byte("hello"), 0x100000010); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := m.ReadAt(buf, 0x100000010); err != nil || string(buf) != "hello" {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
	if _, err := m.WriteAt(make([]byte, 2), 64<<10-1); err == nil {
		t.Fatal("WriteAt across the end of a region succeeded")
	}
	if _, err := m.ReadAt(buf, -1); err == nil {
		t.Fatal("ReadAt at a negative offset succeeded")
	}
	s, _ := m.Slice(0x100, 4)
	if cap(s) != 4 {
		t.Fatalf("Slice capacity %d leaks memory beyond the range", cap(s))
	}
}

func TestUint16(t *testing.T) {
	m := newTestMem(t)
	m.WriteAt([]byte{1, 2, 3, 4}, 0x200)
	if v, _ := m.LoadUint16(0x202); v != 0x0403 {
		t.Fatalf("LoadUint16 = %#x", v)
	}
	if err := m.StoreUint16(0x200, 0xbeef); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	m.ReadAt(b, 0x200)
	if b[0] != 0xef || b[1] != 0xbe || b[2] != 3 || b[3] != 4 {
		t.Fatalf("StoreUint16 touched its neighbour: % x", b)
	}
	if _, err := m.LoadUint16(0x201); err == nil {
		t.Fatal("unaligned LoadUint16 succeeded")
	}
	if err := m.StoreUint16(64<<10, 1); err == nil {
		t.Fatal("StoreUint16 outside RAM succeeded")
	}
}

// TestUint16Concurrent has two goroutines store to the two halves of one
// word; neither may lose the other's writes.
func TestUint16Concurrent(t *testing.T) {
	m := newTestMem(t)
	var wg sync.WaitGroup
	for half := GPA(0); half < 2; half++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				m.StoreUint16(0x300+half*2, uint16(i))
			}
		}()
	}
	wg.Wait()
	a, _ := m.LoadUint16(0x300)
	b, _ := m.LoadUint16(0x302)
	if a != 9999 || b != 9999 {
		t.Fatalf("halves = %d, %d; want 9999, 9999", a, b)
	}
}

func TestNewErrors(t *testing.T) {
	for _, specs := range [][]Spec{
		{{GPA: 0, Size: 100}},
		{{GPA: 1, Size: 4096}},
		{{GPA: 0, Size: 8192}, {GPA: 4096, Size: 4096}},
		{{GPA: 0, Size: 0}},
	} {
		if m, err := New(specs); err == nil {
			m.Close()
			t.Errorf("New(%v) succeeded", specs)
		}
	}
}

func TestClosed(t *testing.T) {
	m, err := New([]Spec{{GPA: 0, Size: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := m.Slice(0, 1); err == nil {
		t.Fatal("Slice after Close succeeded")
	}
}

func FuzzSlice(f *testing.F) {
	m, err := New([]Spec{{GPA: 0x1000, Size: 8192}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint64(0x1000), uint64(16))
	f.Add(uint64(0x2fff), uint64(2))
	f.Fuzz(func(t *testing.T, gpa, n uint64) {
		b, err := m.Slice(GPA(gpa), n)
		inside := gpa >= 0x1000 && gpa < 0x3000 && n <= 0x3000-gpa
		if inside != (err == nil) {
			t.Fatalf("Slice(%#x,%#x) err=%v inside=%v", gpa, n, err, inside)
		}
		if err == nil && uint64(len(b)) != n {
			t.Fatalf("len %d", len(b))
		}
		if gpa%2 == 0 {
			m.LoadUint16(GPA(gpa))
			m.StoreUint16(GPA(gpa), 1)
		}
	})
}

// TestWriteHook: the hook hears of writable slices and WriteAt, not of
// plain Slice, and never of a range that failed.
func TestWriteHook(t *testing.T) {
	m := newTestMem(t)
	type w struct {
		gpa GPA
		n   uint64
	}
	var got []w
	m.SetWriteHook(func(gpa GPA, n uint64) { got = append(got, w{gpa, n}) })
	if _, err := m.Slice(0x1000, 16); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SliceWritable(0x100000010, 32); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteAt([]byte{1, 2, 3}, 0x2000); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SliceWritable(0xffff0, 64); err == nil {
		t.Fatal("a range past RAM was handed out")
	}
	want := []w{{0x100000010, 32}, {0x2000, 3}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("hook heard %v, want %v", got, want)
	}
}
