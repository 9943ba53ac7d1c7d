package blk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/virtiotest"
)

const diskSize = 1 << 20 // 2048 sectors

func TestReadWriteLayouts(t *testing.T) {
	be := newMemBackend(t, diskSize)
	h := newHarness(t, Config{ID: "d0", Backend: be}, allFeatures)
	for l := layout(0); l < numLayouts; l++ {
		for i, n := range []int{512, 4096, 8192 + 512} {
			t.Run(fmt.Sprintf("%v/%d", l, n), func(t *testing.T) {
				sector := uint64(7 + 100*i + 20*int(l))
				data := pattern(int(l)*10+i, n)
				used, _, st := h.request(l, TypeOut, sector, data, 0)
				if st != StatusOK || used != 1 {
					t.Fatalf("OUT: status %d used %d, want 0 and 1", st, used)
				}
				got, _ := be.snapshot()
				if !bytes.Equal(got[sector*512:sector*512+uint64(n)], data) {
					t.Fatal("OUT: backend does not hold the data")
				}
				used, in, st := h.request(l, TypeIn, sector, nil, n)
				if st != StatusOK || used != uint32(n)+1 {
					t.Fatalf("IN: status %d used %d, want 0 and %d", st, used, n+1)
				}
				if !bytes.Equal(in, data) {
					t.Fatal("IN: read back different data")
				}
			})
		}
	}
	if got := h.dev.Metrics.ReadBytes.Load(); got != uint64(numLayouts)*(512+4096+8704) {
		t.Errorf("read_bytes %d", got)
	}
}

// TestReadWriteImage runs the same requests against a real image, with
// and without O_DIRECT, including a request of more buffers than one
// preadv takes (UIO_MAXIOV).
func TestReadWriteImage(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			im := tempImage(t, 4<<20, Options{Direct: direct})
			if direct && !im.Direct() {
				t.Logf("no O_DIRECT here: %v", im.Warnings())
			}
			h := newHarness(t, Config{ID: "d0", Backend: im}, allFeatures)
			for l := layout(0); l < numLayouts; l++ {
				data := pattern(int(l), 64<<10)
				sector := uint64(l) * 200
				if _, _, st := h.request(l, TypeOut, sector, data, 0); st != StatusOK {
					t.Fatalf("%v: OUT status %d", l, st)
				}
				if _, in, st := h.request(l, TypeIn, sector, nil, len(data)); st != StatusOK || !bytes.Equal(in, data) {
					t.Fatalf("%v: IN status %d, equal %v", l, st, bytes.Equal(in, data))
				}
			}
			// 1500 buffers of 512 bytes through an indirect table.
			data := pattern(99, 1500*512)
			bufs := []virtiotest.Buffer{virtiotest.R(header(TypeOut, 2000))}
			for i := 0; i < 1500; i++ {
				bufs = append(bufs, virtiotest.R(data[i*512:(i+1)*512]))
			}
			if _, _, st := h.do(true, append(bufs, virtiotest.W(1))); st != StatusOK {
				t.Fatalf("1500-buffer OUT: status %d", st)
			}
			bufs = []virtiotest.Buffer{virtiotest.R(header(TypeIn, 2000))}
			for i := 0; i < 1500; i++ {
				bufs = append(bufs, virtiotest.W(512))
			}
			if _, in, st := h.do(true, append(bufs, virtiotest.W(1))); st != StatusOK || !bytes.Equal(in, data) {
				t.Fatalf("1500-buffer IN: status %d, equal %v", st, bytes.Equal(in, data))
			}
			if direct && im.Direct() && im.Metrics.BufferedFallbacks.Load() != 0 {
				t.Errorf("%d sector-aligned transfers fell back to the page cache", im.Metrics.BufferedFallbacks.Load())
			}
		})
	}
}

