//go:build linux

package tap

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Tap is an open tap device: one queue, one fd.
//
// Concurrency: Writev may run concurrently with Readv (each owns its iovec
// scratch space), but not with another Writev; likewise Readv. WaitWritable and
// WaitWritableOr may run concurrently with anything but Close. Close must not race
// with I/O: the caller stops its workers (for example with the cancel fd of
// WaitWritableOr) before closing, or a reused fd number could be written to.
type Tap struct {
	fd      int
	name    string
	vnetHdr int // vnet header size in bytes, 0 without IFF_VNET_HDR

	txIov []unix.Iovec // scratch for Writev; owned by the single writer
	rxIov []unix.Iovec // scratch for Readv; owned by the single reader
	// rxSpare detects truncated reads (see Readv); owned by the reader.
	rxSpare [1]byte

	closeOnce sync.Once
	closeErr  error
	closed    bool // set under closeOnce; read without locking by I/O (see Close)
}

// Open attaches to the tap device called name, creating it if it does not exist
// (which needs CAP_NET_ADMIN). An empty name lets the kernel pick "tapN"; Name
// reports the name actually used. A name containing "%d" is a template the kernel
// fills in.
//
// The tap is created in the network namespace of the calling thread: to open a
// tap in another namespace, call Open from a goroutine locked to an OS thread
// that has entered it (netns.Set). The fd keeps working from any thread
// afterwards.
//
// A tap Open created disappears when it is closed; attaching to a persistent tap
// (ip tuntap add NAME mode tap) leaves it in place.
func Open(name string, opts Options) (*Tap, error) {
	label := name
	if label == "" {
		label = "(new)"
	}
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("tap %s: %w", label, err)
	}
	if opts.SndBuf < 0 {
		return nil, fmt.Errorf("tap %s: sndbuf %d: must be positive, or 0 for the default (unlimited)", label, opts.SndBuf)
	}
	hdr := 0
	if opts.VnetHdr {
		hdr = opts.VnetHdrSize
		if hdr == 0 {
			hdr = VnetHdrV1Size
		}
		// tun.c TUNSETVNETHDRSZ rejects sizes below sizeof(struct
		// virtio_net_hdr); fail here with a clearer message.
		if hdr < 10 {
			return nil, fmt.Errorf("tap %s: vnet header size %d: must be at least 10", label, hdr)
		}
	} else if opts.VnetHdrSize != 0 {
		return nil, fmt.Errorf("tap %s: vnet header size %d given without VnetHdr", label, opts.VnetHdrSize)
	}
	path := opts.DevicePath
	if path == "" {
		path = DefaultDevicePath
	}

	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tap %s: %w", label, openError(path, err))
	}
	t := &Tap{fd: fd, vnetHdr: hdr}
	if err := t.setup(name, label, opts); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return t, nil
}

func (t *Tap) setup(name, label string, opts Options) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("tap %s: %w", label, err)
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if opts.VnetHdr {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(t.fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("tap %s: %w", label, setIffError(name, err))
	}
	// TUNSETIFF writes the final name back (tun_set_iff ends with
	// strcpy(ifr->ifr_name, tun->dev->name) and the ioctl copies ifr out).
	t.name = ifr.Name()

	if opts.VnetHdr {
		if err := ioctlSetInt32(t.fd, unix.TUNSETVNETHDRSZ, int32(t.vnetHdr)); err != nil {
			return fmt.Errorf("tap %s: TUNSETVNETHDRSZ %d: %w", t.name, t.vnetHdr, err)
		}
	}
	if opts.SndBuf > 0 {
		if opts.SndBuf > 1<<31-1 {
			return fmt.Errorf("tap %s: sndbuf %d: larger than the kernel's int", t.name, opts.SndBuf)
		}
		if err := ioctlSetInt32(t.fd, unix.TUNSETSNDBUF, int32(opts.SndBuf)); err != nil {
			return fmt.Errorf("tap %s: TUNSETSNDBUF %d: %w", t.name, opts.SndBuf, err)
		}
	}
	return nil
}

