package pci

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

const (
	windowBase = 0xd0000000
	windowSize = 0x10000000
	memSize    = 1 << 20
)

// fakeMSI records what the function programs and sends, and flags a
// trigger of a vector it last saw masked.
type fakeMSI struct {
	mu         sync.Mutex
	vec        map[int]msiVector
	triggers   []int
	violations []string
	ch         chan int
	closed     bool
}

type msiVector struct {
	addr   uint64
	data   uint32
	masked bool
}

func newFakeMSI() *fakeMSI { return &fakeMSI{vec: map[int]msiVector{}, ch: make(chan int, 256)} }

func (m *fakeMSI) SetVector(i int, addr uint64, data uint32, masked bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.vec[i] = msiVector{addr, data, masked}
	return nil
}

func (m *fakeMSI) Trigger(i int) error {
	m.mu.Lock()
	v, ok := m.vec[i]
	if !ok || v.masked {
		m.violations = append(m.violations, fmt.Sprintf("trigger of vector %d programmed=%v masked=%v", i, ok, v.masked))
	}
	m.triggers = append(m.triggers, i)
	m.mu.Unlock()
	select {
	case m.ch <- i:
	default:
	}
	return nil
}

func (m *fakeMSI) Close() error { m.closed = true; return nil }

func (m *fakeMSI) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.triggers)
}

func (m *fakeMSI) vector(i int) msiVector {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.vec[i]
}

func (m *fakeMSI) wait(t *testing.T) int {
	t.Helper()
	select {
	case v := <-m.ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no MSI-X message")
	}
	return 0
}

type binding struct {
	n virtio.Notification
	e *eventfd.EventFD
}

type fakeBinder struct {
	mu    sync.Mutex
	bound []binding
	fail  bool
}

func (b *fakeBinder) Bind(n virtio.Notification, e *eventfd.EventFD) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail {
		return errors.New("no ioeventfd")
	}
	for _, x := range b.bound {
		if x.n == n {
			return fmt.Errorf("double bind of %+v", n)
		}
	}
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

func (b *fakeBinder) addrs() []uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var a []uint64
	for _, x := range b.bound {
		a = append(a, x.n.Addr)
	}
	return a
}

type harness struct {
	t    *testing.T
	b    *Bus
	w    *Window
	f    *Function
	dev  *echoDev
	msi  *fakeMSI
	intx *fakeLine
	nb   *fakeBinder
	mem  *mem.Memory
}

func newHarness(t *testing.T, withMSI bool) *harness {
	t.Helper()
	h := &harness{t: t, dev: newEcho(), msi: newFakeMSI(), intx: newLine(), nb: &fakeBinder{}}
	h.mem = virtiotest.NewMemory(t, memSize)
	c := Config{
		WindowBase: windowBase, WindowSize: windowSize, Mem: h.mem, Notify: h.nb,
		INTx: func(int) IRQLine { return h.intx }, Log: t.Logf,
	}
	if withMSI {
		c.MSI = func(slot, n int) (MSI, error) {
			if slot != 1 || n != 3 {
				t.Errorf("MSI for slot %d with %d vectors", slot, n)
			}
			return h.msi, nil
		}
	}
	b, err := NewBus(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	h.b, h.w = b, b.Window()
	if h.f, err = b.AddVirtio(h.dev); err != nil {
		t.Fatal(err)
	}
	return h
}

// cfgR and cfgW access configuration space through mechanism #1, as
// Linux's pci_conf1_read/write do.
func (h *harness) cfgR(dev, reg, width int) uint32 {
	return cfgRead(h.b, 0, dev, 0, reg, width)
}

func cfgRead(b *Bus, bus, dev, fn, reg, width int) uint32 {
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], 0x80000000|uint32(bus)<<16|uint32(dev)<<11|uint32(fn)<<8|uint32(reg&0xfc))
	b.Write(0, a[:])
	d := make([]byte, width)
	b.Read(4+uint64(reg&3), d)
	return uint32(le(d))
}

func (h *harness) cfgW(dev, reg, width int, v uint32) {
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], 0x80000000|uint32(dev)<<11|uint32(reg&0xfc))
	h.b.Write(0, a[:])
	d := make([]byte, width)
	putLE(d, uint64(v))
	h.b.Write(4+uint64(reg&3), d)
}

