package net

import (
	"fmt"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/virtio"
)

// Poller tokens.
const (
	tokRXKick = iota + 1
	tokTXKick
	tokTap
	tokStop
)

// worker is the goroutine that serves both queues of an active device. It
// blocks in epoll_wait on the queues' kick eventfds, the backend's fd and
// a stop eventfd: never in Go's netpoller, which loses the tap's
// write-space wakeup after EAGAIN (PLATFORM.md).
type worker struct {
	d      *Device
	a      virtio.Activation
	rx, tx *virtio.Queue
	be     Backend
	vnet   bool
	mrg    bool
	rxNeed uint64 // receive space that holds any frame the backend may send

	poll    *eventfd.Poller
	stopFD  *eventfd.EventFD
	done    chan struct{}
	tapMask uint32 // events the tap fd is registered for (0: not registered)

	// parked: the frame at the head of the transmit ring met EAGAIN and
	// waits for the backend to become writable. It is still on the ring:
	// transmit resumes with it.
	parked   bool
	parkedAt int64 // monotonic ns

	ready []eventfd.Ready
	// Receive chains taken from the ring and not used yet, in ring
	// order, their buffers in iov (adjacent ones joined) and their total
	// size in held. They are the guest's until used; a reset drops them
	// with the rest.
	iov    [][]byte
	chains []rxChain
	held   uint64
	hdr    [HdrSize]byte
	txDone int // transmit chains completed since the last notification check
}

type rxChain struct {
	head uint16
	len  uint64
}

func newWorker(d *Device, a virtio.Activation) (*worker, error) {
	w := &worker{
		d: d, a: a, rx: a.Queues[queueRX], tx: a.Queues[queueTX], be: d.cfg.Backend,
		vnet: d.cfg.VnetHdr, mrg: a.Features&FeatureMrgRxbuf != 0,
		done: make(chan struct{}),
	}
	w.rxNeed = HdrSize + maxPlainFrame
	if a.Features&(FeatureGuestTSO4|FeatureGuestTSO6|FeatureGuestUFO) != 0 {
		w.rxNeed = HdrSize + maxGSOFrame
	}
	var err error
	if w.poll, err = eventfd.NewPoller(); err != nil {
		return nil, err
	}
	if w.stopFD, err = eventfd.New(); err != nil {
		w.poll.Close()
		return nil, err
	}
	for _, r := range []struct {
		fd  int
		tok int32
	}{{w.rx.Kick.FD(), tokRXKick}, {w.tx.Kick.FD(), tokTXKick}, {w.stopFD.FD(), tokStop}} {
		if err := w.poll.Add(r.fd, eventfd.In, r.tok); err != nil {
			w.close()
			return nil, fmt.Errorf("virtio-net %s: %w", d.cfg.ID, err)
		}
	}
	// Receive starts out watching the backend.
	if err := w.setTap(eventfd.In); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *worker) close() {
	w.poll.Close()
	w.stopFD.Close()
}

// stop ends run and waits for it.
func (w *worker) stop() {
	w.stopFD.Signal()
	<-w.done
}

// setTap registers the backend fd for mask (adding, changing or removing
// it). Level-triggered registration arms the fd's wakeups in the kernel:
// adding POLLOUT right after an EAGAIN is what makes its write-space
// wakeup fire.
func (w *worker) setTap(mask uint32) error {
	if mask == w.tapMask {
		return nil
	}
	var err error
	switch {
	case w.tapMask == 0:
		err = w.poll.Add(w.be.FD(), mask, tokTap)
	case mask == 0:
		err = w.poll.Remove(w.be.FD())
	default:
		err = w.poll.Modify(w.be.FD(), mask, tokTap)
	}
	if err != nil {
		return fmt.Errorf("virtio-net %s: %w", w.d.cfg.ID, err)
	}
	w.tapMask = mask
	return nil
}

func (w *worker) run() {
	defer close(w.done)
	defer w.close()
	// Buffers the driver made available before DRIVER_OK, or frames the
	// backend already holds, are served at once.
	w.transmit()
	w.receive()
	for {
		var err error
		w.ready, err = w.poll.Wait(w.ready[:0], -1)
		if err != nil {
			w.d.logOnce("poll", "worker stopped: %v", err)
			return
		}
		for _, r := range w.ready {
			switch r.Token {
			case tokStop:
				w.unpark()
				return
			case tokTXKick:
				w.tx.Kick.Drain()
				if !w.parked {
					w.transmit()
				}
			case tokRXKick:
				w.rx.Kick.Drain()
				w.receive()
			case tokTap:
				if r.Events&eventfd.Out != 0 && w.parked {
					w.unpark()
					w.transmit()
				}
				if r.Events&(eventfd.In|eventfd.Err) != 0 && w.tapMask&eventfd.In != 0 {
					w.receive()
				}
			}
		}
	}
}

// needsReset reports a protocol violation once per queue.
func (w *worker) needsReset(q *virtio.Queue, err error) {
	w.d.Metrics.NeedsReset.Add(1)
	w.d.logOnce(fmt.Sprintf("queue-%d", q.Index), "%v: device needs reset", err)
	if w.a.NeedsReset != nil {
		w.a.NeedsReset(err)
	}
}

func (w *worker) notify(q *virtio.Queue) {
	if q.NeedsNotification() {
		w.d.Metrics.Interrupts.Add(1)
		if err := w.a.IRQ.NotifyQueue(q.Index); err != nil {
			w.d.logOnce("irq", "interrupt: %v", err)
		}
	}
}

// skipHeader returns iov without its first n bytes (appended to dst), for
// backends that do not carry the virtio-net header.
func skipHeader(dst, iov [][]byte, n int) [][]byte {
	for _, b := range iov {
		if n >= len(b) {
			n -= len(b)
			continue
		}
		dst = append(dst, b[n:])
		n = 0
	}
	return dst
}

// writeIOV copies src into the start of iov.
func writeIOV(iov [][]byte, src []byte) {
	for _, b := range iov {
		if len(src) == 0 {
			return
		}
		n := copy(b, src)
		src = src[n:]
	}
}
