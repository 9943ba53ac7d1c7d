package virtio

import (
	"encoding/binary"
	"fmt"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/vmm/mem"
)

// Split virtqueue layout (virtio 1.2, 2.7).
const (
	descSize = 16 // struct virtq_desc: addr u64, len u32, flags u16, next u16

	descFNext     = 1
	descFWrite    = 2
	descFIndirect = 4

	availFNoInterrupt = 1 // avail.flags: the driver asks for no used-buffer notifications
	usedFNoNotify     = 1 // used.flags: the device asks for no available-buffer notifications

	// MaxQueueSize is the largest split queue (virtio 1.2, 2.7: 32768).
	MaxQueueSize = 32768
)

// Queue is one split virtqueue: the configuration the driver programs
// through the transport, and the device's position in it.
//
// The transport owns the configuration fields until the device is
// activated; afterwards exactly one device goroutine owns the queue.
type Queue struct {
	Index   int
	MaxSize uint16

	// Driver-programmed configuration (virtio 1.2, 4.1.4.3 / 4.2.2).
	Size  uint16
	Desc  mem.GPA
	Avail mem.GPA
	Used  mem.GPA
	Ready bool

	// Kick is signalled when the driver notifies this queue: by KVM
	// through an ioeventfd, or by the transport on a notify register
	// write. The device waits on it.
	Kick *eventfd.EventFD

	// Runtime state, set by Start.
	mem       *mem.Memory
	descTab   []byte // host view of the descriptor table
	availRing []byte // host view of avail ring entries and used_event
	usedRing  []byte // host view of used ring entries and avail_event
	eventIdx  bool
	indirect  bool
	nextAvail uint16 // next avail ring slot to take
	nextUsed  uint16 // used idx to publish next
	// signalled is the used idx at the last notification decision, for
	// EVENT_IDX (virtio 1.2, 2.7.10, vring_need_event).
	signalled uint16
	noNotify  bool // used.flags has NO_NOTIFY set
	broken    error

	chain Chain // reused by Pop
}

// NewQueue returns a queue with the given index and maximum size.
func NewQueue(index int, maxSize uint16) *Queue {
	return &Queue{Index: index, MaxSize: maxSize, Size: maxSize}
}

// ResetConfig returns the driver-programmed fields to their reset values.
func (q *Queue) ResetConfig() {
	q.Size, q.Desc, q.Avail, q.Used, q.Ready = q.MaxSize, 0, 0, 0, false
	q.mem, q.descTab, q.availRing, q.usedRing = nil, nil, nil, nil
	q.nextAvail, q.nextUsed, q.signalled, q.noNotify, q.broken = 0, 0, 0, false, nil
}

func (q *Queue) errf(err error, format string, args ...any) error {
	return &QueueError{Queue: q.Index, Err: err, Detail: fmt.Sprintf(format, args...)}
}

// Validate checks the driver's configuration against the spec and guest
// memory: a power-of-two size no larger than the maximum, aligned rings
// entirely in RAM (virtio 1.2, 2.7: alignment 16, 2 and 4).
func (q *Queue) Validate(m *mem.Memory, eventIdx bool) error {
	if q.Size == 0 || q.Size > q.MaxSize || q.Size&(q.Size-1) != 0 {
		return q.errf(ErrBadQueueConfig, "size %d (maximum %d, a power of two)", q.Size, q.MaxSize)
	}
	if q.Desc%16 != 0 || q.Avail%2 != 0 || q.Used%4 != 0 {
		return q.errf(ErrBadQueueConfig, "misaligned rings desc %#x avail %#x used %#x", uint64(q.Desc), uint64(q.Avail), uint64(q.Used))
	}
	n := uint64(q.Size)
	extra := uint64(0)
	if eventIdx {
		extra = 2
	}
	for _, r := range []struct {
		name string
		gpa  mem.GPA
		len  uint64
	}{
		{"descriptor table", q.Desc, descSize * n},
		{"available ring", q.Avail, 4 + 2*n + extra},
		{"used ring", q.Used, 4 + 8*n + extra},
	} {
		if !m.Contains(r.gpa, r.len) {
			return q.errf(ErrBadQueueConfig, "%s %#x+%#x is not in guest RAM", r.name, uint64(r.gpa), r.len)
		}
	}
	return nil
}

// Start validates the queue and makes it usable by the device with the
// negotiated features. The ring indices start where the rings say (zero
// after a reset).
func (q *Queue) Start(m *mem.Memory, features uint64) error {
	q.eventIdx = features&FeatureRingEventIdx != 0
	q.indirect = features&FeatureRingIndirectDesc != 0
	if err := q.Validate(m, q.eventIdx); err != nil {
		return err
	}
	n := uint64(q.Size)
	ext := uint64(0) // used_event and avail_event exist with EVENT_IDX
	if q.eventIdx {
		ext = 2
	}
	var err error
	if q.descTab, err = m.Slice(q.Desc, descSize*n); err != nil {
		return q.errf(ErrBadQueueConfig, "%v", err)
	}
	if q.availRing, err = m.Slice(q.Avail+4, 2*n+ext); err != nil {
		return q.errf(ErrBadQueueConfig, "%v", err)
	}
	if q.usedRing, err = m.Slice(q.Used+4, 8*n+ext); err != nil {
		return q.errf(ErrBadQueueConfig, "%v", err)
	}
	q.mem = m
	used, err := m.LoadUint16(q.Used + 2)
	if err != nil {
		return q.errf(ErrBadQueueConfig, "%v", err)
	}
	q.nextAvail, q.nextUsed, q.signalled = used, used, used
	q.noNotify, q.broken = false, nil
	if cap(q.chain.Readable) == 0 {
		q.chain.Readable = make([][]byte, 0, 16)
		q.chain.Writable = make([][]byte, 0, 16)
	}
	return nil
}

