package amd64

import (
	"errors"
	"fmt"
	"math"

	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/ir"
)

// Exit codes of generated code beyond env.Exit*: a slow path (TLB miss,
// MMIO, a helper call) that the Go side runs before resuming.
const exitSlow uint32 = 8

// slowKind is what a slow-path exit asks the Go side to do.
type slowKind uint8

const (
	slowLoad slowKind = iota
	slowStore
	slowCall
	slowRaise
)

// slowOp describes one slow-path exit of a block.
type slowOp struct {
	kind   slowKind
	size   uint8
	signed bool
	dst    int // slot, or -1
	idx    int // MMU index
	pc     uint64
	insn   uint16
	helper *ir.Helper
	cause  uint64
	tval   uint64
}

// errBufferFull means the code buffer has no room: flush and retry.
var errBufferFull = errors.New("amd64: code buffer full")

// ErrBufferFull reports whether err means the code buffer is full.
func ErrBufferFull(err error) bool { return errors.Is(err, errBufferFull) }

type fixup struct {
	at   int // rel32 offset in the block to point at the stub
	stub func()
}

type directExit struct {
	site int // offset of the rel32 to chain
	stub int // offset of the exit stub (the rel32's unchained target)
}

// A block that branches back to its own start ("self-loop": the inner
// loops of most hot code) keeps the guest registers it uses in host
// registers across iterations: they are loaded once at entry, the back
// edge jumps past the loads (still checking exit requests), and only the
// exits write them back.
type selfLoop struct {
	on   bool
	head int // offset of the loop head, after the preloads
}

type compiler struct {
	b      *Backend
	a      Asm
	origin uintptr // host address of offset 0
	blk    *ir.Block
	rc     regCache
	cur    int
	// lastUse[t] is the index of the last instruction that reads or
	// writes temporary t.
	lastUse [ir.MaxTemps]int
	cold    []fixup
	direct  []directExit
	// slot is the next direct-exit slot number (env.ExitDirect + slot).
	slot uint32
	loop selfLoop
}

func (c *compiler) jmpAbs(target uintptr) {
	off := c.a.Jmp()
	c.patchAbs(off, target)
}

func (c *compiler) jccAbs(cc Cond, target uintptr) {
	off := c.a.Jcc(cc)
	c.patchAbs(off, target)
}

func (c *compiler) patchAbs(off int, target uintptr) {
	rel := int64(target) - int64(c.origin+uintptr(off)+4)
	if rel != int64(int32(rel)) {
		panic("amd64: jump out of range")
	}
	c.a.PatchRel32(off, off+4+int(rel))
}

// exitCode returns to Go with code in eax.
func (c *compiler) exitCode(code uint32) {
	c.a.MovRI(RAX, uint64(code))
	c.jmpAbs(c.b.epilogue)
}

// coldJcc jumps to a stub emitted after the block body.
func (c *compiler) coldJcc(cc Cond, stub func()) {
	c.cold = append(c.cold, fixup{at: c.a.Jcc(cc), stub: stub})
}

// storePC stores a guest PC to env.State.PC.
func (c *compiler) storePC(pc uint64) {
	if int64(pc) == int64(int32(pc)) {
		c.a.StoreImm(M(regEnv, offPC), int32(pc), 8)
		return
	}
	c.a.MovRI(RAX, pc)
	c.a.Store(M(regEnv, offPC), RAX, 8)
}

// slowExit emits the exit to Go for slow op k and returns the offset of the
// RIP-relative displacement of the resume address, to patch.
func (c *compiler) slowExit(k int) int {
	c.a.StoreImm(M(regEnv, offExitInfo), int32(k), 4)
	lea := c.a.LeaRIP(RCX)
	c.a.Store(M(regEnv, offResume), RCX, 8)
	c.exitCode(exitSlow)
	return lea
}

func (c *compiler) addSlow(op slowOp) int {
	c.b.slow = append(c.b.slow, op)
	return len(c.b.slow) - 1
}

// compile generates the block at origin.
func (c *compiler) compile() error {
	blk := c.blk
	c.rc.reset()
	for i := range c.lastUse {
		c.lastUse[i] = -1
	}
	for i := range blk.Insts {
		in := &blk.Insts[i]
		for _, a := range []ir.Arg{in.Dst, in.A, in.B, in.C} {
			if a.IsTemp() {
				t := int(a.Slot) - ir.TempBase
				if t >= ir.MaxTemps {
					return fmt.Errorf("amd64: block %#x: temporary %d out of range", blk.PC, t)
				}
				c.lastUse[t] = i
			}
		}
	}

	// Prologue: leave if an exit request is pending or the time slice
	// is used up.
	pc := blk.PC
	leave := func() {
		c.storePC(pc)
		c.exitCode(env.ExitRequest)
	}
	c.a.AluMI(CMP, false, M(regEnv, offExitReq), 0)
	c.coldJcc(CondNE, leave)
	c.a.AluRM(CMP, true, regInstret, M(regEnv, offInstretLimit))
	c.coldJcc(CondAE, leave)
	c.planSelfLoop()

	for i := range blk.Insts {
		c.cur = i
		in := &blk.Insts[i]
		if err := c.inst(in); err != nil {
			return fmt.Errorf("amd64: block %#x: %v: %w", blk.PC, in, err)
		}
		c.unpinAll()
		c.cur = i + 1
		c.freeDeadTemps()
	}
	// Cold code.
	for i := 0; i < len(c.cold); i++ {
		f := c.cold[i]
		c.a.PatchRel32(f.at, c.a.Len())
		f.stub()
	}
	return nil
}