func checkName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("interface name is %d bytes long, at most %d allowed", len(name), MaxNameLen)
	}
	// dev_valid_name (net/core/dev.c) refuses these with EINVAL, which
	// TUNSETIFF would otherwise report as "exists and is not a tap".
	if name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("interface name %q: must not be . or .. or contain '/', ':' or whitespace", name)
	}
	return nil
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("open %s: the tun device node is missing; load the module (modprobe tun) or create the node (mknod %s c 10 200): %w", path, path, err)
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return fmt.Errorf("open %s: no tun driver behind the device node; load the module (modprobe tun): %w", path, err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("open %s: permission denied; the node is usually mode 0666, check its permissions: %w", path, err)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// setIffError explains TUNSETIFF's errnos, from tun_set_iff and tun_attach in
// drivers/net/tun.c.
func setIffError(name string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM):
		if name == "" {
			return fmt.Errorf("TUNSETIFF: creating a tap needs CAP_NET_ADMIN (run as root, or create it beforehand with `ip tuntap add NAME mode tap user $USER` and name it): %w", err)
		}
		return fmt.Errorf("TUNSETIFF: permission denied; creating a tap needs CAP_NET_ADMIN, attaching to an existing one needs CAP_NET_ADMIN or a tap owned by this user or group (`ip tuntap add %s mode tap user $USER`): %w", name, err)
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("TUNSETIFF: %s is in use: another process has it open (a single-queue tap takes one fd): %w", name, err)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("TUNSETIFF: %s exists but is not a tap device (it may be a tun device or another kind of interface), or it is a multi-queue tap: %w", name, err)
	case errors.Is(err, unix.ENOTTY):
		return fmt.Errorf("TUNSETIFF: the device is not the tun clone device: %w", err)
	}
	return fmt.Errorf("TUNSETIFF: %w", err)
}

// Name is the interface name of the tap.
func (t *Tap) Name() string { return t.name }

// FD is the tap's file descriptor, non-blocking, for the caller's own epoll.
// The Tap keeps owning it: do not close it.
//
// Registering it: the kernel only signals write space after tun_chr_poll has
// seen the socket full (see the package comment), and epoll_ctl (ADD and MOD)
// and each harvest of a level-triggered entry call tun_chr_poll. So after
// ErrWouldBlock, register or modify the entry to EPOLLOUT (level-triggered, or
// call WaitWritable(0) first to arm the wakeup for an edge-triggered one); drop
// EPOLLOUT again once the held frame is written, or a level-triggered entry
// reports the writable tap on every epoll_wait.
func (t *Tap) FD() int { return t.fd }

// VnetHdrSize is the size of the virtio-net header that starts every frame, 0
// without IFF_VNET_HDR.
func (t *Tap) VnetHdrSize() int { return t.vnetHdr }

// SndBuf reads back the tap socket's send buffer (TUNGETSNDBUF); 2147483647
// (INT_MAX) means unlimited.
func (t *Tap) SndBuf() (int, error) {
	if t.closed {
		return 0, ErrClosed
	}
	v, err := ioctlGetInt32(t.fd, unix.TUNGETSNDBUF)
	if err != nil {
		return 0, fmt.Errorf("tap %s: TUNGETSNDBUF: %w", t.name, err)
	}
	return int(v), nil
}

// SetOffload tells the kernel which offloads the reader accepts (TUNSETOFFLOAD);
// see Offload. 0 turns them all off. The kernel rejects combinations it cannot
// honour with EINVAL (set_offload consumes the bits it knows and fails on
// leftovers).
//
// Non-zero flags need IFF_VNET_HDR, and SetOffload refuses them without it: the
// kernel would accept them, then hand the reader GSO frames and frames with
// partial checksums that, without a header, nothing marks as such.
func (t *Tap) SetOffload(flags Offload) error {
	if t.closed {
		return ErrClosed
	}
	if flags != 0 && t.vnetHdr == 0 {
		return fmt.Errorf("tap %s: offloads %#x need a vnet header (Options.VnetHdr)", t.name, uint(flags))
	}
	if err := unix.IoctlSetInt(t.fd, unix.TUNSETOFFLOAD, int(flags)); err != nil {
		return fmt.Errorf("tap %s: TUNSETOFFLOAD %#x: %w", t.name, uint(flags), err)
	}
	return nil
}

