package rvasm

import "fmt"

// CSpec describes a compressed instruction form.
type CSpec struct {
	Name string
	// Ops names the operands in order: "rd'" "rs1'" "rs2'" (x8-x15),
	// "rd" "rs1" "rs2" (any register), "imm" (the immediate in bytes or
	// as a value, as the assembler writes it).
	Ops []string
}

// CForms lists the RV64C forms (with the D-extension loads and stores).
var CForms = []CSpec{
	{"c.addi4spn", []string{"rd'", "imm"}},
	{"c.fld", []string{"rd'", "rs1'", "imm"}},
	{"c.lw", []string{"rd'", "rs1'", "imm"}},
	{"c.ld", []string{"rd'", "rs1'", "imm"}},
	{"c.fsd", []string{"rs2'", "rs1'", "imm"}},
	{"c.sw", []string{"rs2'", "rs1'", "imm"}},
	{"c.sd", []string{"rs2'", "rs1'", "imm"}},
	{"c.addi", []string{"rd", "imm"}},
	{"c.addiw", []string{"rd", "imm"}},
	{"c.li", []string{"rd", "imm"}},
	{"c.addi16sp", []string{"imm"}},
	{"c.lui", []string{"rd", "imm"}},
	{"c.srli", []string{"rd'", "imm"}},
	{"c.srai", []string{"rd'", "imm"}},
	{"c.andi", []string{"rd'", "imm"}},
	{"c.sub", []string{"rd'", "rs2'"}},
	{"c.xor", []string{"rd'", "rs2'"}},
	{"c.or", []string{"rd'", "rs2'"}},
	{"c.and", []string{"rd'", "rs2'"}},
	{"c.subw", []string{"rd'", "rs2'"}},
	{"c.addw", []string{"rd'", "rs2'"}},
	{"c.j", []string{"imm"}},
	{"c.beqz", []string{"rs1'", "imm"}},
	{"c.bnez", []string{"rs1'", "imm"}},
	{"c.slli", []string{"rd", "imm"}},
	{"c.fldsp", []string{"rd", "imm"}},
	{"c.lwsp", []string{"rd", "imm"}},
	{"c.ldsp", []string{"rd", "imm"}},
	{"c.jr", []string{"rs1"}},
	{"c.mv", []string{"rd", "rs2"}},
	{"c.ebreak", nil},
	{"c.jalr", []string{"rs1"}},
	{"c.add", []string{"rd", "rs2"}},
	{"c.fsdsp", []string{"rs2", "imm"}},
	{"c.swsp", []string{"rs2", "imm"}},
	{"c.sdsp", []string{"rs2", "imm"}},
}

func b(v int64, hi, lo uint) uint16 { return uint16(v>>lo) & (1<<(hi-lo+1) - 1) }

