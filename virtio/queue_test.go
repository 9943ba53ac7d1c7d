package virtio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/virtiotest"
	"github.com/govmm/govmm/vmm/mem"
)

const (
	memSize   = 1 << 20
	ringBase  = 0x1000
	dataStart = 0x10000
)

func setup(t *testing.T, size uint16, features uint64) (*virtio.Queue, *virtiotest.Driver) {
	t.Helper()
	m := virtiotest.NewMemory(t, memSize)
	q := virtio.NewQueue(0, 256)
	d := virtiotest.NewDriver(t, m, q, size, ringBase, dataStart, memSize)
	if err := q.Start(m, features|virtio.FeatureVersion1); err != nil {
		t.Fatal(err)
	}
	return q, d
}

func TestPopPush(t *testing.T) {
	for _, indirect := range []bool{false, true} {
		q, d := setup(t, 8, virtio.FeatureRingIndirectDesc)
		if c, err := q.Pop(); c != nil || err != nil {
			t.Fatalf("empty queue: Pop = %v, %v", c, err)
		}
		head, addrs := d.Offer(indirect, virtiotest.R([]byte("hdr")), virtiotest.R([]byte("payload")), virtiotest.W(10), virtiotest.W(6))
		c, err := q.Pop()
		if err != nil || c == nil {
			t.Fatalf("Pop = %v, %v", c, err)
		}
		if c.Head != head || len(c.Readable) != 2 || len(c.Writable) != 2 || c.ReadLen != 10 || c.WriteLen != 16 {
			t.Fatalf("indirect=%v chain %+v", indirect, c)
		}
		if string(c.Readable[0]) != "hdr" || string(c.Readable[1]) != "payload" {
			t.Fatalf("readable %q", c.Readable)
		}
		copy(c.Writable[1], "abcdef")
		if err := q.Push(c.Head, 16); err != nil {
			t.Fatal(err)
		}
		used := d.Collect()
		if len(used) != 1 || used[0] != (virtiotest.Used{Head: head, Len: 16}) {
			t.Fatalf("used %+v", used)
		}
		if got := d.Read(addrs[3], 6); string(got) != "abcdef" {
			t.Fatalf("device write landed as %q", got)
		}
	}
}

// TestWrapAround runs the 16-bit ring indices through their wrap many
// times with a small queue.
func TestWrapAround(t *testing.T) {
	q, d := setup(t, 4, 0)
	for i := 0; i < 70000; i++ {
		payload := []byte{byte(i), byte(i >> 8)}
		d.Offer(false, virtiotest.R(payload))
		c, err := q.Pop()
		if err != nil || c == nil {
			t.Fatalf("round %d: Pop = %v, %v", i, c, err)
		}
		if !bytes.Equal(c.Readable[0], payload) {
			t.Fatalf("round %d: got %v", i, c.Readable[0])
		}
		if err := q.Push(c.Head, 0); err != nil {
			t.Fatal(err)
		}
		if u := d.Collect(); len(u) != 1 {
			t.Fatalf("round %d: used %v", i, u)
		}
		d.FreeBuffers()
	}
}

// TestUnpop gives a chain back and gets the same one again.
func TestUnpop(t *testing.T) {
	q, d := setup(t, 8, 0)
	d.Offer(false, virtiotest.R([]byte("first")))
	d.Offer(false, virtiotest.R([]byte("second")))
	c, _ := q.Pop()
	if string(c.Readable[0]) != "first" {
		t.Fatal(c)
	}
	q.Unpop()
	c, _ = q.Pop()
	if string(c.Readable[0]) != "first" {
		t.Fatalf("after Unpop got %q", c.Readable[0])
	}
	c, _ = q.Pop()
	if string(c.Readable[0]) != "second" {
		t.Fatalf("then got %q", c.Readable[0])
	}
}

