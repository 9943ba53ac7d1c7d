package riscv

import (
	"sync/atomic"

	"github.com/govmm/govmm/tcg/env"
)

// The privileged architecture (RISC-V privileged specification 20211203):
// M, S and U modes, the machine and supervisor CSRs, traps and their
// delegation, interrupts, MRET/SRET, WFI and SFENCE.VMA, Sv39/Sv48 (mmu.go)
// and the Sstc extension. A hart has it after EnableSystem; without it the
// hart is a user-mode hart (ECALL is a system call for the embedder).
//
// Who owns M mode is the machine's choice. With firmware (OpenSBI under
// -bios), M mode is the guest's and every trap follows the specification.
// Without it, the VMM implements SBI itself: the hart starts in S mode,
// everything that can be delegated to S is, and a trap that would still go
// to M (an ECALL from S: an SBI call) is reported to the embedder instead.

// Interrupt numbers (mip/mie bits, and mcause with the interrupt bit).
const (
	IntSSI = 1
	IntMSI = 3
	IntSTI = 5
	IntMTI = 7
	IntSEI = 9
	IntMEI = 11
)

// mip/mie bits.
const (
	MipSSIP = 1 << IntSSI
	MipMSIP = 1 << IntMSI
	MipSTIP = 1 << IntSTI
	MipMTIP = 1 << IntMTI
	MipSEIP = 1 << IntSEI
	MipMEIP = 1 << IntMEI

	mipAll = MipSSIP | MipMSIP | MipSTIP | MipMTIP | MipSEIP | MipMEIP
	mipS   = MipSSIP | MipSTIP | MipSEIP
)

// CauseInterrupt is mcause's interrupt bit.
const CauseInterrupt = 1 << 63

// mstatus fields.
const (
	mstatusSIE  = 1 << 1
	mstatusMIE  = 1 << 3
	mstatusSPIE = 1 << 5
	mstatusMPIE = 1 << 7
	mstatusSPP  = 1 << 8
	mstatusMPP  = 3 << 11
	mstatusFS   = 3 << 13
	mstatusMPRV = 1 << 17
	mstatusSUM  = 1 << 18
	mstatusMXR  = 1 << 19
	mstatusTVM  = 1 << 20
	mstatusTW   = 1 << 21
	mstatusTSR  = 1 << 22
	mstatusUXL  = 2 << 32 // XLEN 64, read-only
	mstatusSXL  = 2 << 34
	mstatusSD   = 1 << 63

	mstatusWritable = mstatusSIE | mstatusMIE | mstatusSPIE | mstatusMPIE | mstatusSPP | mstatusMPP |
		mstatusFS | mstatusMPRV | mstatusSUM | mstatusMXR | mstatusTVM | mstatusTW | mstatusTSR
	sstatusMask = mstatusSIE | mstatusSPIE | mstatusSPP | mstatusFS | mstatusSUM | mstatusMXR
)

// CSR numbers of the privileged architecture.
const (
	CSRSstatus    = 0x100
	CSRSie        = 0x104
	CSRStvec      = 0x105
	CSRScounteren = 0x106
	CSRSenvcfg    = 0x10a
	CSRSscratch   = 0x140
	CSRSepc       = 0x141
	CSRScause     = 0x142
	CSRStval      = 0x143
	CSRSip        = 0x144
	CSRStimecmp   = 0x14d
	CSRSatp       = 0x180

	CSRMvendorid     = 0xf11
	CSRMarchid       = 0xf12
	CSRMimpid        = 0xf13
	CSRMhartid       = 0xf14
	CSRMconfigptr    = 0xf15
	CSRMstatus       = 0x300
	CSRMisa          = 0x301
	CSRMedeleg       = 0x302
	CSRMideleg       = 0x303
	CSRMie           = 0x304
	CSRMtvec         = 0x305
	CSRMcounteren    = 0x306
	CSRMenvcfg       = 0x30a
	CSRMcountinhibit = 0x320
	CSRMscratch      = 0x340
	CSRMepc          = 0x341
	CSRMcause        = 0x342
	CSRMtval         = 0x343
	CSRMip           = 0x344
	CSRPmpcfg0       = 0x3a0
	CSRPmpaddr0      = 0x3b0
	CSRMcycle        = 0xb00
	CSRMinstret      = 0xb02
)

