package net

import (
	"errors"
	"syscall"
	"time"

	"github.com/govmm/govmm/internal/eventfd"
)

// transmit sends every frame the driver made available, stopping at the
// first one the backend cannot take now (EAGAIN). That frame stays at the
// head of the ring (Unpop): it is neither dropped nor completed, and it is
// the first to go when the backend becomes writable. Cloud Hypervisor
// stalled when it lost track of such a descriptor, Firecracker drops it;
// neither happens here.
func (w *worker) transmit() {
	q := w.tx
	if q.Broken() != nil || w.parked {
		return
	}
	m := &w.d.Metrics
	// No kicks while the ring is being drained; re-enabled (with a re-check)
	// when it is empty.
	q.DisableNotifications()
	for {
		c, err := q.Pop()
		if err != nil {
			w.needsReset(q, err)
			return
		}
		if c == nil {
			more, err := q.EnableNotifications()
			if err != nil {
				w.needsReset(q, err)
				return
			}
			if more {
				q.DisableNotifications()
				continue
			}
			break
		}
		frame := c.ReadLen - HdrSize
		switch {
		case c.ReadLen < HdrSize, frame > maxGSOFrame, len(c.Readable) > maxIOV:
			m.TxMalformed.Add(1)
			w.d.logOnce("tx-malformed", "transmit chain of %d bytes in %d buffers dropped", c.ReadLen, len(c.Readable))
		case frame == 0:
			// A header and no frame: not an error, nothing to send. Kept
			// apart from "parked" (QEMU once confused the two).
			m.TxZeroLength.Add(1)
		default:
			iov := c.Readable
			if !w.vnet {
				w.iov = skipHeader(w.iov[:0], iov, HdrSize)
				iov = w.iov
			}
			_, err := w.be.Writev(iov)
			if errors.Is(err, syscall.EAGAIN) {
				q.Unpop()
				w.park()
				w.notify(q) // frames already sent are completed
				return
			}
			if err != nil {
				m.TxDropped.Add(1)
				m.TapWriteErrors.Add(1)
				w.d.logOnce("tx-write", "write to backend: %v; frame dropped", err)
			} else {
				m.TxFrames.Add(1)
				m.TxBytes.Add(frame)
			}
		}
		if err := q.Push(c.Head, 0); err != nil {
			w.needsReset(q, err)
			return
		}
		// A long burst: tell the driver about completions on the way
		// (if its used_event asks), so it refills the ring before the
		// device drains it, as vhost-net does every VHOST_NET_BATCH.
		if w.txDone++; w.txDone >= txNotifyEvery {
			w.txDone = 0
			w.notify(q)
		}
	}
	w.notify(q)
}

// txNotifyEvery is how many completed transmit chains pass between
// notification checks within a burst.
const txNotifyEvery = 64

// park stops transmission until the backend is writable. The driver is
// asked not to notify meanwhile: the device will come back to the ring by
// itself.
func (w *worker) park() {
	w.parked = true
	w.parkedAt = time.Now().UnixNano()
	w.d.Metrics.TapWriteEagain.Add(1)
	w.tx.DisableNotifications()
	if err := w.setTap(w.tapMask | eventfd.Out); err != nil {
		w.d.logOnce("park", "%v", err)
	}
}

// unpark ends a park, accounting the time the frame waited.
func (w *worker) unpark() {
	if !w.parked {
		return
	}
	w.parked = false
	w.d.Metrics.TxParkedNs.Add(uint64(time.Now().UnixNano() - w.parkedAt))
	if err := w.setTap(w.tapMask &^ eventfd.Out); err != nil {
		w.d.logOnce("park", "%v", err)
	}
}
