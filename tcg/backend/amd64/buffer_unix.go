//go:build unix

package amd64

import "syscall"

// mapCode maps size bytes of readable, writable and executable memory
// (reserved without backing: pages are allocated as code is written).
// Transparent huge pages are asked for: a Linux boot writes about 13 MB
// of code, and on a host that is itself a guest each 4 KiB first touch is
// a costly fault (about 38 ms of a 0.4 s boot went to them). Advice only.
func mapCode(size int) ([]byte, error) {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE|syscall.PROT_EXEC,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err == nil {
		adviseHugePages(b)
	}
	return b, err
}

func unmapCode(b []byte) error { return syscall.Munmap(b) }
