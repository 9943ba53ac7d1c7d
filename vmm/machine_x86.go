//go:build linux && amd64

package vmm

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/govmm/govmm/kvm"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/vmm/riscv"
	"github.com/govmm/govmm/vmm/x86"
	"github.com/govmm/govmm/vmm/x86/boot"
)

// userErrors are the errors a user fixes by changing the command line.
var userErrors = []error{
	boot.ErrBadKernel, boot.ErrMemTooSmall, boot.ErrInitrdNoFit, boot.ErrCmdlineLong, boot.ErrOldProtocol,
	kvm.ErrNotSupported, os.ErrPermission, os.ErrNotExist, x86.ErrTooManyCPUs,
	riscv.ErrBadKernel, riscv.ErrNoFit, riscv.ErrTooManyHart, riscv.ErrTooManyDevs,
}

type x86Machine struct {
	*x86.Machine
	engine string
}

func (m x86Machine) Describe() string {
	b := m.Boot
	return fmt.Sprintf("machine microvm (x86-64) on %s: %s, entry %#x", m.engine, b.Protocol, b.CPU.RIP)
}

func newMachine(cfg Config, serial io.Writer, devs []virtio.Device, nets []*netDevice, logf func(string, ...any)) (machine, error) {
	if cfg.Machine == "virt" {
		return newVirtMachine(cfg, serial, devs, nets, logf)
	}
	if err := checkTransports(cfg, nets, "pci", "the microvm machine (x86) has virtio over PCI"); err != nil {
		return nil, err
	}
	engine := "KVM"
	if kvm.IsPVM() {
		engine = "KVM (kvm_pvm: guest ring 0 is emulated, x86 Linux will not boot here)"
	}
	m, err := x86.New(x86.Config{
		Kernel:  cfg.Kernel,
		Initrd:  cfg.Initrd,
		Cmdline: cfg.Append,
		MemSize: cfg.MemSize,
		CPUs:    cfg.CPUs,
		Serial:  serial,
		Virtio:  devs,
		NoACPI:  cfg.NoACPI,
		KVMPath: cfg.KVMPath,
		Start:   cfg.Start,
		Log:     logf,
		OnBootMarker: func(what string, since time.Duration) {
			logf("%s at %.1f ms after start", what, float64(since.Microseconds())/1000)
		},
	})
	if err != nil {
		return nil, err
	}
	return x86Machine{Machine: m, engine: engine}, nil
}
