// Package riscv is the translator's riscv64 frontend: it decodes RV64GC
// (I, M, A, F, D, C, Zicsr, Zifencei) into the IR of tcg/ir, block by block,
// and provides the guest-specific helpers translated code calls: IEEE
// floating point with rounding modes and flags, CSR access, atomics with a
// reservation for LR/SC.
//
// A Hart embeds the env.State that generated code runs against; guest
// register x<i> lives in slot i of env.State.R and f<i> in slot 32+i.
package riscv

import (
	"fmt"
	"strings"

	"github.com/govmm/govmm/tcg/env"
)

// Register slots in env.State.R.
const (
	XBase = 0
	FBase = 32
)

// Privilege levels.
const (
	PrivU = 0
	PrivS = 1
	PrivM = 3
)

// Exception causes (mcause values).
const (
	CauseInsnMisaligned  = 0
	CauseInsnAccess      = 1
	CauseIllegal         = 2
	CauseBreakpoint      = 3
	CauseLoadMisaligned  = 4
	CauseLoadAccess      = 5
	CauseStoreMisaligned = 6
	CauseStoreAccess     = 7
	CauseEcallU          = 8
	CauseEcallS          = 9
	CauseEcallM          = 11
	CauseInsnPage        = 12
	CauseLoadPage        = 13
	CauseStorePage       = 15
)

// CSR numbers the frontend itself implements.
const (
	CSRFflags  = 0x001
	CSRFrm     = 0x002
	CSRFcsr    = 0x003
	CSRCycle   = 0xc00
	CSRTime    = 0xc01
	CSRInstret = 0xc02
)

// Hart is one riscv64 hardware thread.
type Hart struct {
	env.State

	// Priv is the current privilege level (PrivU in user mode).
	Priv uint8
	// The accrued FP exception flags and the dynamic rounding mode are
	// env.State's FFlags and FRM (backends read them).

	// Sys is the privileged architecture (nil: a user-mode hart, where
	// ECALL is a system call for the embedder).
	Sys *System
	// Time returns the value of the time CSR (nil: Instret).
	Time func() uint64

	// The LR/SC reservation: valid, address, width, and the value LR
	// loaded (SC succeeds with a compare-and-swap against it).
	resValid bool
	resAddr  uint64
	resSize  int
	resVal   uint64
}

// NewHart returns a hart on mem with hart ID id, registered with mem.
func NewHart(mem *env.Memory, id int) *Hart {
	h := &Hart{}
	h.State.Init(mem, id)
	h.MMU = BareMMU
	mem.AddCPU(&h.State)
	return h
}

// X returns integer register i.
func (h *Hart) X(i int) uint64 { return h.R[XBase+i] }

// SetX sets integer register i (writes to x0 are dropped).
func (h *Hart) SetX(i int, v uint64) {
	if i != 0 {
		h.R[XBase+i] = v
	}
}

// F returns the raw 64 bits of FP register i.
func (h *Hart) F(i int) uint64 { return h.R[FBase+i] }

// SetF sets FP register i.
func (h *Hart) SetF(i int, v uint64) { h.R[FBase+i] = v }

// MMUIdx is the TLB table of data accesses in the current translation
// regime.
func (h *Hart) MMUIdx() int {
	if h.Sys != nil {
		return h.dataIdx()
	}
	return int(h.Priv) & (env.NumMMUIdx - 1)
}

// TBFlags is the part of the hart state that changes how code is
// translated; it is part of the translation-block key: the privilege, the
// data accesses' TLB table, and whether FP instructions are disabled.
func (h *Hart) TBFlags() uint32 {
	f := uint32(h.Priv) | uint32(h.MMUIdx())<<2
	if h.fsOff() {
		f |= 1 << 5
	}
	return f
}

// ClearReservation drops an LR reservation (on traps and context switches).
func (h *Hart) ClearReservation() { h.resValid = false }

// fcsr returns the composed fcsr.
func (h *Hart) fcsr() uint64 { return uint64(h.FRM)<<5 | uint64(h.FFlags) }

var abiNames = [32]string{"zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
	"a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6"}

// Dump describes the register state.
func (h *Hart) Dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pc  %016x priv %d instret %d fcsr %#x\n", h.PC, h.Priv, h.Instret, h.fcsr())
	if s := h.Sys; s != nil {
		fmt.Fprintf(&b, "mstatus %016x satp %016x mip %03x mie %03x\n", s.readMstatus(), s.satp, s.mip(), s.mie)
		fmt.Fprintf(&b, "sepc %016x scause %016x stval %016x stvec %016x\n", s.sepc, s.scause, s.stval, s.stvec)
		fmt.Fprintf(&b, "mepc %016x mcause %016x mtval %016x mtvec %016x\n", s.mepc, s.mcause, s.mtval, s.mtvec)
	}
	for i := 0; i < 32; i++ {
		fmt.Fprintf(&b, "%-4s %016x", abiNames[i], h.R[i])
		if i%4 == 3 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// MMU for user mode and for a hart with translation off: physical equals
// virtual, every permission, riscv's access-fault causes.
type bareMMU struct{}

// BareMMU is identity translation with riscv fault causes.
var BareMMU env.MMU = bareMMU{}

func (bareMMU) Translate(s *env.State, va uint64, acc env.Access, idx int) (uint64, env.Perm, bool) {
	return va, env.PermRWX, true
}

func (bareMMU) AccessFault(s *env.State, va uint64, acc env.Access) {
	s.Raise(AccessFaultCause(acc), va)
}

// AccessFaultCause is the cause of an access fault of kind acc.
func AccessFaultCause(acc env.Access) uint64 {
	switch acc {
	case env.Read:
		return CauseLoadAccess
	case env.Write:
		return CauseStoreAccess
	}
	return CauseInsnAccess
}
