package riscv

import (
	"math"

	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/ir"
)

func (t *Translator) helper(k helperKey, mk func() *ir.Helper) *ir.Helper {
	if hp := t.cache[k]; hp != nil {
		return hp
	}
	hp := mk()
	t.cache[k] = hp
	return hp
}

// --- Zicsr ---

// readCSR reads a CSR for an instruction at pc, insn instructions into its
// block (so instret and cycle count the instructions before it).
func (h *Hart) readCSR(csr uint16, pc uint64, insn uint64) (uint64, bool) {
	if csr <= CSRFcsr && h.fsOff() {
		return 0, false
	}
	switch csr {
	case CSRFflags:
		return uint64(h.FFlags), true
	case CSRFrm:
		return uint64(h.FRM), true
	case CSRFcsr:
		return h.fcsr(), true
	case CSRCycle, CSRInstret:
		return h.Instret + insn, true
	case CSRTime:
		if h.Time != nil {
			return h.Time(), true
		}
		return h.Instret + insn, true
	}
	if h.Sys != nil {
		return h.sysCSRRead(csr, insn)
	}
	return 0, false
}

func (h *Hart) writeCSR(csr uint16, v uint64, pc uint64) bool {
	if csr>>10 == 3 {
		return false // read-only
	}
	if csr <= CSRFcsr && h.fsOff() {
		return false
	}
	switch csr {
	case CSRFflags:
		h.FFlags = uint8(v & 0x1f)
		return true
	case CSRFrm:
		h.FRM = uint8(v & 7)
		return true
	case CSRFcsr:
		h.FFlags = uint8(v & 0x1f)
		h.FRM = uint8(v >> 5 & 7)
		return true
	}
	if h.Sys != nil {
		return h.sysCSRWrite(csr, v)
	}
	return false
}

func (t *Translator) emitCSR(in Inst) bool {
	h := t.h
	csr := in.CSR
	kind := in.Op
	var src ir.Arg
	switch kind {
	case CSRRW, CSRRS, CSRRC:
		src = x(in.Rs1)
	default:
		src = ir.C(in.Imm)
	}
	write := true
	if (kind == CSRRS || kind == CSRRC || kind == CSRRSI || kind == CSRRCI) && in.Rs1 == 0 {
		write = false
	}
	read := !(kind == CSRRW || kind == CSRRWI) || in.Rd != 0
	pc, insn, raw := t.pc, uint64(t.insn), uint64(in.Raw)
	if int(csr>>8&3) > int(h.Priv) {
		return t.illegal(in)
	}
	fn := func(v, _, _ uint64) uint64 {
		var old uint64
		if read {
			var ok bool
			if old, ok = h.readCSR(csr, pc, insn); !ok {
				h.Raise(CauseIllegal, raw)
				return 0
			}
		}
		if write {
			nv := v
			switch kind {
			case CSRRS, CSRRSI:
				nv = old | v
			case CSRRC, CSRRCI:
				nv = old &^ v
			}
			if !h.writeCSR(csr, nv, pc) {
				h.Raise(CauseIllegal, raw)
				return 0
			}
		}
		return old
	}
	dst := x(in.Rd)
	if in.Rd == 0 {
		dst = ir.Arg{}
	}
	t.add(ir.Inst{Op: ir.Call, Dst: dst, A: src,
		Helper: &ir.Helper{Name: "csr", Fn: fn, MayTrap: true, NoSlots: true}})
	if write && h.Sys != nil && csrEndsBlock(csr) {
		t.exitAfter(in, ir.ExitRetranslate)
		return true
	}
	return false
}

// --- A ---

var amoOps = map[Op]env.AMOOp{
	AMOSWAP: env.AMOSwap, AMOADD: env.AMOAdd, AMOXOR: env.AMOXor, AMOAND: env.AMOAnd, AMOOR: env.AMOOr,
	AMOMIN: env.AMOMin, AMOMAX: env.AMOMax, AMOMINU: env.AMOMinU, AMOMAXU: env.AMOMaxU,
}

func ext(v uint64, size int) uint64 {
	if size == 4 {
		return ir.SExt32(v)
	}
	return v
}

