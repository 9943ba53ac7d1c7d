// Package rvasm encodes riscv64 instructions (RV64GC) for tests: the
// per-instruction tests, the random instruction-sequence generator that is
// compared against QEMU, and self-modifying-code tests. Its encodings are
// checked against the GNU assembler when one is installed.
package rvasm

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"sort"
	"strings"
)

// Format is an instruction's operand layout.
type Format int

const (
	FmtR       Format = iota // rd, rs1, rs2
	FmtI                     // rd, rs1, imm
	FmtLoad                  // rd, rs1, imm   (lw rd, imm(rs1))
	FmtStore                 // rs2, rs1, imm  (sw rs2, imm(rs1))
	FmtBranch                // rs1, rs2, offset
	FmtU                     // rd, imm20
	FmtJ                     // rd, offset
	FmtShift64               // rd, rs1, shamt (0-63)
	FmtShift32               // rd, rs1, shamt (0-31)
	FmtFR                    // rd, rs1, rs2, rm
	FmtFR2                   // rd, rs1, rs2 (no rm: sign injection, min/max, compares)
	FmtF1                    // rd, rs1, rm   (fsqrt, fcvt)
	FmtF1NoRM                // rd, rs1       (fmv, fclass)
	FmtR4                    // rd, rs1, rs2, rs3, rm
	FmtAMO                   // rd, rs2, rs1, aqrl (amoadd.w rd, rs2, (rs1))
	FmtLR                    // rd, rs1, aqrl
	FmtCSR                   // rd, csr, rs1
	FmtCSRI                  // rd, csr, uimm
	FmtNone                  // no operands
)

// Spec describes one instruction.
type Spec struct {
	Name   string
	Match  uint32
	Format Format
}

var specs = []Spec{
	{"lui", 0x37, FmtU}, {"auipc", 0x17, FmtU}, {"jal", 0x6f, FmtJ}, {"jalr", 0x67, FmtI},
	{"beq", 0x63, FmtBranch}, {"bne", 0x1063, FmtBranch}, {"blt", 0x4063, FmtBranch},
	{"bge", 0x5063, FmtBranch}, {"bltu", 0x6063, FmtBranch}, {"bgeu", 0x7063, FmtBranch},
	{"lb", 0x03, FmtLoad}, {"lh", 0x1003, FmtLoad}, {"lw", 0x2003, FmtLoad}, {"ld", 0x3003, FmtLoad},
	{"lbu", 0x4003, FmtLoad}, {"lhu", 0x5003, FmtLoad}, {"lwu", 0x6003, FmtLoad},
	{"sb", 0x23, FmtStore}, {"sh", 0x1023, FmtStore}, {"sw", 0x2023, FmtStore}, {"sd", 0x3023, FmtStore},
	{"addi", 0x13, FmtI}, {"slti", 0x2013, FmtI}, {"sltiu", 0x3013, FmtI}, {"xori", 0x4013, FmtI},
	{"ori", 0x6013, FmtI}, {"andi", 0x7013, FmtI}, {"addiw", 0x1b, FmtI},
	{"slli", 0x1013, FmtShift64}, {"srli", 0x5013, FmtShift64}, {"srai", 0x40005013, FmtShift64},
	{"slliw", 0x101b, FmtShift32}, {"srliw", 0x501b, FmtShift32}, {"sraiw", 0x4000501b, FmtShift32},
	{"add", 0x33, FmtR}, {"sub", 0x40000033, FmtR}, {"sll", 0x1033, FmtR}, {"slt", 0x2033, FmtR},
	{"sltu", 0x3033, FmtR}, {"xor", 0x4033, FmtR}, {"srl", 0x5033, FmtR}, {"sra", 0x40005033, FmtR},
	{"or", 0x6033, FmtR}, {"and", 0x7033, FmtR},
	{"addw", 0x3b, FmtR}, {"subw", 0x4000003b, FmtR}, {"sllw", 0x103b, FmtR}, {"srlw", 0x503b, FmtR},
	{"sraw", 0x4000503b, FmtR},
	{"mul", 0x02000033, FmtR}, {"mulh", 0x02001033, FmtR}, {"mulhsu", 0x02002033, FmtR},
	{"mulhu", 0x02003033, FmtR}, {"div", 0x02004033, FmtR}, {"divu", 0x02005033, FmtR},
	{"rem", 0x02006033, FmtR}, {"remu", 0x02007033, FmtR},
	{"mulw", 0x0200003b, FmtR}, {"divw", 0x0200403b, FmtR}, {"divuw", 0x0200503b, FmtR},
	{"remw", 0x0200603b, FmtR}, {"remuw", 0x0200703b, FmtR},
	{"fence", 0x0ff0000f, FmtNone}, {"fence.i", 0x100f, FmtNone}, {"ecall", 0x73, FmtNone}, {"ebreak", 0x100073, FmtNone},
	{"csrrw", 0x1073, FmtCSR}, {"csrrs", 0x2073, FmtCSR}, {"csrrc", 0x3073, FmtCSR},
	{"csrrwi", 0x5073, FmtCSRI}, {"csrrsi", 0x6073, FmtCSRI}, {"csrrci", 0x7073, FmtCSRI},
	{"flw", 0x2007, FmtLoad}, {"fld", 0x3007, FmtLoad}, {"fsw", 0x2027, FmtStore}, {"fsd", 0x3027, FmtStore},
}

