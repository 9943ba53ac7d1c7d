package console

import (
	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/virtio"
)

const (
	tokRX = iota + 1
	tokTX
	tokInput
	tokStop
)

// worker serves both queues of an active console.
type worker struct {
	d      *Device
	a      virtio.Activation
	rx, tx *virtio.Queue
	poll   *eventfd.Poller
	stopFD *eventfd.EventFD
	done   chan struct{}
	ready  []eventfd.Ready
}

func newWorker(d *Device, a virtio.Activation) (*worker, error) {
	w := &worker{d: d, a: a, rx: a.Queues[queueRX], tx: a.Queues[queueTX], done: make(chan struct{})}
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
	}{{w.rx.Kick.FD(), tokRX}, {w.tx.Kick.FD(), tokTX}, {d.inputFD.FD(), tokInput}, {w.stopFD.FD(), tokStop}} {
		if err := w.poll.Add(r.fd, eventfd.In, r.tok); err != nil {
			w.poll.Close()
			w.stopFD.Close()
			return nil, err
		}
	}
	return w, nil
}

func (w *worker) stop() {
	w.stopFD.Signal()
	<-w.done
}

func (w *worker) run() {
	defer close(w.done)
	defer w.poll.Close()
	defer w.stopFD.Close()
	w.transmit()
	w.receive()
	for {
		var err error
		if w.ready, err = w.poll.Wait(w.ready[:0], -1); err != nil {
			w.d.logOnce("poll", "worker stopped: %v", err)
			return
		}
		for _, r := range w.ready {
			switch r.Token {
			case tokStop:
				return
			case tokTX:
				w.tx.Kick.Drain()
				w.transmit()
			case tokRX:
				w.rx.Kick.Drain()
				w.receive()
			case tokInput:
				w.d.inputFD.Drain()
				w.receive()
			}
		}
	}
}

func (w *worker) needsReset(err error) {
	w.d.Metrics.NeedsReset.Add(1)
	w.d.logOnce("reset", "%v: device needs reset", err)
	if w.a.NeedsReset != nil {
		w.a.NeedsReset(err)
	}
}

// transmit writes each chain's readable bytes to Out, in order.
func (w *worker) transmit() {
	q := w.tx
	if q.Broken() != nil {
		return
	}
	for {
		c, err := q.Pop()
		if err != nil {
			w.needsReset(err)
			return
		}
		if c == nil {
			more, err := q.EnableNotifications()
			if err != nil {
				w.needsReset(err)
				return
			}
			if more {
				continue
			}
			break
		}
		for _, b := range c.Readable {
			if _, err := w.d.cfg.Out.Write(b); err != nil {
				w.d.Metrics.OutErrors.Add(1)
				w.d.logOnce("out", "output: %v (dropping)", err)
				break
			}
			w.d.Metrics.TxBytes.Add(uint64(len(b)))
		}
		if err := q.Push(c.Head, 0); err != nil {
			w.needsReset(err)
			return
		}
	}
	w.notify(q)
}

// receive copies pending input into the guest's receive buffers.
func (w *worker) receive() {
	q := w.rx
	if q.Broken() != nil {
		return
	}
	for w.d.hasInput() {
		c, err := q.Pop()
		if err != nil {
			w.needsReset(err)
			return
		}
		if c == nil {
			if more, err := q.EnableNotifications(); err != nil || !more {
				break
			}
			continue
		}
		data := w.d.takeInput(int(c.WriteLen))
		n := 0
		for _, b := range c.Writable {
			if n == len(data) {
				break
			}
			n += copy(b, data[n:])
		}
		w.d.Metrics.RxBytes.Add(uint64(n))
		if err := q.Push(c.Head, uint32(n)); err != nil {
			w.needsReset(err)
			return
		}
	}
	w.notify(q)
}

func (w *worker) notify(q *virtio.Queue) {
	if q.NeedsNotification() {
		if err := w.a.IRQ.NotifyQueue(q.Index); err != nil {
			w.d.logOnce("irq", "interrupt: %v", err)
		}
	}
}
