package blk

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sys/unix"
)

// Image is a raw disk image file. It is a Backend; its methods are safe
// for concurrent use (positional I/O only).
//
// The file is opened O_CLOEXEC and locked with flock: exclusively for a
// writable image, shared for a read-only one. The lock belongs to the
// open file and goes when Close (or the process's death) closes it, so a
// second VM on the same image fails to start instead of corrupting it.
//
// With Options.Direct a second descriptor on the same file is opened
// O_DIRECT and carries the guest's I/O. Direct I/O needs aligned buffers,
// offsets and lengths (statx STATX_DIOALIGN says how much). A transfer
// whose guest buffers are not aligned is copied through an aligned bounce
// buffer; one whose offset or length is not aligned (possible only where
// the filesystem needs more than 512 bytes) goes through the first,
// buffered, descriptor. The kernel keeps the two coherent: direct I/O
// writes back and invalidates cached pages of its range.
type Image struct {
	path     string
	fd       int // buffered; holds the lock
	dfd      int // O_DIRECT, or -1
	size     int64
	readOnly bool
	memAlign int64 // direct I/O buffer address alignment
	offAlign int64 // direct I/O offset and length alignment
	warnings []string
	bounce   sync.Pool // *[]byte of bounceSize, aligned for direct I/O

	Metrics ImageMetrics

	closeOnce sync.Once
	closeErr  error
}

var _ Backend = (*Image)(nil)

const (
	// maxIOV is UIO_MAXIOV: longer lists go to preadv/pwritev in pieces.
	maxIOV = 1024
	// bounceSize is the bounce buffer, and the zero buffer's, size.
	bounceSize = 1 << 20
)

// Open opens a raw image. The errors say what is wrong and are all
// *ImageError: a missing file (fs.ErrNotExist), a directory (ErrIsDir),
// something other than a regular file (ErrNotRegular), an image another
// process holds (ErrLocked), permissions. Warnings reports what was
// accepted with a caveat: a size that is not a whole number of sectors,
// O_DIRECT unavailable.
func Open(path string, o Options) (*Image, error) {
	flags := unix.O_CLOEXEC | unix.O_RDWR
	if o.ReadOnly {
		flags = unix.O_CLOEXEC | unix.O_RDONLY
	}
	fail := func(err error) (*Image, error) { return nil, &ImageError{Path: path, Err: err} }
	// O_NONBLOCK keeps a FIFO from blocking the open; it is cleared once
	// the file is known to be a regular one.
	fd, err := openFile(path, flags|unix.O_NONBLOCK)
	if err != nil {
		return fail(openError(err, o.ReadOnly))
	}
	im := &Image{path: path, fd: fd, dfd: -1, readOnly: o.ReadOnly}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return fail(fmt.Errorf("fstat: %w", err))
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		unix.Close(fd)
		return fail(ErrIsDir)
	default:
		unix.Close(fd)
		return fail(ErrNotRegular)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags&^unix.O_CLOEXEC); err != nil {
		unix.Close(fd)
		return fail(fmt.Errorf("fcntl: %w", err))
	}
	how := unix.LOCK_EX
	if o.ReadOnly {
		how = unix.LOCK_SH
	}
	if err := flock(fd, how|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fail(ErrLocked)
		}
		return fail(fmt.Errorf("flock: %w", err))
	}
	im.size = st.Size &^ (SectorSize - 1)
	if tail := st.Size - im.size; tail != 0 {
		im.warnf("size %d bytes is not a multiple of %d; the last %d bytes are not exposed to the guest", st.Size, SectorSize, tail)
	}
	if o.Direct {
		im.openDirect(flags, &st)
	}
	return im, nil
}

// openError turns open(2)'s errno into a message that says what to do.
func openError(err error, readOnly bool) error {
	switch {
	case errors.Is(err, unix.EISDIR):
		return ErrIsDir
	case !readOnly && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) || errors.Is(err, unix.EPERM)):
		return fmt.Errorf("%w (a read-only drive needs only read access)", err)
	}
	return err
}

func openFile(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func flock(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err != unix.EINTR {
			return err
		}
	}
}