// misa: RV64 with I, M, A, F, D, C, S and U.
const misaValue = 2<<62 | 1<<0 | 1<<2 | 1<<3 | 1<<5 | 1<<8 | 1<<12 | 1<<18 | 1<<20

// Delegable exceptions: all standard ones but ECALL from M (bit 11) and the
// reserved 10 and 14.
const medelegWritable = 0xb3ff

// menvcfg.STCE enables Sstc (stimecmp).
const menvcfgSTCE = 1 << 63

// satp modes.
const (
	satpBare = 0
	satpSv39 = 8
	satpSv48 = 9
)

// MMU indexes (TLB tables) of a hart with the privileged architecture: one
// per effective privilege and the mstatus bits that change permissions, so
// a mode switch or a SUM toggle needs no TLB flush.
const (
	idxU      = 0
	idxS      = 1
	idxSSUM   = 2
	idxM      = 3 // no translation
	idxMXR    = 4 // added to idxU, idxS, idxSSUM
	numIdx    = 7
	idxNoPriv = -1
)

// SystemConfig is what a machine gives a hart with the privileged
// architecture.
type SystemConfig struct {
	// MachineMode: M mode runs guest firmware. Without it the embedder
	// implements SBI: the hart starts in S mode and traps that would go
	// to M are reported (TakeTrap returns false).
	MachineMode bool
	// Time returns the time CSR (mtime), in timebase ticks.
	Time func() uint64
	// SetTimer programs the supervisor timer (stimecmp under Sstc): the
	// machine raises MipSTIP on the hart's lines while time >= deadline.
	SetTimer func(deadline uint64)
}

// System is a hart's privileged state.
type System struct {
	cfg SystemConfig

	mstatus             uint64
	medeleg, mideleg    uint64
	mie                 uint64
	mtvec, mscratch     uint64
	mepc, mcause, mtval uint64
	mcounteren          uint64
	scounteren          uint64
	mcountinhibit       uint64
	menvcfg             uint64
	stvec, sscratch     uint64
	sepc, scause, stval uint64
	satp                uint64
	stimecmp            uint64
	pmpcfg              [8]uint64 // pmpcfg0, 2, ..., 14 (RV64)
	pmpaddr             [64]uint64

	// mip is lines | soft: lines are driven by devices (any goroutine),
	// soft holds the bits software writes (SSIP; STIP and SEIP from M)
	// and those an SBI call sets on another hart.
	lines atomic.Uint64
	soft  atomic.Uint64
}

// EnableSystem gives h the privileged architecture, in its reset state:
// M mode at PC 0 with firmware, else S mode with everything delegated.
// Precondition: h is not running.
func (h *Hart) EnableSystem(cfg SystemConfig) {
	s := &System{cfg: cfg}
	h.Sys = s
	h.MMU = svMMU{h}
	h.Time = cfg.Time
	h.Priv = PrivM
	if !cfg.MachineMode {
		// What OpenSBI leaves for the kernel, and more: the VMM has no
		// use for traps in M mode beyond SBI calls.
		s.medeleg = medelegWritable &^ (1 << CauseEcallS)
		s.mideleg = mipS
		s.menvcfg = menvcfgSTCE
		s.mcounteren = 7
		h.Priv = PrivS
	}
	s.stimecmp = ^uint64(0)
	h.FlushTLB()
}

// Lines returns the interrupt lines devices drive (mip bits).
func (s *System) Lines() *atomic.Uint64 { return &s.lines }

// SetSoft sets or clears software-pending bits (SSIP from an SBI IPI).
// Safe from any goroutine; the caller then asks the hart to look at its
// interrupts.
func (s *System) SetSoft(mask uint64, level bool) {
	if level {
		s.soft.Or(mask)
	} else {
		s.soft.And(^mask)
	}
}

