package riscv

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Loading follows Linux's RISC-V boot protocol (Documentation/riscv/
// boot.rst and the Image header in Documentation/riscv/boot-image-header
// .rst): the Image at a 2 MiB-aligned address, its text offset from the
// header; the device tree and the initrd in RAM, described in /chosen.

// imageHeader is the 64-byte header of a riscv64 Image.
type imageHeader struct {
	Code0, Code1 uint32
	TextOffset   uint64
	ImageSize    uint64
	Flags        uint64
	Version      uint32
	Res1         uint32
	Res2         uint64
	Magic        uint64 // "RISCV\0\0\0", deprecated
	Magic2       uint32 // "RSC\x05"
	Res3         uint32
}

// ISA is the riscv,isa string of every hart: what the translator
// implements.
const ISA = "rv64imafdc_zicsr_zifencei_sstc"

func (m *Machine) load() error {
	c := &m.cfg
	ramEnd := RAMBase + c.MemSize
	kernel, err := os.ReadFile(c.Kernel)
	if err != nil {
		return fmt.Errorf("-kernel %s: %w", c.Kernel, err)
	}
	if !isImage(kernel) {
		return fmt.Errorf("-kernel %s: %w (no \"RSC\\x05\" magic at offset 56)", c.Kernel, ErrBadKernel)
	}
	var hdr imageHeader
	binary.Read(bytes.NewReader(kernel), binary.LittleEndian, &hdr)
	off := hdr.TextOffset
	if off == 0 || c.BIOS != "" {
		off = KernelOffset
	}
	if off%(2<<20) != 0 {
		return fmt.Errorf("-kernel %s: text offset %#x is not 2 MiB aligned: %w", c.Kernel, off, ErrBadKernel)
	}
	size := max(hdr.ImageSize, uint64(len(kernel)))
	m.KernelAddr = RAMBase + off
	kernelEnd := m.KernelAddr + size
	if kernelEnd > ramEnd-fdtSpace || size > c.MemSize {
		return fmt.Errorf("-kernel %s: %d MiB image at %#x: %w (-m %dM)", c.Kernel, size>>20, m.KernelAddr, ErrNoFit, c.MemSize>>20)
	}
	if _, err := m.mem.WriteAt(kernel, int64(m.KernelAddr)); err != nil {
		return fmt.Errorf("-kernel %s: %w", c.Kernel, err)
	}
	m.Entry = m.KernelAddr

	// The device tree at the top of RAM, the initrd below it.
	m.FDT = ramEnd - fdtSpace
	var initrdStart, initrdEnd uint64
	if c.Initrd != "" {
		initrd, err := os.ReadFile(c.Initrd)
		if err != nil {
			return fmt.Errorf("-initrd %s: %w", c.Initrd, err)
		}
		n := uint64(len(initrd))
		initrdEnd = m.FDT &^ 0xfff
		if n > initrdEnd-kernelEnd || initrdEnd-n < kernelEnd {
			return fmt.Errorf("-initrd %s: %d MiB after the kernel: %w (-m %dM)", c.Initrd, n>>20, ErrNoFit, c.MemSize>>20)
		}
		initrdStart = (initrdEnd - n) &^ 0xfff
		initrdEnd = initrdStart + n
		if _, err := m.mem.WriteAt(initrd, int64(initrdStart)); err != nil {
			return fmt.Errorf("-initrd %s: %w", c.Initrd, err)
		}
		m.InitrdAddr = initrdStart
	}
	if c.BIOS != "" {
		if err := m.loadFirmware(); err != nil {
			return err
		}
	}
	var slots []MMIOSlot
	for i := range c.Virtio {
		slots = append(slots, MMIOSlot{Base: uint64(VirtioBase + i*0x1000), Size: 0x1000, IRQ: uint32(VirtioIRQ + i)})
	}
	fc := FDTConfig{
		Harts:       c.CPUs,
		ISA:         ISA,
		MMU:         "riscv,sv48",
		MemBase:     RAMBase,
		MemSize:     c.MemSize,
		Bootargs:    c.Cmdline,
		InitrdStart: initrdStart,
		InitrdEnd:   initrdEnd,
		CLINTBase:   CLINTBase,
		PLICBase:    PLICBase,
		TestBase:    TestBase,
		VirtioMMIO:  slots,
	}
	if c.Serial != nil {
		fc.UARTBase, fc.UARTIRQ, fc.UARTClock = UARTBase, UARTIRQ, uartClock
	}
	fdt, err := BuildFDT(fc)
	if err != nil {
		return err
	}
	if len(fdt) > fdtSpace {
		return fmt.Errorf("device tree of %d bytes: more than the %d reserved for it", len(fdt), fdtSpace)
	}
	_, err = m.mem.WriteAt(fdt, int64(m.FDT))
	return err
}

// loadFirmware places M-mode firmware at RAMBase: an ELF's loadable
// segments at their physical addresses, or a raw binary.
func (m *Machine) loadFirmware() error {
	path := m.cfg.BIOS
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("-bios %s: %w", path, err)
	}
	limit := m.KernelAddr // firmware must end below the kernel
	if !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		if RAMBase+uint64(len(data)) > limit {
			return fmt.Errorf("-bios %s: %d bytes overlap the kernel at %#x", path, len(data), limit)
		}
		_, err := m.mem.WriteAt(data, RAMBase)
		return err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("-bios %s: %w", path, err)
	}
	if f.Machine != elf.EM_RISCV || f.Class != elf.ELFCLASS64 {
		return fmt.Errorf("-bios %s: not a riscv64 ELF", path)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		if p.Paddr < RAMBase || p.Paddr+p.Memsz > limit || p.Filesz > p.Memsz {
			return fmt.Errorf("-bios %s: segment %#x+%#x is outside %#x-%#x", path, p.Paddr, p.Memsz, RAMBase, limit)
		}
		seg := make([]byte, p.Memsz)
		if _, err := io.ReadFull(p.Open(), seg[:p.Filesz]); err != nil {
			return fmt.Errorf("-bios %s: %w", path, err)
		}
		if _, err := m.mem.WriteAt(seg, int64(p.Paddr)); err != nil {
			return err
		}
	}
	if f.Entry != RAMBase {
		return fmt.Errorf("-bios %s: entry %#x, want %#x", path, f.Entry, uint64(RAMBase))
	}
	return nil
}
