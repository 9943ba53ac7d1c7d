package riscv

import (
	"encoding/binary"
	"sync"
	"time"
)

// TimebaseHz is the frequency of mtime and the time CSR: 10 MHz, as QEMU's
// virt machine (the FDT's timebase-frequency says so to the guest).
const TimebaseHz = 10_000_000

// Clock is the machine's mtime: ticks of TimebaseHz since the machine
// started. One Clock is shared by the CLINT, the time CSR and SBI timers.
type Clock struct{ start time.Time }

// NewClock starts a clock at 0.
func NewClock() *Clock { return &Clock{start: time.Now()} }

// Now is the current mtime.
func (c *Clock) Now() uint64 {
	return uint64(time.Since(c.start)) / (uint64(time.Second) / TimebaseHz)
}

// at is the wall time when mtime reaches t.
func (c *Clock) at(t uint64) time.Time {
	return c.start.Add(time.Duration(t) * (time.Second / TimebaseHz))
}

// Comparator raises a line while the clock is at or past a deadline
// (mtimecmp, stimecmp, or an SBI set_timer). It wakes by a Go timer rather
// than being polled, so an idle hart costs nothing.
type Comparator struct {
	mu       sync.Mutex
	clock    *Clock
	deadline uint64
	timer    *time.Timer
	set      func(level bool)
}

// NewComparator returns a comparator with the deadline at the far future
// (the reset value of mtimecmp is unspecified; all ones never fires).
func NewComparator(c *Clock, set func(level bool)) *Comparator {
	return &Comparator{clock: c, deadline: ^uint64(0), set: set}
}

// Set moves the deadline: the line drops at once if the new deadline is
// in the future and rises when the clock gets there.
func (t *Comparator) Set(deadline uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deadline = deadline
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	if t.clock.Now() >= deadline {
		t.set(true)
		return
	}
	t.set(false)
	if deadline == ^uint64(0) {
		return
	}
	t.timer = time.AfterFunc(time.Until(t.clock.at(deadline)), t.fire)
}

// Deadline returns the current deadline.
func (t *Comparator) Deadline() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.deadline
}

func (t *Comparator) fire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.clock.Now() >= t.deadline {
		t.set(true)
		return
	}
	// Woken early (timer granularity): wait for the rest.
	t.timer = time.AfterFunc(time.Until(t.clock.at(t.deadline)), t.fire)
}

// Stop cancels the timer.
func (t *Comparator) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}

// CLINT register layout (SiFive CLINT, as in QEMU virt; the ACLINT MSWI
// and MTIMER devices at the same offsets).
const (
	clintMSIP     = 0x0000 // 4 bytes per hart
	clintMTimecmp = 0x4000 // 8 bytes per hart
	clintMTime    = 0xbff8
	// CLINTSize is the register window.
	CLINTSize = 0x10000
)

// CLINT is the core-local interruptor: machine software interrupts
// (msip) and the machine timer (mtime, mtimecmp). It implements
// bus.Device; 32- and 64-bit accesses are served, others read as zero.
type CLINT struct {
	clock *Clock
	mu    sync.Mutex
	msip  []bool
	cmp   []*Comparator
	soft  func(hart int, level bool)
}

// NewCLINT returns a CLINT for harts harts. soft drives a hart's MSIP,
// timer its MTIP.
func NewCLINT(c *Clock, harts int, soft func(hart int, level bool), timer func(hart int, level bool)) *CLINT {
	cl := &CLINT{clock: c, msip: make([]bool, harts), soft: soft}
	for h := 0; h < harts; h++ {
		cl.cmp = append(cl.cmp, NewComparator(c, func(l bool) { timer(h, l) }))
	}
	return cl
}

// Close stops the timers.
func (cl *CLINT) Close() {
	for _, c := range cl.cmp {
		c.Stop()
	}
}

func (cl *CLINT) read64(off uint64) (uint64, bool) {
	switch {
	case off < clintMTimecmp:
		if h := off / 4; h < uint64(len(cl.msip)) && off%4 == 0 {
			cl.mu.Lock()
			defer cl.mu.Unlock()
			if cl.msip[h] {
				return 1, true
			}
			return 0, true
		}
	case off >= clintMTime && off < clintMTime+8:
		return cl.clock.Now() >> (8 * (off - clintMTime)), true
	case off < clintMTime:
		h := (off - clintMTimecmp) / 8
		if h < uint64(len(cl.cmp)) {
			return cl.cmp[h].Deadline() >> (8 * ((off - clintMTimecmp) % 8)), true
		}
	}
	return 0, false
}

// Read implements bus.Device.
func (cl *CLINT) Read(off uint64, data []byte) {
	clear(data)
	if len(data) != 4 && len(data) != 8 {
		return
	}
	v, _ := cl.read64(off)
	for i := range data {
		data[i] = byte(v >> (8 * i))
	}
}

// Write implements bus.Device. A 32-bit write to half of mtimecmp
// updates that half, as RV32 software does.
func (cl *CLINT) Write(off uint64, data []byte) {
	if len(data) != 4 && len(data) != 8 {
		return
	}
	var v uint64
	if len(data) == 8 {
		v = binary.LittleEndian.Uint64(data)
	} else {
		v = uint64(binary.LittleEndian.Uint32(data))
	}
	switch {
	case off < clintMTimecmp:
		if h := off / 4; h < uint64(len(cl.msip)) && off%4 == 0 {
			on := v&1 != 0
			cl.mu.Lock()
			cl.msip[h] = on
			cl.mu.Unlock()
			cl.soft(int(h), on)
		}
	case off >= clintMTime:
		// mtime is read-only here: every hart shares the host's clock.
	default:
		h := (off - clintMTimecmp) / 8
		if h >= uint64(len(cl.cmp)) {
			return
		}
		c := cl.cmp[h]
		cur := c.Deadline()
		switch {
		case len(data) == 8 && off%8 == 0:
			c.Set(v)
		case len(data) == 4 && off%8 == 0:
			c.Set(cur&^0xffffffff | v)
		case len(data) == 4 && off%8 == 4:
			c.Set(cur&0xffffffff | v<<32)
		}
	}
}
