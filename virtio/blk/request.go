package blk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/govmm/govmm/virtio"
)

// Chain-level violations: the chain cannot carry a request, so there is
// nowhere to write a status. Each breaks the queue (DEVICE_NEEDS_RESET).
var (
	ErrShortHeader = errors.New("virtio-blk request with fewer than 16 readable header bytes")
	ErrNoStatus    = errors.New("virtio-blk request without a writable status byte")
)

// request is one virtio_blk_req taken off the queue (virtio 1.2, 5.2.6).
// Its iovec slices alias guest memory and stay valid until the chain is
// put on the used ring. One request exists per descriptor head: a head is
// in flight at most once, so the array indexed by head needs no free list.
type request struct {
	head   uint16
	typ    uint32
	sector uint64
	// out is the readable payload (after the header); in the writable
	// payload (before the status byte).
	out, in       [][]byte
	outLen, inLen uint64
	status        []byte // one byte of guest memory

	result  byte
	written uint32 // payload bytes written into in
	busy    bool   // handed out and not completed (dispatcher only)
}

// parse fills r from a chain: the header is copied out of guest memory
// once (the guest may change it meanwhile), the payloads are sliced.
func (r *request) parse(c *virtio.Chain) error {
	if c.ReadLen < HeaderSize {
		return ErrShortHeader
	}
	if c.WriteLen < 1 {
		return ErrNoStatus
	}
	var hdr [HeaderSize]byte
	gather(hdr[:], c.Readable)
	r.head = c.Head
	r.typ = binary.LittleEndian.Uint32(hdr[0:])
	r.sector = binary.LittleEndian.Uint64(hdr[8:])
	r.out = skip(r.out[:0], c.Readable, HeaderSize)
	r.outLen = c.ReadLen - HeaderSize

	// The status is the last writable byte; the payload is everything
	// before it.
	r.in = r.in[:0]
	last := len(c.Writable) - 1
	for i, b := range c.Writable {
		if i == last {
			r.status = b[len(b)-1:]
			if len(b) > 1 {
				r.in = appendJoined(r.in, b[:len(b)-1])
			}
			break
		}
		r.in = appendJoined(r.in, b)
	}
	r.inLen = c.WriteLen - 1
	r.result, r.written = StatusIOErr, 0
	return nil
}

// gather copies the start of iov into dst.
func gather(dst []byte, iov [][]byte) int {
	n := 0
	for _, b := range iov {
		if n == len(dst) {
			break
		}
		n += copy(dst[n:], b)
	}
	return n
}

// skip appends iov without its first n bytes to dst.
func skip(dst, iov [][]byte, n uint64) [][]byte {
	for _, b := range iov {
		if n >= uint64(len(b)) {
			n -= uint64(len(b))
			continue
		}
		dst = appendJoined(dst, b[n:])
		n = 0
	}
	return dst
}

// appendJoined appends b to iov, extending the last buffer instead when
// b continues it in memory.
func appendJoined(iov [][]byte, b []byte) [][]byte {
	if n := len(iov); n > 0 {
		if j, ok := join(iov[n-1], b); ok {
			iov[n-1] = j
			return iov
		}
	}
	return append(iov, b)
}

// execState is what execute needs besides the request: kept apart from
// the worker so the fuzz target can run requests without goroutines.
type execState struct {
	d            *Device
	be           Backend
	features     uint64 // negotiated
	writeThrough bool   // FLUSH not negotiated: every write is synced
	segs         [maxSegments * segmentSize]byte
}

// execute serves r against the backend and sets r.result and r.written.
// It does not touch the status byte or the rings.
func (x *execState) execute(r *request) {
	d, m := x.d, &x.d.Metrics
	r.result, r.written = StatusOK, 0
	switch r.typ {
	case TypeIn:
		m.ReadRequests.Add(1)
		off, ok := x.dataRange(r, r.inLen)
		if !ok {
			r.result = StatusIOErr
			return
		}
		if err := x.be.ReadV(r.in, off); err != nil {
			x.ioError(r, "read", err)
			return
		}
		r.written = uint32(r.inLen)
		m.ReadBytes.Add(r.inLen)
	case TypeOut:
		m.WriteRequests.Add(1)
		if d.readOnly() {
			x.readOnlyReject(r)
			return
		}
		off, ok := x.dataRange(r, r.outLen)
		if !ok {
			r.result = StatusIOErr
			return
		}
		if err := x.be.WriteV(r.out, off); err != nil {
			x.ioError(r, "write", err)
			return
		}
		m.WriteBytes.Add(r.outLen)
		if x.writeThrough {
			x.sync(r)
		}
	case TypeFlush:
		m.FlushRequests.Add(1)
		if !d.readOnly() {
			x.sync(r)
		}
	case TypeGetID:
		m.GetIDRequests.Add(1)
		n := r.inLen
		if n > IDBytes {
			n = IDBytes
		}
		src := d.serial[:n]
		for _, b := range r.in {
			k := copy(b, src)
			src = src[k:]
			if len(src) == 0 {
				break
			}
		}
		r.written = uint32(n)
	case TypeDiscard, TypeWriteZeroes:
		x.discardOrZero(r)
	default:
		m.UnsupportedRequests.Add(1)
		d.logOnce(fmt.Sprintf("type-%d", r.typ), "request type %d is not supported", r.typ)
		r.result = StatusUnsupp
	}
}

