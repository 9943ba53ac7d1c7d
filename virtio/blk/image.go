package blk

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// Options say how to open an image.
type Options struct {
	// ReadOnly opens the file read-only under a shared lock: several VMs
	// may share a read-only image, none may write it meanwhile.
	ReadOnly bool
	// Direct asks for O_DIRECT (cache=none): guest I/O bypasses the host
	// page cache. Where the filesystem cannot do direct I/O (tmpfs on
	// older kernels, some FUSE and network filesystems) the image is
	// opened normally and a warning says so.
	Direct bool
}

// Errors Open returns inside an *ImageError.
var (
	ErrLocked       = errors.New("locked by another process (is another VM using it?)")
	ErrIsDir        = errors.New("is a directory, not a disk image")
	ErrNotRegular   = errors.New("not a regular file (only raw image files are supported)")
	ErrNotSupported = errors.New("raw disk images are not supported on this OS")
)

// ImageError is a failure to open an image: "image PATH: what went
// wrong". It wraps a sentinel above or the system's errno, so
// errors.Is(err, fs.ErrNotExist) and errors.Is(err, ErrLocked) work.
type ImageError struct {
	Path string
	Err  error
}

func (e *ImageError) Error() string { return fmt.Sprintf("image %s: %v", e.Path, e.Err) }
func (e *ImageError) Unwrap() error { return e.Err }

// ImageMetrics count how an image served requests that did not suit its
// open mode. All are atomic.
type ImageMetrics struct {
	// DirectBounces: O_DIRECT transfers whose guest buffers were not
	// aligned as the filesystem requires, copied through an aligned
	// buffer.
	DirectBounces atomic.Uint64
	// BufferedFallbacks: O_DIRECT transfers whose offset or length was
	// not aligned (or that the kernel refused), served through the page
	// cache instead.
	BufferedFallbacks atomic.Uint64
	// ZeroWrites: WRITE_ZEROES ranges the filesystem could not zero with
	// fallocate, written with zero buffers.
	ZeroWrites atomic.Uint64
	// DiscardsIgnored: discards the filesystem cannot punch (a discard is
	// a hint; nothing else happens).
	DiscardsIgnored atomic.Uint64
}

// Write prints the counters as "prefix.name value" lines.
func (m *ImageMetrics) Write(w io.Writer, prefix string) {
	for _, c := range []struct {
		name string
		v    *atomic.Uint64
	}{
		{"image_direct_bounces", &m.DirectBounces}, {"image_buffered_fallbacks", &m.BufferedFallbacks},
		{"image_zero_writes", &m.ZeroWrites}, {"image_discards_ignored", &m.DiscardsIgnored},
	} {
		fmt.Fprintf(w, "%s%s %d\n", prefix, c.name, c.v.Load())
	}
}
