package mmio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/virtiotest"
	"github.com/govmm/govmm/vmm/mem"
)

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

// harness drives a Device through its registers as a driver would.
type harness struct {
	t    *testing.T
	d    *Device
	dev  *echoDev
	line *fakeLine
	mem  *mem.Memory
}

const memSize = 1 << 20

func newHarness(t *testing.T, dev *echoDev, nb virtio.NotifyBinder) *harness {
	t.Helper()
	m := virtiotest.NewMemory(t, memSize)
	line := newLine()
	d, err := New(Config{Device: dev, Mem: m, IRQ: line, Base: 0xd0000000, Notify: nb, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &harness{t: t, d: d, dev: dev, line: line, mem: m}
}

func (h *harness) r32(off uint64) uint32 {
	var b [4]byte
	h.d.Read(off, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

func (h *harness) w32(off uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	h.d.Write(off, b[:])
}

func (h *harness) status() uint8 { return uint8(h.r32(RegStatus)) }

func (h *harness) wantStatus(want uint8) {
	h.t.Helper()
	if got := h.status(); got != want {
		h.t.Fatalf("status %#x, want %#x", got, want)
	}
}

func (h *harness) writeFeatures(f uint64) {
	h.w32(RegDriverFeaturesSel, 0)
	h.w32(RegDriverFeatures, uint32(f))
	h.w32(RegDriverFeaturesSel, 1)
	h.w32(RegDriverFeatures, uint32(f>>32))
}

// negotiate runs reset, ACKNOWLEDGE, DRIVER and FEATURES_OK with f.
func (h *harness) negotiate(f uint64) {
	h.t.Helper()
	h.w32(RegStatus, 0)
	h.w32(RegStatus, virtio.StatusAcknowledge)
	h.w32(RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	h.writeFeatures(f)
	h.w32(RegStatus, statusADF)
	h.wantStatus(statusADF)
}

// setupQueue programs queue qi with a virtiotest layout and enables it.
func (h *harness) setupQueue(qi uint32, size uint16, base, data mem.GPA) *virtiotest.Driver {
	scratch := virtio.NewQueue(int(qi), virtio.MaxQueueSize)
	drv := virtiotest.NewDriver(h.t, h.mem, scratch, size, base, data, data+0x10000)
	h.w32(RegQueueSel, qi)
	h.w32(RegQueueNum, uint32(size))
	h.w32(RegQueueDescLow, uint32(drv.DescGPA))
	h.w32(RegQueueDescHigh, uint32(uint64(drv.DescGPA)>>32))
	h.w32(RegQueueDriverLow, uint32(drv.AvailGPA))
	h.w32(RegQueueDriverHigh, 0)
	h.w32(RegQueueDeviceLow, uint32(drv.UsedGPA))
	h.w32(RegQueueDeviceHigh, 0)
	h.w32(RegQueueReady, 1)
	return drv
}

const (
	statusADF  = virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK
	statusADFO = statusADF | virtio.StatusDriverOK
)

func TestIdentification(t *testing.T) {
	h := newHarness(t, newEcho(), nil)
	for _, c := range []struct {
		off  uint64
		want uint32
	}{
		{RegMagicValue, 0x74726976}, {RegVersion, 2}, {RegDeviceID, uint32(virtio.IDRNG)},
		{RegVendorID, VendorID}, {RegSHMLenLow, 0xffffffff}, {RegSHMBaseHigh, 0xffffffff},
		{RegQueueReset, 0}, {RegStatus, 0}, {RegInterruptStatus, 0},
	} {
		if got := h.r32(c.off); got != c.want {
			t.Errorf("register %#x = %#x, want %#x", c.off, got, c.want)
		}
	}
	if got := CmdlineParam(0xd0000000, Size, 5); got != "virtio_mmio.device=0x1000@0xd0000000:5" {
		t.Errorf("CmdlineParam = %q", got)
	}
}

// TestDriver plays a virtio driver through the registers (virtio 1.2,
// 3.1.1 and 4.2.3), from reset to an echoed buffer and back to reset.
func TestDriver(t *testing.T) {
	dev := newEcho()
	h := newHarness(t, dev, nil)

	h.w32(RegStatus, 0)
	if dev.resetCount() != 1 {
		t.Fatalf("reset: Device.Reset called %d times", dev.resetCount())
	}
	h.w32(RegStatus, virtio.StatusAcknowledge)
	h.wantStatus(virtio.StatusAcknowledge)
	h.w32(RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)

	// Device features in two windows; a third window reads zero.
	var offered uint64
	for sel := uint32(0); sel < 3; sel++ {
		h.w32(RegDeviceFeaturesSel, sel)
		v := uint64(h.r32(RegDeviceFeatures))
		if sel == 2 && v != 0 {
			t.Fatalf("feature window 2 = %#x", v)
		}
		if sel < 2 {
			offered |= v << (32 * sel)
		}
	}
	if offered != dev.features {
		t.Fatalf("offered %#x, device has %#x", offered, dev.features)
	}

	// A driver without VERSION_1, then one asking for an unoffered bit:
	// FEATURES_OK does not stick (3.1.1 step 6).
	for _, bad := range []uint64{featureEcho, virtio.FeatureVersion1 | virtio.FeatureRingPacked} {
		h.writeFeatures(bad)
		h.w32(RegStatus, statusADF)
		h.wantStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	}
	if got := h.d.Counters().FeaturesRefused.Load(); got != 2 {
		t.Fatalf("features_refused = %d", got)
	}
	want := uint64(virtio.FeatureVersion1 | featureEcho)
	h.writeFeatures(want)
	h.w32(RegStatus, statusADF)
	h.wantStatus(statusADF)
	// Features are frozen after FEATURES_OK.
	h.writeFeatures(dev.features)
	h.w32(RegDriverFeaturesSel, 0)
	if got := h.r32(RegDriverFeatures); got != uint32(want) {
		t.Fatalf("driver features changed after FEATURES_OK: %#x", got)
	}

	h.w32(RegQueueSel, 0)
	if got := h.r32(RegQueueNumMax); got != 256 {
		t.Fatalf("QueueNumMax = %d", got)
	}
	h.w32(RegQueueSel, 7)
	if got := h.r32(RegQueueNumMax); got != 0 {
		t.Fatalf("QueueNumMax of a missing queue = %d", got)
	}
	drv := h.setupQueue(0, 16, 0x1000, 0x10000)
	if h.r32(RegQueueReady) != 1 {
		t.Fatal("queue not ready")
	}
	// Queue configuration is frozen once the queue is ready.
	bad := h.d.Counters().BadRegisterWrites.Load()
	h.w32(RegQueueNum, 8)
	h.w32(RegQueueDescLow, 0x5000)
	if h.r32(RegQueueNum) != 16 || h.r32(RegQueueDescLow) != uint32(drv.DescGPA) {
		t.Fatal("queue configuration changed while ready")
	}
	if got := h.d.Counters().BadRegisterWrites.Load() - bad; got != 2 {
		t.Fatalf("bad_register_writes grew by %d, want 2", got)
	}

	h.w32(RegStatus, statusADFO)
	h.wantStatus(statusADFO)
	acts := dev.activations()
	if len(acts) != 1 {
		t.Fatalf("Activate called %d times", len(acts))
	}
	a := acts[0]
	if a.Features != want || len(a.Queues) != 2 || !a.Queues[0].Ready || a.Queues[1].Ready {
		t.Fatalf("activation: features %#x, %d queues", a.Features, len(a.Queues))
	}
	if q := a.Queues[0]; q.Size != 16 || q.Desc != drv.DescGPA || q.Avail != drv.AvailGPA || q.Used != drv.UsedGPA {
		t.Fatalf("queue 0 as activated: %+v, driver %s", q, drv)
	}

	// A buffer, a notification, an echo and an interrupt.
	_, addrs := drv.Offer(false, virtiotest.R([]byte("hello")), virtiotest.W(16))
	h.w32(RegQueueNotify, 0)
	h.line.waitHigh(t)
	if got := h.r32(RegInterruptStatus); got != IntUsedBuffer {
		t.Fatalf("InterruptStatus = %#x", got)
	}
	used := drv.Collect()
	if len(used) != 1 || used[0].Len != 5 || string(drv.Read(addrs[1], 5)) != "hello" {
		t.Fatalf("used %+v", used)
	}
	h.w32(RegInterruptACK, IntUsedBuffer)
	if h.line.level() || h.r32(RegInterruptStatus) != 0 {
		t.Fatal("InterruptACK left the line high")
	}
	if got := h.d.Counters().QueueNotifies.Load(); got != 1 {
		t.Fatalf("queue_notifies = %d", got)
	}

	// Configuration space at 0x100, any width.
	var b8 [8]byte
	h.d.Read(RegConfig, b8[:])
	if b8 != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Fatalf("config %v", b8)
	}
	h.d.Write(RegConfig+2, []byte{0xaa, 0xbb})
	var b2 [2]byte
	h.d.Read(RegConfig+2, b2[:])
	if b2 != [2]byte{0xaa, 0xbb} {
		t.Fatalf("config write read back %v", b2)
	}

	// Reset stops the device and forgets the queue configuration.
	h.w32(RegStatus, 0)
	h.wantStatus(0)
	if dev.resetCount() != 2 {
		t.Fatalf("Device.Reset called %d times", dev.resetCount())
	}
	h.w32(RegQueueSel, 0)
	if h.r32(RegQueueReady) != 0 || h.r32(RegQueueNum) != 256 || h.r32(RegQueueDescLow) != 0 {
		t.Fatal("queue configuration survived reset")
	}
	h.w32(RegDriverFeaturesSel, 0)
	if h.r32(RegDriverFeatures) != 0 {
		t.Fatal("driver features survived reset")
	}
}

// TestKickSignalsEventFD checks that QueueNotify signals the queue's own
// eventfd, and that a reset drains a stale kick.
func TestKickSignalsEventFD(t *testing.T) {
	h := newHarness(t, newEcho(), nil)
	h.negotiate(virtio.FeatureVersion1)
	h.w32(RegQueueNotify, 1)
	if n, _ := h.d.t.Queue(1).Kick.Drain(); n != 1 {
		t.Fatalf("queue 1 kick count %d", n)
	}
	if n, _ := h.d.t.Queue(0).Kick.Drain(); n != 0 {
		t.Fatalf("queue 0 kicked by a notification of queue 1")
	}
	h.w32(RegQueueNotify, 2)
	if got := h.d.Counters().BadQueueNotifies.Load(); got != 1 {
		t.Fatalf("bad_queue_notifies = %d", got)
	}
	h.w32(RegQueueNotify, 0)
	h.w32(RegStatus, 0)
	if n, _ := h.d.t.Queue(0).Kick.Drain(); n != 0 {
		t.Fatal("a kick survived reset")
	}
}

func TestQueueOutsideRAM(t *testing.T) {
	dev := newEcho()
	h := newHarness(t, dev, nil)
	h.negotiate(virtio.FeatureVersion1)
	h.w32(RegQueueSel, 0)
	h.w32(RegQueueNum, 16)
	h.w32(RegQueueDescLow, 0)
	h.w32(RegQueueDescHigh, 1) // 4 GiB: beyond the 1 MiB of RAM
	h.w32(RegQueueDriverLow, 0x2000)
	h.w32(RegQueueDeviceLow, 0x3000)
	h.w32(RegQueueReady, 1)
	h.w32(RegStatus, statusADFO)
	h.wantStatus(statusADFO | virtio.StatusDeviceNeedsReset)
	if len(dev.activations()) != 0 {
		t.Fatal("Activate called with a queue outside RAM")
	}
	if h.r32(RegInterruptStatus) != IntConfigChange || !h.line.level() {
		t.Fatal("no configuration change interrupt for DEVICE_NEEDS_RESET")
	}
	if got := h.d.Counters().ActivateFails.Load(); got != 1 {
		t.Fatalf("activate_fails = %d", got)
	}
	// Bad sizes fail the same way.
	for _, size := range []uint32{0, 3, 512} {
		h.negotiate(virtio.FeatureVersion1)
		h.setupQueue(0, 16, 0x1000, 0x10000)
		h.w32(RegQueueReady, 0) // allowed before DRIVER_OK
		h.w32(RegQueueNum, size)
		h.w32(RegQueueReady, 1)
		h.w32(RegStatus, statusADFO)
		h.wantStatus(statusADFO | virtio.StatusDeviceNeedsReset)
	}
	if len(dev.activations()) != 0 {
		t.Fatal("Activate called with a bad queue size")
	}
	// Reset clears the interrupt.
	h.w32(RegStatus, 0)
	if h.line.level() || h.r32(RegInterruptStatus) != 0 {
		t.Fatal("reset left the interrupt pending")
	}
}

func TestActivateError(t *testing.T) {
	dev := newEcho()
	dev.activateErr = errors.New("backend gone")
	h := newHarness(t, dev, nil)
	h.negotiate(virtio.FeatureVersion1)
	h.setupQueue(0, 16, 0x1000, 0x10000)
	h.w32(RegStatus, statusADFO)
	h.wantStatus(statusADFO | virtio.StatusDeviceNeedsReset)
}

func TestIllegalStatusWrites(t *testing.T) {
	h := newHarness(t, newEcho(), nil)
	ill := func(from, v uint8) {
		t.Helper()
		before := h.d.Counters().IllegalStatusWrites.Load()
		h.w32(RegStatus, uint32(v))
		h.wantStatus(from)
		if h.d.Counters().IllegalStatusWrites.Load() != before+1 {
			t.Fatalf("status write %#x in %#x not counted", v, from)
		}
	}
	ill(0, virtio.StatusDriver)
	ill(0, virtio.StatusDriverOK)
	h.w32(RegStatus, virtio.StatusAcknowledge)
	ill(virtio.StatusAcknowledge, virtio.StatusAcknowledge|virtio.StatusFeaturesOK)
	ill(virtio.StatusAcknowledge, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusDriverOK)
	// Clearing a bit is not a transition either.
	h.w32(RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	ill(virtio.StatusAcknowledge|virtio.StatusDriver, virtio.StatusDriver)
	// The driver cannot set DEVICE_NEEDS_RESET.
	h.w32(RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusDeviceNeedsReset)
	h.wantStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	// Queue configuration before FEATURES_OK is refused.
	h.w32(RegQueueSel, 0)
	h.w32(RegQueueNum, 16)
	if h.r32(RegQueueNum) != 256 {
		t.Fatal("queue size accepted before FEATURES_OK")
	}
	// FAILED at any time; then nothing but reset.
	h.w32(RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFailed)
	h.wantStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFailed)
	ill(virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFailed, statusADF|virtio.StatusFailed)
	h.w32(RegStatus, 0)
	h.wantStatus(0)
	// Wrong widths and unknown registers are ignored and counted.
	bad := h.d.Counters().BadRegisterWrites.Load()
	h.d.Write(RegStatus, []byte{1})
	h.d.Write(RegStatus+1, []byte{1, 0, 0, 0})
	h.w32(0x0e0, 1)
	h.w32(RegMagicValue, 1)
	h.wantStatus(0)
	if got := h.d.Counters().BadRegisterWrites.Load() - bad; got != 4 {
		t.Fatalf("bad_register_writes grew by %d, want 4", got)
	}
	var b [2]byte
	h.d.Read(RegMagicValue, b[:])
	if b != [2]byte{} {
		t.Fatalf("2-byte register read returned %v", b)
	}
}

// TestNeedsReset has the device report a protocol violation, and checks
// that a stale callback from before a reset cannot mark the next life.
func TestNeedsReset(t *testing.T) {
	dev := newEcho()
	h := newHarness(t, dev, nil)
	h.negotiate(virtio.FeatureVersion1)
	h.setupQueue(0, 16, 0x1000, 0x10000)
	h.w32(RegStatus, statusADFO)
	a := dev.activations()[0]
	a.NeedsReset(errors.New("bad descriptor"))
	h.wantStatus(statusADFO | virtio.StatusDeviceNeedsReset)
	if h.r32(RegInterruptStatus) != IntConfigChange || !h.line.level() {
		t.Fatal("no configuration change interrupt")
	}
	gen := h.r32(RegConfigGeneration)
	if gen == 0 {
		t.Fatal("configuration generation did not move")
	}
	// FAILED written with the status read back keeps NEEDS_RESET.
	h.w32(RegStatus, uint32(h.status()|virtio.StatusFailed))
	h.wantStatus(statusADFO | virtio.StatusDeviceNeedsReset | virtio.StatusFailed)

	h.w32(RegStatus, 0)
	h.negotiate(virtio.FeatureVersion1)
	a.NeedsReset(errors.New("late"))
	h.wantStatus(statusADF)
	if got := h.d.Counters().NeedsResetEvents.Load(); got != 2 {
		t.Fatalf("needs_reset_events = %d", got)
	}
}

type binding struct {
	n virtio.Notification
	e *eventfd.EventFD
}

type fakeBinder struct {
	mu    sync.Mutex
	bound []binding
}

func (b *fakeBinder) Bind(n virtio.Notification, e *eventfd.EventFD) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bound = append(b.bound, binding{n, e})
	return nil
}

func (b *fakeBinder) Unbind(n virtio.Notification, e *eventfd.EventFD) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, x := range b.bound {
		if x.n == n && x.e == e {
			b.bound = append(b.bound[:i], b.bound[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("unbind of %+v that was not bound", n)
}

func TestNotifyBinder(t *testing.T) {
	nb := &fakeBinder{}
	h := newHarness(t, newEcho(), nb)
	if len(nb.bound) != 2 {
		t.Fatalf("%d bindings", len(nb.bound))
	}
	for i, b := range nb.bound {
		want := virtio.Notification{Addr: 0xd0000000 + RegQueueNotify, Size: 4, DataMatch: uint64(i), Match: true}
		if b.n != want || b.e != h.d.t.Queue(uint32(i)).Kick {
			t.Fatalf("binding %d: %+v", i, b.n)
		}
	}
	if err := h.d.Close(); err != nil {
		t.Fatal(err)
	}
	if len(nb.bound) != 0 {
		t.Fatalf("%d bindings left after Close", len(nb.bound))
	}
}

// fuzzDev is a device without goroutines, for the fuzzer.
type fuzzDev struct {
	echoDev
	activated bool
}

func (f *fuzzDev) Activate(a virtio.Activation) error { f.activated = true; return nil }
func (f *fuzzDev) Reset()                             { f.activated = false }

// FuzzRegisters feeds random register accesses and checks that nothing
// panics and the state stays legal: the status is one the state machine
// can reach, InterruptStatus holds only its two bits, and the line is
// high exactly while InterruptStatus is non-zero.
func FuzzRegisters(f *testing.F) {
	op := func(write bool, off uint16, width byte, v uint32) []byte {
		b := make([]byte, 8)
		if write {
			b[0] = 1
		}
		binary.LittleEndian.PutUint16(b[1:], off)
		b[3] = width
		binary.LittleEndian.PutUint32(b[4:], v)
		return b
	}
	var seed []byte
	for _, o := range [][3]uint32{
		{RegStatus, 0}, {RegStatus, 1}, {RegStatus, 3}, {RegDriverFeaturesSel, 1}, {RegDriverFeatures, 1},
		{RegStatus, 11}, {RegQueueSel, 0}, {RegQueueNum, 8}, {RegQueueDescLow, 0x1000},
		{RegQueueDriverLow, 0x1080}, {RegQueueDeviceLow, 0x1100}, {RegQueueReady, 1}, {RegStatus, 15},
		{RegQueueNotify, 0}, {RegInterruptACK, 3},
	} {
		seed = append(seed, op(true, uint16(o[0]), 2, o[1])...)
	}
	f.Add(seed)
	f.Add(op(false, RegConfig, 3, 0))
	f.Fuzz(func(t *testing.T, ops []byte) {
		m, err := mem.New([]mem.Spec{{GPA: 0, Size: 0x4000}})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		dev := &fuzzDev{}
		dev.features, dev.sizes = newEcho().features, []uint16{8, 4}
		line := newLine()
		d, err := New(Config{Device: dev, Mem: m, IRQ: line})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for len(ops) >= 8 {
			o := ops[:8]
			ops = ops[8:]
			off := uint64(binary.LittleEndian.Uint16(o[1:])) % (Size + 8)
			width := 1 << (o[3] % 4)
			buf := make([]byte, width)
			v := binary.LittleEndian.Uint32(o[4:])
			for i := range buf {
				buf[i] = byte(v >> (8 * (i % 4)))
			}
			switch o[0] % 4 {
			case 0:
				d.Read(off, buf)
			case 1:
				d.Write(off, buf)
			case 2:
				// The device raises an interrupt or reports a fault.
				if dev.activated {
					if o[4]&1 == 0 {
						d.NotifyQueue(0)
					} else {
						d.t.WriteStatus(0) // keep epochs moving too
					}
				}
			case 3:
				if dev.activated {
					d.NotifyConfig()
				}
			}
			s := d.Status()
			if !virtio.LegalStatus(s) {
				t.Fatalf("illegal status %#x", s)
			}
			if dev.activated != (s&virtio.StatusDriverOK != 0 && s&virtio.StatusDeviceNeedsReset == 0) && s&virtio.StatusFailed == 0 {
				t.Fatalf("device activated=%v with status %#x", dev.activated, s)
			}
			isr := d.interruptStatus()
			if isr&^3 != 0 || line.level() != (isr != 0) {
				t.Fatalf("InterruptStatus %#x with line %v", isr, line.level())
			}
		}
	})
}