func fitsInt32(v int64) bool { return v == int64(int32(v)) }

// planSelfLoop preloads the registers of a self-looping block when they all
// fit in host registers (with room for its temporaries) and nothing in the
// block drops the register mapping (a helper call).
func (c *compiler) planSelfLoop() {
	blk := c.blk
	t := blk.Terminator()
	if !((t.Op == ir.Branch && t.Target == blk.PC) || (t.Op == ir.Goto && t.Target == blk.PC)) {
		return
	}
	var slots []uint8
	seen := map[uint8]bool{}
	defined := map[uint8]bool{}
	temps := 0
	for i := range blk.Insts {
		in := &blk.Insts[i]
		if in.Op == ir.Call && !c.fastOK(in) {
			return // a helper call drops the register mapping
		}
		for j, a := range []ir.Arg{in.Dst, in.A, in.B, in.C} {
			if !a.IsSlot() {
				continue
			}
			if a.IsTemp() {
				if !seen[a.Slot] {
					temps++
				}
				seen[a.Slot] = true
				continue
			}
			if !seen[a.Slot] {
				seen[a.Slot] = true
				slots = append(slots, a.Slot)
			}
			if j == 0 {
				defined[a.Slot] = true
			}
		}
	}
	regs := len(allocatable)
	if c.b.flat {
		regs--
	}
	if len(slots)+temps > regs || len(slots) == 0 {
		return
	}
	for _, sl := range slots {
		h := c.alloc()
		c.a.Load(h, slotMem(int(sl)), 8, false)
		c.rc.host[sl] = int8(h)
		c.rc.slot[h] = int16(sl)
		// Later iterations carry the values the block defines: they
		// are dirty at the head.
		c.rc.dirty[h] = defined[sl]
		c.touch(h)
	}
	c.loop = selfLoop{on: true, head: c.a.Len()}
	// The loop head checks for exit requests and the time slice (then
	// every register the loop carries is written back and the block
	// exits at its start).
	snap := c.rc.snap()
	pc := blk.PC
	leave := func() {
		snap.writeback(&c.a, false, -1)
		c.storePC(pc)
		c.exitCode(env.ExitRequest)
	}
	c.a.AluMI(CMP, false, M(regEnv, offExitReq), 0)
	c.coldJcc(CondNE, leave)
	c.a.AluRM(CMP, true, regInstret, M(regEnv, offInstretLimit))
	c.coldJcc(CondAE, leave)
}

// operand returns a register holding arg's value: its cached register for
// a slot, or scratch (loaded with the constant).
func (c *compiler) operand(arg ir.Arg, scratch Reg) Reg {
	if arg.IsConst() {
		c.a.MovRI(scratch, uint64(arg.Imm))
		return scratch
	}
	return c.use(arg.Slot)
}

func (c *compiler) inst(in *ir.Inst) error {
	switch {
	case in.Op == ir.Nop:
		return nil
	case in.Op == ir.Mov:
		if in.A.IsConst() {
			h, _ := c.def(in.Dst.Slot)
			c.a.MovRI(h, uint64(in.A.Imm))
			return nil
		}
		src := c.use(in.A.Slot)
		if in.A.Slot == in.Dst.Slot {
			return nil
		}
		h, _ := c.def(in.Dst.Slot)
		c.a.MovRR(h, src)
		return nil
	case in.Op.IsBinary():
		return c.binary(in)
	case in.Op == ir.Load:
		c.load(in)
		return nil
	case in.Op == ir.Store:
		c.store(in)
		return nil
	case in.Op == ir.Call:
		c.call(in)
		return nil
	case in.Op == ir.Fence:
		c.a.B = append(c.a.B, 0x0f, 0xae, 0xf0) // mfence
		return nil
	case in.Op == ir.ExitIf:
		c.exitIf(in)
		return nil
	case in.Op.IsTerminator():
		return c.terminator(in)
	}
	return fmt.Errorf("unsupported op")
}

// aluOf maps simple IR operations to x86 ALU operations.
func aluOf(op ir.Op) (ALU, bool, bool) { // alu, 64-bit, commutative
	switch op {
	case ir.Add:
		return ADD, true, true
	case ir.Sub:
		return SUB, true, false
	case ir.And:
		return AND, true, true
	case ir.Or:
		return OR, true, true
	case ir.Xor:
		return XOR, true, true
	case ir.AddW:
		return ADD, false, true
	case ir.SubW:
		return SUB, false, false
	}
	return 0, false, false
}

func (c *compiler) binary(in *ir.Inst) error {
	if in.A.IsConst() && in.B.IsConst() {
		h, _ := c.def(in.Dst.Slot)
		c.a.MovRI(h, ir.Eval(in.Op, uint64(in.A.Imm), uint64(in.B.Imm)))
		return nil
	}
	switch in.Op {
	case ir.Add, ir.Sub, ir.And, ir.Or, ir.Xor, ir.AddW, ir.SubW:
		c.simpleALU(in)
	case ir.Shl, ir.Shr, ir.Sar, ir.ShlW, ir.ShrW, ir.SarW:
		c.shift(in)
	case ir.SetLt, ir.SetLtu:
		c.setLess(in)
	case ir.Mul, ir.MulW:
		c.mul(in)
	case ir.MulH, ir.MulHU, ir.MulHSU:
		c.mulHigh(in)
	case ir.Div, ir.DivU, ir.Rem, ir.RemU, ir.DivW, ir.DivUW, ir.RemW, ir.RemUW:
		c.div(in)
	default:
		return fmt.Errorf("unsupported binary op")
	}
	return nil
}

