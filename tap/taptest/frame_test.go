package taptest

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestUDPFrameRoundTrip(t *testing.T) {
	in := UDPFrame{
		SrcMAC: GuestMAC, DstMAC: PeerMAC,
		SrcIP: netip.MustParseAddr("192.168.0.1"), DstIP: netip.MustParseAddr("192.168.0.199"),
		SrcPort: 1234, DstPort: 5678, ID: 7,
		Payload: []byte("hello"),
	}
	f, err := AppendUDPFrame(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	// Checksums computed independently (a few lines of Python implementing
	// RFC 1071) for this exact frame, so that a symmetric bug in sum/fold
	// cannot make build and parse agree.
	want := "02005e000002" + "525400123456" + "0800" +
		"4500002100074000" + "4011" + "b8ac" + "c0a80001" + "c0a800c7" +
		"04d2162e000d" + "1ee9" + hex.EncodeToString([]byte("hello"))
	if got := hex.EncodeToString(f); got != want {
		t.Fatalf("frame\n%s\nwant\n%s", got, want)
	}
	out, err := ParseUDPFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Payload, in.Payload) || out.SrcIP != in.SrcIP || out.DstIP != in.DstIP ||
		out.SrcPort != in.SrcPort || out.DstPort != in.DstPort || out.ID != 7 || out.TTL != 64 ||
		out.SrcMAC.String() != in.SrcMAC.String() || out.DstMAC.String() != in.DstMAC.String() {
		t.Errorf("parsed %+v, built from %+v", out, in)
	}
	for i, wantErr := range map[int]string{24: "IPv4 header checksum", 40: "UDP checksum", 44: "UDP checksum"} {
		bad := bytes.Clone(f)
		bad[i] ^= 0x01
		if _, err := ParseUDPFrame(bad); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("flipping byte %d: %v, want %q", i, err, wantErr)
		}
	}
	if _, err := AppendUDPFrame(nil, UDPFrame{SrcMAC: net.HardwareAddr{1}, DstMAC: PeerMAC}); err == nil {
		t.Error("a 1-byte MAC was accepted")
	}
}

func TestSeqPayload(t *testing.T) {
	p := SeqPayload(0x01020304, 1000)
	if seq, ok := CheckSeqPayload(p); seq != 0x01020304 || !ok {
		t.Errorf("CheckSeqPayload = %#x, %v", seq, ok)
	}
	p[500] ^= 0xff
	if _, ok := CheckSeqPayload(p); ok {
		t.Error("corruption not detected")
	}
	v := WithVnetHdr([]byte{1, 2}, 12)
	if len(v) != 14 || !bytes.Equal(v[:12], make([]byte, 12)) || v[12] != 1 {
		t.Errorf("WithVnetHdr = % x", v)
	}
}
