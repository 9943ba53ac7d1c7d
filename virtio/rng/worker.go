package rng

import (
	"fmt"
	"io"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/virtio"
)

const (
	tokKick = iota + 1
	tokStop
)

// worker is the goroutine that serves the queue: it blocks in epoll_wait
// on the kick and stop eventfds, and fills every available buffer when
// kicked. getrandom does not block once the kernel's pool is initialized,
// which it is long before a VMM runs.
type worker struct {
	d      *Device
	a      virtio.Activation
	q      *virtio.Queue
	poll   *eventfd.Poller
	stopFD *eventfd.EventFD
	done   chan struct{}
	broken bool
	ready  []eventfd.Ready
}

func newWorker(d *Device, a virtio.Activation) (*worker, error) {
	w := &worker{d: d, a: a, q: a.Queues[0], done: make(chan struct{})}
	var err error
	if w.poll, err = eventfd.NewPoller(); err != nil {
		return nil, fmt.Errorf("virtio-rng %s: %w", d.cfg.ID, err)
	}
	if w.stopFD, err = eventfd.New(); err != nil {
		w.poll.Close()
		return nil, fmt.Errorf("virtio-rng %s: %w", d.cfg.ID, err)
	}
	for _, r := range []struct {
		fd  int
		tok int32
	}{{w.q.Kick.FD(), tokKick}, {w.stopFD.FD(), tokStop}} {
		if err := w.poll.Add(r.fd, eventfd.In, r.tok); err != nil {
			w.close()
			return nil, fmt.Errorf("virtio-rng %s: %w", d.cfg.ID, err)
		}
	}
	return w, nil
}

func (w *worker) close() {
	w.poll.Close()
	w.stopFD.Close()
}

func (w *worker) stop() {
	w.stopFD.Signal()
	<-w.done
	w.close()
}

func (w *worker) run() {
	defer close(w.done)
	w.serve()
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
				return
			case tokKick:
				w.q.Kick.Drain()
				w.serve()
			}
		}
	}
}

// serve fills every available chain and sends one notification for the
// batch. Notifications stay off while the ring is drained and are
// re-enabled with a re-check (LESSONS.md).
func (w *worker) serve() {
	q := w.q
	if w.broken || !q.Ready {
		return
	}
	m := &w.d.Metrics
	q.DisableNotifications()
	for {
		c, err := q.Pop()
		if err != nil {
			w.needsReset(err)
			break
		}
		if c == nil {
			more, err := q.EnableNotifications()
			if err != nil {
				w.needsReset(err)
				break
			}
			if more {
				q.DisableNotifications()
				continue
			}
			break
		}
		if c.WriteLen == 0 {
			w.needsReset(q.Fail(fmt.Errorf("%w (head %d)", ErrNoWritable, c.Head)))
			break
		}
		if c.ReadLen > 0 {
			m.ReadableIgnored.Add(1)
		}
		n := w.fill(c.Writable)
		m.Requests.Add(1)
		m.Bytes.Add(uint64(n))
		if err := q.Push(c.Head, uint32(n)); err != nil {
			w.needsReset(err)
			break
		}
	}
	if q.NeedsNotification() {
		m.Interrupts.Add(1)
		if err := w.a.IRQ.NotifyQueue(q.Index); err != nil {
			w.d.logOnce("irq", "interrupt: %v", err)
		}
	}
}

// fill writes random bytes straight into the guest's buffers, at most
// maxPerChain, and returns how many.
func (w *worker) fill(iov [][]byte) int {
	n := 0
	for _, b := range iov {
		if n == maxPerChain {
			break
		}
		b = b[:min(len(b), maxPerChain-n)]
		k, err := io.ReadFull(w.d.cfg.Source, b)
		n += k
		if err != nil {
			w.d.Metrics.SourceErrors.Add(1)
			w.d.logOnce("source", "entropy source: %v", err)
			break
		}
	}
	return n
}

func (w *worker) needsReset(err error) {
	if w.broken {
		return
	}
	w.broken = true
	w.d.Metrics.NeedsReset.Add(1)
	w.d.logOnce("needs-reset", "%v: device needs reset", err)
	if w.a.NeedsReset != nil {
		w.a.NeedsReset(err)
	}
}