// signExtendW sign-extends the low 32 bits of h in place.
func (c *compiler) signExtendW(h Reg) { c.a.Movsxd(h, h) }

// srcB applies "h = h op B" for a constant or slot B.
func (c *compiler) aluB(op ALU, w bool, h Reg, b ir.Arg, hB Reg) {
	if b.IsConst() {
		if fitsInt32(b.Imm) {
			c.a.AluRI(op, w, h, int32(b.Imm))
			return
		}
		c.a.MovRI(R11, uint64(b.Imm))
		c.a.AluRR(op, w, h, R11)
		return
	}
	c.a.AluRR(op, w, h, hB)
}

func (c *compiler) simpleALU(in *ir.Inst) {
	op, w, comm := aluOf(in.Op)
	if in.Op == ir.And && in.A.IsSlot() && in.B.IsConst() && (in.B.Imm == 0xff || in.B.Imm == 0xffff || in.B.Imm == 0xffffffff) {
		// zext.b, zext.h, zext.w
		hA := c.use(in.A.Slot)
		hD, _ := c.def(in.Dst.Slot)
		switch in.B.Imm {
		case 0xff:
			c.a.Movzx8(hD, hA)
		case 0xffff:
			c.a.Movzx16(hD, hA)
		default:
			c.a.MovRR32(hD, hA)
		}
		return
	}
	if !w && in.A.IsSlot() && in.B.IsConst() && in.B.Imm == 0 && (in.Op == ir.AddW || in.Op == ir.SubW) {
		// sext.w
		hA := c.use(in.A.Slot)
		hD, _ := c.def(in.Dst.Slot)
		c.a.Movsxd(hD, hA)
		return
	}
	hA, hB := NoReg, NoReg
	if in.A.IsSlot() {
		hA = c.use(in.A.Slot)
	}
	if in.B.IsSlot() {
		hB = c.use(in.B.Slot)
	}
	hD, _ := c.def(in.Dst.Slot)
	switch {
	case hA != NoReg && hD == hA:
		c.aluB(op, w, hD, in.B, hB)
	case hB != NoReg && hD == hB:
		if comm && hA != NoReg {
			c.a.AluRR(op, w, hD, hA)
		} else {
			// d = A op d with A const or non-commutative op.
			if hA != NoReg {
				c.a.MovRR(RAX, hA)
			} else {
				c.a.MovRI(RAX, uint64(in.A.Imm))
			}
			c.a.AluRR(op, w, RAX, hB)
			c.a.MovRR(hD, RAX)
		}
	default:
		if hA != NoReg {
			c.a.MovRR(hD, hA)
		} else {
			c.a.MovRI(hD, uint64(in.A.Imm))
		}
		c.aluB(op, w, hD, in.B, hB)
	}
	if !w {
		c.signExtendW(hD)
	}
}

func (c *compiler) shift(in *ir.Inst) {
	var sh Shift
	w := true
	switch in.Op {
	case ir.Shl:
		sh = SHL
	case ir.Shr:
		sh = SHR
	case ir.Sar:
		sh = SAR
	case ir.ShlW:
		sh, w = SHL, false
	case ir.ShrW:
		sh, w = SHR, false
	case ir.SarW:
		sh, w = SAR, false
	}
	if in.B.IsSlot() {
		hB := c.use(in.B.Slot)
		c.a.MovRR32(RCX, hB)
	}
	hA := NoReg
	if in.A.IsSlot() {
		hA = c.use(in.A.Slot)
	}
	hD, _ := c.def(in.Dst.Slot)
	if hD != hA {
		if hA != NoReg {
			c.a.MovRR(hD, hA)
		} else {
			c.a.MovRI(hD, uint64(in.A.Imm))
		}
	}
	mask := uint8(63)
	if !w {
		mask = 31
	}
	if in.B.IsConst() {
		if n := uint8(in.B.Imm) & mask; n != 0 {
			c.a.ShiftI(sh, w, hD, n)
		} else if !w {
			// A 32-bit shift by 0 still truncates.
			c.a.MovRR32(hD, hD)
		}
	} else {
		c.a.ShiftCL(sh, w, hD)
	}
	if !w && !(sh == SHR && in.B.IsConst() && in.B.Imm&31 != 0) {
		// (A logical right shift by 1-31 leaves bit 31 clear: the
		// zero-extended result is already sign-extended.)
		c.signExtendW(hD)
	}
}

func (c *compiler) setLess(in *ir.Inst) {
	hA := c.operand(in.A, RAX)
	if in.B.IsConst() && fitsInt32(in.B.Imm) {
		c.a.AluRI(CMP, true, hA, int32(in.B.Imm))
	} else {
		hB := c.operand(in.B, R11)
		c.a.AluRR(CMP, true, hA, hB)
	}
	hD, _ := c.def(in.Dst.Slot)
	cc := CondL
	if in.Op == ir.SetLtu {
		cc = CondB
	}
	c.a.Setcc(cc, hD)
}