func (h *harness) bar() uint64 {
	return uint64(h.cfgR(1, cfgBAR0, 4)&^0xf) | uint64(h.cfgR(1, cfgBAR1, 4))<<32
}

// barR and barW access BAR0 through the MMIO window.
func (h *harness) barR(off uint64, width int) uint64 {
	d := make([]byte, width)
	h.w.Read(h.bar()-windowBase+off, d)
	return le(d)
}

func (h *harness) barW(off uint64, width int, v uint64) {
	d := make([]byte, width)
	putLE(d, v)
	h.w.Write(h.bar()-windowBase+off, d)
}

func (h *harness) status() uint8 { return uint8(h.barR(CommonDeviceStatus, 1)) }

func (h *harness) setStatus(v uint8) { h.barW(CommonDeviceStatus, 1, uint64(v)) }

func (h *harness) wantStatus(want uint8) {
	h.t.Helper()
	if got := h.status(); got != want {
		h.t.Fatalf("status %#x, want %#x", got, want)
	}
}

func (h *harness) writeFeatures(f uint64) {
	h.barW(CommonDriverFeatureSelect, 4, 0)
	h.barW(CommonDriverFeature, 4, f&0xffffffff)
	h.barW(CommonDriverFeatureSelect, 4, 1)
	h.barW(CommonDriverFeature, 4, f>>32)
}

func (h *harness) enable() {
	h.cfgW(1, cfgCommand, 2, CommandMemory|CommandBusMaster)
}

const (
	statusADF  = virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK
	statusADFO = statusADF | virtio.StatusDriverOK
)

func (h *harness) negotiate(f uint64) {
	h.t.Helper()
	h.setStatus(0)
	h.setStatus(virtio.StatusAcknowledge)
	h.setStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	h.writeFeatures(f)
	h.setStatus(statusADF)
	h.wantStatus(statusADF)
}

func (h *harness) setupQueue(qi uint16, size uint16, base, data mem.GPA) *virtiotest.Driver {
	scratch := virtio.NewQueue(int(qi), virtio.MaxQueueSize)
	drv := virtiotest.NewDriver(h.t, h.mem, scratch, size, base, data, data+0x10000)
	h.barW(CommonQueueSelect, 2, uint64(qi))
	h.barW(CommonQueueSize, 2, uint64(size))
	// Linux writes each 64-bit address as two dwords (vp_iowrite64_twopart).
	h.barW(CommonQueueDesc, 4, uint64(drv.DescGPA))
	h.barW(CommonQueueDesc+4, 4, 0)
	h.barW(CommonQueueDriver, 8, uint64(drv.AvailGPA))
	h.barW(CommonQueueDevice, 4, uint64(drv.UsedGPA))
	h.barW(CommonQueueDevice+4, 4, 0)
	h.barW(CommonQueueEnable, 2, 1)
	return drv
}

// capability is one entry of the capability list as a driver finds it.
type capability struct {
	at, id, typ, bar int
	off, length      uint32
}

// walkCaps follows the capability list like pci_find_capability, with a
// bound against loops.
func (h *harness) walkCaps(dev int) []capability {
	h.t.Helper()
	if h.cfgR(dev, cfgStatus, 2)&statusCapList == 0 {
		h.t.Fatal("no capability list")
	}
	var caps []capability
	pos := int(h.cfgR(dev, cfgCapPtr, 1))
	for ttl := 48; pos >= 0x40 && ttl > 0; ttl-- {
		pos &^= 3
		c := capability{at: pos, id: int(h.cfgR(dev, pos, 1))}
		if c.id == capIDVendor {
			c.typ = int(h.cfgR(dev, pos+3, 1))
			c.bar = int(h.cfgR(dev, pos+4, 1))
			c.off = h.cfgR(dev, pos+8, 4)
			c.length = h.cfgR(dev, pos+12, 4)
		}
		caps = append(caps, c)
		pos = int(h.cfgR(dev, pos+1, 1))
	}
	if pos != 0 {
		h.t.Fatalf("capability list does not end: %#x", pos)
	}
	return caps
}

