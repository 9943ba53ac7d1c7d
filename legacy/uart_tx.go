package legacy

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// outBuffer batches transmitted bytes so that the guest's one-byte THR
// writes do not each become a write(2) (Firecracker issue 792: boot time
// more than halved with the console off). A background goroutine writes the
// buffer delay after its first unflushed byte, or at once when it holds
// soft bytes; Flush and Close write it synchronously.
//
// Writes to w happen with wmu held, buffer swaps happen under wmu too, so
// bytes reach w in the order they were appended whoever does the writing.
type outBuffer struct {
	w       io.Writer
	delay   time.Duration
	soft    int // flush as soon as this much is buffered
	hard    int // producers wait beyond this much
	metrics *UARTMetrics

	wmu sync.Mutex // held across w.Write; Precondition for swapping buffers

	mu     sync.Mutex
	space  sync.Cond // with mu: buffer emptied, or closed
	buf    []byte    // bytes not yet handed to w
	spare  []byte    // the other buffer, reused to avoid allocation
	closed bool
	err    error // first write error since the last flush() call

	wake   chan struct{} // buffer went from empty to non-empty
	urgent chan struct{} // buffer reached soft, or a producer waits
	quit   chan struct{}
	exited chan struct{}
}

func newOutBuffer(w io.Writer, delay time.Duration, soft, hard int, m *UARTMetrics) *outBuffer {
	b := &outBuffer{
		w:       w,
		delay:   delay,
		soft:    soft,
		hard:    hard,
		metrics: m,
		buf:     make([]byte, 0, soft),
		spare:   make([]byte, 0, soft),
		wake:    make(chan struct{}, 1),
		urgent:  make(chan struct{}, 1),
		quit:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	b.space.L = &b.mu
	go b.run()
	return b
}

// poke sends a token on a one-slot channel without blocking: one pending
// token is as good as many.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// writeByte appends c, waiting while the buffer is at its bound.
func (b *outBuffer) writeByte(c byte) {
	b.mu.Lock()
	for len(b.buf) >= b.hard && !b.closed {
		poke(b.urgent)
		b.space.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		b.metrics.TxDropped.Add(1)
		return
	}
	b.buf = append(b.buf, c)
	n := len(b.buf)
	b.mu.Unlock()
	if n == 1 {
		poke(b.wake)
	}
	if n == b.soft {
		poke(b.urgent)
	}
}

// run is the flushing goroutine.
func (b *outBuffer) run() {
	defer close(b.exited)
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-b.wake:
		case <-b.quit:
			return
		}
		// The first unflushed byte has arrived: give the guest delay to
		// write the rest of its line, unless the buffer fills first.
		t.Reset(b.delay)
		select {
		case <-t.C:
		case <-b.urgent:
			t.Stop()
		case <-b.quit:
			t.Stop()
			return
		}
		b.writeOut()
	}
}

// writeOut hands everything buffered to w and reports the write's error.
func (b *outBuffer) writeOut() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	data := b.buf
	b.buf, b.spare = b.spare[:0], nil
	b.space.Broadcast()
	b.mu.Unlock()

	var err error
	if len(data) > 0 {
		var n int
		n, err = b.w.Write(data)
		b.metrics.TxFlushes.Add(1)
		if err == nil && n < len(data) {
			err = io.ErrShortWrite
		}
		if err != nil {
			b.metrics.TxWriteErrors.Add(1)
			b.metrics.TxDropped.Add(uint64(len(data) - max(n, 0)))
			err = fmt.Errorf("legacy: uart output: %w", err)
		}
	}

	b.mu.Lock()
	b.spare = data[:0]
	if err != nil && b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
	return err
}

// flush writes everything buffered and returns the first write error seen
// since the previous flush, by any writer of the buffer.
func (b *outBuffer) flush() error {
	b.writeOut()
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.err
	b.err = nil
	return err
}

// close stops the goroutine, releases waiting producers and flushes. Later
// calls return nil.
func (b *outBuffer) close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.space.Broadcast()
	b.mu.Unlock()
	close(b.quit)
	<-b.exited
	return b.flush()
}
