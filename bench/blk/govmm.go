//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/blk"
	"github.com/govmm/govmm/virtio/virtiotest"
	"github.com/govmm/govmm/vmm/mem"
)

// Guest memory layout of the fake driver.
const (
	queueSize  = 256
	ringBase   = 0x1000
	hdrBase    = 0x100000 // 64 bytes per slot: header at +0, status at +32
	tableBase  = 0x110000 // indirect tables, 8 KiB per slot
	dataBase   = 0x200000 // data buffers, page aligned
	tableSlot  = 8192
	descFNext  = 1
	descFWrite = 2
	descFIndir = 4
)

// govmmSide is the device on the image, with guest memory for the fake
// driver. The device is activated per measurement and reset after it.
type govmmSide struct {
	im   *blk.Image
	dev  *blk.Device
	m    *mem.Memory
	kick *eventfd.EventFD
	irq  chan struct{}
	err  atomic.Pointer[error] // the first NEEDS_RESET
}

type irq struct{ ch chan struct{} }

func (i irq) NotifyQueue(int) error {
	select {
	case i.ch <- struct{}{}:
	default:
	}
	return nil
}
func (i irq) NotifyConfig() error { return nil }

// fatalTB lets virtiotest's driver run outside a test: it only ever
// calls Fatalf, on a bug.
type fatalTB struct{ testing.TB }

func (fatalTB) Helper() {}
func (fatalTB) Fatalf(format string, args ...any) {
	fail(fmt.Errorf("fake driver: "+format, args...))
}

func newGovmm(path string, o options) (*govmmSide, error) {
	if o.qd < 1 || 3*o.qd > queueSize || o.seqQD < 1 || o.seqQD > 64 {
		return nil, fmt.Errorf("-qd must be 1..%d and -seq-qd 1..64", queueSize/3)
	}
	im, err := blk.Open(path, blk.Options{Direct: o.direct})
	if err != nil {
		return nil, err
	}
	for _, w := range im.Warnings() {
		fmt.Fprintln(os.Stderr, "bench/blk:", w)
	}
	if o.direct && !im.Direct() {
		im.Close()
		return nil, errors.New("-direct: the image could not be opened O_DIRECT")
	}
	dev, err := blk.New(blk.Config{ID: "bench", Backend: im, IOWorkers: o.jobs, QueueSize: queueSize, PollMax: o.poll})
	if err != nil {
		im.Close()
		return nil, err
	}
	size := uint64(dataBase + max(o.qd*4096, o.seqQD<<20))
	size = (size + 0xfffff) &^ 0xfffff
	m, err := mem.New([]mem.Spec{{GPA: 0, Size: size}})
	if err != nil {
		im.Close()
		return nil, err
	}
	kick, err := eventfd.New()
	if err != nil {
		m.Close()
		im.Close()
		return nil, err
	}
	return &govmmSide{im: im, dev: dev, m: m, kick: kick, irq: make(chan struct{}, 1)}, nil
}

func (g *govmmSide) close() {
	g.dev.Close()
	g.kick.Close()
	g.m.Close()
	g.im.Close()
}

func (g *govmmSide) writeCounters(w io.Writer) {
	g.dev.WriteMetrics(w, "blk_device_")
}

func (g *govmmSide) deviceErr() error {
	if p := g.err.Load(); p != nil {
		return *p
	}
	return nil
}

// slot is one request the driver keeps in flight.
type slot struct {
	head   uint16
	hdr    []byte // guest memory
	status []byte
}

func (g *govmmSide) putDesc(gpa mem.GPA, addr mem.GPA, length uint32, flags, next uint16) {
	b, err := g.m.Slice(gpa, 16)
	if err != nil {
		fail(err)
	}
	binary.LittleEndian.PutUint64(b, uint64(addr))
	binary.LittleEndian.PutUint32(b[8:], length)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
}