// TestEnumeration probes and scans the bus the way Linux does: the type 1
// check, then vendor, class and header of every devfn on bus 0, then the
// capability walk of virtio_pci_modern_dev.c.
func TestEnumeration(t *testing.T) {
	h := newHarness(t, true)
	b := h.b

	// pci_check_type1: a byte to 0xcfb, then CONFIG_ADDRESS reads back.
	b.Write(3, []byte{1})
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], 0x80000000)
	b.Write(0, a[:])
	b.Read(0, a[:])
	if binary.LittleEndian.Uint32(a[:]) != 0x80000000 {
		t.Fatalf("CONFIG_ADDRESS reads %#x", a)
	}

	found := map[int]uint32{}
	for devfn := 0; devfn < 256; devfn++ {
		v := cfgRead(b, 0, devfn>>3, devfn&7, 0, 4)
		if v == 0xffffffff {
			continue
		}
		found[devfn] = v
	}
	if len(found) != 2 || found[0] != HostBridgeDevice<<16|HostBridgeVendor || found[8] != 0x1044<<16|0x1af4 {
		t.Fatalf("found %x", found)
	}
	if c := cfgRead(b, 0, 0, 0, cfgClass-1, 4) >> 8; c != 0x060000 {
		t.Fatalf("host bridge class %#x", c)
	}
	if v := cfgRead(b, 1, 1, 0, 0, 4); v != 0xffffffff {
		t.Fatalf("bus 1 reads %#x", v)
	}
	if v := cfgRead(b, 0, 1, 0, cfgRevision, 1); v != 1 {
		t.Fatalf("revision %d", v)
	}
	if hdr := h.cfgR(1, cfgHeaderType, 1); hdr != 0 {
		t.Fatalf("header type %#x", hdr)
	}
	if sub := h.cfgR(1, cfgSubVendorID, 2); sub != 0x1af4 {
		t.Fatalf("subsystem vendor %#x", sub)
	}
	if pin := h.cfgR(1, cfgInterruptPin, 1); pin != 1 {
		t.Fatalf("interrupt pin %d", pin)
	}

	caps := h.walkCaps(1)
	types := map[int]capability{}
	var msix *capability
	for i, c := range caps {
		switch c.id {
		case capIDVendor:
			if c.bar != 0 {
				t.Fatalf("capability %+v not in BAR0", c)
			}
			types[c.typ] = c
		case capIDMSIX:
			msix = &caps[i]
		default:
			t.Fatalf("unexpected capability %#x", c.id)
		}
	}
	for _, want := range []struct {
		typ    int
		minLen uint32
	}{{CapCommonCfg, 0x38}, {CapNotifyCfg, 8}, {CapISRCfg, 1}, {CapDeviceCfg, 8}, {CapPCICfg, 0}} {
		c, ok := types[want.typ]
		if !ok || c.length < want.minLen || uint64(c.off)+uint64(c.length) > barSize {
			t.Fatalf("virtio capability type %d: %+v", want.typ, c)
		}
	}
	if m := h.cfgR(1, types[CapNotifyCfg].at+16, 4); m != 4 {
		t.Fatalf("notify_off_multiplier %d", m)
	}
	if msix == nil {
		t.Fatal("no MSI-X capability")
	}
	if ctrl := h.cfgR(1, msix.at+2, 2); ctrl&0x7ff != 2 {
		t.Fatalf("MSI-X table size field %d, want 2 (3 vectors)", ctrl&0x7ff)
	}
	if tb := h.cfgR(1, msix.at+4, 4); tb != msixTableOff {
		t.Fatalf("MSI-X table %#x", tb)
	}

	// Accesses mechanism #1 cannot express are refused: crossing a
	// dword, bad widths, CONFIG_DATA with the enable bit clear.
	if v := cfgRead(b, 0, 1, 0, 3, 2); v != 0xffff {
		t.Fatalf("dword-crossing read %#x", v)
	}
	binary.LittleEndian.PutUint32(a[:], 1<<11)
	b.Write(0, a[:])
	var d [4]byte
	b.Read(4, d[:])
	if binary.LittleEndian.Uint32(d[:]) != 0xffffffff {
		t.Fatal("config data read without the enable bit")
	}
	if b.C.BadConfigAccesses.Load() < 3 {
		t.Fatalf("bad_config_accesses %d", b.C.BadConfigAccesses.Load())
	}
}

