package riscv

import (
	"bytes"
	"fmt"

	"github.com/u-root/u-root/pkg/dt"
)

// FDTConfig is what the device tree describes: exactly the devices the
// machine has.
type FDTConfig struct {
	Harts       int
	ISA         string // riscv,isa: "rv64imafdc_zicsr_zifencei"
	MMU         string // mmu-type: "riscv,sv39" or "riscv,sv48"
	MemBase     uint64
	MemSize     uint64
	Bootargs    string
	InitrdStart uint64 // 0: none
	InitrdEnd   uint64
	UARTBase    uint64 // 0: no UART
	UARTIRQ     uint32
	UARTClock   uint32
	CLINTBase   uint64
	PLICBase    uint64
	TestBase    uint64 // 0: no poweroff/reboot device
	VirtioMMIO  []MMIOSlot
	StdoutPath  string // chosen/stdout-path; "" picks the UART
}

// MMIOSlot is one virtio-mmio device window and its PLIC source.
type MMIOSlot struct {
	Base, Size uint64
	IRQ        uint32
}

// Interrupt numbers of the hart-local interrupt controller (mip bits).
const (
	irqSSoft  = 1
	irqMSoft  = 3
	irqSTimer = 5
	irqMTimer = 7
	irqSExt   = 9
	irqMExt   = 11
)

// BuildFDT returns the flattened device tree blob.
func BuildFDT(c FDTConfig) ([]byte, error) {
	if c.Harts < 1 {
		return nil, fmt.Errorf("fdt: %d harts", c.Harts)
	}
	u32 := dt.PropertyU32
	str := dt.PropertyString
	// Each hart's interrupt controller gets phandle 1+h; the PLIC the
	// next one.
	intc := func(h int) uint32 { return uint32(1 + h) }
	plicPH := uint32(1 + c.Harts)
	reg := func(base, size uint64) dt.Property {
		return dt.PropertyU32Array("reg", []uint32{uint32(base >> 32), uint32(base), uint32(size >> 32), uint32(size)})
	}
	empty := func(name string) dt.Property { return dt.Property{Name: name, Value: []byte{}} }

	var cpus []*dt.Node
	var clintIRQs, plicIRQs []uint32
	for h := 0; h < c.Harts; h++ {
		cpus = append(cpus, dt.NewNode(fmt.Sprintf("cpu@%d", h),
			dt.WithProperty(
				str("device_type", "cpu"), u32("reg", uint32(h)), str("status", "okay"),
				str("compatible", "riscv"), str("riscv,isa", c.ISA), str("mmu-type", c.MMU),
			),
			dt.WithChildren(dt.NewNode("interrupt-controller", dt.WithProperty(
				u32("#interrupt-cells", 1), u32("#address-cells", 0), empty("interrupt-controller"),
				str("compatible", "riscv,cpu-intc"), u32("phandle", intc(h)),
			))),
		))
		clintIRQs = append(clintIRQs, intc(h), irqMSoft, intc(h), irqMTimer)
		plicIRQs = append(plicIRQs, intc(h), irqMExt, intc(h), irqSExt)
	}
	soc := []*dt.Node{
		dt.NewNode(fmt.Sprintf("clint@%x", c.CLINTBase), dt.WithProperty(
			stringList("compatible", "sifive,clint0", "riscv,clint0"),
			reg(c.CLINTBase, CLINTSize),
			dt.PropertyU32Array("interrupts-extended", clintIRQs),
		)),
		dt.NewNode(fmt.Sprintf("plic@%x", c.PLICBase), dt.WithProperty(
			stringList("compatible", "sifive,plic-1.0.0", "riscv,plic0"),
			reg(c.PLICBase, PLICSize(c.Harts)),
			u32("#interrupt-cells", 1), u32("#address-cells", 0), empty("interrupt-controller"),
			dt.PropertyU32Array("interrupts-extended", plicIRQs),
			u32("riscv,ndev", PLICSources-1), u32("phandle", plicPH),
		)),
	}
	if c.TestBase != 0 {
		// QEMU's test device: firmware (OpenSBI) resets through it. No
		// syscon-poweroff node points at it: with SBI's SRST Linux
		// powers off through SBI and a syscon driver would only fail
		// to claim pm_power_off.
		soc = append(soc, dt.NewNode(fmt.Sprintf("test@%x", c.TestBase), dt.WithProperty(
			stringList("compatible", "sifive,test1", "sifive,test0", "syscon"),
			reg(c.TestBase, 0x1000),
		)))
	}
	stdout := c.StdoutPath
	if c.UARTBase != 0 {
		name := fmt.Sprintf("serial@%x", c.UARTBase)
		soc = append(soc, dt.NewNode(name, dt.WithProperty(
			str("compatible", "ns16550a"), reg(c.UARTBase, 0x100),
			u32("clock-frequency", c.UARTClock), u32("interrupts", c.UARTIRQ), u32("interrupt-parent", plicPH),
		)))
		if stdout == "" {
			stdout = "/soc/" + name
		}
	}
	for _, s := range c.VirtioMMIO {
		soc = append(soc, dt.NewNode(fmt.Sprintf("virtio_mmio@%x", s.Base), dt.WithProperty(
			str("compatible", "virtio,mmio"), reg(s.Base, s.Size),
			u32("interrupts", s.IRQ), u32("interrupt-parent", plicPH),
		)))
	}
	chosen := []dt.Property{str("bootargs", c.Bootargs)}
	if stdout != "" {
		chosen = append(chosen, str("stdout-path", stdout))
	}
	if c.InitrdEnd > c.InitrdStart {
		chosen = append(chosen, dt.PropertyU64("linux,initrd-start", c.InitrdStart), dt.PropertyU64("linux,initrd-end", c.InitrdEnd))
	}
	root := dt.NewNode("", dt.WithProperty(
		u32("#address-cells", 2), u32("#size-cells", 2),
		str("compatible", "riscv-virtio"), str("model", "govmm,virt"),
	), dt.WithChildren(
		dt.NewNode("chosen", dt.WithProperty(chosen...)),
		dt.NewNode(fmt.Sprintf("memory@%x", c.MemBase), dt.WithProperty(str("device_type", "memory"), reg(c.MemBase, c.MemSize))),
		dt.NewNode("cpus", dt.WithProperty(u32("#address-cells", 1), u32("#size-cells", 0), u32("timebase-frequency", TimebaseHz)),
			dt.WithChildren(cpus...)),
		dt.NewNode("soc", dt.WithProperty(
			u32("#address-cells", 2), u32("#size-cells", 2), str("compatible", "simple-bus"), empty("ranges"),
		), dt.WithChildren(soc...)),
	))
	fdt := &dt.FDT{
		Header:   dt.Header{Magic: dt.Magic, Version: 17, LastCompVersion: 16},
		RootNode: root,
	}
	var b bytes.Buffer
	if _, err := fdt.Write(&b); err != nil {
		return nil, fmt.Errorf("fdt: %w", err)
	}
	return b.Bytes(), nil
}

// stringList is a property holding several NUL-terminated strings.
func stringList(name string, s ...string) dt.Property {
	var b []byte
	for _, x := range s {
		b = append(b, x...)
		b = append(b, 0)
	}
	return dt.Property{Name: name, Value: b}
}
