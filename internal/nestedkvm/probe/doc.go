// Package probe holds only a test: the nested-KVM harness's self-check. Built
// with `go test -c`, it runs inside the outer guest of cmd/nestedkvm and proves
// that /dev/kvm there is a working hardware-style KVM (kvm_amd, not PVM) by
// creating a VM and a vCPU and running three real-mode instructions. On a
// development machine, whose /dev/kvm is PVM, it skips.
//
// -probe.fail makes it fail on purpose, to check that a failing test binary
// fails the whole nested run (make test-kvm-x86-selfcheck).
package probe
