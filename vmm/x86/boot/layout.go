// Package boot loads an x86-64 Linux kernel into guest memory and builds
// what it reads at entry: boot_params or the PVH start_info, the e820 map,
// the command line, the initrd, the MP table and ACPI tables, and the page
// tables and GDT of a 64-bit direct entry. It writes only through
// mem.Memory and knows nothing of KVM, so it is tested on any host.
package boot

import "github.com/govmm/govmm/vmm/mem"

// Guest-physical layout of the boot structures. Everything below 1 MiB
// that is not listed here is free RAM the kernel may reuse.
const (
	GDTAddr         mem.GPA = 0x500
	PVHStartInfo    mem.GPA = 0x6000 // hvm_start_info, modlist, memmap
	ZeroPageAddr    mem.GPA = 0x7000 // struct boot_params
	PML4Addr        mem.GPA = 0x9000
	PDPTAddr        mem.GPA = 0xa000
	PDAddr          mem.GPA = 0xb000 // four pages: the first 4 GiB in 2 MiB pages
	BootStackTop    mem.GPA = 0x8ff0
	CmdlineAddr     mem.GPA = 0x20000
	CmdlineMax              = 0x10000
	EBDAStart       mem.GPA = 0x9fc00 // MP table lives in the EBDA, where Linux scans
	EBDAEnd         mem.GPA = 0xa0000
	BIOSROMStart    mem.GPA = 0xe0000 // ACPI tables; reserved in e820
	BIOSROMEnd      mem.GPA = 0x100000
	HighMemStart    mem.GPA = 0x100000
	MMIOHoleStart   mem.GPA = 0xc0000000 // 3 GiB: RAM above this moves past 4 GiB
	MMIOHoleEnd     mem.GPA = 0x100000000
	IOAPICAddr      mem.GPA = 0xfec00000
	LAPICAddr       mem.GPA = 0xfee00000
	defaultKernelAt mem.GPA = 0x1000000 // 16 MiB: LOAD_PHYSICAL_ADDR of x86-64 kernels
)

// RAMLayout splits size bytes of guest RAM around the MMIO hole below
// 4 GiB: [0, min(size, 3 GiB)) and, if more, [4 GiB, ...).
func RAMLayout(size uint64) []mem.Spec {
	low := min(size, uint64(MMIOHoleStart))
	specs := []mem.Spec{{GPA: 0, Size: low}}
	if size > low {
		specs = append(specs, mem.Spec{GPA: MMIOHoleEnd, Size: size - low})
	}
	return specs
}

// E820 entry types.
const (
	E820RAM      = 1
	E820Reserved = 2
	E820ACPI     = 3
)

// E820Entry is one range of the BIOS memory map (struct boot_e820_entry).
type E820Entry struct {
	Addr, Size uint64
	Type       uint32
}

// E820 returns the memory map matching RAMLayout(size): conventional memory
// up to the EBDA, the EBDA and BIOS area reserved (MP and ACPI tables live
// there), RAM from 1 MiB to the hole, and RAM above 4 GiB.
func E820(size uint64) []E820Entry {
	specs := RAMLayout(size)
	e := []E820Entry{
		{0, uint64(EBDAStart), E820RAM},
		{uint64(EBDAStart), uint64(EBDAEnd - EBDAStart), E820Reserved},
		{uint64(BIOSROMStart), uint64(BIOSROMEnd - BIOSROMStart), E820Reserved},
	}
	if low := specs[0].Size; low > uint64(HighMemStart) {
		e = append(e, E820Entry{uint64(HighMemStart), low - uint64(HighMemStart), E820RAM})
	}
	if len(specs) > 1 {
		e = append(e, E820Entry{uint64(specs[1].GPA), specs[1].Size, E820RAM})
	}
	return e
}
