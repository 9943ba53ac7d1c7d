// Package bus dispatches guest port I/O and MMIO accesses to devices by
// address range. It is shared by the KVM and TCG engines: both turn a guest
// access into a call to Bus.Read or Bus.Write.
package bus

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// Device is a guest-visible register block. Offsets are relative to the
// start of the range the device was registered at, so a device does not know
// (or care) where a machine placed it: the same UART sits at port 0x3f8 on
// x86 and at MMIO 0x10000000 on riscv64.
//
// len(data) is the access width (1, 2, 4 or 8). Data is little-endian.
// Read fills data; a device that does not implement a register leaves it
// zeroed or fills 0xff, as real hardware of its kind would.
//
// Read and Write may be called concurrently from several vCPU goroutines; a
// device serialises itself.
type Device interface {
	Read(off uint64, data []byte)
	Write(off uint64, data []byte)
}

// Range is one registered device window.
type Range struct {
	Base, Size uint64
	Name       string
	Dev        Device
}

func (r Range) end() uint64 { return r.Base + r.Size }

// Bus maps address ranges to devices. Registration happens while the machine
// is being built; lookups happen on every exit and take a read lock only.
type Bus struct {
	name   string
	mu     sync.RWMutex
	ranges []Range // sorted by Base, non-overlapping

	// Unclaimed counts accesses that hit no device. A guest probing for
	// hardware does this legitimately, so it is counted, not logged.
	Unclaimed atomic.Uint64
}

// New returns an empty bus; name appears in errors ("pio", "mmio").
func New(name string) *Bus { return &Bus{name: name} }

// Register places dev at [base, base+size). Overlaps are configuration bugs
// in the machine and are reported as errors.
func (b *Bus) Register(base, size uint64, name string, dev Device) error {
	if size == 0 || base+size < base {
		return fmt.Errorf("%s bus: %s: bad range %#x+%#x", b.name, name, base, size)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	nr := Range{Base: base, Size: size, Name: name, Dev: dev}
	i := sort.Search(len(b.ranges), func(i int) bool { return b.ranges[i].Base >= base })
	if i > 0 && b.ranges[i-1].end() > base {
		p := b.ranges[i-1]
		return fmt.Errorf("%s bus: %s at %#x overlaps %s at %#x+%#x", b.name, name, base, p.Name, p.Base, p.Size)
	}
	if i < len(b.ranges) && nr.end() > b.ranges[i].Base {
		n := b.ranges[i]
		return fmt.Errorf("%s bus: %s at %#x+%#x overlaps %s at %#x", b.name, name, base, size, n.Name, n.Base)
	}
	b.ranges = append(b.ranges, Range{})
	copy(b.ranges[i+1:], b.ranges[i:])
	b.ranges[i] = nr
	return nil
}

// Lookup returns the device whose range holds the whole access
// [addr, addr+n), and the offset of addr inside it.
func (b *Bus) Lookup(addr uint64, n int) (Device, uint64, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	rs := b.ranges
	i := sort.Search(len(rs), func(i int) bool { return rs[i].end() > addr })
	if i == len(rs) || rs[i].Base > addr {
		return nil, 0, false
	}
	off := addr - rs[i].Base
	if off+uint64(n) > rs[i].Size {
		return nil, 0, false
	}
	return rs[i].Dev, off, true
}

// Read dispatches a guest read. An access that hits no device (or straddles
// a device's end) reads as all ones, like an ISA or PCI bus with nothing
// driving it, and reports false.
func (b *Bus) Read(addr uint64, data []byte) bool {
	dev, off, ok := b.Lookup(addr, len(data))
	if !ok {
		for i := range data {
			data[i] = 0xff
		}
		b.Unclaimed.Add(1)
		return false
	}
	dev.Read(off, data)
	return true
}

// Write dispatches a guest write; unclaimed writes are discarded and
// counted.
func (b *Bus) Write(addr uint64, data []byte) bool {
	dev, off, ok := b.Lookup(addr, len(data))
	if !ok {
		b.Unclaimed.Add(1)
		return false
	}
	dev.Write(off, data)
	return true
}

// Ranges returns a copy of the registered ranges, for diagnostics.
func (b *Bus) Ranges() []Range {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return append([]Range(nil), b.ranges...)
}
