//go:build linux

package tap

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// writev is writev(2) on an []Iovec the caller keeps between calls. x/sys's
// unix.Writev builds a fresh []Iovec on every call, which escapes to the heap
// beyond 8 buffers (readv_unix.go: minIovec), and a virtio chain can be longer.
// An empty iov passes a nil pointer and count 0, which the tap rejects with
// EINVAL (shorter than an Ethernet header).
func writev(fd int, iov []unix.Iovec) (int, unix.Errno) {
	var p unsafe.Pointer
	if len(iov) > 0 {
		p = unsafe.Pointer(&iov[0])
	}
	n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(p), uintptr(len(iov)))
	return int(n), errno
}

// readv is readv(2), for the same reason as writev.
func readv(fd int, iov []unix.Iovec) (int, unix.Errno) {
	var p unsafe.Pointer
	if len(iov) > 0 {
		p = unsafe.Pointer(&iov[0])
	}
	n, _, errno := unix.Syscall(unix.SYS_READV, uintptr(fd), uintptr(p), uintptr(len(iov)))
	return int(n), errno
}

// ioctlSetInt32 passes a pointer to a C int, as TUNSETSNDBUF and TUNSETVNETHDRSZ
// expect (copy_from_user of sizeof(int) in tun.c).
func ioctlSetInt32(fd int, req uint, v int32) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&v)))
	if errno != 0 {
		return errno
	}
	return nil
}

// ioctlGetInt32 reads a C int through a pointer, as TUNGETSNDBUF writes one.
func ioctlGetInt32(fd int, req uint) (int32, error) {
	var v int32
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&v)))
	if errno != 0 {
		return 0, errno
	}
	return v, nil
}
