package main

import "golang.org/x/sys/unix"

// auditArch is the AUDIT_ARCH_* value seccomp reports for native syscalls.
const auditArch = unix.AUDIT_ARCH_RISCV64
