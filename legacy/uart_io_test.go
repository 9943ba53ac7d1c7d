package legacy

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// pattern returns n bytes that reveal reordering and loss.
func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/251)
	}
	return p
}

func TestUARTOutputInOrder(t *testing.T) {
	for _, c := range []struct {
		name string
		out  *syncBuffer
		cfg  UARTConfig
	}{
		{"defaults", &syncBuffer{}, UARTConfig{}},
		// A slow terminal and a small bound: THR writes wait for room.
		{"backpressure", &syncBuffer{delay: 200 * time.Microsecond}, UARTConfig{FlushSize: 64, MaxBuffered: 128}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Out = c.out
			u := newTestUART(t, c.cfg)
			want := pattern(200_000)
			for _, b := range want {
				wr(u, regRBR, b)
			}
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}
			if got := []byte(c.out.String()); !bytes.Equal(got, want) {
				t.Fatalf("output differs: got %d bytes, want %d", len(got), len(want))
			}
			if n := u.Metrics().TxBytes.Load(); n != uint64(len(want)) {
				t.Errorf("TxBytes = %d, want %d", n, len(want))
			}
		})
	}
}

// TestUARTOutputConcurrentWriters has several vCPUs transmit at once: each
// one's bytes must arrive complete and in its own order.
func TestUARTOutputConcurrentWriters(t *testing.T) {
	out := &syncBuffer{}
	u := newTestUART(t, UARTConfig{Out: out, FlushSize: 256, MaxBuffered: 512})
	const writers, per = 4, 20_000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				// Writer w tags its bytes with w in the high nibble
				// and counts 0-9 in the low one.
				wr(u, regRBR, byte(w)<<4|byte(i%10))
			}
		}()
	}
	wg.Wait()
	u.Close()
	next := make([]int, writers)
	for _, b := range []byte(out.String()) {
		w := int(b >> 4)
		if w >= writers {
			t.Fatalf("stray byte %#02x", b)
		}
		if int(b&0x0f) != next[w]%10 {
			t.Fatalf("writer %d: got digit %d, want %d", w, b&0x0f, next[w]%10)
		}
		next[w]++
	}
	for w, n := range next {
		if n != per {
			t.Errorf("writer %d: %d bytes arrived, want %d", w, n, per)
		}
	}
}

func TestUARTOutputFlushedInBackground(t *testing.T) {
	out := &syncBuffer{}
	u := newTestUART(t, UARTConfig{Out: out, FlushDelay: 20 * time.Millisecond})
	for _, b := range []byte("login: ") {
		wr(u, regRBR, b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "login: " {
		if time.Now().After(deadline) {
			t.Fatalf("output %q not flushed without Flush or Close", out.String())
		}
		time.Sleep(time.Millisecond)
	}
	if n := out.Writes(); n != 1 {
		t.Errorf("%d writes for one short line, want 1", n)
	}
}

func TestUARTOutputHeldUntilFlush(t *testing.T) {
	out := &syncBuffer{}
	u := newTestUART(t, UARTConfig{Out: out, FlushDelay: time.Hour})
	for _, b := range []byte("panic: ") {
		wr(u, regRBR, b)
	}
	time.Sleep(10 * time.Millisecond)
	if s := out.String(); s != "" {
		t.Fatalf("output %q written before the delay", s)
	}
	if err := u.Flush(); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); s != "panic: " {
		t.Fatalf("after Flush: %q", s)
	}
	for _, b := range []byte("oops") {
		wr(u, regRBR, b)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); s != "panic: oops" {
		t.Fatalf("after Close: %q", s)
	}
	if err := u.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	wr(u, regRBR, '!')
	if s := out.String(); s != "panic: oops" {
		t.Errorf("byte written after Close reached the output: %q", s)
	}
	if n := u.Metrics().TxDropped.Load(); n != 1 {
		t.Errorf("TxDropped = %d, want 1", n)
	}
}

func TestUARTOutputSizeTriggersFlush(t *testing.T) {
	out := &syncBuffer{}
	u := newTestUART(t, UARTConfig{Out: out, FlushDelay: time.Hour, FlushSize: 100})
	for _, b := range pattern(100) {
		wr(u, regRBR, b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(out.String()) < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("a full buffer was not flushed: %d bytes out", len(out.String()))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestUARTOutputWriteError(t *testing.T) {
	boom := errors.New("boom")
	out := &syncBuffer{err: boom}
	u := newTestUART(t, UARTConfig{Out: out})
	wr(u, regRBR, 'a')
	if err := u.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush = %v, want %v", err, boom)
	}
	if err := u.Flush(); err != nil {
		t.Errorf("second Flush = %v, want nil (error reported once)", err)
	}
	if u.Metrics().TxWriteErrors.Load() != 1 || u.Metrics().TxDropped.Load() != 1 {
		t.Errorf("metrics: %d errors, %d dropped", u.Metrics().TxWriteErrors.Load(), u.Metrics().TxDropped.Load())
	}
}

// guestReader drains the UART like a polling driver until it has n bytes.
// Call it from the test goroutine.
func guestReader(t *testing.T, u *UART, n int) []byte {
	t.Helper()
	got := make([]byte, 0, n)
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n {
		if l := u.rxLenNow(); l > fifoSize {
			t.Fatalf("FIFO holds %d bytes", l)
		}
		if rd(u, regLSR)&lsrDR == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no input after %d of %d bytes", len(got), n)
			}
			time.Sleep(10 * time.Microsecond)
			continue
		}
		got = append(got, rd(u, regRBR))
	}
	return got
}

func TestUARTFeedNeverDrops(t *testing.T) {
	for _, fcr := range []byte{0x00, 0x01, 0xc1} {
		u := newTestUART(t, UARTConfig{})
		wr(u, regIIR, fcr)
		want := pattern(5000)
		done := make(chan error, 1)
		go func() {
			// Uneven chunks, many larger than the FIFO.
			p := want
			for len(p) > 0 {
				n := min(len(p), 1+len(p)%37)
				if _, err := u.Feed(p[:n]); err != nil {
					done <- err
					return
				}
				p = p[n:]
			}
			done <- nil
		}()
		got := guestReader(t, u, len(want))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("FCR %#02x: received bytes differ from those fed", fcr)
		}
		if n := u.Metrics().RxBytes.Load(); n != uint64(len(want)) {
			t.Errorf("FCR %#02x: RxBytes = %d", fcr, n)
		}
	}
}

