//go:build linux && amd64

package kvm

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctl issues a request whose argument is a plain integer.
//
// EINTR is retried for every request but KVM_RUN: setup ioctls such as
// KVM_CREATE_VM can be interrupted by the Go runtime's preemption signal
// and have no side effects when they fail, while an interrupted KVM_RUN
// is how a Kick works and must reach the caller.
func ioctl(fd int, req uintptr, arg uintptr) (uintptr, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if errno == unix.EINTR && req != KVM_RUN {
			continue
		}
		if errno != 0 {
			return r, errno
		}
		return r, nil
	}
}

// ioctlPtr issues a request whose argument points at a struct that mirrors
// the kernel's. T must be one of this package's mirror structs.
func ioctlPtr[T any](fd int, req uintptr, v *T) (uintptr, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(v)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return r, errno
		}
		return r, nil
	}
}

// ioctlVar issues a request whose argument is a header H followed by a
// flexible array of E (kvm_cpuid2, kvm_msrs, kvm_irq_routing). The entries
// are copied into one contiguous buffer and, after the call, back out, so
// both input and output arrays work. It returns the header as the kernel
// left it.
func ioctlVar[H, E any](fd int, req uintptr, hdr H, entries []E) (H, uintptr, error) {
	hsz := unsafe.Sizeof(hdr)
	var e E
	esz := unsafe.Sizeof(e)
	// Backing the buffer with uint64s keeps it 8-byte aligned, as the
	// kernel structs are.
	words := make([]uint64, (hsz+esz*uintptr(len(entries))+7)/8)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
	*(*H)(unsafe.Pointer(&buf[0])) = hdr
	if len(entries) > 0 {
		dst := unsafe.Slice((*E)(unsafe.Pointer(&buf[hsz])), len(entries))
		copy(dst, entries)
	}
	var r uintptr
	var errno unix.Errno
	for {
		r, _, errno = unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&buf[0])))
		if errno != unix.EINTR {
			break
		}
	}
	out := *(*H)(unsafe.Pointer(&buf[0]))
	if len(entries) > 0 {
		src := unsafe.Slice((*E)(unsafe.Pointer(&buf[hsz])), len(entries))
		copy(entries, src)
	}
	if errno != 0 {
		return out, r, errno
	}
	return out, r, nil
}
