//go:build linux && amd64

package kvm

import (
	"fmt"
	"unsafe"
)

func (c *VCPU) hdr() *runHeader { return (*runHeader)(unsafe.Pointer(&c.run[0])) }

func exitAs[T any](c *VCPU) *T { return (*T)(unsafe.Pointer(&c.run[runExitOffset])) }

// setImmediateExit stores one byte in kvm_run. The kernel reads it with
// READ_ONCE and x86 byte stores are atomic, so no lock is needed; Go's
// sync/atomic has no byte store.
func (c *VCPU) setImmediateExit(v uint8) {
	(*runHeader)(unsafe.Pointer(&c.run[0])).ImmediateExit = v
}

// ExitReason is kvm_run.exit_reason after Run returned.
func (c *VCPU) ExitReason() uint32 { return c.hdr().ExitReason }

// IOExit is a KVM_EXIT_IO: Count accesses of Size bytes each to Port. Data
// is the kvm_run buffer holding all of them, element i at [i*Size:]; for
// an IN the handler fills it and KVM copies it into the guest on the next
// Run.
type IOExit struct {
	Port  uint16
	Size  int
	Count int
	Out   bool
	Data  []byte
}

// IO decodes a KVM_EXIT_IO. The kernel's data_offset and sizes are checked
// against the kvm_run mapping rather than trusted.
func (c *VCPU) IO() (IOExit, error) {
	e := exitAs[ioExit](c)
	n := uint64(e.Size) * uint64(e.Count)
	if e.DataOffset > uint64(len(c.run)) || n > uint64(len(c.run))-e.DataOffset {
		return IOExit{}, fmt.Errorf("vcpu %d: KVM_EXIT_IO data [%#x+%d] outside kvm_run (%d bytes)", c.id, e.DataOffset, n, len(c.run))
	}
	return IOExit{
		Port:  e.Port,
		Size:  int(e.Size),
		Count: int(e.Count),
		Out:   e.Direction == KVM_EXIT_IO_OUT,
		Data:  c.run[e.DataOffset : e.DataOffset+n],
	}, nil
}

// MMIOExit is a KVM_EXIT_MMIO. Data aliases kvm_run.mmio.data: for a read
// the handler fills it and KVM completes the guest load on the next Run.
type MMIOExit struct {
	Addr  uint64
	Data  []byte
	Write bool
}

// MMIO decodes a KVM_EXIT_MMIO.
func (c *VCPU) MMIO() (MMIOExit, error) {
	e := exitAs[mmioExit](c)
	if e.Len > uint32(len(e.Data)) {
		return MMIOExit{}, fmt.Errorf("vcpu %d: KVM_EXIT_MMIO length %d", c.id, e.Len)
	}
	return MMIOExit{Addr: e.PhysAddr, Data: e.Data[:e.Len], Write: e.IsWrite != 0}, nil
}

// InternalError decodes a KVM_EXIT_INTERNAL_ERROR.
func (c *VCPU) InternalError() (suberror uint32, data []uint64) {
	e := exitAs[internalExit](c)
	n := min(int(e.NData), len(e.Data))
	return e.Suberror, append([]uint64(nil), e.Data[:n]...)
}

// SystemEvent decodes a KVM_EXIT_SYSTEM_EVENT.
func (c *VCPU) SystemEvent() (typ uint32, data []uint64) {
	e := exitAs[systemEventExit](c)
	n := min(int(e.NData), len(e.Data))
	return e.Type, append([]uint64(nil), e.Data[:n]...)
}

// FailEntry decodes a KVM_EXIT_FAIL_ENTRY.
func (c *VCPU) FailEntry() (reason uint64, cpu uint32) {
	e := exitAs[failEntryExit](c)
	return e.HardwareEntryFailureReason, e.CPU
}

// HardwareExitReason decodes a KVM_EXIT_UNKNOWN.
func (c *VCPU) HardwareExitReason() uint64 { return *exitAs[uint64](c) }