// TestUARTFeedInterruptDriven reads only when the IRQ line is high, as an
// interrupt-driven driver does, at every trigger level: the FIFO must never
// stall with bytes the guest is not told about.
func TestUARTFeedInterruptDriven(t *testing.T) {
	for _, fcr := range []byte{0x00, 0x01, 0x41, 0x81, 0xc1} {
		irq := newFakeIRQ()
		u := newTestUART(t, UARTConfig{IRQ: irq})
		wr(u, regIIR, fcr)
		wr(u, regIER, ierERBFI)
		want := pattern(3000)
		go func() {
			for p := want; len(p) > 0; {
				n := min(len(p), 1+len(p)%23)
				u.Feed(p[:n])
				p = p[n:]
			}
		}()
		var got []byte
		timeout := time.After(10 * time.Second)
		for len(got) < len(want) {
			select {
			case <-irq.notify:
			case <-timeout:
				t.Fatalf("FCR %#02x: stalled after %d bytes (IIR %#02x)", fcr, len(got), rd(u, regIIR))
			}
			// The interrupt handler: service until IIR says no interrupt.
			for rd(u, regIIR)&iirNone == 0 {
				for rd(u, regLSR)&lsrDR != 0 {
					got = append(got, rd(u, regRBR))
				}
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("FCR %#02x: received bytes differ from those fed", fcr)
		}
	}
}

func TestUARTFeedWaitsForRoom(t *testing.T) {
	u := newTestUART(t, UARTConfig{})
	wr(u, regIIR, fcrEnable)
	done := make(chan int)
	go func() {
		n, _ := u.Feed(pattern(fifoSize + 1))
		done <- n
	}()
	select {
	case <-done:
		t.Fatal("Feed of 17 bytes returned before the guest read anything")
	case <-time.After(20 * time.Millisecond):
	}
	if got := u.rxLenNow(); got != fifoSize {
		t.Errorf("FIFO holds %d bytes, want 16", got)
	}
	rd(u, regRBR)
	select {
	case n := <-done:
		if n != fifoSize+1 {
			t.Errorf("Feed returned %d", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Feed still waiting after the guest made room")
	}
}

func TestUARTFeedWaitsInLoopback(t *testing.T) {
	u := newTestUART(t, UARTConfig{})
	wr(u, regMCR, mcrLoop)
	done := make(chan struct{})
	go func() {
		u.Feed([]byte("host"))
		close(done)
	}()
	time.Sleep(10 * time.Millisecond)
	if rd(u, regLSR)&lsrDR != 0 {
		t.Fatal("host input reached the receiver in loopback mode")
	}
	wr(u, regMCR, 0)
	if got := guestReader(t, u, 4); string(got) != "host" {
		t.Errorf("got %q after leaving loopback", got)
	}
	<-done
}

func TestUARTFeedClose(t *testing.T) {
	u := newTestUART(t, UARTConfig{})
	errc := make(chan error)
	go func() {
		_, err := u.Feed([]byte("more than one byte"))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	u.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Feed after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a waiting Feed")
	}
	if _, err := u.Feed([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Feed on a closed UART = %v", err)
	}
}

func TestUARTReadFrom(t *testing.T) {
	u := newTestUART(t, UARTConfig{})
	wr(u, regIIR, fcrEnable)
	want := strings.Repeat("0123456789abcdef", 100)
	res := make(chan error, 1)
	go func() {
		n, err := u.ReadFrom(strings.NewReader(want))
		if err == nil && n != int64(len(want)) {
			err = io.ErrShortWrite
		}
		res <- err
	}()
	if got := guestReader(t, u, len(want)); string(got) != want {
		t.Error("ReadFrom: bytes differ")
	}
	if err := <-res; err != nil {
		t.Errorf("ReadFrom: %v", err)
	}
	var _ io.Writer = u.Input()
}

// countingWriter counts Write calls and bytes, for the benchmark.
type countingWriter struct {
	mu     sync.Mutex
	writes int
	bytes  int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.bytes += len(p)
	c.mu.Unlock()
	return len(p), nil
}

// BenchmarkUARTTHR1MiB writes 1 MiB through THR one byte at a time, as a
// guest console does, and reports how many writes reached the host writer.
func BenchmarkUARTTHR1MiB(b *testing.B) {
	const size = 1 << 20
	b.SetBytes(size)
	var writes, total int
	for range b.N {
		cw := &countingWriter{}
		u, err := NewUART(UARTConfig{Out: cw})
		if err != nil {
			b.Fatal(err)
		}
		buf := []byte{0}
		for i := range size {
			buf[0] = byte(i)
			u.Write(regRBR, buf)
		}
		if err := u.Close(); err != nil {
			b.Fatal(err)
		}
		if cw.bytes != size {
			b.Fatalf("%d bytes reached the writer, want %d", cw.bytes, size)
		}
		writes += cw.writes
		total++
	}
	b.ReportMetric(float64(writes)/float64(total), "writes/op")
}
