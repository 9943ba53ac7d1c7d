// Package net is the virtio-net device (virtio 1.2, 5.1): one receive and
// one transmit queue over a Backend, normally a Linux tap.
//
// Transmit honours the tap's send buffer: when a write returns EAGAIN the
// frame stays at the head of the transmit ring (not dropped, not
// completed), the device stops taking transmit buffers and waits for the
// tap to become writable, then sends that same frame first. Backpressure
// thus reaches the guest's sockets instead of packets vanishing in a
// queue further down (README, "Network backpressure").
package net

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/virtio"
)

// Feature bits (virtio 1.2, 5.1.3).
const (
	FeatureCsum      = 1 << 0
	FeatureGuestCsum = 1 << 1
	FeatureMAC       = 1 << 5
	FeatureGuestTSO4 = 1 << 7
	FeatureGuestTSO6 = 1 << 8
	FeatureGuestECN  = 1 << 9
	FeatureGuestUFO  = 1 << 10
	FeatureHostTSO4  = 1 << 11
	FeatureHostTSO6  = 1 << 12
	FeatureHostECN   = 1 << 13
	FeatureHostUFO   = 1 << 14
	FeatureMrgRxbuf  = 1 << 15
	FeatureStatus    = 1 << 16
)

// HdrSize is struct virtio_net_hdr_v1: every frame on both queues starts
// with it once VERSION_1 is negotiated (virtio 1.2, 5.1.6).
const HdrSize = 12

// Frame size limits, header excluded. With guest GSO the backend may hand
// up frames of 64 KiB; without, an Ethernet frame with a VLAN tag.
const (
	maxGSOFrame    = 65550
	maxPlainFrame  = 1518
	statusLinkUp   = 1
	queueRX        = 0
	queueTX        = 1
	defaultQueueSz = 1024
	// maxIOV is UIO_MAXIOV: longer chains cannot go to writev/readv.
	maxIOV = 1024
)

// Backend is where frames go: tap.Tap, or a fake in tests. Writev and
// Readv move one frame and return an error wrapping EAGAIN instead of
// blocking; FD is polled for readiness (POLLIN, and POLLOUT while a frame
// is parked).
type Backend interface {
	Writev(iov [][]byte) (int, error)
	Readv(iov [][]byte) (int, error)
	FD() int
	SetOffload(tap.Offload) error
}

// Config configures a device.
type Config struct {
	ID      string           // the -netdev id, for messages and metrics
	MAC     net.HardwareAddr // nil: a random locally administered address
	Backend Backend
	// VnetHdr says the backend's frames carry the 12-byte virtio-net
	// header (a tap opened with IFF_VNET_HDR). Without it, offloads are
	// not offered and the device strips and adds headers itself.
	VnetHdr bool
	// QueueSize is the maximum size of both queues (default 1024: with
	// 256, bench-net measured receive at 0.51 of a raw tap read loop).
	QueueSize uint16
	// Log reports the first occurrence of each kind of error.
	Log func(format string, args ...any)
}

// Device is a virtio-net device.
type Device struct {
	cfg      Config
	mac      net.HardwareAddr
	features uint64
	Metrics  Metrics

	mu     sync.Mutex // guards worker and the activation state
	worker *worker
	logged sync.Map // error kind -> struct{}, so each is logged once
}

var _ virtio.Device = (*Device)(nil)

// New returns an inactive device.
func New(cfg Config) (*Device, error) {
	if cfg.Backend == nil {
		return nil, errors.New("virtio-net: no backend")
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = defaultQueueSz
	}
	mac := cfg.MAC
	if mac == nil {
		var err error
		if mac, err = RandomMAC(); err != nil {
			return nil, err
		}
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("virtio-net %s: MAC %v is not 6 bytes", cfg.ID, mac)
	}
	d := &Device{cfg: cfg, mac: mac}
	d.features = virtio.FeatureVersion1 | virtio.FeatureRingEventIdx | virtio.FeatureRingIndirectDesc |
		FeatureMAC | FeatureStatus | FeatureMrgRxbuf
	if cfg.VnetHdr {
		// Offloads need the header to describe checksums and segments.
		d.features |= FeatureCsum | FeatureGuestCsum | FeatureHostTSO4 | FeatureHostTSO6 | FeatureHostECN |
			FeatureGuestTSO4 | FeatureGuestTSO6 | FeatureGuestECN
	}
	return d, nil
}

