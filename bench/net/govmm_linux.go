//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/tap/taptest"
	"github.com/govmm/govmm/virtio"
	vnet "github.com/govmm/govmm/virtio/net"
	"github.com/govmm/govmm/virtio/virtiotest"
	"github.com/govmm/govmm/vmm/mem"
)

// Queue indices of virtio-net (virtio 1.2, 5.1.2).
const (
	qRX = 0
	qTX = 1
)

// govmmDev is a virtio-net device on the benchmark's tap with a driver on
// each queue. The device is inactive between govmm runs (the raw runs use
// the tap's fd meanwhile); a run activates it as a transport would on
// DRIVER_OK, after (re)starting the queues, and resets it at the end.
//
// Guest memory: the two rings, one transmit frame (with its indirect table)
// that every transmit chain points at, as a raw loop writes one frame over
// and over, and one receive buffer per descriptor.
type govmmDev struct {
	dev      *vnet.Device
	m        *mem.Memory
	qs       []*virtio.Queue
	rxd, txd *virtiotest.Driver
	rx, tx   *ring
	irq      *irqLines
	features uint64
	size     int
	timeout  time.Duration
	timer    *time.Timer

	txBuf, txTable, rxBufs mem.GPA
	rxMem                  []byte // host view of the receive buffers
	rxAreaLen              int
	txHeads                []uint16 // 0..size-1: every chain
	txFree                 []uint16 // transmit chains the driver holds (scratch)
	rxFree                 []uint16 // receive chains the driver holds
	used                   []usedElem

	needsReset chan error
}

// irqLines is the transport's interrupt, reduced to one wakeup per queue
// for the driver, like a vCPU's interrupt line. A notification that finds
// one pending merges with it.
type irqLines struct{ ch [2]chan struct{} }

func (l *irqLines) NotifyQueue(q int) error {
	if q >= 0 && q < len(l.ch) {
		select {
		case l.ch[q] <- struct{}{}:
		default:
		}
	}
	return nil
}

func (l *irqLines) NotifyConfig() error { return nil }

// Guest memory layout.
const (
	ringBase = 0x1000
	mib      = 1 << 20
)

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// ringBytes is the size of a split queue laid out as virtiotest.NewDriver
// does, page-aligned.
func ringBytes(size int) uint64 {
	n := uint64(size)
	return alignUp(16*n+6+2*n+3+6+8*n, 4096)
}

func newGovmmDev(t *tb, tp *tap.Tap, size int) (*govmmDev, error) {
	dev, err := vnet.New(vnet.Config{ID: "bench0", Backend: tp, VnetHdr: true, MAC: taptest.GuestMAC, QueueSize: uint16(size)})
	if err != nil {
		return nil, err
	}
	g := &govmmDev{
		dev: dev, size: size, timeout: 10 * time.Second,
		irq:        &irqLines{ch: [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)}},
		needsReset: make(chan error, 4),
		// The driver accepts every feature the device offers, as Linux
		// does for these (EVENT_IDX, INDIRECT_DESC, MRG_RXBUF, CSUM,
		// GUEST_CSUM, the TSO/ECN offloads both ways, MAC, STATUS).
		features: dev.Features(),
	}
	rb := ringBytes(size)
	rxRing := uint64(ringBase) + rb
	g.txBuf = mem.GPA(alignUp(rxRing+rb, mib))
	// One frame of up to 64 KiB plus its indirect table (at most maxIOV
	// descriptors, the most the device accepts).
	g.txTable = g.txBuf + 80<<10
	g.rxBufs = mem.GPA(alignUp(uint64(g.txTable)+16*1024, mib))
	g.rxAreaLen = size * 8192
	total := alignUp(uint64(g.rxBufs)+uint64(g.rxAreaLen), 2*mib)
	g.m = virtiotest.NewMemory(t, total)
	if g.rxMem, err = g.m.Slice(g.rxBufs, uint64(g.rxAreaLen)); err != nil {
		return nil, err
	}
	for i := range 2 {
		q := virtio.NewQueue(i, uint16(size))
		k, err := eventfd.New()
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { k.Close() })
		q.Kick = k
		g.qs = append(g.qs, q)
	}
	// Buffer space for virtiotest's allocator, which this driver does not
	// use: the transmit area.
	g.rxd = virtiotest.NewDriver(t, g.m, g.qs[qRX], uint16(size), mem.GPA(rxRing), g.txBuf, g.rxBufs)
	g.txd = virtiotest.NewDriver(t, g.m, g.qs[qTX], uint16(size), ringBase, g.txBuf, g.rxBufs)
	if g.rx, err = newRing(g.rxd); err != nil {
		return nil, err
	}
	if g.tx, err = newRing(g.txd); err != nil {
		return nil, err
	}
	for i := range size {
		g.txHeads = append(g.txHeads, uint16(i))
		g.rxFree = append(g.rxFree, uint16(i))
	}
	g.used = make([]usedElem, 0, size)
	g.txFree = make([]uint16, 0, size)
	g.timer = time.NewTimer(time.Hour)
	g.timer.Stop()
	t.Cleanup(dev.Reset) // before the memory and the tap go (cleanups run last first)
	return g, nil
}

