package blk

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/virtio"
)

// ErrHeadInFlight: the driver made a descriptor head available again
// while the device still held it (virtio 1.2, 2.7.13: a buffer belongs to
// the device until it is used).
var ErrHeadInFlight = errors.New("descriptor head made available while in flight")

// Poller tokens.
const (
	tokKick = iota + 1
	tokStop
)

// worker serves one active queue with Config.IOWorkers goroutines
// ("servers"), all alike: a server takes the next request off the ring,
// serves it with pread/pwrite, and completes it itself (status byte, used
// ring, notification). No request changes hands between threads, so a
// request costs no wakeup unless the ring was idle: the vCPU's kick wakes
// the one server waiting in epoll_wait, and a server that finds more
// requests than it can take wakes an idle peer to serve them in parallel.
// The queue (which has a single owner, virtio.Queue) is touched only
// under mu, briefly: the I/O runs outside it.
//
// Notifications: a server decides when it runs out of requests, or after
// notifyBatch completions, so a batch of requests served together raises
// one interrupt (QEMU defers its notifications to the end of a batch the
// same way). With VIRTIO_RING_F_EVENT_IDX the driver's used_event may
// suppress that one too. Deciding after every completion instead, with
// EVENT_IDX, cost an interrupt per one to three requests under a deep
// queue, because Linux re-arms used_event at the last entry it saw: each
// wakes the vCPU (an IPI), and bench-blk's 4 KiB random reads fell to 0.6
// of plain pread.
//
// A FLUSH taken while requests before it are still being served waits
// for them (no request after it is taken meanwhile), then runs. The spec
// only asks a flush to cover writes completed before it was submitted
// (virtio 1.2, 5.2.6.2); covering the ones before it in the ring too
// costs little and suits drivers that rely on ring order.
type worker struct {
	d     *Device
	a     virtio.Activation
	q     *virtio.Queue
	execs []execState

	poll   *eventfd.Poller
	stopFD *eventfd.EventFD
	halt   atomic.Bool // set by stop, for a server polling without mu
	wg     sync.WaitGroup

	mu        sync.Mutex
	reqs      []request // by descriptor head
	inflight  int       // taken and not completed
	flushWait *request  // a FLUSH waiting for inflight to reach zero
	ready     *request  // a released FLUSH, for the next server
	broken    bool      // NEEDS_RESET reported
	stopping  bool
	polling   bool          // a server is in epoll_wait on the kick
	idle      int           // servers parked on wake
	wake      chan struct{} // one token per server to unpark
	pushed    int           // completions since the last notification decision

	// The waiting server's, handed over under mu with polling.
	events  []eventfd.Ready
	pollNs  time.Duration // current polling window
	pollMax time.Duration // its bound; 0: no polling
}

// pollStart is the first polling window once polling pays off.
const pollStart = 4 * time.Microsecond

// notifyBatch bounds the completions a server makes before it decides on
// a notification, so a long stream of requests keeps the driver fed.
const notifyBatch = 32

func newWorker(d *Device, a virtio.Activation) (*worker, error) {
	q := a.Queues[0]
	size := int(q.Size)
	if size == 0 {
		size = int(q.MaxSize)
	}
	w := &worker{
		d: d, a: a, q: q,
		reqs:    make([]request, size),
		wake:    make(chan struct{}, d.cfg.IOWorkers),
		pollMax: max(d.cfg.PollMax, 0),
	}
	w.execs = make([]execState, d.cfg.IOWorkers)
	for i := range w.execs {
		w.execs[i] = execState{d: d, be: d.cfg.Backend, features: a.Features, writeThrough: a.Features&FeatureFlush == 0}
	}
	var err error
	if w.poll, err = eventfd.NewPoller(); err != nil {
		return nil, fmt.Errorf("virtio-blk %s: %w", d.cfg.ID, err)
	}
	if w.stopFD, err = eventfd.New(); err != nil {
		w.poll.Close()
		return nil, fmt.Errorf("virtio-blk %s: %w", d.cfg.ID, err)
	}
	for _, r := range []struct {
		fd  int
		tok int32
	}{{q.Kick.FD(), tokKick}, {w.stopFD.FD(), tokStop}} {
		if err := w.poll.Add(r.fd, eventfd.In, r.tok); err != nil {
			w.close()
			return nil, fmt.Errorf("virtio-blk %s: %w", d.cfg.ID, err)
		}
	}
	return w, nil
}