// mip is the current interrupt-pending register.
func (s *System) mip() uint64 { return (s.lines.Load() | s.soft.Load()) & mipAll }

// MachineMode reports whether M mode runs guest firmware.
func (s *System) MachineMode() bool { return s.cfg.MachineMode }

// Satp returns satp (for tests and dumps).
func (s *System) Satp() uint64 { return s.satp }

// Mstatus returns mstatus as software reads it.
func (s *System) Mstatus() uint64 { return s.readMstatus() }

func (s *System) readMstatus() uint64 {
	v := s.mstatus | mstatusUXL | mstatusSXL
	if v&mstatusFS != 0 {
		// FS is reported dirty whenever it is not off: the hart does not
		// track FP writes, and dirty makes the kernel save FP state on
		// every switch, which is always correct.
		v |= mstatusFS | mstatusSD
	}
	return v
}

// fsOff reports whether FP instructions are disabled (mstatus.FS off).
func (h *Hart) fsOff() bool { return h.Sys != nil && h.Sys.mstatus&mstatusFS == 0 }

// idxFor is the TLB table of data accesses at privilege p under mstatus st.
func idxFor(p uint8, st uint64) int {
	var idx int
	switch p {
	case PrivM:
		return idxM
	case PrivS:
		idx = idxS
		if st&mstatusSUM != 0 {
			idx = idxSSUM
		}
	default:
		idx = idxU
	}
	if st&mstatusMXR != 0 {
		idx += idxMXR
	}
	return idx
}

// idxPriv decodes a TLB table index into privilege, SUM and MXR.
func idxPriv(idx int) (p uint8, sum, mxr bool) {
	if idx == idxM {
		return PrivM, false, false
	}
	if idx >= idxMXR {
		mxr = true
		idx -= idxMXR
	}
	switch idx {
	case idxU:
		return PrivU, false, mxr
	case idxS:
		return PrivS, false, mxr
	}
	return PrivS, true, mxr
}

// dataIdx is the table loads and stores use: MPRV makes M mode's data
// accesses use MPP's translation.
func (h *Hart) dataIdx() int {
	s := h.Sys
	p := h.Priv
	if p == PrivM && s.mstatus&mstatusMPRV != 0 {
		p = uint8(s.mstatus & mstatusMPP >> 11)
	}
	return idxFor(p, s.mstatus)
}

// FetchIdx is the TLB table instruction fetches use.
func (h *Hart) FetchIdx() int {
	if h.Sys == nil {
		return h.MMUIdx()
	}
	return idxFor(h.Priv, 0)
}

// setPriv changes the privilege level.
func (h *Hart) setPriv(p uint8) { h.Priv = p }

// --- traps ---

// TakeTrap enters the trap handler for cause (CauseInterrupt set for an
// interrupt) with the faulting or interrupted instruction at h.PC. It
// returns false, changing nothing, when the trap goes to M mode and M mode
// belongs to the VMM (SBI calls arrive this way).
func (h *Hart) TakeTrap(cause, tval uint64) bool {
	s := h.Sys
	intr := cause&CauseInterrupt != 0
	code := cause &^ CauseInterrupt
	deleg := s.medeleg
	if intr {
		deleg = s.mideleg
	}
	h.ClearReservation()
	if h.Priv <= PrivS && code < 64 && deleg>>code&1 != 0 {
		s.scause, s.sepc, s.stval = cause, h.PC, tval
		st := s.mstatus &^ (mstatusSPIE | mstatusSIE | mstatusSPP)
		if s.mstatus&mstatusSIE != 0 {
			st |= mstatusSPIE
		}
		if h.Priv == PrivS {
			st |= mstatusSPP
		}
		s.mstatus = st
		h.setPriv(PrivS)
		h.PC = trapVector(s.stvec, intr, code)
		return true
	}
	if !s.cfg.MachineMode {
		return false
	}
	s.mcause, s.mepc, s.mtval = cause, h.PC, tval
	st := s.mstatus &^ (mstatusMPIE | mstatusMIE | mstatusMPP)
	if s.mstatus&mstatusMIE != 0 {
		st |= mstatusMPIE
	}
	st |= uint64(h.Priv) << 11
	s.mstatus = st
	h.setPriv(PrivM)
	h.PC = trapVector(s.mtvec, intr, code)
	return true
}