// TestBARSizingAndMoving runs the sizing protocol on every BAR and moves
// BAR0 around the window, with and without memory decoding.
func TestBARSizingAndMoving(t *testing.T) {
	h := newHarness(t, true)
	orig := h.bar()
	if orig != windowBase+barSize || h.cfgR(1, cfgBAR0, 4)&0xf != barMem64 {
		t.Fatalf("BAR0 %#x, type bits %#x", orig, h.cfgR(1, cfgBAR0, 4)&0xf)
	}
	// Sizing (pci_read_bases): decoding off, all ones, read, restore.
	h.cfgW(1, cfgBAR0, 4, 0xffffffff)
	if v := h.cfgR(1, cfgBAR0, 4); v != ^uint32(barSize-1)|barMem64 {
		t.Fatalf("BAR0 size mask %#x", v)
	}
	h.cfgW(1, cfgBAR1, 4, 0xffffffff)
	if v := h.cfgR(1, cfgBAR1, 4); v != 0xffffffff {
		t.Fatalf("BAR1 size mask %#x", v)
	}
	for reg := cfgBAR1 + 4; reg <= 0x24; reg += 4 {
		h.cfgW(1, reg, 4, 0xffffffff)
		if v := h.cfgR(1, reg, 4); v != 0 {
			t.Fatalf("unimplemented BAR at %#x sizes as %#x", reg, v)
		}
	}
	h.cfgW(1, 0x30, 4, 0xfffff800)
	if v := h.cfgR(1, 0x30, 4); v != 0 {
		t.Fatalf("expansion ROM sizes as %#x", v)
	}
	h.cfgW(1, cfgBAR0, 4, uint32(orig))
	h.cfgW(1, cfgBAR1, 4, 0)
	if h.bar() != orig {
		t.Fatalf("BAR0 restored to %#x", h.bar())
	}

	// Decoding off: the window ignores the BAR.
	if v := h.barR(CommonNumQueues, 2); v != 0xffff {
		t.Fatalf("read with memory decoding off = %#x", v)
	}
	if len(h.nb.addrs()) != 0 {
		t.Fatal("notifications bound with decoding off")
	}
	h.enable()
	if v := h.barR(CommonNumQueues, 2); v != 2 {
		t.Fatalf("num_queues = %d", v)
	}
	if got := h.nb.addrs(); len(got) != 2 || got[0] != orig+notifyOff || got[1] != orig+notifyOff+4 {
		t.Fatalf("bindings %#x", got)
	}

	// Move the BAR with a byte write and a word write, as a guest may.
	moved := uint64(windowBase + 0x100000)
	h.cfgW(1, cfgBAR0+1, 1, 0)
	h.cfgW(1, cfgBAR0+2, 2, uint32(moved>>16))
	if h.bar() != moved {
		t.Fatalf("BAR0 now %#x", h.bar())
	}
	if v := h.barR(CommonNumQueues, 2); v != 2 {
		t.Fatalf("num_queues at the new address = %#x", v)
	}
	var d [2]byte
	h.w.Read(orig-windowBase+CommonNumQueues, d[:])
	if d != [2]byte{0xff, 0xff} {
		t.Fatal("old BAR address still decodes")
	}
	if got := h.nb.addrs(); len(got) != 2 || got[0] != moved+notifyOff {
		t.Fatalf("bindings after the move %#x", got)
	}
	// Outside the window (above 4 GiB): not decoded, not bound.
	h.cfgW(1, cfgBAR1, 4, 1)
	if _, on := h.f.BAR(); on || len(h.nb.addrs()) != 0 {
		t.Fatal("a BAR outside the window is decoded")
	}
	h.cfgW(1, cfgBAR1, 4, 0)
	if _, on := h.f.BAR(); !on {
		t.Fatal("BAR back in the window is not decoded")
	}
	h.cfgW(1, cfgCommand, 2, 0)
	if len(h.nb.addrs()) != 0 {
		t.Fatal("bindings survive disabling memory decoding")
	}
}

