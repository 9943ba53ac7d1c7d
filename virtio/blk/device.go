// Package blk is the virtio block device (virtio 1.2, 5.2) over a raw
// image file (Image, opened locked; see Open). One request queue is
// served by a few goroutines doing pread/pwrite (worker.go), so no
// request blocks a vCPU: the vCPU's kick only signals an eventfd.
//
// Durability is the contract: a FLUSH is completed only after fdatasync
// returned, and the status byte is written after the data and before the
// used ring entry. A driver that does not negotiate FLUSH gets a
// write-through disk: every write is followed by fdatasync before it
// completes (virtio 1.2, 5.2.6.2, case 1). gokvm called Sync after reads
// and never on FLUSH (LESSONS.md).
//
// Guest input never panics. A request whose parameters are wrong (range
// past the capacity, a write to a read-only disk, a data length that is
// not a whole number of sectors, an unknown type) gets a status (IOERR or
// UNSUPP) and changes nothing. A chain that cannot carry a request at all
// (fewer than 16 readable header bytes, or no writable status byte) breaks
// the queue and marks the device DEVICE_NEEDS_RESET, as QEMU does.
//
// Descriptor layout is free (virtio 1.2, 2.7.4.1): the header may share a
// descriptor with data or be split over several, data may span any number
// of descriptors, and the status is the last writable byte, alone or at
// the end of the last data buffer. Bytes on the side a request type does
// not use (readable data after an IN header, writable bytes before an
// OUT status) are ignored.
package blk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/govmm/govmm/virtio"
)

// Feature bits (virtio 1.2, 5.2.3).
const (
	FeatureSizeMax     = 1 << 1
	FeatureSegMax      = 1 << 2
	FeatureGeometry    = 1 << 4
	FeatureRO          = 1 << 5
	FeatureBlkSize     = 1 << 6
	FeatureFlush       = 1 << 9
	FeatureTopology    = 1 << 10
	FeatureConfigWCE   = 1 << 11
	FeatureMQ          = 1 << 12
	FeatureDiscard     = 1 << 13
	FeatureWriteZeroes = 1 << 14
)

// Request types (virtio 1.2, 5.2.6).
const (
	TypeIn          = 0
	TypeOut         = 1
	TypeFlush       = 4
	TypeGetID       = 8
	TypeGetLifetime = 10
	TypeDiscard     = 11
	TypeWriteZeroes = 13
	TypeSecureErase = 14
)

// Status values, the last byte of every request (virtio 1.2, 5.2.6).
const (
	StatusOK     = 0
	StatusIOErr  = 1
	StatusUnsupp = 2
)

const (
	// SectorSize is the unit of sector numbers and of the capacity,
	// whatever the block size.
	SectorSize = 512
	// HeaderSize is struct virtio_blk_req up to data: le32 type, le32
	// reserved, le64 sector.
	HeaderSize = 16
	// IDBytes is the length of the GET_ID string (VIRTIO_BLK_ID_BYTES).
	IDBytes = 20
	// segmentSize is struct virtio_blk_discard_write_zeroes.
	segmentSize = 16
	// flagUnmap is the only defined segment flag.
	flagUnmap = 1

	defaultQueueSize = 256
	defaultIOWorkers = 4
	defaultPollMax   = 32 * time.Microsecond
	// sizeMax is the largest single data buffer the driver may use
	// (advertised, not enforced: larger ones work too).
	sizeMax = 1 << 20
	// maxDiscardSectors and maxWriteZeroesSectors bound one segment
	// (QEMU's BDRV_REQUEST_MAX_SECTORS: just under 2 GiB).
	maxDiscardSectors     = 1<<22 - 1
	maxWriteZeroesSectors = 1<<22 - 1
	// maxSegments bounds DISCARD and WRITE_ZEROES segments per request.
	maxSegments = 32
)

// configSize is struct virtio_blk_config up to and including the secure
// erase fields (virtio 1.2, 5.2.4); the zoned part is not offered.
const configSize = 72

