package eventfd

import (
	"testing"
	"time"
)

func TestEventFDAndPoller(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(a.FD(), In, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(b.FD(), In, 2); err != nil {
		t.Fatal(err)
	}
	if r, err := p.Wait(nil, 0); err != nil || len(r) != 0 {
		t.Fatalf("idle Wait = %v, %v", r, err)
	}
	signalled := make(chan struct{})
	go func() {
		defer close(signalled)
		time.Sleep(10 * time.Millisecond)
		b.Signal()
		b.Signal()
	}()
	r, err := p.Wait(nil, 5000)
	if err != nil || len(r) != 1 || r[0].Token != 2 || r[0].Events&In == 0 {
		t.Fatalf("Wait = %v, %v", r, err)
	}
	<-signalled // Wait may return between the two signals
	if n, _ := b.Drain(); n != 2 {
		t.Fatalf("Drain = %d, want 2", n)
	}
	if n, _ := b.Drain(); n != 0 {
		t.Fatalf("second Drain = %d", n)
	}
	if err := p.Remove(b.FD()); err != nil {
		t.Fatal(err)
	}
	b.Signal()
	if r, _ := p.Wait(nil, 0); len(r) != 0 {
		t.Fatalf("removed fd reported: %v", r)
	}
	if err := a.Close(); err != nil || a.Close() != nil {
		t.Fatal("Close not idempotent")
	}
}
