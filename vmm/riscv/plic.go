package riscv

import (
	"encoding/binary"
	"sync"
)

// PLIC register layout (RISC-V Platform-Level Interrupt Controller
// Specification 1.0.0, chapter 3; QEMU virt and SiFive use the same).
const (
	plicPriorityBase  = 0x000000 // 4 bytes per source
	plicPendingBase   = 0x001000 // 1 bit per source
	plicEnableBase    = 0x002000 // 0x80 bytes per context
	plicEnableStride  = 0x80
	plicContextBase   = 0x200000 // 0x1000 bytes per context
	plicContextStride = 0x1000
	// PLICSources is the number of interrupt sources (1..PLICSources-1;
	// source 0 does not exist).
	PLICSources     = 32
	plicMaxPriority = 7
)

// PLICSize is the register window for harts harts (two contexts each).
func PLICSize(harts int) uint64 {
	return plicContextBase + uint64(2*harts)*plicContextStride
}

// PLIC routes level-triggered device interrupts to hart contexts: context
// 2h is hart h's machine mode (MEIP), 2h+1 its supervisor mode (SEIP).
// It implements bus.Device.
type PLIC struct {
	mu        sync.Mutex
	contexts  int
	priority  [PLICSources]uint32
	level     [PLICSources]bool // the device's line
	pending   [PLICSources]bool // gateway latched, waiting for a claim
	claimed   [PLICSources]bool // in service: no new pending until complete
	enable    [][PLICSources / 32]uint32
	threshold []uint32
	out       []bool
	// notify changes a context's output line. It is called with mu held
	// and must not call back into the PLIC.
	notify func(ctx int, level bool)
	// BadAccesses counts guest accesses to nothing.
	BadAccesses uint64
}

// NewPLIC returns a PLIC for harts harts. notify is called with the
// context and its new level whenever a context's output changes.
func NewPLIC(harts int, notify func(ctx int, level bool)) *PLIC {
	n := 2 * harts
	return &PLIC{
		contexts:  n,
		enable:    make([][PLICSources / 32]uint32, n),
		threshold: make([]uint32, n),
		out:       make([]bool, n),
		notify:    notify,
	}
}

// Line is a device's interrupt line into the PLIC (legacy.IRQLine).
type Line struct {
	p   *PLIC
	src int
}

// Line returns source src's line; src must be 1..PLICSources-1.
func (p *PLIC) Line(src int) Line { return Line{p, src} }

// SetLevel drives the source's line (level-triggered gateway: while high
// and not in service, the source is pending).
func (l Line) SetLevel(high bool) {
	p := l.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.level[l.src] = high
	if high && !p.claimed[l.src] {
		p.pending[l.src] = true
	}
	p.updateLocked()
}

// best returns the highest-priority pending, enabled source above ctx's
// threshold (lowest id on ties), or 0.
func (p *PLIC) bestLocked(ctx int) int {
	best, bestPrio := 0, p.threshold[ctx]
	for s := 1; s < PLICSources; s++ {
		if p.pending[s] && p.enable[ctx][s/32]&(1<<(s%32)) != 0 && p.priority[s] > bestPrio {
			best, bestPrio = s, p.priority[s]
		}
	}
	return best
}

func (p *PLIC) updateLocked() {
	for ctx := 0; ctx < p.contexts; ctx++ {
		lvl := p.bestLocked(ctx) != 0
		if lvl != p.out[ctx] {
			p.out[ctx] = lvl
			if p.notify != nil {
				p.notify(ctx, lvl)
			}
		}
	}
}

// Read implements bus.Device. Registers are 32-bit; other widths read 0.
func (p *PLIC) Read(off uint64, data []byte) {
	clear(data)
	if len(data) != 4 || off%4 != 0 {
		p.mu.Lock()
		p.BadAccesses++
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var v uint32
	switch {
	case off < plicPendingBase:
		if s := off / 4; s < PLICSources {
			v = p.priority[s]
		}
	case off < plicEnableBase:
		if w := (off - plicPendingBase) / 4; w < PLICSources/32 {
			for b := 0; b < 32; b++ {
				if p.pending[int(w)*32+b] {
					v |= 1 << b
				}
			}
		}
	case off < plicContextBase:
		ctx, w := int((off-plicEnableBase)/plicEnableStride), (off-plicEnableBase)%plicEnableStride/4
		if ctx < p.contexts && w < PLICSources/32 {
			v = p.enable[ctx][w]
		}
	default:
		ctx, reg := int((off-plicContextBase)/plicContextStride), (off-plicContextBase)%plicContextStride
		if ctx >= p.contexts {
			break
		}
		switch reg {
		case 0:
			v = p.threshold[ctx]
		case 4: // claim
			if s := p.bestLocked(ctx); s != 0 {
				p.pending[s] = false
				p.claimed[s] = true
				v = uint32(s)
				p.updateLocked()
			}
		}
	}
	binary.LittleEndian.PutUint32(data, v)
}

// Write implements bus.Device.
func (p *PLIC) Write(off uint64, data []byte) {
	if len(data) != 4 || off%4 != 0 {
		p.mu.Lock()
		p.BadAccesses++
		p.mu.Unlock()
		return
	}
	v := binary.LittleEndian.Uint32(data)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case off < plicPendingBase:
		if s := off / 4; s > 0 && s < PLICSources {
			p.priority[s] = min(v, plicMaxPriority)
		}
	case off < plicEnableBase:
		// Pending bits are read-only.
	case off < plicContextBase:
		ctx, w := int((off-plicEnableBase)/plicEnableStride), (off-plicEnableBase)%plicEnableStride/4
		if ctx < p.contexts && w < PLICSources/32 {
			if w == 0 {
				v &^= 1 // source 0 does not exist
			}
			p.enable[ctx][w] = v
		}
	default:
		ctx, reg := int((off-plicContextBase)/plicContextStride), (off-plicContextBase)%plicContextStride
		if ctx >= p.contexts {
			break
		}
		switch reg {
		case 0:
			p.threshold[ctx] = min(v, plicMaxPriority)
		case 4: // complete: the source may interrupt again
			if s := int(v); s > 0 && s < PLICSources && p.claimed[s] {
				p.claimed[s] = false
				if p.level[s] {
					p.pending[s] = true
				}
			}
		}
	}
	p.updateLocked()
}
