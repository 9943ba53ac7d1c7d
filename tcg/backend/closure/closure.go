// Package closure is the translator's portable backend: it compiles an IR
// block into a chain of Go closures, one per operation, each specialised
// for its operation and operand shape (register indices and constants are
// captured, so `addi a0, a0, 1` runs as `s.R[10] = s.R[10] + 1`). Each
// closure does its work and calls the next one ("threaded code"); the
// terminator stores the next guest PC, adds the block's instruction count
// to Instret and returns an env.Exit* code. Operations that fault return
// env.ExitException from where they are, with the faulting PC.
//
// The run loop in package tcg chains blocks by caching successor pointers;
// this package knows nothing about blocks other than the one it compiles.
package closure

//go:generate go run mkops.go

import (
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/ir"
)

type fn = func(s *env.State) uint32

var fenceWord atomic.Uint64

// Compile compiles b into a function that runs the block once and returns
// its exit code.
func Compile(b *ir.Block) (func(s *env.State) uint32, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	// Direct-exit slots: the side exits in order, then the terminator's.
	slot := uint32(b.DirectExits())
	term := b.Terminator()
	switch term.Op {
	case ir.Goto:
		slot--
	case ir.Branch:
		slot -= 2
	}
	termSlot := slot // the terminator's first (taken) slot
	next, err := terminator(term, slot)
	if err != nil {
		return nil, err
	}
	for i := len(b.Insts) - 2; i >= 0; i-- {
		in := &b.Insts[i]
		if in.Op == ir.ExitIf {
			slot--
			if in.A.IsConst() && in.B.IsConst() {
				if !in.Cond.Eval(uint64(in.A.Imm), uint64(in.B.Imm)) {
					continue // never taken
				}
				t, n, code := in.Target, uint64(in.Insn), env.ExitDirect+slot
				next = func(s *env.State) uint32 {
					s.PC = t
					s.Instret += n
					return code
				}
				continue
			}
			f := exitIf(in, slot, next)
			if f == nil {
				return nil, fmt.Errorf("block %#x: %v: cannot compile", b.PC, in)
			}
			next = f
			continue
		}
		f, err := op(in, b.MMUIdx, next)
		if err != nil {
			return nil, fmt.Errorf("block %#x: %v: %w", b.PC, in, err)
		}
		next = f
	}
	// A block whose terminator jumps back to its own start loops here,
	// without a trip through the run loop, until it leaves or an exit
	// request arrives.
	if (term.Op == ir.Branch || term.Op == ir.Goto) && term.Target == b.PC {
		body := next
		back := env.ExitDirect + termSlot
		return func(s *env.State) uint32 {
			for {
				code := body(s)
				if code != back || s.ExitReq.Load() != 0 {
					return code
				}
			}
		}, nil
	}
	return next, nil
}

