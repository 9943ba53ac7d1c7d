package riscv

import (
	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/ir"
)

// DefaultMaxInsns bounds the guest instructions in one block.
const DefaultMaxInsns = 128

// DefaultMaxSideExits bounds the side exits of a block. A block continues
// past a forward conditional branch (a superblock): the branch becomes a
// side exit and its fall-through path stays in the block, so if-then code
// and loops whose body has a forward test run as one block, and a loop
// that ends in a backward branch to the block's start keeps its registers
// in host registers (see the native backend).
const DefaultMaxSideExits = 8

// Code is the guest-physical code a block was translated from: one range
// per page it touches (the second is empty unless the last instruction
// straddles a page boundary).
type Code [2]env.Range

// Translator turns riscv64 code into IR blocks for one hart. Helpers it
// creates capture the hart, so blocks are per hart.
type Translator struct {
	h        *Hart
	MaxInsns int
	// MaxSideExits bounds the forward conditional branches a block
	// continues past (0: every conditional branch ends the block).
	MaxSideExits int

	b         *ir.Block
	pc        uint64 // the instruction being translated
	insn      uint16 // its index in the block
	ntemp     int
	sideExits int
	cache     map[helperKey]*ir.Helper
}

type helperKey struct {
	op  Op
	f64 bool
	rm  uint8
	x   uint32 // more distinguishing bits where needed
}

// NewTranslator returns a translator for h.
func NewTranslator(h *Hart) *Translator {
	return &Translator{h: h, MaxInsns: DefaultMaxInsns, MaxSideExits: DefaultMaxSideExits, cache: map[helperKey]*ir.Helper{}}
}

// fetcher reads instruction parcels through the hart's exec TLB, one page
// at a time.
type fetcher struct {
	h      *Hart
	idx    int
	pageVA uint64
	pagePA uint64
	host   []byte
}

func (f *fetcher) parcel(va uint64) (uint16, uint64, bool) {
	pg := va &^ env.PageMask
	if f.host == nil || pg != f.pageVA {
		pa, host, ok := f.h.CodeAddr(pg, f.idx)
		if !ok {
			// Report the fault at va itself.
			f.h.Exc.Tval = va
			return 0, 0, false
		}
		f.pageVA, f.pagePA, f.host = pg, pa, host
	}
	off := va & env.PageMask
	return uint16(f.host[off]) | uint16(f.host[off+1])<<8, f.pagePA | off, true
}

// Translate builds the block at pc into b. It returns false when the first
// instruction cannot be fetched; the fetch fault is then pending in the
// hart (h.Exc) and b is unusable.
func (t *Translator) Translate(pc uint64, b *ir.Block) (Code, bool) {
	h := t.h
	b.Reset(pc, h.MMUIdx())
	t.b = b
	t.sideExits = 0
	f := fetcher{h: h, idx: h.FetchIdx()}
	var code Code
	startPage := pc &^ env.PageMask
	n := 0
	for {
		if n >= t.MaxInsns {
			t.endGoto(pc, n)
			break
		}
		lo, pa, ok := f.parcel(pc)
		if !ok {
			if n == 0 {
				return code, false
			}
			h.Exc = env.Exception{}
			t.endGoto(pc, n)
			break
		}
		raw := uint32(lo)
		size := uint64(2)
		pa2 := uint64(0)
		if lo&3 == 3 {
			hi, p2, ok := f.parcel(pc + 2)
			if !ok {
				if n == 0 {
					return code, false
				}
				h.Exc = env.Exception{}
				t.endGoto(pc, n)
				break
			}
			raw |= uint32(hi) << 16
			size = 4
			pa2 = p2
		}
		// Record the bytes: the first page's range grows; a straddling
		// instruction's second half opens the second range.
		if n == 0 {
			code[0] = env.Range{PA: pa, N: 0}
		}
		if pa2 != 0 && (pc+2)&^env.PageMask != pc&^env.PageMask {
			code[0].N += 2
			code[1] = env.Range{PA: pa2, N: 2}
		} else {
			code[0].N += size
		}
		t.pc = pc
		t.insn = uint16(n)
		t.ntemp = 0
		in := Decode(raw)
		ends := t.emit(in)
		n++
		pc += size
		b.Size += size
		if ends {
			break
		}
		if pc&^env.PageMask != startPage {
			t.endGoto(pc, n)
			break
		}
	}
	b.NumInsns = n
	return code, true
}

func (t *Translator) endGoto(pc uint64, n int) {
	t.b.Add(ir.Inst{Op: ir.Goto, Target: pc, PC: pc, Insn: uint16(n)})
	t.b.NumInsns = n
}

