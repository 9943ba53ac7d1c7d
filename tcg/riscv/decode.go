package riscv

import "fmt"

// Op is a decoded riscv instruction.
type Op uint16

// The instructions of RV64GC plus the privileged ones the next layer needs.
// Compressed instructions decode to the base instruction they expand to.
const (
	ILLEGAL Op = iota
	LUI
	AUIPC
	JAL
	JALR
	BEQ
	BNE
	BLT
	BGE
	BLTU
	BGEU
	LB
	LH
	LW
	LD
	LBU
	LHU
	LWU
	SB
	SH
	SW
	SD
	ADDI
	SLTI
	SLTIU
	XORI
	ORI
	ANDI
	SLLI
	SRLI
	SRAI
	ADD
	SUB
	SLL
	SLT
	SLTU
	XOR
	SRL
	SRA
	OR
	AND
	ADDIW
	SLLIW
	SRLIW
	SRAIW
	ADDW
	SUBW
	SLLW
	SRLW
	SRAW
	FENCE
	FENCEI
	ECALL
	EBREAK
	CSRRW
	CSRRS
	CSRRC
	CSRRWI
	CSRRSI
	CSRRCI
	// M
	MUL
	MULH
	MULHSU
	MULHU
	DIV
	DIVU
	REM
	REMU
	MULW
	DIVW
	DIVUW
	REMW
	REMUW
	// A (width in Inst.F64: false .W, true .D)
	LR
	SC
	AMOSWAP
	AMOADD
	AMOXOR
	AMOAND
	AMOOR
	AMOMIN
	AMOMAX
	AMOMINU
	AMOMAXU
	// F and D (format in Inst.F64)
	FLW
	FLD
	FSW
	FSD
	FMADD
	FMSUB
	FNMSUB
	FNMADD
	FADD
	FSUB
	FMUL
	FDIV
	FSQRT
	FSGNJ
	FSGNJN
	FSGNJX
	FMIN
	FMAX
	FCVT_W  // float -> int32
	FCVT_WU // float -> uint32
	FCVT_L  // float -> int64
	FCVT_LU // float -> uint64
	FCVT_FW // int32 -> float
	FCVT_FWU
	FCVT_FL
	FCVT_FLU
	FCVT_SD // double -> single
	FCVT_DS // single -> double
	FMV_XF  // FMV.X.W / FMV.X.D
	FMV_FX  // FMV.W.X / FMV.D.X
	FEQ
	FLT
	FLE
	FCLASS
	// Privileged
	MRET
	SRET
	WFI
	SFENCE_VMA
	numOpcodes
)

var opNames = [...]string{
	ILLEGAL: "illegal", LUI: "lui", AUIPC: "auipc", JAL: "jal", JALR: "jalr",
	BEQ: "beq", BNE: "bne", BLT: "blt", BGE: "bge", BLTU: "bltu", BGEU: "bgeu",
	LB: "lb", LH: "lh", LW: "lw", LD: "ld", LBU: "lbu", LHU: "lhu", LWU: "lwu",
	SB: "sb", SH: "sh", SW: "sw", SD: "sd",
	ADDI: "addi", SLTI: "slti", SLTIU: "sltiu", XORI: "xori", ORI: "ori", ANDI: "andi",
	SLLI: "slli", SRLI: "srli", SRAI: "srai",
	ADD: "add", SUB: "sub", SLL: "sll", SLT: "slt", SLTU: "sltu", XOR: "xor", SRL: "srl", SRA: "sra", OR: "or", AND: "and",
	ADDIW: "addiw", SLLIW: "slliw", SRLIW: "srliw", SRAIW: "sraiw",
	ADDW: "addw", SUBW: "subw", SLLW: "sllw", SRLW: "srlw", SRAW: "sraw",
	FENCE: "fence", FENCEI: "fence.i", ECALL: "ecall", EBREAK: "ebreak",
	CSRRW: "csrrw", CSRRS: "csrrs", CSRRC: "csrrc", CSRRWI: "csrrwi", CSRRSI: "csrrsi", CSRRCI: "csrrci",
	MUL: "mul", MULH: "mulh", MULHSU: "mulhsu", MULHU: "mulhu", DIV: "div", DIVU: "divu", REM: "rem", REMU: "remu",
	MULW: "mulw", DIVW: "divw", DIVUW: "divuw", REMW: "remw", REMUW: "remuw",
	LR: "lr", SC: "sc", AMOSWAP: "amoswap", AMOADD: "amoadd", AMOXOR: "amoxor", AMOAND: "amoand", AMOOR: "amoor",
	AMOMIN: "amomin", AMOMAX: "amomax", AMOMINU: "amominu", AMOMAXU: "amomaxu",
	FLW: "flw", FLD: "fld", FSW: "fsw", FSD: "fsd",
	FMADD: "fmadd", FMSUB: "fmsub", FNMSUB: "fnmsub", FNMADD: "fnmadd",
	FADD: "fadd", FSUB: "fsub", FMUL: "fmul", FDIV: "fdiv", FSQRT: "fsqrt",
	FSGNJ: "fsgnj", FSGNJN: "fsgnjn", FSGNJX: "fsgnjx", FMIN: "fmin", FMAX: "fmax",
	FCVT_W: "fcvt.w", FCVT_WU: "fcvt.wu", FCVT_L: "fcvt.l", FCVT_LU: "fcvt.lu",
	FCVT_FW: "fcvt.f.w", FCVT_FWU: "fcvt.f.wu", FCVT_FL: "fcvt.f.l", FCVT_FLU: "fcvt.f.lu",
	FCVT_SD: "fcvt.s.d", FCVT_DS: "fcvt.d.s", FMV_XF: "fmv.x.f", FMV_FX: "fmv.f.x",
	FEQ: "feq", FLT: "flt", FLE: "fle", FCLASS: "fclass",
	MRET: "mret", SRET: "sret", WFI: "wfi", SFENCE_VMA: "sfence.vma",
}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("op%d", int(o))
}

