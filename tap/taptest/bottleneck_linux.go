//go:build linux

package taptest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// BottleneckOptions configure NewBottleneck. Zero fields take the seed
// scenario's values (PLATFORM.md): `tbf rate 10mbit burst 10kb limit 200kb`.
type BottleneckOptions struct {
	RateBitsPerSec uint64 // default 10e6
	BurstBytes     uint32 // default 10 KiB
	LimitBytes     uint32 // default 200 KiB
	ReceiverPort   uint16 // default 5001
}

// Bottleneck is the topology in which a tap's send buffer can fill:
//
//	switch namespace                         receiver namespace
//	tap0 --- br0 --- v0 [tbf] ==veth== v1 (ReceiverIP, PeerMAC) <- Receiver (UDP)
//
// Frames the tap's user writes are bridged to v0, whose egress qdisc is a token
// bucket. While an skb waits in that qdisc it stays charged to the tap's socket
// (nothing orphans it on the bridged path, with bridge netfilter off), so a
// send buffer below the qdisc's limit fills and writes fail with EAGAIN; with the
// default send buffer the qdisc overflows and drops instead. Routing through an
// IP stack instead of bridging would orphan the skb in ip_rcv and never push
// back.
type Bottleneck struct {
	*bridgedTap
	// NS holds tap0, br0 and v0.
	NS *NS
	// ReceiverNS holds v1 and the receiver's socket.
	ReceiverNS *NS
	// Receiver counts the datagrams arriving at ReceiverIP:ReceiverPort.
	Receiver *UDPReceiver
	// ReceiverPort is the receiver's UDP port.
	ReceiverPort uint16

	v0 netlink.Link
}

