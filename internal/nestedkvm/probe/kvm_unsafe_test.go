package probe

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctlPtr issues an ioctl whose argument is a pointer to a kernel ABI struct.
func ioctlPtr[T any](fd int, req uint, arg *T) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(arg))); errno != 0 {
		return fmt.Errorf("ioctl %#x: %w", req, errno)
	}
	return nil
}

// sizeOf is unsafe.Sizeof for the size test, which lives in a file without unsafe.
func sizeOf[T any]() uintptr {
	var v T
	return unsafe.Sizeof(v)
}

// memoryRegion returns the KVM_SET_USER_MEMORY_REGION argument that maps mem at
// guest physical address gpa.
func memoryRegion(slot uint32, gpa uint64, mem []byte) kvmUserspaceMemoryRegion {
	return kvmUserspaceMemoryRegion{
		Slot:          slot,
		GuestPhysAddr: gpa,
		MemorySize:    uint64(len(mem)),
		UserspaceAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))),
	}
}
