// Package virtiotest is a virtio driver written in Go over a guest-memory
// buffer, for testing devices and queues without a guest: it lays out
// split virtqueues, offers buffers (direct and indirect), reads the used
// ring, and can also write hostile descriptors on purpose.
package virtiotest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/vmm/mem"
)

// Descriptor flags (virtio 1.2, 2.7.5).
const (
	FNext     = 1
	FWrite    = 2
	FIndirect = 4
)

// Driver drives one queue.
type Driver struct {
	t                 testing.TB
	Mem               *mem.Memory
	Q                 *virtio.Queue
	Size              uint16
	DescGPA, AvailGPA mem.GPA
	UsedGPA           mem.GPA
	dataStart         mem.GPA
	data              mem.GPA // bump allocator for buffers and indirect tables
	dataEnd           mem.GPA
	availIdx          uint16
	usedSeen          uint16
	free              []uint16
	inflight          map[uint16]int // head -> descriptors it holds
}

// NewMemory maps size bytes of guest RAM at GPA 0 for a test.
func NewMemory(t testing.TB, size uint64) *mem.Memory {
	t.Helper()
	m, err := mem.New([]mem.Spec{{GPA: 0, Size: size}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// NewDriver lays out a queue of size entries at base (rings) and uses
// [dataStart, dataEnd) for buffers. It programs q's configuration as a
// driver would through a transport and marks it ready.
func NewDriver(t testing.TB, m *mem.Memory, q *virtio.Queue, size uint16, base, dataStart, dataEnd mem.GPA) *Driver {
	d := &Driver{t: t, Mem: m, Q: q, Size: size, dataStart: dataStart, data: dataStart, dataEnd: dataEnd, inflight: map[uint16]int{}}
	d.DescGPA = base
	d.AvailGPA = base + mem.GPA(16*int(size))
	d.UsedGPA = (d.AvailGPA + mem.GPA(6+2*int(size)) + 3) &^ 3
	for i := uint16(0); i < size; i++ {
		d.free = append(d.free, i)
	}
	q.Size, q.Desc, q.Avail, q.Used, q.Ready = size, d.DescGPA, d.AvailGPA, d.UsedGPA, true
	return d
}

func (d *Driver) put16(gpa mem.GPA, v uint16) {
	if err := d.Mem.StoreUint16(gpa, v); err != nil {
		d.t.Fatalf("virtiotest: store %#x: %v", uint64(gpa), err)
	}
}

func (d *Driver) get16(gpa mem.GPA) uint16 {
	v, err := d.Mem.LoadUint16(gpa)
	if err != nil {
		d.t.Fatalf("virtiotest: load %#x: %v", uint64(gpa), err)
	}
	return v
}

// Alloc reserves n bytes of buffer space, 16-byte aligned.
func (d *Driver) Alloc(n int) mem.GPA {
	g := (d.data + 15) &^ 15
	if g+mem.GPA(n) > d.dataEnd {
		d.t.Fatalf("virtiotest: out of buffer space")
	}
	d.data = g + mem.GPA(n)
	return g
}

// FreeBuffers makes all buffer space available again; call it only when
// the device holds no buffer.
func (d *Driver) FreeBuffers() { d.data = d.dataStart }

// WriteDesc writes raw descriptor i of the main table: hostile tests use
// it to build any chain they like.
func (d *Driver) WriteDesc(i uint16, addr uint64, length uint32, flags, next uint16) {
	d.writeDescAt(d.DescGPA+mem.GPA(16*int(i)), addr, length, flags, next)
}

func (d *Driver) writeDescAt(gpa mem.GPA, addr uint64, length uint32, flags, next uint16) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], length)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
	if _, err := d.Mem.WriteAt(b[:], int64(gpa)); err != nil {
		d.t.Fatalf("virtiotest: write descriptor: %v", err)
	}
}

// Publish puts head in the next available slot and advances avail idx.
func (d *Driver) Publish(head uint16) {
	slot := d.availIdx % d.Size
	d.put16(d.AvailGPA+4+mem.GPA(2*int(slot)), head)
	d.availIdx++
	d.put16(d.AvailGPA+2, d.availIdx)
}

// SetAvailIdx writes avail idx directly (hostile tests).
func (d *Driver) SetAvailIdx(v uint16) { d.availIdx = v; d.put16(d.AvailGPA+2, v) }

// Buffer is one buffer of a chain the driver offers.
type Buffer struct {
	Data     []byte // contents of a device-readable buffer
	WriteLen int    // size of a device-writable buffer (Data nil)
	// Fill, when nonzero, is written over a device-writable buffer before
	// the chain is published, so a test can tell bytes the device wrote
	// from bytes it left alone.
	Fill byte
}

// R and W make readable and writable buffers.
func R(b []byte) Buffer { return Buffer{Data: b} }
func W(n int) Buffer    { return Buffer{WriteLen: n} }

