//go:build linux && amd64

package kvm

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// VM is a KVM virtual machine: its fd, memory slots, irqchip and vCPUs.
type VM struct {
	fd       int
	mmapSize int
	once     sync.Once
}

// FD returns the VM fd, for diagnostics and for tests.
func (vm *VM) FD() int { return vm.fd }

// Close releases the VM fd. The kernel tears the VM down once every vCPU
// fd is closed too.
func (vm *VM) Close() error {
	var err error
	vm.once.Do(func() { err = unix.Close(vm.fd) })
	return err
}

// CheckExtension asks the VM (some capabilities differ per VM type).
func (vm *VM) CheckExtension(c int) (int, error) {
	v, err := ioctl(vm.fd, KVM_CHECK_EXTENSION, uintptr(c))
	return int(v), ioErr(fmt.Sprintf("KVM_CHECK_EXTENSION %d", c), err)
}

// SetUserMemoryRegion maps host memory at hostAddr as guest physical
// [gpa, gpa+size) in slot. size 0 deletes the slot.
//
// Precondition: hostAddr stays mapped until the slot is deleted or the VM
// is closed.
func (vm *VM) SetUserMemoryRegion(slot, flags uint32, gpa, size uint64, hostAddr uintptr) error {
	r := userMemoryRegion{Slot: slot, Flags: flags, GuestPhysAddr: gpa, MemorySize: size, UserspaceAddr: uint64(hostAddr)}
	_, err := ioctlPtr(vm.fd, KVM_SET_USER_MEMORY_REGION, &r)
	return ioErr(fmt.Sprintf("KVM_SET_USER_MEMORY_REGION slot %d gpa %#x size %#x", slot, gpa, size), err)
}

// SetTSSAddr places the three pages Intel VMX needs for real-mode
// emulation.
func (vm *VM) SetTSSAddr(gpa uint64) error {
	_, err := ioctl(vm.fd, KVM_SET_TSS_ADDR, uintptr(gpa))
	return ioErr(fmt.Sprintf("KVM_SET_TSS_ADDR %#x", gpa), err)
}

// SetIdentityMapAddr places the identity-map page table page Intel VMX
// needs for real mode without unrestricted guest.
func (vm *VM) SetIdentityMapAddr(gpa uint64) error {
	a := gpa
	_, err := ioctlPtr(vm.fd, KVM_SET_IDENTITY_MAP_ADDR, &a)
	return ioErr(fmt.Sprintf("KVM_SET_IDENTITY_MAP_ADDR %#x", gpa), err)
}

// CreateIRQChip creates the in-kernel PIC pair, IOAPIC and local APICs.
// Call it before creating vCPUs.
func (vm *VM) CreateIRQChip() error {
	_, err := ioctl(vm.fd, KVM_CREATE_IRQCHIP, 0)
	return ioErr("KVM_CREATE_IRQCHIP", err)
}

// CreatePIT2 creates the in-kernel i8254 PIT. flags may hold
// KVM_PIT_SPEAKER_DUMMY to have port 0x61 emulated too.
func (vm *VM) CreatePIT2(flags uint32) error {
	c := pitConfig{Flags: flags}
	_, err := ioctlPtr(vm.fd, KVM_CREATE_PIT2, &c)
	return ioErr("KVM_CREATE_PIT2", err)
}

// IRQLine sets the level of an in-kernel irqchip input (a GSI).
func (vm *VM) IRQLine(irq uint32, level bool) error {
	l := irqLevel{IRQ: irq}
	if level {
		l.Level = 1
	}
	_, err := ioctlPtr(vm.fd, KVM_IRQ_LINE, &l)
	if err != nil {
		return ioErr(fmt.Sprintf("KVM_IRQ_LINE %d", irq), err)
	}
	return nil
}

// SetGSIRouting replaces the whole GSI routing table.
func (vm *VM) SetGSIRouting(routes []IRQRoute) error {
	if len(routes) > KVM_MAX_IRQ_ROUTES {
		return fmt.Errorf("KVM_SET_GSI_ROUTING: %d routes, at most %d", len(routes), KVM_MAX_IRQ_ROUTES)
	}
	_, _, err := ioctlVar(vm.fd, KVM_SET_GSI_ROUTING, irqRoutingHeader{NR: uint32(len(routes))}, routes)
	return ioErr(fmt.Sprintf("KVM_SET_GSI_ROUTING (%d routes)", len(routes)), err)
}