// TestDriverMSIX plays the modern driver through BAR0 with MSI-X: feature
// negotiation with a refusal, queue setup, vectors, DRIVER_OK, a kick, an
// MSI-X message, masking and the PBA, and reset.
func TestDriverMSIX(t *testing.T) {
	h := newHarness(t, true)
	h.enable()
	dev := h.dev

	h.setStatus(0)
	if dev.resetCount() != 1 {
		t.Fatalf("Device.Reset called %d times", dev.resetCount())
	}
	h.setStatus(virtio.StatusAcknowledge)
	h.setStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	var offered uint64
	for sel := uint64(0); sel < 2; sel++ {
		h.barW(CommonDeviceFeatureSelect, 4, sel)
		offered |= h.barR(CommonDeviceFeature, 4) << (32 * sel)
	}
	if offered != dev.features {
		t.Fatalf("offered %#x", offered)
	}
	h.writeFeatures(featureEcho) // no VERSION_1
	h.setStatus(statusADF)
	h.wantStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	want := uint64(virtio.FeatureVersion1 | virtio.FeatureRingEventIdx)
	h.writeFeatures(want)
	h.setStatus(statusADF)
	h.wantStatus(statusADF)

	// MSI-X on, the function mask off, entries 0 (config) and 1 (queue 0).
	h.cfgW(1, capMSIX+2, 2, msixEnable)
	for i, e := range []struct {
		addr uint64
		data uint32
	}{{0xfee00000, 0x41}, {0xfee01000, 0x42}} {
		base := msixTableOff + uint64(16*i)
		h.barW(base, 4, e.addr)
		h.barW(base+4, 4, 0)
		h.barW(base+8, 4, uint64(e.data))
		h.barW(base+12, 4, 0) // unmask
	}
	if v := h.msi.vector(1); v != (msiVector{0xfee01000, 0x42, false}) {
		t.Fatalf("vector 1 programmed as %+v", v)
	}
	if v := h.msi.vector(2); !v.masked {
		t.Fatalf("untouched vector 2 unmasked: %+v", v)
	}
	h.barW(CommonMSIXConfig, 2, 0)
	if v := h.barR(CommonMSIXConfig, 2); v != 0 {
		t.Fatalf("msix_config %#x", v)
	}
	h.barW(CommonQueueSelect, 2, 0)
	h.barW(CommonQueueMSIXVector, 2, 99) // no such vector
	if v := h.barR(CommonQueueMSIXVector, 2); v != NoVector {
		t.Fatalf("an impossible vector reads back as %#x", v)
	}
	if h.barR(CommonQueueSize, 2) != 256 || h.barR(CommonQueueEnable, 2) != 0 {
		t.Fatal("queue 0 not offered with its maximum size, disabled")
	}
	drv := h.setupQueue(0, 16, 0x1000, 0x10000)
	h.barW(CommonQueueMSIXVector, 2, 1)
	if v := h.barR(CommonQueueMSIXVector, 2); v != 1 {
		t.Fatalf("queue_msix_vector %#x", v)
	}
	if h.barR(CommonQueueNotifyOff, 2) != 0 {
		t.Fatal("queue 0 notify_off")
	}
	h.barW(CommonQueueSelect, 2, 9)
	if h.barR(CommonQueueSize, 2) != 0 {
		t.Fatal("a missing queue has a size")
	}

	h.setStatus(statusADFO)
	h.wantStatus(statusADFO)
	acts := dev.activations()
	if len(acts) != 1 || acts[0].Features != want || !acts[0].Queues[0].Ready || acts[0].Queues[0].Size != 16 {
		t.Fatalf("activations %+v", acts)
	}

	// Notify with a 16-bit write of the queue index to its address.
	_, addrs := drv.Offer(false, virtiotest.R([]byte("ping")), virtiotest.W(8))
	h.barW(notifyOff, 2, 0)
	if v := h.msi.wait(t); v != 1 {
		t.Fatalf("MSI-X vector %d, want queue 0's 1", v)
	}
	if used := drv.Collect(); len(used) != 1 || used[0].Len != 4 || string(drv.Read(addrs[1], 4)) != "ping" {
		t.Fatalf("used %+v", used)
	}
	if h.intx.level() {
		t.Fatal("INTx asserted with MSI-X enabled")
	}

	// Masked: the message waits in the PBA and goes out on unmask.
	h.barW(msixTableOff+16+12, 4, 1)
	n := h.msi.count()
	drv.SetUsedEvent(1) // EVENT_IDX: ask for the next notification
	drv.Offer(false, virtiotest.R([]byte("pong")), virtiotest.W(8))
	h.barW(notifyOff, 2, 0)
	deadline := time.Now().Add(5 * time.Second)
	for h.barR(msixPBAOff, 8)&2 == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no pending bit for the masked vector")
		}
		time.Sleep(time.Millisecond)
	}
	if h.msi.count() != n {
		t.Fatal("a masked vector was triggered")
	}
	h.barW(msixTableOff+16+12, 4, 0)
	if v := h.msi.wait(t); v != 1 || h.barR(msixPBAOff, 8) != 0 {
		t.Fatalf("unmask sent vector %d, PBA %#x", v, h.barR(msixPBAOff, 8))
	}
	// The function mask holds every vector.
	h.cfgW(1, capMSIX+2, 2, msixEnable|msixFuncMask)
	if !h.msi.vector(1).masked {
		t.Fatal("function mask not passed to the platform")
	}
	h.f.NotifyConfig()
	if h.barR(msixPBAOff, 4)&1 == 0 || h.msi.count() != n+1 {
		t.Fatal("function-masked config vector not pending")
	}
	h.cfgW(1, capMSIX+2, 2, msixEnable)
	if v := h.msi.wait(t); v != 0 {
		t.Fatalf("config vector %d", v)
	}
	if vs := h.msi.violations; len(vs) != 0 {
		t.Fatal(vs)
	}

	// Reset: Device.Reset, vectors back to NO_VECTOR, the table kept.
	h.setStatus(0)
	h.wantStatus(0)
	if dev.resetCount() != 2 {
		t.Fatal("Device.Reset not called")
	}
	if h.barR(CommonMSIXConfig, 2) != NoVector || h.barR(msixTableOff+8, 4) != 0x41 {
		t.Fatal("reset: msix_config kept or MSI-X table lost")
	}
}

