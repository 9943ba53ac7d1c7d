// Package console is the virtio console device (virtio 1.2, 5.3) with a
// single port: what the guest writes to /dev/hvc0 goes to an io.Writer,
// and bytes given to Input reach the guest's /dev/hvc0. It carries bulk
// data through virtqueues, one exit per buffer instead of one per byte as
// a UART needs, which is why `govmm run` uses it for the command's output.
package console

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/virtio"
)

const (
	queueRX = 0 // receiveq: host to guest
	queueTX = 1 // transmitq: guest to host

	// maxPending bounds input waiting for guest buffers.
	maxPending = 1 << 20
)

// Metrics are the device's counters.
type Metrics struct {
	TxBytes    atomic.Uint64 // guest to host
	RxBytes    atomic.Uint64 // host to guest
	OutErrors  atomic.Uint64 // writes to Out that failed (the bytes are dropped)
	NeedsReset atomic.Uint64
}

// Config configures a console.
type Config struct {
	// Out receives what the guest writes. A slow Out slows the guest: the
	// device waits for each write.
	Out io.Writer
	// QueueSize is the size of both queues (default 128).
	QueueSize uint16
	// Log reports the first error of each kind.
	Log func(format string, args ...any)
}

// Device is a virtio console.
type Device struct {
	cfg     Config
	Metrics Metrics

	mu      sync.Mutex
	pending []byte // input not yet delivered
	inputFD *eventfd.EventFD
	closed  bool
	worker  *worker
	logged  sync.Map
}

var _ virtio.Device = (*Device)(nil)

// New returns an inactive console.
func New(cfg Config) (*Device, error) {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 128
	}
	efd, err := eventfd.New()
	if err != nil {
		return nil, fmt.Errorf("virtio-console: %w", err)
	}
	return &Device{cfg: cfg, inputFD: efd}, nil
}

func (d *Device) Type() virtio.DeviceID { return virtio.IDConsole }

// Features: a single port, no size or emergency write.
func (d *Device) Features() uint64 {
	return virtio.FeatureVersion1 | virtio.FeatureRingEventIdx | virtio.FeatureRingIndirectDesc
}

func (d *Device) QueueMaxSizes() []uint16 { return []uint16{d.cfg.QueueSize, d.cfg.QueueSize} }

// ReadConfig: cols, rows, max_nr_ports, emerg_wr, all unused without
// their features: zero.
func (d *Device) ReadConfig(off uint64, data []byte)  { clear(data) }
func (d *Device) WriteConfig(off uint64, data []byte) {}

// ErrClosed is returned by Input writes after Close.
var ErrClosed = errors.New("virtio-console: closed")

// Input queues p for the guest. It never blocks; beyond 1 MiB waiting it
// fails rather than grow without bound.
func (d *Device) Input(p []byte) (int, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return 0, ErrClosed
	}
	if len(d.pending)+len(p) > maxPending {
		d.mu.Unlock()
		return 0, fmt.Errorf("virtio-console: more than %d bytes of input waiting for the guest", maxPending)
	}
	d.pending = append(d.pending, p...)
	d.mu.Unlock()
	return len(p), d.inputFD.Signal()
}

// Activate starts the worker.
func (d *Device) Activate(a virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.worker != nil {
		return errors.New("virtio-console: already active")
	}
	if len(a.Queues) != 2 || a.Queues[queueRX].Kick == nil || a.Queues[queueTX].Kick == nil {
		return errors.New("virtio-console: want 2 queues with kick eventfds")
	}
	w, err := newWorker(d, a)
	if err != nil {
		return err
	}
	d.worker = w
	go w.run()
	return nil
}

// Reset stops the worker. Undelivered input is kept for the next
// activation (a rebooted guest reads it).
func (d *Device) Reset() {
	d.mu.Lock()
	w := d.worker
	d.worker = nil
	d.mu.Unlock()
	if w != nil {
		w.stop()
	}
}

// Close stops the device and releases its eventfd.
func (d *Device) Close() error {
	d.Reset()
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	return d.inputFD.Close()
}

func (d *Device) logOnce(kind, format string, args ...any) {
	if d.cfg.Log == nil {
		return
	}
	if _, seen := d.logged.LoadOrStore(kind, struct{}{}); !seen {
		d.cfg.Log("virtio-console: "+format, args...)
	}
}

// takeInput removes up to n pending bytes.
func (d *Device) takeInput(n int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	n = min(n, len(d.pending))
	out := append([]byte(nil), d.pending[:n]...)
	d.pending = d.pending[:copy(d.pending, d.pending[n:])]
	return out
}

func (d *Device) hasInput() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending) > 0
}
