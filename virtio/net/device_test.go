package net

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/virtiotest"
	"github.com/govmm/govmm/vmm/mem"
	"golang.org/x/sys/unix"
)

// sockBackend is a Backend over one end of an AF_UNIX datagram socketpair:
// it keeps frame boundaries and returns EAGAIN when the peer's queue is
// full, like a tap with a bounded send buffer.
type sockBackend struct {
	fd      int
	offload atomic.Uint64
}

func (b *sockBackend) Writev(iov [][]byte) (int, error) {
	n, err := unix.Writev(b.fd, iov)
	if err == unix.EAGAIN {
		return 0, tap.ErrWouldBlock
	}
	return n, err
}

func (b *sockBackend) Readv(iov [][]byte) (int, error) {
	n, err := unix.Readv(b.fd, iov)
	if err == unix.EAGAIN {
		return 0, tap.ErrWouldBlock
	}
	return n, err
}

func (b *sockBackend) FD() int                        { return b.fd }
func (b *sockBackend) SetOffload(o tap.Offload) error { b.offload.Store(uint64(o)); return nil }

// peer is the other end, standing for the network.
type peer struct{ fd int }

func (p peer) send(t *testing.T, frame []byte) {
	t.Helper()
	if _, err := unix.Write(p.fd, frame); err != nil {
		t.Fatal(err)
	}
}

// recv returns the next frame, waiting up to timeout.
func (p peer) recv(timeout time.Duration) ([]byte, error) {
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, int(timeout.Milliseconds())); err != nil || n == 0 {
		return nil, fmt.Errorf("no frame within %v (%v)", timeout, err)
	}
	b := make([]byte, 70000)
	n, err := unix.Read(p.fd, b)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

func socketpair(t *testing.T, sndbuf int) (*sockBackend, peer) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	if sndbuf > 0 {
		unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf)
	}
	return &sockBackend{fd: fds[0]}, peer{fds[1]}
}

// irqRecorder counts notifications per queue.
type irqRecorder struct {
	mu     sync.Mutex
	queues map[int]int
	config int
	kick   chan struct{}
}

func (r *irqRecorder) NotifyQueue(q int) error {
	r.mu.Lock()
	r.queues[q]++
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return nil
}

func (r *irqRecorder) NotifyConfig() error {
	r.mu.Lock()
	r.config++
	r.mu.Unlock()
	return nil
}

// harness is an active device with a fake driver on each queue.
type harness struct {
	t          *testing.T
	dev        *Device
	rx, tx     *virtiotest.Driver
	irq        *irqRecorder
	needsReset chan error
	peer       peer
}

func newHarness(t *testing.T, sndbuf int, vnet bool, features uint64) *harness {
	t.Helper()
	be, p := socketpair(t, sndbuf)
	h := activate(t, Config{ID: "n0", Backend: be, VnetHdr: vnet, QueueSize: 256}, features, 64<<20)
	h.peer = p
	return h
}

