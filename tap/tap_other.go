//go:build !linux

package tap

import "time"

// Tap is an open tap device; on this OS Open always fails with ErrNotSupported.
type Tap struct{}

// Open returns ErrNotSupported: tap devices are Linux-only here.
func Open(name string, opts Options) (*Tap, error) { return nil, ErrNotSupported }

// Name returns "".
func (t *Tap) Name() string { return "" }

// FD returns -1.
func (t *Tap) FD() int { return -1 }

// VnetHdrSize returns 0.
func (t *Tap) VnetHdrSize() int { return 0 }

// SndBuf returns ErrNotSupported.
func (t *Tap) SndBuf() (int, error) { return 0, ErrNotSupported }

// SetOffload returns ErrNotSupported.
func (t *Tap) SetOffload(flags Offload) error { return ErrNotSupported }

// Writev returns ErrNotSupported.
func (t *Tap) Writev(iov [][]byte) (int, error) { return 0, ErrNotSupported }

// Readv returns ErrNotSupported.
func (t *Tap) Readv(iov [][]byte) (int, error) { return 0, ErrNotSupported }

// WaitWritable returns ErrNotSupported.
func (t *Tap) WaitWritable(timeout time.Duration) (bool, error) { return false, ErrNotSupported }

// WaitWritableOr returns ErrNotSupported.
func (t *Tap) WaitWritableOr(fd int, timeout time.Duration) (writable, other bool, err error) {
	return false, false, ErrNotSupported
}

// Close returns nil.
func (t *Tap) Close() error { return nil }
