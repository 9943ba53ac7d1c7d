package virtio

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/vmm/mem"
)

// This file is what virtio-mmio and virtio-pci share: the device status
// state machine (virtio 1.2, 2.1 and 3.1.1), feature negotiation in 32-bit
// windows, the queues' configuration and kick eventfds, activation and
// reset, and the per-device counters. A transport maps its registers onto
// a Transport; it never changes status or features itself.

// Notification describes where the driver notifies a queue, for a platform
// that can turn such a guest write into an eventfd signal without an exit
// to userspace (KVM's ioeventfd).
type Notification struct {
	Addr uint64
	// Size is the access width the driver uses: 1, 2, 4 or 8 bytes.
	Size int
	PIO  bool
	// DataMatch, when Match is set, is the value written: the queue
	// index (virtio 1.2, 4.1.5.2 and 4.2.3.3 without
	// VIRTIO_F_NOTIFICATION_DATA).
	DataMatch uint64
	Match     bool
}

// NotifyBinder binds a queue's kick eventfd to its notification address.
// A transport without one (nil) signals the eventfd itself on the register
// write; with one, the write normally never reaches the transport, and the
// transport still signals if it does (a width the binding does not cover).
type NotifyBinder interface {
	Bind(n Notification, e *eventfd.EventFD) error
	Unbind(n Notification, e *eventfd.EventFD) error
}

// Counters are a transport's per-device counters. All are atomic and may
// be read while the device runs.
type Counters struct {
	BadRegisterReads    atomic.Uint64 // reads of unknown or write-only registers, or of the wrong width
	BadRegisterWrites   atomic.Uint64 // writes to unknown or read-only registers, of the wrong width, or at the wrong time
	IllegalStatusWrites atomic.Uint64 // device status writes outside the state machine (ignored)
	FeaturesRefused     atomic.Uint64 // FEATURES_OK writes the device did not accept
	DriverFailed        atomic.Uint64 // FAILED writes: the driver gave up on the device
	ActivateFails       atomic.Uint64 // DRIVER_OK that ended in DEVICE_NEEDS_RESET (bad queue or Activate error)
	Activations         atomic.Uint64 // successful DRIVER_OK
	DeviceResets        atomic.Uint64 // status writes of 0
	NeedsResetEvents    atomic.Uint64 // NeedsReset calls from the device
	QueueNotifies       atomic.Uint64 // kicks the transport signalled (not KVM)
	BadQueueNotifies    atomic.Uint64 // notifications naming no queue
	UsedIRQs            atomic.Uint64 // used buffer notifications sent
	ConfigIRQs          atomic.Uint64 // configuration change notifications sent
	IRQsPending         atomic.Uint64 // MSI-X messages held pending by a mask
	IRQsDropped         atomic.Uint64 // notifications with no way to the driver (NO_VECTOR, bus mastering off)
}

// Each calls f for every counter with its name, in a stable order.
func (c *Counters) Each(f func(name string, v uint64)) {
	for _, x := range []struct {
		name string
		v    *atomic.Uint64
	}{
		{"bad_register_reads", &c.BadRegisterReads}, {"bad_register_writes", &c.BadRegisterWrites},
		{"illegal_status_writes", &c.IllegalStatusWrites}, {"features_refused", &c.FeaturesRefused},
		{"driver_failed", &c.DriverFailed},
		{"activate_fails", &c.ActivateFails}, {"activations", &c.Activations},
		{"device_resets", &c.DeviceResets}, {"needs_reset_events", &c.NeedsResetEvents},
		{"queue_notifies", &c.QueueNotifies}, {"bad_queue_notifies", &c.BadQueueNotifies},
		{"used_irqs", &c.UsedIRQs}, {"config_irqs", &c.ConfigIRQs},
		{"irqs_pending", &c.IRQsPending}, {"irqs_dropped", &c.IRQsDropped},
	} {
		f(x.name, x.v.Load())
	}
}

