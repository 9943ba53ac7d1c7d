package pci

import (
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/virtio"
)

// The fake device and interrupt line are the ones virtio/mmio's tests
// use: each transport package tests on its own.

// echoDev is a fake virtio device: on a kick of queue 0 it copies each
// chain's readable bytes into its writable buffers, in a worker goroutine
// as real devices do.
type echoDev struct {
	features uint64
	sizes    []uint16

	mu          sync.Mutex
	cfg         [8]byte
	acts        []virtio.Activation
	resets      int
	activateErr error
	stop        *eventfd.EventFD
	done        chan struct{}
}

const featureEcho = 1 << 0 // a device-specific feature bit

func newEcho() *echoDev {
	return &echoDev{
		features: virtio.FeatureVersion1 | virtio.FeatureRingEventIdx | featureEcho,
		sizes:    []uint16{256, 64},
		cfg:      [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
	}
}

func (e *echoDev) Type() virtio.DeviceID   { return virtio.IDRNG }
func (e *echoDev) Features() uint64        { return e.features }
func (e *echoDev) QueueMaxSizes() []uint16 { return e.sizes }
func (e *echoDev) ReadConfig(off uint64, data []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range data {
		if o := off + uint64(i); o >= off && o < uint64(len(e.cfg)) {
			data[i] = e.cfg[o]
		}
	}
}
func (e *echoDev) WriteConfig(off uint64, data []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range data {
		if o := off + uint64(i); o >= off && o < uint64(len(e.cfg)) {
			e.cfg[o] = data[i]
		}
	}
}

func (e *echoDev) Activate(a virtio.Activation) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.acts = append(e.acts, a)
	if e.activateErr != nil {
		return e.activateErr
	}
	stop, err := eventfd.New()
	if err != nil {
		return err
	}
	e.stop, e.done = stop, make(chan struct{})
	go e.run(a, stop, e.done)
	return nil
}

func (e *echoDev) run(a virtio.Activation, stop *eventfd.EventFD, done chan struct{}) {
	defer close(done)
	q := a.Queues[0]
	p, err := eventfd.NewPoller()
	if err != nil {
		a.NeedsReset(err)
		return
	}
	defer p.Close()
	p.Add(q.Kick.FD(), eventfd.In, 1)
	p.Add(stop.FD(), eventfd.In, 2)
	var ready []eventfd.Ready
	for {
		ready, _ = p.Wait(ready[:0], -1)
		for _, r := range ready {
			if r.Token == 2 {
				return
			}
		}
		q.Kick.Drain()
		for {
			c, err := q.Pop()
			if err != nil {
				a.NeedsReset(err)
				return
			}
			if c == nil {
				break
			}
			var n uint32
			for _, r := range c.Readable {
				for _, w := range c.Writable {
					k := copy(w, r)
					n += uint32(k)
					r = r[k:]
				}
			}
			q.Push(c.Head, n)
		}
		if q.NeedsNotification() {
			a.IRQ.NotifyQueue(0)
		}
	}
}

func (e *echoDev) Reset() {
	e.mu.Lock()
	stop, done := e.stop, e.done
	e.stop, e.done = nil, nil
	e.resets++
	e.mu.Unlock()
	if stop != nil {
		stop.Signal()
		<-done
		stop.Close()
	}
}

func (e *echoDev) activations() []virtio.Activation {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]virtio.Activation(nil), e.acts...)
}

func (e *echoDev) resetCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.resets
}

// fakeLine records the interrupt line's level.
type fakeLine struct {
	mu      sync.Mutex
	high    bool
	changes int
	ch      chan bool
}

func newLine() *fakeLine { return &fakeLine{ch: make(chan bool, 64)} }

func (l *fakeLine) SetLevel(high bool) {
	l.mu.Lock()
	l.high = high
	l.changes++
	l.mu.Unlock()
	select {
	case l.ch <- high:
	default:
	}
}

func (l *fakeLine) level() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.high
}

func (l *fakeLine) waitHigh(t *testing.T) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for !l.level() {
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatal("interrupt line never went high")
		}
	}
}
