//go:build linux && (amd64 || arm64 || riscv64)

package main

import "golang.org/x/sys/unix"

// kvmRun is KVM_RUN, _IO(KVMIO=0xae, 0x80); the same number on every
// architecture.
const kvmRun = 0xae80

// Offsets into struct seccomp_data (linux/seccomp.h): int nr; __u32 arch;
// __u64 instruction_pointer; __u64 args[6].
const (
	seccompDataNr   = 0
	seccompDataArch = 4
	// seccompDataArg1Lo is the low 32 bits of args[1] on a little-endian
	// host (all three supported architectures are). The kernel's ioctl
	// takes the request as unsigned int, so the high half never matters.
	seccompDataArg1Lo = 16 + 8
)

// kvmRunFilter returns a classic BPF seccomp program that returns
// SECCOMP_RET_USER_NOTIF for ioctl(fd, KVM_RUN, ...) of the native
// architecture and SECCOMP_RET_ALLOW for everything else: the first KVM_RUN
// blocks its thread and wakes the holder of the filter's listener, and every
// other syscall runs at full speed.
func kvmRunFilter() []unix.SockFilter {
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	// jeq skips the next instruction when A == k, else falls through.
	jeq := func(k uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k, Jt: 1, Jf: 0}
	}
	const (
		load  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		ret   = unix.BPF_RET | unix.BPF_K
		allow = unix.SECCOMP_RET_ALLOW
	)
	return []unix.SockFilter{
		// A syscall number means something only together with the
		// architecture (x32 and compat calls use other tables).
		stmt(load, seccompDataArch),
		jeq(auditArch),
		stmt(ret, allow),
		stmt(load, seccompDataNr),
		jeq(unix.SYS_IOCTL),
		stmt(ret, allow),
		stmt(load, seccompDataArg1Lo),
		jeq(kvmRun),
		stmt(ret, allow),
		stmt(ret, unix.SECCOMP_RET_USER_NOTIF),
	}
}
