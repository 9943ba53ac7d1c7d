package boot

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/govmm/govmm/vmm/mem"
)

// xenElfnotePhys32Entry is the note that marks a PVH entry point
// (xen/include/public/elfnote.h, XEN_ELFNOTE_PHYS32_ENTRY).
const xenElfnotePhys32Entry = 18

// hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h), version 1.
const (
	pvhMagic         = 0x336ec578
	pvhStartInfoSize = 56
	pvhModlistOffset = 0x40 // hvm_modlist_entry, 32 bytes
	pvhMemmapOffset  = 0x80 // hvm_memmap_table_entry[], 24 bytes each
	pvhMemmapMax     = (0x1000 - pvhMemmapOffset) / 24
)

func loadELF(m *mem.Memory, c Config) (*Result, error) {
	f, err := elf.NewFile(io.NewSectionReader(c.Kernel.R, 0, c.Kernel.Size))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKernel, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%w: ELF %v %v, want ELFCLASS64 x86-64", ErrBadKernel, f.Class, f.Machine)
	}
	lowEnd := lowRAMEnd(c)
	var lo, hi uint64 = ^uint64(0), 0
	var pvhEntry uint64
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			if p.Memsz == 0 {
				continue
			}
			if p.Filesz > p.Memsz || p.Paddr+p.Memsz < p.Paddr || p.Off+p.Filesz < p.Off || int64(p.Off+p.Filesz) > c.Kernel.Size {
				return nil, fmt.Errorf("%w: malformed segment at %#x", ErrBadKernel, p.Paddr)
			}
			if p.Paddr+p.Memsz > lowEnd {
				return nil, fmt.Errorf("%w: segment %#x+%#x ends beyond low RAM (%#x)", ErrMemTooSmall, p.Paddr, p.Memsz, lowEnd)
			}
			if p.Paddr < uint64(HighMemStart) {
				return nil, fmt.Errorf("%w: segment at %#x is below 1 MiB, where boot structures live", ErrBadKernel, p.Paddr)
			}
			if err := loadInto(m, c.Kernel, int64(p.Off), p.Paddr, p.Filesz); err != nil {
				return nil, err
			}
			bss, err := m.Slice(mem.GPA(p.Paddr+p.Filesz), p.Memsz-p.Filesz)
			if err != nil {
				return nil, err
			}
			clear(bss)
			lo, hi = min(lo, p.Paddr), max(hi, p.Paddr+p.Memsz)
		case elf.PT_NOTE:
			if e, ok := pvhNote(p); ok {
				pvhEntry = e
			}
		}
	}
	if hi == 0 {
		return nil, fmt.Errorf("%w: ELF has no loadable segment", ErrBadKernel)
	}
	if err := writeCmdline(m, c.Cmdline, CmdlineMax-1); err != nil {
		return nil, err
	}
	initrdAddr, initrdSize, err := placeInitrd(m, c, hi, 0xffffffff)
	if err != nil {
		return nil, err
	}
	var rsdp uint64
	if c.ACPI {
		if rsdp, err = writeACPI(m, c.CPUs); err != nil {
			return nil, err
		}
	}
	res := &Result{KernelAddr: lo, KernelEnd: hi, InitrdAddr: initrdAddr, InitrdSize: initrdSize, RSDPAddr: rsdp}
	if pvhEntry != 0 {
		if err := writeStartInfo(m, c, initrdAddr, initrdSize, rsdp); err != nil {
			return nil, err
		}
		st, err := entryState(m, Protected32, pvhEntry)
		if err != nil {
			return nil, err
		}
		st.RBX = uint64(PVHStartInfo)
		res.CPU, res.Protocol = st, "ELF (PVH entry)"
		return res, nil
	}
	// No PVH note: enter a Linux vmlinux at e_entry through the 64-bit
	// boot protocol with a boot_params we make up.
	if err := writeSyntheticBootParams(m, c, initrdAddr, initrdSize, rsdp); err != nil {
		return nil, err
	}
	st, err := entryState(m, Long64, f.Entry)
	if err != nil {
		return nil, err
	}
	st.RSI = uint64(ZeroPageAddr)
	res.CPU, res.Protocol = st, "ELF (64-bit entry)"
	return res, nil
}