// TestFlushIsDurableBeforeStatus holds fdatasync and checks that neither
// the status byte nor the used entry appears until it returns.
func TestFlushIsDurableBeforeStatus(t *testing.T) {
	be := newMemBackend(t, diskSize)
	entered, release := make(chan struct{}), make(chan struct{})
	be.hook = func(op string) {
		if op == "sync" {
			close(entered)
			<-release
		}
	}
	h := newHarness(t, Config{ID: "d0", Backend: be}, allFeatures)
	if _, _, st := h.request(layoutSeparate, TypeOut, 3, pattern(1, 4096), 0); st != StatusOK {
		t.Fatalf("OUT status %d", st)
	}
	bufs := buffers(layoutSeparate, header(TypeFlush, 0), nil, 0)
	bufs[len(bufs)-1].Fill = 0xee
	p := h.offer(false, bufs)
	statusGPA := p.addrs[len(p.addrs)-1]
	h.kick()
	<-entered
	time.Sleep(20 * time.Millisecond)
	if u := h.drv.Collect(); len(u) != 0 {
		t.Fatalf("FLUSH completed while fdatasync was running: %v", u)
	}
	if st := h.drv.Read(statusGPA, 1)[0]; st != 0xee {
		t.Fatalf("status byte %#x written while fdatasync was running", st)
	}
	close(release)
	u := h.waitUsed(1)
	if u[0].Head != p.head || u[0].Len != 1 || h.drv.Read(statusGPA, 1)[0] != StatusOK {
		t.Fatalf("FLUSH used %v status %d", u, h.drv.Read(statusGPA, 1)[0])
	}
	_, ops := be.snapshot()
	if strings.Join(ops, ",") != "write 1536 4096,sync" {
		t.Fatalf("backend operations %q, want the write then sync", ops)
	}
}

// TestFlushWaitsForEarlierRequests: a FLUSH behind writes still in flight
// syncs only after they are done.
func TestFlushWaitsForEarlierRequests(t *testing.T) {
	be := newMemBackend(t, diskSize)
	var once sync.Once
	writing, release := make(chan struct{}), make(chan struct{})
	be.hook = func(op string) {
		if op == "write" {
			once.Do(func() { close(writing); <-release })
		}
	}
	h := newHarness(t, Config{ID: "d0", Backend: be}, allFeatures)
	h.offer(false, buffers(layoutSeparate, header(TypeOut, 0), pattern(1, 512), 0))
	h.offer(false, buffers(layoutSeparate, header(TypeOut, 8), pattern(2, 512), 0))
	h.offer(false, buffers(layoutSeparate, header(TypeFlush, 0), nil, 0))
	h.kick()
	<-writing
	time.Sleep(20 * time.Millisecond)
	if _, ops := be.snapshot(); strings.Contains(strings.Join(ops, ","), "sync") {
		t.Fatalf("sync ran while a write before it was in flight: %q", ops)
	}
	close(release)
	h.waitUsed(3)
	_, ops := be.snapshot()
	if len(ops) != 3 || ops[2] != "sync" {
		t.Fatalf("backend operations %q, want two writes then sync", ops)
	}
	if h.dev.Metrics.FlushWaits.Load() != 1 {
		t.Errorf("flush_waits %d", h.dev.Metrics.FlushWaits.Load())
	}
}

// TestWriteThroughWithoutFlush: a driver that does not negotiate FLUSH
// gets every write synced before it completes (virtio 1.2, 5.2.6.2).
func TestWriteThroughWithoutFlush(t *testing.T) {
	be := newMemBackend(t, diskSize)
	h := newHarness(t, Config{ID: "d0", Backend: be}, allFeatures&^FeatureFlush)
	for i := 0; i < 3; i++ {
		if _, _, st := h.request(layoutMerged, TypeOut, uint64(i), pattern(i, 512), 0); st != StatusOK {
			t.Fatalf("OUT status %d", st)
		}
	}
	_, ops := be.snapshot()
	if want := "write 0 512,sync,write 512 512,sync,write 1024 512,sync"; strings.Join(ops, ",") != want {
		t.Fatalf("operations %q, want %q", ops, want)
	}
}