// Write prints the counters as "prefix.name value" lines.
func (c *Counters) Write(w io.Writer, prefix string) {
	c.Each(func(name string, v uint64) { fmt.Fprintf(w, "%s%s %d\n", prefix, name, v) })
}

// Status values the driver moves through (virtio 1.2, 3.1.1).
const (
	statusA    = StatusAcknowledge
	statusAD   = statusA | StatusDriver
	statusADF  = statusAD | StatusFeaturesOK
	statusADFO = statusADF | StatusDriverOK
)

// statusTransitions is every legal driver write of the status register,
// from the driver-owned bits now to the value written (Firecracker's
// transport/mmio.rs keeps the same table). Writing 0 (reset) is legal from
// anywhere, and so is adding FAILED; both are handled apart. Anything else
// is ignored and counted.
var statusTransitions = [...]struct{ from, to uint8 }{
	{0, statusA},
	{statusA, statusAD},
	{statusAD, statusADF},   // only if the features are acceptable
	{statusADF, statusADFO}, // activates the device
}

// LegalStatus reports whether s is a status value the state machine can
// reach: a prefix of ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK, possibly
// with FAILED, and DEVICE_NEEDS_RESET only together with DRIVER_OK. Fuzz tests assert it after every access.
func LegalStatus(s uint8) bool {
	drv := s &^ (StatusFailed | StatusDeviceNeedsReset)
	switch drv {
	case 0, statusA, statusAD, statusADF, statusADFO:
	default:
		return false
	}
	// The device sets DEVICE_NEEDS_RESET only once activated.
	return s&StatusDeviceNeedsReset == 0 || drv == statusADFO
}

// TransportConfig is what NewTransport needs.
type TransportConfig struct {
	Device Device
	Mem    *mem.Memory
	// IRQ is the transport's own mechanism (InterruptStatus and a line,
	// or MSI-X and ISR). The device reaches it through Activation.IRQ.
	IRQ Interrupt
	// OnReset clears the transport's interrupt state when the driver
	// resets the device. Called with the transport's register lock held,
	// after Device.Reset returned.
	OnReset func()
	// Name identifies the device in logs ("virtio-mmio@0xd0000000 net").
	Name string
	Log  func(format string, args ...any)
}

// Transport is the device-side state the virtio spec gives every
// transport. Its register-side methods are called with the transport's
// register lock held (one vCPU at a time); NeedsReset and the
// interrupt path come from device goroutines and take no lock shared with
// Device.Reset, which waits for those goroutines.
type Transport struct {
	cfg    TransportConfig
	queues []*Queue

	// state is the activation epoch in the high 32 bits and the status
	// byte in the low 8. Reset bumps the epoch, so a NeedsReset from a
	// previous activation cannot mark the new one.
	state atomic.Uint64

	offered        uint64
	devFeatSel     uint32
	drvFeatSel     uint32
	drvFeatures    uint64
	configGen      atomic.Uint32
	active         bool
	loggedReset    atomic.Bool
	loggedStatus   atomic.Bool
	loggedFailed   atomic.Bool
	loggedFeatures atomic.Bool
	loggedActivate atomic.Bool

	C Counters
}

// NewTransport checks the device's description and makes its queues, each
// with the kick eventfd it keeps for its whole life: nothing is created
// per kick or per activation.
func NewTransport(c TransportConfig) (*Transport, error) {
	if c.Device == nil || c.Mem == nil || c.IRQ == nil {
		return nil, errors.New("virtio transport: device, memory and interrupt are required")
	}
	dev := c.Device
	if c.Name == "" {
		c.Name = "virtio-" + dev.Type().String()
	}
	t := &Transport{cfg: c, offered: dev.Features()}
	if t.offered&FeatureVersion1 == 0 {
		return nil, fmt.Errorf("%s: the device does not offer VIRTIO_F_VERSION_1 (only modern devices are supported)", c.Name)
	}
	sizes := dev.QueueMaxSizes()
	if len(sizes) == 0 || len(sizes) > 1024 {
		return nil, fmt.Errorf("%s: %d queues (1 to 1024 supported)", c.Name, len(sizes))
	}
	for i, n := range sizes {
		if n == 0 || n > MaxQueueSize || n&(n-1) != 0 {
			t.Close()
			return nil, fmt.Errorf("%s: queue %d maximum size %d is not a power of two up to %d", c.Name, i, n, MaxQueueSize)
		}
		q := NewQueue(i, n)
		k, err := eventfd.New()
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("%s: queue %d kick: %w", c.Name, i, err)
		}
		q.Kick = k
		t.queues = append(t.queues, q)
	}
	return t, nil
}

