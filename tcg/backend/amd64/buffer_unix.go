//go:build unix

package amd64

import "syscall"

// mapCode maps size bytes of readable, writable and executable memory
// (reserved without backing: pages are allocated as code is written).
func mapCode(size int) ([]byte, error) {
	return syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE|syscall.PROT_EXEC,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
}

func unmapCode(b []byte) error { return syscall.Munmap(b) }
