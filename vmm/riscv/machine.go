// Package riscv is the riscv64 `virt` machine under govmm's translator:
// RAM at 0x80000000, a 16550A UART, a PLIC, a CLINT, virtio-mmio slots, a
// poweroff/reboot device, a device tree built here, and SBI implemented in
// govmm (or OpenSBI in M mode with -bios). Its layout follows QEMU's virt
// machine, so kernels and firmware built for that run unchanged.
package riscv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/govmm/govmm/legacy"
	"github.com/govmm/govmm/tcg"
	"github.com/govmm/govmm/tcg/env"
	rv "github.com/govmm/govmm/tcg/riscv"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/mmio"
	"github.com/govmm/govmm/vmm/accel"
	"github.com/govmm/govmm/vmm/bus"
	"github.com/govmm/govmm/vmm/mem"
)

// The physical memory map (QEMU virt's).
const (
	TestBase    = 0x00100000 // poweroff/reboot (sifive,test0)
	TestSize    = 0x1000
	CLINTBase   = 0x02000000
	PLICBase    = 0x0c000000
	UARTBase    = 0x10000000
	UARTIRQ     = 10
	VirtioBase  = 0x10001000 // slot i at VirtioBase + i*mmio.Size
	VirtioIRQ   = 1          // slot i on PLIC source VirtioIRQ + i
	VirtioSlots = 8
	RAMBase     = 0x80000000

	// KernelOffset is where the kernel Image goes when its header names
	// no text offset, and always under firmware (OpenSBI fw_jump jumps
	// to RAMBase + 2 MiB).
	KernelOffset = 0x200000
	// fdtSpace is what the top of RAM keeps for the device tree.
	fdtSpace = 64 << 10
	// uartClock is the 16550A's input clock in the device tree.
	uartClock = 3686400
	// MaxHarts bounds -smp: the PLIC has two contexts per hart and the
	// kernel recipe is built for 8 CPUs.
	MaxHarts = 8
)

// Errors a user fixes on the command line.
var (
	ErrBadKernel   = errors.New("not a riscv64 kernel Image")
	ErrNoFit       = errors.New("does not fit in guest memory")
	ErrTooManyHart = fmt.Errorf("at most %d harts", MaxHarts)
	ErrTooManyDevs = fmt.Errorf("at most %d virtio devices", VirtioSlots)
)

// Config describes one riscv64 VM.
type Config struct {
	Kernel  string // a riscv64 Image (Linux's arch/riscv/boot/Image)
	Initrd  string // "" for none
	Cmdline string
	// BIOS is M-mode firmware (OpenSBI's fw_jump, raw or ELF) loaded at
	// RAMBase; "" runs the kernel in S mode with SBI served by govmm.
	BIOS    string
	MemSize uint64
	CPUs    int

	// Serial receives the UART's output (and the SBI console's); nil
	// means no UART at all.
	Serial io.Writer
	// Virtio are the devices on the virtio-mmio slots, in order.
	Virtio []virtio.Device
	// Backend is the translator's code generator ("" picks the best).
	Backend string

	// Start is when the VMM started, for boot markers.
	Start time.Time
	// OnBootMarker is called when the guest signals boot progress (a
	// write of BootMarkerValue to the test device's marker register).
	OnBootMarker func(what string, sinceStart time.Duration)
	// Log, if set, receives diagnostics (-v).
	Log func(format string, args ...any)
}

// Machine is a built riscv64 VM.
type Machine struct {
	cfg    Config
	mem    *mem.Memory
	tmem   *env.Memory
	mmio   *bus.Bus
	clock  *Clock
	plic   *PLIC
	clint  *CLINT
	uart   *legacy.UART
	out    *lockedWriter
	virtio []*mmio.Device
	harts  []*hart
	acpus  []accel.VCPU // the harts, for accel
	st     *accel.Stopper
	stats  []accel.Stats

	// Entry is where the boot hart starts; FDT where the device tree is.
	Entry, FDT uint64
	// KernelAddr and InitrdAddr are where the images were loaded.
	KernelAddr, InitrdAddr uint64
}

