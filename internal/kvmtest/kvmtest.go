// Package kvmtest holds helpers for tests that need a hardware-style KVM:
// detection (PVM's /dev/kvm cannot boot x86 Linux), the Debian guest
// kernel, and a one-file initramfs whose init is the test binary itself,
// so tests run unchanged on a KVM host and inside the nested environment
// of make test-kvm-x86.
package kvmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/govmm/govmm/initramfs"
	"github.com/govmm/govmm/internal/nestedkvm/proto"
	"github.com/govmm/govmm/kvm"
)

// Inside reports whether this process runs inside make test-kvm-x86's
// outer guest, where a hardware-style KVM must be present: there a
// missing KVM is a failure, not a reason to skip.
func Inside() bool { return os.Getenv(proto.EnvInside) == "1" }

// SkipIfNoHardwareKVM skips, with the reason in one line, unless /dev/kvm
// is a hardware-style KVM that can boot x86 Linux.
func SkipIfNoHardwareKVM(t testing.TB) {
	t.Helper()
	skip := t.Skip
	if Inside() {
		skip = t.Fatal
	}
	sys, err := kvm.Open("")
	if err != nil {
		skip(fmt.Sprintf("needs hardware-style KVM: %v (runs under make test-kvm-x86)", err))
		return
	}
	sys.Close()
	if kvm.IsPVM() {
		skip("needs hardware-style KVM: /dev/kvm is kvm_pvm, which cannot boot x86 Linux (runs under make test-kvm-x86)")
	}
}

// EnvKernel names the x86 guest kernel for tests.
const EnvKernel = "GOVMM_TEST_KERNEL"

// DebianKernel returns the Debian x86 kernel to boot: $GOVMM_TEST_KERNEL,
// else the newest one make kernel-x86 left in the cache.
func DebianKernel(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvKernel); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v", EnvKernel, err)
		}
		return p
	}
	cache := os.Getenv("GOVMM_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "govmm")
	}
	found, _ := filepath.Glob(filepath.Join(cache, "debian-x86", "*", "boot", "vmlinuz-*"))
	if len(found) == 0 {
		if Inside() {
			t.Fatalf("no guest kernel: %s is not set", EnvKernel)
		}
		t.Skipf("no Debian x86 kernel: run make kernel-x86 or set %s", EnvKernel)
	}
	sort.Strings(found)
	return found[len(found)-1]
}

// SelfInitramfs writes an uncompressed initramfs whose /init is this test
// binary, with /dev/console and /dev/port nodes, and returns its path. The
// binary must be static (CGO_ENABLED=0) and its TestMain must call
// RunInitIfPID1 before m.Run.
func SelfInitramfs(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "initramfs.cpio")
	err = initramfs.WriteFile(out, initramfs.Archive{
		Devices: []initramfs.Device{initramfs.Console, {Path: "/dev/port", Major: 1, Minor: 4, Perm: 0o600}},
		Files:   []initramfs.File{{Path: "/init", Perm: 0o755, HostPath: self}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