func (t *Translator) emitAtomic(in Inst) {
	h := t.h
	size := 4
	if in.F64 {
		size = 8
	}
	idx := t.b.MMUIdx
	k := helperKey{op: in.Op, f64: in.F64, x: uint32(idx)}
	var hp *ir.Helper
	switch in.Op {
	case LR:
		hp = t.helper(k, func() *ir.Helper {
			return &ir.Helper{Name: "lr", MayTrap: true, NoSlots: true, Fn: func(addr, _, _ uint64) uint64 {
				if addr%uint64(size) != 0 {
					h.Raise(CauseLoadMisaligned, addr)
					return 0
				}
				v, ok := h.AtomicLoad(addr, size, idx)
				if !ok {
					return 0
				}
				h.resValid, h.resAddr, h.resSize, h.resVal = true, addr, size, v
				return ext(v, size)
			}}
		})
	case SC:
		hp = t.helper(k, func() *ir.Helper {
			return &ir.Helper{Name: "sc", MayTrap: true, NoSlots: true, Fn: func(addr, v, _ uint64) uint64 {
				if addr%uint64(size) != 0 {
					h.Raise(CauseStoreMisaligned, addr)
					return 0
				}
				if !h.resValid || h.resAddr != addr || h.resSize != size {
					h.resValid = false
					return 1
				}
				h.resValid = false
				swapped, ok := h.CompareAndSwap(addr, size, idx, h.resVal, v)
				if !ok || !swapped {
					return 1
				}
				return 0
			}}
		})
	default:
		op := amoOps[in.Op]
		hp = t.helper(k, func() *ir.Helper {
			return &ir.Helper{Name: in.Op.String(), MayTrap: true, NoSlots: true, Fn: func(addr, v, _ uint64) uint64 {
				if addr%uint64(size) != 0 {
					h.Raise(CauseStoreMisaligned, addr)
					return 0
				}
				old, ok := h.AtomicRMW(addr, size, idx, op, v)
				if !ok {
					return 0
				}
				return ext(old, size)
			}}
		})
	}
	dst := x(in.Rd)
	if in.Rd == 0 {
		dst = ir.Arg{}
	}
	t.add(ir.Inst{Op: ir.Call, Dst: dst, A: x(in.Rs1), B: x(in.Rs2), Helper: hp})
}

// --- F and D ---

// usesRM reports whether the instruction has a rounding-mode field.
func usesRM(op Op) bool {
	switch op {
	case FADD, FSUB, FMUL, FDIV, FSQRT, FMADD, FMSUB, FNMSUB, FNMADD,
		FCVT_W, FCVT_WU, FCVT_L, FCVT_LU, FCVT_FW, FCVT_FWU, FCVT_FL, FCVT_FLU, FCVT_SD, FCVT_DS:
		return true
	}
	return false
}

// fastOps are the double-precision operations a backend may inline
// (ir.Helper.Fast).
var fastOps = map[Op]ir.FastOp{
	FADD: ir.FastAddD, FSUB: ir.FastSubD, FMUL: ir.FastMulD, FDIV: ir.FastDivD, FSQRT: ir.FastSqrtD,
	FMADD: ir.FastMAddD, FMSUB: ir.FastMSubD, FNMSUB: ir.FastNMSubD, FNMADD: ir.FastNMAddD,
	FEQ: ir.FastEqD, FLT: ir.FastLtD, FLE: ir.FastLeD,
}

const sign64 = 1 << 63
const sign32 = 1 << 31