// openDirect opens the O_DIRECT descriptor through /proc/self/fd, so it
// is the same file even if the path changed meanwhile, and learns the
// alignment direct I/O needs. Failure is a warning, not an error.
func (im *Image) openDirect(flags int, st *unix.Stat_t) {
	dfd, err := openFile(fmt.Sprintf("/proc/self/fd/%d", im.fd), flags|unix.O_DIRECT)
	if err != nil {
		dfd, err = openFile(im.path, flags|unix.O_DIRECT)
	}
	if err != nil {
		im.warnf("direct I/O (cache=none) is not available on this filesystem (%v); using the host page cache", err)
		return
	}
	var dst unix.Stat_t
	if err := unix.Fstat(dfd, &dst); err != nil || dst.Dev != st.Dev || dst.Ino != st.Ino {
		unix.Close(dfd)
		im.warnf("direct I/O (cache=none): the file changed while it was opened; using the host page cache")
		return
	}
	var sx unix.Statx_t
	im.memAlign, im.offAlign = 4096, 4096 // before Linux 6.1 statx cannot tell: be safe
	if err := unix.Statx(dfd, "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &sx); err == nil && sx.Mask&unix.STATX_DIOALIGN != 0 {
		if sx.Dio_mem_align == 0 || sx.Dio_offset_align == 0 {
			unix.Close(dfd)
			im.warnf("direct I/O (cache=none) is not supported for this file; using the host page cache")
			return
		}
		im.memAlign, im.offAlign = int64(sx.Dio_mem_align), int64(sx.Dio_offset_align)
	}
	if im.offAlign > bounceSize || im.offAlign&(im.offAlign-1) != 0 || im.memAlign&(im.memAlign-1) != 0 {
		unix.Close(dfd)
		im.warnf("direct I/O (cache=none) needs alignment %d/%d; using the host page cache", im.memAlign, im.offAlign)
		return
	}
	im.dfd = dfd
	align := max(im.memAlign, 4096)
	im.bounce.New = func() any {
		b := make([]byte, bounceSize+align)
		// The Go heap does not move objects: the aligned window stays
		// aligned.
		k := (align - int64(addr(b))%align) % align
		b = b[k : k+bounceSize : k+bounceSize]
		return &b
	}
}

func (im *Image) warnf(format string, args ...any) {
	im.warnings = append(im.warnings, fmt.Sprintf("image %s: ", im.path)+fmt.Sprintf(format, args...))
}

// Warnings are the caveats Open accepted, one line each, ready to print.
func (im *Image) Warnings() []string { return im.warnings }

// Path is the path the image was opened with.
func (im *Image) Path() string { return im.path }

// Size is the guest-visible size: the file size rounded down to a sector.
func (im *Image) Size() int64 { return im.size }

// ReadOnly reports whether the image was opened read-only.
func (im *Image) ReadOnly() bool { return im.readOnly }

// Direct reports whether guest I/O uses O_DIRECT.
func (im *Image) Direct() bool { return im.dfd >= 0 }

// DirectAlignment is what direct I/O needs: buffer address alignment and
// offset/length alignment (0, 0 without direct I/O).
func (im *Image) DirectAlignment() (mem, off int64) {
	if im.dfd < 0 {
		return 0, 0
	}
	return im.memAlign, im.offAlign
}

// WriteMetrics prints the image's counters.
func (im *Image) WriteMetrics(w io.Writer, prefix string) { im.Metrics.Write(w, prefix) }

// Close closes the descriptors, which releases the lock. It is idempotent.
func (im *Image) Close() error {
	im.closeOnce.Do(func() {
		if im.dfd >= 0 {
			unix.Close(im.dfd)
		}
		im.closeErr = unix.Close(im.fd)
	})
	return im.closeErr
}

// fit is how a transfer can go with direct I/O.
type fit int

const (
	fitDirect   fit = iota // straight from and to guest memory
	fitBounce              // through an aligned buffer
	fitBuffered            // through the page cache
)

func (im *Image) fit(iov [][]byte, off int64) fit {
	if im.dfd < 0 {
		return fitBuffered
	}
	var n int64
	f := fitDirect
	for _, b := range iov {
		n += int64(len(b))
		if int64(addr(b))&(im.memAlign-1) != 0 || int64(len(b))&(im.offAlign-1) != 0 {
			f = fitBounce
		}
	}
	if (off|n)&(im.offAlign-1) != 0 {
		return fitBuffered
	}
	return f
}

// ReadV implements Backend.
func (im *Image) ReadV(iov [][]byte, off int64) error {
	switch im.fit(iov, off) {
	case fitDirect:
		err := readFull(im.dfd, iov, off)
		if err != unix.EINVAL {
			return err
		}
		// The kernel wants more alignment than statx said: the page
		// cache serves it.
		im.Metrics.BufferedFallbacks.Add(1)
	case fitBounce:
		im.Metrics.DirectBounces.Add(1)
		return im.bounceRead(iov, off)
	default:
		if im.dfd >= 0 {
			im.Metrics.BufferedFallbacks.Add(1)
		}
	}
	return readFull(im.fd, iov, off)
}