// TestINTx uses the ISR and the INTx line with MSI-X disabled.
func TestINTx(t *testing.T) {
	h := newHarness(t, false)
	h.enable()
	for _, c := range h.walkCaps(1) {
		if c.id == capIDMSIX {
			t.Fatal("MSI-X capability without a platform MSI")
		}
	}
	h.negotiate(virtio.FeatureVersion1)
	drv := h.setupQueue(0, 16, 0x1000, 0x10000)
	h.setStatus(statusADFO)
	drv.Offer(false, virtiotest.R([]byte("x")), virtiotest.W(1))
	h.barW(notifyOff, 2, 0)
	h.intx.waitHigh(t)
	if h.cfgR(1, cfgStatus, 2)&statusINTx == 0 {
		t.Fatal("PCI status Interrupt Status clear with ISR set")
	}
	// INTx disable holds the line low; the ISR stays set.
	h.cfgW(1, cfgCommand, 2, CommandMemory|CommandBusMaster|CommandINTxDisable)
	if h.intx.level() {
		t.Fatal("line high with INTx disabled")
	}
	h.cfgW(1, cfgCommand, 2, CommandMemory|CommandBusMaster)
	if !h.intx.level() {
		t.Fatal("line not back after INTx enable")
	}
	if v := h.barR(isrOff, 1); v != 1 {
		t.Fatalf("ISR %#x", v)
	}
	if h.intx.level() || h.barR(isrOff, 1) != 0 || h.cfgR(1, cfgStatus, 2)&statusINTx != 0 {
		t.Fatal("ISR read did not clear and deassert")
	}
	h.f.NotifyConfig()
	if !h.intx.level() || h.barR(isrOff, 1) != 2 {
		t.Fatal("configuration change not on INTx")
	}
}

