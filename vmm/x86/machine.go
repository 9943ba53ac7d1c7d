//go:build linux && amd64

// Package x86 is the x86-64 machine on KVM: guest RAM with an MMIO hole
// below 4 GiB, the in-kernel irqchip and PIT, legacy PC devices, ACPI and
// MP tables, and a Linux kernel loaded by vmm/x86/boot and entered
// directly in 64-bit (or 32-bit/PVH) mode, without firmware.
package x86

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/govmm/govmm/kvm"
	"github.com/govmm/govmm/legacy"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/vmm/accel"
	"github.com/govmm/govmm/vmm/bus"
	"github.com/govmm/govmm/vmm/mem"
	"github.com/govmm/govmm/vmm/x86/boot"
)

// Config describes one x86-64 VM.
type Config struct {
	Kernel  string
	Initrd  string // "" for none
	Cmdline string
	MemSize uint64
	CPUs    int

	// Serial receives the COM1 UART's output; nil means no UART at all
	// (QEMU's -serial none).
	Serial io.Writer

	// NoACPI leaves out the ACPI tables (the MP table still describes
	// the CPUs). Without ACPI a Linux guest cannot power off.
	NoACPI bool

	// DebugCon receives bytes written to port 0xe9 (QEMU's -debugcon, the
	// Bochs debug port); nil leaves the port unclaimed.
	DebugCon io.Writer
	// DebugExit adds QEMU's isa-debug-exit at port 0xf4: a write of v
	// stops the machine with exit code (v<<1)|1. For test kernels.
	DebugExit bool

	// Virtio are the virtio devices on the PCI host bridge, in slots 1,
	// 2, ... The bridge is always there, so the DSDT can describe it.
	Virtio []virtio.Device

	// KVMPath is /dev/kvm unless set.
	KVMPath string

	// Start is when the VMM process started; boot markers are reported
	// relative to it.
	Start time.Time
	// OnBootMarker, if set, is called when the guest signals boot
	// progress: Firecracker's boot timer (MMIO write of 123 to
	// BootTimerAddr) reports "boot-complete", Cloud Hypervisor's debug
	// port 0x80 codes in 0x40-0x7f report "debug-port 0xNN".
	OnBootMarker func(what string, sinceStart time.Duration)
	// Log, if set, receives diagnostics (-v).
	Log func(format string, args ...any)
}

// BootTimerAddr is where the guest writes BootTimerValue when it has
// booted (Firecracker's boot timer device).
const (
	BootTimerAddr  = 0xc0000000
	BootTimerValue = 123
)

// ErrTooManyCPUs reports a -smp beyond what KVM or the boot tables allow.
var ErrTooManyCPUs = errors.New("too many vCPUs")

// ISA IRQs of the legacy devices.
const (
	irqKeyboard = 1
	irqCOM1     = 4
)

// Machine is a built, not yet running, x86-64 VM.
type Machine struct {
	cfg    Config
	sys    *kvm.System
	vm     *kvm.VM
	mem    *mem.Memory
	cpus   []*kvm.VCPU
	acpus  []accel.VCPU
	pio    *bus.Bus
	mmio   *bus.Bus
	uart   *legacy.UART
	virtio *VirtioPCI
	st     *accel.Stopper
	stats  []accel.Stats

	Boot *boot.Result // what the loader did
}