// WriteV implements Backend.
func (im *Image) WriteV(iov [][]byte, off int64) error {
	switch im.fit(iov, off) {
	case fitDirect:
		err := writeFull(im.dfd, iov, off)
		if err != unix.EINVAL {
			return err
		}
		im.Metrics.BufferedFallbacks.Add(1)
	case fitBounce:
		im.Metrics.DirectBounces.Add(1)
		return im.bounceWrite(iov, off)
	default:
		if im.dfd >= 0 {
			im.Metrics.BufferedFallbacks.Add(1)
		}
	}
	return writeFull(im.fd, iov, off)
}

func (im *Image) bounceRead(iov [][]byte, off int64) error {
	bp := im.bounce.Get().(*[]byte)
	defer im.bounce.Put(bp)
	total := iovLen(iov)
	for done := int64(0); done < total; {
		b := (*bp)[:min(total-done, bounceSize)]
		if err := readFull(im.dfd, [][]byte{b}, off+done); err != nil {
			return err
		}
		scatter(iov, done, b)
		done += int64(len(b))
	}
	return nil
}

func (im *Image) bounceWrite(iov [][]byte, off int64) error {
	bp := im.bounce.Get().(*[]byte)
	defer im.bounce.Put(bp)
	total := iovLen(iov)
	for done := int64(0); done < total; {
		b := (*bp)[:min(total-done, bounceSize)]
		gatherAt(b, iov, done)
		if err := writeFull(im.dfd, [][]byte{b}, off+done); err != nil {
			return err
		}
		done += int64(len(b))
	}
	return nil
}

// Sync is fdatasync: one call covers both descriptors (it acts on the
// file).
func (im *Image) Sync() error {
	for {
		err := unix.Fdatasync(im.fd)
		if err != unix.EINTR {
			return err
		}
	}
}

func (im *Image) fallocate(mode uint32, off, n int64) error {
	for {
		err := unix.Fallocate(im.fd, mode, off, n)
		if err != unix.EINTR {
			return err
		}
	}
}

func unsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL)
}

// Discard punches a hole (the file keeps its size). A filesystem that
// cannot punch holes ignores discards.
func (im *Image) Discard(off, n int64) error {
	err := im.fallocate(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err != nil && unsupported(err) {
		im.Metrics.DiscardsIgnored.Add(1)
		return nil
	}
	return err
}

// WriteZeroes punches a hole when unmap allows it (holes read as zero),
// else zeroes the range in place (FALLOC_FL_ZERO_RANGE), else writes
// zeroes.
func (im *Image) WriteZeroes(off, n int64, unmap bool) error {
	if unmap {
		err := im.fallocate(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
		if err == nil || !unsupported(err) {
			return err
		}
	}
	err := im.fallocate(unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil || !unsupported(err) {
		return err
	}
	im.Metrics.ZeroWrites.Add(1)
	zero := make([]byte, min(n, bounceSize))
	for done := int64(0); done < n; {
		b := zero[:min(n-done, int64(len(zero)))]
		if err := writeFull(im.fd, [][]byte{b}, off+done); err != nil {
			return err
		}
		done += int64(len(b))
	}
	return nil
}

// readFull reads all of iov at off, in pieces of at most maxIOV buffers,
// across short reads. Past the end of the file (which only happens if
// someone shrank it) the rest reads as zero.
func readFull(fd int, iov [][]byte, off int64) error {
	for len(iov) > 0 {
		piece := iov[:min(len(iov), maxIOV)]
		var n int
		var err error
		if len(piece) == 1 {
			n, err = unix.Pread(fd, piece[0], off)
		} else {
			n, err = unix.Preadv(fd, piece, off)
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			for _, b := range iov {
				clear(b)
			}
			return nil
		}
		off += int64(n)
		iov = advance(iov, n)
	}
	return nil
}

// writeFull writes all of iov at off, like readFull.
func writeFull(fd int, iov [][]byte, off int64) error {
	for len(iov) > 0 {
		piece := iov[:min(len(iov), maxIOV)]
		var n int
		var err error
		if len(piece) == 1 {
			n, err = unix.Pwrite(fd, piece[0], off)
		} else {
			n, err = unix.Pwritev(fd, piece, off)
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		off += int64(n)
		iov = advance(iov, n)
	}
	return nil
}
