package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/govmm/govmm/tap/taptest"
)

// struct virtio_net_hdr_v1 (virtio 1.2, 5.1.6): the header in front of every
// frame through a tap with IFF_VNET_HDR (12 bytes, TUNSETVNETHDRSZ) and of
// every frame an AF_PACKET socket with PACKET_VNET_HDR sends (the first 10
// bytes: struct virtio_net_hdr, without num_buffers).
const (
	vnetHdrLen       = 12
	vnetHdrLegacyLen = 10

	vnetFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
	vnetGSOTCPv4      = 1 // VIRTIO_NET_HDR_GSO_TCPV4
)

// vnetHdr is struct virtio_net_hdr_v1, little-endian on the wire.
type vnetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
	NumBuffers uint16
}

// appendTo appends the first n bytes of the header (10 or 12).
func (h vnetHdr) appendTo(dst []byte, n int) []byte {
	var b [vnetHdrLen]byte
	b[0], b[1] = h.Flags, h.GSOType
	binary.LittleEndian.PutUint16(b[2:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], h.CsumOffset)
	binary.LittleEndian.PutUint16(b[10:], h.NumBuffers)
	return append(dst, b[:n]...)
}

func parseVnetHdr(b []byte) vnetHdr {
	return vnetHdr{
		Flags: b[0], GSOType: b[1],
		HdrLen:     binary.LittleEndian.Uint16(b[2:]),
		GSOSize:    binary.LittleEndian.Uint16(b[4:]),
		CsumStart:  binary.LittleEndian.Uint16(b[6:]),
		CsumOffset: binary.LittleEndian.Uint16(b[8:]),
		NumBuffers: binary.LittleEndian.Uint16(b[10:]),
	}
}

// Frame geometry. A case's size is the length of the IPv4 packet (IP header
// onwards) that the Ethernet frame carries; the Ethernet frame is ethHdrLen
// longer (no VLAN tag, no FCS, no preamble), and through the tap the 12-byte
// vnet header comes on top. Bytes and Gbit/s count the Ethernet frame, as the
// device's tx_bytes and rx_bytes do.
const (
	ethHdrLen = taptest.EthHdrLen
	ipHdrLen  = taptest.IPv4HdrLen
	// tcpHdrLen is a TCP header with the timestamp option (12 bytes, padded
	// with two NOPs), as Linux sends: it makes gso_size 1448 the MSS of a
	// 1500-byte MTU.
	tcpHdrLen  = 32
	tsoHdrLen  = ethHdrLen + ipHdrLen + tcpHdrLen // virtio_net_hdr.hdr_len
	minUDPSize = ipHdrLen + taptest.UDPHdrLen     // smallest IPv4/UDP packet
	maxIPSize  = 0xffff
)

// Endpoints of the frames. Transmitted frames (guest to network) are
// addressed to PeerMAC, which is not the tap's MAC: the stack behind the tap
// drops them in ip_rcv as PACKET_OTHERHOST, so TX measures the write path.
// Received frames are addressed to the guest.
var (
	guestIP = taptest.GuestIP
	peerIP  = taptest.ReceiverIP
)

// udpFrame returns an Ethernet frame carrying an IPv4/UDP packet of ipSize
// bytes from src to dst, with both checksums computed.
func udpFrame(ipSize int, srcMAC, dstMAC net.HardwareAddr, srcIP, dstIP netip.Addr) ([]byte, error) {
	if ipSize < minUDPSize || ipSize > maxIPSize {
		return nil, fmt.Errorf("IPv4/UDP packet of %d bytes: want %d to %d", ipSize, minUDPSize, maxIPSize)
	}
	payload := make([]byte, ipSize-minUDPSize)
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	return taptest.AppendUDPFrame(nil, taptest.UDPFrame{
		SrcMAC: srcMAC, DstMAC: dstMAC, SrcIP: srcIP, DstIP: dstIP,
		SrcPort: 40000, DstPort: 5001, Payload: payload,
	})
}

// tsoFrame is a TCPv4 segment larger than the MTU, for a device or tap that
// segments it (TSO/GSO), with the virtio-net header that describes it.
type tsoFrame struct {
	Frame []byte  // Ethernet frame: Ethernet, IPv4, TCP (with timestamps), payload
	Hdr   vnetHdr // NEEDS_CSUM, GSO_TCPV4, gso_size MSS
}

