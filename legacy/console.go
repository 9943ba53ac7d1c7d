package legacy

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// maxConsoleBacklog bounds the input read from the host but not yet taken
// by the guest. Below it the console keeps reading, so Ctrl-A x works while
// the guest ignores its serial port; above it reading pauses until the
// guest catches up (only a large paste or a pipe gets there).
const maxConsoleBacklog = 64 << 10

// ConsoleConfig configures a Console.
type ConsoleConfig struct {
	// In is the host input, usually os.Stdin (put it in raw mode with
	// MakeRaw first when it is a terminal).
	In io.Reader
	// Out receives the escape help and the quit message, usually
	// os.Stdout. Nil discards them.
	Out io.Writer
	// Escape is the escape byte; 0 selects DefaultEscapeChar (Ctrl-A).
	Escape byte
	// OnQuit, if set, is called once when the user types the quit
	// sequence, from the goroutine running Run. It must not wait for Run
	// to return. Quit() reports the same event as a channel.
	OnQuit func()
}

// Console connects host input to a guest serial port with QEMU's escape
// handling (see EscapeParser). It does not touch terminal modes; see
// MakeRaw.
type Console struct {
	in     io.Reader
	out    io.Writer
	parser *EscapeParser
	onQuit func()

	quitOnce sync.Once
	quit     chan struct{}

	mu      sync.Mutex
	cond    sync.Cond // with mu: backlog changed or feeding stopped
	backlog []byte    // guest bytes not yet written to the destination
	closing bool      // no more input: the feeder ends once the backlog is empty
	stop    bool      // the feeder gave up: destination failed or closed
	feedErr error
}

// NewConsole returns a console reading cfg.In.
func NewConsole(cfg ConsoleConfig) *Console {
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	c := &Console{
		in:     cfg.In,
		out:    out,
		parser: NewEscapeParser(cfg.Escape),
		onQuit: cfg.OnQuit,
		quit:   make(chan struct{}),
	}
	c.cond.L = &c.mu
	return c
}

// Quit returns a channel closed when the user asks to quit.
func (c *Console) Quit() <-chan struct{} { return c.quit }

// Run copies host input to dst (typically UART.Input()) until the input
// ends, the user quits or dst fails, and returns nil on end of input or
// quit. dst may block (the UART waits for the guest to drain its FIFO); a
// separate goroutine writes to it so that escapes are still read meanwhile.
//
// At end of input Run waits until dst has taken everything read before it
// returns; the guest keeps running, as with QEMU. After a quit it returns
// at once, leaving bytes typed before the quit to the writing goroutine,
// which ends when they are written or dst fails (UART.Close makes a waiting
// Feed return).
func (c *Console) Run(dst io.Writer) error {
	done := make(chan struct{})
	go c.feed(dst, done)
	quit, err := c.read()

	// The feeder delivers what is queued, then ends.
	c.mu.Lock()
	c.closing = true
	c.cond.Broadcast()
	c.mu.Unlock()
	if quit {
		return nil
	}
	<-done
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.feedErr
}

// read is the input loop. It reports whether the user quit, or a read error.
func (c *Console) read() (bool, error) {
	buf := make([]byte, 1024)
	var guest []byte
	for {
		n, rerr := c.in.Read(buf)
		guest = guest[:0]
		for _, b := range buf[:n] {
			var a EscapeAction
			guest, a = c.parser.Step(guest, b)
			switch a {
			case EscapeHelp:
				c.printHelp()
			case EscapeQuit:
				// Bytes typed before the quit still go to the guest,
				// unless that would mean waiting.
				c.enqueue(guest, false)
				fmt.Fprint(c.out, "\r\ngovmm: terminated\r\n")
				c.requestQuit()
				return true, nil
			}
		}
		if !c.enqueue(guest, true) {
			return false, nil // destination gone: nothing more to do
		}
		if rerr == io.EOF {
			return false, nil
		}
		if rerr != nil {
			return false, fmt.Errorf("legacy: console input: %w", rerr)
		}
	}
}

// enqueue adds p to the backlog, waiting (if wait) while the backlog is
// over its bound. It reports false once the feeder has stopped.
func (c *Console) enqueue(p []byte, wait bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for wait && len(c.backlog) >= maxConsoleBacklog && !c.stop {
		c.cond.Wait()
	}
	if c.stop {
		return false
	}
	if len(p) > 0 {
		c.backlog = append(c.backlog, p...)
		c.cond.Broadcast()
	}
	return true
}

// feed writes the backlog to dst until input ends and the backlog is
// empty, or dst fails.
func (c *Console) feed(dst io.Writer, done chan<- struct{}) {
	defer close(done)
	var chunk []byte
	for {
		c.mu.Lock()
		for len(c.backlog) == 0 && !c.stop && !c.closing {
			c.cond.Wait()
		}
		if c.stop || len(c.backlog) == 0 {
			c.mu.Unlock()
			return
		}
		chunk, c.backlog = c.backlog, chunk[:0]
		c.mu.Unlock()

		_, err := dst.Write(chunk)

		c.mu.Lock()
		if err != nil {
			if !errors.Is(err, ErrClosed) {
				c.feedErr = fmt.Errorf("legacy: console: write to guest: %w", err)
			}
			c.stop = true
		}
		c.cond.Broadcast() // the backlog has room again
		c.mu.Unlock()
	}
}

func (c *Console) requestQuit() {
	c.quitOnce.Do(func() {
		close(c.quit)
		if c.onQuit != nil {
			c.onQuit()
		}
	})
}

// printHelp prints the escape commands, with QEMU's wording and its "\r\n"
// line ends (the terminal is in raw mode).
func (c *Console) printHelp() {
	e := escapeName(c.parser.esc)
	fmt.Fprintf(c.out, "\r\n%s h    print this help\r\n%s x    exit govmm\r\n%s %s  send %s to the guest\r\n",
		e, e, e, e, e)
}

// escapeName spells an escape byte the way QEMU's help does: C-a for 0x01.
func escapeName(b byte) string {
	if b > 0 && b <= 26 {
		return "C-" + string(rune('a'+b-1))
	}
	return fmt.Sprintf("0x%02x", b)
}
