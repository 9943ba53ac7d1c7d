package linuxuser

import "syscall"

// reserve maps size bytes of zero-filled host memory without committing
// swap for it: pages are allocated on first touch.
func reserve(size uint64) ([]byte, error) {
	return syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
}

func release(b []byte) { syscall.Munmap(b) }

// discard gives host pages back; they read as zero afterwards.
func discard(b []byte) {
	if len(b) > 0 {
		syscall.Madvise(b, syscall.MADV_DONTNEED)
	}
}
