//go:build linux && amd64

package kvm

import (
	"encoding/binary"
	"testing"
)

// longMode builds identity-mapped page tables for the first 2 MiB and a
// GDT in guest memory, and puts the vCPU in 64-bit mode at entry. It is
// the minimum the kvm tests need; vmm/x86 has the machine's real setup.
func (v *testVM) longMode(t testing.TB, entry uint64) {
	t.Helper()
	const (
		gdt  = 0x500
		pml4 = 0x2000
		pdpt = 0x3000
		pd   = 0x4000
	)
	le := binary.LittleEndian
	le.PutUint64(v.mem[gdt+8:], 0x00af9b000000ffff)  // 64-bit code, DPL 0
	le.PutUint64(v.mem[gdt+16:], 0x00cf93000000ffff) // data, DPL 0
	le.PutUint64(v.mem[pml4:], pdpt|3)
	le.PutUint64(v.mem[pdpt:], pd|3)
	le.PutUint64(v.mem[pd:], 0|0x83) // 2 MiB page, present, writable

	s, err := v.cpu.GetSregs()
	if err != nil {
		t.Fatal(err)
	}
	code := Segment{Selector: 8, Limit: 0xffffffff, Type: 11, Present: 1, S: 1, L: 1, G: 1}
	data := Segment{Selector: 16, Limit: 0xffffffff, Type: 3, Present: 1, S: 1, DB: 1, G: 1}
	s.CS = code
	s.DS, s.ES, s.FS, s.GS, s.SS = data, data, data, data, data
	s.GDT = DTable{Base: gdt, Limit: 23}
	s.CR3 = pml4
	s.CR4 = 1 << 5                            // PAE
	s.CR0 = 1<<0 | 1<<1 | 1<<4 | 1<<5 | 1<<31 // PE MP ET NE PG
	s.EFER = 1<<8 | 1<<10                     // LME LMA
	if err := v.cpu.SetSregs(&s); err != nil {
		t.Fatal(err)
	}
	r := Regs{RIP: entry, RFLAGS: 2, RSP: 0x8000}
	if err := v.cpu.SetRegs(&r); err != nil {
		t.Fatal(err)
	}
}

// TestLongMode runs 64-bit code that adds registers, writes the sum to
// port 0xe9 with a 4-byte OUT, stores a 64-bit value above 4 GiB worth of
// address bits into MMIO, and halts.
func TestLongMode(t *testing.T) {
	sys := openOrSkip(t)
	v := newTestVM(t, sys, 2<<20)
	code := []byte{
		0x48, 0xb8, 0x44, 0x33, 0x22, 0x11, 0, 0, 0, 0, // mov rax, 0x11223344
		0x48, 0x01, 0xd8, // add rax, rbx
		0x66, 0xba, 0xe9, 0x00, // mov dx, 0xe9
		0xef,                                                       // out dx, eax
		0x48, 0xb9, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, // mov rcx, 0x300000 (no RAM there)
		0x48, 0x89, 0x01, // mov [rcx], rax
		0xf4, // hlt
	}
	copy(v.mem[0x10000:], code)
	v.longMode(t, 0x10000)
	regs, err := v.cpu.GetRegs()
	if err != nil {
		t.Fatal(err)
	}
	regs.RBX = 0x01010101
	if err := v.cpu.SetRegs(&regs); err != nil {
		t.Fatal(err)
	}

	if r := v.run(t); r != KVM_EXIT_IO {
		t.Fatalf("exit %d, want IO", r)
	}
	io, err := v.cpu.IO()
	if err != nil {
		t.Fatal(err)
	}
	if io.Port != 0xe9 || io.Size != 4 || binary.LittleEndian.Uint32(io.Data) != 0x12233445 {
		t.Fatalf("OUT exit = %+v", io)
	}
	// The 2 MiB identity map ends at 0x200000; 0x300000 is unmapped, so
	// extend the map first: one more 2 MiB page.
	binary.LittleEndian.PutUint64(v.mem[0x4000+8:], 0x200000|0x83)
	if r := v.run(t); r != KVM_EXIT_MMIO {
		t.Fatalf("exit %d, want MMIO", r)
	}
	m, err := v.cpu.MMIO()
	if err != nil {
		t.Fatal(err)
	}
	if !m.Write || m.Addr != 0x300000 || len(m.Data) != 8 || binary.LittleEndian.Uint64(m.Data) != 0x12233445 {
		t.Fatalf("MMIO exit = %+v", m)
	}
	if r := v.run(t); r != KVM_EXIT_HLT {
		t.Fatalf("exit %d, want HLT", r)
	}
	s, err := v.cpu.GetSregs()
	if err != nil {
		t.Fatal(err)
	}
	if s.EFER&(1<<10) == 0 || s.CS.L != 1 {
		t.Fatalf("not in long mode after run: EFER %#x CS.L %d", s.EFER, s.CS.L)
	}
}
