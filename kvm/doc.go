// Package kvm is a thin, typed layer over the Linux KVM API (/dev/kvm).
//
// It mirrors linux/kvm.h: constants keep the kernel's names, structs mirror
// the C layout with explicit padding, and each ioctl has one typed method
// (for example (*VCPU).SetRegs). Sizes and ioctl numbers are checked against
// the installed kernel headers by kvm_abi_test.go.
//
// Ownership: a System owns the /dev/kvm fd, a VM owns its VM fd, a VCPU owns
// its vCPU fd and its mmap'd kvm_run page. Each is closed by its owner's
// Close, which is idempotent. The package knows nothing of machines,
// devices or guest memory layout; vmm/ builds those on top of it.
//
// Stopping a vCPU: VCPU.Kick sets kvm_run.immediate_exit and sends a signal
// to the thread running KVM_RUN, so a blocked or about-to-enter KVM_RUN
// returns with ErrInterrupted. EINTR is never retried inside this package:
// the caller decides whether the interruption means "stop" or "go on".
//
// unsafe is confined to files named *_unsafe.go.
package kvm