// Close stops an active device and releases the kick eventfds. It is
// idempotent.
func (t *Transport) Close() error {
	if t.active {
		t.cfg.Device.Reset()
		t.active = false
	}
	var errs []error
	for _, q := range t.queues {
		if q.Kick != nil {
			errs = append(errs, q.Kick.Close())
		}
	}
	return errors.Join(errs...)
}

// Device is the device behind the transport.
func (t *Transport) Device() Device { return t.cfg.Device }

// Name identifies the device in logs.
func (t *Transport) Name() string { return t.cfg.Name }

// NumQueues is the number of virtqueues the device has.
func (t *Transport) NumQueues() int { return len(t.queues) }

// Queue returns queue i, or nil if there is none: i comes from the guest.
func (t *Transport) Queue(i uint32) *Queue {
	if uint64(i) >= uint64(len(t.queues)) {
		return nil
	}
	return t.queues[i]
}

// Status is the device status byte (virtio 1.2, 2.1).
func (t *Transport) Status() uint8 { return uint8(t.state.Load()) }

// Active reports whether the device was activated and not reset since.
func (t *Transport) Active() bool { return t.active }

// ConfigGeneration changes whenever the device may have changed its
// configuration space (virtio 1.2, 2.5.1): on every configuration change
// notification.
func (t *Transport) ConfigGeneration() uint32 { return t.configGen.Load() }

func (t *Transport) logf(format string, args ...any) {
	if t.cfg.Log != nil {
		t.cfg.Log("%s: "+format, append([]any{t.cfg.Name}, args...)...)
	}
}

// BadWrite counts a register write the transport ignores.
func (t *Transport) BadWrite() { t.C.BadRegisterWrites.Add(1) }

// BadRead counts a register read the transport answers with zero.
func (t *Transport) BadRead() { t.C.BadRegisterReads.Add(1) }

// SelectDeviceFeatures sets the device feature window (0: bits 0-31, 1:
// bits 32-63, anything else reads zero).
func (t *Transport) SelectDeviceFeatures(sel uint32) { t.devFeatSel = sel }

// DeviceFeatureSelect is the current device feature window.
func (t *Transport) DeviceFeatureSelect() uint32 { return t.devFeatSel }

// DeviceFeatures reads the selected window of the offered features.
func (t *Transport) DeviceFeatures() uint32 { return window(t.offered, t.devFeatSel) }

// SelectDriverFeatures sets the driver feature window.
func (t *Transport) SelectDriverFeatures(sel uint32) { t.drvFeatSel = sel }

// DriverFeatureSelect is the current driver feature window.
func (t *Transport) DriverFeatureSelect() uint32 { return t.drvFeatSel }

// DriverFeatures reads back the selected window of the accepted features.
func (t *Transport) DriverFeatures() uint32 { return window(t.drvFeatures, t.drvFeatSel) }

func window(f uint64, sel uint32) uint32 {
	if sel > 1 {
		return 0
	}
	return uint32(f >> (32 * sel))
}

// WriteDriverFeatures sets the selected window of the features the driver
// accepts. The driver may do so only after DRIVER and before FEATURES_OK
// (virtio 1.2, 3.1.1 step 5); other writes, and non-zero writes beyond
// bit 63, are ignored and counted.
func (t *Transport) WriteDriverFeatures(v uint32) {
	if t.Status() != statusAD || (t.drvFeatSel > 1 && v != 0) {
		t.BadWrite()
		return
	}
	if t.drvFeatSel > 1 {
		return
	}
	shift := 32 * t.drvFeatSel
	t.drvFeatures = t.drvFeatures&^(0xffffffff<<shift) | uint64(v)<<shift
}

