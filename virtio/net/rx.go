package net

import (
	"encoding/binary"
	"errors"
	"syscall"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/tap"
)

// receive moves frames from the backend straight into the guest's receive
// buffers (one readv per frame, no copy through the VMM), for as long as
// the backend has frames and the guest has room for the largest frame the
// backend may send. When the guest runs out of buffers the backend fd is
// no longer watched, so a full guest costs nothing; the guest's next
// receive kick resumes it.
//
// Chains taken from the ring stay with the worker until a frame uses
// them: each frame replaces only the chains it consumed, instead of
// taking (and giving back) enough chains for a 64 KiB frame every time.
// Holding every chain the driver made available also keeps EVENT_IDX
// right: when the device waits for more, avail_event is the driver's own
// avail idx, so the driver's next refill kicks.
func (w *worker) receive() {
	q := w.rx
	if q.Broken() != nil {
		return
	}
	m := &w.d.Metrics
	frames := 0
	for {
		if !w.takeRXBuffers() {
			if q.Broken() != nil {
				return
			}
			// Out of buffers: stop watching the backend, ask for a kick,
			// and re-check in case buffers arrived meanwhile.
			if w.tapMask&eventfd.In != 0 {
				m.NoRxAvailBuffer.Add(1)
			}
			w.setTap(w.tapMask &^ eventfd.In)
			more, err := q.EnableNotifications()
			if err != nil {
				w.needsReset(q, err)
				return
			}
			if more {
				continue
			}
			break
		}
		q.DisableNotifications()
		w.setTap(w.tapMask | eventfd.In)

		iov := w.iov
		if !w.vnet {
			// The backend's frames have no header: read past it, then
			// write a zero header ("no offloads") in front.
			iov = skipHeader(nil, w.iov, HdrSize)
		}
		n, err := w.be.Readv(iov)
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil {
			if errors.Is(err, tap.ErrTruncated) {
				m.RxDropped.Add(1)
				w.d.logOnce("rx-truncated", "a %d-byte frame did not fit the receive buffers; dropped", n)
				continue
			}
			m.TapReadErrors.Add(1)
			w.d.logOnce("rx-read", "read from backend: %v", err)
			// Stop watching a failing backend until the next receive kick,
			// rather than spin on it.
			w.setTap(w.tapMask &^ eventfd.In)
			break
		}
		if !w.vnet {
			clear(w.hdr[:])
			writeIOV(w.iov, w.hdr[:])
			n += HdrSize
		}
		if n < HdrSize {
			// A backend frame shorter than its own header: nothing valid
			// to deliver; the chains stay for the next frame.
			m.RxDropped.Add(1)
			continue
		}
		// Spread the frame over the chains in order; the rest stay held.
		used, usedBytes := 0, uint64(0)
		rem := uint64(n)
		for _, c := range w.chains {
			if rem == 0 {
				break
			}
			rem -= min(rem, c.len)
			used++
			usedBytes += c.len
		}
		// num_buffers, the header's last field, must be 1 without
		// VIRTIO_NET_F_MRG_RXBUF (virtio 1.2, 5.1.6.3.1).
		var nb [2]byte
		binary.LittleEndian.PutUint16(nb[:], uint16(used))
		writeIOVAt(w.iov, 10, nb[:])
		rem = uint64(n)
		for _, c := range w.chains[:used] {
			l := min(rem, c.len)
			rem -= l
			w.held -= c.len
			if err := q.Push(c.head, uint32(l)); err != nil {
				w.needsReset(q, err)
				return
			}
		}
		w.chains = w.chains[:copy(w.chains, w.chains[used:])]
		w.dropIOV(usedBytes)
		m.RxFrames.Add(1)
		m.RxBytes.Add(uint64(n - HdrSize))
		// Interrupt coalescing: while frames keep coming, notify (if
		// the driver asked) only once the ring is half empty, early
		// enough for the driver to refill before the device starves;
		// the notify below covers the end of a burst.
		if frames++; frames%rxLowWaterEvery == 0 {
			if p, err := q.Pending(); err == nil && int(p) < int(q.Size)/2 {
				w.notify(q)
			}
		}
	}
	w.notify(q)
}

// rxLowWaterEvery is how many frames pass between checks of the receive
// ring's fill level.
const rxLowWaterEvery = 8

// takeRXBuffers tops up the held chains (w.chains, w.iov) until they can
// hold the largest frame (with mergeable buffers) or make one chain
// (without). It returns false when the ring has no more; what was taken
// stays held.
func (w *worker) takeRXBuffers() bool {
	q := w.rx
	for (w.mrg && w.held < w.rxNeed) || len(w.chains) == 0 {
		c, err := q.Pop()
		if err != nil {
			w.needsReset(q, err)
			return false
		}
		if c == nil {
			return false
		}
		if c.ReadLen > 0 || c.WriteLen < HdrSize || len(w.iov)+len(c.Writable) > maxIOV {
			// Receive buffers are device-writable only and hold at
			// least a header (virtio 1.2, 5.1.6.3.1).
			q.Unpop()
			w.needsReset(q, q.Fail(errBadRXChain))
			return false
		}
		w.addIOV(c.Writable)
		w.chains = append(w.chains, rxChain{head: c.Head, len: c.WriteLen})
		w.held += c.WriteLen
	}
	return true
}

// addIOV appends buffers to w.iov, joining each to the previous one when
// they are adjacent in guest memory: Linux carves mergeable buffers one
// after another out of page fragments, so the held chains usually make a
// few iovecs instead of dozens, which readv imports one by one.
func (w *worker) addIOV(bufs [][]byte) {
	for _, b := range bufs {
		if n := len(w.iov); n > 0 {
			if j, ok := w.a.Mem.Join(w.iov[n-1], b); ok {
				w.iov[n-1] = j
				continue
			}
		}
		w.iov = append(w.iov, b)
	}
}

// dropIOV removes the first n bytes (the chains a frame used) from w.iov.
func (w *worker) dropIOV(n uint64) {
	i := 0
	for ; i < len(w.iov) && n >= uint64(len(w.iov[i])); i++ {
		n -= uint64(len(w.iov[i]))
	}
	w.iov = w.iov[:copy(w.iov, w.iov[i:])]
	if n > 0 && len(w.iov) > 0 {
		w.iov[0] = w.iov[0][n:]
	}
}

var errBadRXChain = errors.New("receive chain with device-readable buffers or shorter than a header")

// writeIOVAt copies src into iov at byte offset off.
func writeIOVAt(iov [][]byte, off int, src []byte) {
	for _, b := range iov {
		if off >= len(b) {
			off -= len(b)
			continue
		}
		n := copy(b[off:], src)
		src = src[n:]
		off = 0
		if len(src) == 0 {
			return
		}
	}
}
