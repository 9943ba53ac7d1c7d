// Package virtio is the device model shared by every virtio device and
// transport: split virtqueues (virtio 1.2, 2.7), descriptor chains, feature
// and status bits, and the interfaces between devices (virtio/net, ...) and
// transports (virtio/mmio, virtio/pci).
//
// Guest-controlled input (ring indices, descriptors, addresses, lengths)
// never panics: a violation stops the queue and marks the device
// DEVICE_NEEDS_RESET (virtio 1.2, 2.1.2), counted and logged once.
package virtio

import (
	"errors"
	"fmt"

	"github.com/govmm/govmm/vmm/mem"
)

// DeviceID is the virtio device type (virtio 1.2, 5).
type DeviceID uint32

const (
	IDNet     DeviceID = 1
	IDBlock   DeviceID = 2
	IDConsole DeviceID = 3
	IDRNG     DeviceID = 4
)

func (id DeviceID) String() string {
	switch id {
	case IDNet:
		return "net"
	case IDBlock:
		return "block"
	case IDConsole:
		return "console"
	case IDRNG:
		return "rng"
	}
	return fmt.Sprintf("device-%d", uint32(id))
}

// Device status bits (virtio 1.2, 2.1).
const (
	StatusAcknowledge      = 1
	StatusDriver           = 2
	StatusDriverOK         = 4
	StatusFeaturesOK       = 8
	StatusDeviceNeedsReset = 64
	StatusFailed           = 128
)

// Feature bits independent of the device type (virtio 1.2, 6).
const (
	FeatureRingIndirectDesc = 1 << 28
	FeatureRingEventIdx     = 1 << 29
	FeatureVersion1         = 1 << 32
	FeatureAccessPlatform   = 1 << 33
	FeatureRingPacked       = 1 << 34
	FeatureInOrder          = 1 << 35
)

// Device is what every virtio device implements. A transport calls these
// methods; the device never sees a register.
//
// Lifecycle (Firecracker's Inactive/Activated): a device gets guest memory
// and its queues only in Activate, when the driver sets DRIVER_OK, and
// loses them in Reset. Activate and Reset are called from a vCPU
// goroutine; a device that runs workers starts them in Activate and stops
// (and waits for) them in Reset.
type Device interface {
	// Type is the virtio device ID.
	Type() DeviceID
	// Features are the feature bits the device offers; the transport adds
	// nothing. VERSION_1 must be among them: govmm's devices are modern.
	Features() uint64
	// QueueMaxSizes has one entry per virtqueue: its maximum size (a
	// power of two, at most 32768).
	QueueMaxSizes() []uint16
	// ReadConfig and WriteConfig access the device-specific configuration
	// space. off and len(data) come from the guest: out-of-range parts read
	// as zero and are ignored on write.
	ReadConfig(off uint64, data []byte)
	WriteConfig(off uint64, data []byte)
	// Activate starts the device with the driver's negotiated features
	// and its validated queues. An error makes the transport set
	// DEVICE_NEEDS_RESET.
	Activate(a Activation) error
	// Reset stops the device and returns it to its initial state
	// (virtio 1.2, 2.4): no buffer is used after Reset returns.
	Reset()
}

// Activation is what a device receives when the driver sets DRIVER_OK.
type Activation struct {
	Mem      *mem.Memory
	Features uint64   // negotiated: offered & accepted by the driver
	Queues   []*Queue // one per QueueMaxSizes entry; a queue the driver did not enable has Ready false
	IRQ      Interrupt
	// NeedsReset marks the device DEVICE_NEEDS_RESET and sends a
	// configuration change notification (virtio 1.2, 2.1.2). A device
	// calls it when the driver broke the protocol; it then stops using
	// the queue concerned.
	NeedsReset func(err error)
}

// Interrupt is how a device notifies the driver. The transport maps it to
// its mechanism: virtio-mmio's InterruptStatus and IRQ line, virtio-pci's
// MSI-X vectors or INTx and ISR.
type Interrupt interface {
	// NotifyQueue sends a used buffer notification for queue q.
	NotifyQueue(q int) error
	// NotifyConfig sends a configuration change notification.
	NotifyConfig() error
}

// Errors a queue reports when the driver breaks the protocol. Each is
// wrapped in a *QueueError.
var (
	ErrInvalidAvailIdx = errors.New("available index moved by more than the queue size")
	ErrChainLoop       = errors.New("descriptor chain longer than the queue (a loop)")
	ErrBadDescriptor   = errors.New("descriptor out of range")
	ErrBadBuffer       = errors.New("buffer outside guest memory")
	ErrBadIndirect     = errors.New("malformed indirect descriptor table")
	ErrWriteBeforeRead = errors.New("device-readable descriptor after a device-writable one")
	ErrQueueNotReady   = errors.New("queue used before it was enabled")
	ErrBadQueueConfig  = errors.New("invalid queue configuration")
)

// QueueError is a protocol violation on one queue.
type QueueError struct {
	Queue int
	Err   error
	// Detail names the offending index or address.
	Detail string
}

func (e *QueueError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("virtqueue %d: %v: %s", e.Queue, e.Err, e.Detail)
	}
	return fmt.Sprintf("virtqueue %d: %v", e.Queue, e.Err)
}

func (e *QueueError) Unwrap() error { return e.Err }