// Inst is a decoded instruction.
type Inst struct {
	Op                Op
	Rd, Rs1, Rs2, Rs3 uint8
	// RM is the rounding-mode field of FP instructions (7 = dynamic); for
	// FENCE the pred/succ bits.
	RM uint8
	// AQRL holds the aq (bit 1) and rl (bit 0) bits of atomics.
	AQRL uint8
	// F64: double precision (F/D) or doubleword (A).
	F64 bool
	// Len is 2 for a compressed instruction, else 4.
	Len uint8
	Imm int64
	// CSR number for Zicsr.
	CSR uint16
	Raw uint32
}

func (in Inst) String() string {
	return fmt.Sprintf("%v rd=%d rs1=%d rs2=%d rs3=%d imm=%d rm=%d f64=%v len=%d raw=%#x",
		in.Op, in.Rd, in.Rs1, in.Rs2, in.Rs3, in.Imm, in.RM, in.F64, in.Len, in.Raw)
}

func field(x uint32, hi, lo uint) uint32 { return (x >> lo) & (1<<(hi-lo+1) - 1) }

func sext(x uint32, width uint) int64 {
	shift := 64 - width
	return int64(uint64(x)<<shift) >> shift
}

// Decode decodes the instruction whose first parcel is lo16 | hi16<<16 (for
// a compressed instruction only the low 16 bits matter). ILLEGAL means
// reserved or unknown.
func Decode(raw uint32) Inst {
	if raw&3 != 3 {
		in := decodeC(uint16(raw))
		in.Len = 2
		in.Raw = raw & 0xffff
		return in
	}
	in := decode32(raw)
	in.Len = 4
	in.Raw = raw
	return in
}