// CEnc encodes a compressed instruction. Register operands are full
// register numbers (8-15 for the primed forms); immediates are as the
// assembler takes them (byte offsets, the sign-extended value for c.lui).
func CEnc(name string, ops ...int64) uint16 {
	r3 := func(r int64) uint16 {
		if r < 8 || r > 15 {
			panic(fmt.Sprintf("rvasm: %s: register x%d is not x8-x15", name, r))
		}
		return uint16(r - 8)
	}
	r5 := func(r int64) uint16 { return uint16(r & 31) }
	arg := func(i int) int64 {
		if i >= len(ops) {
			panic("rvasm: " + name + ": missing operand")
		}
		return ops[i]
	}
	switch name {
	case "c.addi4spn":
		imm := arg(1)
		return 0<<13 | b(imm, 5, 4)<<11 | b(imm, 9, 6)<<7 | b(imm, 2, 2)<<6 | b(imm, 3, 3)<<5 | r3(arg(0))<<2 | 0
	case "c.fld", "c.ld", "c.fsd", "c.sd":
		f3 := map[string]uint16{"c.fld": 1, "c.ld": 3, "c.fsd": 5, "c.sd": 7}[name]
		imm := arg(2)
		return f3<<13 | b(imm, 5, 3)<<10 | r3(arg(1))<<7 | b(imm, 7, 6)<<5 | r3(arg(0))<<2
	case "c.lw", "c.sw":
		f3 := map[string]uint16{"c.lw": 2, "c.sw": 6}[name]
		imm := arg(2)
		return f3<<13 | b(imm, 5, 3)<<10 | r3(arg(1))<<7 | b(imm, 2, 2)<<6 | b(imm, 6, 6)<<5 | r3(arg(0))<<2
	case "c.addi", "c.addiw", "c.li":
		f3 := map[string]uint16{"c.addi": 0, "c.addiw": 1, "c.li": 2}[name]
		imm := arg(1)
		return f3<<13 | b(imm, 5, 5)<<12 | r5(arg(0))<<7 | b(imm, 4, 0)<<2 | 1
	case "c.addi16sp":
		imm := arg(0)
		return 3<<13 | b(imm, 9, 9)<<12 | 2<<7 | b(imm, 4, 4)<<6 | b(imm, 6, 6)<<5 | b(imm, 8, 7)<<3 | b(imm, 5, 5)<<2 | 1
	case "c.lui":
		imm := arg(1) >> 12
		return 3<<13 | b(imm, 5, 5)<<12 | r5(arg(0))<<7 | b(imm, 4, 0)<<2 | 1
	case "c.srli", "c.srai", "c.andi":
		f2 := map[string]uint16{"c.srli": 0, "c.srai": 1, "c.andi": 2}[name]
		imm := arg(1)
		return 4<<13 | b(imm, 5, 5)<<12 | f2<<10 | r3(arg(0))<<7 | b(imm, 4, 0)<<2 | 1
	case "c.sub", "c.xor", "c.or", "c.and", "c.subw", "c.addw":
		v := map[string]uint16{"c.sub": 0, "c.xor": 1, "c.or": 2, "c.and": 3, "c.subw": 4, "c.addw": 5}[name]
		return 4<<13 | (v>>2)<<12 | 3<<10 | r3(arg(0))<<7 | (v&3)<<5 | r3(arg(1))<<2 | 1
	case "c.j":
		o := arg(0)
		return 5<<13 | b(o, 11, 11)<<12 | b(o, 4, 4)<<11 | b(o, 9, 8)<<9 | b(o, 10, 10)<<8 | b(o, 6, 6)<<7 |
			b(o, 7, 7)<<6 | b(o, 3, 1)<<3 | b(o, 5, 5)<<2 | 1
	case "c.beqz", "c.bnez":
		f3 := uint16(6)
		if name == "c.bnez" {
			f3 = 7
		}
		o := arg(1)
		return f3<<13 | b(o, 8, 8)<<12 | b(o, 4, 3)<<10 | r3(arg(0))<<7 | b(o, 7, 6)<<5 | b(o, 2, 1)<<3 | b(o, 5, 5)<<2 | 1
	case "c.slli":
		imm := arg(1)
		return 0<<13 | b(imm, 5, 5)<<12 | r5(arg(0))<<7 | b(imm, 4, 0)<<2 | 2
	case "c.fldsp", "c.ldsp":
		f3 := uint16(1)
		if name == "c.ldsp" {
			f3 = 3
		}
		imm := arg(1)
		return f3<<13 | b(imm, 5, 5)<<12 | r5(arg(0))<<7 | b(imm, 4, 3)<<5 | b(imm, 8, 6)<<2 | 2
	case "c.lwsp":
		imm := arg(1)
		return 2<<13 | b(imm, 5, 5)<<12 | r5(arg(0))<<7 | b(imm, 4, 2)<<4 | b(imm, 7, 6)<<2 | 2
	case "c.jr":
		return 4<<13 | r5(arg(0))<<7 | 2
	case "c.mv":
		return 4<<13 | r5(arg(0))<<7 | r5(arg(1))<<2 | 2
	case "c.ebreak":
		return 4<<13 | 1<<12 | 2
	case "c.jalr":
		return 4<<13 | 1<<12 | r5(arg(0))<<7 | 2
	case "c.add":
		return 4<<13 | 1<<12 | r5(arg(0))<<7 | r5(arg(1))<<2 | 2
	case "c.fsdsp", "c.sdsp":
		f3 := uint16(5)
		if name == "c.sdsp" {
			f3 = 7
		}
		imm := arg(1)
		return f3<<13 | b(imm, 5, 3)<<10 | b(imm, 8, 6)<<7 | r5(arg(0))<<2 | 2
	case "c.swsp":
		imm := arg(1)
		return 6<<13 | b(imm, 5, 2)<<9 | b(imm, 7, 6)<<7 | r5(arg(0))<<2 | 2
	}
	panic("rvasm: unknown compressed instruction " + name)
}