// IRQFD makes a write to eventfd efd raise gsi (KVM_IRQFD). The eventfd
// stays owned by the caller.
func (vm *VM) IRQFD(efd int, gsi uint32) error {
	r := irqfd{FD: uint32(efd), GSI: gsi}
	_, err := ioctlPtr(vm.fd, KVM_IRQFD, &r)
	return ioErr(fmt.Sprintf("KVM_IRQFD fd %d gsi %d", efd, gsi), err)
}

// IRQFDDeassign undoes IRQFD.
func (vm *VM) IRQFDDeassign(efd int, gsi uint32) error {
	r := irqfd{FD: uint32(efd), GSI: gsi, Flags: KVM_IRQFD_FLAG_DEASSIGN}
	_, err := ioctlPtr(vm.fd, KVM_IRQFD, &r)
	return ioErr(fmt.Sprintf("KVM_IRQFD deassign fd %d gsi %d", efd, gsi), err)
}

// IOEventFD describes a KVM_IOEVENTFD registration: a guest write of Len
// bytes to Addr (port I/O if PIO) signals FD instead of exiting to
// userspace. With DataMatch set, only writes of that value do.
type IOEventFD struct {
	Addr      uint64
	Len       uint32 // 0 (any length, with KVM_CAP_IOEVENTFD_ANY_LENGTH), 1, 2, 4 or 8
	FD        int
	PIO       bool
	DataMatch *uint64
}

func (e IOEventFD) raw(deassign bool) ioeventfd {
	r := ioeventfd{Addr: e.Addr, Len: e.Len, FD: int32(e.FD)}
	if e.PIO {
		r.Flags |= KVM_IOEVENTFD_FLAG_PIO
	}
	if e.DataMatch != nil {
		r.Flags |= KVM_IOEVENTFD_FLAG_DATAMATCH
		r.DataMatch = *e.DataMatch
	}
	if deassign {
		r.Flags |= KVM_IOEVENTFD_FLAG_DEASSIGN
	}
	return r
}

// AddIOEventFD registers e.
func (vm *VM) AddIOEventFD(e IOEventFD) error {
	r := e.raw(false)
	_, err := ioctlPtr(vm.fd, KVM_IOEVENTFD, &r)
	return ioErr(fmt.Sprintf("KVM_IOEVENTFD addr %#x len %d", e.Addr, e.Len), err)
}

// RemoveIOEventFD undoes AddIOEventFD with the same description.
func (vm *VM) RemoveIOEventFD(e IOEventFD) error {
	r := e.raw(true)
	_, err := ioctlPtr(vm.fd, KVM_IOEVENTFD, &r)
	return ioErr(fmt.Sprintf("KVM_IOEVENTFD deassign addr %#x", e.Addr), err)
}

// EnableCap enables a VM capability (KVM_ENABLE_CAP on the VM fd).
func (vm *VM) EnableCap(c uint32, args ...uint64) error {
	ec := enableCap{Cap: c}
	if len(args) > len(ec.Args) {
		return fmt.Errorf("KVM_ENABLE_CAP %d: %d args, at most %d", c, len(args), len(ec.Args))
	}
	copy(ec.Args[:], args)
	_, err := ioctlPtr(vm.fd, KVM_ENABLE_CAP, &ec)
	return ioErr(fmt.Sprintf("KVM_ENABLE_CAP %d", c), err)
}

// CreateVCPU creates vCPU id and maps its kvm_run area.
func (vm *VM) CreateVCPU(id int) (*VCPU, error) {
	fd, err := ioctl(vm.fd, KVM_CREATE_VCPU, uintptr(id))
	if err != nil {
		return nil, ioErr(fmt.Sprintf("KVM_CREATE_VCPU %d", id), err)
	}
	mem, err := unix.Mmap(int(fd), 0, vm.mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(int(fd))
		return nil, fmt.Errorf("mmap kvm_run of vCPU %d: %w", id, err)
	}
	return newVCPU(id, int(fd), mem), nil
}