// Broken returns the protocol violation that stopped the queue, if any.
func (q *Queue) Broken() error { return q.broken }

// Fail stops the queue for a violation the device found itself (a chain
// that breaks the device type's rules): Pop and Push then fail until reset.
func (q *Queue) Fail(err error) error {
	return q.fail(&QueueError{Queue: q.Index, Err: err})
}

func (q *Queue) fail(err error) error {
	if q.broken == nil {
		q.broken = err
	}
	return err
}

// Chain is one descriptor chain taken from the available ring: the
// device-readable buffers, then the device-writable ones, as host slices
// into guest memory (checked against RAM when the chain was taken).
//
// The slices alias guest memory and are valid until the chain is put on
// the used ring. The Chain returned by Pop is reused by the next Pop.
type Chain struct {
	Head     uint16
	Readable [][]byte
	Writable [][]byte
	ReadLen  uint64 // total readable bytes
	WriteLen uint64 // total writable bytes
}

// Clone copies the chain's bookkeeping (not the guest bytes), for a device
// that keeps a chain across Pop calls (a parked frame).
func (c *Chain) Clone() Chain {
	return Chain{
		Head:     c.Head,
		Readable: append([][]byte(nil), c.Readable...),
		Writable: append([][]byte(nil), c.Writable...),
		ReadLen:  c.ReadLen,
		WriteLen: c.WriteLen,
	}
}

// Pending reports how many chains the driver has made available that the
// device has not taken. It fails (and breaks the queue) if the driver's
// index ran more than a queue's worth ahead.
func (q *Queue) Pending() (uint16, error) {
	if q.broken != nil {
		return 0, q.broken
	}
	if q.mem == nil {
		return 0, q.fail(q.errf(ErrQueueNotReady, ""))
	}
	idx, err := q.mem.LoadUint16(q.Avail + 2)
	if err != nil {
		return 0, q.fail(q.errf(ErrBadQueueConfig, "%v", err))
	}
	n := idx - q.nextAvail
	if n > q.Size {
		return 0, q.fail(q.errf(ErrInvalidAvailIdx, "avail idx %d, device at %d, size %d", idx, q.nextAvail, q.Size))
	}
	return n, nil
}

// Pop takes the next available chain. It returns nil, nil when the ring is
// empty. Any protocol violation breaks the queue for good (until reset);
// the caller marks the device DEVICE_NEEDS_RESET.
func (q *Queue) Pop() (*Chain, error) {
	n, err := q.Pending()
	if err != nil || n == 0 {
		return nil, err
	}
	slot := int(q.nextAvail & (q.Size - 1))
	head := binary.LittleEndian.Uint16(q.availRing[2*slot:])
	c := &q.chain
	if err := q.walk(c, head); err != nil {
		return nil, q.fail(err)
	}
	q.nextAvail++
	return c, nil
}

// Unpop gives back the chain Pop returned last, so the next Pop returns it
// again. A device that cannot process a chain now (the backend would
// block) may use it instead of keeping the chain itself.
func (q *Queue) Unpop() { q.nextAvail-- }

