package blk

import "unsafe"

// addr is the address of b's first byte, for direct I/O alignment checks.
func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// join returns a followed by b as one slice when b starts where a ends:
// two descriptors over consecutive guest memory, which a driver often
// sends for one contiguous buffer split at page boundaries. One iovec
// instead of many saves the kernel work per segment, and lets direct I/O
// build fewer, larger requests. Both slices must come from the same
// mapping of guest RAM (the queue's buffers do), never from two Go
// allocations.
func join(a, b []byte) ([]byte, bool) {
	if len(a) == 0 || len(b) == 0 || unsafe.Pointer(unsafe.SliceData(b)) != unsafe.Add(unsafe.Pointer(unsafe.SliceData(a)), len(a)) {
		return nil, false
	}
	return unsafe.Slice(unsafe.SliceData(a), len(a)+len(b)), true
}
