//go:build linux && (amd64 || arm64 || riscv64)

package main

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// runClassicBPF interprets the instructions kvmRunFilter uses (absolute word
// loads, jeq with a constant, return a constant) over a seccomp_data buffer,
// so the program's logic is tested without installing it.
func runClassicBPF(t *testing.T, prog []unix.SockFilter, data []byte) uint32 {
	t.Helper()
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a = binary.LittleEndian.Uint32(data[ins.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if a == ins.K {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return ins.K
		default:
			t.Fatalf("instruction %d: unexpected code %#x", pc, ins.Code)
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

func seccompData(nr int, arch uint32, args ...uint64) []byte {
	b := make([]byte, 64) // struct seccomp_data
	binary.LittleEndian.PutUint32(b[0:], uint32(nr))
	binary.LittleEndian.PutUint32(b[4:], arch)
	for i, v := range args {
		binary.LittleEndian.PutUint64(b[16+8*i:], v)
	}
	return b
}

func TestKVMRunFilter(t *testing.T) {
	prog := kvmRunFilter()
	for _, tc := range []struct {
		name string
		data []byte
		want uint32
	}{
		{"KVM_RUN", seccompData(unix.SYS_IOCTL, auditArch, 7, kvmRun, 0), unix.SECCOMP_RET_USER_NOTIF},
		// The kernel truncates the request to 32 bits; so does the filter.
		{"KVM_RUN, high bits set", seccompData(unix.SYS_IOCTL, auditArch, 7, 0xdead0000_0000ae80, 0), unix.SECCOMP_RET_USER_NOTIF},
		{"other ioctl", seccompData(unix.SYS_IOCTL, auditArch, 7, 0xae41, 0), unix.SECCOMP_RET_ALLOW},
		{"other syscall with KVM_RUN as arg 1", seccompData(unix.SYS_WRITE, auditArch, 7, kvmRun, 0), unix.SECCOMP_RET_ALLOW},
		{"foreign architecture", seccompData(unix.SYS_IOCTL, auditArch^1, 7, kvmRun, 0), unix.SECCOMP_RET_ALLOW},
	} {
		if got := runClassicBPF(t, prog, tc.data); got != tc.want {
			t.Errorf("%s: filter returned %#x, want %#x", tc.name, got, tc.want)
		}
	}
}