// pvhNote finds XEN_ELFNOTE_PHYS32_ENTRY in a PT_NOTE segment.
func pvhNote(p *elf.Prog) (uint64, bool) {
	if p.Filesz > 1<<20 {
		return 0, false
	}
	b := make([]byte, p.Filesz)
	if _, err := p.ReadAt(b, 0); err != nil {
		return 0, false
	}
	le := binary.LittleEndian
	align4 := func(n uint64) uint64 { return (n + 3) &^ 3 }
	for len(b) >= 12 {
		namesz, descsz, typ := uint64(le.Uint32(b)), uint64(le.Uint32(b[4:])), le.Uint32(b[8:])
		nameEnd := 12 + align4(namesz)
		if namesz > uint64(len(b)) || descsz > uint64(len(b)) || nameEnd+align4(descsz) > uint64(len(b)) {
			return 0, false
		}
		name := bytes.TrimRight(b[12:12+namesz], "\x00")
		desc := b[nameEnd : nameEnd+descsz]
		if string(name) == "Xen" && typ == xenElfnotePhys32Entry {
			switch len(desc) {
			case 4:
				return uint64(le.Uint32(desc)), true
			case 8:
				return le.Uint64(desc), true
			}
		}
		b = b[nameEnd+align4(descsz):]
	}
	return 0, false
}

// writeStartInfo writes hvm_start_info, its module list (the initrd) and
// memory map.
func writeStartInfo(m *mem.Memory, c Config, initrdAddr, initrdSize, rsdp uint64) error {
	e820 := E820(c.MemSize)
	if len(e820) > pvhMemmapMax {
		return fmt.Errorf("memory map has %d entries, start_info holds %d", len(e820), pvhMemmapMax)
	}
	b := make([]byte, 0x1000)
	le := binary.LittleEndian
	base := uint64(PVHStartInfo)
	le.PutUint32(b[0:], pvhMagic)
	le.PutUint32(b[4:], 1) // version
	if initrdSize > 0 {
		le.PutUint32(b[12:], 1) // nr_modules
		le.PutUint64(b[16:], base+pvhModlistOffset)
		le.PutUint64(b[pvhModlistOffset:], initrdAddr)
		le.PutUint64(b[pvhModlistOffset+8:], initrdSize)
	}
	le.PutUint64(b[24:], uint64(CmdlineAddr))
	le.PutUint64(b[32:], rsdp)
	le.PutUint64(b[40:], base+pvhMemmapOffset)
	le.PutUint32(b[48:], uint32(len(e820)))
	for i, e := range e820 {
		o := pvhMemmapOffset + 24*i
		le.PutUint64(b[o:], e.Addr)
		le.PutUint64(b[o+8:], e.Size)
		le.PutUint32(b[o+16:], e.Type)
	}
	_, err := m.WriteAt(b, int64(PVHStartInfo))
	return err
}

// writeSyntheticBootParams builds a boot_params for a kernel that came
// without a setup header.
func writeSyntheticBootParams(m *mem.Memory, c Config, initrdAddr, initrdSize, rsdp uint64) error {
	bp := make([]byte, bootParamsSize)
	le := binary.LittleEndian
	le.PutUint16(bp[bpBootFlag:], 0xaa55)
	le.PutUint32(bp[bpHeader:], hdrMagic)
	le.PutUint16(bp[bpVersion:], 0x20f)
	bp[bpTypeOfLoader] = loaderUndefined
	bp[bpLoadFlags] = loadedHigh
	le.PutUint32(bp[bpKernelAlignment:], 0x1000000)
	le.PutUint32(bp[bpCmdLinePtr:], uint32(CmdlineAddr))
	le.PutUint32(bp[bpCmdlineSize:], CmdlineMax-1)
	le.PutUint32(bp[bpRamdiskImage:], uint32(initrdAddr))
	le.PutUint32(bp[bpRamdiskSize:], uint32(initrdSize))
	le.PutUint64(bp[bpACPIRSDP:], rsdp)
	if err := putE820(bp, E820(c.MemSize)); err != nil {
		return err
	}
	_, err := m.WriteAt(bp, int64(ZeroPageAddr))
	return err
}
