//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/tap/taptest"
	"golang.org/x/sys/unix"
)

// The tap's name inside the private namespace, and its queue length: the
// tap's ring (a ptr_ring of txqueuelen entries, tun_queue_resize) must hold a
// whole receive round, or frames are dropped while it is filled.
const (
	tapName  = "bnet0"
	minTxQ   = 1024
	rxMaxBuf = vnetHdrLen + 65550 // the largest frame the tap hands a TSO reader
)

// tapOffloads are what the device asks of the tap for a driver that accepts
// every receive offload it offers (guestOffloads in virtio/net).
const tapOffloads = tap.OffloadCSUM | tap.OffloadTSO4 | tap.OffloadTSO6 | tap.OffloadTSOECN

// env is the namespace, the tap, the packet socket feeding the tap from the
// network side and the device, shared by every run.
type env struct {
	cfg     *config
	t       *tb
	log     io.Writer
	ns      *taptest.NS
	tap     *tap.Tap
	ifindex int
	pkt     int // AF_PACKET socket with PACKET_VNET_HDR on the tap's interface
	dev     *govmmDev
	rxBuf   []byte          // raw receive buffer
	area    []byte          // raw receive area for -raw-rx-layout guest
	runCtx  context.Context // the current run's profiler labels
}

func measure(cfg *config, log io.Writer) (results, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: needs root (CAP_SYS_ADMIN for a network namespace, CAP_NET_ADMIN for the tap)", errSkipped)
	}
	t := newTB("bench/net", log)
	defer t.runCleanups()
	var e *env
	if err := t.guard(func() error {
		var err error
		e, err = newEnv(t, cfg, log)
		return err
	}); err != nil {
		return nil, err
	}
	res := results{}
	for _, c := range cfg.cases {
		res[c.name] = &pairs{}
	}
	for r := -cfg.warmup; r < cfg.rounds; r++ {
		for _, c := range cfg.cases {
			sides := []string{"raw", "govmm"}
			if r%2 != 0 {
				// Alternate so that neither side always runs right
				// after the other (caches, the other tenant's rhythm).
				sides = []string{"govmm", "raw"}
			}
			for _, side := range sides {
				if (side == "raw" && !cfg.raw) || (side == "govmm" && !cfg.govmm) {
					continue
				}
				if interrupted.Load() {
					return nil, errInterrupted
				}
				fps, err := e.runOne(c, side, r)
				if err != nil {
					return nil, fmt.Errorf("%s %s (round %d): %w", c.name, side, r, err)
				}
				if r < 0 {
					continue
				}
				if side == "raw" {
					res[c.name].raw = append(res[c.name].raw, fps)
				} else {
					res[c.name].govmm = append(res[c.name].govmm, fps)
				}
			}
		}
	}
	if cfg.verbose {
		e.dev.dev.Metrics.Write(log, "device.")
	}
	return res, nil
}

// runOne runs one case on one side and returns frames per second. The CPU
// profile's samples carry the side and the case as labels (goroutines
// started inside, the device's worker among them, inherit them).
func (e *env) runOne(c benchCase, side string, round int) (fps float64, err error) {
	n := c.runFrames(e.cfg)
	var st runStats
	var ms0, ms1 runtime.MemStats
	if e.cfg.verbose {
		runtime.ReadMemStats(&ms0)
	}
	pprof.Do(context.Background(), pprof.Labels("side", side, "case", c.name), func(ctx context.Context) {
		e.runCtx = ctx
		switch {
		case side == "raw" && c.dir == dirTX:
			st, err = e.rawTX(c, n)
		case side == "raw":
			st, err = e.rawRX(c, n)
		case c.dir == dirTX:
			st, err = e.dev.runTX(e, c, n)
		default:
			st, err = e.dev.runRX(e, c, n)
		}
	})
	if err != nil {
		return 0, err
	}
	fps = float64(n) / st.elapsed.Seconds()
	if e.cfg.verbose {
		runtime.ReadMemStats(&ms1)
		fmt.Fprintf(e.log, "round %d %s %s: %d frames in %v: %.0f frames/s, %.1f ns/frame, %.3f Gbit/s, %.2f allocs/frame (setup and preload included)%s\n",
			round, c.name, side, n, st.elapsed.Round(time.Microsecond), fps, 1e9/fps,
			gbps(fps, c.frameBytes()), float64(ms1.Mallocs-ms0.Mallocs)/float64(n), st.detail)
	}
	return fps, nil
}

