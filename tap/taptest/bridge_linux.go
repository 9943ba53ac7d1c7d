//go:build linux

package taptest

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/govmm/govmm/tap"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// bridgedTap is a persistent tap enslaved to a bridge, inside a namespace the
// helper created. The tap has no fd attached until a test opens it, so its
// bridge port stays disabled until then (no carrier); see WaitForwarding.
// Being persistent, it can be opened by name by the code under test; it is
// deleted with its namespace.
type bridgedTap struct {
	ns      *NS
	tapName string
	bridge  *netlink.Bridge
}

// Names inside the helpers' private namespaces; they cannot collide with the
// host's interfaces or another test's, because each test has its own namespaces.
const (
	tapName    = "tap0"
	bridgeName = "br0"
)

func newBridgedTap(t testing.TB, ns *NS) *bridgedTap {
	t.Helper()
	if _, err := os.Stat(tap.DefaultDevicePath); err != nil {
		t.Skipf("taptest: no %s: %v", tap.DefaultDevicePath, err)
	}
	if err := ns.Do(func() error { return createPersistentTap(tapName, -1) }); err != nil {
		t.Fatalf("taptest: %v", err)
	}
	h := ns.Netlink()
	// Spanning tree stays off (the default), so a port forwards as soon as it
	// is enabled: br_make_forwarding goes straight to BR_STATE_FORWARDING
	// without STP, no listening/learning forward delay.
	// Multicast snooping off: with it on, the bridge joins 224.0.0.106 (all
	// snoopers, br_multicast_join_snoopers) and sends IGMPv3 reports out of
	// every port, the tap included, which tests would have to filter.
	snoop := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}, MulticastSnooping: &snoop}
	if err := h.LinkAdd(br); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("taptest: no bridge support in this kernel: %v", err)
		}
		t.Fatalf("taptest: add bridge: %v", err)
	}
	tp, err := h.LinkByName(tapName)
	if err != nil {
		t.Fatalf("taptest: %v", err)
	}
	for _, step := range []func() error{
		func() error { return h.LinkSetMaster(tp, br) },
		func() error { return h.LinkSetUp(tp) },
		func() error { return h.LinkSetUp(br) },
	} {
		if err := step(); err != nil {
			t.Fatalf("taptest: set up %s in %s: %v", tapName, bridgeName, err)
		}
	}
	return &bridgedTap{ns: ns, tapName: tapName, bridge: br}
}

// createPersistentTap creates a tap that outlives its fd (TUNSETPERSIST), owned
// by uid owner when owner >= 0, in the calling thread's namespace.
func createPersistentTap(name string, owner int) error {
	fd, err := unix.Open(tap.DefaultDevicePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", tap.DefaultDevicePath, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	// IFF_TUN_EXCL: fail rather than attach if the name exists.
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_TUN_EXCL)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("create tap %s: TUNSETIFF: %w", name, err)
	}
	if owner >= 0 {
		if err := unix.IoctlSetInt(fd, unix.TUNSETOWNER, owner); err != nil {
			return fmt.Errorf("tap %s: TUNSETOWNER %d: %w", name, owner, err)
		}
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("tap %s: TUNSETPERSIST: %w", name, err)
	}
	return nil
}

// CreatePersistentTap creates a tap called name in ns that stays when no fd is
// attached, as `ip tuntap add NAME mode tap user OWNER` does; owner < 0 leaves
// it without an owner (only CAP_NET_ADMIN may attach). It disappears with ns.
func CreatePersistentTap(t testing.TB, ns *NS, name string, owner int) {
	t.Helper()
	if _, err := os.Stat(tap.DefaultDevicePath); err != nil {
		t.Skipf("taptest: no %s: %v", tap.DefaultDevicePath, err)
	}
	if err := ns.Do(func() error { return createPersistentTap(name, owner) }); err != nil {
		t.Fatalf("taptest: %v", err)
	}
}

// TapName is the name of the tap, inside NS.
func (b *bridgedTap) TapName() string { return b.tapName }

// Open opens (attaches to) the tap with opts from inside the namespace, closes
// it at cleanup, and waits until the bridge forwards its frames.
func (b *bridgedTap) Open(t testing.TB, opts tap.Options) *tap.Tap {
	t.Helper()
	var tp *tap.Tap
	err := b.ns.Do(func() error {
		var err error
		tp, err = tap.Open(b.tapName, opts)
		return err
	})
	if err != nil {
		t.Fatalf("taptest: %v", err)
	}
	t.Cleanup(func() { tp.Close() })
	if err := b.WaitForwarding(5 * time.Second); err != nil {
		t.Fatalf("taptest: %v", err)
	}
	return tp
}

// WaitForwarding waits until every port of the bridge is in the forwarding
// state. Call it after the tap has been opened (by Open, or by a VMM under
// test): an unattached tap has no carrier, its port is disabled, and the bridge
// drops frames arriving on a disabled port (br_handle_frame). The port is
// enabled when the carrier change reaches the bridge through linkwatch
// (NETDEV_CHANGE -> br_port_carrier_check). Measured here (Linux 6.18), that
// takes under a millisecond after Open, because a carrier-on whose qdisc
// activation is pending counts as urgent (linkwatch_urgent_event:
// qdisc_tx_changing); non-urgent link events are batched for up to a second
// (net/core/link_watch.c), so the helper checks rather than relying on that or
// sleeping.
func (b *bridgedTap) WaitForwarding(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		states, err := b.portStates()
		if err != nil {
			return err
		}
		ready := len(states) > 0
		for _, s := range states {
			if s != brStateForwarding {
				ready = false
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bridge %s: ports not forwarding after %v: states %v (0 disabled, 3 forwarding)", bridgeName, timeout, states)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// brStateForwarding is BR_STATE_FORWARDING (include/uapi/linux/if_bridge.h).
const brStateForwarding = 3

// portStates returns the STP state of each port of the bridge, by name, from an
// AF_BRIDGE link dump (IFLA_PROTINFO carries IFLA_BRPORT_STATE; br_fill_ifinfo).
func (b *bridgedTap) portStates() (map[string]uint8, error) {
	states := map[string]uint8{}
	err := b.ns.Do(func() error {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
		if err != nil {
			return fmt.Errorf("bridge port dump: %w", err)
		}
		for _, m := range msgs {
			ifi := nl.DeserializeIfInfomsg(m)
			attrs, err := nl.ParseRouteAttr(m[ifi.Len():])
			if err != nil {
				return err
			}
			var name string
			state, isPort := uint8(0), false
			for _, a := range attrs {
				switch a.Attr.Type &^ unix.NLA_F_NESTED {
				case unix.IFLA_IFNAME:
					name = string(a.Value[:len(a.Value)-1])
				case unix.IFLA_PROTINFO:
					infos, err := nl.ParseRouteAttr(a.Value)
					if err != nil {
						return err
					}
					for _, in := range infos {
						if in.Attr.Type == nl.IFLA_BRPORT_STATE {
							state, isPort = in.Value[0], true
						}
					}
				}
			}
			if isPort {
				states[name] = state
			}
		}
		return nil
	})
	return states, err
}