// measure runs workload w through the device for the duration and
// returns the requests completed in it.
func (g *govmmSide) measure(w workload, o options) (int64, time.Duration, error) {
	ring, _ := g.m.Slice(ringBase, hdrBase-ringBase)
	clear(ring)
	q := virtio.NewQueue(0, queueSize)
	q.Kick = g.kick
	g.kick.Drain()
	drv := virtiotest.NewDriver(fatalTB{}, g.m, q, queueSize, ringBase, hdrBase, mem.GPA(g.m.Size()))
	features := g.dev.Features()
	if err := q.Start(g.m, features); err != nil {
		return 0, 0, err
	}
	if err := g.dev.Activate(virtio.Activation{
		Mem: g.m, Features: features, Queues: []*virtio.Queue{q}, IRQ: irq{g.irq},
		NeedsReset: func(err error) { g.err.CompareAndSwap(nil, &err) },
	}); err != nil {
		return 0, 0, err
	}
	defer g.dev.Reset()

	typ := uint32(blk.TypeIn)
	dataFlags := uint16(descFWrite)
	if w.write {
		typ, dataFlags = blk.TypeOut, 0
	}
	blocks := o.size / int64(w.bs)
	rng := rand.New(rand.NewPCG(99, 0xb10c))
	var cursor int64
	next := func() uint64 {
		var off int64
		if w.seq {
			off = cursor % blocks * int64(w.bs)
			cursor++
		} else {
			off = rng.Int64N(blocks) * int64(w.bs)
		}
		return uint64(off) / blk.SectorSize
	}
	slots := make(map[uint16]*slot, w.qd)
	for i := 0; i < w.qd; i++ {
		hdrGPA := mem.GPA(hdrBase + 64*i)
		data := mem.GPA(dataBase + i*w.bs)
		s := &slot{}
		s.hdr, _ = g.m.Slice(hdrGPA, blk.HeaderSize)
		s.status, _ = g.m.Slice(hdrGPA+32, 1)
		if w.write {
			b, _ := g.m.Slice(data, uint64(w.bs))
			fillRandom(b, uint64(i))
		}
		if w.bs == 4096 {
			// Header, one page, status: what Linux sends for 4 KiB.
			d := uint16(3 * i)
			drv.WriteDesc(d, uint64(hdrGPA), blk.HeaderSize, descFNext, d+1)
			drv.WriteDesc(d+1, uint64(data), 4096, dataFlags|descFNext, d+2)
			drv.WriteDesc(d+2, uint64(hdrGPA+32), 1, descFWrite, 0)
			s.head = d
		} else {
			// An indirect table: header, the pages, status.
			pages := w.bs / 4096
			table := mem.GPA(tableBase + tableSlot*i)
			g.putDesc(table, hdrGPA, blk.HeaderSize, descFNext, 1)
			for p := 0; p < pages; p++ {
				g.putDesc(table+mem.GPA(16*(p+1)), data+mem.GPA(4096*p), 4096, dataFlags|descFNext, uint16(p+2))
			}
			g.putDesc(table+mem.GPA(16*(pages+1)), hdrGPA+32, 1, descFWrite, 0)
			drv.WriteDesc(uint16(i), uint64(table), uint32(16*(pages+2)), descFIndir, 0)
			s.head = uint16(i)
		}
		slots[s.head] = s
	}
	submit := func(s *slot) {
		binary.LittleEndian.PutUint32(s.hdr, typ)
		binary.LittleEndian.PutUint64(s.hdr[8:], next())
		s.status[0] = 0xff
		drv.Publish(s.head)
	}
	availIdx := func() uint16 {
		v, _ := g.m.LoadUint16(drv.AvailGPA + 2)
		return v
	}
	// kickIfNeeded is the driver's half of EVENT_IDX (vring_need_event).
	kickIfNeeded := func(old uint16) {
		nw := availIdx()
		if ev := drv.AvailEvent(); nw-ev-1 < nw-old {
			g.kick.Signal()
		}
	}

	var progress atomic.Int64
	done := make(chan struct{})
	defer close(done)
	go func() { // watchdog
		last := int64(-1)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Second):
			}
			if p := progress.Load(); p == last {
				fail(fmt.Errorf("%s: no completion for 5s (device error: %v)", w.name, g.deviceErr()))
			} else {
				last = p
			}
		}
	}()

	start := time.Now()
	deadline := start.Add(o.duration)
	old := availIdx()
	for _, s := range slots {
		submit(s)
	}
	kickIfNeeded(old)
	var ops int64
	var seen uint16
	inflight := w.qd
	stopping := false
	var el time.Duration
	for inflight > 0 {
		used := drv.Collect()
		if len(used) == 0 && o.spin > 0 {
			// Poll the used ring for a while, as a guest with polled
			// queues does, before paying for a sleep and a wakeup.
			for t0 := time.Now(); len(used) == 0 && time.Since(t0) < o.spin; {
				runtime.Gosched() // let the device's goroutines run if they share this P
				used = drv.Collect()
			}
		}
		if len(used) == 0 {
			// Ask for an interrupt at the next completion, re-check, sleep.
			drv.SetUsedEvent(seen)
			if used = drv.Collect(); len(used) == 0 {
				<-g.irq
				continue
			}
		}
		old := availIdx()
		for _, u := range used {
			seen++
			inflight--
			s := slots[u.Head]
			if s == nil || s.status[0] != blk.StatusOK {
				return 0, 0, fmt.Errorf("request head %d failed (status %#x, device error %v)", u.Head, s.status[0], g.deviceErr())
			}
			if stopping {
				continue
			}
			ops++
			submit(s)
			inflight++
		}
		progress.Store(ops)
		if !stopping {
			kickIfNeeded(old)
			if time.Now().After(deadline) {
				el = time.Since(start)
				stopping = true
			}
		}
	}
	if err := g.deviceErr(); err != nil {
		return 0, 0, err
	}
	return ops, el, nil
}
