package boot

import (
	"encoding/binary"
	"fmt"

	"github.com/govmm/govmm/vmm/mem"
)

// Mode is the CPU mode a kernel is entered in.
type Mode int

const (
	// Long64 is the 64-bit boot protocol: paging on with an identity map,
	// RSI = boot_params.
	Long64 Mode = iota
	// Protected32 is flat 32-bit protected mode with paging off: the 32-bit
	// boot protocol (ESI = boot_params) or PVH (EBX = hvm_start_info).
	Protected32
)

func (m Mode) String() string {
	if m == Long64 {
		return "64-bit long mode"
	}
	return "32-bit protected mode"
}

// Segment is a loaded segment register, in the shape KVM and the
// translator both take.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  bool
	DPL      uint8
	DB       bool // default operand size 32
	S        bool // code/data (not system)
	L        bool // 64-bit code
	G        bool // 4 KiB granularity
}

// CPUState is the register state of the boot vCPU at kernel entry.
type CPUState struct {
	Mode          Mode
	RIP, RSP      uint64
	RSI, RBX      uint64
	RFLAGS        uint64
	CR0, CR3, CR4 uint64
	EFER          uint64
	CS, DS, TR    Segment // DS is also loaded into ES, FS, GS and SS
	GDTBase       uint64
	GDTLimit      uint16
}

// Selectors of the boot GDT: the boot protocol requires __BOOT_CS = 0x10
// and __BOOT_DS = 0x18.
const (
	selCode = 0x10
	selData = 0x18
	selTSS  = 0x20
)

// Control register and EFER bits.
const (
	cr0PE   = 1 << 0
	cr0MP   = 1 << 1
	cr0ET   = 1 << 4
	cr0NE   = 1 << 5
	cr0PG   = 1 << 31
	cr4PAE  = 1 << 5
	eferLME = 1 << 8
	eferLMA = 1 << 10
)

// gdtEntry packs a legacy segment descriptor.
func gdtEntry(flags uint16, base, limit uint32) uint64 {
	return uint64(base&0xff000000)<<32 | uint64(flags&0xf0ff)<<40 |
		uint64(limit&0xf0000)<<32 | uint64(base&0xffffff)<<16 | uint64(limit&0xffff)
}

// writeGDT writes null, null, code, data and a TSS descriptor at GDTAddr.
func writeGDT(m *mem.Memory, code64 bool) error {
	codeFlags := uint16(0xc09b) // G, D, present, DPL0, code exec/read accessed
	if code64 {
		codeFlags = 0xa09b // G, L
	}
	gdt := []uint64{
		0,
		0,
		gdtEntry(codeFlags, 0, 0xfffff),
		gdtEntry(0xc093, 0, 0xfffff), // data read/write accessed
		gdtEntry(0x008b, 0, 0x67),    // 32-bit busy TSS: VMX entry wants a usable TR
		0,                            // upper half of the TSS descriptor in long mode
	}
	b := make([]byte, 8*len(gdt))
	for i, e := range gdt {
		binary.LittleEndian.PutUint64(b[8*i:], e)
	}
	if _, err := m.WriteAt(b, int64(GDTAddr)); err != nil {
		return fmt.Errorf("write boot GDT: %w", err)
	}
	return nil
}

// writeIdentityMap maps the first 4 GiB 1:1 with 2 MiB pages: it covers
// the kernel, boot_params, the command line and an initrd below 4 GiB,
// which is all the 64-bit boot protocol asks for.
func writeIdentityMap(m *mem.Memory) error {
	le := binary.LittleEndian
	page := make([]byte, 4096)
	le.PutUint64(page, uint64(PDPTAddr)|3)
	if _, err := m.WriteAt(page, int64(PML4Addr)); err != nil {
		return fmt.Errorf("write PML4: %w", err)
	}
	clear(page)
	for i := uint64(0); i < 4; i++ {
		le.PutUint64(page[8*i:], uint64(PDAddr)+i*4096|3)
	}
	if _, err := m.WriteAt(page, int64(PDPTAddr)); err != nil {
		return fmt.Errorf("write PDPT: %w", err)
	}
	pds := make([]byte, 4*4096)
	for i := uint64(0); i < 4*512; i++ {
		le.PutUint64(pds[8*i:], i<<21|0x83) // present, writable, 2 MiB
	}
	if _, err := m.WriteAt(pds, int64(PDAddr)); err != nil {
		return fmt.Errorf("write page directories: %w", err)
	}
	return nil
}

// entryState builds the CPU state for mode and writes the GDT (and for
// Long64 the page tables) it refers to.
func entryState(m *mem.Memory, mode Mode, rip uint64) (CPUState, error) {
	code := Segment{Limit: 0xffffffff, Selector: selCode, Type: 11, Present: true, S: true, G: true}
	data := Segment{Limit: 0xffffffff, Selector: selData, Type: 3, Present: true, S: true, DB: true, G: true}
	tr := Segment{Limit: 0x67, Selector: selTSS, Type: 11, Present: true}
	st := CPUState{
		Mode: mode, RIP: rip, RSP: uint64(BootStackTop), RFLAGS: 2,
		CS: code, DS: data, TR: tr,
		GDTBase: uint64(GDTAddr), GDTLimit: 6*8 - 1,
	}
	switch mode {
	case Long64:
		st.CS.L = true
		st.CR0 = cr0PE | cr0MP | cr0ET | cr0NE | cr0PG
		st.CR4 = cr4PAE
		st.CR3 = uint64(PML4Addr)
		st.EFER = eferLME | eferLMA
		if err := writeIdentityMap(m); err != nil {
			return st, err
		}
	case Protected32:
		st.CS.DB = true
		st.CR0 = cr0PE | cr0ET
	}
	return st, writeGDT(m, mode == Long64)
}