// New builds the VM: KVM objects, memory, devices, the loaded kernel and
// the boot vCPU's state. On error everything opened is closed again.
func New(cfg Config) (_ *Machine, err error) {
	if cfg.CPUs < 1 {
		cfg.CPUs = 1
	}
	m := &Machine{cfg: cfg, pio: bus.New("pio"), mmio: bus.New("mmio")}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	// The kernel loads (page faults and a copy: a few ms, the longest step)
	// while KVM is set up and the vCPUs are made.
	if m.mem, err = mem.New(boot.RAMLayout(cfg.MemSize)); err != nil {
		return nil, err
	}
	m.mem.AdviseHugePages()
	loaded := background(m.load)
	// Runs before the Close above: never unmap memory a loader is still
	// writing.
	defer func() {
		if err != nil {
			loaded.wait()
		}
	}()
	if m.sys, err = kvm.Open(cfg.KVMPath); err != nil {
		// A bad kernel or initrd is reported even on a host without
		// KVM: the user fixes the command line first.
		if lerr := loaded.wait(); lerr != nil {
			return nil, lerr
		}
		return nil, err
	}
	if max := min(m.sys.MaxVCPUs(), boot.MaxCPUs); cfg.CPUs > max {
		return nil, fmt.Errorf("-smp %d: %w: this host's KVM allows at most %d", cfg.CPUs, ErrTooManyCPUs, max)
	}
	if m.vm, err = m.sys.CreateVM(); err != nil {
		return nil, err
	}
	// Memory slots go in before the irqchip and PIT: measured here, a
	// slot registered after them waits 4-9 ms for KVM's SRCU grace
	// period, one registered before takes 0.1 ms.
	if err = m.registerSlots(); err != nil {
		return nil, err
	}
	// Intel VMX needs these pages for real mode; they sit in the MMIO hole
	// just below the BIOS area, as QEMU places them. AMD ignores them.
	if err = m.vm.SetTSSAddr(0xfffbd000); err != nil {
		return nil, err
	}
	if n, _ := m.sys.CheckExtension(kvm.KVM_CAP_SET_IDENTITY_MAP_ADDR); n > 0 {
		if err = m.vm.SetIdentityMapAddr(0xfffbc000); err != nil {
			return nil, err
		}
	}
	if err = m.vm.CreateIRQChip(); err != nil {
		return nil, err
	}
	if err = m.vm.CreatePIT2(kvm.KVM_PIT_SPEAKER_DUMMY); err != nil {
		return nil, err
	}
	if err = m.createVCPUs(); err != nil {
		return nil, err
	}
	m.st = accel.NewStopper(m.acpus)
	if err = m.addDevices(); err != nil {
		return nil, err
	}
	if err = loaded.wait(); err != nil {
		return nil, err
	}
	// Only the boot vCPU starts at the kernel; the others wait in KVM for
	// the INIT/SIPI the kernel sends them.
	if err = setBootState(m.cpus[0], m.Boot.CPU); err != nil {
		return nil, err
	}
	m.logf("machine built %.2f ms after start", ms(time.Since(cfg.Start)))
	return m, nil
}

// task is a step of New running in its own goroutine.
type task struct {
	done chan error
	err  error
	once bool
}

func background(f func() error) *task {
	t := &task{done: make(chan error, 1)}
	go func() { t.done <- f() }()
	return t
}

// wait returns the step's error; it may be called more than once.
func (t *task) wait() error {
	if !t.once {
		t.once, t.err = true, <-t.done
	}
	return t.err
}

func (m *Machine) registerSlots() error {
	for i, r := range m.mem.Regions() {
		if err := m.vm.SetUserMemoryRegion(uint32(i), 0, uint64(r.GPA), r.Size, r.HostAddr); err != nil {
			return err
		}
	}
	return nil
}

func (m *Machine) load() error {
	kimg, kf, err := boot.OpenImage(m.cfg.Kernel)
	if err != nil {
		return fmt.Errorf("kernel: %w", err)
	}
	defer kf.Close()
	bc := boot.Config{Kernel: kimg, Cmdline: m.cfg.Cmdline, MemSize: m.cfg.MemSize, CPUs: m.cfg.CPUs, ACPI: !m.cfg.NoACPI}
	if m.cfg.Initrd != "" {
		iimg, inf, err := boot.OpenImage(m.cfg.Initrd)
		if err != nil {
			return fmt.Errorf("initrd: %w", err)
		}
		defer inf.Close()
		bc.Initrd = &iimg
	}
	t0 := time.Now()
	res, err := boot.Load(m.mem, bc)
	if err != nil {
		return err
	}
	m.logf("kernel and initrd loaded in %.2f ms", ms(time.Since(t0)))
	m.Boot = res
	m.logf("loaded %s: %s at %#x, initrd %#x+%#x", m.cfg.Kernel, res.Protocol, res.KernelAddr, res.InitrdAddr, res.InitrdSize)
	return nil
}