func (c *compiler) mul(in *ir.Inst) {
	w := in.Op == ir.Mul
	if in.B.IsConst() && fitsInt32(in.B.Imm) && in.A.IsSlot() {
		hA := c.use(in.A.Slot)
		hD, _ := c.def(in.Dst.Slot)
		c.a.ImulI(w, hD, hA, int32(in.B.Imm))
	} else {
		a, b := in.A, in.B
		if a.IsConst() {
			a, b = b, a // commutative: keep the constant second
		}
		hA := c.use(a.Slot)
		hB := c.operand(b, R11)
		hD, _ := c.def(in.Dst.Slot)
		switch hD {
		case hA:
			c.a.Imul(w, hD, hB)
		case hB:
			c.a.Imul(w, hD, hA)
		default:
			c.a.MovRR(hD, hA)
			c.a.Imul(w, hD, hB)
		}
	}
	if !w {
		c.signExtendW(c.mustHost(in.Dst.Slot))
	}
}

func (c *compiler) mustHost(slot uint8) Reg { return Reg(c.rc.host[slot]) }

func (c *compiler) mulHigh(in *ir.Inst) {
	hA := c.operand(in.A, RCX)
	hB := c.operand(in.B, R11)
	c.a.MovRR(RAX, hA)
	switch in.Op {
	case ir.MulH:
		c.a.UnaryOp(IMUL, true, hB)
	case ir.MulHU:
		c.a.UnaryOp(MUL, true, hB)
	case ir.MulHSU:
		c.a.UnaryOp(MUL, true, hB)
		// Signed a: subtract b from the high half when a < 0.
		if hA != RCX {
			c.a.MovRR(RCX, hA)
		}
		c.a.ShiftI(SAR, true, RCX, 63)
		c.a.AluRR(AND, true, RCX, hB)
		c.a.AluRR(SUB, true, RDX, RCX)
	}
	hD, _ := c.def(in.Dst.Slot)
	c.a.MovRR(hD, RDX)
}

func (c *compiler) div(in *ir.Inst) {
	var signed, rem, w bool
	switch in.Op {
	case ir.Div:
		signed, w = true, true
	case ir.DivU:
		w = true
	case ir.Rem:
		signed, rem, w = true, true, true
	case ir.RemU:
		rem, w = true, true
	case ir.DivW:
		signed = true
	case ir.RemW:
		signed, rem = true, true
	case ir.RemUW:
		rem = true
	}
	hB := c.operand(in.B, R11)
	c.a.MovRR(RCX, hB)
	hA := c.operand(in.A, RAX)
	if hA != RAX {
		c.a.MovRR(RAX, hA)
	}
	var toDone []int
	c.a.Test(w, RCX, RCX)
	jZero := c.a.Jcc(CondE)
	if signed {
		c.a.AluRI(CMP, w, RCX, -1)
		jDo := c.a.Jcc(CondNE)
		// x / -1 = -x (MIN / -1 wraps to MIN), x % -1 = 0.
		if rem {
			c.a.MovRI(RAX, 0)
		} else {
			c.a.UnaryOp(NEG, w, RAX)
		}
		toDone = append(toDone, c.a.Jmp())
		c.a.PatchRel32(jDo, c.a.Len())
		c.a.Cqo(w)
		c.a.UnaryOp(IDIV, w, RCX)
	} else {
		c.a.MovRI(RDX, 0)
		c.a.UnaryOp(DIV, w, RCX)
	}
	if rem {
		c.a.MovRR(RAX, RDX)
	}
	toDone = append(toDone, c.a.Jmp())
	// Division by zero: quotient all ones, remainder the dividend.
	c.a.PatchRel32(jZero, c.a.Len())
	if !rem {
		c.a.MovRI(RAX, math.MaxUint64)
	}
	for _, j := range toDone {
		c.a.PatchRel32(j, c.a.Len())
	}
	hD, _ := c.def(in.Dst.Slot)
	if w {
		c.a.MovRR(hD, RAX)
	} else {
		c.a.Movsxd(hD, RAX)
	}
}

// tlbEntry leaves in RCX the byte offset of va's (in RAX) TLB entry from
// env, and compares the page of the access's last byte with the tag at
// field (0 Read, 8 Write): the flags then say hit (E).
func (c *compiler) tlbProbe(idx int, size int, field int32) {
	// RCX = ((va >> 12) & (TLBSize-1)) * 32, entries being 32 bytes.
	c.a.MovRR(RCX, RAX)
	c.a.ShiftI(SHR, true, RCX, env.PageBits-5)
	c.a.AluRI(AND, false, RCX, (env.TLBSize-1)<<5)
	if size > 1 {
		c.a.Lea(RDX, M(RAX, int32(size-1)))
	} else {
		c.a.MovRR(RDX, RAX)
	}
	c.a.AluRI(AND, true, RDX, ^int32(env.PageMask))
	c.a.AluRM(CMP, true, RDX, MI(regEnv, RCX, 1, int32(offTLB+idx*tlbTableSize)+field))
}