// activate builds a device from cfg and activates it the way a transport
// would, with a fake driver on each queue: receive buffers in the first
// half of guest memory, transmit buffers in the second.
func activate(t *testing.T, cfg Config, features uint64, memSize uint64) *harness {
	t.Helper()
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := virtiotest.NewMemory(t, memSize)
	h := &harness{t: t, dev: dev, irq: &irqRecorder{queues: map[int]int{}, kick: make(chan struct{}, 1)}, needsReset: make(chan error, 8)}
	features &= dev.Features()
	size := cfg.QueueSize
	var qs []*virtio.Queue
	for i := 0; i < 2; i++ {
		q := virtio.NewQueue(i, size)
		k, err := eventfd.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		q.Kick = k
		qs = append(qs, q)
	}
	half := mem.GPA(memSize / 2)
	h.rx = virtiotest.NewDriver(t, m, qs[0], size, 0x1000, 0x100000, half)
	h.tx = virtiotest.NewDriver(t, m, qs[1], size, 0x40000, half, mem.GPA(memSize))
	for _, q := range qs {
		if err := q.Start(m, features); err != nil {
			t.Fatal(err)
		}
	}
	err = dev.Activate(virtio.Activation{
		Mem: m, Features: features, Queues: qs, IRQ: h.irq,
		NeedsReset: func(err error) {
			select {
			case h.needsReset <- err:
			default:
				t.Errorf("NEEDS_RESET reported repeatedly: %v", err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Reset)
	return h
}

const allFeatures = ^uint64(0)

func hdr() []byte { return make([]byte, HdrSize) }

func frame(i, size int) []byte {
	f := make([]byte, size)
	binary.BigEndian.PutUint32(f, uint32(i))
	for j := 4; j < size; j++ {
		f[j] = byte(i + j)
	}
	return f
}

// waitUsed collects used entries from d until n have arrived.
func (h *harness) waitUsed(d *virtiotest.Driver, n int, timeout time.Duration) []virtiotest.Used {
	h.t.Helper()
	var all []virtiotest.Used
	deadline := time.Now().Add(timeout)
	for len(all) < n {
		all = append(all, d.Collect()...)
		if time.Now().After(deadline) {
			h.t.Fatalf("%d used entries after %v, want %d", len(all), timeout, n)
		}
		if len(all) < n {
			select {
			case <-h.irq.kick:
			case <-time.After(time.Millisecond):
			}
		}
	}
	return all
}

func kick(t *testing.T, d *virtiotest.Driver) {
	if err := d.Q.Kick.Signal(); err != nil {
		t.Fatal(err)
	}
}

func TestTransmit(t *testing.T) {
	for _, indirect := range []bool{false, true} {
		h := newHarness(t, 0, true, allFeatures)
		for i := 0; i < 10; i++ {
			h.tx.Offer(indirect, virtiotest.R(hdr()), virtiotest.R(frame(i, 100+i)))
		}
		kick(t, h.tx)
		for i := 0; i < 10; i++ {
			got, err := h.peer.recv(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			want := append(hdr(), frame(i, 100+i)...)
			if !bytes.Equal(got, want) {
				t.Fatalf("frame %d differs", i)
			}
		}
		used := h.waitUsed(h.tx, 10, 5*time.Second)
		for _, u := range used {
			if u.Len != 0 {
				t.Fatalf("transmit used length %d, want 0", u.Len)
			}
		}
		if h.dev.Metrics.TxFrames.Load() != 10 || h.dev.Metrics.TxBytes.Load() != 10*100+45 {
			t.Fatalf("tx_frames %d tx_bytes %d", h.dev.Metrics.TxFrames.Load(), h.dev.Metrics.TxBytes.Load())
		}
	}
}

// TestTransmitBackpressure is the seed at device level: with the backend
// full, frames wait at the head of the ring, uncompleted, and all of them
// arrive once, in order, when the peer catches up.
func TestTransmitBackpressure(t *testing.T) {
	h := newHarness(t, 4096, true, allFeatures)
	const n = 200
	for i := 0; i < n; i++ {
		h.tx.Offer(true, virtiotest.R(hdr()), virtiotest.R(frame(i, 1000)))
	}
	kick(t, h.tx)
	deadline := time.Now().Add(5 * time.Second)
	for h.dev.Metrics.TapWriteEagain.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the backend never filled up")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	inFlight := h.dev.Metrics.TxFrames.Load()
	if used := len(h.tx.Collect()); uint64(used) != inFlight || used >= n {
		t.Fatalf("%d frames completed, %d written: a frame was completed before it was written", used, inFlight)
	}
	// The network drains: every frame arrives exactly once, in order.
	for i := 0; i < n; i++ {
		got, err := h.peer.recv(10 * time.Second)
		if err != nil {
			t.Fatalf("frame %d: %v (eagain %d)", i, err, h.dev.Metrics.TapWriteEagain.Load())
		}
		if seq := binary.BigEndian.Uint32(got[HdrSize:]); seq != uint32(i) {
			t.Fatalf("frame %d arrived as %d: lost, duplicated or reordered", i, seq)
		}
	}
	if got, err := h.peer.recv(50 * time.Millisecond); err == nil {
		t.Fatalf("extra frame %d", binary.BigEndian.Uint32(got[HdrSize:]))
	}
	h.waitUsed(h.tx, 0, time.Second)
	m := &h.dev.Metrics
	if m.TxFrames.Load() != n || m.TxDropped.Load() != 0 {
		t.Fatalf("tx_frames %d tx_dropped %d", m.TxFrames.Load(), m.TxDropped.Load())
	}
	if m.TxParkedNs.Load() == 0 {
		t.Fatal("no parked time accounted")
	}
	t.Logf("eagain %d, parked %v", m.TapWriteEagain.Load(), time.Duration(m.TxParkedNs.Load()))
}

func TestTransmitOddChains(t *testing.T) {
	h := newHarness(t, 0, true, allFeatures)
	h.tx.Offer(false, virtiotest.R(hdr()))                                                       // header only: zero-length frame
	h.tx.Offer(false, virtiotest.R([]byte{1, 2, 3}))                                             // shorter than a header
	h.tx.Offer(false, virtiotest.R(append(hdr(), frame(7, 60)...)))                              // header and frame in one buffer
	h.tx.Offer(false, virtiotest.R(hdr()[:5]), virtiotest.R(append(hdr()[5:], frame(8, 60)...))) // header split
	kick(t, h.tx)
	h.waitUsed(h.tx, 4, 5*time.Second)
	for _, want := range []uint32{7, 8} {
		got, err := h.peer.recv(time.Second)
		if err != nil || binary.BigEndian.Uint32(got[HdrSize:]) != want || len(got) != HdrSize+60 {
			t.Fatalf("frame %d: %v %v", want, got, err)
		}
	}
	m := &h.dev.Metrics
	if m.TxZeroLength.Load() != 1 || m.TxMalformed.Load() != 1 || m.TxFrames.Load() != 2 {
		t.Fatalf("zero %d malformed %d frames %d", m.TxZeroLength.Load(), m.TxMalformed.Load(), m.TxFrames.Load())
	}
}

func TestReceiveMergeable(t *testing.T) {
	h := newHarness(t, 0, true, allFeatures&^(FeatureGuestTSO4|FeatureGuestTSO6|FeatureGuestUFO))
	// Frames before any buffer: they wait in the backend.
	big := append(hdr(), frame(1, 1400)...)
	small := append(hdr(), frame(2, 60)...)
	h.peer.send(t, big)
	h.peer.send(t, small)
	time.Sleep(20 * time.Millisecond)
	if h.dev.Metrics.RxFrames.Load() != 0 {
		t.Fatal("received without buffers")
	}
	// Buffers of 512 bytes: the big frame needs three.
	var addrs []uint64
	for i := 0; i < 8; i++ {
		_, a := h.rx.Offer(false, virtiotest.W(512))
		addrs = append(addrs, uint64(a[0]))
	}
	kick(t, h.rx)
	used := h.waitUsed(h.rx, 4, 5*time.Second)
	if len(used) != 4 || used[0].Len != 512 || used[1].Len != 512 || used[2].Len != uint32(len(big)-1024) || used[3].Len != uint32(len(small)) {
		t.Fatalf("used %+v", used)
	}
	var got []byte
	for i := 0; i < 3; i++ {
		got = append(got, h.rx.Read(virtioGPA(addrs[i]), int(used[i].Len))...)
	}
	if nb := binary.LittleEndian.Uint16(got[10:]); nb != 3 {
		t.Fatalf("num_buffers %d, want 3", nb)
	}
	if !bytes.Equal(got[HdrSize:], big[HdrSize:]) {
		t.Fatal("big frame corrupted")
	}
	s := h.rx.Read(virtioGPA(addrs[3]), int(used[3].Len))
	if binary.LittleEndian.Uint16(s[10:]) != 1 || !bytes.Equal(s[HdrSize:], small[HdrSize:]) {
		t.Fatal("small frame")
	}
	if h.dev.Metrics.RxFrames.Load() != 2 {
		t.Fatalf("rx_frames %d", h.dev.Metrics.RxFrames.Load())
	}
}

// TestReceiveWithoutVnetHdr: frames from a backend without headers get a
// zero header; transmitted frames lose theirs.
func TestWithoutVnetHdr(t *testing.T) {
	h := newHarness(t, 0, false, allFeatures)
	if h.dev.Features()&FeatureGuestCsum != 0 {
		t.Fatal("offloads offered without a vnet header")
	}
	for i := 0; i < 8; i++ {
		h.rx.Offer(false, virtiotest.W(2048))
	}
	kick(t, h.rx)
	h.peer.send(t, frame(5, 100))
	used := h.waitUsed(h.rx, 1, 5*time.Second)
	if used[0].Len != HdrSize+100 {
		t.Fatalf("used %+v", used)
	}
	h.tx.Offer(false, virtiotest.R(hdr()), virtiotest.R(frame(6, 80)))
	kick(t, h.tx)
	got, err := h.peer.recv(5 * time.Second)
	if err != nil || !bytes.Equal(got, frame(6, 80)) {
		t.Fatalf("transmitted %v %v", got, err)
	}
}

func TestHostileQueues(t *testing.T) {
	h := newHarness(t, 0, true, allFeatures)
	h.tx.SetAvailIdx(1000)
	kick(t, h.tx)
	select {
	case err := <-h.needsReset:
		if !errors.Is(err, virtio.ErrInvalidAvailIdx) {
			t.Fatalf("needs reset for %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no NEEDS_RESET for a wild avail idx")
	}
	// A receive chain with a device-readable buffer.
	h.rx.Offer(false, virtiotest.R([]byte("x")), virtiotest.W(2048))
	kick(t, h.rx)
	h.peer.send(t, append(hdr(), frame(1, 60)...))
	select {
	case <-h.needsReset:
	case <-time.After(5 * time.Second):
		t.Fatal("no NEEDS_RESET for a readable receive buffer")
	}
	if h.dev.Metrics.NeedsReset.Load() != 2 {
		t.Fatalf("needs_reset_events %d", h.dev.Metrics.NeedsReset.Load())
	}
}

// TestResetWhileParked: a reset with a frame parked stops the worker
// promptly and uses nothing afterwards.
func TestResetWhileParked(t *testing.T) {
	h := newHarness(t, 4096, true, allFeatures)
	for i := 0; i < 100; i++ {
		h.tx.Offer(true, virtiotest.R(hdr()), virtiotest.R(frame(i, 1000)))
	}
	kick(t, h.tx)
	deadline := time.Now().Add(5 * time.Second)
	for h.dev.Metrics.TapWriteEagain.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { h.dev.Reset(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Reset blocked on a parked frame")
	}
	before := len(h.tx.Collect())
	// Drain the network: nothing more may be completed or sent.
	for {
		if _, err := h.peer.recv(20 * time.Millisecond); err != nil {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	if after := len(h.tx.Collect()); after != 0 {
		t.Fatalf("%d buffers used after reset (%d before)", after, before)
	}
}

func TestConfigSpace(t *testing.T) {
	be, _ := socketpair(t, 0)
	mac := []byte{0x52, 0x54, 0, 1, 2, 3}
	d, err := New(Config{Backend: be, MAC: mac})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	d.ReadConfig(0, b)
	if !bytes.Equal(b[:6], mac) || binary.LittleEndian.Uint16(b[6:]) != statusLinkUp {
		t.Fatalf("config % x", b)
	}
	b = make([]byte, 4)
	d.ReadConfig(6, b)
	if b[0] != 1 || b[2] != 0 {
		t.Fatalf("read past the end: % x", b)
	}
	d.ReadConfig(^uint64(0)-1, b) // no overflow panic
	d.WriteConfig(0, []byte{1, 2, 3})
	d.ReadConfig(0, b)
	if b[0] != 0x52 {
		t.Fatal("config write changed the MAC")
	}
	r, err := RandomMAC()
	if err != nil || r[0]&1 != 0 || r[0]&2 == 0 {
		t.Fatalf("RandomMAC %v %v", r, err)
	}
	if _, err := New(Config{Backend: be, MAC: []byte{1}}); err == nil {
		t.Fatal("short MAC accepted")
	}
}

func virtioGPA(a uint64) mem.GPA { return mem.GPA(a) }

// TestReceiveRefillKick: with EVENT_IDX and guest TSO (a 64 KiB frame
// must fit before any frame is taken), a driver that refills a ring
// holding too few buffers kicks only when avail_event asks, as Linux's
// virtqueue_kick_prepare does. The device must have asked for exactly
// that kick, or receive stalls for good.
func TestReceiveRefillKick(t *testing.T) {
	h := newHarness(t, 0, true, allFeatures)
	for i := 0; i < 40; i++ { // 40 * 1536 < 12 + 65550
		h.rx.Offer(false, virtiotest.W(1536))
	}
	kick(t, h.rx)
	h.peer.send(t, append(hdr(), frame(1, 60)...))
	time.Sleep(20 * time.Millisecond)
	if h.dev.Metrics.RxFrames.Load() != 0 {
		t.Fatal("received into buffers too small for a TSO frame")
	}
	// Refill as Linux does: kick only if vring_need_event says so.
	const old = 40
	for i := 0; i < 8; i++ {
		h.rx.Offer(false, virtiotest.W(1536))
	}
	event, nw := h.rx.AvailEvent(), uint16(old+8)
	if nw-event-1 < nw-old {
		kick(t, h.rx)
	}
	h.waitUsed(h.rx, 1, 5*time.Second)
}