func (m *Machine) createVCPUs() error {
	supported, err := m.sys.SupportedCPUID()
	if err != nil {
		return err
	}
	tscDeadline, _ := m.sys.CheckExtension(kvm.KVM_CAP_TSC_DEADLINE_TIMER)
	for i := 0; i < m.cfg.CPUs; i++ {
		c, err := m.vm.CreateVCPU(i)
		if err != nil {
			return err
		}
		m.cpus = append(m.cpus, c)
		m.acpus = append(m.acpus, &vcpu{c: c})
		if err := setupVCPU(c, guestCPUID(supported, i, m.cfg.CPUs, tscDeadline > 0)); err != nil {
			return err
		}
	}
	m.stats = make([]accel.Stats, len(m.cpus))
	return nil
}

// irqLine drives one in-kernel irqchip input.
type irqLine struct {
	vm  *kvm.VM
	gsi uint32
}

func (l irqLine) SetLevel(high bool) { l.vm.IRQLine(l.gsi, high) }

func (m *Machine) addDevices() error {
	reset := func() { m.st.Stop(accel.Stop{Reason: accel.ReasonReset, VCPU: -1}) }
	type reg struct {
		base, size uint64
		name       string
		dev        bus.Device
	}
	regs := []reg{
		{0x60, 5, "i8042", legacy.NewI8042(legacy.I8042Config{Reset: reset, KbdIRQ: irqLine{m.vm, irqKeyboard}})},
		{0x70, 2, "rtc", legacy.NewRTC(nil)},
		{0x80, 1, "port80", legacy.NewPort80(m.port80)},
		{boot.SleepControlPort, 3, "acpi-power", &powerDevice{st: m.st}},
	}
	if m.cfg.Serial != nil {
		u, err := legacy.NewUART(legacy.UARTConfig{Out: m.cfg.Serial, IRQ: irqLine{m.vm, irqCOM1}})
		if err != nil {
			return err
		}
		m.uart = u
		regs = append(regs, reg{0x3f8, 8, "com1", u})
	}
	if m.cfg.DebugCon != nil {
		regs = append(regs, reg{0xe9, 1, "debugcon", debugCon{m.cfg.DebugCon}})
	}
	if m.cfg.DebugExit {
		regs = append(regs, reg{0xf4, 4, "isa-debug-exit", debugExit{m.st}})
	}
	for _, r := range regs {
		if err := m.pio.Register(r.base, r.size, r.name, r.dev); err != nil {
			return err
		}
	}
	if err := m.mmio.Register(BootTimerAddr, 0x1000, "boot-timer", bootTimer{m}); err != nil {
		return err
	}
	vp, err := NewVirtioPCI(m.vm, m.mem, m.pio, m.mmio, m.cfg.Virtio, m.logf)
	if err != nil {
		return err
	}
	m.virtio = vp
	return nil
}

// port80 reports Cloud Hypervisor-style debug codes. Linux also writes
// port 0x80 as an I/O delay with arbitrary values, so only the ranges CH
// assigns to the kernel and userspace (0x40-0x7f) count as markers.
func (m *Machine) port80(v byte) {
	if v >= 0x40 && v < 0x80 && m.cfg.OnBootMarker != nil {
		m.cfg.OnBootMarker(fmt.Sprintf("debug-port %#02x", v), time.Since(m.cfg.Start))
	}
}

// bootTimer is Firecracker's boot-timer device.
type bootTimer struct{ m *Machine }

