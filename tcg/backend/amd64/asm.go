package amd64

import (
	"encoding/binary"
	"fmt"
)

// Reg is an x86-64 general-purpose register, numbered as in the encoding.
type Reg uint8

const (
	RAX Reg = iota
	RCX
	RDX
	RBX
	RSP
	RBP
	RSI
	RDI
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
	NoReg Reg = 0xff
)

var regNames = [...]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

func (r Reg) String() string {
	if int(r) < len(regNames) {
		return regNames[r]
	}
	return "noreg"
}

// XReg is an SSE register.
type XReg uint8

// Cond is a condition code (the low nibble of Jcc/SETcc/CMOVcc).
type Cond uint8

const (
	CondO  Cond = 0x0
	CondNO Cond = 0x1
	CondB  Cond = 0x2 // unsigned <
	CondAE Cond = 0x3 // unsigned >=
	CondE  Cond = 0x4
	CondNE Cond = 0x5
	CondBE Cond = 0x6 // unsigned <=
	CondA  Cond = 0x7 // unsigned >
	CondS  Cond = 0x8
	CondNS Cond = 0x9
	CondP  Cond = 0xa
	CondNP Cond = 0xb
	CondL  Cond = 0xc // signed <
	CondGE Cond = 0xd
	CondLE Cond = 0xe
	CondG  Cond = 0xf
)

// Invert returns the opposite condition.
func (c Cond) Invert() Cond { return c ^ 1 }

// Mem is a memory operand [Base + Index*Scale + Disp].
type Mem struct {
	Base  Reg
	Index Reg // NoReg for none
	Scale uint8
	Disp  int32
}

// M is [base + disp].
func M(base Reg, disp int32) Mem { return Mem{Base: base, Index: NoReg, Scale: 1, Disp: disp} }

// MI is [base + index*scale + disp].
func MI(base, index Reg, scale uint8, disp int32) Mem {
	return Mem{Base: base, Index: index, Scale: scale, Disp: disp}
}

// Asm accumulates machine code.
type Asm struct {
	B []byte
}

// Len is the current offset.
func (a *Asm) Len() int { return len(a.B) }

func (a *Asm) byte1(b ...byte) { a.B = append(a.B, b...) }

func (a *Asm) imm32(v int32) { a.B = binary.LittleEndian.AppendUint32(a.B, uint32(v)) }

func (a *Asm) imm64(v uint64) { a.B = binary.LittleEndian.AppendUint64(a.B, v) }

// rex emits a REX prefix when needed. w: 64-bit operand; r: ModRM.reg
// extension; x: SIB.index extension; b: ModRM.rm or SIB.base extension.
// force: emit even if all zero (byte registers SPL/BPL/SIL/DIL).
func (a *Asm) rex(w bool, r, x, b Reg, force bool) {
	v := byte(0x40)
	if w {
		v |= 8
	}
	if r != NoReg && r&8 != 0 {
		v |= 4
	}
	if x != NoReg && x&8 != 0 {
		v |= 2
	}
	if b != NoReg && b&8 != 0 {
		v |= 1
	}
	if v != 0x40 || force {
		a.byte1(v)
	}
}

// modrmReg emits ModRM for register-direct operands.
func (a *Asm) modrmReg(reg, rm Reg) { a.byte1(0xc0 | byte(reg&7)<<3 | byte(rm&7)) }

