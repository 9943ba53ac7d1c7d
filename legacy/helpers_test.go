package legacy

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// busDevice is bus.Device, restated so that legacy does not import vmm.
type busDevice interface {
	Read(off uint64, data []byte)
	Write(off uint64, data []byte)
}

var (
	_ busDevice = (*UART)(nil)
	_ busDevice = (*I8042)(nil)
	_ busDevice = (*RTC)(nil)
	_ busDevice = (*Port80)(nil)
)

// fakeIRQ records the levels a device drives, and flags a SetLevel that did
// not change the level (devices promise to call it only on changes).
type fakeIRQ struct {
	mu        sync.Mutex
	level     bool
	changes   []bool
	redundant int
	notify    chan struct{} // poked on every call, if not nil
}

func newFakeIRQ() *fakeIRQ { return &fakeIRQ{notify: make(chan struct{}, 1)} }

func (f *fakeIRQ) SetLevel(high bool) {
	f.mu.Lock()
	if high == f.level {
		f.redundant++
	}
	f.level = high
	f.changes = append(f.changes, high)
	f.mu.Unlock()
	if f.notify != nil {
		select {
		case f.notify <- struct{}{}:
		default:
		}
	}
}

func (f *fakeIRQ) Level() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.level
}

// Take returns the changes recorded since the last Take.
func (f *fakeIRQ) Take() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.changes
	f.changes = nil
	return c
}

func (f *fakeIRQ) Redundant() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.redundant
}

// syncBuffer is a bytes.Buffer safe for the flushing goroutine and the test
// to use at once; it counts Write calls.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	delay  time.Duration // per Write, to simulate a slow terminal
	err    error         // returned by every Write when set
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.err != nil {
		return 0, s.err
	}
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *syncBuffer) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// newTestUART returns a UART closed at the end of the test.
func newTestUART(t testing.TB, cfg UARTConfig) *UART {
	t.Helper()
	u, err := NewUART(cfg)
	if err != nil {
		t.Fatalf("NewUART: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// rd and wr access a byte register of a RegShift-0 device.
func rd(d busDevice, off uint64) byte {
	var b [1]byte
	d.Read(off, b[:])
	return b[0]
}

func wr(d busDevice, off uint64, v byte) {
	d.Write(off, []byte{v})
}

// tryFeed is Feed without waiting: it queues what fits and reports how
// much. Fuzz targets use it, since a guest that never reads would block
// Feed forever.
func (u *UART) tryFeed(p []byte) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.mcr&mcrLoop != 0 {
		return 0
	}
	n := u.pushRXLocked(p)
	u.updateIRQLocked()
	return n
}

// rxLenNow returns the FIFO fill level.
func (u *UART) rxLenNow() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.rxLen
}
