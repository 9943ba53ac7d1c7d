package vmm

import (
	"errors"
	"fmt"
	"io"

	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/virtio"
	vnet "github.com/govmm/govmm/virtio/net"
)

// netDevice is one configured network interface: its tap and its
// virtio-net device, both living as long as the VMM (across reboots).
type netDevice struct {
	cfg NetConfig
	tap *tap.Tap
	dev *vnet.Device
}

// openNets opens every tap and builds the devices. A tap that cannot be
// opened is a configuration error: the message says whether it is the
// device node, permissions or the name.
func openNets(cfg Config, logf, warnf func(string, ...any)) ([]*netDevice, error) {
	var out []*netDevice
	fail := func(err error) ([]*netDevice, error) {
		closeNets(out)
		return nil, err
	}
	for _, n := range cfg.Nets {
		t, err := tap.Open(n.IfName, tap.Options{VnetHdr: n.VnetHdr, SndBuf: n.SndBuf})
		if err != nil {
			if errors.Is(err, tap.ErrNotSupported) {
				return fail(usagef("-netdev %s: %v", n.ID, err))
			}
			return fail(&UsageError{fmt.Errorf("-netdev %s: %w", n.ID, err)})
		}
		d, err := vnet.New(vnet.Config{ID: n.ID, MAC: n.MAC, Backend: t, VnetHdr: n.VnetHdr, Log: warnf})
		if err != nil {
			t.Close()
			return fail(err)
		}
		sb := "unlimited"
		if n.SndBuf > 0 {
			sb = fmt.Sprint(n.SndBuf)
		}
		logf("netdev %s: tap %s, sndbuf %s, MAC %s", n.ID, t.Name(), sb, d.MAC())
		out = append(out, &netDevice{cfg: n, tap: t, dev: d})
	}
	return out, nil
}

func closeNets(nets []*netDevice) {
	for _, n := range nets {
		n.dev.Close()
		n.tap.Close()
	}
}

// writeNetMetrics prints every device's counters.
func writeNetMetrics(w io.Writer, nets []*netDevice) {
	for _, n := range nets {
		n.dev.Metrics.Write(w, fmt.Sprintf("govmm: net %s: ", n.cfg.ID))
	}
}

// virtioDevices lists the devices for a machine.
func virtioDevices(nets []*netDevice) []virtio.Device {
	var devs []virtio.Device
	for _, n := range nets {
		devs = append(devs, n.dev)
	}
	return devs
}