// Backend is the storage behind a device: an *Image, or a fake in tests.
// The methods are called concurrently from several workers. Offsets and
// lengths are in bytes and always within Size.
type Backend interface {
	// Size is the usable size in bytes, a multiple of SectorSize.
	Size() int64
	// ReadV fills iov from off, entirely: bytes past the end of the file
	// read as zero.
	ReadV(iov [][]byte, off int64) error
	// WriteV writes iov at off, entirely.
	WriteV(iov [][]byte, off int64) error
	// Sync makes every completed write durable (fdatasync).
	Sync() error
	// Discard deallocates a range; its contents are then undefined. A
	// backend that cannot deallocate returns nil and does nothing.
	Discard(off, n int64) error
	// WriteZeroes makes a range read as zeroes; unmap allows it to
	// deallocate the range.
	WriteZeroes(off, n int64, unmap bool) error
}

// Config configures a device.
type Config struct {
	ID      string // the drive id, for messages and metrics
	Backend Backend
	// ReadOnly offers VIRTIO_BLK_F_RO and refuses every write with
	// IOERR. An *Image opened read-only must be paired with it.
	ReadOnly bool
	// Serial is the GET_ID string: at most IDBytes ASCII bytes. Empty:
	// GET_ID returns an empty (all NUL) string.
	Serial string
	// QueueSize is the maximum size of the request queue (default 256).
	QueueSize uint16
	// IOWorkers is the number of goroutines doing pread/pwrite
	// (default 4).
	IOWorkers int
	// PollMax bounds how long the server waiting for requests polls the
	// ring before it sleeps until a kick (adaptive, like QEMU's
	// poll-max-ns): polling saves the kick and the wakeup when the guest
	// submits in quick succession, and stops by itself when it does not.
	// 0 means 32µs (QEMU's default); negative turns polling off.
	PollMax time.Duration
	// NoDiscard withholds DISCARD and WRITE_ZEROES.
	NoDiscard bool
	// Log reports the first occurrence of each kind of error.
	Log func(format string, args ...any)
}

// Device is a virtio-blk device.
type Device struct {
	cfg      Config
	features uint64
	serial   [IDBytes]byte
	capacity uint64 // in sectors
	Metrics  Metrics

	mu     sync.Mutex // guards worker
	worker *worker
	logged sync.Map // error kind -> struct{}, so each is logged once
}

var _ virtio.Device = (*Device)(nil)

// New returns an inactive device.
func New(cfg Config) (*Device, error) {
	if cfg.Backend == nil {
		return nil, errors.New("virtio-blk: no backend")
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = defaultQueueSize
	}
	if cfg.QueueSize < 4 || cfg.QueueSize > virtio.MaxQueueSize || cfg.QueueSize&(cfg.QueueSize-1) != 0 {
		return nil, fmt.Errorf("virtio-blk %s: queue size %d is not a power of two in [4, %d]", cfg.ID, cfg.QueueSize, virtio.MaxQueueSize)
	}
	if cfg.IOWorkers <= 0 {
		cfg.IOWorkers = defaultIOWorkers
	}
	if cfg.PollMax == 0 {
		cfg.PollMax = defaultPollMax
	}
	if len(cfg.Serial) > IDBytes {
		return nil, fmt.Errorf("virtio-blk %s: serial %q is longer than %d bytes", cfg.ID, cfg.Serial, IDBytes)
	}
	for _, c := range []byte(cfg.Serial) {
		if c < 0x20 || c > 0x7e {
			return nil, fmt.Errorf("virtio-blk %s: serial %q is not printable ASCII", cfg.ID, cfg.Serial)
		}
	}
	size := cfg.Backend.Size()
	if size < 0 || size%SectorSize != 0 {
		return nil, fmt.Errorf("virtio-blk %s: backend size %d is not a multiple of %d", cfg.ID, size, SectorSize)
	}
	d := &Device{cfg: cfg, capacity: uint64(size) / SectorSize}
	copy(d.serial[:], cfg.Serial)
	d.features = virtio.FeatureVersion1 | virtio.FeatureRingEventIdx | virtio.FeatureRingIndirectDesc |
		FeatureSizeMax | FeatureSegMax | FeatureBlkSize | FeatureFlush
	if cfg.ReadOnly {
		d.features |= FeatureRO
	} else if !cfg.NoDiscard {
		d.features |= FeatureDiscard | FeatureWriteZeroes
	}
	return d, nil
}

// Capacity is the disk size in 512-byte sectors.
func (d *Device) Capacity() uint64 { return d.capacity }