func (w *worker) close() {
	w.poll.Close()
	w.stopFD.Close()
}

func (w *worker) start() {
	w.wg.Add(len(w.execs))
	for i := range w.execs {
		go w.serve(&w.execs[i])
	}
}

// stop ends every server after the request it is serving, whose result
// is dropped (the driver is resetting), and waits for them.
func (w *worker) stop() {
	w.halt.Store(true)
	w.mu.Lock()
	w.stopping = true
	w.unparkAll()
	w.mu.Unlock()
	w.stopFD.Signal()
	w.wg.Wait()
	w.close()
}

// unparkAll wakes every parked server. Precondition: mu held.
func (w *worker) unparkAll() {
	for ; w.idle > 0; w.idle-- {
		w.wake <- struct{}{}
	}
}

// serve is one server. Requests the driver made available before
// DRIVER_OK are taken at once.
func (w *worker) serve(x *execState) {
	defer w.wg.Done()
	w.mu.Lock()
	for !w.stopping {
		r := w.next()
		if r == nil {
			// Out of work: end the batch, then wait for the ring (one
			// server) or for a peer to hand work over (the others).
			irq := w.decide(true)
			if !w.polling {
				w.polling = true
				w.mu.Unlock()
				w.notify(irq)
				stop := w.await()
				w.mu.Lock()
				w.polling = false
				if stop {
					w.stopping = true
					w.unparkAll()
				}
				continue
			}
			w.idle++
			w.mu.Unlock()
			w.notify(irq)
			<-w.wake
			w.mu.Lock()
			continue
		}
		// Bring in an idle peer when nobody watches the ring any more
		// (this server was the one waiting), or when more requests wait
		// than this server can take.
		if w.idle > 0 && w.ready == nil && w.flushWait == nil {
			if n, err := w.q.Pending(); !w.polling || err == nil && n > 0 {
				w.idle--
				w.wake <- struct{}{}
			}
		}
		w.mu.Unlock()
		x.execute(r)
		w.mu.Lock()
		irq := w.complete(r)
		if irq {
			w.mu.Unlock()
			w.notify(true)
			w.mu.Lock()
		}
	}
	w.mu.Unlock()
}

// await waits for the driver to make requests available, as the one
// server in charge of the ring: it polls the available index for up to
// pollNs (notifications still off, so the driver need not kick), then
// re-enables notifications, re-checks, and sleeps in epoll_wait until a
// kick. pollNs adapts as QEMU's poll-max-ns does: it grows when a kick
// came soon after polling gave up, and shrinks when the ring stayed idle
// longer, so an idle guest costs no CPU. Called without mu.
func (w *worker) await() (stop bool) {
	w.mu.Lock()
	usable := !w.broken && w.q.Ready && w.flushWait == nil && w.ready == nil && !w.stopping
	from, availIdx := w.q.NextAvail(), w.q.Avail+2
	w.mu.Unlock()
	if !usable {
		return w.waitKick()
	}
	if w.pollNs > 0 {
		deadline := time.Now().Add(w.pollNs)
		for {
			idx, err := w.a.Mem.LoadUint16(availIdx)
			if err != nil || idx != from {
				w.d.Metrics.PollHits.Add(1)
				return false
			}
			if w.halt.Load() || time.Now().After(deadline) {
				break
			}
			// A spinning goroutine must not starve one made runnable on
			// its P (the driver's, another server, the runtime's).
			runtime.Gosched()
		}
	}
	w.mu.Lock()
	more, err := w.q.EnableNotifications()
	if err != nil {
		w.needsReset(err)
	}
	w.mu.Unlock()
	if more {
		return false
	}
	w.d.Metrics.Sleeps.Add(1)
	start := time.Now()
	stop = w.waitKick()
	switch slept := time.Since(start); {
	case w.pollMax <= 0:
	case slept <= w.pollMax:
		w.pollNs = min(max(2*w.pollNs, pollStart), w.pollMax)
	case w.pollNs > 0:
		if w.pollNs /= 2; w.pollNs < pollStart {
			w.pollNs = 0
		}
	}
	return stop
}