// NegotiatedFeatures is what the driver accepted (valid once FEATURES_OK
// stuck).
func (t *Transport) NegotiatedFeatures() uint64 { return t.drvFeatures }

// queueConfigurable says whether the driver may program queue
// configuration now: after FEATURES_OK, before DRIVER_OK (virtio 1.2,
// 3.1.1 step 7), never after FAILED or DEVICE_NEEDS_RESET.
func (t *Transport) queueConfigurable() bool { return t.Status() == statusADF }

// ConfigurableQueue returns queue i if the driver may change its
// configuration now: it exists, the status allows it, and the queue is not
// enabled yet (virtio 1.2, 4.1.4.3.2 and 4.2.2.2). Otherwise it counts a
// bad register write and returns nil.
func (t *Transport) ConfigurableQueue(i uint32) *Queue {
	q := t.Queue(i)
	if q == nil || q.Ready || !t.queueConfigurable() {
		t.BadWrite()
		return nil
	}
	return q
}

// SetQueueReady enables (or, before DRIVER_OK, disables) queue i. The
// configuration is checked against guest memory at DRIVER_OK, so a bad
// one ends in DEVICE_NEEDS_RESET rather than in a refused write the
// driver cannot see.
func (t *Transport) SetQueueReady(i uint32, ready bool) {
	q := t.Queue(i)
	if q == nil || !t.queueConfigurable() || q.Ready == ready {
		if q == nil || q.Ready != ready {
			t.BadWrite()
		}
		return
	}
	q.Ready = ready
}

// Notify signals queue i's kick eventfd: the driver wrote a notification
// register (virtio 1.2, 4.2.3.3 and 4.1.5.2).
func (t *Transport) Notify(i uint32) {
	q := t.Queue(i)
	if q == nil {
		t.C.BadQueueNotifies.Add(1)
		return
	}
	t.C.QueueNotifies.Add(1)
	q.Kick.Signal()
}

// ReadConfig reads the device-specific configuration space.
func (t *Transport) ReadConfig(off uint64, data []byte) { t.cfg.Device.ReadConfig(off, data) }

// WriteConfig writes the device-specific configuration space.
func (t *Transport) WriteConfig(off uint64, data []byte) { t.cfg.Device.WriteConfig(off, data) }

// WriteStatus applies a driver write of the status register.
func (t *Transport) WriteStatus(v uint8) {
	if v == 0 {
		t.reset()
		return
	}
	cur := t.Status()
	// DEVICE_NEEDS_RESET belongs to the device: a driver that read it and
	// writes it back (status | FAILED) neither sets nor clears it.
	drv, want := cur&^StatusDeviceNeedsReset, v&^StatusDeviceNeedsReset
	switch {
	case want == drv:
		return
	case want == drv|StatusFailed:
		t.state.Or(StatusFailed)
		t.C.DriverFailed.Add(1)
		if t.loggedFailed.CompareAndSwap(false, true) {
			t.logf("driver set FAILED in status %#x (further ones are counted, not logged)", cur)
		}
		return
	}
	if drv&StatusFailed == 0 {
		for _, tr := range statusTransitions {
			if tr.from != drv || tr.to != want {
				continue
			}
			switch want {
			case statusADF:
				t.featuresOK()
			case statusADFO:
				t.driverOK()
			default:
				t.state.Or(uint64(want))
			}
			return
		}
	}
	t.C.IllegalStatusWrites.Add(1)
	if t.loggedStatus.CompareAndSwap(false, true) {
		t.logf("ignored status write %#x in status %#x (further ones are counted, not logged)", v, cur)
	}
}