// activate starts the queues where the rings are and the device, as the
// transport does on DRIVER_OK.
func (g *govmmDev) activate() error {
	for _, q := range g.qs {
		if err := q.Start(g.m, g.features); err != nil {
			return err
		}
	}
	return g.dev.Activate(virtio.Activation{
		Mem: g.m, Features: g.features, Queues: g.qs, IRQ: g.irq,
		NeedsReset: func(err error) {
			select {
			case g.needsReset <- err:
			default:
			}
		},
	})
}

func (g *govmmDev) kick(q int) error { return g.qs[q].Kick.Signal() }

// wait blocks until queue q's interrupt, a protocol error, or the timeout.
func (g *govmmDev) wait(q int) error {
	g.timer.Reset(g.timeout)
	defer g.timer.Stop()
	select {
	case <-g.irq.ch[q]:
		return nil
	case err := <-g.needsReset:
		return fmt.Errorf("device needs reset: %w", err)
	case <-g.timer.C:
		return fmt.Errorf("no interrupt for %v", g.timeout)
	}
}

// writeTXChains points every transmit chain at the frame, built like
// Linux's: one descriptor when the frame is one piece, else an indirect
// table with a descriptor per piece (VIRTIO_F_INDIRECT_DESC is
// negotiated).
func (g *govmmDev) writeTXChains(pieces [][]byte) error {
	if len(pieces) > 1024 {
		return fmt.Errorf("%d pieces: more than UIO_MAXIOV", len(pieces))
	}
	gpa := g.txBuf
	var addrs []mem.GPA
	for _, p := range pieces {
		if gpa+mem.GPA(len(p)) > g.txTable {
			return errors.New("transmit frame larger than its guest buffer")
		}
		if _, err := g.m.WriteAt(p, int64(gpa)); err != nil {
			return err
		}
		addrs = append(addrs, gpa)
		gpa += mem.GPA(len(p))
	}
	if len(pieces) == 1 {
		for i := range g.size {
			g.txd.WriteDesc(uint16(i), uint64(addrs[0]), uint32(len(pieces[0])), 0, 0)
		}
		return nil
	}
	var d [16]byte
	for j, p := range pieces {
		flags, next := uint16(0), uint16(0)
		if j+1 < len(pieces) {
			flags, next = virtiotest.FNext, uint16(j+1)
		}
		binary.LittleEndian.PutUint64(d[0:], uint64(addrs[j]))
		binary.LittleEndian.PutUint32(d[8:], uint32(len(p)))
		binary.LittleEndian.PutUint16(d[12:], flags)
		binary.LittleEndian.PutUint16(d[14:], next)
		if _, err := g.m.WriteAt(d[:], int64(g.txTable)+int64(16*j)); err != nil {
			return err
		}
	}
	for i := range g.size {
		g.txd.WriteDesc(uint16(i), uint64(g.txTable), uint32(16*len(pieces)), virtiotest.FIndirect, 0)
	}
	return nil
}