// modrmMem emits ModRM (+SIB, +disp) for a memory operand; reg is the
// ModRM.reg field (a register or an opcode extension).
func (a *Asm) modrmMem(reg byte, m Mem) {
	reg &= 7
	if m.Base == NoReg {
		// [index*scale + disp32] or [disp32]: SIB with no base.
		idx := byte(4)
		if m.Index != NoReg {
			idx = byte(m.Index & 7)
		}
		a.byte1(0x04|reg<<3, scaleBits(m.Scale)<<6|idx<<3|5)
		a.imm32(m.Disp)
		return
	}
	var mod byte
	switch {
	case m.Disp == 0 && m.Base&7 != 5: // [rbp]/[r13] need a displacement
		mod = 0
	case m.Disp >= -128 && m.Disp <= 127:
		mod = 1
	default:
		mod = 2
	}
	if m.Index != NoReg || m.Base&7 == 4 {
		idx := byte(4) // none
		if m.Index != NoReg {
			if m.Index == RSP {
				panic("amd64: rsp cannot be an index")
			}
			idx = byte(m.Index & 7)
		}
		a.byte1(mod<<6|reg<<3|4, scaleBits(m.Scale)<<6|idx<<3|byte(m.Base&7))
	} else {
		a.byte1(mod<<6 | reg<<3 | byte(m.Base&7))
	}
	switch mod {
	case 1:
		a.byte1(byte(int8(m.Disp)))
	case 2:
		a.imm32(m.Disp)
	}
}

func scaleBits(s uint8) byte {
	switch s {
	case 0, 1:
		return 0
	case 2:
		return 1
	case 4:
		return 2
	case 8:
		return 3
	}
	panic(fmt.Sprintf("amd64: bad scale %d", s))
}

// opRM emits [prefixes] REX opcode ModRM for "op reg, r/m" with a
// register rm.
func (a *Asm) opRR(w bool, op []byte, reg, rm Reg) {
	a.rex(w, reg, NoReg, rm, false)
	a.byte1(op...)
	a.modrmReg(reg, rm)
}

func (a *Asm) opRM(w bool, op []byte, reg Reg, m Mem) {
	a.rex(w, reg, m.Index, m.Base, false)
	a.byte1(op...)
	a.modrmMem(byte(reg), m)
}

// ALU operations with their /r opcode (op r/m, r) and /digit.
type ALU uint8

const (
	ADD ALU = iota
	OR
	ADC
	SBB
	AND
	SUB
	XOR
	CMP
)

// MovRR: dst = src (64-bit).
func (a *Asm) MovRR(dst, src Reg) { a.opRR(true, []byte{0x89}, src, dst) }

// MovRR32: dst = zero-extended low 32 bits of src.
func (a *Asm) MovRR32(dst, src Reg) { a.opRR(false, []byte{0x89}, src, dst) }

// MovRI loads a 64-bit constant with the shortest encoding.
func (a *Asm) MovRI(dst Reg, v uint64) {
	switch {
	case v <= 0xffffffff:
		a.rex(false, NoReg, NoReg, dst, false)
		a.byte1(0xb8 + byte(dst&7))
		a.imm32(int32(uint32(v)))
	case int64(v) == int64(int32(v)):
		a.rex(true, NoReg, NoReg, dst, false)
		a.byte1(0xc7)
		a.modrmReg(0, dst)
		a.imm32(int32(v))
	default:
		a.rex(true, NoReg, NoReg, dst, false)
		a.byte1(0xb8 + byte(dst&7))
		a.imm64(v)
	}
}

// Load loads size bytes from m into dst, zero- or sign-extended to 64
// bits.
func (a *Asm) Load(dst Reg, m Mem, size int, signed bool) {
	switch {
	case size == 8:
		a.opRM(true, []byte{0x8b}, dst, m)
	case size == 4 && signed:
		a.opRM(true, []byte{0x63}, dst, m) // movsxd
	case size == 4:
		a.opRM(false, []byte{0x8b}, dst, m)
	case size == 2 && signed:
		a.opRM(true, []byte{0x0f, 0xbf}, dst, m)
	case size == 2:
		a.opRM(false, []byte{0x0f, 0xb7}, dst, m)
	case size == 1 && signed:
		a.opRM(true, []byte{0x0f, 0xbe}, dst, m)
	default:
		a.opRM(false, []byte{0x0f, 0xb6}, dst, m)
	}
}

