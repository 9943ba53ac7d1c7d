//go:build linux

package main

import (
	"testing"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/virtiotest"
)

func TestNeedEvent(t *testing.T) {
	for _, c := range []struct {
		event, nw, old uint16
		want           bool
	}{
		{5, 6, 5, true},    // the device waits for entry 5, which is published
		{5, 10, 0, true},   // crossed inside a batch
		{5, 5, 0, false},   // not reached
		{5, 20, 10, false}, // already passed before this publish: no kick
		{0xffff, 2, 0xfffe, true},
	} {
		if got := needEvent(c.event, c.nw, c.old); got != c.want {
			t.Errorf("needEvent(%d, %d, %d) = %v", c.event, c.nw, c.old, got)
		}
	}
}

// TestRing drives a real virtio.Queue with the ring: the device side sees
// the published chains in order, the driver sees what the device used, and
// the notification protocol with EVENT_IDX works both ways.
func TestRing(t *testing.T) {
	const size = 8
	m := virtiotest.NewMemory(t, 1<<20)
	q := virtio.NewQueue(1, size)
	d := virtiotest.NewDriver(t, m, q, size, 0x1000, 0x10000, 0x20000)
	r, err := newRing(d)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint16(size) {
		d.WriteDesc(i, 0x10000+uint64(i)*64, 64, 0, 0)
	}
	if err := q.Start(m, virtio.FeatureRingEventIdx); err != nil {
		t.Fatal(err)
	}
	// The device announces it waits for the next entry.
	if more, err := q.EnableNotifications(); more || err != nil {
		t.Fatalf("EnableNotifications: %v %v", more, err)
	}
	if !r.publish([]uint16{3, 1, 2}) {
		t.Fatal("no kick for the entry the device waits for")
	}
	if r.publish(nil) {
		t.Fatal("kick for nothing")
	}
	if r.publish([]uint16{0}) {
		t.Fatal("kick although the device did not ask again")
	}
	if r.outstanding() != 4 {
		t.Fatalf("outstanding %d", r.outstanding())
	}
	for _, want := range []uint16{3, 1, 2, 0} {
		c, err := q.Pop()
		if err != nil || c == nil || c.Head != want || c.ReadLen != 64 {
			t.Fatalf("Pop: %+v %v, want head %d", c, err, want)
		}
		if err := q.Push(c.Head, uint32(want)*10); err != nil {
			t.Fatal(err)
		}
	}
	// used_event: interrupt wanted once entry 2 is used (the third).
	r.setUsedEvent(2)
	if !q.NeedsNotification() {
		t.Fatal("no notification although used_event was crossed")
	}
	got := r.collect(nil)
	if len(got) != 4 || got[0] != (usedElem{3, 30}) || got[3] != (usedElem{0, 0}) {
		t.Fatalf("collect: %+v", got)
	}
	if r.outstanding() != 0 || len(r.collect(nil)) != 0 || r.skip() != 0 {
		t.Fatal("used entries consumed twice")
	}
	r.setUsedEvent(r.usedSeen + 1) // the second of the next ones
	r.publish([]uint16{4, 5})
	for range 2 {
		c, _ := q.Pop()
		q.Push(c.Head, 0)
	}
	if !q.NeedsNotification() {
		t.Fatal("no notification at used_event")
	}
	if n := r.skip(); n != 2 || r.usedIdx() != r.usedSeen {
		t.Fatalf("skip: %d", n)
	}
	// Wrap around the ring several times.
	for round := range 5 {
		r.publish([]uint16{0, 1, 2, 3, 4, 5, 6, 7})
		for i := range size {
			c, err := q.Pop()
			if err != nil || c == nil || c.Head != uint16(i) {
				t.Fatalf("round %d: Pop %d: %+v %v", round, i, c, err)
			}
			q.Push(c.Head, 0)
		}
		if n := len(r.collect(nil)); n != size {
			t.Fatalf("round %d: collected %d", round, n)
		}
	}
}