func trapVector(tvec uint64, intr bool, code uint64) uint64 {
	base := tvec &^ 3
	if intr && tvec&3 == 1 {
		return base + 4*code
	}
	return base
}

// interruptOrder is the priority of simultaneous interrupts.
var interruptOrder = [...]uint64{IntMEI, IntMSI, IntMTI, IntSEI, IntSSI, IntSTI}

// PendingInterrupt returns the interrupt the hart takes now, if any.
func (h *Hart) PendingInterrupt() (uint64, bool) {
	s := h.Sys
	pend := s.mip() & s.mie
	if pend == 0 {
		return 0, false
	}
	var take uint64
	if m := pend &^ s.mideleg; m != 0 && (h.Priv < PrivM || s.mstatus&mstatusMIE != 0) {
		take = m
	} else if sp := pend & s.mideleg; sp != 0 && (h.Priv < PrivS || h.Priv == PrivS && s.mstatus&mstatusSIE != 0) {
		take = sp
	}
	for _, i := range interruptOrder {
		if take>>i&1 != 0 {
			return i, true
		}
	}
	return 0, false
}

// TakeInterrupt traps to the highest-priority enabled pending interrupt;
// it reports whether it did.
func (h *Hart) TakeInterrupt() bool {
	i, ok := h.PendingInterrupt()
	if !ok {
		return false
	}
	return h.TakeTrap(CauseInterrupt|i, 0)
}

// WakeUp reports whether WFI may complete: some interrupt is pending and
// enabled in mie, whatever the global enables (privileged spec 3.3.3).
func (h *Hart) WakeUp() bool { return h.Sys.mip()&h.Sys.mie != 0 }

// mret returns from an M-mode trap; it returns the new PC.
func (h *Hart) mret() uint64 {
	s := h.Sys
	pp := uint8(s.mstatus & mstatusMPP >> 11)
	st := s.mstatus &^ (mstatusMIE | mstatusMPP)
	if s.mstatus&mstatusMPIE != 0 {
		st |= mstatusMIE
	}
	st |= mstatusMPIE
	if pp != PrivM {
		st &^= mstatusMPRV
	}
	s.mstatus = st
	h.setPriv(pp)
	h.ClearReservation()
	return s.mepc
}

// sret returns from an S-mode trap; it returns the new PC.
func (h *Hart) sret() uint64 {
	s := h.Sys
	pp := uint8(PrivU)
	if s.mstatus&mstatusSPP != 0 {
		pp = PrivS
	}
	st := s.mstatus &^ (mstatusSIE | mstatusSPP | mstatusMPRV)
	if s.mstatus&mstatusSPIE != 0 {
		st |= mstatusSIE
	}
	st |= mstatusSPIE
	s.mstatus = st
	h.setPriv(pp)
	h.ClearReservation()
	return s.sepc
}

// --- CSRs ---