func (d *Device) Type() virtio.DeviceID   { return virtio.IDBlock }
func (d *Device) Features() uint64        { return d.features }
func (d *Device) QueueMaxSizes() []uint16 { return []uint16{d.cfg.QueueSize} }
func (d *Device) segMax() uint32          { return uint32(d.cfg.QueueSize) - 2 }
func (d *Device) readOnly() bool          { return d.cfg.ReadOnly }

// config builds struct virtio_blk_config (virtio 1.2, 5.2.4). Fields of
// features not offered read as zero.
func (d *Device) config() [configSize]byte {
	var c [configSize]byte
	le := binary.LittleEndian
	le.PutUint64(c[0:], d.capacity)
	le.PutUint32(c[8:], sizeMax)
	// seg_max: the header and status need a descriptor each when the
	// driver has no indirect descriptors (Linux and QEMU agree).
	le.PutUint32(c[12:], d.segMax())
	// geometry (16..19) not offered.
	le.PutUint32(c[20:], SectorSize) // blk_size
	// topology (24..31), writeback (32), num_queues (34): not offered.
	if d.features&FeatureDiscard != 0 {
		le.PutUint32(c[36:], maxDiscardSectors)
		le.PutUint32(c[40:], maxSegments)
		le.PutUint32(c[44:], 1) // discard_sector_alignment
	}
	if d.features&FeatureWriteZeroes != 0 {
		le.PutUint32(c[48:], maxWriteZeroesSectors)
		le.PutUint32(c[52:], maxSegments)
		c[56] = 1 // write_zeroes_may_unmap: an UNMAP write-zeroes punches a hole
	}
	return c
}

// ReadConfig reads the configuration space; bytes beyond it read as zero.
func (d *Device) ReadConfig(off uint64, data []byte) {
	c := d.config()
	for i := range data {
		data[i] = 0
		if o := off + uint64(i); o >= off && o < uint64(len(c)) {
			data[i] = c[o]
		}
	}
}

// WriteConfig ignores writes: the only writable field, writeback, exists
// with VIRTIO_BLK_F_CONFIG_WCE, which is not offered.
func (d *Device) WriteConfig(off uint64, data []byte) { d.Metrics.ConfigWritesIgnored.Add(1) }

// Activate starts the dispatcher and the I/O workers.
func (d *Device) Activate(a virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.worker != nil {
		return fmt.Errorf("virtio-blk %s: already active", d.cfg.ID)
	}
	if len(a.Queues) != 1 || a.Queues[0].Kick == nil {
		return fmt.Errorf("virtio-blk %s: want 1 queue with a kick eventfd", d.cfg.ID)
	}
	if a.Features&virtio.FeatureVersion1 == 0 {
		return fmt.Errorf("virtio-blk %s: legacy drivers are not supported", d.cfg.ID)
	}
	w, err := newWorker(d, a)
	if err != nil {
		return err
	}
	d.worker = w
	w.start()
	return nil
}

// Reset stops the device and waits for requests being served: their I/O
// ends, but they are not completed, and no guest buffer is touched after
// Reset returns. Requests not yet started are dropped.
func (d *Device) Reset() {
	d.mu.Lock()
	w := d.worker
	d.worker = nil
	d.mu.Unlock()
	if w != nil {
		w.stop()
	}
}

// Close stops the device. The backend stays the caller's.
func (d *Device) Close() error {
	d.Reset()
	return nil
}

// logOnce logs the first error of each kind.
func (d *Device) logOnce(kind string, format string, args ...any) {
	if d.cfg.Log == nil {
		return
	}
	if _, seen := d.logged.LoadOrStore(kind, struct{}{}); !seen {
		d.cfg.Log("virtio-blk %s: "+format+" (further ones are counted, not logged)", append([]any{d.cfg.ID}, args...)...)
	}
}

// WriteMetrics prints the device's counters, and its backend's when it
// keeps any (an *Image does), as "prefix name value" lines.
func (d *Device) WriteMetrics(w io.Writer, prefix string) {
	d.Metrics.Write(w, prefix)
	if m, ok := d.cfg.Backend.(interface{ WriteMetrics(io.Writer, string) }); ok {
		m.WriteMetrics(w, prefix)
	}
}
