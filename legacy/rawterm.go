package legacy

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// errNotTerminal is what the platform code returns for a descriptor that is
// not a terminal (a pipe, a file, /dev/null).
var errNotTerminal = errors.New("not a terminal")

// RawTerminal is a terminal put in raw mode by MakeRaw, or a no-op stand-in
// when the file was not a terminal.
//
// Callers must restore the terminal on every way out of the process: defer
// Restore right after MakeRaw, and call Restore from the signal handler
// that ends the process (SIGTERM, SIGHUP; SIGINT only reaches the process
// when not in raw mode, since raw mode sends Ctrl-C to the guest). Restore
// is idempotent and safe to call concurrently, so both paths may run.
type RawTerminal struct {
	mu       sync.Mutex
	conn     syscall.RawConn // nil for the no-op stand-in
	name     string
	saved    *termState
	restored bool
}

// MakeRaw puts f in raw mode if it is a terminal, as QEMU's stdio chardev
// does (chardev/char-stdio.c): no echo, no line editing, no signal keys (so
// Ctrl-C and Ctrl-Z reach the guest; quit with Ctrl-A x), no CR/LF
// translation on input, 8-bit characters; output post-processing stays on.
//
// If f is not a terminal it returns a no-op RawTerminal and no error: piped
// input needs no mode change and escapes work the same. On systems without
// termios support it returns a no-op RawTerminal together with an error
// wrapping ErrNotSupported, which callers may report as a warning.
func MakeRaw(f *os.File) (*RawTerminal, error) {
	t := &RawTerminal{}
	if f == nil {
		return t, nil
	}
	conn, err := f.SyscallConn()
	if err != nil {
		return t, fmt.Errorf("legacy: console: %s: %w", f.Name(), err)
	}
	var saved *termState
	var opErr error
	if err := conn.Control(func(fd uintptr) {
		saved, opErr = termGet(fd)
		if opErr == nil {
			opErr = termSetRaw(fd, saved)
		}
	}); err != nil {
		return t, fmt.Errorf("legacy: console: %s: %w", f.Name(), err)
	}
	switch {
	case errors.Is(opErr, errNotTerminal):
		return t, nil
	case errors.Is(opErr, ErrNotSupported):
		return t, fmt.Errorf("legacy: console: raw mode for %s: %w", f.Name(), opErr)
	case opErr != nil:
		return t, fmt.Errorf("legacy: console: set raw mode on %s: %w", f.Name(), opErr)
	}
	t.conn, t.name, t.saved = conn, f.Name(), saved
	return t, nil
}

// IsRaw reports whether MakeRaw changed the terminal mode and Restore has
// not yet put it back.
func (t *RawTerminal) IsRaw() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conn != nil && !t.restored
}

// Restore puts the terminal back in the mode MakeRaw found it in. Only the
// first call does anything; later calls, and calls on the no-op stand-in,
// return nil.
func (t *RawTerminal) Restore() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil || t.restored {
		return nil
	}
	t.restored = true
	var opErr error
	if err := t.conn.Control(func(fd uintptr) { opErr = termSet(fd, t.saved) }); err != nil {
		return fmt.Errorf("legacy: console: restore %s: %w", t.name, err)
	}
	if opErr != nil {
		return fmt.Errorf("legacy: console: restore %s: %w", t.name, opErr)
	}
	return nil
}
