//go:build linux && (amd64 || arm64 || riscv64)

package main

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// installKVMRunFilter installs kvmRunFilter on the calling thread and returns
// the filter's user-notification listener (close-on-exec).
//
// Precondition: the caller is locked to its OS thread and has set
// PR_SET_NO_NEW_PRIVS (or holds CAP_SYS_ADMIN); the filter binds only this
// thread, which is the one that must call execve so the new image inherits it.
func installKVMRunFilter() (listener int, err error) {
	filter := kvmRunFilter()
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return -1, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): %w", errno)
	}
	return int(fd), nil
}

// seccompNotif mirrors struct seccomp_notif (linux/seccomp.h) as bytes:
// __u64 id; __u32 pid; __u32 flags; struct seccomp_data data (64 bytes).
type seccompNotif [80]byte

// notification is the part of a seccomp_notif the tool uses.
type notification struct {
	TID  int    // thread that made the syscall
	Nr   int    // syscall number
	Arg1 uint64 // the ioctl request
}

// receiveNotification reads one pending notification from a seccomp
// listener. The thread that made the syscall stays blocked until the
// notification is answered or the thread dies.
func receiveNotification(listener int) (notification, error) {
	var buf seccompNotif // SECCOMP_IOCTL_NOTIF_RECV wants it zeroed
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&buf)))
	if errno != 0 {
		return notification{}, fmt.Errorf("SECCOMP_IOCTL_NOTIF_RECV: %w", errno)
	}
	data := buf[16:]
	return notification{
		TID:  int(binary.NativeEndian.Uint32(buf[8:])),
		Nr:   int(int32(binary.NativeEndian.Uint32(data[seccompDataNr:]))),
		Arg1: binary.NativeEndian.Uint64(data[16+8:]),
	}, nil
}

// ptraceGetSiginfoErr issues PTRACE_GETSIGINFO for tid and returns only its
// error: EINVAL there is how a tracer that did not use PTRACE_SEIZE tells a
// group-stop from a signal-delivery-stop (ptrace(2), "Group-stop").
//
// Precondition: called from the tracer thread, tid in a ptrace-stop.
func ptraceGetSiginfoErr(tid int) error {
	var info unix.Siginfo
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(tid), 0, uintptr(unsafe.Pointer(&info)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