func decode32(x uint32) Inst {
	rd := uint8(field(x, 11, 7))
	rs1 := uint8(field(x, 19, 15))
	rs2 := uint8(field(x, 24, 20))
	f3 := field(x, 14, 12)
	f7 := field(x, 31, 25)
	immI := sext(field(x, 31, 20), 12)
	immS := sext(field(x, 31, 25)<<5|field(x, 11, 7), 12)
	immB := sext(field(x, 31, 31)<<12|field(x, 7, 7)<<11|field(x, 30, 25)<<5|field(x, 11, 8)<<1, 13)
	immU := int64(int32(x & 0xfffff000))
	immJ := sext(field(x, 31, 31)<<20|field(x, 19, 12)<<12|field(x, 20, 20)<<11|field(x, 30, 21)<<1, 21)
	r := func(op Op) Inst { return Inst{Op: op, Rd: rd, Rs1: rs1, Rs2: rs2} }
	i := func(op Op) Inst { return Inst{Op: op, Rd: rd, Rs1: rs1, Imm: immI} }
	ill := Inst{Op: ILLEGAL}

	switch x & 0x7f {
	case 0x37:
		return Inst{Op: LUI, Rd: rd, Imm: immU}
	case 0x17:
		return Inst{Op: AUIPC, Rd: rd, Imm: immU}
	case 0x6f:
		return Inst{Op: JAL, Rd: rd, Imm: immJ}
	case 0x67:
		if f3 != 0 {
			return ill
		}
		return i(JALR)
	case 0x63:
		ops := [8]Op{BEQ, BNE, ILLEGAL, ILLEGAL, BLT, BGE, BLTU, BGEU}
		if ops[f3] == ILLEGAL {
			return ill
		}
		return Inst{Op: ops[f3], Rs1: rs1, Rs2: rs2, Imm: immB}
	case 0x03:
		ops := [8]Op{LB, LH, LW, LD, LBU, LHU, LWU, ILLEGAL}
		if ops[f3] == ILLEGAL {
			return ill
		}
		return i(ops[f3])
	case 0x23:
		ops := [8]Op{SB, SH, SW, SD, ILLEGAL, ILLEGAL, ILLEGAL, ILLEGAL}
		if ops[f3] == ILLEGAL {
			return ill
		}
		return Inst{Op: ops[f3], Rs1: rs1, Rs2: rs2, Imm: immS}
	case 0x13:
		switch f3 {
		case 0:
			return i(ADDI)
		case 2:
			return i(SLTI)
		case 3:
			return i(SLTIU)
		case 4:
			return i(XORI)
		case 6:
			return i(ORI)
		case 7:
			return i(ANDI)
		case 1:
			if field(x, 31, 26) != 0 {
				return ill
			}
			return Inst{Op: SLLI, Rd: rd, Rs1: rs1, Imm: int64(field(x, 25, 20))}
		case 5:
			switch field(x, 31, 26) {
			case 0:
				return Inst{Op: SRLI, Rd: rd, Rs1: rs1, Imm: int64(field(x, 25, 20))}
			case 0x10:
				return Inst{Op: SRAI, Rd: rd, Rs1: rs1, Imm: int64(field(x, 25, 20))}
			}
			return ill
		}
	case 0x1b:
		switch f3 {
		case 0:
			return i(ADDIW)
		case 1:
			if f7 != 0 {
				return ill
			}
			return Inst{Op: SLLIW, Rd: rd, Rs1: rs1, Imm: int64(rs2)}
		case 5:
			switch f7 {
			case 0:
				return Inst{Op: SRLIW, Rd: rd, Rs1: rs1, Imm: int64(rs2)}
			case 0x20:
				return Inst{Op: SRAIW, Rd: rd, Rs1: rs1, Imm: int64(rs2)}
			}
		}
		return ill
	case 0x33:
		switch f7 {
		case 0:
			return r([8]Op{ADD, SLL, SLT, SLTU, XOR, SRL, OR, AND}[f3])
		case 0x20:
			switch f3 {
			case 0:
				return r(SUB)
			case 5:
				return r(SRA)
			}
		case 1:
			return r([8]Op{MUL, MULH, MULHSU, MULHU, DIV, DIVU, REM, REMU}[f3])
		}
		return ill
	case 0x3b:
		switch f7 {
		case 0:
			switch f3 {
			case 0:
				return r(ADDW)
			case 1:
				return r(SLLW)
			case 5:
				return r(SRLW)
			}
		case 0x20:
			switch f3 {
			case 0:
				return r(SUBW)
			case 5:
				return r(SRAW)
			}
		case 1:
			switch f3 {
			case 0:
				return r(MULW)
			case 4:
				return r(DIVW)
			case 5:
				return r(DIVUW)
			case 6:
				return r(REMW)
			case 7:
				return r(REMUW)
			}
		}
		return ill
	case 0x0f:
		switch f3 {
		case 0:
			// FENCE (any pred/succ/fm; rd and rs1 are reserved
			// hints and ignored, as hardware does).
			return Inst{Op: FENCE, RM: uint8(field(x, 27, 20))}
		case 1:
			return Inst{Op: FENCEI}
		}
		return ill
	case 0x73:
		csr := uint16(field(x, 31, 20))
		switch f3 {
		case 0:
			switch {
			case x == 0x00000073:
				return Inst{Op: ECALL}
			case x == 0x00100073:
				return Inst{Op: EBREAK}
			case x == 0x30200073:
				return Inst{Op: MRET}
			case x == 0x10200073:
				return Inst{Op: SRET}
			case x == 0x10500073:
				return Inst{Op: WFI}
			case f7 == 0x09 && rd == 0:
				return Inst{Op: SFENCE_VMA, Rs1: rs1, Rs2: rs2}
			}
			return ill
		case 1, 2, 3:
			return Inst{Op: [4]Op{0, CSRRW, CSRRS, CSRRC}[f3], Rd: rd, Rs1: rs1, CSR: csr}
		case 5, 6, 7:
			// Rs1 holds the 5-bit immediate.
			return Inst{Op: [8]Op{5: CSRRWI, 6: CSRRSI, 7: CSRRCI}[f3], Rd: rd, Rs1: rs1, Imm: int64(rs1), CSR: csr}
		}
		return ill
	case 0x2f:
		if f3 != 2 && f3 != 3 {
			return ill
		}
		f5 := field(x, 31, 27)
		in := Inst{Rd: rd, Rs1: rs1, Rs2: rs2, AQRL: uint8(field(x, 26, 25)), F64: f3 == 3}
		switch f5 {
		case 0x02:
			if rs2 != 0 {
				return ill
			}
			in.Op = LR
		case 0x03:
			in.Op = SC
		case 0x01:
			in.Op = AMOSWAP
		case 0x00:
			in.Op = AMOADD
		case 0x04:
			in.Op = AMOXOR
		case 0x0c:
			in.Op = AMOAND
		case 0x08:
			in.Op = AMOOR
		case 0x10:
			in.Op = AMOMIN
		case 0x14:
			in.Op = AMOMAX
		case 0x18:
			in.Op = AMOMINU
		case 0x1c:
			in.Op = AMOMAXU
		default:
			return ill
		}
		return in
	case 0x07:
		switch f3 {
		case 2:
			return Inst{Op: FLW, Rd: rd, Rs1: rs1, Imm: immI}
		case 3:
			return Inst{Op: FLD, Rd: rd, Rs1: rs1, Imm: immI, F64: true}
		}
		return ill
	case 0x27:
		switch f3 {
		case 2:
			return Inst{Op: FSW, Rs1: rs1, Rs2: rs2, Imm: immS}
		case 3:
			return Inst{Op: FSD, Rs1: rs1, Rs2: rs2, Imm: immS, F64: true}
		}
		return ill
	case 0x43, 0x47, 0x4b, 0x4f:
		fmt := field(x, 26, 25)
		if fmt > 1 {
			return ill
		}
		op := map[uint32]Op{0x43: FMADD, 0x47: FMSUB, 0x4b: FNMSUB, 0x4f: FNMADD}[x&0x7f]
		return Inst{Op: op, Rd: rd, Rs1: rs1, Rs2: rs2, Rs3: uint8(field(x, 31, 27)), RM: uint8(f3), F64: fmt == 1}
	case 0x53:
		return decodeFP(x, rd, rs1, rs2, f3, f7)
	}
	return ill
}

