package vmm

import (
	"fmt"
	"io"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/blk"
	"github.com/govmm/govmm/virtio/rng"
)

// blockDevice is one disk: its image and device, living as long as the
// VMM (across reboots, keeping the image locked).
type blockDevice struct {
	cfg DriveConfig
	img *blk.Image
	dev *blk.Device
}

// openDrives opens (and locks) every image and builds the devices. An
// image that cannot be used is the user's to fix: missing, a directory,
// locked by another VM.
func openDrives(cfg Config, logf, warnf func(string, ...any)) ([]*blockDevice, error) {
	var out []*blockDevice
	fail := func(err error) ([]*blockDevice, error) {
		closeDrives(out)
		return nil, err
	}
	seen := map[string]string{}
	for _, d := range cfg.Drives {
		if other, dup := seen[d.Path]; dup {
			return fail(usagef("-drive %s and %s use the same image %s", other, d.ID, d.Path))
		}
		seen[d.Path] = d.ID
		img, err := blk.Open(d.Path, blk.Options{ReadOnly: d.ReadOnly, Direct: d.Direct})
		if err != nil {
			return fail(&UsageError{fmt.Errorf("-drive %s: %w", d.ID, err)})
		}
		for _, w := range img.Warnings() {
			warnf("warning: -drive %s: %s", d.ID, w)
		}
		dev, err := blk.New(blk.Config{ID: d.ID, Backend: img, ReadOnly: d.ReadOnly, Serial: d.Serial, Log: warnf})
		if err != nil {
			img.Close()
			return fail(&UsageError{fmt.Errorf("-drive %s: %w", d.ID, err)})
		}
		logf("drive %s: %s, %d sectors%s", d.ID, d.Path, dev.Capacity(), map[bool]string{true: ", read-only"}[d.ReadOnly])
		out = append(out, &blockDevice{cfg: d, img: img, dev: dev})
	}
	return out, nil
}

func closeDrives(ds []*blockDevice) {
	for _, d := range ds {
		d.dev.Close()
		d.img.Close()
	}
}

func writeDriveMetrics(w io.Writer, ds []*blockDevice) {
	for _, d := range ds {
		d.dev.WriteMetrics(w, fmt.Sprintf("govmm: drive %s: ", d.cfg.ID))
	}
}

// newRNGs builds the entropy devices.
func newRNGs(cfg Config, warnf func(string, ...any)) ([]*rng.Device, error) {
	var out []*rng.Device
	for i := range cfg.RNGs {
		d, err := rng.New(rng.Config{ID: fmt.Sprintf("rng%d", i), Log: warnf})
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

var _ virtio.Device = (*rng.Device)(nil)