// featuresOK accepts FEATURES_OK only if the driver took a subset of what
// was offered, VERSION_1 included; otherwise the bit does not stick and a
// driver that reads it back sees the refusal (virtio 1.2, 3.1.1 step 6).
func (t *Transport) featuresOK() {
	f := t.drvFeatures
	if f&^t.offered != 0 || f&FeatureVersion1 == 0 {
		t.C.FeaturesRefused.Add(1)
		if t.loggedFeatures.CompareAndSwap(false, true) {
			t.logf("refused FEATURES_OK: driver features %#x, offered %#x (further ones are counted, not logged)", f, t.offered)
		}
		return
	}
	t.state.Or(StatusFeaturesOK)
}

// driverOK starts every enabled queue with the negotiated features and
// activates the device. Any failure marks the device DEVICE_NEEDS_RESET
// without calling Activate for a bad queue.
func (t *Transport) driverOK() {
	t.state.Or(StatusDriverOK)
	f := t.drvFeatures
	var err error
	for _, q := range t.queues {
		if q.Ready {
			if err = q.Start(t.cfg.Mem, f); err != nil {
				break
			}
		}
	}
	if err == nil {
		epoch := uint32(t.state.Load() >> 32)
		err = t.cfg.Device.Activate(Activation{
			Mem:        t.cfg.Mem,
			Features:   f,
			Queues:     t.queues,
			IRQ:        deviceIRQ{t},
			NeedsReset: func(err error) { t.needsReset(epoch, err) },
		})
		if err == nil {
			t.active = true
			t.C.Activations.Add(1)
			return
		}
	}
	t.C.ActivateFails.Add(1)
	if t.loggedActivate.CompareAndSwap(false, true) {
		t.logf("activation failed: %v (further failures are counted, not logged)", err)
	}
	t.setNeedsReset(uint32(t.state.Load() >> 32))
}

// needsReset is Activation.NeedsReset: called from a device goroutine.
func (t *Transport) needsReset(epoch uint32, err error) {
	t.C.NeedsResetEvents.Add(1)
	if t.loggedReset.CompareAndSwap(false, true) {
		t.logf("device needs reset: %v (further ones are counted, not logged)", err)
	}
	t.setNeedsReset(epoch)
}

// setNeedsReset sets DEVICE_NEEDS_RESET unless the driver reset the
// device since epoch, and sends the configuration change notification
// the spec requires (virtio 1.2, 2.1.2).
func (t *Transport) setNeedsReset(epoch uint32) {
	for {
		old := t.state.Load()
		if uint32(old>>32) != epoch || old&StatusDeviceNeedsReset != 0 || old&StatusDriverOK == 0 {
			return
		}
		if t.state.CompareAndSwap(old, old|StatusDeviceNeedsReset) {
			break
		}
	}
	deviceIRQ{t}.NotifyConfig()
}

// reset returns the device and the transport to their initial state
// (virtio 1.2, 2.4). The epoch moves first, so the device's goroutines,
// which Device.Reset waits for, can no longer mark the device.
func (t *Transport) reset() {
	t.C.DeviceResets.Add(1)
	for {
		old := t.state.Load()
		if t.state.CompareAndSwap(old, (old>>32+1)<<32) {
			break
		}
	}
	t.cfg.Device.Reset()
	t.active = false
	for _, q := range t.queues {
		q.ResetConfig()
		q.Kick.Drain() // a kick from before the reset means nothing after it
	}
	t.devFeatSel, t.drvFeatSel, t.drvFeatures = 0, 0, 0
	if t.cfg.OnReset != nil {
		t.cfg.OnReset()
	}
}

// deviceIRQ is the Interrupt the device gets: it counts, and moves the
// configuration generation on a configuration change.
type deviceIRQ struct{ t *Transport }

func (d deviceIRQ) NotifyQueue(q int) error {
	d.t.C.UsedIRQs.Add(1)
	return d.t.cfg.IRQ.NotifyQueue(q)
}

func (d deviceIRQ) NotifyConfig() error {
	d.t.C.ConfigIRQs.Add(1)
	d.t.configGen.Add(1)
	return d.t.cfg.IRQ.NotifyConfig()
}