func decodeFP(x uint32, rd, rs1, rs2 uint8, f3, f7 uint32) Inst {
	ill := Inst{Op: ILLEGAL}
	fmt := f7 & 3
	if fmt > 1 {
		return ill
	}
	in := Inst{Rd: rd, Rs1: rs1, Rs2: rs2, RM: uint8(f3), F64: fmt == 1}
	switch f7 >> 2 {
	case 0x00:
		in.Op = FADD
	case 0x01:
		in.Op = FSUB
	case 0x02:
		in.Op = FMUL
	case 0x03:
		in.Op = FDIV
	case 0x0b:
		if rs2 != 0 {
			return ill
		}
		in.Op = FSQRT
	case 0x04:
		switch f3 {
		case 0:
			in.Op = FSGNJ
		case 1:
			in.Op = FSGNJN
		case 2:
			in.Op = FSGNJX
		default:
			return ill
		}
	case 0x05:
		switch f3 {
		case 0:
			in.Op = FMIN
		case 1:
			in.Op = FMAX
		default:
			return ill
		}
	case 0x08:
		// FCVT.S.D (fmt S, rs2 1) / FCVT.D.S (fmt D, rs2 0)
		switch {
		case fmt == 0 && rs2 == 1:
			in.Op = FCVT_SD
		case fmt == 1 && rs2 == 0:
			in.Op = FCVT_DS
		default:
			return ill
		}
	case 0x18:
		ops := [4]Op{FCVT_W, FCVT_WU, FCVT_L, FCVT_LU}
		if rs2 > 3 {
			return ill
		}
		in.Op = ops[rs2]
	case 0x1a:
		ops := [4]Op{FCVT_FW, FCVT_FWU, FCVT_FL, FCVT_FLU}
		if rs2 > 3 {
			return ill
		}
		in.Op = ops[rs2]
	case 0x1c:
		if rs2 != 0 {
			return ill
		}
		switch f3 {
		case 0:
			in.Op = FMV_XF
		case 1:
			in.Op = FCLASS
		default:
			return ill
		}
	case 0x1e:
		if rs2 != 0 || f3 != 0 {
			return ill
		}
		in.Op = FMV_FX
	case 0x14:
		switch f3 {
		case 0:
			in.Op = FLE
		case 1:
			in.Op = FLT
		case 2:
			in.Op = FEQ
		default:
			return ill
		}
	default:
		return ill
	}
	return in
}

