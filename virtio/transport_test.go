package virtio_test

import (
	"errors"
	"testing"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/virtiotest"
)

// nullDev records activations and resets.
type nullDev struct {
	offered   uint64
	acts      []virtio.Activation
	resets    int
	activeErr error
}

func (d *nullDev) Type() virtio.DeviceID               { return virtio.IDRNG }
func (d *nullDev) Features() uint64                    { return d.offered }
func (d *nullDev) QueueMaxSizes() []uint16             { return []uint16{16} }
func (d *nullDev) ReadConfig(off uint64, data []byte)  {}
func (d *nullDev) WriteConfig(off uint64, data []byte) {}
func (d *nullDev) Reset()                              { d.resets++ }
func (d *nullDev) Activate(a virtio.Activation) error {
	d.acts = append(d.acts, a)
	return d.activeErr
}

type countIRQ struct{ queue, config int }

func (c *countIRQ) NotifyQueue(int) error { c.queue++; return nil }
func (c *countIRQ) NotifyConfig() error   { c.config++; return nil }

func newTransport(t *testing.T, d *nullDev) (*virtio.Transport, *countIRQ, *int) {
	t.Helper()
	irq := &countIRQ{}
	resets := new(int)
	tr, err := virtio.NewTransport(virtio.TransportConfig{
		Device: d, Mem: virtiotest.NewMemory(t, 1<<16), IRQ: irq,
		OnReset: func() { *resets++ }, Log: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, irq, resets
}

// TestStatusMachineClosed writes every byte value in every reachable
// status and checks the result is legal and is either the old status or
// one of the table's successors (virtio 1.2, 3.1.1).
func TestStatusMachineClosed(t *testing.T) {
	d := &nullDev{offered: virtio.FeatureVersion1}
	tr, _, _ := newTransport(t, d)
	// write accepts VERSION_1 first: a no-op (counted) unless the
	// status is ACKNOWLEDGE|DRIVER.
	write := func(v uint8) {
		tr.SelectDriverFeatures(1)
		tr.WriteDriverFeatures(1)
		tr.WriteStatus(v)
	}
	drive := func(path []uint8) {
		tr.WriteStatus(0)
		for _, v := range path {
			write(v)
		}
	}
	type node struct {
		s    uint8
		path []uint8
	}
	seen := map[uint8]bool{0: true}
	queue := []node{{0, nil}}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for v := 0; v < 256; v++ {
			drive(n.path)
			if tr.Status() != n.s {
				t.Fatalf("path %v leads to %#x, not %#x", n.path, tr.Status(), n.s)
			}
			write(uint8(v))
			s := tr.Status()
			if !virtio.LegalStatus(s) {
				t.Fatalf("status %#x, write %#x: illegal result %#x", n.s, v, s)
			}
			if !seen[s] {
				seen[s] = true
				queue = append(queue, node{s, append(append([]uint8(nil), n.path...), uint8(v))})
			}
		}
	}
	// 0, A, AD, ADF, ADFO, each with FAILED, less FAILED alone counted
	// once: 10 states (NEEDS_RESET needs a device fault).
	if len(seen) != 10 {
		t.Fatalf("reachable statuses %v", seen)
	}
}

func TestNeedsResetEpochAndInterrupt(t *testing.T) {
	d := &nullDev{offered: virtio.FeatureVersion1}
	tr, irq, resets := newTransport(t, d)
	up := func() {
		tr.WriteStatus(0)
		tr.WriteStatus(1)
		tr.WriteStatus(3)
		tr.SelectDriverFeatures(1)
		tr.WriteDriverFeatures(1)
		tr.WriteStatus(11)
		tr.WriteStatus(15)
	}
	up()
	if len(d.acts) != 1 || d.acts[0].Features != virtio.FeatureVersion1 || d.acts[0].Queues[0].Ready {
		t.Fatalf("activation %+v", d.acts)
	}
	a := d.acts[0]
	gen := tr.ConfigGeneration()
	a.NeedsReset(errors.New("x"))
	a.NeedsReset(errors.New("y"))
	if tr.Status() != 15|virtio.StatusDeviceNeedsReset || irq.config != 1 || tr.ConfigGeneration() == gen {
		t.Fatalf("status %#x, %d config interrupts", tr.Status(), irq.config)
	}
	if tr.C.NeedsResetEvents.Load() != 2 {
		t.Fatalf("needs_reset_events %d", tr.C.NeedsResetEvents.Load())
	}
	a.IRQ.NotifyQueue(0)
	if irq.queue != 1 || tr.C.UsedIRQs.Load() != 1 {
		t.Fatal("queue interrupt not passed on")
	}
	up()
	if *resets != 2 || d.resets != 2 {
		t.Fatalf("OnReset %d, Device.Reset %d", *resets, d.resets)
	}
	a.NeedsReset(errors.New("stale"))
	if tr.Status() != 15 {
		t.Fatalf("a stale NeedsReset marked the new activation: %#x", tr.Status())
	}
	// An Activate error is DEVICE_NEEDS_RESET too.
	d.activeErr = errors.New("no backend")
	up()
	if tr.Status() != 15|virtio.StatusDeviceNeedsReset || tr.C.ActivateFails.Load() != 1 {
		t.Fatalf("status %#x after a failed Activate", tr.Status())
	}
}

func TestNewTransportChecks(t *testing.T) {
	m := virtiotest.NewMemory(t, 1<<16)
	for _, d := range []virtio.Device{
		&nullDev{offered: 0},
		&badSizes{nullDev{offered: virtio.FeatureVersion1}},
	} {
		if tr, err := virtio.NewTransport(virtio.TransportConfig{Device: d, Mem: m, IRQ: &countIRQ{}}); err == nil {
			tr.Close()
			t.Fatalf("%T accepted", d)
		}
	}
}

type badSizes struct{ nullDev }

func (badSizes) QueueMaxSizes() []uint16 { return []uint16{16, 24} }

func TestLegalStatus(t *testing.T) {
	for s, want := range map[uint8]bool{
		0: true, 1: true, 3: true, 11: true, 15: true, 0x80: true, 0x8f: true, 0x4f: true, 0xcf: true,
		2: false, 5: false, 9: false, 7: false, 0x40: false, 0x4b: false, 0xc0: false,
	} {
		if virtio.LegalStatus(s) != want {
			t.Errorf("LegalStatus(%#x) = %v", s, !want)
		}
	}
}