// Store stores the low size bytes of src to m.
func (a *Asm) Store(m Mem, src Reg, size int) {
	switch size {
	case 8:
		a.opRM(true, []byte{0x89}, src, m)
	case 4:
		a.opRM(false, []byte{0x89}, src, m)
	case 2:
		a.byte1(0x66)
		a.opRM(false, []byte{0x89}, src, m)
	default:
		// Byte registers 4-7 need a REX prefix to mean spl..dil.
		a.rex(false, src, m.Index, m.Base, src >= 4 && src < 8)
		a.byte1(0x88)
		a.modrmMem(byte(src), m)
	}
}

// StoreImm stores a sign-extended 32-bit immediate (size 4 or 8), or the
// low bytes of it (size 1 or 2).
func (a *Asm) StoreImm(m Mem, v int32, size int) {
	switch size {
	case 8, 4:
		a.rex(size == 8, NoReg, m.Index, m.Base, false)
		a.byte1(0xc7)
		a.modrmMem(0, m)
		a.imm32(v)
	case 2:
		a.byte1(0x66)
		a.rex(false, NoReg, m.Index, m.Base, false)
		a.byte1(0xc7)
		a.modrmMem(0, m)
		a.B = binary.LittleEndian.AppendUint16(a.B, uint16(v))
	default:
		a.rex(false, NoReg, m.Index, m.Base, false)
		a.byte1(0xc6)
		a.modrmMem(0, m)
		a.byte1(byte(v))
	}
}

// Lea: dst = address of m.
func (a *Asm) Lea(dst Reg, m Mem) { a.opRM(true, []byte{0x8d}, dst, m) }

// AluRR: dst = dst op src (64-bit, or 32-bit with w false: the result is
// zero-extended).
func (a *Asm) AluRR(op ALU, w bool, dst, src Reg) {
	a.opRR(w, []byte{byte(op)<<3 | 1}, src, dst)
}

// AluRI: dst = dst op sign-extended imm.
func (a *Asm) AluRI(op ALU, w bool, dst Reg, imm int32) {
	a.rex(w, NoReg, NoReg, dst, false)
	if imm >= -128 && imm <= 127 {
		a.byte1(0x83)
		a.modrmReg(Reg(op), dst)
		a.byte1(byte(int8(imm)))
		return
	}
	if dst == RAX {
		a.byte1(byte(op)<<3 | 5) // the short accumulator form
		a.imm32(imm)
		return
	}
	a.byte1(0x81)
	a.modrmReg(Reg(op), dst)
	a.imm32(imm)
}

// AluRM: dst = dst op [m].
func (a *Asm) AluRM(op ALU, w bool, dst Reg, m Mem) {
	a.opRM(w, []byte{byte(op)<<3 | 3}, dst, m)
}

// AluMR: [m] = [m] op src.
func (a *Asm) AluMR(op ALU, w bool, m Mem, src Reg) {
	a.opRM(w, []byte{byte(op)<<3 | 1}, src, m)
}

// AluMI: [m] = [m] op sign-extended imm (w: 64-bit, else 32-bit).
func (a *Asm) AluMI(op ALU, w bool, m Mem, imm int32) {
	a.rex(w, NoReg, m.Index, m.Base, false)
	if imm >= -128 && imm <= 127 {
		a.byte1(0x83)
		a.modrmMem(byte(op), m)
		a.byte1(byte(int8(imm)))
		return
	}
	a.byte1(0x81)
	a.modrmMem(byte(op), m)
	a.imm32(imm)
}

// Test: flags from a & b.
func (a *Asm) Test(w bool, x, y Reg) { a.opRR(w, []byte{0x85}, y, x) }

// Shift kinds (the /digit of D3 and C1).
type Shift uint8

const (
	SHL Shift = 4
	SHR Shift = 5
	SAR Shift = 7
)

// ShiftCL: dst = dst shift cl.
func (a *Asm) ShiftCL(op Shift, w bool, dst Reg) {
	a.rex(w, NoReg, NoReg, dst, false)
	a.byte1(0xd3)
	a.modrmReg(Reg(op), dst)
}

