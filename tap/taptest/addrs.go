package taptest

import (
	"net"
	"net/netip"
)

// Addresses of the helpers' topologies.
var (
	// GuestMAC is the source MAC the helpers' frames use for the VM side.
	GuestMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	// PeerMAC is the MAC of the capturing veth end (TapPeer) or of the
	// receiver's interface (Bottleneck).
	PeerMAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x00, 0x02}

	// GuestIP is the VM side's address in the bottleneck's subnet.
	GuestIP = netip.MustParseAddr("10.99.0.1")
	// ReceiverIP is the receiver's address (on v1, /24).
	ReceiverIP = netip.MustParseAddr("10.99.0.2")
)