func TestQueueOutsideRAM(t *testing.T) {
	h := newHarness(t, true)
	h.enable()
	h.negotiate(virtio.FeatureVersion1)
	h.barW(CommonQueueSelect, 2, 1)
	h.barW(CommonQueueSize, 2, 16)
	h.barW(CommonQueueDesc, 8, memSize-16) // the table runs past RAM
	h.barW(CommonQueueDriver, 8, 0x2000)
	h.barW(CommonQueueDevice, 8, 0x3000)
	h.barW(CommonQueueEnable, 2, 1)
	// Writes after enable, and queue_enable 0, are refused.
	bad := h.f.Counters().BadRegisterWrites.Load()
	h.barW(CommonQueueSize, 2, 8)
	h.barW(CommonQueueDesc, 4, 0x1000)
	h.barW(CommonQueueEnable, 2, 0)
	h.barW(CommonQueueDesc, 2, 0x1000) // wrong width
	if h.barR(CommonQueueSize, 2) != 16 || h.barR(CommonQueueEnable, 2) != 1 {
		t.Fatal("queue configuration changed while enabled")
	}
	if got := h.f.Counters().BadRegisterWrites.Load() - bad; got != 4 {
		t.Fatalf("bad_register_writes grew by %d", got)
	}
	h.setStatus(statusADFO)
	h.wantStatus(statusADFO | virtio.StatusDeviceNeedsReset)
	if len(h.dev.activations()) != 0 {
		t.Fatal("Activate called with a queue outside RAM")
	}
	if h.barR(isrOff, 1) != 2 {
		t.Fatal("no configuration change for DEVICE_NEEDS_RESET")
	}
	// Not a power of two.
	h.negotiate(virtio.FeatureVersion1)
	h.setupQueue(0, 16, 0x1000, 0x10000)
	h.setStatus(0)
	h.negotiate(virtio.FeatureVersion1)
	h.barW(CommonQueueSelect, 2, 0)
	h.barW(CommonQueueSize, 2, 12)
	h.barW(CommonQueueEnable, 2, 1)
	h.setStatus(statusADFO)
	h.wantStatus(statusADFO | virtio.StatusDeviceNeedsReset)
}

// TestPCICfgCapability reaches BAR0 through the configuration access
// capability (virtio 1.2, 4.1.4.9).
func TestPCICfgCapability(t *testing.T) {
	h := newHarness(t, true)
	h.cfgW(1, capPCICfg+4, 1, 0)
	h.cfgW(1, capPCICfg+8, 4, CommonNumQueues)
	h.cfgW(1, capPCICfg+12, 4, 2)
	if v := h.cfgR(1, pciCfgData, 4); v != 2 {
		t.Fatalf("num_queues through pci_cfg_data = %#x", v)
	}
	h.cfgW(1, capPCICfg+8, 4, CommonDeviceStatus)
	h.cfgW(1, capPCICfg+12, 4, 1)
	h.cfgW(1, pciCfgData, 1, virtio.StatusAcknowledge)
	if h.f.Status() != virtio.StatusAcknowledge {
		t.Fatal("status write through pci_cfg_data lost")
	}
	// A bad window is ignored.
	h.cfgW(1, capPCICfg+8, 4, barSize)
	h.cfgW(1, pciCfgData, 1, 0)
	if h.f.Status() != virtio.StatusAcknowledge {
		t.Fatal("write through a bad window landed")
	}
}

func TestNotifyBindFailureFallsBack(t *testing.T) {
	h := newHarness(t, true)
	h.nb.fail = true
	h.enable()
	h.barW(notifyOff+4, 2, 1)
	if n, _ := h.f.t.Queue(1).Kick.Drain(); n != 1 {
		t.Fatalf("queue 1 kick count %d", n)
	}
}