// ShiftI: dst = dst shift imm.
func (a *Asm) ShiftI(op Shift, w bool, dst Reg, n uint8) {
	a.rex(w, NoReg, NoReg, dst, false)
	if n == 1 {
		a.byte1(0xd1)
		a.modrmReg(Reg(op), dst)
		return
	}
	a.byte1(0xc1)
	a.modrmReg(Reg(op), dst)
	a.byte1(n)
}

// Imul: dst = dst * src (low bits).
func (a *Asm) Imul(w bool, dst, src Reg) { a.opRR(w, []byte{0x0f, 0xaf}, dst, src) }

// ImulI: dst = src * imm.
func (a *Asm) ImulI(w bool, dst, src Reg, imm int32) {
	if imm >= -128 && imm <= 127 {
		a.opRR(w, []byte{0x6b}, dst, src)
		a.byte1(byte(int8(imm)))
		return
	}
	a.opRR(w, []byte{0x69}, dst, src)
	a.imm32(imm)
}

// Unary F7 group.
type Unary uint8

const (
	NOT  Unary = 2
	NEG  Unary = 3
	MUL  Unary = 4 // rdx:rax = rax * r (unsigned)
	IMUL Unary = 5 // signed
	DIV  Unary = 6 // rax, rdx = rdx:rax / r
	IDIV Unary = 7
)

// UnaryOp applies an F7-group operation to r.
func (a *Asm) UnaryOp(op Unary, w bool, r Reg) {
	a.rex(w, NoReg, NoReg, r, false)
	a.byte1(0xf7)
	a.modrmReg(Reg(op), r)
}

// Cqo sign-extends rax into rdx (Cdq with w false: eax into edx).
func (a *Asm) Cqo(w bool) {
	if w {
		a.byte1(0x48)
	}
	a.byte1(0x99)
}

// Movsxd: dst = sign-extended low 32 bits of src.
func (a *Asm) Movsxd(dst, src Reg) { a.opRR(true, []byte{0x63}, dst, src) }

// Setcc sets the low byte of dst to the condition and zero-extends it
// (setcc + movzx).
func (a *Asm) Setcc(c Cond, dst Reg) {
	a.rex(false, NoReg, NoReg, dst, dst >= 4 && dst < 8)
	a.byte1(0x0f, 0x90|byte(c))
	a.modrmReg(0, dst)
	a.rex(false, dst, NoReg, dst, dst >= 4 && dst < 8)
	a.byte1(0x0f, 0xb6)
	a.modrmReg(dst, dst)
}

// Cmov: if c, dst = src (64-bit).
func (a *Asm) Cmov(c Cond, dst, src Reg) { a.opRR(true, []byte{0x0f, 0x40 | byte(c)}, dst, src) }

// Jcc emits a conditional jump with a 32-bit displacement and returns the
// offset of the displacement (to patch).
func (a *Asm) Jcc(c Cond) int {
	a.byte1(0x0f, 0x80|byte(c))
	a.imm32(0)
	return len(a.B) - 4
}

// Jmp emits a jump with a 32-bit displacement and returns the offset of the
// displacement.
func (a *Asm) Jmp() int {
	a.byte1(0xe9)
	a.imm32(0)
	return len(a.B) - 4
}

// JmpM jumps to the address stored at m.
func (a *Asm) JmpM(m Mem) {
	a.rex(false, NoReg, m.Index, m.Base, false)
	a.byte1(0xff)
	a.modrmMem(4, m)
}

// JmpR jumps to the address in r.
func (a *Asm) JmpR(r Reg) {
	a.rex(false, NoReg, NoReg, r, false)
	a.byte1(0xff)
	a.modrmReg(4, r)
}

// PatchRel32 points the rel32 at off to target (offsets in a.B).
func (a *Asm) PatchRel32(off, target int) {
	binary.LittleEndian.PutUint32(a.B[off:], uint32(int32(target-(off+4))))
}

// Ret returns.
func (a *Asm) Ret() { a.byte1(0xc3) }