// decodeC expands a compressed instruction (RV64C, with the D-extension
// loads and stores) to its base instruction.
func decodeC(x16 uint16) Inst {
	x := uint32(x16)
	ill := Inst{Op: ILLEGAL}
	f3 := field(x, 15, 13)
	rdp := uint8(field(x, 4, 2)) + 8  // rd' / rs2'
	rs1p := uint8(field(x, 9, 7)) + 8 // rs1' / rd'
	rd := uint8(field(x, 11, 7))
	rs2 := uint8(field(x, 6, 2))
	imm6 := sext(field(x, 12, 12)<<5|field(x, 6, 2), 6)
	switch x & 3 {
	case 0:
		switch f3 {
		case 0: // C.ADDI4SPN
			imm := field(x, 12, 11)<<4 | field(x, 10, 7)<<6 | field(x, 6, 6)<<2 | field(x, 5, 5)<<3
			if imm == 0 {
				return ill
			}
			return Inst{Op: ADDI, Rd: rdp, Rs1: 2, Imm: int64(imm)}
		case 1: // C.FLD
			return Inst{Op: FLD, Rd: rdp, Rs1: rs1p, Imm: int64(field(x, 12, 10)<<3 | field(x, 6, 5)<<6), F64: true}
		case 2: // C.LW
			return Inst{Op: LW, Rd: rdp, Rs1: rs1p, Imm: int64(field(x, 12, 10)<<3 | field(x, 6, 6)<<2 | field(x, 5, 5)<<6)}
		case 3: // C.LD
			return Inst{Op: LD, Rd: rdp, Rs1: rs1p, Imm: int64(field(x, 12, 10)<<3 | field(x, 6, 5)<<6)}
		case 5: // C.FSD
			return Inst{Op: FSD, Rs1: rs1p, Rs2: rdp, Imm: int64(field(x, 12, 10)<<3 | field(x, 6, 5)<<6), F64: true}
		case 6: // C.SW
			return Inst{Op: SW, Rs1: rs1p, Rs2: rdp, Imm: int64(field(x, 12, 10)<<3 | field(x, 6, 6)<<2 | field(x, 5, 5)<<6)}
		case 7: // C.SD
			return Inst{Op: SD, Rs1: rs1p, Rs2: rdp, Imm: int64(field(x, 12, 10)<<3 | field(x, 6, 5)<<6)}
		}
		return ill
	case 1:
		switch f3 {
		case 0: // C.ADDI (C.NOP)
			return Inst{Op: ADDI, Rd: rd, Rs1: rd, Imm: imm6}
		case 1: // C.ADDIW
			if rd == 0 {
				return ill
			}
			return Inst{Op: ADDIW, Rd: rd, Rs1: rd, Imm: imm6}
		case 2: // C.LI
			return Inst{Op: ADDI, Rd: rd, Rs1: 0, Imm: imm6}
		case 3:
			if rd == 2 { // C.ADDI16SP
				imm := sext(field(x, 12, 12)<<9|field(x, 6, 6)<<4|field(x, 5, 5)<<6|field(x, 4, 3)<<7|field(x, 2, 2)<<5, 10)
				if imm == 0 {
					return ill
				}
				return Inst{Op: ADDI, Rd: 2, Rs1: 2, Imm: imm}
			}
			// C.LUI
			imm := sext(field(x, 12, 12)<<17|field(x, 6, 2)<<12, 18)
			if imm == 0 {
				return ill
			}
			return Inst{Op: LUI, Rd: rd, Imm: imm}
		case 4:
			shamt := int64(field(x, 12, 12)<<5 | field(x, 6, 2))
			switch field(x, 11, 10) {
			case 0:
				return Inst{Op: SRLI, Rd: rs1p, Rs1: rs1p, Imm: shamt}
			case 1:
				return Inst{Op: SRAI, Rd: rs1p, Rs1: rs1p, Imm: shamt}
			case 2:
				return Inst{Op: ANDI, Rd: rs1p, Rs1: rs1p, Imm: imm6}
			}
			op := [8]Op{SUB, XOR, OR, AND, SUBW, ADDW, ILLEGAL, ILLEGAL}[field(x, 12, 12)<<2|field(x, 6, 5)]
			if op == ILLEGAL {
				return ill
			}
			return Inst{Op: op, Rd: rs1p, Rs1: rs1p, Rs2: rdp}
		case 5: // C.J
			return Inst{Op: JAL, Rd: 0, Imm: cjImm(x)}
		case 6, 7: // C.BEQZ, C.BNEZ
			imm := sext(field(x, 12, 12)<<8|field(x, 11, 10)<<3|field(x, 6, 5)<<6|field(x, 4, 3)<<1|field(x, 2, 2)<<5, 9)
			op := BEQ
			if f3 == 7 {
				op = BNE
			}
			return Inst{Op: op, Rs1: rs1p, Rs2: 0, Imm: imm}
		}
	case 2:
		switch f3 {
		case 0: // C.SLLI
			return Inst{Op: SLLI, Rd: rd, Rs1: rd, Imm: int64(field(x, 12, 12)<<5 | field(x, 6, 2))}
		case 1: // C.FLDSP
			return Inst{Op: FLD, Rd: rd, Rs1: 2, Imm: int64(field(x, 12, 12)<<5 | field(x, 6, 5)<<3 | field(x, 4, 2)<<6), F64: true}
		case 2: // C.LWSP
			if rd == 0 {
				return ill
			}
			return Inst{Op: LW, Rd: rd, Rs1: 2, Imm: int64(field(x, 12, 12)<<5 | field(x, 6, 4)<<2 | field(x, 3, 2)<<6)}
		case 3: // C.LDSP
			if rd == 0 {
				return ill
			}
			return Inst{Op: LD, Rd: rd, Rs1: 2, Imm: int64(field(x, 12, 12)<<5 | field(x, 6, 5)<<3 | field(x, 4, 2)<<6)}
		case 4:
			if field(x, 12, 12) == 0 {
				if rs2 == 0 { // C.JR
					if rd == 0 {
						return ill
					}
					return Inst{Op: JALR, Rd: 0, Rs1: rd, Imm: 0}
				}
				return Inst{Op: ADD, Rd: rd, Rs1: 0, Rs2: rs2} // C.MV
			}
			if rs2 == 0 {
				if rd == 0 {
					return Inst{Op: EBREAK}
				}
				return Inst{Op: JALR, Rd: 1, Rs1: rd, Imm: 0} // C.JALR
			}
			return Inst{Op: ADD, Rd: rd, Rs1: rd, Rs2: rs2} // C.ADD
		case 5: // C.FSDSP
			return Inst{Op: FSD, Rs1: 2, Rs2: rs2, Imm: int64(field(x, 12, 10)<<3 | field(x, 9, 7)<<6), F64: true}
		case 6: // C.SWSP
			return Inst{Op: SW, Rs1: 2, Rs2: rs2, Imm: int64(field(x, 12, 9)<<2 | field(x, 8, 7)<<6)}
		case 7: // C.SDSP
			return Inst{Op: SD, Rs1: 2, Rs2: rs2, Imm: int64(field(x, 12, 10)<<3 | field(x, 9, 7)<<6)}
		}
	}
	return ill
}

func cjImm(x uint32) int64 {
	return sext(field(x, 12, 12)<<11|field(x, 11, 11)<<4|field(x, 10, 9)<<8|field(x, 8, 8)<<10|
		field(x, 7, 7)<<6|field(x, 6, 6)<<7|field(x, 5, 3)<<1|field(x, 2, 2)<<5, 12)
}
