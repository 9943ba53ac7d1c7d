//go:build linux

package tap_test

import (
	"errors"
	"log"

	"github.com/govmm/govmm/tap"
	"golang.org/x/sys/unix"
)

// A TX worker's loop: a frame the tap refuses stays at the head of the queue
// (not dropped, not completed) until the tap is writable again, and a reset
// eventfd interrupts the wait.
func ExampleTap_WaitWritableOr() {
	tp, err := tap.Open("tap0", tap.Options{VnetHdr: true, SndBuf: 65536})
	if err != nil {
		log.Fatal(err)
	}
	defer tp.Close()
	reset, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		log.Fatal(err)
	}
	defer unix.Close(reset)

	next := func() ([][]byte, bool) { return nil, false } // the guest's TX ring
	for {
		frame, ok := next() // peek; do not pop until written
		if !ok {
			return
		}
		_, err := tp.Writev(frame)
		switch {
		case err == nil:
			// pop the descriptor chain, complete it, count tx_frames
		case errors.Is(err, tap.ErrWouldBlock):
			// count tap_write_eagain, keep the frame, wait for space,
			// then retry the same frame (a timeout would retry too)
			if _, resetting, err := tp.WaitWritableOr(reset, -1); err != nil || resetting {
				return // the reset completes the held frame itself
			}
		default:
			// EIO (tap down) and the like: pop, complete and count the
			// frame; log the first error only
		}
	}
}