// LeaRIP: dst = address of the byte at code offset target (RIP-relative;
// patched by the caller when target is not yet known: returns the offset
// of the displacement).
func (a *Asm) LeaRIP(dst Reg) int {
	a.rex(true, dst, NoReg, NoReg, false)
	a.byte1(0x8d, 0x05|byte(dst&7)<<3)
	a.imm32(0)
	return len(a.B) - 4
}

// Bt: CF = bit (src mod 64) of dst.
func (a *Asm) Bt(w bool, dst, src Reg) { a.opRR(w, []byte{0x0f, 0xa3}, src, dst) }

// Int3 emits a breakpoint (padding for unreachable code).
func (a *Asm) Int3() { a.byte1(0xcc) }

// SSE2 scalar double operations (F2 0F xx) on XMM registers.

// Sse: op xmm dst, xmm src with a mandatory prefix.
func (a *Asm) sse(prefix byte, w bool, op byte, dst, src Reg) {
	a.byte1(prefix)
	a.rex(w, dst, NoReg, src, false)
	a.byte1(0x0f, op)
	a.modrmReg(dst, src)
}

// MovqXR: xmm dst = r64 src.
func (a *Asm) MovqXR(dst XReg, src Reg) { a.sse(0x66, true, 0x6e, Reg(dst), src) }

// MovqRX: r64 dst = xmm src.
func (a *Asm) MovqRX(dst Reg, src XReg) { a.sse(0x66, true, 0x7e, Reg(src), dst) }

// SD operations.
const (
	SqrtSD byte = 0x51
	AddSD  byte = 0x58
	MulSD  byte = 0x59
	SubSD  byte = 0x5c
	DivSD  byte = 0x5e
)

// ScalarSD: xmm dst = dst op src (sqrt: dst = sqrt(src)).
func (a *Asm) ScalarSD(op byte, dst, src XReg) { a.sse(0xf2, false, op, Reg(dst), Reg(src)) }

// Vfmadd231sd: dst = a*b + dst (VEX.LIG.66.0F38.W1 B9 /r).
func (a *Asm) Vfmadd231sd(dst, x, y XReg) {
	// 3-byte VEX: C4 [R X B m-mmmm] [W vvvv L pp]
	r := byte(1)
	if dst&8 != 0 {
		r = 0
	}
	b := byte(1)
	if y&8 != 0 {
		b = 0
	}
	a.byte1(0xc4, r<<7|1<<6|b<<5|0x02, 1<<7|byte(^x&15)<<3|0<<2|1)
	a.byte1(0xb9)
	a.modrmReg(Reg(dst), Reg(y))
}

// Ucomisd compares two doubles: ZF, PF, CF as for an unsigned compare,
// PF set when unordered.
func (a *Asm) Ucomisd(x, y XReg) { a.sse(0x66, false, 0x2e, Reg(x), Reg(y)) }

// TestMem8 sets flags from [m] & imm (a byte).
func (a *Asm) TestMem8(m Mem, imm uint8) {
	a.rex(false, NoReg, m.Index, m.Base, false)
	a.byte1(0xf6)
	a.modrmMem(0, m)
	a.byte1(imm)
}

// CmpMem8 compares the byte [m] with imm.
func (a *Asm) CmpMem8(m Mem, imm uint8) {
	a.rex(false, NoReg, m.Index, m.Base, false)
	a.byte1(0x80)
	a.modrmMem(7, m)
	a.byte1(imm)
}

// Movzx8: dst = zero-extended low byte of src.
func (a *Asm) Movzx8(dst, src Reg) {
	a.rex(false, dst, NoReg, src, src >= 4 && src < 8)
	a.byte1(0x0f, 0xb6)
	a.modrmReg(dst, src)
}

// Movzx16: dst = zero-extended low 16 bits of src.
func (a *Asm) Movzx16(dst, src Reg) { a.opRR(false, []byte{0x0f, 0xb7}, dst, src) }