// newTSOFrame builds a TCPv4 frame of segs*mss payload bytes. As Linux hands
// a GSO frame to a device with NETIF_F_TSO and NETIF_F_HW_CSUM: a valid IPv4
// header (DF set, header checksum computed, total length of the whole
// frame), and the TCP checksum field holding the pseudo-header sum over the
// whole TCP length, not complemented (what __tcp_v4_send_check leaves for
// CHECKSUM_PARTIAL); the header asks the other side to finish it from
// csum_start and to cut segments of gso_size bytes.
func newTSOFrame(mss, segs int, srcMAC, dstMAC net.HardwareAddr, srcIP, dstIP netip.Addr) (tsoFrame, error) {
	payload := mss * segs
	ipLen := ipHdrLen + tcpHdrLen + payload
	switch {
	case mss <= 0 || segs <= 0:
		return tsoFrame{}, fmt.Errorf("TSO frame of %d segments of %d bytes", segs, mss)
	case ipLen > maxIPSize:
		return tsoFrame{}, fmt.Errorf("TSO frame of %d segments of %d bytes: IPv4 length %d exceeds %d", segs, mss, ipLen, maxIPSize)
	case !srcIP.Is4() || !dstIP.Is4() || len(srcMAC) != 6 || len(dstMAC) != 6:
		return tsoFrame{}, fmt.Errorf("TSO frame needs IPv4 addresses and 6-byte MACs")
	}
	f := make([]byte, ethHdrLen+ipLen)
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800)

	ip := f[ethHdrLen:]
	src, dst := srcIP.As4(), dstIP.As4()
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
	binary.BigEndian.PutUint16(ip[4:], 1)      // ID
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, 6                       // TTL, TCP
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(0, ip[:ipHdrLen])))

	tcp := ip[ipHdrLen:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 5001)
	binary.BigEndian.PutUint32(tcp[4:], 1) // seq
	binary.BigEndian.PutUint32(tcp[8:], 1) // ack
	tcp[12] = tcpHdrLen / 4 << 4           // data offset
	tcp[13] = 0x18                         // ACK, PSH
	binary.BigEndian.PutUint16(tcp[14:], 0xffff)
	copy(tcp[20:], []byte{1, 1, 8, 10})     // NOP, NOP, timestamps
	binary.BigEndian.PutUint32(tcp[24:], 1) // TSval (TSecr stays 0)
	for i, b := 0, tcp[tcpHdrLen:]; i < len(b); i++ {
		b[i] = byte(i*7 + 3)
	}
	tcpLen := len(tcp)
	binary.BigEndian.PutUint16(tcp[16:], fold(pseudoSum(src, dst, 6, tcpLen)))

	return tsoFrame{Frame: f, Hdr: vnetHdr{
		Flags: vnetFlagNeedsCsum, GSOType: vnetGSOTCPv4,
		HdrLen: tsoHdrLen, GSOSize: uint16(mss),
		CsumStart: ethHdrLen + ipHdrLen, CsumOffset: 16,
	}}, nil
}

// pseudoSum is the unfolded one's complement sum of the IPv4 pseudo header
// (RFC 793).
func pseudoSum(src, dst [4]byte, proto uint8, length int) uint32 {
	s := sum(0, src[:])
	s = sum(s, dst[:])
	return s + uint32(proto) + uint32(length)
}

// sum adds b as big-endian 16-bit words (RFC 1071) to s.
func sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// splitBuffer cuts b into the pieces a guest's descriptor chain would
// reference: the first head bytes (the vnet header and the protocol
// headers, Linux's linear skb area), then the rest in pieces of at most
// frag bytes (its page fragments). head <= 0 or head >= len(b) keeps b
// whole; frag <= 0 keeps the rest whole.
func splitBuffer(b []byte, head, frag int) [][]byte {
	if head <= 0 || head >= len(b) {
		return [][]byte{b}
	}
	out := [][]byte{b[:head]}
	for rest := b[head:]; len(rest) > 0; {
		n := len(rest)
		if frag > 0 {
			n = min(n, frag)
		}
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	return out
}