// NewBottleneck builds the topology. The tap exists but is not open: call Open,
// or open the tap named TapName from inside NS (a VMM under test) and then call
// WaitForwarding before sending.
func NewBottleneck(t testing.TB, opts BottleneckOptions) *Bottleneck {
	t.Helper()
	if opts.RateBitsPerSec == 0 {
		opts.RateBitsPerSec = 10_000_000
	}
	if opts.BurstBytes == 0 {
		opts.BurstBytes = 10 << 10
	}
	if opts.LimitBytes == 0 {
		opts.LimitBytes = 200 << 10
	}
	if opts.ReceiverPort == 0 {
		opts.ReceiverPort = 5001
	}
	sw := NewNS(t)
	rx := NewNS(t)
	disableBridgeNF(t, sw)
	b := newBridgedTap(t, sw)
	h := sw.Netlink()

	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: "v0"},
		PeerName:         "v1",
		PeerHardwareAddr: PeerMAC,
		PeerNamespace:    netlink.NsFd(int(rx.Handle())),
	}
	if err := h.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("taptest: no veth support in this kernel: %v", err)
		}
		t.Fatalf("taptest: add veth: %v", err)
	}
	v0, err := h.LinkByName("v0")
	if err != nil {
		t.Fatalf("taptest: %v", err)
	}
	v1, err := rx.Netlink().LinkByName("v1")
	if err != nil {
		t.Fatalf("taptest: %v", err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ReceiverIP.AsSlice(), Mask: net.CIDRMask(24, 32)}}
	for _, step := range []func() error{
		func() error { return rx.Netlink().AddrAdd(v1, addr) },
		func() error { return rx.Netlink().LinkSetUp(v1) },
		func() error { return h.LinkSetMaster(v0, b.bridge) },
		func() error { return h.LinkSetUp(v0) },
	} {
		if err := step(); err != nil {
			t.Fatalf("taptest: set up veth: %v", err)
		}
	}

	// tc qdisc add dev v0 root tbf rate R burst B limit L, as iproute2
	// encodes it: rate in bytes per second, the burst as the time it takes
	// to send it at that rate, in psched ticks (tc_calc_xmittime).
	rate := opts.RateBitsPerSec / 8
	tbf := &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: v0.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       rate,
		Limit:      opts.LimitBytes,
		Buffer:     netlink.Xmittime(rate, opts.BurstBytes),
	}
	if err := h.QdiscAdd(tbf); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("taptest: no tbf qdisc in this kernel (CONFIG_NET_SCH_TBF): %v", err)
		}
		t.Fatalf("taptest: add tbf qdisc on v0: %v", err)
	}

	r, err := NewUDPReceiver(rx, netip.AddrPortFrom(ReceiverIP, opts.ReceiverPort))
	if err != nil {
		t.Fatalf("taptest: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return &Bottleneck{bridgedTap: b, NS: sw, ReceiverNS: rx, Receiver: r, ReceiverPort: opts.ReceiverPort, v0: v0}
}

// Frame returns an Ethernet frame from the guest (GuestMAC, GuestIP) to the
// receiver carrying SeqPayload(seq, payload), without a vnet header.
func (b *Bottleneck) Frame(seq uint32, payload int) []byte {
	f, err := AppendUDPFrame(nil, UDPFrame{
		SrcMAC: GuestMAC, DstMAC: PeerMAC,
		SrcIP: GuestIP, DstIP: ReceiverIP,
		SrcPort: 40000, DstPort: b.ReceiverPort,
		ID:      uint16(seq),
		Payload: SeqPayload(seq, payload),
	})
	if err != nil {
		panic(err) // fixed, valid addresses: cannot fail
	}
	return f
}

// QdiscStats are the counters of the bottleneck's tbf qdisc (tc -s qdisc).
type QdiscStats struct {
	Packets    uint32 // sent
	Bytes      uint64 // sent
	Drops      uint32 // dropped because the queue was over its limit
	Overlimits uint32 // times a packet had to wait for tokens
	Backlog    uint32 // bytes queued now
	Qlen       uint32 // packets queued now
}

// QdiscStats reads the tbf qdisc's counters.
func (b *Bottleneck) QdiscStats() (QdiscStats, error) {
	qs, err := b.NS.Netlink().QdiscList(b.v0)
	if err != nil {
		return QdiscStats{}, fmt.Errorf("qdisc list v0: %w", err)
	}
	for _, q := range qs {
		if _, ok := q.(*netlink.Tbf); !ok {
			continue
		}
		s := q.Attrs().Statistics
		if s == nil || s.Basic == nil || s.Queue == nil {
			return QdiscStats{}, errors.New("tbf qdisc on v0 reports no statistics")
		}
		return QdiscStats{
			Packets: s.Basic.Packets, Bytes: s.Basic.Bytes,
			Drops: s.Queue.Drops, Overlimits: s.Queue.Overlimits,
			Backlog: s.Queue.Backlog, Qlen: s.Queue.Qlen,
		}, nil
	}
	return QdiscStats{}, errors.New("no tbf qdisc on v0")
}

// WaitDrained waits until the qdisc holds nothing, so that every frame it
// accepted has been delivered or dropped.
func (b *Bottleneck) WaitDrained(timeout time.Duration) (QdiscStats, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := b.QdiscStats()
		if err != nil || s.Qlen == 0 {
			return s, err
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("tbf still holds %d packets after %v", s.Qlen, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// UDPReceiver counts the datagrams arriving at one UDP socket whose payloads
// carry sequence numbers (SeqPayload).
type UDPReceiver struct {
	conn *net.UDPConn
	done chan struct{}

	mu   sync.Mutex
	seen []bool // by sequence number

	received  atomic.Int64 // distinct sequence numbers
	dups      atomic.Int64
	corrupt   atomic.Int64
	lastFrame atomic.Int64 // UnixNano of the last datagram
}

// NewUDPReceiver listens on addr inside ns.
func NewUDPReceiver(ns *NS, addr netip.AddrPort) (*UDPReceiver, error) {
	var conn *net.UDPConn
	err := ns.Do(func() error {
		var err error
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("udp receiver: %w", err)
	}
	// A large receive buffer (beyond rmem_max, which FORCE may exceed as
	// root) so the receiver itself never drops: losses must be the qdisc's.
	if rc, err := conn.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20) })
	}
	r := &UDPReceiver{conn: conn, done: make(chan struct{})}
	go r.loop()
	return r, nil
}

func (r *UDPReceiver) loop() {
	defer close(r.done)
	buf := make([]byte, 65536)
	for {
		n, err := r.conn.Read(buf)
		if err != nil {
			return // closed
		}
		r.lastFrame.Store(time.Now().UnixNano())
		seq, ok := CheckSeqPayload(buf[:n])
		if !ok {
			r.corrupt.Add(1)
			continue
		}
		r.mu.Lock()
		if int(seq) >= len(r.seen) {
			r.seen = append(r.seen, make([]bool, int(seq)+1-len(r.seen))...)
		}
		dup := r.seen[seq]
		r.seen[seq] = true
		r.mu.Unlock()
		if dup {
			r.dups.Add(1)
		} else {
			r.received.Add(1)
		}
	}
}

// Received is the number of distinct sequence numbers received.
func (r *UDPReceiver) Received() int { return int(r.received.Load()) }

// Duplicates counts datagrams whose sequence number had been seen before.
func (r *UDPReceiver) Duplicates() int { return int(r.dups.Load()) }

// Corrupt counts datagrams whose payload was not an intact SeqPayload.
func (r *UDPReceiver) Corrupt() int { return int(r.corrupt.Load()) }

// Has reports whether seq was received.
func (r *UDPReceiver) Has(seq uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(seq) < len(r.seen) && r.seen[seq]
}

// WaitFor waits until n distinct datagrams have arrived or timeout passes, and
// returns the count.
func (r *UDPReceiver) WaitFor(n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for r.Received() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return r.Received()
}

// WaitQuiet waits until no datagram has arrived for quiet (or timeout passes)
// and returns the count: for runs where some datagrams are expected to be lost.
func (r *UDPReceiver) WaitQuiet(quiet, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		last := time.Unix(0, r.lastFrame.Load())
		if time.Since(last) >= quiet {
			break
		}
		time.Sleep(quiet / 4)
	}
	return r.Received()
}

// Close stops the receiver.
func (r *UDPReceiver) Close() error {
	err := r.conn.Close()
	<-r.done
	return err
}