func init() {
	for _, w := range []struct {
		suffix string
		f3     uint32
	}{{".w", 0x2000}, {".d", 0x3000}} {
		specs = append(specs,
			Spec{"lr" + w.suffix, 0x1000002f | w.f3, FmtLR},
			Spec{"sc" + w.suffix, 0x1800002f | w.f3, FmtAMO},
			Spec{"amoswap" + w.suffix, 0x0800002f | w.f3, FmtAMO},
			Spec{"amoadd" + w.suffix, 0x0000002f | w.f3, FmtAMO},
			Spec{"amoxor" + w.suffix, 0x2000002f | w.f3, FmtAMO},
			Spec{"amoand" + w.suffix, 0x6000002f | w.f3, FmtAMO},
			Spec{"amoor" + w.suffix, 0x4000002f | w.f3, FmtAMO},
			Spec{"amomin" + w.suffix, 0x8000002f | w.f3, FmtAMO},
			Spec{"amomax" + w.suffix, 0xa000002f | w.f3, FmtAMO},
			Spec{"amominu" + w.suffix, 0xc000002f | w.f3, FmtAMO},
			Spec{"amomaxu" + w.suffix, 0xe000002f | w.f3, FmtAMO},
		)
	}
	for _, f := range []struct {
		suffix string
		fmt    uint32
	}{{".s", 0}, {".d", 1 << 25}} {
		s, m := f.suffix, f.fmt
		specs = append(specs,
			Spec{"fadd" + s, 0x00000053 | m, FmtFR},
			Spec{"fsub" + s, 0x08000053 | m, FmtFR},
			Spec{"fmul" + s, 0x10000053 | m, FmtFR},
			Spec{"fdiv" + s, 0x18000053 | m, FmtFR},
			Spec{"fsqrt" + s, 0x58000053 | m, FmtF1},
			Spec{"fsgnj" + s, 0x20000053 | m, FmtFR2},
			Spec{"fsgnjn" + s, 0x20001053 | m, FmtFR2},
			Spec{"fsgnjx" + s, 0x20002053 | m, FmtFR2},
			Spec{"fmin" + s, 0x28000053 | m, FmtFR2},
			Spec{"fmax" + s, 0x28001053 | m, FmtFR2},
			Spec{"feq" + s, 0xa0002053 | m, FmtFR2},
			Spec{"flt" + s, 0xa0001053 | m, FmtFR2},
			Spec{"fle" + s, 0xa0000053 | m, FmtFR2},
			Spec{"fclass" + s, 0xe0001053 | m, FmtF1NoRM},
			Spec{"fcvt.w" + s, 0xc0000053 | m, FmtF1},
			Spec{"fcvt.wu" + s, 0xc0100053 | m, FmtF1},
			Spec{"fcvt.l" + s, 0xc0200053 | m, FmtF1},
			Spec{"fcvt.lu" + s, 0xc0300053 | m, FmtF1},
			Spec{"fcvt" + s + ".w", 0xd0000053 | m, FmtF1},
			Spec{"fcvt" + s + ".wu", 0xd0100053 | m, FmtF1},
			Spec{"fcvt" + s + ".l", 0xd0200053 | m, FmtF1},
			Spec{"fcvt" + s + ".lu", 0xd0300053 | m, FmtF1},
			Spec{"fmadd" + s, 0x43 | m, FmtR4},
			Spec{"fmsub" + s, 0x47 | m, FmtR4},
			Spec{"fnmsub" + s, 0x4b | m, FmtR4},
			Spec{"fnmadd" + s, 0x4f | m, FmtR4},
		)
	}
	specs = append(specs,
		Spec{"fmv.x.w", 0xe0000053, FmtF1NoRM},
		Spec{"fmv.w.x", 0xf0000053, FmtF1NoRM},
		Spec{"fmv.x.d", 0xe2000053, FmtF1NoRM},
		Spec{"fmv.d.x", 0xf2000053, FmtF1NoRM},
		Spec{"fcvt.s.d", 0x40100053, FmtF1},
		Spec{"fcvt.d.s", 0x42000053, FmtF1},
	)
	byName = map[string]*Spec{}
	for i := range specs {
		byName[specs[i].Name] = &specs[i]
	}
}

