package blk

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/mmio"
	"github.com/govmm/govmm/virtio/virtiotest"
)

// TestOverMMIO drives the device through virtio-mmio's registers with a
// real image: configuration space, a write, a flush, a read back.
func TestOverMMIO(t *testing.T) {
	im := tempImage(t, 1<<20, Options{})
	dev, err := New(Config{ID: "vda", Backend: im, Serial: "mmio-disk"})
	if err != nil {
		t.Fatal(err)
	}
	m := virtiotest.NewMemory(t, 4<<20)
	irq := make(chan struct{}, 16)
	tr, err := mmio.New(mmio.Config{Device: dev, Mem: m, IRQ: lineFunc(func(high bool) {
		if high {
			select {
			case irq <- struct{}{}:
			default:
			}
		}
	}), Base: 0xd0000000, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	r32 := func(off uint64) uint32 {
		var b [4]byte
		tr.Read(off, b[:])
		return binary.LittleEndian.Uint32(b[:])
	}
	w32 := func(off uint64, v uint32) { tr.Write(off, binary.LittleEndian.AppendUint32(nil, v)) }
	if r32(mmio.RegDeviceID) != uint32(virtio.IDBlock) {
		t.Fatalf("device ID %d", r32(mmio.RegDeviceID))
	}
	if c := uint64(r32(mmio.RegConfig)) | uint64(r32(mmio.RegConfig+4))<<32; c != 2048 {
		t.Fatalf("capacity %d through the config window, want 2048", c)
	}
	w32(mmio.RegStatus, 0)
	w32(mmio.RegStatus, virtio.StatusAcknowledge)
	w32(mmio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	f := dev.Features()
	w32(mmio.RegDriverFeaturesSel, 0)
	w32(mmio.RegDriverFeatures, uint32(f))
	w32(mmio.RegDriverFeaturesSel, 1)
	w32(mmio.RegDriverFeatures, uint32(f>>32))
	w32(mmio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
	drv := virtiotest.NewDriver(t, m, virtio.NewQueue(0, virtio.MaxQueueSize), 64, 0x1000, 0x10000, 4<<20)
	w32(mmio.RegQueueSel, 0)
	w32(mmio.RegQueueNum, 64)
	w32(mmio.RegQueueDescLow, uint32(drv.DescGPA))
	w32(mmio.RegQueueDriverLow, uint32(drv.AvailGPA))
	w32(mmio.RegQueueDeviceLow, uint32(drv.UsedGPA))
	w32(mmio.RegQueueReady, 1)
	w32(mmio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK)

	do := func(bufs ...virtiotest.Buffer) []byte {
		t.Helper()
		_, addrs := drv.Offer(false, bufs...)
		w32(mmio.RegQueueNotify, 0)
		deadline := time.After(5 * time.Second)
		for {
			if u := drv.Collect(); len(u) == 1 {
				break
			}
			select {
			case <-irq:
				w32(mmio.RegInterruptACK, r32(mmio.RegInterruptStatus))
			case <-time.After(time.Millisecond):
			case <-deadline:
				t.Fatal("request not completed")
			}
		}
		var w []byte
		for i, b := range bufs {
			if b.Data == nil {
				w = append(w, drv.Read(addrs[i], b.WriteLen)...)
			}
		}
		return w
	}
	data := pattern(5, 8192)
	if st := do(virtiotest.R(header(TypeOut, 16)), virtiotest.R(data), virtiotest.W(1)); st[0] != StatusOK {
		t.Fatalf("OUT status %d", st[0])
	}
	if st := do(virtiotest.R(header(TypeFlush, 0)), virtiotest.W(1)); st[0] != StatusOK {
		t.Fatalf("FLUSH status %d", st[0])
	}
	if w := do(virtiotest.R(header(TypeIn, 16)), virtiotest.W(8192), virtiotest.W(1)); w[8192] != StatusOK || !bytes.Equal(w[:8192], data) {
		t.Fatalf("IN status %d, data equal %v", w[8192], bytes.Equal(w[:8192], data))
	}
	if w := do(virtiotest.R(header(TypeGetID, 0)), virtiotest.W(IDBytes+1)); string(bytes.TrimRight(w[:IDBytes], "\x00")) != "mmio-disk" {
		t.Fatalf("GET_ID %q", w[:IDBytes])
	}
	w32(mmio.RegStatus, 0)
}

type lineFunc func(high bool)

func (f lineFunc) SetLevel(high bool) { f(high) }
