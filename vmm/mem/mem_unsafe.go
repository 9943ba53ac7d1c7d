package mem

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

func mapAnon(size uint64) ([]byte, error) {
	// NORESERVE: guests are sized for their peak, and untouched pages cost
	// nothing.
	b, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func unmap(b []byte) error { return unix.Munmap(b) }

func hostAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

// word returns the naturally aligned 32-bit word that holds the 16-bit
// value at gpa, and the shift of that value inside it.
func (m *Memory) word(gpa GPA) (*uint32, uint, error) {
	if gpa%2 != 0 {
		return nil, 0, &RangeError{GPA: gpa, Len: 2}
	}
	aligned := gpa &^ 3
	b, err := m.Slice(aligned, 4)
	if err != nil {
		return nil, 0, &RangeError{GPA: gpa, Len: 2}
	}
	return (*uint32)(unsafe.Pointer(&b[0])), uint(gpa-aligned) * 8, nil
}

// LoadUint16 reads the 16-bit little-endian value at gpa with acquire
// ordering (virtio ring indices: "virtio 1.2, 2.7.13.3"). gpa must be
// 2-byte aligned.
//
// Go's sync/atomic has no 16-bit operations, so this loads the containing
// aligned 32-bit word atomically.
func (m *Memory) LoadUint16(gpa GPA) (uint16, error) {
	w, shift, err := m.word(gpa)
	if err != nil {
		return 0, err
	}
	return uint16(atomic.LoadUint32(w) >> shift), nil
}

// StoreUint16 writes the 16-bit little-endian value at gpa with release
// ordering, without disturbing the neighbouring 16 bits (which the guest
// may be writing at the same time): it compare-and-swaps the containing
// 32-bit word. Being a locked instruction, it is also a full barrier, which
// the virtio event-index protocol needs between publishing an index and
// re-reading the driver's.
func (m *Memory) StoreUint16(gpa GPA, v uint16) error {
	w, shift, err := m.word(gpa)
	if err != nil {
		return err
	}
	mask := uint32(0xffff) << shift
	for {
		old := atomic.LoadUint32(w)
		nw := old&^mask | uint32(v)<<shift
		if atomic.CompareAndSwapUint32(w, old, nw) {
			return nil
		}
	}
}

// LoadUint32 atomically reads the aligned 32-bit value at gpa.
func (m *Memory) LoadUint32(gpa GPA) (uint32, error) {
	if gpa%4 != 0 {
		return 0, &RangeError{GPA: gpa, Len: 4}
	}
	b, err := m.Slice(gpa, 4)
	if err != nil {
		return 0, err
	}
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[0]))), nil
}

// StoreUint32 atomically writes the aligned 32-bit value at gpa.
func (m *Memory) StoreUint32(gpa GPA, v uint32) error {
	if gpa%4 != 0 {
		return &RangeError{GPA: gpa, Len: 4}
	}
	b, err := m.Slice(gpa, 4)
	if err != nil {
		return err
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b[0])), v)
	return nil
}

// AdviseHugePages asks for transparent huge pages on all guest RAM:
// loading a kernel and booting it then touch memory 2 MiB at a time
// instead of 4 KiB, dividing page faults (each a VM exit when the host is
// itself a guest) by 512. Advice only: a host without THP ignores it.
//
// Call it after the memory is registered with KVM: registering a slot
// over memory already advised takes ~10 ms longer on kvm_pvm.
func (m *Memory) AdviseHugePages() {
	for i := range m.regions {
		_ = unix.Madvise(m.regions[i].host, unix.MADV_HUGEPAGE)
	}
}

// Join returns a and b as one slice when b starts right where a ends in
// the same RAM region (two guest buffers adjacent in guest memory), so a
// caller can pass them to the kernel as one iovec. ok is false otherwise.
// Both must be slices of this Memory (from Slice or a virtio chain).
func (m *Memory) Join(a, b []byte) (joined []byte, ok bool) {
	if len(a) == 0 || len(b) == 0 {
		return nil, false
	}
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if pa+uintptr(len(a)) != pb {
		return nil, false
	}
	for i := range m.regions {
		h := m.regions[i].host
		base := uintptr(unsafe.Pointer(unsafe.SliceData(h)))
		if pa >= base && pb+uintptr(len(b)) <= base+uintptr(len(h)) {
			off := pa - base
			return h[off : off+uintptr(len(a)+len(b)) : off+uintptr(len(a)+len(b))], true
		}
	}
	return nil, false
}
