package riscv

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

type lines struct {
	mu sync.Mutex
	v  map[int]bool
}

func (l *lines) set(i int, v bool) { l.mu.Lock(); l.v[i] = v; l.mu.Unlock() }
func (l *lines) get(i int) bool    { l.mu.Lock(); defer l.mu.Unlock(); return l.v[i] }

func w32(d interface{ Write(uint64, []byte) }, off uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	d.Write(off, b[:])
}

func r32(d interface{ Read(uint64, []byte) }, off uint64) uint32 {
	var b [4]byte
	d.Read(off, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

func TestPLIC(t *testing.T) {
	out := &lines{v: map[int]bool{}}
	p := NewPLIC(2, out.set)
	const sCtx1 = 3 // hart 1, supervisor
	w32(p, plicPriorityBase+4*10, 1)
	w32(p, plicPriorityBase+4*5, 3)
	w32(p, plicEnableBase+plicEnableStride*sCtx1, 1<<10|1<<5)
	p.Line(10).SetLevel(true)
	if !out.get(sCtx1) || out.get(0) || out.get(1) || out.get(2) {
		t.Fatalf("outputs %v after source 10 rose, want only context 3", out.v)
	}
	if r32(p, plicPendingBase)&(1<<10) == 0 {
		t.Fatal("source 10 not pending")
	}
	p.Line(5).SetLevel(true)
	// Claim returns the higher priority first.
	claimReg := uint64(plicContextBase + plicContextStride*sCtx1 + 4)
	if s := r32(p, claimReg); s != 5 {
		t.Fatalf("claim = %d, want 5", s)
	}
	if s := r32(p, claimReg); s != 10 {
		t.Fatalf("second claim = %d, want 10", s)
	}
	if out.get(sCtx1) {
		t.Fatal("output still high with everything claimed")
	}
	// A level that stays high pends again on completion, not before.
	if s := r32(p, claimReg); s != 0 {
		t.Fatalf("claim with nothing pending = %d", s)
	}
	w32(p, claimReg, 5)
	if !out.get(sCtx1) {
		t.Fatal("source 5 still high but not pending after complete")
	}
	p.Line(5).SetLevel(false)
	p.Line(10).SetLevel(false)
	w32(p, claimReg, 10)
	if s := r32(p, claimReg); s != 5 {
		t.Fatalf("claim = %d", s) // 5 was latched while high
	}
	w32(p, claimReg, 5)
	if out.get(sCtx1) {
		t.Fatal("output high with lines low and everything completed")
	}
	// Threshold masks.
	w32(p, plicContextBase+plicContextStride*sCtx1, 7)
	p.Line(5).SetLevel(true)
	if out.get(sCtx1) {
		t.Fatal("priority 3 passed threshold 7")
	}
	// Hostile accesses: no panic, nothing changes.
	for _, off := range []uint64{0, 3, PLICSize(2), 1 << 40, plicContextBase + plicContextStride*99} {
		var b [8]byte
		p.Read(off, b[:])
		p.Write(off, b[:])
		p.Read(off, b[:4])
		w32(p, off, 0xffffffff)
	}
	w32(p, claimReg, 0xffffffff) // completing a wild source
}

func TestComparator(t *testing.T) {
	c := NewClock()
	got := make(chan bool, 4)
	cmp := NewComparator(c, func(l bool) { got <- l })
	cmp.Set(c.Now() + TimebaseHz/50) // 20 ms
	if <-got {
		t.Fatal("line high before the deadline")
	}
	select {
	case l := <-got:
		if !l {
			t.Fatal("line went low")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("comparator never fired")
	}
	cmp.Set(0)
	if !<-got {
		t.Fatal("a past deadline did not raise the line at once")
	}
	cmp.Set(^uint64(0))
	if <-got {
		t.Fatal("the far future raised the line")
	}
	cmp.Stop()
}

func TestCLINT(t *testing.T) {
	c := NewClock()
	soft, timer := &lines{v: map[int]bool{}}, &lines{v: map[int]bool{}}
	cl := NewCLINT(c, 2, soft.set, timer.set)
	defer cl.Close()
	w32(cl, clintMSIP+4, 1)
	if !soft.get(1) || soft.get(0) || r32(cl, clintMSIP+4) != 1 {
		t.Fatal("msip for hart 1")
	}
	var b [8]byte
	cl.Read(clintMTime, b[:])
	t1 := binary.LittleEndian.Uint64(b[:])
	time.Sleep(2 * time.Millisecond)
	cl.Read(clintMTime, b[:])
	if t2 := binary.LittleEndian.Uint64(b[:]); t2 <= t1 {
		t.Fatalf("mtime did not advance: %d then %d", t1, t2)
	}
	// 32-bit halves of mtimecmp, as RV32 software writes them.
	w32(cl, clintMTimecmp+8+4, 0)
	w32(cl, clintMTimecmp+8, 1)
	if !timer.get(1) {
		t.Fatal("mtimecmp in the past did not raise MTIP")
	}
	binary.LittleEndian.PutUint64(b[:], ^uint64(0))
	cl.Write(clintMTimecmp+8, b[:])
	if timer.get(1) {
		t.Fatal("MTIP stayed high")
	}
}

func FuzzDevices(f *testing.F) {
	f.Add(uint64(0x200004), uint32(5), byte(4), true)
	f.Fuzz(func(t *testing.T, off uint64, v uint32, width byte, write bool) {
		p := NewPLIC(2, func(int, bool) {})
		cl := NewCLINT(NewClock(), 2, func(int, bool) {}, func(int, bool) {})
		defer cl.Close()
		b := make([]byte, int(width%9))
		for i := range b {
			b[i] = byte(v >> (8 * (i % 4)))
		}
		for _, d := range []interface {
			Read(uint64, []byte)
			Write(uint64, []byte)
		}{p, cl} {
			if write {
				d.Write(off, b)
			} else {
				d.Read(off, b)
			}
		}
		p.Line(int(v%(PLICSources-1)) + 1).SetLevel(write)
	})
}