func TestGetID(t *testing.T) {
	for _, c := range []struct {
		serial string
		bufLen int
		want   string
	}{
		{"disk-01", 20, "disk-01" + strings.Repeat("\x00", 13)},
		{"ABCDEFGHIJKLMNOPQRST", 20, "ABCDEFGHIJKLMNOPQRST"}, // 20 bytes: no NUL
		{"", 20, strings.Repeat("\x00", 20)},
		{"serial", 4, "seri"},
		{"serial", 32, "serial" + strings.Repeat("\x00", 14) + strings.Repeat("\xaa", 12)},
	} {
		be := newMemBackend(t, diskSize)
		h := newHarness(t, Config{ID: "d0", Backend: be, Serial: c.serial}, allFeatures)
		for l := layout(0); l < numLayouts; l++ {
			bufs := buffers(l, header(TypeGetID, 0), nil, c.bufLen)
			for i := range bufs {
				bufs[i].Fill = 0xaa // before publishing: the device may run before the kick
			}
			p := h.offer(false, bufs)
			h.kick()
			u := h.waitUsed(1)
			w := h.writable(p)
			h.drv.FreeBuffers()
			n := min(c.bufLen, IDBytes)
			if got := string(w[:len(w)-1]); got != c.want || w[len(w)-1] != StatusOK || u[0].Len != uint32(n+1) {
				t.Errorf("serial %q, %d-byte buffer, %v: got %q status %d used %d, want %q used %d",
					c.serial, c.bufLen, l, got, w[len(w)-1], u[0].Len, c.want, n+1)
			}
		}
	}
	if _, err := New(Config{Backend: newMemBackend(t, 512), Serial: strings.Repeat("x", 21)}); err == nil {
		t.Error("21-byte serial accepted")
	}
	if _, err := New(Config{Backend: newMemBackend(t, 512), Serial: "a\nb"}); err == nil {
		t.Error("serial with a newline accepted")
	}
}

