//go:build linux

package taptest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TapPeerOptions configure NewTapPeer. None yet; the tap's own options go to
// TapPeer.Open.
type TapPeerOptions struct{}

// TapPeer is a tap in a bridge with one end of a veth pair; the other end, with
// a packet socket on it, stands for the rest of the network:
//
//	tap0 --- br0 --- vbr ==veth== vpeer <- Peer (AF_PACKET)
//
// all in one private namespace. Frames the tap's user writes come out of vpeer
// (Peer.Recv); frames sent on Peer arrive at the tap (Readv).
type TapPeer struct {
	*bridgedTap
	// NS holds every interface of the topology.
	NS *NS
	// Peer captures and injects frames at vpeer, whose MAC is PeerMAC.
	Peer *PacketConn
}

// NewTapPeer builds the topology. The tap exists but is not open: call Open (or
// open the tap named TapName from inside NS and then WaitForwarding).
func NewTapPeer(t testing.TB, opts TapPeerOptions) *TapPeer {
	t.Helper()
	ns := NewNS(t)
	b := newBridgedTap(t, ns)
	h := ns.Netlink()
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: "vbr"},
		PeerName:         "vpeer",
		PeerHardwareAddr: PeerMAC,
	}
	if err := h.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("taptest: no veth support in this kernel: %v", err)
		}
		t.Fatalf("taptest: add veth: %v", err)
	}
	vbr, err := h.LinkByName("vbr")
	if err != nil {
		t.Fatalf("taptest: %v", err)
	}
	vpeer, err := h.LinkByName("vpeer")
	if err != nil {
		t.Fatalf("taptest: %v", err)
	}
	for _, step := range []func() error{
		func() error { return h.LinkSetMaster(vbr, b.bridge) },
		func() error { return h.LinkSetUp(vpeer) },
		func() error { return h.LinkSetUp(vbr) },
	} {
		if err := step(); err != nil {
			t.Fatalf("taptest: set up veth: %v", err)
		}
	}
	p, err := NewPacketConn(ns, "vpeer")
	if err != nil {
		t.Fatalf("taptest: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return &TapPeer{bridgedTap: b, NS: ns, Peer: p}
}

// PacketConn is an AF_PACKET socket bound to one interface: it receives every
// frame arriving there (not the ones it sends) and sends raw frames out of it.
type PacketConn struct {
	fd      int
	ifindex int
}

// NewPacketConn opens a packet socket on the interface called ifname in ns.
func NewPacketConn(ns *NS, ifname string) (*PacketConn, error) {
	var p *PacketConn
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		// Protocol 0 at socket(): the socket receives nothing until bind
		// names the interface, so no frame from another interface slips in
		// between.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return fmt.Errorf("packet socket: bind %s: %w", ifname, err)
		}
		// Linux 4.20+; on older kernels Recv filters PACKET_OUTGOING itself.
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
		p = &PacketConn{fd: fd, ifindex: ifi.Index}
		return nil
	})
	return p, err
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Send transmits frame (a complete Ethernet frame, no vnet header) out of the
// interface.
func (p *PacketConn) Send(frame []byte) error {
	sa := &unix.SockaddrLinklayer{Ifindex: p.ifindex, Halen: 6}
	copy(sa.Addr[:], frame[:6])
	if err := unix.Sendto(p.fd, frame, 0, sa); err != nil {
		return fmt.Errorf("packet socket: send: %w", err)
	}
	return nil
}

// Recv returns the next frame that arrived at the interface, waiting at most
// timeout. It returns an error wrapping os.ErrDeadlineExceeded on timeout.
func (p *PacketConn) Recv(timeout time.Duration) ([]byte, error) {
	buf := make([]byte, 65536)
	deadline := time.Now().Add(timeout)
	for {
		n, from, err := unix.Recvfrom(p.fd, buf, unix.MSG_TRUNC)
		if err == nil {
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if n > len(buf) {
				return nil, fmt.Errorf("packet socket: %d-byte frame truncated", n)
			}
			return buf[:n:n], nil
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			return nil, fmt.Errorf("packet socket: recv: %w", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("packet socket: no frame within %v: %w", timeout, os.ErrDeadlineExceeded)
		}
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		ts := unix.NsecToTimespec(left.Nanoseconds())
		if _, err := unix.Ppoll(fds, &ts, nil); err != nil && err != unix.EINTR {
			return nil, fmt.Errorf("packet socket: poll: %w", err)
		}
	}
}

// RecvMatching returns the next frame for which match returns true, skipping
// others, waiting at most timeout in all.
func (p *PacketConn) RecvMatching(timeout time.Duration, match func([]byte) bool) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		f, err := p.Recv(time.Until(deadline))
		if err != nil || match(f) {
			return f, err
		}
	}
}

// Close closes the socket.
func (p *PacketConn) Close() error { return unix.Close(p.fd) }
