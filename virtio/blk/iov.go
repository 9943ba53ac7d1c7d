package blk

// Helpers over iovecs: lists of guest buffers.

// iovLen is the total length of iov.
func iovLen(iov [][]byte) int64 {
	var n int64
	for _, b := range iov {
		n += int64(len(b))
	}
	return n
}

// advance returns iov without its first n bytes. It never writes into
// iov's array (it belongs to the caller); a cut through a buffer costs a
// new array, which only short transfers need.
func advance(iov [][]byte, n int) [][]byte {
	for len(iov) > 0 && n >= len(iov[0]) {
		n -= len(iov[0])
		iov = iov[1:]
	}
	if n == 0 || len(iov) == 0 {
		return iov
	}
	out := make([][]byte, len(iov))
	copy(out, iov)
	out[0] = out[0][n:]
	return out
}

// scatter copies src into iov starting at byte offset at.
func scatter(iov [][]byte, at int64, src []byte) {
	for _, b := range iov {
		if len(src) == 0 {
			return
		}
		if at >= int64(len(b)) {
			at -= int64(len(b))
			continue
		}
		k := copy(b[at:], src)
		src = src[k:]
		at = 0
	}
}

// gatherAt fills dst from iov starting at byte offset at.
func gatherAt(dst []byte, iov [][]byte, at int64) {
	for _, b := range iov {
		if len(dst) == 0 {
			return
		}
		if at >= int64(len(b)) {
			at -= int64(len(b))
			continue
		}
		k := copy(dst, b[at:])
		dst = dst[k:]
		at = 0
	}
}
