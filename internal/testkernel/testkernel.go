// Package testkernel is govmm's own x86-64 test kernel and the tooling
// around it: a few hundred bytes of assembly (src/) that report, over the
// debug console port 0xe9, what the loader handed them (CPU mode, boot
// protocol, command line, e820 map, initrd), so the loaders and the x86
// machine are tested without booting Linux.
//
// One kernel body is packaged four ways (see Kernels). Build assembles it
// at test time with binutils (as, ld, objcopy) and skips the test when they
// are missing. Where binutils cannot run (the nested test guest), set
// GOVMM_TESTKERNEL_DIR to a directory that WriteImages filled beforehand.
//
// The guest's console output is parsed with ParseReport and checked with
// Report.Check. After its last line (END) the kernel writes a status byte
// to ExitPort (0 ok, 1 if it printed an ERROR line), like QEMU's
// isa-debug-exit, and halts with interrupts off.
//
// Ring 0 runs in an instruction emulator on PVM hosts (about 1.6 MIPS), so
// the kernel keeps to plain instructions and tests use small initrds: its
// checksum costs about 4 instructions a byte.
package testkernel

import (
	"hash/fnv"
)

// Ports the kernel writes.
const (
	ConsolePort = 0xe9 // report text, one byte per OUT
	ExitPort    = 0xf4 // status byte after END: 0 ok, 1 error
)

// Where the image expects to run and what its setup header says.
const (
	// LinkAddr is where the ELF images are linked and the bzImage's
	// pref_address: 16 MiB, as for x86-64 Linux.
	LinkAddr = 0x1000000
	// CmdlineSize is the bzImage's cmdline_size: the longest command
	// line it accepts, without the NUL.
	CmdlineSize = 2047
	// InitrdAddrMax is the bzImage's initrd_addr_max.
	InitrdAddrMax = 0x7fffffff
	// KernelAlignment is the bzImage's kernel_alignment (it is
	// relocatable: the code finds its own load offset).
	KernelAlignment = 0x200000
)

// Expected MODE and PROTO values.
const (
	ModeLong64 = "long64" // CR0.PG and EFER.LMA set
	ModeProt32 = "prot32" // CR0.PE set, paging and long mode off
	// ProtoBootParams is the Linux boot protocol: the kernel got
	// boot_params (in %esi or %rsi), from a bzImage or an ELF's 64-bit
	// entry.
	ProtoBootParams = "bzimage"
	// ProtoPVH is the Xen PVH entry: hvm_start_info in %ebx.
	ProtoPVH = "pvh"
)

// Kernels are paths to the test kernel's images.
type Kernels struct {
	// BzImage is a bzImage (boot protocol 2.15, setup header made by bzImage in build.go)
	// with XLF_KERNEL_64: entered at load address + 0x200 in long mode.
	BzImage string
	// BzImage32 is the same with xloadflags 0: entered at code32_start
	// through the 32-bit boot protocol.
	BzImage32 string
	// PVH is an ELF64 vmlinux with a Xen PVH note: entered at the note's
	// address in 32-bit protected mode with %ebx = hvm_start_info.
	PVH string
	// ELF64 is the same ELF without notes: entered at e_entry (the
	// 64-bit entry) with %rsi = boot_params.
	ELF64 string
}

// Variant is one image with what its report must say.
type Variant struct {
	Name  string // "bzImage", "bzImage32", "pvh", "elf64"
	Path  string
	Mode  string // ModeLong64 or ModeProt32
	Proto string // ProtoBootParams or ProtoPVH
}

// Variants lists the images for table-driven tests.
func (k Kernels) Variants() []Variant {
	return []Variant{
		{Name: "bzImage", Path: k.BzImage, Mode: ModeLong64, Proto: ProtoBootParams},
		{Name: "bzImage32", Path: k.BzImage32, Mode: ModeProt32, Proto: ProtoBootParams},
		{Name: "pvh", Path: k.PVH, Mode: ModeProt32, Proto: ProtoPVH},
		{Name: "elf64", Path: k.ELF64, Mode: ModeLong64, Proto: ProtoBootParams},
	}
}

// Checksum is what the kernel reports as the initrd's sum: FNV-1a, 32 bits,
// over its bytes. Checksum(nil) is 0x811c9dc5.
func Checksum(b []byte) uint32 {
	h := fnv.New32a()
	h.Write(b)
	return h.Sum32()
}

// Flat64 wraps 64-bit machine code into a bzImage whose 64-bit entry
// (load address + 0x200) is the code's first byte. Machine tests use it for
// guests of a few instructions: a triple fault, a reset request, a write
// to a power register.
func Flat64(code []byte) []byte {
	pm := make([]byte, 0x200+len(code))
	copy(pm[0x200:], code)
	return bzImage(pm, uint32(len(pm)+0x1000)&^0xfff+0x1000, true)
}