// TestErrorsChangeNothing: every bad request gets its status, and the
// backend sees no operation at all.
func TestErrorsChangeNothing(t *testing.T) {
	const cap = diskSize / 512
	big := uint64(math.MaxUint64 - 1)
	for _, c := range []struct {
		name     string
		ro       bool
		features uint64
		typ      uint32
		sector   uint64
		out      []byte
		inLen    int
		want     byte
	}{
		{"read at capacity", false, allFeatures, TypeIn, cap, nil, 512, StatusIOErr},
		{"read across the end", false, allFeatures, TypeIn, cap - 1, nil, 1024, StatusIOErr},
		{"read with overflowing sector", false, allFeatures, TypeIn, big, nil, 1024, StatusIOErr},
		{"write at capacity", false, allFeatures, TypeOut, cap, make([]byte, 512), 0, StatusIOErr},
		{"write across the end", false, allFeatures, TypeOut, cap - 2, make([]byte, 2048), 0, StatusIOErr},
		{"write with overflowing sector", false, allFeatures, TypeOut, 1 << 55, make([]byte, 512), 0, StatusIOErr},
		{"partial-sector read", false, allFeatures, TypeIn, 0, nil, 100, StatusIOErr},
		{"partial-sector write", false, allFeatures, TypeOut, 0, make([]byte, 513), 0, StatusIOErr},
		{"write to read-only", true, allFeatures, TypeOut, 0, make([]byte, 512), 0, StatusIOErr},
		{"discard on read-only", true, allFeatures, TypeDiscard, 0, segment(0, 8, 0), 0, StatusUnsupp},
		{"write-zeroes on read-only", true, allFeatures, TypeWriteZeroes, 0, segment(0, 8, 0), 0, StatusUnsupp},
		{"unknown type 2 (SCSI)", false, allFeatures, 2, 0, nil, 0, StatusUnsupp},
		{"unknown type 3", false, allFeatures, 3, 0, make([]byte, 512), 0, StatusUnsupp},
		{"GET_LIFETIME", false, allFeatures, TypeGetLifetime, 0, nil, 8, StatusUnsupp},
		{"SECURE_ERASE", false, allFeatures, TypeSecureErase, 0, segment(0, 8, 0), 0, StatusUnsupp},
		{"zone report", false, allFeatures, 16, 0, nil, 512, StatusUnsupp},
		{"type 0xffffffff", false, allFeatures, math.MaxUint32, 0, nil, 0, StatusUnsupp},
		{"discard not negotiated", false, allFeatures &^ FeatureDiscard, TypeDiscard, 0, segment(0, 8, 0), 0, StatusUnsupp},
		{"write-zeroes not negotiated", false, allFeatures &^ FeatureWriteZeroes, TypeWriteZeroes, 0, segment(0, 8, 0), 0, StatusUnsupp},
		{"discard with UNMAP", false, allFeatures, TypeDiscard, 0, segment(0, 8, flagUnmap), 0, StatusUnsupp},
		{"discard with an unknown flag", false, allFeatures, TypeDiscard, 0, segment(0, 8, 2), 0, StatusUnsupp},
		{"write-zeroes with an unknown flag", false, allFeatures, TypeWriteZeroes, 0, segment(0, 8, 1<<31), 0, StatusUnsupp},
		{"second segment bad", false, allFeatures, TypeWriteZeroes, 0, append(segment(0, 8, 0), segment(0, 8, 4)...), 0, StatusUnsupp},
		{"discard past the capacity", false, allFeatures, TypeDiscard, 0, segment(cap-1, 2, 0), 0, StatusIOErr},
		{"second segment past the capacity", false, allFeatures, TypeDiscard, 0, append(segment(0, 1, 0), segment(big, 8, 0)...), 0, StatusIOErr},
		{"write-zeroes past the capacity", false, allFeatures, TypeWriteZeroes, 0, segment(cap, 1, 0), 0, StatusIOErr},
		{"discard segment too long", false, allFeatures, TypeDiscard, 0, segment(0, maxDiscardSectors+1, 0), 0, StatusIOErr},
		{"discard payload not whole segments", false, allFeatures, TypeDiscard, 0, make([]byte, 20), 0, StatusIOErr},
		{"discard without segments", false, allFeatures, TypeDiscard, 0, nil, 0, StatusIOErr},
		{"too many segments", false, allFeatures, TypeDiscard, 0, bytes.Repeat(segment(0, 1, 0), maxSegments+1), 0, StatusIOErr},
	} {
		t.Run(c.name, func(t *testing.T) {
			be := newMemBackend(t, diskSize)
			before, _ := be.snapshot()
			h := newHarness(t, Config{ID: "d0", Backend: be, ReadOnly: c.ro}, c.features)
			for l := layout(0); l < numLayouts; l++ {
				used, _, st := h.request(l, c.typ, c.sector, c.out, c.inLen)
				if st != c.want || used != 1 {
					t.Fatalf("%v: status %d used %d, want %d and 1", l, st, used, c.want)
				}
			}
			after, ops := be.snapshot()
			if len(ops) != 0 || !bytes.Equal(before, after) {
				t.Fatalf("the backend changed: operations %q", ops)
			}
			select {
			case err := <-h.needsReset:
				t.Fatalf("NEEDS_RESET for a request with a status: %v", err)
			default:
			}
		})
	}
}

func TestReadOnlyFlushAndRead(t *testing.T) {
	be := newMemBackend(t, diskSize)
	h := newHarness(t, Config{ID: "d0", Backend: be, ReadOnly: true}, allFeatures)
	if h.features&FeatureRO == 0 || h.dev.Features()&(FeatureDiscard|FeatureWriteZeroes) != 0 {
		t.Fatalf("read-only device features %#x", h.dev.Features())
	}
	if _, _, st := h.request(layoutSeparate, TypeFlush, 0, nil, 0); st != StatusOK {
		t.Fatalf("FLUSH on a read-only drive: status %d", st)
	}
	if _, in, st := h.request(layoutSeparate, TypeIn, 1, nil, 512); st != StatusOK || !bytes.Equal(in, be.data[512:1024]) {
		t.Fatalf("IN on a read-only drive: status %d", st)
	}
	if _, ops := be.snapshot(); strings.Join(ops, ",") != "read 512 512" {
		t.Fatalf("operations %q", ops)
	}
}