// writeRXChains makes every receive chain one device-writable buffer of
// bufLen bytes, as Linux posts mergeable buffers.
func (g *govmmDev) writeRXChains(bufLen int) error {
	if bufLen*g.size > g.rxAreaLen {
		return fmt.Errorf("%d receive buffers of %d bytes do not fit %d bytes", g.size, bufLen, g.rxAreaLen)
	}
	for i := range g.size {
		g.rxd.WriteDesc(uint16(i), uint64(g.rxBufs)+uint64(i*bufLen), uint32(bufLen), virtiotest.FWrite, 0)
	}
	return nil
}

// runTX has the device send n frames, the driver behaving as Linux's
// virtio-net does under a saturating sender: it fills every free chain
// (start_xmit until the ring is full), kicks when avail_event asks for it,
// and with the ring full waits for an interrupt that it asks for once three
// quarters of the outstanding chains are used (virtqueue_enable_cb_delayed),
// then frees the used chains and fills again. With -driver poll it never
// waits: it spins on the used ring and refills at once, a guest that never
// lets the ring run dry. The clock runs from the first publish to the n-th
// used chain.
func (g *govmmDev) runTX(e *env, c benchCase, n int) (runStats, error) {
	pieces, err := e.txFrame(c)
	if err != nil {
		return runStats{}, err
	}
	if err := g.writeTXChains(pieces); err != nil {
		return runStats{}, err
	}
	m := &g.dev.Metrics
	frames0, bad0, irq0 := m.TxFrames.Load(), m.TxDropped.Load()+m.TxMalformed.Load(), m.Interrupts.Load()
	if err := g.activate(); err != nil {
		return runStats{}, err
	}
	defer g.dev.Reset()
	poll := e.cfg.driver == "poll"
	free := g.txFree[:0]
	free = append(free, g.txHeads...)
	kicks, waits := 0, 0
	sent, done := 0, 0
	deadline := time.Now().Add(g.timeout)
	start := time.Now()
	for done < n {
		if k := min(len(free), n-sent); k > 0 {
			if g.tx.publish(free[len(free)-k:]) {
				if err := g.kick(qTX); err != nil {
					return runStats{}, err
				}
				kicks++
			}
			free = free[:len(free)-k]
			sent += k
		}
		if g.used = g.tx.collect(g.used[:0]); len(g.used) > 0 {
			for _, u := range g.used {
				free = append(free, u.head)
			}
			done += len(g.used)
			continue
		}
		if poll {
			if err := g.pollCheck(&deadline); err != nil {
				return runStats{}, fmt.Errorf("after %d frames: %w", done, err)
			}
			continue
		}
		bufs := g.tx.outstanding() * 3 / 4
		g.tx.setUsedEvent(g.tx.usedSeen + bufs)
		if g.tx.usedIdx()-g.tx.usedSeen > bufs {
			continue
		}
		if err := g.wait(qTX); err != nil {
			return runStats{}, fmt.Errorf("after %d frames: %w", done, err)
		}
		waits++
	}
	el := time.Since(start)
	g.txFree = free
	if got, bad := m.TxFrames.Load()-frames0, m.TxDropped.Load()+m.TxMalformed.Load()-bad0; got != uint64(n) || bad != 0 {
		return runStats{}, fmt.Errorf("device wrote %d frames of %d, dropped or refused %d", got, n, bad)
	}
	return runStats{elapsed: el, detail: fmt.Sprintf(", kicks %d, interrupts %d, waits %d", kicks, m.Interrupts.Load()-irq0, waits)}, nil
}

// pollCheck is the spinning driver's substitute for wait: it fails on a
// protocol error or when nothing was used for the timeout.
func (g *govmmDev) pollCheck(deadline *time.Time) error {
	select {
	case err := <-g.needsReset:
		return fmt.Errorf("device needs reset: %w", err)
	default:
	}
	if now := time.Now(); now.After(*deadline) {
		return fmt.Errorf("nothing used for %v", g.timeout)
	}
	return nil
}