// runStats is one run's outcome.
type runStats struct {
	elapsed time.Duration
	detail  string // for -v
}

func newEnv(t *tb, cfg *config, log io.Writer) (*env, error) {
	e := &env{cfg: cfg, t: t, log: log, rxBuf: make([]byte, rxMaxBuf)}
	e.ns = taptest.NewNS(t)
	err := e.ns.Do(func() error {
		var err error
		e.tap, err = tap.Open(tapName, tap.Options{VnetHdr: true})
		return err
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { e.tap.Close() })
	h := e.ns.Netlink()
	l, err := h.LinkByName(tapName)
	if err != nil {
		return nil, err
	}
	e.ifindex = l.Attrs().Index
	txq := minTxQ
	for _, c := range cfg.cases {
		if c.dir == dirRX {
			txq = max(txq, c.runFrames(cfg)+64)
		}
	}
	if err := h.LinkSetTxQLen(l, txq); err != nil {
		return nil, fmt.Errorf("set txqueuelen %d on %s: %w", txq, tapName, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("bring up %s: %w", tapName, err)
	}
	if err := e.tap.SetOffload(tapOffloads); err != nil {
		return nil, err
	}
	if err := e.ns.Do(e.openPacketSocket); err != nil {
		return nil, err
	}
	t.Cleanup(func() { unix.Close(e.pkt) })
	if e.dev, err = newGovmmDev(t, e.tap, cfg.queueSize); err != nil {
		return nil, err
	}
	e.dev.timeout = cfg.timeout
	// Anything the interface received while coming up is not ours.
	e.drainTap()
	return e, nil
}

// openPacketSocket opens the socket that plays the network: bound to the
// tap's interface with protocol 0, so it receives nothing (no per-frame cost
// on the transmit path), sending frames with a virtio_net_hdr in front
// (PACKET_VNET_HDR: GSO frames stay whole on a tap with TSO4) past the
// qdisc (PACKET_QDISC_BYPASS: straight to the tap's ring).
func (e *env) openPacketSocket() error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	for _, o := range []struct {
		name string
		opt  int
	}{{"PACKET_VNET_HDR", unix.PACKET_VNET_HDR}, {"PACKET_QDISC_BYPASS", unix.PACKET_QDISC_BYPASS}} {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, o.opt, 1); err != nil {
			unix.Close(fd)
			return fmt.Errorf("packet socket: %s: %w", o.name, err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: e.ifindex}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("packet socket: bind %s: %w", tapName, err)
	}
	e.pkt = fd
	return nil
}

// txFrame is the frame of a transmit case, with its 12-byte header, in the
// pieces a Linux guest's chain has.
func (e *env) txFrame(c benchCase) ([][]byte, error) {
	if c.tso {
		f, err := newTSOFrame(tsoMSS, tsoSegs, taptest.GuestMAC, taptest.PeerMAC, guestIP, peerIP)
		if err != nil {
			return nil, err
		}
		b := f.Hdr.appendTo(nil, vnetHdrLen)
		b = append(b, f.Frame...)
		return splitBuffer(b, vnetHdrLen+tsoHdrLen, e.cfg.tsoFrag), nil
	}
	f, err := udpFrame(c.ipSize, taptest.GuestMAC, taptest.PeerMAC, guestIP, peerIP)
	if err != nil {
		return nil, err
	}
	// Linux pushes the header into the skb's headroom: one buffer.
	return [][]byte{append(vnetHdr{}.appendTo(nil, vnetHdrLen), f...)}, nil
}

// rxFrame is what the packet socket sends for a receive case: a 10-byte
// virtio_net_hdr, then the frame.
func (e *env) rxFrame(c benchCase) ([]byte, error) {
	if c.tso {
		f, err := newTSOFrame(tsoMSS, tsoSegs, taptest.PeerMAC, taptest.GuestMAC, peerIP, guestIP)
		if err != nil {
			return nil, err
		}
		return append(f.Hdr.appendTo(nil, vnetHdrLegacyLen), f.Frame...), nil
	}
	f, err := udpFrame(c.ipSize, taptest.PeerMAC, taptest.GuestMAC, peerIP, guestIP)
	if err != nil {
		return nil, err
	}
	return append(vnetHdr{}.appendTo(nil, vnetHdrLegacyLen), f...), nil
}

// rawTX writes the frame n times.
func (e *env) rawTX(c benchCase, n int) (runStats, error) {
	iov, err := e.txFrame(c)
	if err != nil {
		return runStats{}, err
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := e.tap.Writev(iov); err != nil {
			return runStats{}, fmt.Errorf("frame %d: %w", i, err)
		}
	}
	return runStats{elapsed: time.Since(start)}, nil
}

// preload puts n frames of case c into the tap's queue from the network
// side and checks that the tap dropped none.
func (e *env) preload(c benchCase, n int) error {
	f, err := e.rxFrame(c)
	if err != nil {
		return err
	}
	before, err := e.tapDrops()
	if err != nil {
		return err
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: e.ifindex, Halen: 6}
	copy(sa.Addr[:], taptest.GuestMAC)
	for i := 0; i < n; i++ {
		if err := unix.Sendto(e.pkt, f, 0, sa); err != nil {
			return fmt.Errorf("preload frame %d: packet socket: %w", i, err)
		}
	}
	after, err := e.tapDrops()
	if err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("preload: the tap dropped %d of %d frames (txqueuelen too small?)", after-before, n)
	}
	return nil
}