// Operand helpers.

func x(r uint8) ir.Arg {
	if r == 0 {
		return ir.C(0)
	}
	return ir.S(XBase + int(r))
}

func fr(r uint8) ir.Arg { return ir.S(FBase + int(r)) }

func (t *Translator) temp() ir.Arg {
	a := ir.S(ir.TempBase + t.ntemp)
	t.ntemp++
	return a
}

func (t *Translator) add(in ir.Inst) {
	in.PC = t.pc
	if in.Insn == 0 {
		in.Insn = t.insn
	}
	t.b.Add(in)
}

// bin emits rd = a op b (nothing for rd = x0: the operations cannot fault).
func (t *Translator) bin(op ir.Op, rd uint8, a, b ir.Arg) {
	if rd == 0 {
		return
	}
	t.add(ir.Inst{Op: op, Dst: x(rd), A: a, B: b})
}

func (t *Translator) mov(dst ir.Arg, a ir.Arg) {
	t.add(ir.Inst{Op: ir.Mov, Dst: dst, A: a})
}

// next is the address of the following instruction.
func (t *Translator) next(in Inst) uint64 { return t.pc + uint64(in.Len) }

// exitAfter ends the block after this instruction with reason r.
func (t *Translator) exitAfter(in Inst, r ir.ExitReason) {
	t.add(ir.Inst{Op: ir.Exit, Reason: r, Target: t.next(in), Insn: t.insn + 1})
}

// raise ends the block at this instruction with an exception.
func (t *Translator) raise(cause, tval uint64) {
	t.b.Add(ir.Inst{Op: ir.Exit, Reason: ir.ExitException, Target: t.pc, PC: t.pc,
		Insn: t.insn, Cause: cause, Next: tval})
}

func (t *Translator) illegal(in Inst) bool {
	t.raise(CauseIllegal, uint64(in.Raw))
	return true
}