// New builds the VM. On error everything is released again.
func New(cfg Config) (_ *Machine, err error) {
	if cfg.CPUs < 1 {
		cfg.CPUs = 1
	}
	if cfg.CPUs > MaxHarts {
		return nil, fmt.Errorf("-smp %d: %w", cfg.CPUs, ErrTooManyHart)
	}
	if len(cfg.Virtio) > VirtioSlots {
		return nil, fmt.Errorf("%d devices: %w", len(cfg.Virtio), ErrTooManyDevs)
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	m := &Machine{cfg: cfg, mmio: bus.New("mmio"), clock: NewClock()}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	m.mem, err = mem.New([]mem.Spec{{GPA: RAMBase, Size: cfg.MemSize}})
	if err != nil {
		return nil, fmt.Errorf("guest memory: %w", err)
	}
	// A booting kernel touches most of its RAM: 2 MiB faults instead of
	// 4 KiB ones (bench-boot-riscv: about 0.33 -> 0.30 s).
	m.mem.AdviseHugePages()
	ram, err := m.mem.Slice(RAMBase, cfg.MemSize)
	if err != nil {
		return nil, err
	}
	m.tmem = env.NewMemory(m.mmio)
	if err := m.tmem.AddRAM(RAMBase, ram); err != nil {
		return nil, err
	}
	// What devices write into guest RAM may be code the harts translated.
	m.mem.SetWriteHook(func(gpa mem.GPA, n uint64) { m.tmem.DeviceWrote(uint64(gpa), n) })
	if err := m.load(); err != nil {
		return nil, err
	}
	if err := m.createHarts(); err != nil {
		return nil, err
	}
	if err := m.addDevices(); err != nil {
		return nil, err
	}
	m.acpus = make([]accel.VCPU, len(m.harts))
	for i, h := range m.harts {
		m.acpus[i] = h
	}
	m.st = accel.NewStopper(m.acpus)
	m.stats = make([]accel.Stats, len(m.harts))
	return m, nil
}

func (m *Machine) createHarts() error {
	for i := 0; i < m.cfg.CPUs; i++ {
		h := &hart{m: m, id: i, kick: make(chan struct{}, 1), startc: make(chan struct{}, 1)}
		h.stimer = NewComparator(m.clock, func(level bool) { h.cpu.SetIRQ(rv.MipSTIP, level) })
		cpu, err := tcg.New(tcg.Config{
			Memory:  m.tmem,
			HartID:  i,
			Backend: m.cfg.Backend,
			System: &rv.SystemConfig{
				MachineMode: m.cfg.BIOS != "",
				Time:        m.clock.Now,
				SetTimer:    h.stimer.Set,
			},
		})
		if err != nil {
			h.stimer.Stop()
			return fmt.Errorf("hart %d: %w", i, err)
		}
		h.cpu = cpu
		m.harts = append(m.harts, h)
		hr := cpu.Hart
		switch {
		case m.cfg.BIOS != "":
			// Every hart enters the firmware in M mode, which picks a
			// boot hart and parks the others itself.
			hr.PC = RAMBase
			hr.SetX(10, uint64(i))
			hr.SetX(11, m.FDT)
			h.state = hsmStarted
		case i == 0:
			// The RISC-V boot protocol: a0 = hart ID, a1 = the device
			// tree, satp = 0, in S mode.
			hr.PC = m.Entry
			hr.SetX(10, 0)
			hr.SetX(11, m.FDT)
			h.state = hsmStarted
		default:
			h.state = hsmStopped // until an SBI HSM hart_start
		}
	}
	return nil
}

func (m *Machine) addDevices() error {
	m.plic = NewPLIC(len(m.harts), func(ctx int, level bool) {
		line := uint64(rv.MipMEIP)
		if ctx%2 == 1 {
			line = rv.MipSEIP
		}
		m.harts[ctx/2].cpu.SetIRQ(line, level)
	})
	m.clint = NewCLINT(m.clock, len(m.harts),
		func(h int, level bool) { m.harts[h].cpu.SetIRQ(rv.MipMSIP, level) },
		func(h int, level bool) { m.harts[h].cpu.SetIRQ(rv.MipMTIP, level) })
	regs := []struct {
		base, size uint64
		name       string
		dev        bus.Device
	}{
		{TestBase, TestSize, "test", &testDevice{m: m}},
		{CLINTBase, CLINTSize, "clint", m.clint},
		{PLICBase, PLICSize(len(m.harts)), "plic", m.plic},
	}
	for _, r := range regs {
		if err := m.mmio.Register(r.base, r.size, r.name, r.dev); err != nil {
			return err
		}
	}
	if m.cfg.Serial != nil {
		m.out = &lockedWriter{w: m.cfg.Serial}
		u, err := legacy.NewUART(legacy.UARTConfig{Out: m.out, IRQ: m.plic.Line(UARTIRQ)})
		if err != nil {
			return err
		}
		m.uart = u
		if err := m.mmio.Register(UARTBase, 0x100, "uart", u); err != nil {
			return err
		}
	}
	for i, d := range m.cfg.Virtio {
		base := uint64(VirtioBase + i*mmio.Size)
		dev, err := mmio.New(mmio.Config{Device: d, Mem: m.mem, IRQ: m.plic.Line(VirtioIRQ + i), Base: base, Log: m.logf})
		if err != nil {
			return err
		}
		m.virtio = append(m.virtio, dev)
		if err := m.mmio.Register(base, mmio.Size, fmt.Sprintf("virtio-mmio@%#x", base), dev); err != nil {
			return err
		}
	}
	return nil
}

// Memory is the guest's RAM.
func (m *Machine) Memory() *mem.Memory { return m.mem }

// SerialInput is where host console input for the UART goes (nil without
// a UART).
func (m *Machine) SerialInput() io.Writer {
	if m.uart == nil {
		return nil
	}
	return m.uart.Input()
}

// VirtioStatus returns the device status register of virtio slot i.
func (m *Machine) VirtioStatus(i int) uint8 { return m.virtio[i].Status() }

// Stop asks the machine to stop with reason (from any goroutine).
func (m *Machine) Stop(reason accel.Reason) {
	m.st.Stop(accel.Stop{Reason: reason, VCPU: -1})
}

// Run runs every hart until the guest powers off or resets, an engine
// error, or ctx is canceled, and returns why it stopped.
func (m *Machine) Run(ctx context.Context) accel.Stop {
	defer tcg.ReserveProcs(len(m.harts))()
	st := accel.Run(ctx, m.st, m.acpus, accel.Buses{MMIO: m.mmio}, m.stats, nil)
	if m.uart != nil {
		m.uart.Flush()
	}
	return st
}

// Stats returns hart i's translator counters (after Run).
func (m *Machine) Stats(i int) tcg.Stats { return m.harts[i].cpu.Stats }

// Instret is the instructions the harts retired.
func (m *Machine) Instret() (n uint64) {
	for _, h := range m.harts {
		n += h.cpu.Hart.Instret
	}
	return n
}

// Close releases everything the machine holds. It is safe on a partly
// built machine and after Run.
func (m *Machine) Close() error {
	var errs []error
	for _, d := range m.virtio {
		errs = append(errs, d.Close())
	}
	if m.uart != nil {
		errs = append(errs, m.uart.Close())
	}
	if m.clint != nil {
		m.clint.Close()
	}
	for _, h := range m.harts {
		h.stimer.Stop()
		h.cpu.Close()
	}
	if m.mem != nil {
		errs = append(errs, m.mem.Close())
	}
	return errors.Join(errs...)
}

func (m *Machine) logf(format string, args ...any) {
	if m.cfg.Log != nil {
		m.cfg.Log(format, args...)
	}
}

// Describe says what was built, for -v.
func (m *Machine) Describe() string {
	sbi := "SBI in govmm"
	if m.cfg.BIOS != "" {
		sbi = "firmware " + m.cfg.BIOS
	}
	return fmt.Sprintf("machine virt (riscv64) on the translator (%s backend), %d hart(s), %s; kernel at %#x, entry %#x, device tree at %#x",
		m.harts[0].cpu.BackendName(), len(m.harts), sbi, m.KernelAddr, m.Entry, m.FDT)
}

// lockedWriter serialises the UART's and the SBI console's output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// The test device (QEMU's sifive,test0): a 32-bit write of testPass
// powers off, testReset reboots, testFail|code<<16 powers off with exit
// code. govmm adds a boot-marker register at offset 4.
const (
	testFail  = 0x3333
	testPass  = 0x5555
	testReset = 0x7777
	// BootMarkerOffset is the test device's boot-marker register: a
	// write of BootMarkerValue reports "boot-complete" (as Firecracker's
	// boot timer does on x86).
	BootMarkerOffset = 4
	BootMarkerValue  = 123
)

type testDevice struct{ m *Machine }

func (*testDevice) Read(off uint64, data []byte) { clear(data) }

func (t *testDevice) Write(off uint64, data []byte) {
	var v uint32
	for i := len(data) - 1; i >= 0; i-- {
		v = v<<8 | uint32(data[i])
	}
	st := t.m.st
	switch {
	case off == BootMarkerOffset:
		if v == BootMarkerValue && t.m.cfg.OnBootMarker != nil {
			t.m.cfg.OnBootMarker("boot-complete", time.Since(t.m.cfg.Start))
		}
	case off != 0 || len(data) < 2:
	case v&0xffff == testPass:
		st.Stop(accel.Stop{Reason: accel.ReasonPoweroff, VCPU: -1})
	case v&0xffff == testReset:
		st.Stop(accel.Stop{Reason: accel.ReasonReset, VCPU: -1})
	case v&0xffff == testFail:
		st.Stop(accel.Stop{Reason: accel.ReasonPoweroff, VCPU: -1, Code: int(v >> 16), Detail: fmt.Sprintf("test device: fail code %d", v>>16)})
	}
}

// bootArgs reports whether the kernel image starts like a riscv64 Image.
func isImage(hdr []byte) bool {
	return len(hdr) >= 64 && bytes.Equal(hdr[56:60], []byte("RSC\x05"))
}