// addrToRAX computes base + imm into RAX.
func (c *compiler) addrToRAX(base ir.Arg, imm int64) {
	if base.IsConst() {
		c.a.MovRI(RAX, uint64(base.Imm+imm))
		return
	}
	h := c.use(base.Slot)
	if imm == 0 {
		c.a.MovRR(RAX, h)
		return
	}
	if fitsInt32(imm) {
		c.a.Lea(RAX, M(h, int32(imm)))
		return
	}
	c.a.MovRI(RAX, uint64(imm))
	c.a.AluRR(ADD, true, RAX, h)
}

func (c *compiler) load(in *ir.Inst) {
	idx := c.blk.MMUIdx & (env.NumMMUIdx - 1)
	size := int(in.Size)
	if c.b.flat && idx == c.b.flatIdx && fitsInt32(in.Imm-int64(c.b.flatGuest)) && fitsInt32(in.Imm) {
		c.flatLoad(in, idx)
		return
	}
	c.addrToRAX(in.A, in.Imm)
	hD, had := c.def(in.Dst.Slot)
	snap := c.rc.snap()
	except := -1
	if !had {
		except = int(in.Dst.Slot)
	}
	c.tlbProbe(idx, size, 0)
	k := c.addSlow(slowOp{kind: slowLoad, size: in.Size, signed: in.Signed, dst: int(in.Dst.Slot), idx: idx, pc: in.PC, insn: in.Insn})
	resume := 0
	after := c.rc.snap() // mapping after the load: dst is in hD
	c.coldJcc(CondNE, func() {
		snap.writeback(&c.a, true, except)
		c.a.Store(M(regEnv, offAddr), RAX, 8)
		lea := c.slowExit(k)
		c.a.PatchRel32(lea, c.a.Len())
		after.reload(&c.a)
		j := c.a.Jmp()
		c.a.PatchRel32(j, resume)
	})
	c.a.AluRM(ADD, true, RAX, MI(regEnv, RCX, 1, int32(offTLB+idx*tlbTableSize)+24))
	c.a.Load(hD, M(RAX, 0), size, in.Signed)
	resume = c.a.Len()
}

// flatLoad loads from a flat address space: [va + R13], R13 being the host
// address of guest address 0, so the load's address is the guest
// register plus the displacement as in qemu-user. The bounds check
// (va - base < limit) runs beside it, off the load's dependency chain;
// out of range goes to the slow path.
func (c *compiler) flatLoad(in *ir.Inst, idx int) {
	size := int(in.Size)
	guest := int64(c.b.flatGuest)
	var base Reg
	disp := in.Imm
	if in.A.IsConst() {
		c.a.MovRI(RAX, uint64(in.A.Imm+in.Imm))
		base, disp = RAX, 0
	} else {
		base = c.use(in.A.Slot)
	}
	hD, had := c.def(in.Dst.Slot)
	snap := c.rc.snap()
	except := -1
	if !had {
		except = int(in.Dst.Slot)
	}
	c.a.Lea(RCX, M(base, int32(disp-guest)))
	c.a.AluRM(CMP, true, RCX, M(regEnv, offFlatLimit))
	k := c.addSlow(slowOp{kind: slowLoad, size: in.Size, signed: in.Signed, dst: int(in.Dst.Slot), idx: idx, pc: in.PC, insn: in.Insn})
	resume := 0
	after := c.rc.snap()
	c.coldJcc(CondAE, func() {
		snap.writeback(&c.a, true, except)
		c.a.MovRI(RAX, uint64(guest))
		c.a.AluRR(ADD, true, RAX, RCX)
		c.a.Store(M(regEnv, offAddr), RAX, 8)
		lea := c.slowExit(k)
		c.a.PatchRel32(lea, c.a.Len())
		after.reload(&c.a)
		j := c.a.Jmp()
		c.a.PatchRel32(j, resume)
	})
	c.a.Load(hD, MI(base, regFlatBase, 1, int32(disp)), size, in.Signed)
	resume = c.a.Len()
}

func (c *compiler) store(in *ir.Inst) {
	idx := c.blk.MMUIdx & (env.NumMMUIdx - 1)
	size := int(in.Size)
	var hV Reg = NoReg
	if in.B.IsSlot() {
		hV = c.use(in.B.Slot)
	}
	c.addrToRAX(in.A, in.Imm)
	snap := c.rc.snap()
	c.tlbProbe(idx, size, 8)
	k := c.addSlow(slowOp{kind: slowStore, size: in.Size, idx: idx, pc: in.PC, insn: in.Insn})
	resume := 0
	bv := in.B
	c.coldJcc(CondNE, func() {
		// Medium path: the tag matches but for TagCode (the page holds
		// translated code somewhere). If the 64-byte chunk written has
		// no code, this is an ordinary store. (Code is marked 7 bytes
		// early, so the chunk of the first byte decides.)
		tag := MI(regEnv, RCX, 1, int32(offTLB+idx*tlbTableSize)+8)
		c.a.Lea(R11, M(RDX, int32(env.TagCode)))
		c.a.AluRM(CMP, true, R11, tag)
		jslow := c.a.Jcc(CondNE)
		c.a.MovRR(R11, RCX)
		c.a.ShiftI(SHR, true, R11, 1) // 32-byte TLB entries, 16-byte TLBInfo
		c.a.Load(R11, MI(regEnv, R11, 1, int32(offTLBInfo+idx*tlbInfoTable+tlbInfoCode)), 8, false)
		c.a.Test(true, R11, R11)
		jslow2 := c.a.Jcc(CondE)
		c.a.Load(R11, M(R11, codePageMask), 8, false)
		c.a.MovRR(RDX, RAX)
		c.a.ShiftI(SHR, true, RDX, env.ChunkBits)
		c.a.Bt(true, R11, RDX)
		jslow3 := c.a.Jcc(CondB)
		c.a.AluRM(ADD, true, RAX, MI(regEnv, RCX, 1, int32(offTLB+idx*tlbTableSize)+24))
		c.storeValue(hV, bv, size)
		j := c.a.Jmp()
		c.a.PatchRel32(j, resume)
		for _, js := range []int{jslow, jslow2, jslow3} {
			c.a.PatchRel32(js, c.a.Len())
		}
		snap.writeback(&c.a, true, -1)
		c.a.Store(M(regEnv, offAddr), RAX, 8)
		if hV != NoReg {
			c.a.Store(M(regEnv, offVal), hV, 8)
		} else {
			c.a.MovRI(RCX, uint64(bv.Imm))
			c.a.Store(M(regEnv, offVal), RCX, 8)
		}
		lea := c.slowExit(k)
		c.a.PatchRel32(lea, c.a.Len())
		snap.reload(&c.a)
		j = c.a.Jmp()
		c.a.PatchRel32(j, resume)
	})
	c.a.AluRM(ADD, true, RAX, MI(regEnv, RCX, 1, int32(offTLB+idx*tlbTableSize)+24))
	c.storeValue(hV, bv, size)
	resume = c.a.Len()
}

