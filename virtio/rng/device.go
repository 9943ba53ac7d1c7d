// Package rng is the virtio entropy device (virtio 1.2, 5.4): one request
// queue whose device-writable buffers the device fills with random bytes
// from the host kernel's getrandom(2) (Go's crypto/rand.Reader on Linux).
// A guest with it seeds its own pool at once instead of waiting for
// interrupt timing, so boot-time reads of /dev/random do not stall.
//
// It has no configuration space and no device-specific feature bits, and
// works over virtio-mmio and virtio-pci alike.
package rng

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/govmm/govmm/virtio"
)

const (
	defaultQueueSize = 256
	// maxPerChain bounds the bytes given to one buffer: the spec lets the
	// device fill less than offered (virtio 1.2, 5.4.6.2), and a guest
	// offering huge buffers should not hold the worker.
	maxPerChain = 64 << 10
)

// ErrNoWritable: a request chain with no device-writable buffer, nothing
// to put entropy in (virtio 1.2, 5.4.6.1: the driver MUST NOT place
// driver-readable buffers).
var ErrNoWritable = errors.New("virtio-rng request without a device-writable buffer")

// Config configures a device.
type Config struct {
	ID string // for messages and metrics
	// QueueSize is the maximum size of the request queue (default 256).
	QueueSize uint16
	// Source is where the bytes come from: nil means crypto/rand.Reader,
	// which is getrandom(2) on Linux. Tests substitute their own.
	Source io.Reader
	// Log reports the first occurrence of each kind of error.
	Log func(format string, args ...any)
}

// Device is a virtio-rng device.
type Device struct {
	cfg     Config
	Metrics Metrics

	mu     sync.Mutex // guards worker
	worker *worker
	logged sync.Map
}

var _ virtio.Device = (*Device)(nil)

// New returns an inactive device.
func New(cfg Config) (*Device, error) {
	if cfg.QueueSize == 0 {
		cfg.QueueSize = defaultQueueSize
	}
	if cfg.QueueSize > virtio.MaxQueueSize || cfg.QueueSize&(cfg.QueueSize-1) != 0 {
		return nil, fmt.Errorf("virtio-rng %s: queue size %d is not a power of two up to %d", cfg.ID, cfg.QueueSize, virtio.MaxQueueSize)
	}
	if cfg.Source == nil {
		cfg.Source = rand.Reader
	}
	return &Device{cfg: cfg}, nil
}

func (d *Device) Type() virtio.DeviceID { return virtio.IDRNG }
func (d *Device) Features() uint64 {
	return virtio.FeatureVersion1 | virtio.FeatureRingEventIdx | virtio.FeatureRingIndirectDesc
}
func (d *Device) QueueMaxSizes() []uint16 { return []uint16{d.cfg.QueueSize} }

// ReadConfig: the device has no configuration space; everything reads as
// zero.
func (d *Device) ReadConfig(off uint64, data []byte) { clear(data) }

// WriteConfig ignores writes.
func (d *Device) WriteConfig(off uint64, data []byte) { d.Metrics.ConfigWritesIgnored.Add(1) }

// Activate starts the worker.
func (d *Device) Activate(a virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.worker != nil {
		return fmt.Errorf("virtio-rng %s: already active", d.cfg.ID)
	}
	if len(a.Queues) != 1 || a.Queues[0].Kick == nil {
		return fmt.Errorf("virtio-rng %s: want 1 queue with a kick eventfd", d.cfg.ID)
	}
	if a.Features&virtio.FeatureVersion1 == 0 {
		return fmt.Errorf("virtio-rng %s: legacy drivers are not supported", d.cfg.ID)
	}
	w, err := newWorker(d, a)
	if err != nil {
		return err
	}
	d.worker = w
	go w.run()
	return nil
}

// Reset stops the worker and waits for it.
func (d *Device) Reset() {
	d.mu.Lock()
	w := d.worker
	d.worker = nil
	d.mu.Unlock()
	if w != nil {
		w.stop()
	}
}

// Close stops the device.
func (d *Device) Close() error {
	d.Reset()
	return nil
}

func (d *Device) logOnce(kind string, format string, args ...any) {
	if d.cfg.Log == nil {
		return
	}
	if _, seen := d.logged.LoadOrStore(kind, struct{}{}); !seen {
		d.cfg.Log("virtio-rng %s: "+format+" (further ones are counted, not logged)", append([]any{d.cfg.ID}, args...)...)
	}
}