func TestNotificationsWithoutEventIdx(t *testing.T) {
	q, d := setup(t, 8, 0)
	d.Offer(false, virtiotest.R([]byte("x")))
	c, _ := q.Pop()
	q.Push(c.Head, 0)
	if !q.NeedsNotification() {
		t.Fatal("no notification for a used buffer")
	}
	if q.NeedsNotification() {
		t.Fatal("notification without new used buffers")
	}
	d.SetNoInterrupt(true)
	d.Offer(false, virtiotest.R([]byte("y")))
	c, _ = q.Pop()
	q.Push(c.Head, 0)
	if q.NeedsNotification() {
		t.Fatal("notified despite VIRTQ_AVAIL_F_NO_INTERRUPT")
	}

	q.DisableNotifications()
	if d.UsedFlags()&1 == 0 {
		t.Fatal("NO_NOTIFY not set")
	}
	// The driver adds a buffer while notifications are off: re-enabling
	// must report it (the vhost-net lost-kick bug).
	d.Offer(false, virtiotest.R([]byte("z")))
	more, err := q.EnableNotifications()
	if err != nil || !more {
		t.Fatalf("EnableNotifications = %v, %v; want a pending buffer", more, err)
	}
	if d.UsedFlags()&1 != 0 {
		t.Fatal("NO_NOTIFY still set")
	}
}

func TestEventIdx(t *testing.T) {
	q, d := setup(t, 8, virtio.FeatureRingEventIdx)
	d.SetUsedEvent(1) // notify when used idx passes 1
	for i := 0; i < 3; i++ {
		d.Offer(false, virtiotest.R([]byte{byte(i)}))
	}
	c, _ := q.Pop()
	q.Push(c.Head, 0) // used idx 1
	if q.NeedsNotification() {
		t.Fatal("notified at used idx 1, driver asked after 1")
	}
	c, _ = q.Pop()
	q.Push(c.Head, 0) // used idx 2: crosses used_event
	if !q.NeedsNotification() {
		t.Fatal("not notified when used idx crossed used_event")
	}
	c, _ = q.Pop()
	q.Push(c.Head, 0)
	if q.NeedsNotification() {
		t.Fatal("notified again without a new used_event")
	}
	// avail_event publication and the re-check.
	d.Offer(false, virtiotest.R([]byte("late")))
	more, err := q.EnableNotifications()
	if err != nil || !more {
		t.Fatalf("EnableNotifications = %v, %v", more, err)
	}
	if ev := d.AvailEvent(); ev != q.NextAvail() {
		t.Fatalf("avail_event %d, device at %d", ev, q.NextAvail())
	}
}

// hostile runs one malformed chain and expects Pop to fail with want and
// the queue to stay broken.
func hostile(t *testing.T, name string, want error, features uint64, build func(d *virtiotest.Driver)) {
	t.Run(name, func(t *testing.T) {
		q, d := setup(t, 8, features)
		build(d)
		c, err := q.Pop()
		if !errors.Is(err, want) || c != nil {
			t.Fatalf("Pop = %v, %v; want %v", c, err, want)
		}
		var qe *virtio.QueueError
		if !errors.As(err, &qe) || qe.Queue != 0 {
			t.Fatalf("error %v is not a *QueueError", err)
		}
		if !errors.Is(q.Broken(), want) {
			t.Fatalf("queue not broken: %v", q.Broken())
		}
		if _, err := q.Pop(); err == nil {
			t.Fatal("a broken queue popped again")
		}
		if err := q.Push(0, 0); err == nil {
			t.Fatal("a broken queue pushed")
		}
	})
}

