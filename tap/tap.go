// Package tap opens Linux tap devices for virtio-net and moves frames through them
// with raw non-blocking syscalls.
//
// Why not os.File and Go's netpoller: the netpoller registers fds edge-triggered
// (EPOLLET) and, after a write fails with EAGAIN, waits for an edge. A tap only
// signals write space if the SOCKWQ_ASYNC_NOSPACE bit in its socket's flags is
// set, and only tun_chr_poll sets that bit (drivers/net/tun.c: tun_chr_poll
// sets it with test_and_set_bit when the socket is not writable;
// tun_sock_write_space wakes waiters only if it can test_and_clear_bit it). The
// EAGAIN path does not set it: sock_alloc_send_pskb calls sk_set_bit, which
// touches another word (sk->sk_wq->flags) and only for SOCK_FASYNC sockets.
// Nothing calls tun_chr_poll after the netpoller's EAGAIN, so the wakeup never
// comes and an os.File write can block forever (TestNetpollerTrap: it stalls
// within the first EAGAIN while the bottleneck is already empty). Tap therefore
// writes with writev(2) on an O_NONBLOCK fd, returns ErrWouldBlock, and leaves
// waiting to WaitWritable or WaitWritableOr, whose poll(2) runs tun_chr_poll and
// so arms the wakeup.
//
// Backpressure: the tap's socket charges every frame it has injected to its send
// buffer (sk_wmem_alloc) until the skb is freed or orphaned. While the skb sits
// in a qdisc (for example the egress qdisc of a bridge port), the charge stays;
// once the charge reaches the send buffer (TUNSETSNDBUF), writes fail with
// EAGAIN. Paths that orphan the skb early (ip_rcv when the host routes the
// frame, br_netfilter when bridge-nf-call-iptables is on) release the charge and
// never push back. The default send buffer is INT_MAX (tun_chr_open), so by
// default writes never fail and an overfull qdisc drops frames instead; with
// that default, frames that fit a page even skip the accounting altogether
// (tun_can_build_skb takes the build_skb path only when sk_sndbuf == INT_MAX).
// A virtio-net device that holds a frame on EAGAIN and stops taking from the TX
// ring turns a bounded send buffer into backpressure on the guest.
//
// Counters (EAGAINs, frames, bytes) are the device's job; Tap keeps none.
package tap

import (
	"errors"
	"fmt"
	"syscall"
)

// DefaultDevicePath is the tun/tap clone device.
const DefaultDevicePath = "/dev/net/tun"

// VnetHdrV1Size is the size of struct virtio_net_hdr_v1 (virtio 1.2, 5.1.6), the
// header every virtio 1.x net device uses (num_buffers included, whether or not
// VIRTIO_NET_F_MRG_RXBUF is negotiated).
const VnetHdrV1Size = 12

// MaxNameLen is the longest interface name Linux accepts (IFNAMSIZ - 1).
const MaxNameLen = 15

// Options configure Open.
type Options struct {
	// VnetHdr sets IFF_VNET_HDR: every frame read or written starts with a
	// virtio-net header of VnetHdrSize bytes.
	VnetHdr bool
	// VnetHdrSize is passed to TUNSETVNETHDRSZ when VnetHdr is set. 0 means
	// VnetHdrV1Size (12). The kernel rejects sizes below 10 (struct
	// virtio_net_hdr).
	VnetHdrSize int
	// SndBuf, when > 0, bounds the tap socket's send buffer (TUNSETSNDBUF) in
	// bytes. 0 leaves the kernel's default, INT_MAX, which is also QEMU's default.
	// The kernel sets the value exactly (no doubling, no wmem_max clamp), checks
	// it before allocating each skb (so one frame can overshoot it), and reports
	// POLLOUT only below SndBuf/2.
	SndBuf int
	// DevicePath replaces DefaultDevicePath; for tests and unusual systems.
	DevicePath string
}

// Offload is a set of TUN_F_* flags for SetOffload (include/uapi/linux/if_tun.h).
type Offload uint

// Offload flags. They say which frames the reader of the tap (the guest, through
// virtio-net RX) can accept: with OffloadCSUM the kernel may hand Readv frames
// with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM), with OffloadTSO4 GSO
// frames of up to 64 KiB. They do not restrict what Writev may inject: the kernel
// accepts GSO and partial-checksum frames described by the vnet header regardless.
// Map them from the negotiated guest features: VIRTIO_NET_F_GUEST_CSUM ->
// OffloadCSUM, GUEST_TSO4 -> OffloadTSO4, GUEST_TSO6 -> OffloadTSO6, GUEST_ECN ->
// OffloadTSOECN, GUEST_UFO -> OffloadUFO, GUEST_USO4/6 -> OffloadUSO4/6.
const (
	// OffloadCSUM: the reader accepts frames with a partial checksum. The other
	// flags require it (tun.c set_offload only consumes TSO/UFO/USO bits
	// together with CSUM and fails with EINVAL on bits left over).
	OffloadCSUM Offload = 0x01
	// OffloadTSO4: the reader accepts TCPv4 GSO frames.
	OffloadTSO4 Offload = 0x02
	// OffloadTSO6: the reader accepts TCPv6 GSO frames.
	OffloadTSO6 Offload = 0x04
	// OffloadTSOECN: the reader accepts TSO frames with the ECN CWR bit set.
	// EINVAL without OffloadTSO4 or OffloadTSO6.
	OffloadTSOECN Offload = 0x08
	// OffloadUFO: accepted and ignored since Linux 4.14 (UFO was removed; the
	// flag stays valid so old VMMs keep working).
	OffloadUFO Offload = 0x10
	// OffloadUSO4 and OffloadUSO6: UDP segmentation offload, Linux 6.2 and
	// later, only both together (set_offload's TODO); EINVAL on older kernels.
	OffloadUSO4 Offload = 0x20
	OffloadUSO6 Offload = 0x40
)

var (
	// ErrNotSupported is returned on systems without tap devices (every OS but
	// Linux).
	ErrNotSupported = errors.New("tap: not supported on this OS")

	// ErrWouldBlock is returned by Writev and Readv instead of blocking. It
	// wraps EAGAIN, so errors.Is(err, unix.EAGAIN) holds as well. It is a single
	// preallocated value: returning it costs no allocation.
	ErrWouldBlock = fmt.Errorf("tap: operation would block: %w", syscall.EAGAIN)

	// ErrTruncated is returned (wrapped) by Readv when the frame was longer than
	// the buffers: the kernel copies what fits and discards the rest.
	ErrTruncated = errors.New("tap: frame longer than the read buffers")

	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("tap: closed")
)

// iovMax is UIO_MAXIOV (include/uapi/linux/uio.h); writev/readv fail with EINVAL
// beyond it. A virtio descriptor chain can be longer (up to the queue size), so
// the device must reject such chains or coalesce them.
const iovMax = 1024