// storeValue stores hV (or the constant b) at [rax].
func (c *compiler) storeValue(hV Reg, b ir.Arg, size int) {
	switch {
	case hV != NoReg:
		c.a.Store(M(RAX, 0), hV, size)
	case size < 8 || fitsInt32(b.Imm):
		c.a.StoreImm(M(RAX, 0), int32(b.Imm), size)
	default:
		c.a.MovRI(RCX, uint64(b.Imm))
		c.a.Store(M(RAX, 0), RCX, size)
	}
}

// fastFP computes a helper's double-precision operation natively (see
// ir.Helper.Fast), with the helper called out of line when the fast path
// does not apply.
// fastOK reports whether fastFP compiles in (else it is a plain call).
func (c *compiler) fastOK(in *ir.Inst) bool {
	hp := in.Helper
	if in.Op != ir.Call || hp.Fast == ir.FastNone || in.Dst.Kind != ir.Slot {
		return false
	}
	if hp.Fast >= ir.FastMAddD && hp.Fast <= ir.FastNMAddD && !c.b.hasFMA {
		return false
	}
	return hp.FastRM == 0 || hp.FastRM == 7 // a static directed mode: always the helper
}

func (c *compiler) fastFP(in *ir.Inst) bool {
	if !c.fastOK(in) {
		return false
	}
	hp := in.Helper
	op := hp.Fast
	fma := op >= ir.FastMAddD && op <= ir.FastNMAddD
	cmp := op >= ir.FastEqD
	args := []ir.Arg{in.A, in.B, in.C}
	nargs := 2
	switch {
	case op == ir.FastSqrtD:
		nargs = 1
	case fma:
		nargs = 3
	}
	var hs [3]Reg
	for i := 0; i < nargs; i++ {
		hs[i] = c.operand(args[i], []Reg{RAX, RCX, RDX}[i])
	}
	hD, had := c.def(in.Dst.Slot)
	snap := c.rc.snap()
	except := -1
	if !had {
		except = int(in.Dst.Slot)
	}
	after := c.rc.snap()
	k := c.addSlow(slowOp{kind: slowCall, dst: int(in.Dst.Slot), pc: in.PC, insn: in.Insn, helper: hp})
	resume := 0
	slow := func() {
		snap.writeback(&c.a, true, except)
		for i := 0; i < nargs; i++ {
			if args[i].IsConst() {
				c.a.MovRI(RAX, uint64(args[i].Imm))
				c.a.Store(M(regEnv, int32(offArgs+8*i)), RAX, 8)
			} else {
				c.a.Store(M(regEnv, int32(offArgs+8*i)), hs[i], 8)
			}
		}
		lea := c.slowExit(k)
		c.a.PatchRel32(lea, c.a.Len())
		after.reload(&c.a)
		j := c.a.Jmp()
		c.a.PatchRel32(j, resume)
	}
	if !cmp {
		// Preconditions: NX accrued, round to nearest even.
		c.a.TestMem8(M(regEnv, offFFlags), env.FFlagNX)
		c.coldJcc(CondE, slow)
	}
	if hp.FastRM == 7 && !cmp {
		c.a.CmpMem8(M(regEnv, offFRM), 0)
		c.coldJcc(CondNE, slow)
	}
	const x0, x1, x2 = XReg(0), XReg(1), XReg(2)
	if fma {
		// xmm0 = c, xmm1 = a, xmm2 = b with the negations applied.
		negA := op == ir.FastNMSubD || op == ir.FastNMAddD
		negC := op == ir.FastMSubD || op == ir.FastNMAddD
		if negA || negC {
			c.a.MovRI(R11, 1<<63)
		}
		if negA {
			c.a.MovRR(RAX, hs[0])
			c.a.AluRR(XOR, true, RAX, R11)
			c.a.MovqXR(x1, RAX)
		} else {
			c.a.MovqXR(x1, hs[0])
		}
		c.a.MovqXR(x2, hs[1])
		if negC {
			c.a.MovRR(RAX, hs[2])
			c.a.AluRR(XOR, true, RAX, R11)
			c.a.MovqXR(x0, RAX)
		} else {
			c.a.MovqXR(x0, hs[2])
		}
		c.a.Vfmadd231sd(x0, x1, x2)
	} else {
		c.a.MovqXR(x0, hs[0])
		if nargs > 1 {
			c.a.MovqXR(x1, hs[1])
		}
		switch op {
		case ir.FastAddD:
			c.a.ScalarSD(AddSD, x0, x1)
		case ir.FastSubD:
			c.a.ScalarSD(SubSD, x0, x1)
		case ir.FastMulD:
			c.a.ScalarSD(MulSD, x0, x1)
		case ir.FastDivD:
			c.a.ScalarSD(DivSD, x0, x1)
		case ir.FastSqrtD:
			c.a.ScalarSD(SqrtSD, x0, x0)
		case ir.FastEqD, ir.FastLtD, ir.FastLeD:
			// Unordered (a NaN operand) takes the helper: it
			// decides the invalid flag.
			var cc Cond
			if op == ir.FastEqD {
				c.a.Ucomisd(x0, x1)
				cc = CondE
			} else {
				c.a.Ucomisd(x1, x0) // b > a, b >= a
				cc = CondA
				if op == ir.FastLeD {
					cc = CondAE
				}
			}
			c.coldJcc(CondP, slow)
			c.a.Setcc(cc, hD)
			resume = c.a.Len()
			return true
		}
	}
	// The result must be normal and above the smallest normal:
	// (bits<<1) - (minNormal<<1 + 2) < (inf<<1) - (minNormal<<1 + 2).
	const lo = 0x0010000000000000<<1 + 2
	const hi = 0x7ff0000000000000 << 1
	c.a.MovqRX(RAX, x0)
	c.a.Lea(RCX, MI(RAX, RAX, 1, 0))
	c.a.MovRI(RDX, lo)
	c.a.AluRR(SUB, true, RCX, RDX)
	c.a.MovRI(RDX, hi-lo)
	c.a.AluRR(CMP, true, RCX, RDX)
	c.coldJcc(CondAE, slow)
	c.a.MovRR(hD, RAX)
	resume = c.a.Len()
	return true
}