func TestHostileRings(t *testing.T) {
	hostile(t, "loop", virtio.ErrChainLoop, 0, func(d *virtiotest.Driver) {
		d.WriteDesc(0, dataStart, 8, virtiotest.FNext, 1)
		d.WriteDesc(1, dataStart, 8, virtiotest.FNext, 0)
		d.Publish(0)
	})
	hostile(t, "self loop", virtio.ErrChainLoop, 0, func(d *virtiotest.Driver) {
		d.WriteDesc(3, dataStart, 8, virtiotest.FNext, 3)
		d.Publish(3)
	})
	hostile(t, "address past RAM", virtio.ErrBadBuffer, 0, func(d *virtiotest.Driver) {
		d.WriteDesc(0, memSize, 8, 0, 0)
		d.Publish(0)
	})
	hostile(t, "buffer straddling the end of RAM", virtio.ErrBadBuffer, 0, func(d *virtiotest.Driver) {
		d.WriteDesc(0, memSize-4, 8, 0, 0)
		d.Publish(0)
	})
	hostile(t, "huge length", virtio.ErrBadBuffer, 0, func(d *virtiotest.Driver) {
		d.WriteDesc(0, dataStart, 0xffffffff, virtiotest.FWrite, 0)
		d.Publish(0)
	})
	hostile(t, "address overflow", virtio.ErrBadBuffer, 0, func(d *virtiotest.Driver) {
		d.WriteDesc(0, 0xfffffffffffffff0, 0x20, 0, 0)
		d.Publish(0)
	})
	hostile(t, "avail idx jump", virtio.ErrInvalidAvailIdx, 0, func(d *virtiotest.Driver) {
		d.SetAvailIdx(9)
	})
	hostile(t, "avail idx backwards", virtio.ErrInvalidAvailIdx, 0, func(d *virtiotest.Driver) {
		d.SetAvailIdx(0xffff)
	})
	hostile(t, "zero-length chain", virtio.ErrBadDescriptor, 0, func(d *virtiotest.Driver) {
		d.WriteDesc(0, dataStart, 0, 0, 0)
		d.Publish(0)
	})
	hostile(t, "head out of range", virtio.ErrBadDescriptor, 0, func(d *virtiotest.Driver) {
		d.Publish(8)
	})
	hostile(t, "next out of range", virtio.ErrBadDescriptor, 0, func(d *virtiotest.Driver) {
		d.WriteDesc(0, dataStart, 8, virtiotest.FNext, 200)
		d.Publish(0)
	})
	hostile(t, "readable after writable", virtio.ErrWriteBeforeRead, 0, func(d *virtiotest.Driver) {
		d.WriteDesc(0, dataStart, 8, virtiotest.FWrite|virtiotest.FNext, 1)
		d.WriteDesc(1, dataStart+8, 8, 0, 0)
		d.Publish(0)
	})
	hostile(t, "indirect not negotiated", virtio.ErrBadIndirect, 0, func(d *virtiotest.Driver) {
		d.WriteDesc(0, dataStart, 16, virtiotest.FIndirect, 0)
		d.Publish(0)
	})
	hostile(t, "indirect with next", virtio.ErrBadIndirect, virtio.FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
		d.WriteDesc(0, dataStart, 16, virtiotest.FIndirect|virtiotest.FNext, 1)
		d.Publish(0)
	})
	hostile(t, "indirect length not a multiple of 16", virtio.ErrBadIndirect, virtio.FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
		d.WriteDesc(0, dataStart, 20, virtiotest.FIndirect, 0)
		d.Publish(0)
	})
	hostile(t, "indirect table past RAM", virtio.ErrBadIndirect, virtio.FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
		d.WriteDesc(0, memSize-16, 32, virtiotest.FIndirect, 0)
		d.Publish(0)
	})
	hostile(t, "nested indirect", virtio.ErrBadIndirect, virtio.FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], dataStart+0x100)
		binary.LittleEndian.PutUint32(b[8:], 16)
		binary.LittleEndian.PutUint16(b[12:], virtiotest.FIndirect)
		d.Mem.WriteAt(b[:], dataStart)
		d.WriteDesc(0, dataStart, 16, virtiotest.FIndirect, 0)
		d.Publish(0)
	})
	hostile(t, "indirect loop", virtio.ErrChainLoop, virtio.FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
		var b [32]byte
		for i := 0; i < 2; i++ {
			binary.LittleEndian.PutUint64(b[16*i:], dataStart+0x200)
			binary.LittleEndian.PutUint32(b[16*i+8:], 4)
			binary.LittleEndian.PutUint16(b[16*i+12:], virtiotest.FNext)
			binary.LittleEndian.PutUint16(b[16*i+14:], uint16(1-i))
		}
		d.Mem.WriteAt(b[:], dataStart)
		d.WriteDesc(0, dataStart, 32, virtiotest.FIndirect, 0)
		d.Publish(0)
	})
}

