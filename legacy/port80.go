package legacy

import "sync/atomic"

// Port80 is the PC's POST-code port 0x80: firmware and kernels write
// progress codes to it, and on a real board a debug card displays them.
// The machine uses it as Cloud Hypervisor uses its debug port: a guest
// writes a code at a boot milestone and the callback timestamps it. It
// implements bus.Device; the register is the low byte of any access at
// offset 0.
//
// Linux also writes to port 0x80 as an I/O delay (outb_p); the callback
// then sees those writes too, with whatever value the kernel had at hand.
type Port80 struct {
	onWrite func(v byte)
	last    atomic.Uint32
	writes  atomic.Uint64
}

// NewPort80 returns a sink that calls onWrite, if not nil, with every value
// written. onWrite runs on the writing vCPU's goroutine, without any lock;
// it must be quick and safe for concurrent calls.
func NewPort80(onWrite func(v byte)) *Port80 { return &Port80{onWrite: onWrite} }

// Last returns the last value written, or 0.
func (p *Port80) Last() byte { return byte(p.last.Load()) }

// Writes returns the number of writes seen.
func (p *Port80) Writes() uint64 { return p.writes.Load() }

// Read implements bus.Device: the port reads back the last value written,
// as on boards whose POST latch is readable.
func (p *Port80) Read(off uint64, data []byte) {
	clear(data)
	if off == 0 && len(data) > 0 {
		data[0] = p.Last()
	}
}

// Write implements bus.Device.
func (p *Port80) Write(off uint64, data []byte) {
	if off != 0 || len(data) == 0 {
		return
	}
	v := data[0]
	p.last.Store(uint32(v))
	p.writes.Add(1)
	if p.onWrite != nil {
		p.onWrite(v)
	}
}
