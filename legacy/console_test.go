package legacy

import (
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConsoleQuit(t *testing.T) {
	var calls atomic.Int32
	out := &syncBuffer{}
	guest := &syncBuffer{}
	c := NewConsole(ConsoleConfig{
		In:     strings.NewReader("uname\r\x01xnot sent"),
		Out:    out,
		OnQuit: func() { calls.Add(1) },
	})
	if err := c.Run(guest); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Quit():
	default:
		t.Fatal("Quit channel not closed")
	}
	if calls.Load() != 1 {
		t.Errorf("OnQuit called %d times", calls.Load())
	}
	if !strings.Contains(out.String(), "terminated") {
		t.Errorf("no quit message on the console: %q", out.String())
	}
	// The bytes before the quit reach the guest, the rest does not.
	deadline := time.Now().Add(5 * time.Second)
	for guest.String() != "uname\r" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if g := guest.String(); g != "uname\r" {
		t.Errorf("guest got %q", g)
	}
}

func TestConsoleHelpAndEOF(t *testing.T) {
	out := &syncBuffer{}
	guest := &syncBuffer{}
	c := NewConsole(ConsoleConfig{In: strings.NewReader("a\x01hb\x01\x01c"), Out: out})
	if err := c.Run(guest); err != nil {
		t.Fatal(err)
	}
	// At end of input Run returns only once the guest has everything.
	if g := guest.String(); g != "ab\x01c" {
		t.Errorf("guest got %q", g)
	}
	for _, want := range []string{"C-a h", "C-a x", "C-a C-a"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q: %q", want, out.String())
		}
	}
	select {
	case <-c.Quit():
		t.Error("end of input reported as quit")
	default:
	}
}

// blockingWriter accepts nothing until released, like a UART whose guest
// never reads.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	got     []byte
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	b.mu.Lock()
	b.got = append(b.got, p...)
	b.mu.Unlock()
	return len(p), nil
}

// TestConsoleQuitWhileGuestStalled: Ctrl-A x must work while the guest
// is not draining its input.
func TestConsoleQuitWhileGuestStalled(t *testing.T) {
	pr, pw := io.Pipe()
	dst := &blockingWriter{release: make(chan struct{})}
	c := NewConsole(ConsoleConfig{In: pr})
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(dst) }()
	pw.Write([]byte("typed while the guest is busy"))
	pw.Write([]byte("\x01x"))
	select {
	case <-c.Quit():
	case <-time.After(5 * time.Second):
		t.Fatal("quit not seen while the destination blocks")
	}
	if err := <-runErr; err != nil {
		t.Errorf("Run = %v", err)
	}
	close(dst.release)
	pw.Close()
}

func TestConsoleFeedsUART(t *testing.T) {
	u := newTestUART(t, UARTConfig{})
	wr(u, regIIR, fcrEnable)
	want := strings.Repeat("x", 100)
	c := NewConsole(ConsoleConfig{In: strings.NewReader(want + "\x01x")})
	go c.Run(u.Input())
	if got := guestReader(t, u, len(want)); string(got) != want {
		t.Errorf("guest read %q", got)
	}
	<-c.Quit()
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestConsoleErrors(t *testing.T) {
	boom := errors.New("boom")
	c := NewConsole(ConsoleConfig{In: errReader{boom}})
	if err := c.Run(io.Discard); !errors.Is(err, boom) {
		t.Errorf("Run with a failing reader = %v", err)
	}
	// A closed UART ends Run quietly.
	u := newTestUART(t, UARTConfig{})
	u.Close()
	c = NewConsole(ConsoleConfig{In: strings.NewReader("abc")})
	if err := c.Run(u.Input()); err != nil {
		t.Errorf("Run into a closed UART = %v", err)
	}
}

func TestMakeRawNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	term, err := MakeRaw(r)
	if err != nil {
		t.Fatalf("MakeRaw(pipe) = %v", err)
	}
	if term.IsRaw() {
		t.Error("a pipe was put in raw mode")
	}
	if err := term.Restore(); err != nil {
		t.Error(err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if term, err := MakeRaw(devnull); err != nil || term.IsRaw() {
		t.Errorf("MakeRaw(/dev/null) = %v, raw %v", err, term.IsRaw())
	}
	if term, err := MakeRaw(nil); err != nil || term.Restore() != nil {
		t.Errorf("MakeRaw(nil) = %v", err)
	}
}