func TestBackendErrors(t *testing.T) {
	be := newMemBackend(t, diskSize)
	var logs []string
	var mu sync.Mutex
	h := newHarness(t, Config{ID: "d0", Backend: be, Log: func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		mu.Unlock()
	}}, allFeatures)
	be.mu.Lock()
	be.readErr, be.writeErr, be.syncErr = errors.New("EIO"), errors.New("ENOSPC"), errors.New("EIO")
	be.mu.Unlock()
	for i := 0; i < 3; i++ {
		if _, _, st := h.request(layoutSeparate, TypeIn, 0, nil, 512); st != StatusIOErr {
			t.Fatalf("failed read: status %d", st)
		}
		if _, _, st := h.request(layoutSeparate, TypeOut, 0, make([]byte, 512), 0); st != StatusIOErr {
			t.Fatalf("failed write: status %d", st)
		}
		if _, _, st := h.request(layoutSeparate, TypeFlush, 0, nil, 0); st != StatusIOErr {
			t.Fatalf("failed flush: status %d", st)
		}
	}
	if got := h.dev.Metrics.IOErrors.Load(); got != 9 {
		t.Errorf("io_errors %d, want 9", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) != 3 {
		t.Errorf("logged %d lines, want one per kind: %q", len(logs), logs)
	}
}

func TestDiscardAndWriteZeroes(t *testing.T) {
	be := newMemBackend(t, diskSize)
	h := newHarness(t, Config{ID: "d0", Backend: be}, allFeatures)
	segs := append(segment(0, 2, 0), segment(10, 1, 0)...)
	if _, _, st := h.request(layoutScattered, TypeDiscard, 0, segs, 0); st != StatusOK {
		t.Fatalf("DISCARD status %d", st)
	}
	zs := append(segment(20, 3, 0), segment(30, 1, flagUnmap)...)
	if _, _, st := h.request(layoutSeparate, TypeWriteZeroes, 0, zs, 0); st != StatusOK {
		t.Fatalf("WRITE_ZEROES status %d", st)
	}
	_, ops := be.snapshot()
	if want := "discard 0 1024,discard 5120 512,zero 10240 1536 false,zero 15360 512 true"; strings.Join(ops, ",") != want {
		t.Fatalf("operations %q, want %q", ops, want)
	}
	// A zero-length segment is valid and does nothing.
	if _, _, st := h.request(layoutSeparate, TypeDiscard, 0, segment(5, 0, 0), 0); st != StatusOK {
		t.Fatalf("empty DISCARD status %d", st)
	}
}

