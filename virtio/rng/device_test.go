package rng

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/virtiotest"
	"github.com/govmm/govmm/vmm/mem"
)

type irqRecorder struct {
	mu   sync.Mutex
	n    int
	kick chan struct{}
}

func (r *irqRecorder) NotifyQueue(q int) error {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return nil
}

func (r *irqRecorder) NotifyConfig() error { return nil }

type harness struct {
	t          *testing.T
	dev        *Device
	drv        *virtiotest.Driver
	irq        *irqRecorder
	needsReset chan error
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := virtiotest.NewMemory(t, 16<<20)
	q := virtio.NewQueue(0, dev.QueueMaxSizes()[0])
	k, err := eventfd.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	q.Kick = k
	h := &harness{t: t, dev: dev, irq: &irqRecorder{kick: make(chan struct{}, 1)}, needsReset: make(chan error, 4)}
	h.drv = virtiotest.NewDriver(t, m, q, q.MaxSize, 0x1000, 0x100000, 16<<20)
	features := dev.Features()
	if err := q.Start(m, features); err != nil {
		t.Fatal(err)
	}
	err = dev.Activate(virtio.Activation{Mem: m, Features: features, Queues: []*virtio.Queue{q}, IRQ: h.irq,
		NeedsReset: func(err error) { h.needsReset <- err }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Reset)
	return h
}

func (h *harness) waitUsed(n int) []virtiotest.Used {
	h.t.Helper()
	var all []virtiotest.Used
	deadline := time.Now().Add(5 * time.Second)
	for len(all) < n {
		all = append(all, h.drv.Collect()...)
		if time.Now().After(deadline) {
			h.t.Fatalf("%d used entries, want %d", len(all), n)
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

func TestFill(t *testing.T) {
	h := newHarness(t, Config{ID: "rng0"})
	sizes := [][]int{{1}, {64}, {4096}, {100, 3, 900}, {70 << 10}, {40 << 10, 40 << 10}}
	type req struct {
		head  uint16
		addrs []mem.GPA
		sizes []int
	}
	var reqs []req
	for i, s := range sizes {
		var bufs []virtiotest.Buffer
		for _, n := range s {
			bufs = append(bufs, virtiotest.W(n))
		}
		head, addrs := h.drv.Offer(i%2 == 1, bufs...)
		reqs = append(reqs, req{head, addrs, s})
	}
	h.drv.Q.Kick.Signal()
	used := h.waitUsed(len(sizes))
	byHead := map[uint16]uint32{}
	for _, u := range used {
		byHead[u.Head] = u.Len
	}
	var seen [][]byte
	for _, r := range reqs {
		total := 0
		var got []byte
		for i, n := range r.sizes {
			total += n
			got = append(got, h.drv.Read(r.addrs[i], n)...)
		}
		want := min(total, maxPerChain)
		if byHead[r.head] != uint32(want) {
			t.Fatalf("request of %v bytes: used length %d, want %d", r.sizes, byHead[r.head], want)
		}
		got = got[:want]
		if want >= 16 && bytes.Equal(got, make([]byte, want)) {
			t.Fatalf("request of %v bytes got zeroes", r.sizes)
		}
		for _, s := range seen {
			if len(s) >= 16 && len(got) >= 16 && bytes.Equal(s[:16], got[:16]) {
				t.Fatal("two requests got the same bytes")
			}
		}
		seen = append(seen, got)
	}
	if h.dev.Metrics.Requests.Load() != uint64(len(sizes)) {
		t.Errorf("entropy_requests %d", h.dev.Metrics.Requests.Load())
	}
	h.irq.mu.Lock()
	n := h.irq.n
	h.irq.mu.Unlock()
	if n < 1 || n > len(sizes) {
		t.Errorf("%d interrupts", n)
	}
}

func TestNoWritableBuffer(t *testing.T) {
	h := newHarness(t, Config{ID: "rng0"})
	h.drv.Offer(false, virtiotest.R([]byte("hello")))
	h.drv.Offer(false, virtiotest.W(16))
	h.drv.Q.Kick.Signal()
	select {
	case err := <-h.needsReset:
		if !errors.Is(err, ErrNoWritable) {
			t.Fatalf("NEEDS_RESET with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no NEEDS_RESET")
	}
	time.Sleep(10 * time.Millisecond)
	if u := h.drv.Collect(); len(u) != 0 {
		t.Fatalf("used after the violation: %v", u)
	}
}

// TestReadableIgnored: a chain that also carries a readable buffer still
// gets entropy in its writable part.
func TestReadableIgnored(t *testing.T) {
	h := newHarness(t, Config{ID: "rng0"})
	h.drv.Offer(false, virtiotest.R([]byte("x")), virtiotest.W(32))
	h.drv.Q.Kick.Signal()
	if u := h.waitUsed(1); u[0].Len != 32 {
		t.Fatalf("used length %d", u[0].Len)
	}
	if h.dev.Metrics.ReadableIgnored.Load() != 1 {
		t.Fatal("readable_ignored not counted")
	}
}

type failingSource struct{}

func (failingSource) Read(p []byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestSourceError(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	h := newHarness(t, Config{ID: "rng0", Source: failingSource{}, Log: func(f string, a ...any) {
		mu.Lock()
		logged = append(logged, f)
		mu.Unlock()
	}})
	h.drv.Offer(false, virtiotest.W(32))
	h.drv.Q.Kick.Signal()
	if u := h.waitUsed(1); u[0].Len != 0 {
		t.Fatalf("used length %d from a failing source", u[0].Len)
	}
	mu.Lock()
	defer mu.Unlock()
	if h.dev.Metrics.SourceErrors.Load() != 1 || len(logged) != 1 {
		t.Fatalf("source_errors %d, %d lines logged", h.dev.Metrics.SourceErrors.Load(), len(logged))
	}
}

func TestDeviceBasics(t *testing.T) {
	d, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Type() != virtio.IDRNG || d.QueueMaxSizes()[0] != 256 || d.Features()&virtio.FeatureVersion1 == 0 {
		t.Fatalf("type %v sizes %v features %#x", d.Type(), d.QueueMaxSizes(), d.Features())
	}
	b := []byte{1, 2, 3}
	d.ReadConfig(0, b)
	if !bytes.Equal(b, []byte{0, 0, 0}) {
		t.Fatal("config space not zero")
	}
	if _, err := New(Config{QueueSize: 100}); err == nil {
		t.Fatal("queue size 100 accepted")
	}
	if err := d.Activate(virtio.Activation{Features: virtio.FeatureVersion1}); err == nil {
		t.Fatal("activation without queues accepted")
	}
}