// runRX preloads n frames into the tap, posts every receive buffer, starts
// the clock and the device, and re-posts buffers as the device uses them
// until all n frames have arrived. The driver is Linux's NAPI loop reduced
// to its ring work: on an interrupt it takes every used buffer, re-posts
// them (try_fill_recv), re-arms the interrupt for the next used buffer
// (virtqueue_enable_cb_prepare) and looks once more before sleeping. It
// kicks after re-posting as -rx-kick says: "event" when avail_event asks
// (vring_need_event, Linux's rule), "always" after every refill. Frames are
// counted from num_buffers in each frame's first buffer, and their lengths
// checked.
func (g *govmmDev) runRX(e *env, c benchCase, n int) (runStats, error) {
	bufLen := e.cfg.rxBufFor(c)
	if err := g.writeRXChains(bufLen); err != nil {
		return runStats{}, err
	}
	if err := e.preloadLabelled(c, n); err != nil {
		return runStats{}, err
	}
	g.rx.publish(g.rxFree) // the device is inactive: no kick
	g.rxFree = g.rxFree[:0]
	want := vnetHdrLen + c.frameBytes()
	m := &g.dev.Metrics
	frames0, drop0, noBuf0, irq0 := m.RxFrames.Load(), m.RxDropped.Load(), m.NoRxAvailBuffer.Load(), m.Interrupts.Load()
	poll, kickAlways := e.cfg.driver == "poll", e.cfg.rxKick == "always"
	kicks, waits := 0, 0
	frames, rem, flen := 0, 0, 0
	deadline := time.Now().Add(g.timeout)

	start := time.Now()
	if err := g.activate(); err != nil {
		return runStats{}, err
	}
	defer g.dev.Reset()
	for frames < n || rem > 0 {
		g.used = g.rx.collect(g.used[:0])
		if len(g.used) == 0 {
			if poll {
				if err := g.pollCheck(&deadline); err != nil {
					return runStats{}, fmt.Errorf("after %d of %d frames: %w", frames, n, err)
				}
				continue
			}
			// Ask for an interrupt at the next used buffer, then look
			// again in case it came before the request was visible.
			g.rx.setUsedEvent(g.rx.usedSeen)
			if g.rx.usedIdx() != g.rx.usedSeen {
				continue
			}
			if err := g.wait(qRX); err != nil {
				if !kickAlways {
					err = fmt.Errorf("%w (with -rx-kick event the device can wait for a kick that vring_need_event never sends)", err)
				}
				return runStats{}, fmt.Errorf("after %d of %d frames: %w", frames, n, err)
			}
			waits++
			continue
		}
		deadline = time.Now().Add(g.timeout)
		for _, u := range g.used {
			if rem == 0 {
				if u.written < vnetHdrLen {
					return runStats{}, fmt.Errorf("frame %d: first buffer of %d bytes", frames, u.written)
				}
				rem = int(binary.LittleEndian.Uint16(g.rxMem[int(u.head)*bufLen+10:]))
				if rem == 0 {
					return runStats{}, fmt.Errorf("frame %d: num_buffers 0", frames)
				}
				flen = 0
				frames++
			}
			flen += int(u.written)
			rem--
			if rem == 0 && flen != want {
				return runStats{}, fmt.Errorf("frame %d: %d bytes, want %d", frames, flen, want)
			}
			g.rxFree = append(g.rxFree, u.head)
		}
		if g.rx.publish(g.rxFree) || kickAlways {
			if err := g.kick(qRX); err != nil {
				return runStats{}, err
			}
			kicks++
		}
		g.rxFree = g.rxFree[:0]
	}
	el := time.Since(start)
	if got, drop := m.RxFrames.Load()-frames0, m.RxDropped.Load()-drop0; got != uint64(n) || drop != 0 {
		return runStats{}, fmt.Errorf("device delivered %d frames of %d, dropped %d", got, n, drop)
	}
	return runStats{elapsed: el, detail: fmt.Sprintf(", kicks %d, interrupts %d, waits %d, no_rx_avail_buffer %d",
		kicks, m.Interrupts.Load()-irq0, waits, m.NoRxAvailBuffer.Load()-noBuf0)}, nil
}
