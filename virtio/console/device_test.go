package console

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/virtiotest"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type irq struct{ n chan int }

func (i irq) NotifyQueue(q int) error {
	select {
	case i.n <- q:
	default:
	}
	return nil
}
func (i irq) NotifyConfig() error { return nil }

func setup(t *testing.T) (*Device, *virtiotest.Driver, *virtiotest.Driver, *lockedBuf, chan error) {
	t.Helper()
	out := &lockedBuf{}
	d, err := New(Config{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	m := virtiotest.NewMemory(t, 16<<20)
	// Registered after the memory: cleanups run last first, so the
	// worker stops before its memory goes.
	t.Cleanup(func() { d.Close() })
	var qs []*virtio.Queue
	for i := 0; i < 2; i++ {
		q := virtio.NewQueue(i, 128)
		k, err := eventfd.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		q.Kick = k
		qs = append(qs, q)
	}
	rx := virtiotest.NewDriver(t, m, qs[0], 128, 0x1000, 0x100000, 8<<20)
	tx := virtiotest.NewDriver(t, m, qs[1], 128, 0x10000, 8<<20, 16<<20)
	features := d.Features()
	for _, q := range qs {
		if err := q.Start(m, features); err != nil {
			t.Fatal(err)
		}
	}
	resets := make(chan error, 4)
	if err := d.Activate(virtio.Activation{Mem: m, Features: features, Queues: qs, IRQ: irq{make(chan int, 1)},
		NeedsReset: func(err error) { resets <- err }}); err != nil {
		t.Fatal(err)
	}
	return d, rx, tx, out, resets
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTransmitInOrder(t *testing.T) {
	d, _, tx, out, _ := setup(t)
	var want bytes.Buffer
	for i := 0; i < 50; i++ {
		a, b := bytes.Repeat([]byte{byte('a' + i%26)}, 100+i), []byte{byte(i)}
		want.Write(a)
		want.Write(b)
		tx.Offer(i%2 == 0, virtiotest.R(a), virtiotest.R(b))
	}
	tx.Q.Kick.Signal()
	waitFor(t, func() bool { return out.String() == want.String() })
	if d.Metrics.TxBytes.Load() != uint64(want.Len()) {
		t.Fatalf("tx_bytes %d", d.Metrics.TxBytes.Load())
	}
}

func TestReceive(t *testing.T) {
	d, rx, _, _, _ := setup(t)
	d.Input([]byte("hello, "))
	d.Input([]byte("guest"))
	time.Sleep(10 * time.Millisecond) // no buffers yet: input waits
	_, a := rx.Offer(false, virtiotest.W(8))
	_, b := rx.Offer(false, virtiotest.W(64))
	rx.Q.Kick.Signal()
	var used []virtiotest.Used
	waitFor(t, func() bool { used = append(used, rx.Collect()...); return len(used) == 2 })
	got := string(rx.Read(a[0], int(used[0].Len))) + string(rx.Read(b[0], int(used[1].Len)))
	if got != "hello, guest" {
		t.Fatalf("guest read %q", got)
	}
}

func TestHostile(t *testing.T) {
	_, _, tx, _, resets := setup(t)
	tx.SetAvailIdx(500)
	tx.Q.Kick.Signal()
	select {
	case err := <-resets:
		if !errors.Is(err, virtio.ErrInvalidAvailIdx) {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no NEEDS_RESET")
	}
}

func TestInputBounded(t *testing.T) {
	d, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Input(make([]byte, maxPending+1)); err == nil {
		t.Fatal("unbounded input accepted")
	}
	d.Close()
	if _, err := d.Input([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Input after Close: %v", err)
	}
}