// waitKick blocks until the driver kicks the queue or the device stops.
// Only the server that set polling calls it.
func (w *worker) waitKick() (stop bool) {
	for {
		var err error
		w.events, err = w.poll.Wait(w.events[:0], -1)
		if err != nil {
			w.d.logOnce("poll", "queue stopped: %v", err)
			return true
		}
		for _, e := range w.events {
			if e.Token == tokStop {
				return true
			}
		}
		w.q.Kick.Drain()
		return false
	}
}

// next takes the next request: a released FLUSH, else the next chain on
// the ring. Notifications stay off while there is work; await re-enables
// them, with a re-check, before sleeping (LESSONS.md: vhost-net lost
// kicks without the re-check). Precondition: mu held.
func (w *worker) next() *request {
	if r := w.ready; r != nil {
		w.ready = nil
		w.inflight++
		return r
	}
	q := w.q
	if w.broken || !q.Ready || w.flushWait != nil {
		return nil
	}
	q.DisableNotifications()
	c, err := q.Pop()
	if err != nil {
		w.needsReset(err)
		return nil
	}
	if c == nil {
		return nil
	}
	r := &w.reqs[c.Head] // c.Head < q.Size: the queue checked it
	if r.busy {
		w.needsReset(q.Fail(fmt.Errorf("%w: head %d", ErrHeadInFlight, c.Head)))
		return nil
	}
	if err := r.parse(c); err != nil {
		w.d.Metrics.MalformedChains.Add(1)
		w.needsReset(q.Fail(fmt.Errorf("%w (head %d)", err, c.Head)))
		return nil
	}
	r.busy = true
	if r.typ == TypeFlush && w.inflight > 0 {
		// Taken off the ring, served when the requests before it are
		// done; nothing after it is taken meanwhile.
		w.flushWait = r
		w.d.Metrics.FlushWaits.Add(1)
		return nil
	}
	w.inflight++
	return r
}

// complete writes the status byte (after the data, before the used
// entry), uses the chain and reports whether to notify now. The used
// length counts the payload written and the status byte. Precondition:
// mu held.
func (w *worker) complete(r *request) bool {
	r.busy = false
	w.inflight--
	if w.flushWait != nil && w.inflight == 0 {
		w.ready, w.flushWait = w.flushWait, nil
	}
	if w.stopping {
		return false // the driver is resetting: nothing more is used
	}
	r.status[0] = r.result
	if !w.broken {
		if err := w.q.Push(r.head, r.written+1); err != nil {
			w.needsReset(err)
			return false
		}
	}
	w.pushed++
	return w.decide(false)
}

// decide reports whether the completions so far warrant a notification
// now: at the end of a server's batch or every notifyBatch completions,
// and then only if the driver asked for one (EVENT_IDX, or the
// NO_INTERRUPT flag).
// Precondition: mu held.
func (w *worker) decide(batchEnd bool) bool {
	if w.pushed == 0 {
		return false
	}
	if !batchEnd && w.pushed < notifyBatch {
		return false
	}
	w.pushed = 0
	return w.q.NeedsNotification()
}

// notify sends a used-buffer notification; called without mu, so a slow
// interrupt path does not hold up the other servers.
func (w *worker) notify(irq bool) {
	if !irq {
		return
	}
	w.d.Metrics.Interrupts.Add(1)
	if err := w.a.IRQ.NotifyQueue(w.q.Index); err != nil {
		w.d.logOnce("irq", "interrupt: %v", err)
	}
}

// needsReset reports a protocol violation once; the queue is stopped.
// Precondition: mu held.
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
