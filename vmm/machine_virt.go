package vmm

import (
	"fmt"
	"io"
	"time"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/vmm/riscv"
)

type virtMachine struct{ *riscv.Machine }

// newVirtMachine builds the riscv64 virt machine under the translator.
func newVirtMachine(cfg Config, serial io.Writer, devs []virtio.Device, nets []*netDevice, logf func(string, ...any)) (machine, error) {
	if err := checkTransports(cfg, nets, "mmio", "the virt machine (riscv64) has virtio-mmio"); err != nil {
		return nil, err
	}
	m, err := riscv.New(riscv.Config{
		Kernel:  cfg.Kernel,
		Initrd:  cfg.Initrd,
		Cmdline: cfg.Append,
		BIOS:    cfg.BIOS,
		MemSize: cfg.MemSize,
		CPUs:    cfg.CPUs,
		Serial:  serial,
		Virtio:  devs,
		Start:   cfg.Start,
		Log:     logf,
		OnBootMarker: func(what string, since time.Duration) {
			logf("%s at %.1f ms after start", what, float64(since.Microseconds())/1000)
		},
	})
	if err != nil {
		return nil, err
	}
	return virtMachine{m}, nil
}

func (m virtMachine) Describe() string { return m.Machine.Describe() }

// checkTransports rejects a -device that names the other transport than the
// machine's ("pci" or "mmio"), with a message that says which to use.
func checkTransports(cfg Config, nets []*netDevice, want, why string) error {
	suffix := map[string]string{"pci": "pci", "mmio": "device"}
	wrong := func(transport string) bool { return transport != "" && transport != want }
	use := func(dev string) string {
		return fmt.Sprintf("%s: use virtio-%s-%s", why, dev, suffix[want])
	}
	for _, n := range nets {
		if wrong(n.cfg.Transport) {
			return usagef("-device virtio-net-%s,netdev=%s: %s", suffix[n.cfg.Transport], n.cfg.ID, use("net"))
		}
	}
	for _, d := range cfg.Drives {
		if wrong(d.Transport) {
			return usagef("-device virtio-blk-%s,drive=%s: %s", suffix[d.Transport], d.ID, use("blk"))
		}
	}
	for _, t := range cfg.RNGs {
		if wrong(t) {
			return usagef("-device virtio-rng-%s: %s", suffix[t], use("rng"))
		}
	}
	return nil
}
