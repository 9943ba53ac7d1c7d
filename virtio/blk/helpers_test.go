package blk

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/virtiotest"
	"github.com/govmm/govmm/vmm/mem"
)

// memBackend is a Backend in memory that records every operation and
// fails the test on any access outside its size. hook, when set, runs at
// the start of every operation and may block it.
type memBackend struct {
	t    testing.TB
	mu   sync.Mutex
	data []byte
	ops  []string
	hook func(op string)
	// readErr and writeErr, when set, fail the operations.
	readErr, writeErr, syncErr error
}

func newMemBackend(t testing.TB, size int) *memBackend {
	b := &memBackend{t: t, data: make([]byte, size)}
	for i := range b.data {
		b.data[i] = byte(i*7 + i>>9)
	}
	return b
}

func (b *memBackend) Size() int64 { return int64(len(b.data)) }

func (b *memBackend) check(op string, off, n int64) bool {
	if off < 0 || n < 0 || off > int64(len(b.data)) || n > int64(len(b.data))-off {
		b.t.Errorf("%s at %d+%d outside the backend (%d bytes)", op, off, n, len(b.data))
		return false
	}
	return true
}

func (b *memBackend) enter(op string) {
	if h := b.hook; h != nil {
		h(op)
	}
}

func (b *memBackend) record(format string, args ...any) {
	b.ops = append(b.ops, fmt.Sprintf(format, args...))
}

func (b *memBackend) ReadV(iov [][]byte, off int64) error {
	b.enter("read")
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.check("read", off, iovLen(iov)) {
		return fmt.Errorf("out of range")
	}
	if b.readErr != nil {
		return b.readErr
	}
	b.record("read %d %d", off, iovLen(iov))
	scatterFrom(iov, b.data[off:])
	return nil
}

func scatterFrom(iov [][]byte, src []byte) {
	for _, v := range iov {
		src = src[copy(v, src):]
	}
}

func (b *memBackend) WriteV(iov [][]byte, off int64) error {
	b.enter("write")
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.check("write", off, iovLen(iov)) {
		return fmt.Errorf("out of range")
	}
	if b.writeErr != nil {
		return b.writeErr
	}
	b.record("write %d %d", off, iovLen(iov))
	gatherAt(b.data[off:off+iovLen(iov)], iov, 0)
	return nil
}

func (b *memBackend) Sync() error {
	b.enter("sync")
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("sync")
	return b.syncErr
}

func (b *memBackend) Discard(off, n int64) error {
	b.enter("discard")
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.check("discard", off, n) {
		b.record("discard %d %d", off, n)
		for i := off; i < off+n; i++ {
			b.data[i] = 0xdd
		}
	}
	return nil
}

func (b *memBackend) WriteZeroes(off, n int64, unmap bool) error {
	b.enter("zero")
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.check("zero", off, n) {
		b.record("zero %d %d %v", off, n, unmap)
		clear(b.data[off : off+n])
	}
	return nil
}

func (b *memBackend) snapshot() ([]byte, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.data...), append([]string(nil), b.ops...)
}

// irqRecorder counts notifications.
type irqRecorder struct {
	mu     sync.Mutex
	n      int
	config int
	kick   chan struct{}
	hook   func()
}