// emit translates one instruction; it reports whether the block ends.
func (t *Translator) emit(in Inst) bool {
	pc := t.pc
	if in.Op >= FLW && in.Op <= FCLASS && t.h.fsOff() {
		return t.illegal(in) // mstatus.FS is off
	}
	switch in.Op {
	case ILLEGAL:
		return t.illegal(in)
	case LUI:
		if in.Rd != 0 {
			t.mov(x(in.Rd), ir.C(in.Imm))
		}
	case AUIPC:
		if in.Rd != 0 {
			t.mov(x(in.Rd), ir.CU(pc+uint64(in.Imm)))
		}
	case JAL:
		if in.Rd != 0 {
			t.mov(x(in.Rd), ir.CU(t.next(in)))
		}
		t.add(ir.Inst{Op: ir.Goto, Target: pc + uint64(in.Imm), Insn: t.insn + 1})
		return true
	case JALR:
		target := x(in.Rs1)
		if in.Imm != 0 || (in.Rd != 0 && in.Rd == in.Rs1) {
			tmp := t.temp()
			t.add(ir.Inst{Op: ir.Add, Dst: tmp, A: x(in.Rs1), B: ir.C(in.Imm)})
			target = tmp
		}
		if in.Rd != 0 {
			t.mov(x(in.Rd), ir.CU(t.next(in)))
		}
		if target.IsConst() {
			t.add(ir.Inst{Op: ir.Goto, Target: uint64(target.Imm) &^ 1, Insn: t.insn + 1})
		} else {
			t.add(ir.Inst{Op: ir.Jump, A: target, Insn: t.insn + 1})
		}
		return true
	case BEQ, BNE, BLT, BGE, BLTU, BGEU:
		cond := map[Op]ir.Cond{BEQ: ir.Eq, BNE: ir.Ne, BLT: ir.Lt, BGE: ir.Ge, BLTU: ir.Ltu, BGEU: ir.Geu}[in.Op]
		target, next := pc+uint64(in.Imm), t.next(in)
		if in.Imm > 0 && (in.Rs1 != 0 || in.Rs2 != 0) && t.sideExits < t.MaxSideExits && int(t.insn)+1 < t.MaxInsns &&
			next&^env.PageMask == t.b.PC&^env.PageMask {
			t.add(ir.Inst{Op: ir.ExitIf, Cond: cond, A: x(in.Rs1), B: x(in.Rs2), Target: target, Insn: t.insn + 1})
			t.sideExits++
			return false
		}
		t.add(ir.Inst{Op: ir.Branch, Cond: cond, A: x(in.Rs1), B: x(in.Rs2),
			Target: target, Next: next, Insn: t.insn + 1})
		return true
	case LB, LH, LW, LD, LBU, LHU, LWU:
		size := map[Op]uint8{LB: 1, LH: 2, LW: 4, LD: 8, LBU: 1, LHU: 2, LWU: 4}[in.Op]
		signed := in.Op == LB || in.Op == LH || in.Op == LW
		dst := x(in.Rd)
		if in.Rd == 0 {
			dst = t.temp() // the load still happens (and may fault)
		}
		t.add(ir.Inst{Op: ir.Load, Dst: dst, A: x(in.Rs1), Imm: in.Imm, Size: size, Signed: signed})
	case SB, SH, SW, SD:
		size := map[Op]uint8{SB: 1, SH: 2, SW: 4, SD: 8}[in.Op]
		t.add(ir.Inst{Op: ir.Store, A: x(in.Rs1), B: x(in.Rs2), Imm: in.Imm, Size: size})
	case ADDI:
		if in.Rd != 0 {
			if in.Rs1 == 0 || in.Imm == 0 {
				t.mov(x(in.Rd), t.addConst(x(in.Rs1), in.Imm))
			} else {
				t.bin(ir.Add, in.Rd, x(in.Rs1), ir.C(in.Imm))
			}
		}
	case SLTI:
		t.bin(ir.SetLt, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case SLTIU:
		t.bin(ir.SetLtu, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case XORI:
		t.bin(ir.Xor, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case ORI:
		t.bin(ir.Or, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case ANDI:
		t.bin(ir.And, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case SLLI:
		t.bin(ir.Shl, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case SRLI:
		t.bin(ir.Shr, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case SRAI:
		t.bin(ir.Sar, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case ADDIW:
		t.bin(ir.AddW, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case SLLIW:
		t.bin(ir.ShlW, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case SRLIW:
		t.bin(ir.ShrW, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case SRAIW:
		t.bin(ir.SarW, in.Rd, x(in.Rs1), ir.C(in.Imm))
	case ADD, SUB, SLL, SLT, SLTU, XOR, SRL, SRA, OR, AND,
		ADDW, SUBW, SLLW, SRLW, SRAW,
		MUL, MULH, MULHSU, MULHU, DIV, DIVU, REM, REMU, MULW, DIVW, DIVUW, REMW, REMUW:
		if in.Op == ADD && (in.Rs1 == 0 || in.Rs2 == 0) {
			// mv (c.mv expands to add rd, x0, rs2)
			src := in.Rs1
			if src == 0 {
				src = in.Rs2
			}
			if in.Rd != 0 {
				t.mov(x(in.Rd), x(src))
			}
			return false
		}
		t.bin(aluOps[in.Op], in.Rd, x(in.Rs1), x(in.Rs2))
	case FENCE:
		// Plain loads and stores are ordered by the host (x86-64 is
		// TSO) except a store followed by a load; a fence that orders
		// writes before reads needs a host barrier.
		if in.RM&0x10 != 0 && in.RM&0x02 != 0 { // pred W, succ R
			t.add(ir.Inst{Op: ir.Fence})
		}
	case FENCEI:
		t.exitAfter(in, ir.ExitFenceI)
		return true
	case ECALL:
		if t.h.Sys != nil {
			t.raise(CauseEcallU+uint64(t.h.Priv), 0)
			return true
		}
		t.add(ir.Inst{Op: ir.Exit, Reason: ir.ExitSyscall, Target: pc, Insn: t.insn})
		return true
	case EBREAK:
		if t.h.Sys != nil {
			t.raise(CauseBreakpoint, pc)
			return true
		}
		t.add(ir.Inst{Op: ir.Exit, Reason: ir.ExitBreakpoint, Target: pc, Insn: t.insn})
		return true
	case CSRRW, CSRRS, CSRRC, CSRRWI, CSRRSI, CSRRCI:
		return t.emitCSR(in)
	case LR, SC, AMOSWAP, AMOADD, AMOXOR, AMOAND, AMOOR, AMOMIN, AMOMAX, AMOMINU, AMOMAXU:
		t.emitAtomic(in)
	case FLW:
		tmp := t.temp()
		t.add(ir.Inst{Op: ir.Load, Dst: tmp, A: x(in.Rs1), Imm: in.Imm, Size: 4})
		t.add(ir.Inst{Op: ir.Or, Dst: fr(in.Rd), A: tmp, B: ir.CU(boxHigh)})
	case FLD:
		t.add(ir.Inst{Op: ir.Load, Dst: fr(in.Rd), A: x(in.Rs1), Imm: in.Imm, Size: 8})
	case FSW:
		t.add(ir.Inst{Op: ir.Store, A: x(in.Rs1), B: fr(in.Rs2), Imm: in.Imm, Size: 4})
	case FSD:
		t.add(ir.Inst{Op: ir.Store, A: x(in.Rs1), B: fr(in.Rs2), Imm: in.Imm, Size: 8})
	case MRET, SRET, WFI, SFENCE_VMA:
		return t.emitPrivileged(in)
	default:
		return t.emitFP(in)
	}
	return false
}

// addConst folds a + imm when a is a constant.
func (t *Translator) addConst(a ir.Arg, imm int64) ir.Arg {
	if a.IsConst() {
		return ir.C(a.Imm + imm)
	}
	if imm == 0 {
		return a
	}
	panic("addConst of a slot")
}

var aluOps = map[Op]ir.Op{
	ADD: ir.Add, SUB: ir.Sub, SLL: ir.Shl, SLT: ir.SetLt, SLTU: ir.SetLtu, XOR: ir.Xor,
	SRL: ir.Shr, SRA: ir.Sar, OR: ir.Or, AND: ir.And,
	ADDW: ir.AddW, SUBW: ir.SubW, SLLW: ir.ShlW, SRLW: ir.ShrW, SRAW: ir.SarW,
	MUL: ir.Mul, MULH: ir.MulH, MULHSU: ir.MulHSU, MULHU: ir.MulHU,
	DIV: ir.Div, DIVU: ir.DivU, REM: ir.Rem, REMU: ir.RemU,
	MULW: ir.MulW, DIVW: ir.DivW, DIVUW: ir.DivUW, REMW: ir.RemW, REMUW: ir.RemUW,
}

// emitPrivileged handles MRET, SRET, WFI and SFENCE.VMA: illegal without
// the privileged architecture (user-mode emulation) and in too low a mode.
func (t *Translator) emitPrivileged(in Inst) bool {
	h := t.h
	if h.Sys == nil {
		return t.illegal(in)
	}
	raw := uint64(in.Raw)
	switch in.Op {
	case MRET, SRET:
		if in.Op == MRET && h.Priv < PrivM || h.Priv < PrivS {
			return t.illegal(in)
		}
		ret := h.mret
		if in.Op == SRET {
			ret = h.sret
		}
		// The helper switches mode and returns the new PC; the block
		// leaves through an indirect jump, and the exit request it
		// makes sends the run loop to look up the target under the new
		// mode (and at pending interrupts) before any code runs.
		fn := func(_, _, _ uint64) uint64 {
			if in.Op == SRET && h.Priv == PrivS && h.Sys.mstatus&mstatusTSR != 0 {
				h.Raise(CauseIllegal, raw)
				return 0
			}
			h.Request(env.ReqInterrupt)
			return ret()
		}
		tmp := t.temp()
		t.add(ir.Inst{Op: ir.Call, Dst: tmp, Helper: &ir.Helper{Name: in.Op.String(), Fn: fn, MayTrap: true, NoSlots: true}})
		t.add(ir.Inst{Op: ir.Jump, A: tmp, Insn: t.insn + 1})
		return true
	case WFI:
		if h.Priv == PrivU {
			return t.illegal(in)
		}
		if h.Priv == PrivS {
			// mstatus.TW: WFI in S is illegal (the time limit of
			// privileged spec 3.1.6.5 is 0 here).
			fn := func(_, _, _ uint64) uint64 {
				if h.Sys.mstatus&mstatusTW != 0 {
					h.Raise(CauseIllegal, raw)
				}
				return 0
			}
			t.add(ir.Inst{Op: ir.Call, Helper: &ir.Helper{Name: "wfi", Fn: fn, MayTrap: true, NoSlots: true}})
		}
		t.exitAfter(in, ir.ExitWFI)
		return true
	case SFENCE_VMA:
		if h.Priv == PrivU {
			return t.illegal(in)
		}
		fn := func(_, _, _ uint64) uint64 {
			if h.Priv == PrivS && h.Sys.mstatus&mstatusTVM != 0 {
				h.Raise(CauseIllegal, raw)
				return 0
			}
			h.sfence()
			return 0
		}
		t.add(ir.Inst{Op: ir.Call, Helper: &ir.Helper{Name: "sfence.vma", Fn: fn, MayTrap: true, NoSlots: true}})
		t.exitAfter(in, ir.ExitRetranslate)
		return true
	}
	return t.illegal(in)
}