// sysCSRRead reads a privileged CSR for an instruction insn instructions
// into its block; ok false is an illegal instruction. The privilege level
// encoded in the CSR number was checked when the instruction was
// translated.
func (h *Hart) sysCSRRead(csr uint16, insn uint64) (uint64, bool) {
	s := h.Sys
	switch csr {
	case CSRSstatus:
		return s.readMstatus() & (sstatusMask | mstatusUXL | mstatusSD), true
	case CSRSie:
		return s.mie & s.mideleg, true
	case CSRStvec:
		return s.stvec, true
	case CSRScounteren:
		return s.scounteren, true
	case CSRSenvcfg:
		return 0, true
	case CSRSscratch:
		return s.sscratch, true
	case CSRSepc:
		return s.sepc, true
	case CSRScause:
		return s.scause, true
	case CSRStval:
		return s.stval, true
	case CSRSip:
		return s.mip() & s.mideleg, true
	case CSRStimecmp:
		if h.Priv < PrivM && s.menvcfg&menvcfgSTCE == 0 {
			return 0, false
		}
		return s.stimecmp, true
	case CSRSatp:
		if h.Priv == PrivS && s.mstatus&mstatusTVM != 0 {
			return 0, false
		}
		return s.satp, true
	case CSRMvendorid, CSRMarchid, CSRMimpid, CSRMconfigptr:
		return 0, true
	case CSRMhartid:
		return uint64(h.ID), true
	case CSRMstatus:
		return s.readMstatus(), true
	case CSRMisa:
		return misaValue, true
	case CSRMedeleg:
		return s.medeleg, true
	case CSRMideleg:
		return s.mideleg, true
	case CSRMie:
		return s.mie, true
	case CSRMtvec:
		return s.mtvec, true
	case CSRMcounteren:
		return s.mcounteren, true
	case CSRMenvcfg:
		return s.menvcfg, true
	case CSRMcountinhibit:
		return s.mcountinhibit, true
	case CSRMscratch:
		return s.mscratch, true
	case CSRMepc:
		return s.mepc, true
	case CSRMcause:
		return s.mcause, true
	case CSRMtval:
		return s.mtval, true
	case CSRMip:
		return s.mip(), true
	case CSRMcycle, CSRMinstret:
		// Instret counts up to the block's start (as for CSRInstret).
		return h.Instret + insn, true
	}
	switch {
	case csr >= CSRPmpcfg0 && csr < CSRPmpcfg0+16:
		if csr&1 != 0 {
			return 0, false // odd pmpcfg registers do not exist on RV64
		}
		return s.pmpcfg[(csr-CSRPmpcfg0)/2], true
	case csr >= CSRPmpaddr0 && csr < CSRPmpaddr0+64:
		return s.pmpaddr[csr-CSRPmpaddr0], true
	case csr >= 0xb03 && csr <= 0xb1f, csr >= 0x323 && csr <= 0x33f, csr >= 0xc03 && csr <= 0xc1f:
		// mhpmcounter3-31, mhpmevent3-31, hpmcounter3-31: no events.
		return 0, true
	}
	return 0, false
}

