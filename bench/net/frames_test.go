package main

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/govmm/govmm/tap/taptest"
)

func TestUDPFrame(t *testing.T) {
	for _, size := range []int{minUDPSize, 64, 1500, maxIPSize} {
		f, err := udpFrame(size, taptest.GuestMAC, taptest.PeerMAC, guestIP, peerIP)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if len(f) != ethHdrLen+size {
			t.Fatalf("size %d: frame of %d bytes, want %d", size, len(f), ethHdrLen+size)
		}
		p, err := taptest.ParseUDPFrame(f)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if p.SrcIP != guestIP || p.DstIP != peerIP || !bytes.Equal(p.DstMAC, taptest.PeerMAC) {
			t.Fatalf("size %d: addresses %+v", size, p)
		}
	}
	for _, bad := range []int{minUDPSize - 1, maxIPSize + 1} {
		if _, err := udpFrame(bad, taptest.GuestMAC, taptest.PeerMAC, guestIP, peerIP); err == nil {
			t.Errorf("size %d accepted", bad)
		}
	}
	if c := (benchCase{ipSize: 1500}); c.frameBytes() != 1514 {
		t.Fatalf("1500-byte case: %d-byte frame", c.frameBytes())
	}
}

func TestTSOFrame(t *testing.T) {
	f, err := newTSOFrame(tsoMSS, tsoSegs, taptest.PeerMAC, taptest.GuestMAC, peerIP, guestIP)
	if err != nil {
		t.Fatal(err)
	}
	if c := (benchCase{tso: true}); len(f.Frame) != c.frameBytes() || len(f.Frame) != 65226 {
		t.Fatalf("frame of %d bytes, case says %d", len(f.Frame), c.frameBytes())
	}
	h := f.Hdr
	if h.Flags != vnetFlagNeedsCsum || h.GSOType != vnetGSOTCPv4 || h.GSOSize != 1448 ||
		h.HdrLen != 66 || h.CsumStart != 34 || h.CsumOffset != 16 {
		t.Fatalf("header %+v", h)
	}
	if got := parseVnetHdr(h.appendTo(nil, vnetHdrLen)); got != h {
		t.Fatalf("header round trip: %+v, want %+v", got, h)
	}
	if b := h.appendTo([]byte{9}, vnetHdrLegacyLen); len(b) != 11 || b[0] != 9 {
		t.Fatalf("legacy header: % x", b)
	}

	ip := f.Frame[ethHdrLen:]
	if binary.BigEndian.Uint16(f.Frame[12:]) != 0x0800 || ip[0] != 0x45 || ip[9] != 6 {
		t.Fatal("not IPv4/TCP")
	}
	if int(binary.BigEndian.Uint16(ip[2:])) != len(ip) || binary.BigEndian.Uint16(ip[6:])&0x4000 == 0 {
		t.Fatal("IPv4 total length or DF")
	}
	if fold(sum(0, ip[:ipHdrLen])) != 0xffff {
		t.Fatal("IPv4 header checksum")
	}
	tcp := ip[ipHdrLen:]
	if int(tcp[12]>>4)*4 != tcpHdrLen || tcp[20] != 1 || tcp[22] != 8 || tcp[23] != 10 {
		t.Fatal("TCP header length or timestamp option")
	}
	if tsoHdrLen+int(h.GSOSize)*tsoSegs != len(f.Frame) {
		t.Fatal("headers plus segments do not make the frame")
	}

	// Finish the checksum as the receiver of NEEDS_CSUM does (sum from
	// csum_start, field included, complement into the field): the result
	// must be a valid TCP checksum over the pseudo header.
	done := bytes.Clone(f.Frame)
	start, field := int(h.CsumStart), int(h.CsumStart+h.CsumOffset)
	binary.BigEndian.PutUint16(done[field:], ^fold(sum(0, done[start:])))
	src, dst := [4]byte(ip[12:16]), [4]byte(ip[16:20])
	if got := fold(sum(pseudoSum(src, dst, 6, len(tcp)), done[start:])); got != 0xffff {
		t.Fatalf("completed TCP checksum does not verify: %#04x", got)
	}

	for _, c := range []struct{ mss, segs int }{{0, 1}, {1448, 0}, {1448, 46}} {
		if _, err := newTSOFrame(c.mss, c.segs, taptest.PeerMAC, taptest.GuestMAC, peerIP, guestIP); err == nil {
			t.Errorf("%d segments of %d accepted", c.segs, c.mss)
		}
	}
}

func TestSplitBuffer(t *testing.T) {
	b := make([]byte, 100)
	for _, c := range []struct {
		head, frag int
		want       []int
	}{
		{0, 0, []int{100}},
		{100, 10, []int{100}},
		{20, 0, []int{20, 80}},
		{20, 32, []int{20, 32, 32, 16}},
		{20, 40, []int{20, 40, 40}},
	} {
		var got []int
		total := 0
		for _, p := range splitBuffer(b, c.head, c.frag) {
			got = append(got, len(p))
			if &p[0] != &b[total] {
				t.Fatalf("head %d frag %d: pieces do not follow each other", c.head, c.frag)
			}
			total += len(p)
		}
		if !equalInts(got, c.want) {
			t.Errorf("head %d frag %d: %v, want %v", c.head, c.frag, got, c.want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
