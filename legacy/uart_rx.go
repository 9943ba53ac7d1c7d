package legacy

import (
	"fmt"
	"io"
)

// Feed queues host bytes for the guest to receive. It never drops a byte:
// while the receive FIFO is full (16 bytes, or the single RBR with FIFOs
// disabled), or the guest has the UART in loopback mode, it waits for the
// guest to make room. It returns when all of p is queued, or early with
// ErrClosed once Close is called.
//
// Bytes already in the FIFO are lost if the guest clears it (FCR) or
// toggles the FIFO enable, as on hardware; Linux does both while it sets the
// port up.
//
// Feed is meant for one input goroutine; bytes from concurrent calls may
// interleave.
func (u *UART) Feed(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for {
		if u.closed {
			return n, ErrClosed
		}
		if u.mcr&mcrLoop == 0 {
			n += u.pushRXLocked(p[n:])
		}
		if n == len(p) {
			u.updateIRQLocked()
			return n, nil
		}
		u.feedersWaiting++
		u.updateIRQLocked()
		u.rxSpace.Wait()
		u.feedersWaiting--
	}
}

// Input returns an io.Writer whose Write is Feed, for io.Copy and friends.
func (u *UART) Input() io.Writer { return uartInput{u} }

type uartInput struct{ u *UART }

func (in uartInput) Write(p []byte) (int, error) { return in.u.Feed(p) }

// ReadFrom feeds everything read from r into the UART until r reports EOF
// (returns nil), r fails (returns the error) or the UART is closed (returns
// ErrClosed). Run it in its own goroutine. A Read blocked in r is not
// interrupted by Close: ReadFrom returns after that Read does.
func (u *UART) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, 4096)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, ferr := u.Feed(buf[:n])
			total += int64(m)
			if ferr != nil {
				return total, ferr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("legacy: uart input: %w", err)
		}
	}
}

// rxCapLocked is the receiver's depth: the FIFO, or the lone RBR in 16450
// mode.
// Precondition: u.mu held.
func (u *UART) rxCapLocked() int {
	if u.fifoEnabled {
		return fifoSize
	}
	return 1
}

// pushRXLocked queues as much of p as fits and returns how much that was.
// Precondition: u.mu held.
func (u *UART) pushRXLocked(p []byte) int {
	n := 0
	for n < len(p) && u.rxLen < u.rxCapLocked() {
		u.rx[(u.rxHead+u.rxLen)%fifoSize] = p[n]
		u.rxLen++
		n++
	}
	u.metrics.RxBytes.Add(uint64(n))
	return n
}

// loopbackRXLocked receives a byte the guest transmitted in loopback mode.
// A full receiver overruns (LSR.OE): with FIFOs enabled the new character
// is lost and the FIFO kept; in 16450 mode it replaces the unread RBR
// (16550A datasheet, LSR bit 1). Linux's size_fifo() counts the FIFO depth
// this way.
// Precondition: u.mu held.
func (u *UART) loopbackRXLocked(v byte) {
	switch {
	case u.rxLen < u.rxCapLocked():
		u.rx[(u.rxHead+u.rxLen)%fifoSize] = v
		u.rxLen++
		return
	case !u.fifoEnabled:
		u.rx[u.rxHead] = v
	}
	u.lsrErr |= lsrOE
	u.metrics.RxOverruns.Add(1)
}

// popRXLocked reads RBR: the oldest FIFO byte, or the last byte read when
// the FIFO is empty.
// Precondition: u.mu held.
func (u *UART) popRXLocked() byte {
	if u.rxLen == 0 {
		return u.lastRX
	}
	v := u.rx[u.rxHead]
	u.rxHead = (u.rxHead + 1) % fifoSize
	u.rxLen--
	u.lastRX = v
	if u.feedersWaiting > 0 {
		u.rxSpace.Signal()
	}
	return v
}

// Precondition: u.mu held.
func (u *UART) resetRXLocked() {
	u.rxHead, u.rxLen = 0, 0
	if u.feedersWaiting > 0 {
		u.rxSpace.Broadcast()
	}
}

// lineIdleLocked reports whether the receive line has gone quiet, which is
// what the character timeout interrupt signals (16550A datasheet, "FIFO
// interrupt mode operation": no character received for four character
// times while the FIFO holds fewer than the trigger level). Hardware
// measures that with a timer; here the host side knows: the line is idle
// unless a feeder is waiting with more bytes, and a waiting feeder means the
// FIFO is full, which already raises the data-available interrupt. Bytes
// fed in one call arrive together, so a burst shorter than the trigger level
// interrupts once, at its end.
// Precondition: u.mu held.
func (u *UART) lineIdleLocked() bool {
	return u.feedersWaiting == 0 || u.mcr&mcrLoop != 0
}