func (bootTimer) Read(off uint64, data []byte) { clear(data) }
func (b bootTimer) Write(off uint64, data []byte) {
	if off == 0 && len(data) > 0 && data[0] == BootTimerValue && b.m.cfg.OnBootMarker != nil {
		b.m.cfg.OnBootMarker("boot-complete", time.Since(b.m.cfg.Start))
	}
}

// debugCon is the Bochs/QEMU debug console port.
type debugCon struct{ w io.Writer }

func (debugCon) Read(off uint64, data []byte) { clear(data) }
func (d debugCon) Write(off uint64, data []byte) {
	d.w.Write(data[:1])
}

// debugExit is QEMU's isa-debug-exit.
type debugExit struct{ st *accel.Stopper }

func (debugExit) Read(off uint64, data []byte) { clear(data) }
func (d debugExit) Write(off uint64, data []byte) {
	var v uint32
	for i := len(data) - 1; i >= 0; i-- {
		v = v<<8 | uint32(data[i])
	}
	d.st.Stop(accel.Stop{Reason: accel.ReasonPoweroff, VCPU: -1, Code: int(v<<1 | 1), Detail: fmt.Sprintf("isa-debug-exit %#x", v)})
}

// powerDevice implements the FADT's sleep control, sleep status and reset
// registers.
type powerDevice struct{ st *accel.Stopper }

func (p *powerDevice) Read(off uint64, data []byte) { clear(data) }
func (p *powerDevice) Write(off uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	v := data[0]
	switch off {
	case 0: // SLEEP_CONTROL_REG: SLP_TYP in bits 2-4, SLP_EN bit 5
		if v&(1<<5) != 0 && (v>>2)&7 == boot.SleepTypeS5 {
			p.st.Stop(accel.Stop{Reason: accel.ReasonPoweroff, VCPU: -1})
		}
	case 2: // RESET_REG
		if v == boot.ResetValue {
			p.st.Stop(accel.Stop{Reason: accel.ReasonReset, VCPU: -1})
		}
	}
}

// SerialInput is where host console input for COM1 goes (nil without a
// UART).
func (m *Machine) SerialInput() io.Writer {
	if m.uart == nil {
		return nil
	}
	return m.uart.Input()
}

// Memory is the guest's RAM.
func (m *Machine) Memory() *mem.Memory { return m.mem }

// Stop asks the machine to stop with reason (from any goroutine).
func (m *Machine) Stop(reason accel.Reason) {
	m.st.Stop(accel.Stop{Reason: reason, VCPU: -1})
}

// Run runs every vCPU until the guest powers off or resets, an engine
// error, or ctx is canceled, and returns why it stopped.
func (m *Machine) Run(ctx context.Context) accel.Stop {
	st := accel.Run(ctx, m.st, m.acpus, accel.Buses{PIO: m.pio, MMIO: m.mmio}, m.stats, func(i int) { m.cpus[i].Unbind() })
	if m.uart != nil {
		m.uart.Flush()
	}
	return st
}

// Stats sums the vCPUs' exit counters.
func (m *Machine) Stats() (io, mmio uint64) {
	for i := range m.stats {
		io += m.stats[i].IO.Load()
		mmio += m.stats[i].MMIO.Load()
	}
	return io, mmio
}

// Close releases every fd and mapping the machine holds. It is safe on a
// partly built machine and after Run.
func (m *Machine) Close() error {
	var errs []error
	// Devices stop (their workers exit) while the VM fd is still open.
	if m.virtio != nil {
		errs = append(errs, m.virtio.Close())
	}
	if m.uart != nil {
		errs = append(errs, m.uart.Close())
	}
	for _, c := range m.cpus {
		errs = append(errs, c.Close())
	}
	if m.vm != nil {
		errs = append(errs, m.vm.Close())
	}
	if m.sys != nil {
		errs = append(errs, m.sys.Close())
	}
	if m.mem != nil {
		errs = append(errs, m.mem.Close())
	}
	return errors.Join(errs...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (m *Machine) logf(format string, args ...any) {
	if m.cfg.Log != nil {
		m.cfg.Log(format, args...)
	}
}