func (t *Translator) emitFP(in Inst) bool {
	h := t.h
	if usesRM(in.Op) && (in.RM == 5 || in.RM == 6) {
		return t.illegal(in)
	}
	// Moves that need no helper.
	switch in.Op {
	case FMV_XF:
		if in.Rd == 0 {
			return false
		}
		if in.F64 {
			t.mov(x(in.Rd), fr(in.Rs1))
		} else {
			t.bin(ir.AddW, in.Rd, fr(in.Rs1), ir.C(0))
		}
		return false
	case FMV_FX:
		if in.F64 {
			t.mov(fr(in.Rd), x(in.Rs1))
		} else if in.Rs1 == 0 {
			t.mov(fr(in.Rd), ir.CU(boxHigh))
		} else {
			tmp := t.temp()
			t.add(ir.Inst{Op: ir.And, Dst: tmp, A: x(in.Rs1), B: ir.C(0xffffffff)})
			t.add(ir.Inst{Op: ir.Or, Dst: fr(in.Rd), A: tmp, B: ir.CU(boxHigh)})
		}
		return false
	case FSGNJ, FSGNJN, FSGNJX:
		if in.F64 && in.Rs1 != in.Rs2 {
			// Sign injection is bit arithmetic on the raw doubles.
			sgn := t.temp()
			t.add(ir.Inst{Op: ir.And, Dst: sgn, A: fr(in.Rs2), B: ir.CU(sign64)})
			if in.Op == FSGNJN {
				t.add(ir.Inst{Op: ir.Xor, Dst: sgn, A: sgn, B: ir.CU(sign64)})
			}
			if in.Op == FSGNJX {
				t.add(ir.Inst{Op: ir.Xor, Dst: fr(in.Rd), A: fr(in.Rs1), B: sgn})
				return false
			}
			mag := t.temp()
			t.add(ir.Inst{Op: ir.And, Dst: mag, A: fr(in.Rs1), B: ir.CU(sign64 - 1)})
			t.add(ir.Inst{Op: ir.Or, Dst: fr(in.Rd), A: mag, B: sgn})
			return false
		}
		if in.F64 && in.Rs1 == in.Rs2 {
			switch in.Op {
			case FSGNJ: // fmv.d
				t.mov(fr(in.Rd), fr(in.Rs1))
			case FSGNJN: // fneg.d
				t.add(ir.Inst{Op: ir.Xor, Dst: fr(in.Rd), A: fr(in.Rs1), B: ir.CU(sign64)})
			case FSGNJX: // fabs.d
				t.add(ir.Inst{Op: ir.And, Dst: fr(in.Rd), A: fr(in.Rs1), B: ir.CU(sign64 - 1)})
			}
			return false
		}
	}

	rm := in.RM
	dyn := rm == DYN
	f64 := in.F64
	op := in.Op
	k := helperKey{op: op, f64: f64, rm: rm}
	hp := t.helper(k, func() *ir.Helper {
		fn := fpFunc(h, op, f64, rm)
		hp := &ir.Helper{Name: op.String(), Fn: fn, MayTrap: dyn, NoSlots: true}
		if f64 {
			hp.Fast, hp.FastRM = fastOps[op], rm
		}
		return hp
	})
	call := ir.Inst{Op: ir.Call, Helper: hp}
	switch op {
	case FADD, FSUB, FMUL, FDIV, FSGNJ, FSGNJN, FSGNJX, FMIN, FMAX:
		call.Dst, call.A, call.B = fr(in.Rd), fr(in.Rs1), fr(in.Rs2)
	case FSQRT, FCVT_SD, FCVT_DS:
		call.Dst, call.A = fr(in.Rd), fr(in.Rs1)
	case FMADD, FMSUB, FNMSUB, FNMADD:
		call.Dst, call.A, call.B, call.C = fr(in.Rd), fr(in.Rs1), fr(in.Rs2), fr(in.Rs3)
	case FCVT_W, FCVT_WU, FCVT_L, FCVT_LU, FCLASS:
		call.A = fr(in.Rs1)
		if in.Rd != 0 {
			call.Dst = x(in.Rd)
		}
	case FCVT_FW, FCVT_FWU, FCVT_FL, FCVT_FLU:
		call.Dst, call.A = fr(in.Rd), x(in.Rs1)
	case FEQ, FLT, FLE:
		call.A, call.B = fr(in.Rs1), fr(in.Rs2)
		if in.Rd != 0 {
			call.Dst = x(in.Rd)
		}
	default:
		return t.illegal(in)
	}
	t.add(call)
	return false
}