func TestBusFull(t *testing.T) {
	b, err := NewBus(Config{WindowBase: windowBase, WindowSize: windowSize, Mem: virtiotest.NewMemory(t, memSize)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := 1; i < MaxSlots; i++ {
		if _, err := b.AddVirtio(newEcho()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.AddVirtio(newEcho()); err == nil {
		t.Fatal("slot 32 added")
	}
	if _, err := NewBus(Config{WindowBase: windowBase + 1, WindowSize: windowSize, Mem: virtiotest.NewMemory(t, memSize)}); err == nil {
		t.Fatal("misaligned window accepted")
	}
}

// fuzzDev is a device without goroutines, for the fuzzer.
type fuzzDev struct {
	echoDev
	activated bool
}

func (f *fuzzDev) Activate(a virtio.Activation) error { f.activated = true; return nil }
func (f *fuzzDev) Reset()                             { f.activated = false }

// FuzzPCI feeds random configuration and BAR accesses and device
// interrupts. Nothing may panic; the status stays legal; BAR0 keeps its
// type bits and alignment; the platform never sees a masked vector
// triggered; INTx is high only with MSI-X off and ISR set.
func FuzzPCI(f *testing.F) {
	op := func(kind byte, off uint32, width byte, v uint32) []byte {
		b := make([]byte, 10)
		b[0] = kind
		binary.LittleEndian.PutUint32(b[1:], off)
		b[5] = width
		binary.LittleEndian.PutUint32(b[6:], v)
		return b
	}
	var seed []byte
	add := func(kind byte, off uint32, width byte, v uint32) { seed = append(seed, op(kind, off, width, v)...) }
	add(1, 1<<11|cfgCommand, 1, CommandMemory|CommandBusMaster)
	add(1, 1<<11|capMSIX+2, 1, msixEnable)
	add(3, msixTableOff+12, 2, 0)
	add(3, CommonDeviceStatus, 0, 1)
	add(3, CommonDeviceStatus, 0, 3)
	add(3, CommonDriverFeatureSelect, 2, 1)
	add(3, CommonDriverFeature, 2, 1)
	add(3, CommonDeviceStatus, 0, 11)
	add(3, CommonQueueSize, 1, 8)
	add(3, CommonQueueDesc, 2, 0x1000)
	add(3, CommonQueueDriver, 2, 0x1080)
	add(3, CommonQueueDevice, 2, 0x1100)
	add(3, CommonQueueMSIXVector, 1, 0)
	add(3, CommonQueueEnable, 1, 1)
	add(3, CommonDeviceStatus, 0, 15)
	add(4, 0, 0, 0)
	add(3, notifyOff, 1, 0)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, ops []byte) {
		m, err := mem.New([]mem.Spec{{GPA: 0, Size: 0x4000}})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		msi := newFakeMSI()
		intx := newLine()
		b, err := NewBus(Config{
			WindowBase: windowBase, WindowSize: 0x20000, Mem: m,
			MSI:  func(int, int) (MSI, error) { return msi, nil },
			INTx: func(int) IRQLine { return intx },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		dev := &fuzzDev{}
		dev.features, dev.sizes = newEcho().features, []uint16{8, 4}
		fn, err := b.AddVirtio(dev)
		if err != nil {
			t.Fatal(err)
		}
		w := b.Window()
		for len(ops) >= 10 {
			o := ops[:10]
			ops = ops[10:]
			off := binary.LittleEndian.Uint32(o[1:])
			width := 1 << (o[5] % 4)
			buf := make([]byte, width)
			putLE(buf, uint64(binary.LittleEndian.Uint32(o[6:])))
			switch o[0] % 6 {
			case 0, 1:
				// A configuration access: CONFIG_ADDRESS from off,
				// then CONFIG_DATA at byte off>>24&3.
				var a [4]byte
				binary.LittleEndian.PutUint32(a[:], 0x80000000|off&0xfffc)
				b.Write(0, a[:])
				port := 4 + uint64(off>>24&3)
				if port+uint64(width) > ConfigPortSize {
					buf = buf[:1]
				}
				if o[0]%6 == 0 {
					b.Read(port, buf)
				} else {
					b.Write(port, buf)
				}
			case 2, 3:
				// A window access relative to the BAR's current
				// place, sometimes anywhere in the window.
				addr, _ := fn.BAR()
				rel := uint64(off) % 0x20000
				if off&(1<<31) == 0 {
					rel = addr - windowBase + uint64(off)%barSize
				}
				if rel+uint64(width) > 0x20000 {
					break
				}
				if o[0]%6 == 2 {
					w.Read(rel, buf)
				} else {
					w.Write(rel, buf)
				}
			case 4:
				if dev.activated {
					fn.NotifyQueue(int(off % 2))
				}
			case 5:
				fn.NotifyConfig()
			}
			s := fn.Status()
			if !virtio.LegalStatus(s) {
				t.Fatalf("illegal status %#x", s)
			}
			bar0 := fn.cs.get32(cfgBAR0)
			if bar0&0xf != barMem64 || bar0&(barSize-1)&^0xf != 0 {
				t.Fatalf("BAR0 %#x", bar0)
			}
			fn.irqMu.Lock()
			wantINTx := fn.isr != 0 && !fn.msixEnabled && !fn.intxDisabled
			fn.irqMu.Unlock()
			if intx.level() != wantINTx {
				t.Fatalf("INTx %v, want %v", intx.level(), wantINTx)
			}
			if len(msi.violations) != 0 {
				t.Fatal(msi.violations)
			}
		}
	})
}