func TestValidate(t *testing.T) {
	m := virtiotest.NewMemory(t, memSize)
	for _, c := range []struct {
		name              string
		size              uint16
		desc, avail, used mem.GPA
	}{
		{"zero size", 0, 0x1000, 0x2000, 0x3000},
		{"not a power of two", 6, 0x1000, 0x2000, 0x3000},
		{"above maximum", 512, 0x1000, 0x2000, 0x3000},
		{"misaligned desc", 8, 0x1008, 0x2000, 0x3000},
		{"misaligned avail", 8, 0x1000, 0x2001, 0x3000},
		{"misaligned used", 8, 0x1000, 0x2000, 0x3002},
		{"desc past RAM", 8, memSize - 16, 0x2000, 0x3000},
		{"used past RAM", 8, 0x1000, 0x2000, memSize - 8},
		{"wrapping address", 8, 0xfffffffffffffff0, 0x2000, 0x3000},
	} {
		q := virtio.NewQueue(1, 256)
		q.Size, q.Desc, q.Avail, q.Used = c.size, c.desc, c.avail, c.used
		if err := q.Start(m, virtio.FeatureRingEventIdx); !errors.Is(err, virtio.ErrBadQueueConfig) {
			t.Errorf("%s: Start = %v, want ErrBadQueueConfig", c.name, err)
		}
	}
}

// FuzzChainWalk throws arbitrary descriptor tables, available rings and
// indices at Pop: it must never panic, and whatever it accepts must lie
// in guest memory and be no longer than the queue allows.
func FuzzChainWalk(f *testing.F) {
	f.Add(make([]byte, 16*8), []byte{0, 0}, uint16(1), true)
	seed := make([]byte, 16*8)
	binary.LittleEndian.PutUint64(seed, dataStart)
	binary.LittleEndian.PutUint32(seed[8:], 64)
	binary.LittleEndian.PutUint16(seed[12:], virtiotest.FNext)
	binary.LittleEndian.PutUint16(seed[14:], 1)
	binary.LittleEndian.PutUint64(seed[16:], dataStart)
	binary.LittleEndian.PutUint32(seed[24:], 64)
	binary.LittleEndian.PutUint16(seed[28:], virtiotest.FIndirect)
	f.Add(seed, []byte{0, 0, 1, 0}, uint16(2), true)
	f.Fuzz(func(t *testing.T, table, ring []byte, availIdx uint16, indirect bool) {
		m := virtiotest.NewMemory(t, 256<<10)
		q := virtio.NewQueue(0, 8)
		d := virtiotest.NewDriver(t, m, q, 8, 0x1000, 0x2000, 256<<10)
		features := uint64(virtio.FeatureRingEventIdx)
		if indirect {
			features |= virtio.FeatureRingIndirectDesc
		}
		if err := q.Start(m, features); err != nil {
			t.Fatal(err)
		}
		if len(table) > 16*8 {
			table = table[:16*8]
		}
		m.WriteAt(table, int64(d.DescGPA))
		// The data area may also hold indirect tables: reuse the bytes.
		m.WriteAt(table, dataStart&(256<<10-1))
		if len(ring) > 16 {
			ring = ring[:16]
		}
		m.WriteAt(ring, int64(d.AvailGPA+4))
		d.SetAvailIdx(availIdx)
		for i := 0; i < 10; i++ {
			c, err := q.Pop()
			if err != nil || c == nil {
				return
			}
			total := len(c.Readable) + len(c.Writable)
			if total == 0 || total > 8*32768 {
				t.Fatalf("chain of %d buffers", total)
			}
			for _, b := range append(c.Readable, c.Writable...) {
				if len(b) == 0 {
					t.Fatal("empty buffer in chain")
				}
			}
			q.Push(c.Head, uint32(c.WriteLen))
			q.NeedsNotification()
		}
	})
}
