//go:build linux

package main

import (
	"encoding/binary"
	"fmt"

	"github.com/govmm/govmm/virtio/virtiotest"
	"github.com/govmm/govmm/vmm/mem"
)

// ring is the benchmark's driver side of one split virtqueue, built to cost
// the device as little as possible: virtiotest.Driver lays the queue out and
// writes the descriptors once; afterwards a round only writes avail ring
// entries and the avail index (one release store per batch, not per entry)
// and reads used entries. Nothing here allocates.
//
// With VIRTIO_F_EVENT_IDX, which Linux negotiates, the driver kicks only
// when the device's avail_event asks for it (vring_need_event) and sets
// used_event to say when it wants an interrupt (virtio 1.2, 2.7.10).
type ring struct {
	m        *mem.Memory
	size     uint16
	descGPA  mem.GPA
	availGPA mem.GPA
	usedGPA  mem.GPA
	avail    []byte // avail ring entries, then used_event
	used     []byte // used ring entries, then avail_event
	availIdx uint16 // the avail idx published last
	usedSeen uint16 // the used entries consumed so far
}

// newRing wraps d, a driver whose queue the device has not started yet.
func newRing(d *virtiotest.Driver) (*ring, error) {
	n := uint64(d.Size)
	if n == 0 || n&(n-1) != 0 {
		return nil, fmt.Errorf("queue size %d is not a power of two", n)
	}
	avail, err := d.Mem.Slice(d.AvailGPA+4, 2*n+2)
	if err != nil {
		return nil, err
	}
	used, err := d.Mem.Slice(d.UsedGPA+4, 8*n+2)
	if err != nil {
		return nil, err
	}
	return &ring{m: d.Mem, size: d.Size, descGPA: d.DescGPA, availGPA: d.AvailGPA, usedGPA: d.UsedGPA, avail: avail, used: used}, nil
}

// publish makes heads available with a single store of the avail index,
// which orders the entries before it (release; the CAS under StoreUint16
// is also a full barrier, ordering it before the read of avail_event). It
// reports whether the device asked to be kicked for them.
func (r *ring) publish(heads []uint16) (kick bool) {
	if len(heads) == 0 {
		return false
	}
	old := r.availIdx
	mask := r.size - 1
	for _, h := range heads {
		binary.LittleEndian.PutUint16(r.avail[2*int(r.availIdx&mask):], h)
		r.availIdx++
	}
	r.store16(r.availGPA+2, r.availIdx)
	event := r.load16(r.usedGPA + 4 + 8*mem.GPA(r.size))
	return needEvent(event, r.availIdx, old)
}

// needEvent is vring_need_event: whether moving an index from old to nw
// crosses event.
func needEvent(event, nw, old uint16) bool { return nw-event-1 < nw-old }

// setUsedEvent asks for an interrupt once the used index passes v.
func (r *ring) setUsedEvent(v uint16) { r.store16(r.availGPA+4+2*mem.GPA(r.size), v) }

// usedIdx reads the device's used index (acquire).
func (r *ring) usedIdx() uint16 { return r.load16(r.usedGPA + 2) }

// outstanding is how many published chains the device has not used yet, as
// far as the driver has consumed the used ring.
func (r *ring) outstanding() uint16 { return r.availIdx - r.usedSeen }

// usedElem is one used ring entry (struct virtq_used_elem).
type usedElem struct {
	head    uint16
	written uint32
}

// collect consumes the used entries up to the device's used index and
// appends them to dst.
func (r *ring) collect(dst []usedElem) []usedElem {
	idx := r.usedIdx()
	mask := r.size - 1
	for ; r.usedSeen != idx; r.usedSeen++ {
		e := r.used[8*int(r.usedSeen&mask):]
		dst = append(dst, usedElem{head: uint16(binary.LittleEndian.Uint32(e)), written: binary.LittleEndian.Uint32(e[4:])})
	}
	return dst
}

// skip consumes the used entries up to the device's used index without
// reading them and returns how many there were.
func (r *ring) skip() int {
	idx := r.usedIdx()
	n := int(idx - r.usedSeen)
	r.usedSeen = idx
	return n
}

func (r *ring) load16(gpa mem.GPA) uint16 {
	v, err := r.m.LoadUint16(gpa)
	if err != nil {
		panic(err) // the ring was checked at newRing: cannot happen
	}
	return v
}

func (r *ring) store16(gpa mem.GPA, v uint16) {
	if err := r.m.StoreUint16(gpa, v); err != nil {
		panic(err)
	}
}