func (r *irqRecorder) NotifyQueue(q int) error {
	if r.hook != nil {
		r.hook()
	}
	r.mu.Lock()
	r.n++
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

func (r *irqRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// harness is an active device with a fake driver on its queue.
type harness struct {
	t          testing.TB
	dev        *Device
	drv        *virtiotest.Driver
	irq        *irqRecorder
	needsReset chan error
	features   uint64
	m          *mem.Memory
	q          *virtio.Queue
}

const allFeatures = ^uint64(0)

func newHarness(t testing.TB, cfg Config, features uint64) *harness {
	t.Helper()
	dev, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dev: dev, irq: &irqRecorder{kick: make(chan struct{}, 1)}, needsReset: make(chan error, 8)}
	h.m = virtiotest.NewMemory(t, 64<<20)
	h.features = features & dev.Features()
	q := virtio.NewQueue(0, dev.QueueMaxSizes()[0])
	k, err := eventfd.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	q.Kick = k
	h.q = q
	h.drv = virtiotest.NewDriver(t, h.m, q, q.MaxSize, 0x1000, 0x100000, 64<<20)
	h.activate()
	return h
}

// activate starts the queue and the device as a transport does on
// DRIVER_OK.
func (h *harness) activate() {
	h.t.Helper()
	if err := h.q.Start(h.m, h.features); err != nil {
		h.t.Fatal(err)
	}
	err := h.dev.Activate(virtio.Activation{
		Mem: h.m, Features: h.features, Queues: []*virtio.Queue{h.q}, IRQ: h.irq,
		NeedsReset: func(err error) {
			select {
			case h.needsReset <- err:
			default:
				h.t.Errorf("NEEDS_RESET reported repeatedly: %v", err)
			}
		},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(h.dev.Reset)
}

func header(typ uint32, sector uint64) []byte {
	b := make([]byte, HeaderSize)
	binary.LittleEndian.PutUint32(b, typ)
	binary.LittleEndian.PutUint32(b[4:], 0xdeadbeef) // reserved (ioprio): ignored
	binary.LittleEndian.PutUint64(b[8:], sector)
	return b
}

func segment(sector uint64, n, flags uint32) []byte {
	b := make([]byte, segmentSize)
	binary.LittleEndian.PutUint64(b, sector)
	binary.LittleEndian.PutUint32(b[8:], n)
	binary.LittleEndian.PutUint32(b[12:], flags)
	return b
}

// layout is how a request is cut into descriptors.
type layout int

const (
	layoutSeparate  layout = iota // header | data | status, each its own descriptor
	layoutMerged                  // header+data in one, data+status in one
	layoutScattered               // header split, data in many odd pieces, status in the last piece
	layoutStatusAlone
	numLayouts
)

func (l layout) String() string {
	return [...]string{"separate", "merged", "scattered", "status-alone"}[l]
}

// pieces cuts n bytes into pieces of cycling odd sizes.
func pieces(n int) []int {
	sizes := []int{3, 509, 1, 100, 4096, 7, 1024}
	var out []int
	for i := 0; n > 0; i++ {
		k := min(sizes[i%len(sizes)], n)
		out = append(out, k)
		n -= k
	}
	return out
}

// buffers lays out a request: readable hdr+out, writable inLen+1 bytes.
func buffers(l layout, hdr, out []byte, inLen int) []virtiotest.Buffer {
	var bufs []virtiotest.Buffer
	rd := append(append([]byte(nil), hdr...), out...)
	switch l {
	case layoutSeparate:
		bufs = append(bufs, virtiotest.R(hdr))
		if len(out) > 0 {
			bufs = append(bufs, virtiotest.R(out))
		}
		if inLen > 0 {
			bufs = append(bufs, virtiotest.W(inLen))
		}
		return append(bufs, virtiotest.W(1))
	case layoutMerged:
		return []virtiotest.Buffer{virtiotest.R(rd), virtiotest.W(inLen + 1)}
	case layoutScattered:
		for _, k := range pieces(len(rd)) {
			bufs = append(bufs, virtiotest.R(rd[:k]))
			rd = rd[k:]
		}
		for _, k := range pieces(inLen + 1) {
			bufs = append(bufs, virtiotest.W(k))
		}
		return bufs
	default: // header with half the data, the other half, status alone
		for _, k := range []int{HeaderSize + len(out)/2, len(out) - len(out)/2} {
			if k > 0 {
				bufs = append(bufs, virtiotest.R(rd[:k]))
				rd = rd[k:]
			}
		}
		for _, k := range []int{inLen / 2, inLen - inLen/2} {
			if k > 0 {
				bufs = append(bufs, virtiotest.W(k))
			}
		}
		return append(bufs, virtiotest.W(1))
	}
}

// pending is a request offered to the device.
type pending struct {
	head  uint16
	bufs  []virtiotest.Buffer
	addrs []mem.GPA
}

func (h *harness) offer(indirect bool, bufs []virtiotest.Buffer) pending {
	head, addrs := h.drv.Offer(indirect, bufs...)
	return pending{head: head, bufs: bufs, addrs: addrs}
}

// writable returns the bytes of the request's writable buffers, in order:
// the payload, then the status byte.
func (h *harness) writable(p pending) []byte {
	var out []byte
	for i, b := range p.bufs {
		if b.Data == nil {
			out = append(out, h.drv.Read(p.addrs[i], b.WriteLen)...)
		}
	}
	return out
}

func (h *harness) kick() {
	if err := h.q.Kick.Signal(); err != nil {
		h.t.Fatal(err)
	}
}

// waitUsed collects used entries until n have arrived.
func (h *harness) waitUsed(n int) []virtiotest.Used {
	h.t.Helper()
	var all []virtiotest.Used
	deadline := time.Now().Add(10 * time.Second)
	for len(all) < n {
		all = append(all, h.drv.Collect()...)
		if time.Now().After(deadline) {
			h.t.Fatalf("%d used entries after 10s, want %d", len(all), n)
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

// do sends one request and returns its used length, the writable payload
// and the status.
func (h *harness) do(indirect bool, bufs []virtiotest.Buffer) (uint32, []byte, byte) {
	h.t.Helper()
	p := h.offer(indirect, bufs)
	h.kick()
	u := h.waitUsed(1)
	if len(u) != 1 || u[0].Head != p.head {
		h.t.Fatalf("used %v, want head %d", u, p.head)
	}
	w := h.writable(p)
	h.drv.FreeBuffers()
	return u[0].Len, w[:len(w)-1], w[len(w)-1]
}

// request sends a request of type typ in layout l.
func (h *harness) request(l layout, typ uint32, sector uint64, out []byte, inLen int) (uint32, []byte, byte) {
	h.t.Helper()
	return h.do(l == layoutScattered, buffers(l, header(typ, sector), out, inLen))
}

func pattern(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}