// walk resolves the chain starting at head into c.
func (q *Queue) walk(c *Chain, head uint16) error {
	c.Head = head
	c.Readable, c.Writable = c.Readable[:0], c.Writable[:0]
	c.ReadLen, c.WriteLen = 0, 0
	if head >= q.Size {
		return q.errf(ErrBadDescriptor, "head %d, queue size %d", head, q.Size)
	}
	table := q.descTab
	count := uint32(q.Size)
	idx := head
	seen := uint32(0)
	indirect := false
	for {
		seen++
		if seen > count {
			return q.errf(ErrChainLoop, "chain from head %d", head)
		}
		d := table[int(idx)*descSize:]
		addr := binary.LittleEndian.Uint64(d)
		length := binary.LittleEndian.Uint32(d[8:])
		flags := binary.LittleEndian.Uint16(d[12:])
		next := binary.LittleEndian.Uint16(d[14:])

		if flags&descFIndirect != 0 {
			// virtio 1.2, 2.7.5.3: only in the main table, not together
			// with NEXT, a whole number of descriptors.
			switch {
			case !q.indirect:
				return q.errf(ErrBadIndirect, "indirect descriptor %d without VIRTIO_F_INDIRECT_DESC", idx)
			case indirect:
				return q.errf(ErrBadIndirect, "nested indirect descriptor")
			case flags&descFNext != 0:
				return q.errf(ErrBadIndirect, "indirect descriptor %d also has NEXT", idx)
			case length == 0 || length%descSize != 0 || length/descSize > MaxQueueSize:
				return q.errf(ErrBadIndirect, "indirect table length %d", length)
			}
			t, err := q.mem.Slice(mem.GPA(addr), uint64(length))
			if err != nil {
				return q.errf(ErrBadIndirect, "table %#x+%#x: %v", addr, length, err)
			}
			table, count, idx, seen, indirect = t, length/descSize, 0, 0, true
			continue
		}
		if length > 0 {
			slice := q.mem.Slice
			if flags&descFWrite != 0 {
				slice = q.mem.SliceWritable
			}
			b, err := slice(mem.GPA(addr), uint64(length))
			if err != nil {
				return q.errf(ErrBadBuffer, "descriptor %d: %#x+%#x", idx, addr, length)
			}
			if flags&descFWrite != 0 {
				c.Writable = append(c.Writable, b)
				c.WriteLen += uint64(length)
			} else {
				// virtio 1.2, 2.7.4.2: readable descriptors come first.
				if len(c.Writable) > 0 {
					return q.errf(ErrWriteBeforeRead, "descriptor %d", idx)
				}
				c.Readable = append(c.Readable, b)
				c.ReadLen += uint64(length)
			}
		}
		if flags&descFNext == 0 {
			break
		}
		if uint32(next) >= count {
			return q.errf(ErrBadDescriptor, "next %d, table of %d", next, count)
		}
		idx = next
	}
	if c.ReadLen == 0 && c.WriteLen == 0 {
		return q.errf(ErrBadDescriptor, "empty chain at head %d", head)
	}
	return nil
}

// Push puts a chain on the used ring with the number of bytes the device
// wrote into it, and publishes the new used index (release ordering).
func (q *Queue) Push(head uint16, written uint32) error {
	if q.broken != nil {
		return q.broken
	}
	if q.mem == nil {
		return q.fail(q.errf(ErrQueueNotReady, ""))
	}
	slot := int(q.nextUsed & (q.Size - 1))
	e := q.usedRing[8*slot:]
	binary.LittleEndian.PutUint32(e, uint32(head))
	binary.LittleEndian.PutUint32(e[4:], written)
	q.nextUsed++
	if err := q.mem.StoreUint16(q.Used+2, q.nextUsed); err != nil {
		return q.fail(q.errf(ErrBadQueueConfig, "%v", err))
	}
	return nil
}

// NeedsNotification decides whether the used buffers pushed since the last
// call warrant a notification, honouring VIRTQ_AVAIL_F_NO_INTERRUPT or,
// with EVENT_IDX, the driver's used_event (virtio 1.2, 2.7.7 and 2.7.10).
func (q *Queue) NeedsNotification() bool {
	if q.mem == nil || q.broken != nil {
		return false
	}
	old, nw := q.signalled, q.nextUsed
	q.signalled = nw
	if old == nw {
		return false
	}
	if q.eventIdx {
		event := binary.LittleEndian.Uint16(q.availRing[2*int(q.Size):])
		// vring_need_event: notify if event lies in [old, new).
		return nw-event-1 < nw-old
	}
	flags, err := q.mem.LoadUint16(q.Avail)
	return err != nil || flags&availFNoInterrupt == 0
}

// DisableNotifications asks the driver not to notify this queue: sets
// VIRTQ_USED_F_NO_NOTIFY, or with EVENT_IDX leaves avail_event behind so
// the driver's next notifications are suppressed.
func (q *Queue) DisableNotifications() {
	if q.mem == nil || q.eventIdx || q.noNotify {
		return
	}
	q.noNotify = true
	q.mem.StoreUint16(q.Used, usedFNoNotify)
}

// EnableNotifications asks the driver to notify this queue again and
// reports whether buffers are already waiting. A driver that made buffers
// available while notifications were off did not notify, so the caller
// must process them now: vhost-net lost transmits for years by not
// re-checking (LESSONS.md). StoreUint16 is a full barrier, ordering the
// publication before the re-read, as the spec requires.
func (q *Queue) EnableNotifications() (bool, error) {
	if q.mem == nil {
		return false, nil
	}
	if q.eventIdx {
		if err := q.mem.StoreUint16(q.availEventAddr(), q.nextAvail); err != nil {
			return false, q.fail(q.errf(ErrBadQueueConfig, "%v", err))
		}
	} else if q.noNotify {
		q.noNotify = false
		if err := q.mem.StoreUint16(q.Used, 0); err != nil {
			return false, q.fail(q.errf(ErrBadQueueConfig, "%v", err))
		}
	}
	n, err := q.Pending()
	return n > 0, err
}

// availEventAddr is where the device publishes avail_event: the u16 after
// the used ring's entries.
func (q *Queue) availEventAddr() mem.GPA { return q.Used + 4 + 8*mem.GPA(q.Size) }

// NextAvail is the device's position in the available ring (for tests
// and diagnostics).
func (q *Queue) NextAvail() uint16 { return q.nextAvail }