// Offer places bufs in fresh memory, chains them (indirect: through an
// indirect table) and publishes the chain. It returns the head index and
// the guest addresses of the buffers.
func (d *Driver) Offer(indirect bool, bufs ...Buffer) (uint16, []mem.GPA) {
	addrs := make([]mem.GPA, len(bufs))
	for i, b := range bufs {
		n := len(b.Data)
		if b.Data == nil {
			n = b.WriteLen
		}
		addrs[i] = d.Alloc(n)
		switch {
		case b.Data != nil:
			d.Mem.WriteAt(b.Data, int64(addrs[i]))
		case b.Fill != 0:
			d.Mem.WriteAt(bytes.Repeat([]byte{b.Fill}, n), int64(addrs[i]))
		}
	}
	flagsOf := func(i int) (uint16, uint32) {
		if bufs[i].Data == nil {
			return FWrite, uint32(bufs[i].WriteLen)
		}
		return 0, uint32(len(bufs[i].Data))
	}
	if indirect {
		table := d.Alloc(16 * len(bufs))
		for i := range bufs {
			f, l := flagsOf(i)
			if i+1 < len(bufs) {
				f |= FNext
			}
			d.writeDescAt(table+mem.GPA(16*i), uint64(addrs[i]), l, f, uint16(i+1))
		}
		head := d.take(1)[0]
		d.WriteDesc(head, uint64(table), uint32(16*len(bufs)), FIndirect, 0)
		d.Publish(head)
		return head, addrs
	}
	idx := d.take(len(bufs))
	for i := range bufs {
		f, l := flagsOf(i)
		next := uint16(0)
		if i+1 < len(bufs) {
			f |= FNext
			next = idx[i+1]
		}
		d.WriteDesc(idx[i], uint64(addrs[i]), l, f, next)
	}
	d.inflight[idx[0]] = len(idx)
	d.Publish(idx[0])
	return idx[0], addrs
}

func (d *Driver) take(n int) []uint16 {
	if n > len(d.free) {
		d.t.Fatalf("virtiotest: %d descriptors wanted, %d free", n, len(d.free))
	}
	idx := d.free[:n:n]
	d.free = d.free[n:]
	if n == 1 {
		d.inflight[idx[0]] = 1
	}
	return idx
}

// Used is one used-ring element.
type Used struct {
	Head uint16
	Len  uint32
}

// Collect reads the used entries the device added since the last call and
// returns their descriptors to the free list.
func (d *Driver) Collect() []Used {
	idx := d.get16(d.UsedGPA + 2)
	var out []Used
	for ; d.usedSeen != idx; d.usedSeen++ {
		slot := d.usedSeen % d.Size
		var b [8]byte
		d.Mem.ReadAt(b[:], int64(d.UsedGPA+4+mem.GPA(8*int(slot))))
		u := Used{Head: uint16(binary.LittleEndian.Uint32(b[:])), Len: binary.LittleEndian.Uint32(b[4:])}
		out = append(out, u)
		if n, ok := d.inflight[u.Head]; ok {
			delete(d.inflight, u.Head)
			d.release(u.Head, n)
		}
	}
	return out
}

// release returns a chain's descriptors to the free list by following its
// NEXT links in the main table.
func (d *Driver) release(head uint16, n int) {
	i := head
	for k := 0; k < n; k++ {
		d.free = append(d.free, i)
		var b [16]byte
		d.Mem.ReadAt(b[:], int64(d.DescGPA+mem.GPA(16*int(i))))
		i = binary.LittleEndian.Uint16(b[14:])
	}
}

// Read returns n bytes of guest memory at gpa.
func (d *Driver) Read(gpa mem.GPA, n int) []byte {
	b := make([]byte, n)
	if _, err := d.Mem.ReadAt(b, int64(gpa)); err != nil {
		d.t.Fatalf("virtiotest: read %#x: %v", uint64(gpa), err)
	}
	return b
}

// SetUsedEvent writes used_event (the EVENT_IDX notification threshold).
func (d *Driver) SetUsedEvent(v uint16) { d.put16(d.AvailGPA+4+mem.GPA(2*int(d.Size)), v) }

// AvailEvent reads avail_event, which the device publishes.
func (d *Driver) AvailEvent() uint16 { return d.get16(d.UsedGPA + 4 + mem.GPA(8*int(d.Size))) }

// SetNoInterrupt sets or clears VIRTQ_AVAIL_F_NO_INTERRUPT.
func (d *Driver) SetNoInterrupt(on bool) {
	v := uint16(0)
	if on {
		v = 1
	}
	d.put16(d.AvailGPA, v)
}

// UsedFlags reads used.flags (VIRTQ_USED_F_NO_NOTIFY).
func (d *Driver) UsedFlags() uint16 { return d.get16(d.UsedGPA) }

// String describes the layout.
func (d *Driver) String() string {
	return fmt.Sprintf("queue size %d desc %#x avail %#x used %#x", d.Size, uint64(d.DescGPA), uint64(d.AvailGPA), uint64(d.UsedGPA))
}