// fpFunc builds the helper body for one FP operation, format and rounding
// mode. Single-precision operands are unboxed and results boxed here.
func fpFunc(h *Hart, op Op, f64 bool, rm uint8) func(a, b, c uint64) uint64 {
	// getRM resolves the dynamic rounding mode; false: frm is invalid
	// and an illegal-instruction exception was raised.
	getRM := func() (uint8, bool) {
		if rm != DYN {
			return rm, true
		}
		if h.FRM > 4 {
			h.Raise(CauseIllegal, 0)
			return 0, false
		}
		return h.FRM, true
	}
	type arith64 func(a, b uint64, rm uint8, acc uint8) (uint64, uint8)
	type arith32 func(a, b uint32, rm uint8, acc uint8) (uint32, uint8)
	bin := func(f64fn arith64, f32fn arith32) func(a, b, c uint64) uint64 {
		if f64 {
			return func(a, b, _ uint64) uint64 {
				r, ok := getRM()
				if !ok {
					return 0
				}
				v, fl := f64fn(a, b, r, h.FFlags)
				h.FFlags |= fl
				return v
			}
		}
		return func(a, b, _ uint64) uint64 {
			r, ok := getRM()
			if !ok {
				return 0
			}
			v, fl := f32fn(Unbox(a), Unbox(b), r, h.FFlags)
			h.FFlags |= fl
			return Box(v)
		}
	}
	switch op {
	case FADD:
		return bin(FAdd64, FAdd32)
	case FSUB:
		return bin(FSub64, FSub32)
	case FMUL:
		return bin(FMul64, FMul32)
	case FDIV:
		return bin(FDiv64, FDiv32)
	case FSQRT:
		return bin(func(a, _ uint64, rm, acc uint8) (uint64, uint8) { return FSqrt64(a, rm, acc) },
			func(a, _ uint32, rm, acc uint8) (uint32, uint8) { return FSqrt32(a, rm, acc) })
	case FMADD, FMSUB, FNMSUB, FNMADD:
		negProd := op == FNMSUB || op == FNMADD
		negAdd := op == FMSUB || op == FNMADD
		if f64 {
			return func(a, b, c uint64) uint64 {
				r, ok := getRM()
				if !ok {
					return 0
				}
				if negProd {
					a ^= sign64
				}
				if negAdd {
					c ^= sign64
				}
				v, fl := FMA64(a, b, c, r, h.FFlags)
				h.FFlags |= fl
				return v
			}
		}
		return func(a, b, c uint64) uint64 {
			r, ok := getRM()
			if !ok {
				return 0
			}
			x, y, z := Unbox(a), Unbox(b), Unbox(c)
			if negProd {
				x ^= sign32
			}
			if negAdd {
				z ^= sign32
			}
			v, fl := FMA32(x, y, z, r, h.FFlags)
			h.FFlags |= fl
			return Box(v)
		}
	case FSGNJ, FSGNJN, FSGNJX:
		if f64 {
			return func(a, b, _ uint64) uint64 {
				switch op {
				case FSGNJN:
					b = ^b
				case FSGNJX:
					b ^= a
				}
				return a&^sign64 | b&sign64
			}
		}
		return func(a, b, _ uint64) uint64 {
			x, y := Unbox(a), Unbox(b)
			switch op {
			case FSGNJN:
				y = ^y
			case FSGNJX:
				y ^= x
			}
			return Box(x&^sign32 | y&sign32)
		}
	case FMIN, FMAX:
		max := op == FMAX
		if f64 {
			return func(a, b, _ uint64) uint64 {
				v, fl := FMinMax64(a, b, max)
				h.FFlags |= fl
				return v
			}
		}
		return func(a, b, _ uint64) uint64 {
			v, fl := FMinMax32(Unbox(a), Unbox(b), max)
			h.FFlags |= fl
			return Box(v)
		}
	case FCVT_W, FCVT_WU, FCVT_L, FCVT_LU:
		width := 64
		if op == FCVT_W || op == FCVT_WU {
			width = 32
		}
		signed := op == FCVT_W || op == FCVT_L
		return func(a, _, _ uint64) uint64 {
			r, ok := getRM()
			if !ok {
				return 0
			}
			var v float64
			var nan bool
			if f64 {
				v = math.Float64frombits(a)
				nan = isNaN64(a)
			} else {
				u := Unbox(a)
				v = float64(math.Float32frombits(u))
				nan = isNaN32(u)
			}
			res, fl := FCvtToInt(v, nan, r, width, signed)
			h.FFlags |= fl
			return res
		}
	case FCVT_FW, FCVT_FWU, FCVT_FL, FCVT_FLU:
		f := fmt32
		if f64 {
			f = fmt64
		}
		return func(a, _, _ uint64) uint64 {
			r, ok := getRM()
			if !ok {
				return 0
			}
			signed := op == FCVT_FW || op == FCVT_FL
			switch op {
			case FCVT_FW:
				a = ir.SExt32(a)
			case FCVT_FWU:
				a = uint64(uint32(a))
			}
			v, fl := FCvtFromInt(a, signed, f, r)
			h.FFlags |= fl
			if !f64 {
				return Box(uint32(v))
			}
			return v
		}
	case FCVT_SD:
		return func(a, _, _ uint64) uint64 {
			r, ok := getRM()
			if !ok {
				return 0
			}
			v, fl := FCvtSD(a, r)
			h.FFlags |= fl
			return Box(v)
		}
	case FCVT_DS:
		return func(a, _, _ uint64) uint64 {
			if _, ok := getRM(); !ok {
				return 0
			}
			v, fl := FCvtDS(Unbox(a))
			h.FFlags |= fl
			return v
		}
	case FEQ, FLT, FLE:
		return func(a, b, _ uint64) uint64 {
			var v uint64
			var fl uint8
			if f64 {
				v, fl = FCmp64(op, a, b)
			} else {
				v, fl = FCmp32(op, Unbox(a), Unbox(b))
			}
			h.FFlags |= fl
			return v
		}
	case FCLASS:
		return func(a, _, _ uint64) uint64 {
			if f64 {
				return FClass64(a)
			}
			return FClass32(Unbox(a))
		}
	}
	return func(a, b, c uint64) uint64 { return 0 }
}