// Writev writes one frame, gathered from iov, with a single writev(2). With
// IFF_VNET_HDR the frame starts with the VnetHdrSize-byte header. It never
// blocks: when the send buffer is full it returns ErrWouldBlock and the frame
// was not taken; hold it and retry after WaitWritable or an EPOLLOUT.
//
// Other errors of note: EIO (wrapped) when the interface is down; the kernel
// dropped the frame (tun_get_user), so retrying only repeats the error and the
// device should complete and count it. EINVAL for a frame shorter than an
// Ethernet header or a bad vnet header.
//
// Not safe for concurrent use with another Writev. The steady state (success or
// ErrWouldBlock) does not allocate.
func (t *Tap) Writev(iov [][]byte) (int, error) {
	if t.closed {
		return 0, ErrClosed
	}
	total, err := fillIovec(&t.txIov, iov, iovMax)
	if err != nil {
		return 0, fmt.Errorf("tap %s: writev: %w", t.name, err)
	}
	n, errno := writev(t.fd, t.txIov)
	clear(t.txIov) // drop the references to the caller's buffers
	if errno != 0 {
		if errno == unix.EAGAIN {
			return 0, ErrWouldBlock
		}
		return 0, fmt.Errorf("tap %s: writev: %w", t.name, errno)
	}
	// tun_get_user takes the whole frame or fails; a partial write would
	// mean a frame cut short on the wire.
	if n != total {
		return n, fmt.Errorf("tap %s: writev wrote %d of %d bytes: %w", t.name, n, total, io.ErrShortWrite)
	}
	return n, nil
}

// Readv reads one frame into iov with a single readv(2) and returns its length.
// With IFF_VNET_HDR the frame starts with the VnetHdrSize-byte header, and iov
// must hold at least that much (else the kernel fails with EINVAL and drops the
// frame). It never blocks: when no frame is queued it returns ErrWouldBlock;
// wait for EPOLLIN on FD.
//
// A frame longer than iov is truncated and the rest is lost: Readv then returns
// the bytes stored (the sum of len(iov)) and an error wrapping ErrTruncated.
// Size the buffers for the largest frame: VnetHdrSize + 14 + 4 (VLAN tag) + MTU
// without offloads, VnetHdrSize + 65550 with TSO/UFO/USO (SetOffload).
//
// Not safe for concurrent use with another Readv. The steady state does not
// allocate.
func (t *Tap) Readv(iov [][]byte) (int, error) {
	if t.closed {
		return 0, ErrClosed
	}
	total, err := fillIovec(&t.rxIov, iov, iovMax-1) // one for rxSpare
	if err != nil {
		return 0, fmt.Errorf("tap %s: readv: %w", t.name, err)
	}
	if total == 0 || total < t.vnetHdr {
		// tun_do_read returns 0 without dequeuing for an empty iterator,
		// and tun_put_user drops the frame (EINVAL) if the header does
		// not fit: refuse before the kernel sees either.
		return 0, fmt.Errorf("tap %s: readv: %d bytes of buffers, need more than the %d-byte vnet header", t.name, total, t.vnetHdr)
	}
	// The kernel clamps the result to the buffers' size
	// (tun_chr_read_iter: min(ret, len)) and silently drops the rest of a
	// longer frame (tun_put_user ignores a short copy), so a frame that
	// exactly fills iov and a longer, truncated one look alike. One spare
	// byte after the caller's buffers tells them apart: the kernel only
	// writes it for a frame longer than iov.
	t.rxIov = append(t.rxIov, unix.Iovec{Base: &t.rxSpare[0]})
	t.rxIov[len(t.rxIov)-1].SetLen(1)
	n, errno := readv(t.fd, t.rxIov)
	clear(t.rxIov)
	if errno != 0 {
		if errno == unix.EAGAIN {
			return 0, ErrWouldBlock
		}
		return 0, fmt.Errorf("tap %s: readv: %w", t.name, errno)
	}
	if n > total {
		return total, fmt.Errorf("tap %s: readv: frame longer than the %d bytes of buffers: %w", t.name, total, ErrTruncated)
	}
	return n, nil
}

// fillIovec points *dst at the buffers of iov, reusing its backing array, and
// returns the total length. Empty buffers are skipped (they have no address).
// At most max buffers are accepted: writev/readv fail with EINVAL beyond
// UIO_MAXIOV.
func fillIovec(dst *[]unix.Iovec, iov [][]byte, max int) (int, error) {
	if len(iov) > max {
		return 0, fmt.Errorf("%d buffers, at most %d allowed", len(iov), max)
	}
	v := (*dst)[:0]
	total := 0
	for _, b := range iov {
		if len(b) == 0 {
			continue
		}
		v = append(v, unix.Iovec{Base: &b[0]})
		v[len(v)-1].SetLen(len(b))
		total += len(b)
	}
	*dst = v
	return total, nil
}