// tapDrops reads the tap's tx_dropped counter: frames the tap's ring had no
// room for.
func (e *env) tapDrops() (uint64, error) {
	l, err := e.ns.Netlink().LinkByIndex(e.ifindex)
	if err != nil {
		return 0, err
	}
	s := l.Attrs().Statistics
	if s == nil {
		return 0, errors.New("no statistics for the tap")
	}
	return s.TxDropped, nil
}

// drainTap reads and discards whatever the tap holds.
func (e *env) drainTap() int {
	n := 0
	for {
		if _, err := e.tap.Readv([][]byte{e.rxBuf}); err != nil {
			return n
		}
		n++
	}
}

// preloadLabelled empties the tap and preloads n frames, with CPU profile
// samples labelled side=preload: the preload is not part of either side.
func (e *env) preloadLabelled(c benchCase, n int) (err error) {
	// pprof.Do restores the labels of the context it is given: the run's.
	pprof.Do(e.runCtx, pprof.Labels("side", "preload"), func(context.Context) {
		e.drainTap()
		err = e.preload(c, n)
	})
	return err
}

// rawRX preloads n frames and times reading them: into one buffer that
// holds any frame (the raw limit), or with -raw-rx-layout guest into a
// window as large moving through an area the size of the device's receive
// buffers, advancing as the device's mergeable buffers do: the same memory
// footprint, so the same cache misses, in at most two iovecs.
func (e *env) rawRX(c benchCase, n int) (runStats, error) {
	want := vnetHdrLen + c.frameBytes()
	iov := [][]byte{e.rxBuf}
	var area []byte
	var win [2][]byte
	step := 0
	if e.cfg.rawRXLayout == "guest" {
		bufLen := e.cfg.rxBufFor(c)
		area = e.rxArea(e.cfg.queueSize * bufLen)
		step = buffersFor(want, bufLen) * bufLen
	}
	if err := e.preloadLabelled(c, n); err != nil {
		return runStats{}, err
	}
	off := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		if area != nil {
			iov = ringWindow(area, off, len(e.rxBuf), &win)
			if off += step; off >= len(area) {
				off -= len(area)
			}
		}
		m, err := e.tap.Readv(iov)
		if err != nil {
			return runStats{}, fmt.Errorf("frame %d of %d: %w", i, n, err)
		}
		if m != want {
			return runStats{}, fmt.Errorf("frame %d: %d bytes, want %d", i, m, want)
		}
	}
	return runStats{elapsed: time.Since(start)}, nil
}

// rxArea returns a buffer of n bytes for the guest layout, reused between
// runs, every page touched once already.
func (e *env) rxArea(n int) []byte {
	if len(e.area) < n {
		e.area = make([]byte, n)
		for i := 0; i < n; i += 4096 {
			e.area[i] = 1
		}
	}
	return e.area[:n]
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
