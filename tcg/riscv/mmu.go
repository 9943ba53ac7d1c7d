package riscv

import "github.com/govmm/govmm/tcg/env"

// Sv39 and Sv48 address translation (privileged specification 4.3-4.4):
// the env.MMU of a hart with the privileged architecture. The softmmu TLB
// caches what a walk returns per 4 KiB page and per table (privilege, SUM,
// MXR), so a walk happens on a TLB miss only.

// PTE bits.
const (
	pteV = 1 << 0
	pteR = 1 << 1
	pteW = 1 << 2
	pteX = 1 << 3
	pteU = 1 << 4
	pteG = 1 << 5
	pteA = 1 << 6
	pteD = 1 << 7

	// Bits 54-63 (Svpbmt, Svnapot and reserved) must be zero: neither
	// extension is implemented.
	pteReserved = 0x3ff << 54
	ptePPNShift = 10
	ptePPNMask  = 1<<44 - 1
)

type svMMU struct{ h *Hart }

// PageFaultCause is the page-fault cause of an access of kind acc.
func PageFaultCause(acc env.Access) uint64 {
	switch acc {
	case env.Read:
		return CauseLoadPage
	case env.Write:
		return CauseStorePage
	}
	return CauseInsnPage
}

// Translate implements env.MMU.
func (m svMMU) Translate(s *env.State, va uint64, acc env.Access, idx int) (uint64, env.Perm, bool) {
	h := m.h
	mode := h.Sys.satp >> 60
	if idx == idxM || mode == satpBare {
		return va, env.PermRWX, true
	}
	priv, sum, mxr := idxPriv(idx)
	levels := 3
	if mode == satpSv48 {
		levels = 4
	}
	// The address must be sign-extended from its top translated bit.
	vaBits := uint(12 + 9*levels)
	if top := int64(va) >> (vaBits - 1); top != 0 && top != -1 {
		s.Raise(PageFaultCause(acc), va)
		return 0, 0, false
	}
	table := (h.Sys.satp & ptePPNMask) << env.PageBits
	for level := levels - 1; level >= 0; level-- {
		pteAddr := table + (va>>(12+9*uint(level))&0x1ff)*8
	reload:
		pte, ok := s.Mem.PhysLoad64(pteAddr)
		if !ok {
			s.Raise(AccessFaultCause(acc), va)
			return 0, 0, false
		}
		if pte&pteV == 0 || pte&(pteR|pteW) == pteW || pte&pteReserved != 0 {
			break
		}
		ppn := pte >> ptePPNShift & ptePPNMask
		if pte&(pteR|pteX) == 0 {
			// A pointer to the next level.
			if pte&(pteU|pteA|pteD) != 0 {
				break // reserved in non-leaf entries
			}
			table = ppn << env.PageBits
			continue
		}
		// A leaf.
		if ppn&(1<<(9*uint(level))-1) != 0 {
			break // a misaligned superpage
		}
		r := pte&pteR != 0 || mxr && pte&pteX != 0
		w := pte&pteW != 0
		x := pte&pteX != 0
		if pte&pteU != 0 {
			if priv == PrivS {
				// S mode may touch user pages only with SUM, and
				// never executes them.
				x = false
				if !sum {
					r, w = false, false
				}
			}
		} else if priv == PrivU {
			break
		}
		allowed := acc == env.Read && r || acc == env.Write && w || acc == env.Exec && x
		if !allowed {
			break
		}
		want := pte | pteA
		if acc == env.Write {
			want |= pteD
		}
		if want != pte {
			if !s.Mem.PhysCAS64(pteAddr, pte, want) {
				goto reload // another hart changed the entry
			}
			pte = want
		}
		var perm env.Perm
		if r {
			perm |= env.PermR
		}
		if w && pte&pteD != 0 {
			// A clean page grants no fast-path stores: the first one
			// comes back here to set D.
			perm |= env.PermW
		}
		if x {
			perm |= env.PermX
		}
		offMask := uint64(1)<<(12+9*uint(level)) - 1
		pa := ppn<<env.PageBits&^offMask | va&offMask
		return pa, perm, true
	}
	s.Raise(PageFaultCause(acc), va)
	return 0, 0, false
}

// AccessFault implements env.MMU.
func (m svMMU) AccessFault(s *env.State, va uint64, acc env.Access) {
	s.Raise(AccessFaultCause(acc), va)
}
