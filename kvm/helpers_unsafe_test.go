//go:build linux && amd64

package kvm

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// testMem maps anonymous memory for a test guest and unmaps it at cleanup.
func testMem(t testing.TB, size int) ([]byte, uintptr) {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Fatalf("mmap guest memory: %v", err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	return mem, uintptr(unsafe.Pointer(&mem[0]))
}