func TestConfigSpace(t *testing.T) {
	be := newMemBackend(t, 3<<20)
	d, err := New(Config{Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	c := make([]byte, configSize)
	d.ReadConfig(0, c)
	le := binary.LittleEndian
	for _, f := range []struct {
		name string
		got  uint64
		want uint64
	}{
		{"capacity", le.Uint64(c[0:]), 3 << 11},
		{"size_max", uint64(le.Uint32(c[8:])), sizeMax},
		{"seg_max", uint64(le.Uint32(c[12:])), 254},
		{"blk_size", uint64(le.Uint32(c[20:])), 512},
		{"max_discard_sectors", uint64(le.Uint32(c[36:])), maxDiscardSectors},
		{"max_discard_seg", uint64(le.Uint32(c[40:])), maxSegments},
		{"discard_sector_alignment", uint64(le.Uint32(c[44:])), 1},
		{"max_write_zeroes_sectors", uint64(le.Uint32(c[48:])), maxWriteZeroesSectors},
		{"max_write_zeroes_seg", uint64(le.Uint32(c[52:])), maxSegments},
		{"write_zeroes_may_unmap", uint64(c[56]), 1},
	} {
		if f.got != f.want {
			t.Errorf("%s = %d, want %d", f.name, f.got, f.want)
		}
	}
	// Byte-wise reads agree; reads past the end are zero.
	for off := 0; off < configSize+8; off++ {
		var b [1]byte
		d.ReadConfig(uint64(off), b[:])
		want := byte(0)
		if off < configSize {
			want = c[off]
		}
		if b[0] != want {
			t.Fatalf("config byte %d = %#x, want %#x", off, b[0], want)
		}
	}
	var b [8]byte
	d.ReadConfig(math.MaxUint64-2, b[:])
	if b != [8]byte{} {
		t.Fatalf("read at the top of the offset space: %v", b)
	}
	d.WriteConfig(32, []byte{1})
	d.ReadConfig(0, b[:])
	if le.Uint64(b[:]) != 3<<11 {
		t.Fatal("config write changed the configuration")
	}
	want := uint64(virtio.FeatureVersion1 | virtio.FeatureRingEventIdx | virtio.FeatureRingIndirectDesc |
		FeatureSizeMax | FeatureSegMax | FeatureBlkSize | FeatureFlush | FeatureDiscard | FeatureWriteZeroes)
	if d.Features() != want {
		t.Errorf("features %#x, want %#x", d.Features(), want)
	}
	if _, err := New(Config{Backend: newMemBackend(t, 1000)}); err == nil {
		t.Error("backend of 1000 bytes accepted")
	}
}

// TestMalformedChains: chains that cannot carry a request break the
// queue (DEVICE_NEEDS_RESET); later chains are not served; a reset and a
// new activation bring the device back.
func TestMalformedChains(t *testing.T) {
	for _, c := range []struct {
		name string
		bufs []virtiotest.Buffer
		want error
	}{
		{"no header", []virtiotest.Buffer{virtiotest.W(1)}, ErrShortHeader},
		{"15-byte header", []virtiotest.Buffer{virtiotest.R(header(TypeIn, 0)[:15]), virtiotest.W(513)}, ErrShortHeader},
		{"no status", []virtiotest.Buffer{virtiotest.R(header(TypeFlush, 0))}, ErrNoStatus},
		{"write without status", []virtiotest.Buffer{virtiotest.R(header(TypeOut, 0)), virtiotest.R(make([]byte, 512))}, ErrNoStatus},
	} {
		t.Run(c.name, func(t *testing.T) {
			be := newMemBackend(t, diskSize)
			h := newHarness(t, Config{ID: "d0", Backend: be}, allFeatures)
			h.offer(false, c.bufs)
			h.offer(false, buffers(layoutSeparate, header(TypeOut, 0), make([]byte, 512), 0))
			h.kick()
			select {
			case err := <-h.needsReset:
				if !errors.Is(err, c.want) {
					t.Fatalf("NEEDS_RESET with %v, want %v", err, c.want)
				}
				var qe *virtio.QueueError
				if !errors.As(err, &qe) {
					t.Fatalf("%v is not a *virtio.QueueError", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no NEEDS_RESET")
			}
			time.Sleep(10 * time.Millisecond)
			if u := h.drv.Collect(); len(u) != 0 {
				t.Fatalf("used entries after the violation: %v", u)
			}
			if _, ops := be.snapshot(); len(ops) != 0 {
				t.Fatalf("backend operations after the violation: %q", ops)
			}
			// Reset and start again as a driver would.
			h.dev.Reset()
			h.q.ResetConfig()
			h.m.WriteAt(make([]byte, 0x100000-0x1000), 0x1000) // a driver reinitializes its rings
			h.drv = virtiotest.NewDriver(t, h.m, h.q, h.q.MaxSize, 0x1000, 0x100000, 64<<20)
			h.activate()
			if _, _, st := h.request(layoutMerged, TypeOut, 1, pattern(3, 512), 0); st != StatusOK {
				t.Fatalf("after reset: status %d", st)
			}
		})
	}
}

// TestHeadReusedInFlight: a driver that offers a head again while the
// device holds it breaks the queue instead of corrupting the request.
func TestHeadReusedInFlight(t *testing.T) {
	be := newMemBackend(t, diskSize)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	be.hook = func(op string) {
		once.Do(func() { close(entered); <-release })
	}
	h := newHarness(t, Config{ID: "d0", Backend: be}, allFeatures)
	// A FLUSH goes to an I/O worker (a lone read would be served by the
	// dispatcher itself, which then could not see the reuse).
	p := h.offer(false, buffers(layoutMerged, header(TypeFlush, 0), nil, 0))
	h.kick()
	<-entered
	h.drv.Publish(p.head)
	h.kick()
	select {
	case err := <-h.needsReset:
		if !errors.Is(err, ErrHeadInFlight) {
			t.Fatalf("NEEDS_RESET with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no NEEDS_RESET")
	}
	close(release)
}

// TestOneInterruptPerBatch: without EVENT_IDX, 32 requests served
// together by one server complete with one interrupt; with four servers,
// with at most one per server.
func TestOneInterruptPerBatch(t *testing.T) {
	const n = 32
	for _, workers := range []int{1, 4} {
		be := newMemBackend(t, diskSize)
		h := newHarness(t, Config{ID: "d0", Backend: be, IOWorkers: workers, PollMax: -1}, allFeatures&^virtio.FeatureRingEventIdx)
		// Offer the batch while the device sleeps, or it may start
		// serving before the batch is complete.
		for h.dev.Metrics.Sleeps.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		for i := 0; i < n; i++ {
			h.offer(false, buffers(layoutSeparate, header(TypeIn, uint64(i)), nil, 512))
		}
		h.kick()
		h.waitUsed(n)
		time.Sleep(10 * time.Millisecond)
		if got := h.irq.count(); got < 1 || got > workers {
			t.Fatalf("%d workers: %d interrupts for %d requests offered together", workers, got, n)
		}
	}
}

// TestNotificationSuppression: with EVENT_IDX and a driver that asks for
// no interrupt yet (used_event ahead), the device sends none.
func TestNotificationSuppression(t *testing.T) {
	be := newMemBackend(t, diskSize)
	h := newHarness(t, Config{ID: "d0", Backend: be}, allFeatures)
	h.drv.SetUsedEvent(100)
	for i := 0; i < 10; i++ {
		h.offer(false, buffers(layoutSeparate, header(TypeIn, uint64(i)), nil, 512))
		h.kick()
	}
	h.waitUsed(10)
	if got := h.irq.count(); got != 0 {
		t.Fatalf("%d interrupts with used_event 100 after 10 completions", got)
	}
}

// TestResetWaitsForInFlight: Reset returns only after the request being
// served finished, and completes nothing.
func TestResetWaitsForInFlight(t *testing.T) {
	be := newMemBackend(t, diskSize)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	be.hook = func(op string) { once.Do(func() { close(entered); <-release }) }
	h := newHarness(t, Config{ID: "d0", Backend: be, IOWorkers: 1}, allFeatures)
	for i := 0; i < 8; i++ {
		h.offer(false, buffers(layoutSeparate, header(TypeIn, uint64(i)), nil, 512))
	}
	h.kick()
	<-entered
	done := make(chan struct{})
	go func() { h.dev.Reset(); close(done) }()
	select {
	case <-done:
		t.Fatal("Reset returned while a request was being served")
	case <-time.After(30 * time.Millisecond):
	}
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Reset did not return")
	}
	if u := h.drv.Collect(); len(u) != 0 {
		t.Fatalf("requests completed across a reset: %v", u)
	}
	if _, ops := be.snapshot(); len(ops) != 1 {
		t.Fatalf("backend operations %q: requests not started before Reset were served", ops)
	}
}

// TestManyInFlight fills the queue with reads and writes in random
// layouts and checks each.
func TestManyInFlight(t *testing.T) {
	be := newMemBackend(t, 4<<20)
	h := newHarness(t, Config{ID: "d0", Backend: be, QueueSize: 256}, allFeatures)
	const n = 64
	type req struct {
		p      pending
		sector uint64
		data   []byte
	}
	var reqs []req
	for i := 0; i < n; i++ {
		data := pattern(1000+i, 4096)
		sector := uint64(i) * 8
		reqs = append(reqs, req{h.offer(i%2 == 0, buffers(layout(i%int(numLayouts)), header(TypeOut, sector), data, 0)), sector, data})
	}
	h.kick()
	h.waitUsed(n)
	h.drv.FreeBuffers()
	reqs = reqs[:0]
	for i := 0; i < n; i++ {
		sector := uint64(i) * 8
		reqs = append(reqs, req{h.offer(i%3 == 0, buffers(layout((i+1)%int(numLayouts)), header(TypeIn, sector), nil, 4096)), sector, pattern(1000+i, 4096)})
	}
	h.kick()
	used := h.waitUsed(n)
	for _, u := range used {
		if u.Len != 4097 {
			t.Fatalf("IN used length %d", u.Len)
		}
	}
	for _, r := range reqs {
		w := h.writable(r.p)
		if w[len(w)-1] != StatusOK || !bytes.Equal(w[:len(w)-1], r.data) {
			t.Fatalf("sector %d: status %d, data equal %v", r.sector, w[len(w)-1], bytes.Equal(w[:len(w)-1], r.data))
		}
	}
}

// TestHostileDescriptors writes random descriptor tables and avail
// entries: the device may break the queue but must not panic or touch
// memory outside guest RAM (the queue checks that).
func TestHostileDescriptors(t *testing.T) {
	for seed := 0; seed < 50; seed++ {
		be := newMemBackend(t, diskSize)
		h := newHarness(t, Config{ID: "d0", Backend: be}, allFeatures)
		r := pattern(seed, 4096)
		for i := uint16(0); i < 16; i++ {
			k := int(i) * 16
			addr := uint64(binary.LittleEndian.Uint32(r[k:])) % (70 << 20)
			length := binary.LittleEndian.Uint32(r[k+4:]) % 8192
			flags := binary.LittleEndian.Uint16(r[k+8:]) & 7
			next := binary.LittleEndian.Uint16(r[k+10:]) % 20
			h.drv.WriteDesc(i, addr, length, flags, next)
			h.drv.Publish(binary.LittleEndian.Uint16(r[k+12:]) % 20)
		}
		h.kick()
		time.Sleep(2 * time.Millisecond)
		h.dev.Reset()
	}
}

// TestPolling: when requests follow each other closely the waiting
// server learns to poll the ring and finds some without sleeping; with
// polling off it always sleeps.
func TestPolling(t *testing.T) {
	const n = 200
	for _, poll := range []time.Duration{time.Second, -1} {
		be := newMemBackend(t, diskSize)
		h := newHarness(t, Config{ID: "d0", Backend: be, PollMax: poll}, allFeatures)
		for i := 0; i < n; i++ {
			if _, _, st := h.request(layoutSeparate, TypeIn, uint64(i), nil, 512); st != StatusOK {
				t.Fatalf("status %d", st)
			}
		}
		hits, sleeps := h.dev.Metrics.PollHits.Load(), h.dev.Metrics.Sleeps.Load()
		t.Logf("PollMax %v: %d poll hits, %d sleeps for %d requests", poll, hits, sleeps, n)
		if poll > 0 && hits == 0 {
			t.Fatal("polling never found a request")
		}
		if poll < 0 && (hits != 0 || sleeps < n) {
			t.Fatal("polled with polling off")
		}
	}
}