// dataRange checks an IN or OUT request: a whole number of sectors, all
// inside the capacity (overflow-safe). It returns the byte offset.
func (x *execState) dataRange(r *request, n uint64) (int64, bool) {
	d, m := x.d, &x.d.Metrics
	if n%SectorSize != 0 {
		m.BadRequests.Add(1)
		d.logOnce("unaligned", "request of %d bytes is not a whole number of sectors", n)
		return 0, false
	}
	if !inCapacity(r.sector, n/SectorSize, d.capacity) {
		m.OutOfRangeRequests.Add(1)
		d.logOnce("range", "request for sectors %d+%d past the capacity %d", r.sector, n/SectorSize, d.capacity)
		return 0, false
	}
	return int64(r.sector * SectorSize), true
}

// inCapacity reports whether sectors [sector, sector+n) exist.
func inCapacity(sector, n, capacity uint64) bool {
	return sector <= capacity && n <= capacity-sector
}

func (x *execState) readOnlyReject(r *request) {
	x.d.Metrics.ReadOnlyRejects.Add(1)
	x.d.logOnce("ro", "write to a read-only drive refused")
	r.result = StatusIOErr
}

func (x *execState) ioError(r *request, op string, err error) {
	x.d.Metrics.IOErrors.Add(1)
	x.d.logOnce("io-"+op, "%s at sector %d: %v", op, r.sector, err)
	r.result = StatusIOErr
}

// sync is fdatasync: the status is set only after it returned.
func (x *execState) sync(r *request) {
	start := time.Now()
	err := x.be.Sync()
	x.d.Metrics.FlushNs.Add(uint64(time.Since(start)))
	if err != nil {
		x.ioError(r, "flush", err)
	}
}

// discardOrZero serves DISCARD and WRITE_ZEROES: every segment is checked
// before any is applied, so a rejected request changes nothing.
func (x *execState) discardOrZero(r *request) {
	d, m := x.d, &x.d.Metrics
	zero := r.typ == TypeWriteZeroes
	feature, limit := uint64(FeatureDiscard), uint32(maxDiscardSectors)
	if zero {
		feature, limit = FeatureWriteZeroes, maxWriteZeroesSectors
		m.WriteZeroesRequests.Add(1)
	} else {
		m.DiscardRequests.Add(1)
	}
	if x.features&feature == 0 {
		m.UnsupportedRequests.Add(1)
		r.result = StatusUnsupp
		return
	}
	if d.readOnly() {
		x.readOnlyReject(r)
		return
	}
	if r.outLen == 0 || r.outLen%segmentSize != 0 || r.outLen > uint64(len(x.segs)) {
		m.BadRequests.Add(1)
		d.logOnce("segments", "discard/write-zeroes payload of %d bytes (segments of %d, at most %d)", r.outLen, segmentSize, maxSegments)
		r.result = StatusIOErr
		return
	}
	segs := x.segs[:gather(x.segs[:r.outLen], r.out)]
	le := binary.LittleEndian
	for s := segs; len(s) > 0; s = s[segmentSize:] {
		sector, n, flags := le.Uint64(s), le.Uint32(s[8:]), le.Uint32(s[12:])
		switch {
		case flags&^flagUnmap != 0, !zero && flags&flagUnmap != 0:
			// virtio 1.2, 5.2.6.2: unknown flags, or UNMAP on a discard.
			m.UnsupportedRequests.Add(1)
			r.result = StatusUnsupp
			return
		case n > limit:
			m.BadRequests.Add(1)
			r.result = StatusIOErr
			return
		case !inCapacity(sector, uint64(n), d.capacity):
			m.OutOfRangeRequests.Add(1)
			d.logOnce("range", "discard/write-zeroes for sectors %d+%d past the capacity %d", sector, n, d.capacity)
			r.result = StatusIOErr
			return
		}
	}
	for s := segs; len(s) > 0; s = s[segmentSize:] {
		off, n := int64(le.Uint64(s)*SectorSize), int64(le.Uint32(s[8:]))*SectorSize
		if n == 0 {
			continue
		}
		var err error
		if zero {
			err = x.be.WriteZeroes(off, n, le.Uint32(s[12:])&flagUnmap != 0)
		} else {
			err = x.be.Discard(off, n)
		}
		if err != nil {
			x.ioError(r, "discard/write-zeroes", err)
			return
		}
	}
	if zero && x.writeThrough {
		x.sync(r)
	}
}