// WaitWritable waits until the tap can take a frame or the timeout passes;
// timeout < 0 waits without limit, 0 only checks. It reports whether the tap is
// writable. It runs a blocking poll(2) in the calling goroutine (which ties up
// its thread; meant for a device worker).
//
// Call it after ErrWouldBlock, not before every write: poll is what arms the
// kernel's write-space wakeup (see the package comment), so even WaitWritable(0)
// has a use: arming before waiting elsewhere. Readiness has hysteresis: the tap
// reports writable only once its queued bytes drop below half the send buffer
// (sock_writeable), so a wake means room for several frames.
//
// A tap whose interface is down never becomes writable (tun_sock_writeable
// checks IFF_UP); a deleted interface makes it return an error.
func (t *Tap) WaitWritable(timeout time.Duration) (bool, error) {
	w, _, err := t.wait(-1, timeout)
	return w, err
}

// WaitWritableOr is WaitWritable that also returns when fd is readable, so a
// device reset or shutdown can interrupt a waiting worker: pass an eventfd (or
// a pipe's read end) that the resetting goroutine writes to. It reports which
// fired (both may); the caller drains fd. Errors on fd (POLLERR, POLLNVAL) are
// returned as errors.
//
// A caller that already waits in its own epoll (ring kicks, reset eventfd)
// need not use this: it can add FD with EPOLLOUT to that epoll instead; see FD.
func (t *Tap) WaitWritableOr(fd int, timeout time.Duration) (writable, other bool, err error) {
	if fd < 0 {
		return false, false, fmt.Errorf("tap %s: wait: invalid fd %d", t.name, fd)
	}
	return t.wait(fd, timeout)
}

func (t *Tap) wait(other int, timeout time.Duration) (writable, otherReady bool, err error) {
	if t.closed {
		return false, false, ErrClosed
	}
	var fds [2]unix.PollFd
	fds[0] = unix.PollFd{Fd: int32(t.fd), Events: unix.POLLOUT}
	n := 1
	if other >= 0 {
		fds[1] = unix.PollFd{Fd: int32(other), Events: unix.POLLIN}
		n = 2
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		var ts *unix.Timespec
		if timeout >= 0 {
			left := time.Duration(0)
			if timeout > 0 {
				left = max(time.Until(deadline), 0)
			}
			tspec := unix.NsecToTimespec(left.Nanoseconds())
			ts = &tspec
		}
		_, err := unix.Ppoll(fds[:n], ts, nil)
		// Go's runtime preempts goroutines with SIGURG, so EINTR is
		// routine here; retry with what is left of the timeout.
		if err == unix.EINTR {
			if timeout > 0 && !time.Now().Before(deadline) {
				return false, false, nil
			}
			continue
		}
		if err != nil {
			return false, false, fmt.Errorf("tap %s: poll: %w", t.name, err)
		}
		break
	}
	re := fds[0].Revents
	if re&unix.POLLNVAL != 0 {
		return false, false, fmt.Errorf("tap %s: poll: fd %d is not open: %w", t.name, t.fd, unix.EBADF)
	}
	// tun_chr_poll returns only EPOLLERR once the interface is unregistered
	// (deleted while this fd still holds it).
	if re&unix.POLLERR != 0 {
		return false, false, fmt.Errorf("tap %s: poll: the interface is gone: %w", t.name, unix.ENODEV)
	}
	if n == 2 {
		if re := fds[1].Revents; re&(unix.POLLERR|unix.POLLNVAL) != 0 {
			return false, false, fmt.Errorf("tap %s: poll: cancel fd %d: revents %#x", t.name, other, re)
		}
	}
	writable = fds[0].Revents&unix.POLLOUT != 0
	otherReady = n == 2 && fds[1].Revents&(unix.POLLIN|unix.POLLHUP) != 0
	return writable, otherReady, nil
}

// Close closes the fd; a tap Open created disappears with it. Later calls return
// the first call's result.
func (t *Tap) Close() error {
	t.closeOnce.Do(func() {
		t.closed = true
		if err := unix.Close(t.fd); err != nil {
			t.closeErr = fmt.Errorf("tap %s: close: %w", t.name, err)
		}
		t.fd = -1
	})
	return t.closeErr
}