// call exits to Go to run a helper; every cached register is written back
// first and reloaded lazily after.
func (c *compiler) call(in *ir.Inst) {
	if c.fastFP(in) {
		return
	}
	for i, arg := range []ir.Arg{in.A, in.B, in.C} {
		dst := M(regEnv, int32(offArgs+8*i))
		switch {
		case arg.Kind == ir.None:
		case arg.IsConst():
			if fitsInt32(arg.Imm) {
				c.a.StoreImm(dst, int32(arg.Imm), 8)
			} else {
				c.a.MovRI(RAX, uint64(arg.Imm))
				c.a.Store(dst, RAX, 8)
			}
		default:
			h := c.use(arg.Slot)
			c.a.Store(dst, h, 8)
		}
	}
	c.cur++ // arguments are read: temporaries that die here need no write-back
	c.flushAll(true)
	c.cur--
	dst := -1
	if in.Dst.Kind == ir.Slot {
		dst = int(in.Dst.Slot)
	}
	k := c.addSlow(slowOp{kind: slowCall, dst: dst, pc: in.PC, insn: in.Insn, helper: in.Helper})
	lea := c.slowExit(k)
	c.a.PatchRel32(lea, c.a.Len())
	c.unpinAll()
	c.forget()
}

func condOf(cc ir.Cond) Cond {
	switch cc {
	case ir.Eq:
		return CondE
	case ir.Ne:
		return CondNE
	case ir.Lt:
		return CondL
	case ir.Ge:
		return CondGE
	case ir.Ltu:
		return CondB
	}
	return CondAE
}

// directStub emits a direct exit's stub. A target on the block's own page
// exits to Go with the address of the jump, which Go then chains to the
// target's code. A target on another page cannot be chained (the page's
// mapping may change), so its stub probes the jump cache first, as QEMU's
// lookup_and_goto_ptr does, and exits only on a miss.
func (c *compiler) directStub(site int, target uint64, slot uint32) {
	code := env.ExitDirect + slot
	c.direct = append(c.direct, directExit{site: site, stub: c.a.Len()})
	samePage := target&^env.PageMask == c.blk.PC&^env.PageMask
	if !samePage {
		e := int32(offJC + 16*int(env.JCIndex(target)))
		c.a.MovRI(RAX, target^jcKey(c.blk.Flags))
		c.a.AluRM(CMP, true, RAX, M(regEnv, e))
		jmiss := c.a.Jcc(CondNE)
		c.a.JmpM(M(regEnv, e+8))
		c.a.PatchRel32(jmiss, c.a.Len())
		c.storePC(target)
		c.a.StoreImm(M(regEnv, offPatch), 0, 8)
		c.exitCode(code)
		return
	}
	c.storePC(target)
	lea := c.a.LeaRIP(RCX)
	c.a.PatchRel32(lea, site)
	c.a.Store(M(regEnv, offPatch), RCX, 8)
	c.exitCode(code)
}

