package taptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// UDPFrame describes an Ethernet frame carrying an IPv4 UDP datagram.
type UDPFrame struct {
	SrcMAC, DstMAC   net.HardwareAddr
	SrcIP, DstIP     netip.Addr // IPv4
	SrcPort, DstPort uint16
	TTL              uint8 // 0 means 64
	ID               uint16
	Payload          []byte
}

// Header sizes of the frames AppendUDPFrame builds.
const (
	EthHdrLen  = 14
	IPv4HdrLen = 20
	UDPHdrLen  = 8
	// UDPFrameOverhead is the frame length minus the payload.
	UDPFrameOverhead = EthHdrLen + IPv4HdrLen + UDPHdrLen
)

// AppendUDPFrame appends the frame to dst: Ethernet II, IPv4 without options
// (don't fragment), UDP, payload, with the IPv4 header checksum and the UDP
// checksum computed, so that the receiving stack accepts it as is.
func AppendUDPFrame(dst []byte, f UDPFrame) ([]byte, error) {
	if len(f.SrcMAC) != 6 || len(f.DstMAC) != 6 {
		return dst, errors.New("taptest: frame needs 6-byte MAC addresses")
	}
	if !f.SrcIP.Is4() || !f.DstIP.Is4() {
		return dst, errors.New("taptest: frame needs IPv4 addresses")
	}
	udpLen := UDPHdrLen + len(f.Payload)
	ipLen := IPv4HdrLen + udpLen
	if ipLen > 0xffff {
		return dst, fmt.Errorf("taptest: payload of %d bytes does not fit an IPv4 datagram", len(f.Payload))
	}
	ttl := f.TTL
	if ttl == 0 {
		ttl = 64
	}
	src, dstIP := f.SrcIP.As4(), f.DstIP.As4()

	dst = append(dst, f.DstMAC...)
	dst = append(dst, f.SrcMAC...)
	dst = binary.BigEndian.AppendUint16(dst, 0x0800)

	ip := len(dst)
	dst = append(dst, 0x45, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(ipLen))
	dst = binary.BigEndian.AppendUint16(dst, f.ID)
	dst = binary.BigEndian.AppendUint16(dst, 0x4000) // DF, offset 0
	dst = append(dst, ttl, 17, 0, 0)                 // TTL, UDP, checksum
	dst = append(dst, src[:]...)
	dst = append(dst, dstIP[:]...)
	binary.BigEndian.PutUint16(dst[ip+10:], ^fold(sum(0, dst[ip:ip+IPv4HdrLen])))

	udp := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, f.SrcPort)
	dst = binary.BigEndian.AppendUint16(dst, f.DstPort)
	dst = binary.BigEndian.AppendUint16(dst, uint16(udpLen))
	dst = append(dst, 0, 0)
	dst = append(dst, f.Payload...)
	// RFC 768: the checksum covers a pseudo header (addresses, protocol,
	// UDP length), the UDP header and the data; a result of 0 is sent as
	// 0xffff because 0 means "no checksum".
	s := sum(0, src[:])
	s = sum(s, dstIP[:])
	s += 17 + uint32(udpLen)
	c := ^fold(sum(s, dst[udp:]))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(dst[udp+6:], c)
	return dst, nil
}

// ParseUDPFrame is the inverse of AppendUDPFrame for frames that carry IPv4 UDP
// (no VLAN tag, no IP options needed but accepted). It checks both checksums.
// Payload aliases frame.
func ParseUDPFrame(frame []byte) (UDPFrame, error) {
	var f UDPFrame
	if len(frame) < UDPFrameOverhead {
		return f, fmt.Errorf("taptest: %d-byte frame is too short for IPv4/UDP", len(frame))
	}
	if et := binary.BigEndian.Uint16(frame[12:]); et != 0x0800 {
		return f, fmt.Errorf("taptest: ethertype %#04x is not IPv4", et)
	}
	f.DstMAC = net.HardwareAddr(frame[0:6])
	f.SrcMAC = net.HardwareAddr(frame[6:12])
	ip := frame[EthHdrLen:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < IPv4HdrLen || len(ip) < ihl+UDPHdrLen {
		return f, errors.New("taptest: bad IPv4 header")
	}
	if fold(sum(0, ip[:ihl])) != 0xffff {
		return f, errors.New("taptest: bad IPv4 header checksum")
	}
	if ip[9] != 17 {
		return f, fmt.Errorf("taptest: IP protocol %d is not UDP", ip[9])
	}
	ipLen := int(binary.BigEndian.Uint16(ip[2:]))
	if ipLen > len(ip) || ipLen < ihl+UDPHdrLen {
		return f, fmt.Errorf("taptest: IPv4 length %d, %d bytes present", ipLen, len(ip))
	}
	f.ID = binary.BigEndian.Uint16(ip[4:])
	f.TTL = ip[8]
	f.SrcIP = netip.AddrFrom4([4]byte(ip[12:16]))
	f.DstIP = netip.AddrFrom4([4]byte(ip[16:20]))
	udp := ip[ihl:ipLen]
	udpLen := int(binary.BigEndian.Uint16(udp[4:]))
	if udpLen != len(udp) {
		return f, fmt.Errorf("taptest: UDP length %d, IP says %d", udpLen, len(udp))
	}
	if binary.BigEndian.Uint16(udp[6:]) != 0 {
		s := sum(0, ip[12:20])
		s += 17 + uint32(udpLen)
		if fold(sum(s, udp)) != 0xffff {
			return f, errors.New("taptest: bad UDP checksum")
		}
	}
	f.SrcPort = binary.BigEndian.Uint16(udp[0:])
	f.DstPort = binary.BigEndian.Uint16(udp[2:])
	f.Payload = udp[UDPHdrLen:]
	return f, nil
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

// WithVnetHdr returns frame prefixed by a zeroed virtio-net header of size bytes
// (12 for struct virtio_net_hdr_v1): no checksum offload, no GSO, which is what
// a tap with IFF_VNET_HDR expects before a plain frame. size 0 returns frame.
func WithVnetHdr(frame []byte, size int) []byte {
	if size == 0 {
		return frame
	}
	out := make([]byte, size+len(frame))
	copy(out[size:], frame)
	return out
}

// SeqPayload returns a payload of size bytes (at least 4) that starts with seq
// (big-endian) and continues with a pattern derived from it, so that a receiver
// can both count sequence numbers and detect corruption with CheckSeqPayload.
func SeqPayload(seq uint32, size int) []byte {
	if size < 4 {
		size = 4
	}
	p := make([]byte, size)
	binary.BigEndian.PutUint32(p, seq)
	for i := 4; i < size; i++ {
		p[i] = byte(seq) + byte(i)*7
	}
	return p
}

// CheckSeqPayload returns the sequence number of a SeqPayload payload and
// whether the pattern after it is intact.
func CheckSeqPayload(p []byte) (seq uint32, ok bool) {
	if len(p) < 4 {
		return 0, false
	}
	seq = binary.BigEndian.Uint32(p)
	for i := 4; i < len(p); i++ {
		if p[i] != byte(seq)+byte(i)*7 {
			return seq, false
		}
	}
	return seq, true
}
