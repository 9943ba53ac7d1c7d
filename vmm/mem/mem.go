// Package mem owns guest RAM. Every access from a device, a loader or the
// translator goes through Memory, which checks the guest-physical range
// (with overflow in mind) before touching host memory. Host pointers do
// not leave this package except through Regions, which exists so an
// accelerator can register the backing memory with KVM.
package mem

import (
	"errors"
	"fmt"
	"sort"
)

// GPA is a guest physical address.
type GPA uint64

// Spec asks for one RAM region at GPA of Size bytes.
type Spec struct {
	GPA  GPA
	Size uint64
}

// region is one contiguous piece of RAM.
type region struct {
	gpa  GPA
	size uint64
	host []byte
}

func (r *region) end() GPA { return r.gpa + GPA(r.size) }

// Memory is the guest's RAM: a sorted set of non-overlapping regions.
type Memory struct {
	regions []region
	total   uint64
	closed  bool
	// onWrite is told of guest bytes devices are given to write (see
	// SetWriteHook).
	onWrite func(gpa GPA, n uint64)
}

// SetWriteHook makes f hear of every range a device is handed to write
// into (SliceWritable) and every WriteAt: a translator drops the code it
// translated from those bytes, which DMA changes behind its back. Set it
// before the guest runs; f must be safe from any goroutine.
func (m *Memory) SetWriteHook(f func(gpa GPA, n uint64)) { m.onWrite = f }

// SliceWritable is Slice for bytes a device is about to write (a virtio
// chain's device-writable buffers): it tells the write hook.
func (m *Memory) SliceWritable(gpa GPA, n uint64) ([]byte, error) {
	b, err := m.Slice(gpa, n)
	if err == nil && m.onWrite != nil {
		m.onWrite(gpa, n)
	}
	return b, err
}

// RangeError reports a guest address range that is not entirely RAM.
type RangeError struct {
	GPA GPA
	Len uint64
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("guest range %#x+%#x is not RAM", uint64(e.GPA), e.Len)
}

// ErrNotRAM matches every *RangeError with errors.Is.
var ErrNotRAM = errors.New("guest range is not RAM")

// Is makes errors.Is(err, ErrNotRAM) true for range errors.
func (e *RangeError) Is(target error) bool { return target == ErrNotRAM }

// New maps the regions given. Regions must be page-aligned, non-empty and
// must not overlap.
func New(specs []Spec) (*Memory, error) {
	specs = append([]Spec(nil), specs...)
	sort.Slice(specs, func(i, j int) bool { return specs[i].GPA < specs[j].GPA })
	m := &Memory{}
	for i, s := range specs {
		if s.Size == 0 || s.Size%pageSize != 0 || uint64(s.GPA)%pageSize != 0 {
			m.Close()
			return nil, fmt.Errorf("guest memory region %#x+%#x: not page aligned", uint64(s.GPA), s.Size)
		}
		if uint64(s.GPA)+s.Size < uint64(s.GPA) {
			m.Close()
			return nil, fmt.Errorf("guest memory region %#x+%#x: wraps around", uint64(s.GPA), s.Size)
		}
		if i > 0 && specs[i-1].GPA+GPA(specs[i-1].Size) > s.GPA {
			m.Close()
			return nil, fmt.Errorf("guest memory regions %#x and %#x overlap", uint64(specs[i-1].GPA), uint64(s.GPA))
		}
		host, err := mapAnon(s.Size)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("map %d MiB of guest memory at %#x: %w", s.Size>>20, uint64(s.GPA), err)
		}
		m.regions = append(m.regions, region{gpa: s.GPA, size: s.Size, host: host})
		m.total += s.Size
	}
	return m, nil
}

// Close unmaps all guest memory. Accesses after Close fail with ErrNotRAM.
func (m *Memory) Close() error {
	var errs []error
	for i := range m.regions {
		if err := unmap(m.regions[i].host); err != nil {
			errs = append(errs, err)
		}
	}
	m.regions = nil
	m.closed = true
	return errors.Join(errs...)
}

// Size is the total RAM in bytes.
func (m *Memory) Size() uint64 { return m.total }

// find returns the region holding gpa.
func (m *Memory) find(gpa GPA) *region {
	rs := m.regions
	// Few regions (one or two): a linear scan beats sort.Search.
	for i := range rs {
		if gpa >= rs[i].gpa && gpa < rs[i].end() {
			return &rs[i]
		}
	}
	return nil
}

// Slice returns the host bytes backing [gpa, gpa+n). The range must lie in
// one region. The slice aliases guest memory: the guest may change it at
// any time, so callers copy what they validate before they use it.
func (m *Memory) Slice(gpa GPA, n uint64) ([]byte, error) {
	r := m.find(gpa)
	if r == nil {
		return nil, &RangeError{GPA: gpa, Len: n}
	}
	off := uint64(gpa - r.gpa)
	if n > r.size-off {
		return nil, &RangeError{GPA: gpa, Len: n}
	}
	return r.host[off : off+n : off+n], nil
}

// Contains reports whether [gpa, gpa+n) is RAM in one region.
func (m *Memory) Contains(gpa GPA, n uint64) bool {
	_, err := m.Slice(gpa, n)
	return err == nil
}

// ReadAt copies guest memory at GPA off into p. It implements io.ReaderAt;
// a range that is not entirely RAM copies nothing and fails.
func (m *Memory) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &RangeError{GPA: GPA(off), Len: uint64(len(p))}
	}
	b, err := m.Slice(GPA(off), uint64(len(p)))
	if err != nil {
		return 0, err
	}
	return copy(p, b), nil
}

// WriteAt copies p into guest memory at GPA off. It implements io.WriterAt.
func (m *Memory) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &RangeError{GPA: GPA(off), Len: uint64(len(p))}
	}
	b, err := m.SliceWritable(GPA(off), uint64(len(p)))
	if err != nil {
		return 0, err
	}
	return copy(b, p), nil
}

// RegionInfo describes one region for accelerator registration.
type RegionInfo struct {
	GPA      GPA
	Size     uint64
	HostAddr uintptr // for KVM_SET_USER_MEMORY_REGION only
}

// Regions lists the RAM regions in address order.
func (m *Memory) Regions() []RegionInfo {
	out := make([]RegionInfo, len(m.regions))
	for i := range m.regions {
		r := &m.regions[i]
		out[i] = RegionInfo{GPA: r.gpa, Size: r.size, HostAddr: hostAddr(r.host)}
	}
	return out
}

const pageSize = 4096
