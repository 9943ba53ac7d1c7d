package rng

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/mmio"
	"github.com/govmm/govmm/virtio/pci"
	"github.com/govmm/govmm/virtio/virtiotest"
)

// The device driven through both transports' registers, as a guest
// driver would: reset, negotiate, set up the queue, DRIVER_OK, offer a
// buffer, notify, and wait for the interrupt line.

type line struct{ ch chan bool }

func (l line) SetLevel(high bool) {
	select {
	case l.ch <- high:
	default:
	}
}

func (l line) waitHigh(t *testing.T) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case high := <-l.ch:
			if high {
				return
			}
		case <-deadline:
			t.Fatal("interrupt line never raised")
		}
	}
}

// regs is a transport's register block as the test driver sees it.
type regs struct {
	read  func(off uint64, data []byte)
	write func(off uint64, data []byte)
}

func (r regs) r32(off uint64) uint32 {
	var b [4]byte
	r.read(off, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

func (r regs) w(off uint64, width int, v uint64) {
	b := make([]byte, width)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	r.write(off, b)
}

const (
	statusADF  = virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK
	statusADFO = statusADF | virtio.StatusDriverOK
)

// checkEntropy offers one 64-byte buffer, notifies, and checks it fills.
func checkEntropy(t *testing.T, drv *virtiotest.Driver, notify func(), l line) {
	t.Helper()
	_, addrs := drv.Offer(false, virtiotest.W(64))
	notify()
	l.waitHigh(t)
	u := drv.Collect()
	if len(u) != 1 || u[0].Len != 64 {
		t.Fatalf("used %v, want one entry of 64 bytes", u)
	}
	if b := drv.Read(addrs[0], 64); string(b) == string(make([]byte, 64)) {
		t.Fatal("the buffer holds zeroes")
	}
}

func TestOverMMIO(t *testing.T) {
	m := virtiotest.NewMemory(t, 1<<20)
	dev, _ := New(Config{ID: "rng0"})
	l := line{make(chan bool, 16)}
	tr, err := mmio.New(mmio.Config{Device: dev, Mem: m, IRQ: l, Base: 0xd0000000, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	r := regs{tr.Read, tr.Write}
	if r.r32(mmio.RegDeviceID) != uint32(virtio.IDRNG) {
		t.Fatalf("device ID %d", r.r32(mmio.RegDeviceID))
	}
	r.w(mmio.RegStatus, 4, 0)
	r.w(mmio.RegStatus, 4, virtio.StatusAcknowledge)
	r.w(mmio.RegStatus, 4, virtio.StatusAcknowledge|virtio.StatusDriver)
	f := dev.Features()
	r.w(mmio.RegDriverFeaturesSel, 4, 0)
	r.w(mmio.RegDriverFeatures, 4, f&0xffffffff)
	r.w(mmio.RegDriverFeaturesSel, 4, 1)
	r.w(mmio.RegDriverFeatures, 4, f>>32)
	r.w(mmio.RegStatus, 4, statusADF)
	drv := virtiotest.NewDriver(t, m, virtio.NewQueue(0, virtio.MaxQueueSize), 16, 0x1000, 0x10000, 0x20000)
	r.w(mmio.RegQueueSel, 4, 0)
	r.w(mmio.RegQueueNum, 4, 16)
	r.w(mmio.RegQueueDescLow, 4, uint64(drv.DescGPA))
	r.w(mmio.RegQueueDriverLow, 4, uint64(drv.AvailGPA))
	r.w(mmio.RegQueueDeviceLow, 4, uint64(drv.UsedGPA))
	r.w(mmio.RegQueueReady, 4, 1)
	r.w(mmio.RegStatus, 4, statusADFO)
	if st := r.r32(mmio.RegStatus); st != statusADFO {
		t.Fatalf("status %#x after DRIVER_OK", st)
	}
	checkEntropy(t, drv, func() { r.w(mmio.RegQueueNotify, 4, 0) }, l)
	r.w(mmio.RegStatus, 4, 0) // reset stops the worker
}

func TestOverPCI(t *testing.T) {
	const windowBase, windowSize = 0xe0000000, 0x100000
	m := virtiotest.NewMemory(t, 1<<20)
	l := line{make(chan bool, 16)}
	bus, err := pci.NewBus(pci.Config{WindowBase: windowBase, WindowSize: windowSize, Mem: m,
		INTx: func(int) pci.IRQLine { return l }, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	dev, _ := New(Config{ID: "rng0"})
	fn, err := bus.AddVirtio(dev)
	if err != nil {
		t.Fatal(err)
	}
	slot := fn.Slot()
	// Configuration mechanism #1 (CONFIG_ADDRESS at 0, CONFIG_DATA at 4).
	cfg := regs{
		read: func(off uint64, data []byte) {
			bus.Write(0, binary.LittleEndian.AppendUint32(nil, 0x80000000|uint32(slot)<<11|uint32(off&0xfc)))
			bus.Read(4+off&3, data)
		},
		write: func(off uint64, data []byte) {
			bus.Write(0, binary.LittleEndian.AppendUint32(nil, 0x80000000|uint32(slot)<<11|uint32(off&0xfc)))
			bus.Write(4+off&3, data)
		},
	}
	if id := cfg.r32(0); id != 0x1af4|(0x1040+uint32(virtio.IDRNG))<<16 {
		t.Fatalf("vendor/device %#x", id)
	}
	cfg.w(0x04, 2, pci.CommandMemory|pci.CommandBusMaster)
	bar, ok := fn.BAR()
	if !ok {
		t.Fatal("BAR0 not decoded after enabling memory")
	}
	w := bus.Window()
	// Find the common and notify structures through the capability list
	// (virtio 1.2, 4.1.4), as a driver does.
	var common, notify uint64
	var mult uint32
	for at, n := uint64(cfg.r32(0x34)&0xfc), 0; at != 0 && n < 48; at, n = uint64(cfg.r32(at)>>8&0xfc), n+1 {
		hdr := cfg.r32(at)
		if hdr&0xff != 0x09 { // vendor-specific: a virtio structure
			continue
		}
		typ, off := hdr>>24, uint64(cfg.r32(at+8))
		switch typ {
		case pci.CapCommonCfg:
			common = off
		case pci.CapNotifyCfg:
			notify, mult = off, cfg.r32(at+16)
		}
	}
	if notify == 0 {
		t.Fatal("no notify capability")
	}
	br := regs{
		read:  func(off uint64, data []byte) { w.Read(bar-windowBase+common+off, data) },
		write: func(off uint64, data []byte) { w.Write(bar-windowBase+common+off, data) },
	}
	br.w(pci.CommonDeviceStatus, 1, 0)
	br.w(pci.CommonDeviceStatus, 1, virtio.StatusAcknowledge)
	br.w(pci.CommonDeviceStatus, 1, virtio.StatusAcknowledge|virtio.StatusDriver)
	f := dev.Features()
	br.w(pci.CommonDriverFeatureSelect, 4, 0)
	br.w(pci.CommonDriverFeature, 4, f&0xffffffff)
	br.w(pci.CommonDriverFeatureSelect, 4, 1)
	br.w(pci.CommonDriverFeature, 4, f>>32)
	br.w(pci.CommonDeviceStatus, 1, statusADF)
	drv := virtiotest.NewDriver(t, m, virtio.NewQueue(0, virtio.MaxQueueSize), 16, 0x1000, 0x10000, 0x20000)
	br.w(pci.CommonQueueSelect, 2, 0)
	br.w(pci.CommonQueueSize, 2, 16)
	br.w(pci.CommonQueueDesc, 8, uint64(drv.DescGPA))
	br.w(pci.CommonQueueDriver, 8, uint64(drv.AvailGPA))
	br.w(pci.CommonQueueDevice, 8, uint64(drv.UsedGPA))
	var b [2]byte
	br.read(pci.CommonQueueNotifyOff, b[:])
	notifyAt := notify + uint64(binary.LittleEndian.Uint16(b[:]))*uint64(mult)
	br.w(pci.CommonQueueEnable, 2, 1)
	br.w(pci.CommonDeviceStatus, 1, statusADFO)
	if st := fn.Status(); st != statusADFO {
		t.Fatalf("status %#x after DRIVER_OK", st)
	}
	checkEntropy(t, drv, func() { w.Write(bar-windowBase+notifyAt, []byte{0, 0}) }, l)
	br.w(pci.CommonDeviceStatus, 1, 0)
}