var byName map[string]*Spec

// Lookup returns the spec of an instruction.
func Lookup(name string) (*Spec, bool) {
	s, ok := byName[name]
	return s, ok
}

// Names lists every 32-bit instruction name, sorted.
func Names() []string {
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func u(v int64) uint32 { return uint32(v) }

// Enc encodes a 32-bit instruction; operands are in the order of its
// Format. It panics on an unknown name or a wrong operand count.
func Enc(name string, ops ...int64) uint32 {
	s, ok := byName[name]
	if !ok {
		panic("rvasm: unknown instruction " + name)
	}
	need := map[Format]int{FmtR: 3, FmtI: 3, FmtLoad: 3, FmtStore: 3, FmtBranch: 3, FmtU: 2, FmtJ: 2,
		FmtShift64: 3, FmtShift32: 3, FmtFR: 4, FmtFR2: 3, FmtF1: 3, FmtF1NoRM: 2, FmtR4: 5, FmtAMO: 4,
		FmtLR: 3, FmtCSR: 3, FmtCSRI: 3, FmtNone: 0}[s.Format]
	if len(ops) != need {
		panic(fmt.Sprintf("rvasm: %s takes %d operands, got %d", name, need, len(ops)))
	}
	m := s.Match
	rd := func(v int64) uint32 { return u(v&31) << 7 }
	rs1 := func(v int64) uint32 { return u(v&31) << 15 }
	rs2 := func(v int64) uint32 { return u(v&31) << 20 }
	rm := func(v int64) uint32 { return u(v&7) << 12 }
	switch s.Format {
	case FmtR, FmtFR2:
		return m | rd(ops[0]) | rs1(ops[1]) | rs2(ops[2])
	case FmtI, FmtLoad:
		return m | rd(ops[0]) | rs1(ops[1]) | u(ops[2]&0xfff)<<20
	case FmtStore:
		imm := u(ops[2])
		return m | rs2(ops[0]) | rs1(ops[1]) | (imm&0x1f)<<7 | (imm>>5&0x7f)<<25
	case FmtBranch:
		o := u(ops[2])
		return m | rs1(ops[0]) | rs2(ops[1]) | (o>>11&1)<<7 | (o>>1&0xf)<<8 | (o>>5&0x3f)<<25 | (o>>12&1)<<31
	case FmtU:
		return m | rd(ops[0]) | u(ops[1]&0xfffff)<<12
	case FmtJ:
		o := u(ops[1])
		return m | rd(ops[0]) | (o>>12&0xff)<<12 | (o>>11&1)<<20 | (o>>1&0x3ff)<<21 | (o>>20&1)<<31
	case FmtShift64:
		return m | rd(ops[0]) | rs1(ops[1]) | u(ops[2]&63)<<20
	case FmtShift32:
		return m | rd(ops[0]) | rs1(ops[1]) | u(ops[2]&31)<<20
	case FmtFR:
		return m | rd(ops[0]) | rs1(ops[1]) | rs2(ops[2]) | rm(ops[3])
	case FmtF1:
		return m | rd(ops[0]) | rs1(ops[1]) | rm(ops[2])
	case FmtF1NoRM:
		return m | rd(ops[0]) | rs1(ops[1])
	case FmtR4:
		return m | rd(ops[0]) | rs1(ops[1]) | rs2(ops[2]) | u(ops[3]&31)<<27 | rm(ops[4])
	case FmtAMO:
		return m | rd(ops[0]) | rs2(ops[1]) | rs1(ops[2]) | u(ops[3]&3)<<25
	case FmtLR:
		return m | rd(ops[0]) | rs1(ops[1]) | u(ops[2]&3)<<25
	case FmtCSR, FmtCSRI:
		return m | rd(ops[0]) | u(ops[1]&0xfff)<<20 | rs1(ops[2])
	}
	return m
}

// Program accumulates machine code.
type Program struct {
	Base uint64 // address of the first byte
	Code []byte
}

// PC is the address of the next instruction.
func (p *Program) PC() uint64 { return p.Base + uint64(len(p.Code)) }

// I appends a 32-bit instruction.
func (p *Program) I(name string, ops ...int64) { p.Word(Enc(name, ops...)) }

// Word appends a raw 32-bit instruction.
func (p *Program) Word(w uint32) { p.Code = binary.LittleEndian.AppendUint32(p.Code, w) }

// Half appends a raw 16-bit instruction.
func (p *Program) Half(h uint16) { p.Code = binary.LittleEndian.AppendUint16(p.Code, h) }

// C appends a compressed instruction.
func (p *Program) C(name string, ops ...int64) { p.Half(CEnc(name, ops...)) }

// Li loads a 64-bit constant into rd with lui/addi(w)/slli sequences.
func (p *Program) Li(rd int64, v int64) {
	if v >= -2048 && v < 2048 {
		p.I("addi", rd, 0, v)
		return
	}
	if v == int64(int32(v)) {
		hi := (v + 0x800) >> 12
		lo := v - hi<<12
		p.I("lui", rd, hi&0xfffff)
		if lo != 0 {
			p.I("addiw", rd, rd, lo)
		}
		return
	}
	// Upper part first, then shift in 12 bits at a time.
	lo := v << 52 >> 52 // sign-extended low 12 bits
	hi := (v - lo) >> 12
	p.Li(rd, hi)
	p.I("slli", rd, rd, 12)
	if lo != 0 {
		p.I("addi", rd, rd, lo)
	}
}

// Ret appends `jalr x0, ra, 0`.
func (p *Program) Ret() { p.I("jalr", 0, 1, 0) }

// RandOps returns random operands for a 32-bit instruction (any
// registers, in-range immediates, valid rounding modes).
func RandOps(r *rand.Rand, name string) []int64 {
	s := byName[name]
	reg := func() int64 { return int64(r.Intn(32)) }
	rm := func() int64 { return []int64{0, 1, 2, 3, 4, 7}[r.Intn(6)] }
	imm12 := func() int64 { return int64(r.Intn(4096)) - 2048 }
	switch s.Format {
	case FmtR, FmtFR2:
		return []int64{reg(), reg(), reg()}
	case FmtI, FmtLoad, FmtStore:
		return []int64{reg(), reg(), imm12()}
	case FmtBranch:
		return []int64{reg(), reg(), int64(r.Intn(4096)-2048) * 2}
	case FmtU:
		return []int64{reg(), int64(r.Intn(1 << 20))}
	case FmtJ:
		return []int64{reg(), int64(r.Intn(1<<20)-(1<<19)) * 2}
	case FmtShift64:
		return []int64{reg(), reg(), int64(r.Intn(64))}
	case FmtShift32:
		return []int64{reg(), reg(), int64(r.Intn(32))}
	case FmtFR:
		return []int64{reg(), reg(), reg(), rm()}
	case FmtF1:
		if exactCvt(name) {
			return []int64{reg(), reg(), 0} // gas takes no rounding mode
		}
		return []int64{reg(), reg(), rm()}
	case FmtF1NoRM:
		return []int64{reg(), reg()}
	case FmtR4:
		return []int64{reg(), reg(), reg(), reg(), rm()}
	case FmtAMO:
		if strings.HasPrefix(name, "sc") {
			return []int64{reg(), reg(), reg(), int64(r.Intn(4))}
		}
		return []int64{reg(), reg(), reg(), int64(r.Intn(4))}
	case FmtLR:
		return []int64{reg(), reg(), int64(r.Intn(4))}
	case FmtCSR:
		return []int64{reg(), int64(r.Intn(4096)), reg()}
	case FmtCSRI:
		return []int64{reg(), int64(r.Intn(4096)), int64(r.Intn(32))}
	}
	return nil
}

// RandCOps returns random operands for a compressed form that make a
// valid (not reserved) encoding.
func RandCOps(r *rand.Rand, c CSpec) ([]int64, bool) {
	var ops []int64
	for _, o := range c.Ops {
		switch o {
		case "rd'", "rs1'", "rs2'":
			ops = append(ops, int64(8+r.Intn(8)))
		case "rd", "rs1", "rs2":
			ops = append(ops, int64(1+r.Intn(31)))
		case "imm":
			ops = append(ops, 0)
		}
	}
	if len(c.Ops) == 0 || c.Ops[len(c.Ops)-1] != "imm" {
		return ops, true
	}
	imm := &ops[len(ops)-1]
	switch c.Name {
	case "c.addi4spn":
		*imm = int64(1+r.Intn(255)) * 4
	case "c.fld", "c.ld", "c.fsd", "c.sd":
		*imm = int64(r.Intn(32)) * 8
	case "c.lw", "c.sw":
		*imm = int64(r.Intn(32)) * 4
	case "c.addi", "c.addiw", "c.li", "c.andi":
		*imm = int64(r.Intn(64)) - 32
		if *imm == 0 {
			*imm = 1
		}
	case "c.addi16sp":
		*imm = (int64(r.Intn(63)) - 32) * 16
		if *imm == 0 {
			*imm = 16
		}
	case "c.lui":
		v := int64(r.Intn(63)) - 32
		if v == 0 {
			v = 1
		}
		*imm = v << 12
		if ops[0] == 2 {
			ops[0] = 3
		}
	case "c.srli", "c.srai", "c.slli":
		*imm = int64(1 + r.Intn(63))
	case "c.j":
		*imm = (int64(r.Intn(2048)) - 1024) * 2
	case "c.beqz", "c.bnez":
		*imm = (int64(r.Intn(256)) - 128) * 2
	case "c.fldsp", "c.ldsp", "c.fsdsp", "c.sdsp":
		*imm = int64(r.Intn(64)) * 8
	case "c.lwsp", "c.swsp":
		*imm = int64(r.Intn(64)) * 4
	case "c.jr", "c.jalr", "c.mv", "c.add", "c.sub", "c.xor", "c.or", "c.and", "c.subw", "c.addw", "c.ebreak":
		return ops, true
	}
	return ops, true
}

// exactCvt: conversions that cannot round, which gas writes without a
// rounding mode (encoded as 0).
func exactCvt(name string) bool {
	return name == "fcvt.d.s" || name == "fcvt.d.w" || name == "fcvt.d.wu"
}