// RandomMAC returns a random locally administered unicast address.
func RandomMAC() (net.HardwareAddr, error) {
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, fmt.Errorf("random MAC: %w", err)
	}
	mac[0] = mac[0]&^1 | 2 // unicast, locally administered
	return mac, nil
}

// MAC is the device's address.
func (d *Device) MAC() net.HardwareAddr { return d.mac }

func (d *Device) Type() virtio.DeviceID { return virtio.IDNet }
func (d *Device) Features() uint64      { return d.features }
func (d *Device) QueueMaxSizes() []uint16 {
	return []uint16{d.cfg.QueueSize, d.cfg.QueueSize}
}

// config builds the device configuration space (virtio 1.2, 5.1.4): mac,
// then status.
func (d *Device) config() [8]byte {
	var c [8]byte
	copy(c[:6], d.mac)
	binary.LittleEndian.PutUint16(c[6:], statusLinkUp)
	return c
}

// ReadConfig reads the configuration space; bytes beyond it read as zero.
func (d *Device) ReadConfig(off uint64, data []byte) {
	c := d.config()
	for i := range data {
		data[i] = 0
		if o := off + uint64(i); o < uint64(len(c)) && o >= off {
			data[i] = c[o]
		}
	}
}

// WriteConfig ignores writes: the MAC is read-only once VERSION_1 is
// negotiated (virtio 1.2, 5.1.4.2), and so is the status.
func (d *Device) WriteConfig(off uint64, data []byte) { d.Metrics.ConfigWritesIgnored.Add(1) }

// Activate starts the worker.
func (d *Device) Activate(a virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.worker != nil {
		return fmt.Errorf("virtio-net %s: already active", d.cfg.ID)
	}
	if len(a.Queues) != 2 || a.Queues[queueRX].Kick == nil || a.Queues[queueTX].Kick == nil {
		return fmt.Errorf("virtio-net %s: want 2 queues with kick eventfds", d.cfg.ID)
	}
	if a.Features&virtio.FeatureVersion1 == 0 {
		return fmt.Errorf("virtio-net %s: legacy drivers are not supported", d.cfg.ID)
	}
	if d.cfg.VnetHdr {
		if err := d.cfg.Backend.SetOffload(guestOffloads(a.Features)); err != nil {
			return fmt.Errorf("virtio-net %s: set tap offloads: %w", d.cfg.ID, err)
		}
	}
	w, err := newWorker(d, a)
	if err != nil {
		return err
	}
	d.worker = w
	go w.run()
	return nil
}

// guestOffloads maps the negotiated receive offloads to the tap's.
func guestOffloads(f uint64) tap.Offload {
	var o tap.Offload
	if f&FeatureGuestCsum == 0 {
		return 0 // the tap ignores the rest without CSUM
	}
	o |= tap.OffloadCSUM
	if f&FeatureGuestTSO4 != 0 {
		o |= tap.OffloadTSO4
	}
	if f&FeatureGuestTSO6 != 0 {
		o |= tap.OffloadTSO6
	}
	if f&FeatureGuestECN != 0 && o&(tap.OffloadTSO4|tap.OffloadTSO6) != 0 {
		o |= tap.OffloadTSOECN
	}
	return o
}

// Reset stops the worker and waits for it: no buffer is used afterwards.
// A frame parked on EAGAIN was never taken off the ring, so nothing of it
// survives the reset (QEMU once kept such an element across resets).
func (d *Device) Reset() {
	d.mu.Lock()
	w := d.worker
	d.worker = nil
	d.mu.Unlock()
	if w != nil {
		w.stop()
	}
}

// logOnce logs the first error of each kind.
func (d *Device) logOnce(kind string, format string, args ...any) {
	if d.cfg.Log == nil {
		return
	}
	if _, seen := d.logged.LoadOrStore(kind, struct{}{}); !seen {
		d.cfg.Log("virtio-net %s: "+format+" (further ones are counted, not logged)", append([]any{d.cfg.ID}, args...)...)
	}
}

// Close stops the device. The backend stays the caller's.
func (d *Device) Close() error {
	d.Reset()
	return nil
}
