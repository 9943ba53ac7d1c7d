package env

// Atomic memory operations for helpers (riscv A extension). Guest memory
// may be shared by CPUs on several goroutines: RAM words are updated with
// host atomics (a compare-and-swap loop), so the guest's atomics are atomic
// with respect to each other and to plain stores of other CPUs. Accesses
// must be naturally aligned (the caller checks and raises the guest's
// misaligned fault); MMIO targets get a plain read-modify-write on the bus.

// AMOOp is a read-modify-write operation.
type AMOOp uint8

const (
	AMOSwap AMOOp = iota
	AMOAdd
	AMOXor
	AMOAnd
	AMOOr
	AMOMin // signed
	AMOMax
	AMOMinU
	AMOMaxU
)

// amoApply computes the new value of a size-byte word (zero-extended old
// and operand; 32-bit compares are on the low 32 bits).
func amoApply(op AMOOp, size int, old, v uint64) uint64 {
	if size == 4 {
		old, v = uint64(uint32(old)), uint64(uint32(v))
	}
	lt := int64(old) < int64(v)
	if size == 4 {
		lt = int32(old) < int32(v)
	}
	var r uint64
	switch op {
	case AMOSwap:
		r = v
	case AMOAdd:
		r = old + v
	case AMOXor:
		r = old ^ v
	case AMOAnd:
		r = old & v
	case AMOOr:
		r = old | v
	case AMOMin:
		r = v
		if lt {
			r = old
		}
	case AMOMax:
		r = old
		if lt {
			r = v
		}
	case AMOMinU:
		r = v
		if old < v {
			r = old
		}
	case AMOMaxU:
		r = old
		if old < v {
			r = v
		}
	}
	if size == 4 {
		r = uint64(uint32(r))
	}
	return r
}

// AtomicRMW applies op with operand v to the size-byte (4 or 8) word at
// va and returns the old value, zero-extended. The translation is for a
// write: a fault is the guest's store fault.
func (s *State) AtomicRMW(va uint64, size int, idx int, op AMOOp, v uint64) (uint64, bool) {
	a, info, mmio, ok := s.hostFor(va, Write, idx)
	if !ok {
		return 0, false
	}
	if mmio {
		old, ok := s.LoadSlow(va, size, idx)
		if !ok {
			return 0, false
		}
		return old, s.StoreSlow(va, amoApply(op, size, old, v), size, idx)
	}
	for {
		old := hostAtomicLoad(a, size)
		if hostCAS(a, size, old, amoApply(op, size, old, v)) {
			if info.Code != nil {
				s.checkCodeWrite(info, va, uint64(size))
			}
			return old, true
		}
	}
}

// AtomicLoad loads the aligned size-byte word at va with a host atomic
// load (LR). The translation is for a read.
func (s *State) AtomicLoad(va uint64, size int, idx int) (uint64, bool) {
	a, _, mmio, ok := s.hostFor(va, Read, idx)
	if !ok {
		return 0, false
	}
	if mmio {
		return s.LoadSlow(va, size, idx)
	}
	return hostAtomicLoad(a, size), true
}

// CompareAndSwap stores new at va if the word there still equals old (SC).
// ok false: a fault was raised (the translation is for a write, so an SC
// to a read-only page faults even when it would fail).
func (s *State) CompareAndSwap(va uint64, size int, idx int, old, new uint64) (swapped, ok bool) {
	a, info, mmio, ok := s.hostFor(va, Write, idx)
	if !ok {
		return false, false
	}
	if mmio {
		cur, ok := s.LoadSlow(va, size, idx)
		if !ok {
			return false, false
		}
		if cur != old {
			return false, true
		}
		return true, s.StoreSlow(va, new, size, idx)
	}
	if size == 4 {
		old &= 0xffffffff
		new &= 0xffffffff
	}
	if !hostCAS(a, size, old, new) {
		return false, true
	}
	if info.Code != nil {
		s.checkCodeWrite(info, va, uint64(size))
	}
	return true, true
}
