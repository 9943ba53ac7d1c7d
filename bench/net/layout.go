package main

// ringWindow returns, in dst, the n bytes of area starting at off, wrapping
// to its start: one or two slices, as the iovec a reader of a ring of
// buffers passes. It needs 0 <= off < len(area) and n <= len(area).
func ringWindow(area []byte, off, n int, dst *[2][]byte) [][]byte {
	if end := off + n; end <= len(area) {
		dst[0] = area[off:end]
		return dst[:1]
	}
	dst[0] = area[off:]
	dst[1] = area[:n-(len(area)-off)]
	return dst[:2]
}

// buffersFor is how many receive buffers of bufLen bytes a mergeable
// receive of frameLen bytes (header included) takes.
func buffersFor(frameLen, bufLen int) int { return (frameLen + bufLen - 1) / bufLen }