// sysCSRWrite writes a privileged CSR; ok false is an illegal instruction.
func (h *Hart) sysCSRWrite(csr uint16, v uint64) bool {
	s := h.Sys
	switch csr {
	case CSRSstatus:
		s.writeMstatus(s.mstatus&^sstatusMask | v&sstatusMask)
	case CSRSie:
		s.mie = s.mie&^s.mideleg | v&s.mideleg
	case CSRStvec:
		s.stvec = legalTvec(v)
	case CSRScounteren:
		s.scounteren = v & 0xffffffff
	case CSRSenvcfg:
	case CSRSscratch:
		s.sscratch = v
	case CSRSepc:
		s.sepc = v &^ 1
	case CSRScause:
		s.scause = v
	case CSRStval:
		s.stval = v
	case CSRSip:
		if s.mideleg&MipSSIP != 0 {
			s.SetSoft(MipSSIP, v&MipSSIP != 0)
		}
	case CSRStimecmp:
		if h.Priv < PrivM && s.menvcfg&menvcfgSTCE == 0 {
			return false
		}
		s.stimecmp = v
		if s.cfg.SetTimer != nil {
			s.cfg.SetTimer(v)
		}
	case CSRSatp:
		if h.Priv == PrivS && s.mstatus&mstatusTVM != 0 {
			return false
		}
		switch v >> 60 {
		case satpBare, satpSv39, satpSv48:
			// ASIDs are not implemented (the field reads as zero), so
			// the TLB, which has no ASID tags, is flushed on every
			// change of satp.
			s.satp = v & (0xf<<60 | 1<<44 - 1)
			h.Request(env.ReqTLB)
		default:
			// An unsupported mode leaves satp unchanged (Linux probes
			// Sv57 and Sv48 this way).
		}
	case CSRMvendorid, CSRMarchid, CSRMimpid, CSRMhartid, CSRMconfigptr:
		return false
	case CSRMstatus:
		s.writeMstatus(v)
	case CSRMisa:
		// Read-only in this implementation (WARL).
	case CSRMedeleg:
		s.medeleg = v & medelegWritable
	case CSRMideleg:
		s.mideleg = v & mipS
	case CSRMie:
		s.mie = v & mipAll
	case CSRMtvec:
		s.mtvec = legalTvec(v)
	case CSRMcounteren:
		s.mcounteren = v & 0xffffffff
	case CSRMenvcfg:
		s.menvcfg = v & menvcfgSTCE
	case CSRMcountinhibit:
		s.mcountinhibit = v & 0xfffffffd
	case CSRMscratch:
		s.mscratch = v
	case CSRMepc:
		s.mepc = v &^ 1
	case CSRMcause:
		s.mcause = v
	case CSRMtval:
		s.mtval = v
	case CSRMip:
		soft := uint64(MipSSIP | MipSEIP)
		if s.menvcfg&menvcfgSTCE == 0 {
			soft |= MipSTIP // with Sstc, STIP follows stimecmp
		}
		s.SetSoft(soft&v, true)
		s.SetSoft(soft&^v, false)
	case CSRMcycle, CSRMinstret:
		// The counters count retired instructions; writes are dropped.
	default:
		switch {
		case csr >= CSRPmpcfg0 && csr < CSRPmpcfg0+16:
			if csr&1 != 0 {
				return false
			}
			// Stored for firmware to read back; PMP checks are not
			// enforced (the VMM's memory map already bounds the guest).
			s.pmpcfg[(csr-CSRPmpcfg0)/2] = v
		case csr >= CSRPmpaddr0 && csr < CSRPmpaddr0+64:
			s.pmpaddr[csr-CSRPmpaddr0] = v & (1<<54 - 1)
		case csr >= 0xb03 && csr <= 0xb1f, csr >= 0x323 && csr <= 0x33f:
		default:
			return false
		}
	}
	switch csr {
	case CSRSstatus, CSRSie, CSRSip, CSRMstatus, CSRMie, CSRMip, CSRMideleg, CSRMenvcfg:
		// The write may enable a pending interrupt: look at the lines
		// at the block boundary that follows (csrEndsBlock).
		h.Request(env.ReqInterrupt)
	}
	return true
}

func (s *System) writeMstatus(v uint64) {
	nv := s.mstatus&^mstatusWritable | v&mstatusWritable
	if nv&mstatusMPP == 2<<11 {
		// MPP is WARL; 2 (hypervisor) is not a mode here.
		nv = nv&^mstatusMPP | s.mstatus&mstatusMPP
	}
	s.mstatus = nv
}

func legalTvec(v uint64) uint64 {
	if v&3 >= 2 {
		return v &^ 3 // reserved modes: direct
	}
	return v
}

// csrEndsBlock reports whether writing csr changes how the following code
// is translated or which TLB table it uses, or may enable an interrupt:
// pending interrupts must be looked at immediately after a write to a CSR
// they depend on (privileged spec 3.1.9), and the run loop does that at
// the block boundary that follows.
func csrEndsBlock(csr uint16) bool {
	switch csr {
	case CSRSstatus, CSRMstatus, CSRSatp,
		CSRSie, CSRSip, CSRMie, CSRMip, CSRMideleg, CSRStimecmp, CSRMenvcfg:
		return true
	}
	return false
}

// sfence flushes the hart's address translation (SFENCE.VMA): the TLB and
// the jump caches, whose entries are keyed by virtual address, at the next
// block boundary, which follows at once.
func (h *Hart) sfence() {
	h.Request(env.ReqTLB)
}

// ResetSupervisor prepares a hart for SBI's hart_start: S mode, no address
// translation, supervisor interrupts disabled. Precondition: the hart is
// not running.
func (h *Hart) ResetSupervisor() {
	s := h.Sys
	h.setPriv(PrivS)
	s.satp = 0
	s.mstatus &^= mstatusSIE
	h.ClearReservation()
	h.Request(env.ReqTLB) // flushed when the hart runs
}