func exc(s *env.State, pc uint64, insn uint16) uint32 {
	s.PC = pc
	s.Instret += uint64(insn)
	return env.ExitException
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func mulhu(x, y uint64) uint64 {
	hi, _ := bits.Mul64(x, y)
	return hi
}

func divu(x, y uint64) uint64 {
	if y == 0 {
		return ^uint64(0)
	}
	return x / y
}

func remu(x, y uint64) uint64 {
	if y == 0 {
		return x
	}
	return x % y
}

func divuw(x, y uint64) uint64 {
	if uint32(y) == 0 {
		return ^uint64(0)
	}
	return uint64(int64(int32(uint32(x) / uint32(y))))
}

func remuw(x, y uint64) uint64 {
	if uint32(y) == 0 {
		return uint64(int64(int32(x)))
	}
	return uint64(int64(int32(uint32(x) % uint32(y))))
}

func op(in *ir.Inst, idx int, next fn) (fn, error) {
	switch {
	case in.Op == ir.Nop:
		return next, nil
	case in.Op == ir.Mov:
		d := in.Dst.Slot
		if in.A.IsConst() {
			v := uint64(in.A.Imm)
			return func(s *env.State) uint32 { s.R[d] = v; return next(s) }, nil
		}
		a := in.A.Slot
		return func(s *env.State) uint32 { s.R[d] = s.R[a]; return next(s) }, nil
	case in.Op.IsBinary():
		d := in.Dst.Slot
		if in.A.IsConst() && in.B.IsConst() {
			v := ir.Eval(in.Op, uint64(in.A.Imm), uint64(in.B.Imm))
			return func(s *env.State) uint32 { s.R[d] = v; return next(s) }, nil
		}
		if f := binary(in.Op, d, in.A, in.B, next); f != nil {
			return f, nil
		}
	case in.Op == ir.Load:
		if f := load(in, idx, next); f != nil {
			return f, nil
		}
	case in.Op == ir.Store:
		if f := store(in, idx, next); f != nil {
			return f, nil
		}
	case in.Op == ir.Call:
		return call(in, next), nil
	case in.Op == ir.Fence:
		return func(s *env.State) uint32 {
			fenceWord.Add(1) // a locked instruction: a full barrier on x86-64
			return next(s)
		}, nil
	}
	return nil, fmt.Errorf("closure: cannot compile %v", in)
}

// call compiles a helper call. Arguments are read when the call runs.
func call(in *ir.Inst, next fn) fn {
	h := in.Helper.Fn
	trap := in.Helper.MayTrap
	pc, insn := in.PC, in.Insn
	hasDst := in.Dst.Kind == ir.Slot
	d := in.Dst.Slot
	a, b, c := in.A, in.B, in.C
	allSlots := (a.Kind != ir.Const) && (b.Kind != ir.Const) && (c.Kind != ir.Const)
	if allSlots && !trap && hasDst {
		// The common floating-point shape: slots in, slot out.
		ra, rb, rc := a.Slot, b.Slot, c.Slot
		return func(s *env.State) uint32 {
			s.R[d] = h(s.R[ra], s.R[rb], s.R[rc])
			return next(s)
		}
	}
	arg := func(s *env.State, x ir.Arg) uint64 {
		if x.Kind == ir.Const {
			return uint64(x.Imm)
		}
		return s.R[x.Slot]
	}
	return func(s *env.State) uint32 {
		v := h(arg(s, a), arg(s, b), arg(s, c))
		if trap && s.Exc.Pending {
			return exc(s, pc, insn)
		}
		if hasDst {
			s.R[d] = v
		}
		return next(s)
	}
}

func terminator(in *ir.Inst, slot uint32) (fn, error) {
	n := uint64(in.Insn)
	switch in.Op {
	case ir.Goto:
		t := in.Target
		code := env.ExitDirect + slot
		return func(s *env.State) uint32 {
			s.PC = t
			s.Instret += n
			return code
		}, nil
	case ir.Branch:
		if in.A.IsConst() && in.B.IsConst() {
			t := in.Next
			code := env.ExitDirect + slot + 1
			if in.Cond.Eval(uint64(in.A.Imm), uint64(in.B.Imm)) {
				t, code = in.Target, env.ExitDirect+slot
			}
			return func(s *env.State) uint32 {
				s.PC = t
				s.Instret += n
				return code
			}, nil
		}
		if f := branch(in, slot); f != nil {
			return f, nil
		}
	case ir.Jump:
		if in.A.IsConst() {
			t := uint64(in.A.Imm) &^ 1
			return func(s *env.State) uint32 {
				s.PC = t
				s.Instret += n
				return env.ExitIndirect
			}, nil
		}
		a := in.A.Slot
		return func(s *env.State) uint32 {
			s.PC = s.R[a] &^ 1
			s.Instret += n
			return env.ExitIndirect
		}, nil
	case ir.Exit:
		t := in.Target
		code := env.ExitCode(in.Reason)
		if in.Reason == ir.ExitException {
			cause, tval := in.Cause, in.Next
			return func(s *env.State) uint32 {
				s.Raise(cause, tval)
				s.PC = t
				s.Instret += n
				return code
			}, nil
		}
		return func(s *env.State) uint32 {
			s.PC = t
			s.Instret += n
			return code
		}, nil
	}
	return nil, fmt.Errorf("closure: bad terminator %v", in)
}
