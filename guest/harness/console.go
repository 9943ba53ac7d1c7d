package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/govmm/govmm/internal/nestedkvm/proto"
)

// console serialises everything the harness and its commands print, and keeps
// marker lines whole: a marker always starts on a fresh line, even when the
// command before it ended without a newline.
type console struct {
	mu          sync.Mutex
	w           io.Writer
	nonce       string
	atLineStart bool
}

func newConsole(w io.Writer) *console {
	return &console{w: w, atLineStart: true}
}

// Write implements io.Writer for command output.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.write(p)
}

// Precondition: c.mu held.
func (c *console) write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.w.Write(p)
	if n > 0 {
		c.atLineStart = p[n-1] == '\n'
	}
	return n, err
}

// Printf prints one line of harness commentary for the person reading the log.
func (c *console) Printf(format string, args ...any) {
	c.line(fmt.Sprintf("harness: "+format, args...))
}

// Marker prints one marker line. Console write errors are ignored here and in
// Printf: the console is the only place to report them.
func (c *console) Marker(kind string, args ...string) {
	c.line(proto.Format(c.nonce, kind, args...))
}

func (c *console) line(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.atLineStart {
		_, _ = c.write([]byte("\n"))
	}
	_, _ = c.write([]byte(s + "\n"))
}