// directJump emits a patchable jump to a direct exit's stub (emitted with
// the cold code).
func (c *compiler) directJump(target uint64, slot uint32) {
	site := c.a.Jmp()
	c.cold = append(c.cold, fixup{at: site, stub: func() { c.directStub(site, target, slot) }})
}

// directJcc is directJump under a condition.
func (c *compiler) directJcc(cc Cond, target uint64, slot uint32) {
	site := c.a.Jcc(cc)
	c.cold = append(c.cold, fixup{at: site, stub: func() { c.directStub(site, target, slot) }})
}

// exitIf compiles a superblock's side exit: the registers are written back
// and the instructions counted only on the way out.
func (c *compiler) exitIf(in *ir.Inst) {
	hA := c.operand(in.A, RAX)
	if in.B.IsConst() && fitsInt32(in.B.Imm) {
		c.a.AluRI(CMP, true, hA, int32(in.B.Imm))
	} else {
		hB := c.operand(in.B, R11)
		c.a.AluRR(CMP, true, hA, hB)
	}
	snap := c.rc.snap()
	slot := c.slot
	c.slot++
	target, n := in.Target, in.Insn
	c.coldJcc(condOf(in.Cond), func() {
		snap.writeback(&c.a, false, -1)
		c.addInstret(n)
		c.directJump(target, slot)
	})
}

func (c *compiler) terminator(in *ir.Inst) error {
	if c.loop.on {
		return c.loopTerminator(in)
	}
	switch in.Op {
	case ir.Goto:
		c.flushAll(false)
		c.addInstret(in.Insn)
		c.directJump(in.Target, c.slot)
		c.slot++
	case ir.Branch:
		hA := c.operand(in.A, RAX)
		if in.B.IsConst() && fitsInt32(in.B.Imm) {
			c.flushAll(false)
			c.addInstret(in.Insn)
			c.a.AluRI(CMP, true, hA, int32(in.B.Imm))
		} else {
			hB := c.operand(in.B, R11)
			c.flushAll(false)
			c.addInstret(in.Insn)
			c.a.AluRR(CMP, true, hA, hB)
		}
		c.directJcc(condOf(in.Cond), in.Target, c.slot)
		c.directJump(in.Next, c.slot+1)
		c.slot += 2
	case ir.Jump:
		if in.A.IsConst() {
			c.a.MovRI(RAX, uint64(in.A.Imm)&^1)
		} else {
			h := c.use(in.A.Slot)
			c.a.MovRR(RAX, h)
			c.a.AluRI(AND, true, RAX, -2)
		}
		c.flushAll(false)
		c.addInstret(in.Insn)
		// Jump cache probe: RCX = index * 16.
		c.a.MovRR(RCX, RAX)
		c.a.ShiftI(SHR, true, RCX, 1)
		c.a.MovRR(RDX, RAX)
		c.a.ShiftI(SHR, true, RDX, env.JCBits+1)
		c.a.AluRR(XOR, true, RCX, RDX)
		c.a.AluRI(AND, false, RCX, 1<<env.JCBits-1)
		c.a.ShiftI(SHL, false, RCX, 4)
		tag := RAX
		if key := jcKey(c.blk.Flags); key != 0 {
			c.a.MovRI(RDX, key)
			c.a.AluRR(XOR, true, RDX, RAX)
			tag = RDX
		}
		c.a.AluRM(CMP, true, tag, MI(regEnv, RCX, 1, int32(offJC)))
		c.coldJcc(CondNE, func() {
			c.a.Store(M(regEnv, offPC), RAX, 8)
			c.exitCode(env.ExitIndirect)
		})
		c.a.JmpM(MI(regEnv, RCX, 1, int32(offJC+8)))
	case ir.Exit:
		c.flushAll(false)
		if in.Reason == ir.ExitException {
			k := c.addSlow(slowOp{kind: slowRaise, pc: in.Target, insn: in.Insn, cause: in.Cause, tval: in.Next})
			c.slowExit(k) // never resumed
			return nil
		}
		c.addInstret(in.Insn)
		c.storePC(in.Target)
		c.exitCode(env.ExitCode(in.Reason))
	default:
		return fmt.Errorf("bad terminator")
	}
	return nil
}

// loopTerminator ends a self-looping block: the back edge keeps the
// registers; the other exit writes them back.
func (c *compiler) loopTerminator(in *ir.Inst) error {
	if in.Op == ir.Goto {
		c.slot++
		c.addInstret(in.Insn)
		j := c.a.Jmp()
		c.a.PatchRel32(j, c.loop.head)
		return nil
	}
	hA := c.operand(in.A, RAX)
	c.addInstret(in.Insn)
	if in.B.IsConst() && fitsInt32(in.B.Imm) {
		c.a.AluRI(CMP, true, hA, int32(in.B.Imm))
	} else {
		hB := c.operand(in.B, R11)
		c.a.AluRR(CMP, true, hA, hB)
	}
	// The back edge is the taken branch; the loop exit falls through.
	j := c.a.Jcc(condOf(in.Cond))
	c.a.PatchRel32(j, c.loop.head)
	slot := c.slot + 1 // the taken slot is the back edge, never an exit
	c.slot += 2
	c.flushAll(false)
	c.directJump(in.Next, slot)
	return nil
}

func (c *compiler) addInstret(n uint16) {
	if n != 0 {
		c.a.AluRI(ADD, true, regInstret, int32(n))
	}
}
