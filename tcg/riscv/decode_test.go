package riscv

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/govmm/govmm/tcg/riscv/rvasm"
)

// opOf maps an assembler name to the decoded op and its F64 flag.
func opOf(t *testing.T, name string) (Op, bool) {
	base, f64 := name, false
	switch {
	case strings.HasSuffix(name, ".d") && (strings.HasPrefix(name, "amo") || strings.HasPrefix(name, "lr") || strings.HasPrefix(name, "sc")):
		base, f64 = strings.TrimSuffix(name, ".d"), true
	case strings.HasSuffix(name, ".w") && (strings.HasPrefix(name, "amo") || strings.HasPrefix(name, "lr") || strings.HasPrefix(name, "sc")):
		base = strings.TrimSuffix(name, ".w")
	}
	fp := map[string]Op{
		"fadd": FADD, "fsub": FSUB, "fmul": FMUL, "fdiv": FDIV, "fsqrt": FSQRT, "fsgnj": FSGNJ, "fsgnjn": FSGNJN,
		"fsgnjx": FSGNJX, "fmin": FMIN, "fmax": FMAX, "feq": FEQ, "flt": FLT, "fle": FLE, "fclass": FCLASS,
		"fmadd": FMADD, "fmsub": FMSUB, "fnmsub": FNMSUB, "fnmadd": FNMADD,
		"fcvt.w": FCVT_W, "fcvt.wu": FCVT_WU, "fcvt.l": FCVT_L, "fcvt.lu": FCVT_LU,
	}
	if strings.HasPrefix(name, "f") && (strings.HasSuffix(name, ".s") || strings.HasSuffix(name, ".d")) && name != "fcvt.s.d" && name != "fcvt.d.s" {
		b := name[:len(name)-2]
		if op, ok := fp[b]; ok {
			return op, strings.HasSuffix(name, ".d")
		}
	}
	switch name {
	case "fcvt.s.w", "fcvt.d.w":
		return FCVT_FW, name[5] == 'd'
	case "fcvt.s.wu", "fcvt.d.wu":
		return FCVT_FWU, name[5] == 'd'
	case "fcvt.s.l", "fcvt.d.l":
		return FCVT_FL, name[5] == 'd'
	case "fcvt.s.lu", "fcvt.d.lu":
		return FCVT_FLU, name[5] == 'd'
	case "fcvt.s.d":
		return FCVT_SD, false
	case "fcvt.d.s":
		return FCVT_DS, true
	case "fmv.x.w":
		return FMV_XF, false
	case "fmv.x.d":
		return FMV_XF, true
	case "fmv.w.x":
		return FMV_FX, false
	case "fmv.d.x":
		return FMV_FX, true
	case "flw":
		return FLW, false
	case "fld":
		return FLD, true
	case "fsw":
		return FSW, false
	case "fsd":
		return FSD, true
	case "fence.i":
		return FENCEI, false
	}
	for i, n := range opNames {
		if n == base {
			return Op(i), f64
		}
	}
	t.Fatalf("no op for %s", name)
	return 0, false
}

// TestDecode32 decodes every instruction with random operands and checks
// the fields.
func TestDecode32(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, name := range rvasm.Names() {
		spec, _ := rvasm.Lookup(name)
		for i := 0; i < 200; i++ {
			ops := rvasm.RandOps(r, name)
			raw := rvasm.Enc(name, ops...)
			got := Decode(raw)
			wantOp, f64 := opOf(t, name)
			if name == "lr.w" || name == "lr.d" {
				ops = []int64{ops[0], ops[1], ops[2]}
			}
			if got.Op != wantOp || got.Len != 4 {
				t.Fatalf("%s %v (%#08x): decoded as %v", name, ops, raw, got)
			}
			if got.F64 != f64 && wantOp != ILLEGAL {
				t.Fatalf("%s %v: F64 = %v", name, ops, got.F64)
			}
			check := func(field string, g, w int64) {
				t.Helper()
				if g != w {
					t.Fatalf("%s %v (%#08x): %s = %d, want %d (%v)", name, ops, raw, field, g, w, got)
				}
			}
			switch spec.Format {
			case rvasm.FmtR, rvasm.FmtFR2:
				check("rd", int64(got.Rd), ops[0])
				check("rs1", int64(got.Rs1), ops[1])
				check("rs2", int64(got.Rs2), ops[2])
			case rvasm.FmtI, rvasm.FmtLoad, rvasm.FmtShift64, rvasm.FmtShift32:
				check("rd", int64(got.Rd), ops[0])
				check("rs1", int64(got.Rs1), ops[1])
				check("imm", got.Imm, ops[2])
			case rvasm.FmtStore:
				check("rs2", int64(got.Rs2), ops[0])
				check("rs1", int64(got.Rs1), ops[1])
				check("imm", got.Imm, ops[2])
			case rvasm.FmtBranch:
				check("rs1", int64(got.Rs1), ops[0])
				check("rs2", int64(got.Rs2), ops[1])
				check("imm", got.Imm, ops[2])
			case rvasm.FmtU:
				check("rd", int64(got.Rd), ops[0])
				check("imm", got.Imm, int64(int32(uint32(ops[1])<<12)))
			case rvasm.FmtJ:
				check("rd", int64(got.Rd), ops[0])
				check("imm", got.Imm, ops[1])
			case rvasm.FmtFR:
				check("rd", int64(got.Rd), ops[0])
				check("rs1", int64(got.Rs1), ops[1])
				check("rs2", int64(got.Rs2), ops[2])
				check("rm", int64(got.RM), ops[3])
			case rvasm.FmtF1:
				check("rd", int64(got.Rd), ops[0])
				check("rs1", int64(got.Rs1), ops[1])
				check("rm", int64(got.RM), ops[2])
			case rvasm.FmtF1NoRM:
				check("rd", int64(got.Rd), ops[0])
				check("rs1", int64(got.Rs1), ops[1])
			case rvasm.FmtR4:
				check("rd", int64(got.Rd), ops[0])
				check("rs1", int64(got.Rs1), ops[1])
				check("rs2", int64(got.Rs2), ops[2])
				check("rs3", int64(got.Rs3), ops[3])
				check("rm", int64(got.RM), ops[4])
			case rvasm.FmtAMO:
				check("rd", int64(got.Rd), ops[0])
				check("rs2", int64(got.Rs2), ops[1])
				check("rs1", int64(got.Rs1), ops[2])
				check("aqrl", int64(got.AQRL), ops[3])
			case rvasm.FmtLR:
				check("rd", int64(got.Rd), ops[0])
				check("rs1", int64(got.Rs1), ops[1])
			case rvasm.FmtCSR:
				check("rd", int64(got.Rd), ops[0])
				check("csr", int64(got.CSR), ops[1])
				check("rs1", int64(got.Rs1), ops[2])
			case rvasm.FmtCSRI:
				check("rd", int64(got.Rd), ops[0])
				check("csr", int64(got.CSR), ops[1])
				check("uimm", got.Imm, ops[2])
			}
		}
	}
}

// expand gives the 32-bit instruction a compressed form stands for.
func expand(name string, o []int64) (string, []int64) {
	switch name {
	case "c.addi4spn":
		return "addi", []int64{o[0], 2, o[1]}
	case "c.fld", "c.lw", "c.ld", "c.fsd", "c.sw", "c.sd":
		return name[2:], []int64{o[0], o[1], o[2]}
	case "c.addi", "c.addiw":
		return name[2:], []int64{o[0], o[0], o[1]}
	case "c.li":
		return "addi", []int64{o[0], 0, o[1]}
	case "c.addi16sp":
		return "addi", []int64{2, 2, o[0]}
	case "c.lui":
		return "lui", []int64{o[0], (o[1] >> 12) & 0xfffff}
	case "c.srli", "c.srai", "c.andi", "c.slli":
		return name[2:], []int64{o[0], o[0], o[1]}
	case "c.sub", "c.xor", "c.or", "c.and", "c.subw", "c.addw":
		return name[2:], []int64{o[0], o[0], o[1]}
	case "c.j":
		return "jal", []int64{0, o[0]}
	case "c.beqz":
		return "beq", []int64{o[0], 0, o[1]}
	case "c.bnez":
		return "bne", []int64{o[0], 0, o[1]}
	case "c.fldsp":
		return "fld", []int64{o[0], 2, o[1]}
	case "c.lwsp":
		return "lw", []int64{o[0], 2, o[1]}
	case "c.ldsp":
		return "ld", []int64{o[0], 2, o[1]}
	case "c.jr":
		return "jalr", []int64{0, o[0], 0}
	case "c.jalr":
		return "jalr", []int64{1, o[0], 0}
	case "c.mv":
		return "add", []int64{o[0], 0, o[1]}
	case "c.add":
		return "add", []int64{o[0], o[0], o[1]}
	case "c.ebreak":
		return "ebreak", nil
	case "c.fsdsp":
		return "fsd", []int64{o[0], 2, o[1]}
	case "c.swsp":
		return "sw", []int64{o[0], 2, o[1]}
	case "c.sdsp":
		return "sd", []int64{o[0], 2, o[1]}
	}
	panic(name)
}

// TestDecodeCompressed checks every compressed form against the decoding
// of the instruction it expands to (both encoders are checked against the
// GNU assembler in rvasm).
func TestDecodeCompressed(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, c := range rvasm.CForms {
		for i := 0; i < 500; i++ {
			ops, _ := rvasm.RandCOps(r, c)
			h := rvasm.CEnc(c.Name, ops...)
			got := Decode(uint32(h))
			name, xops := expand(c.Name, ops)
			want := Decode(rvasm.Enc(name, xops...))
			if got.Len != 2 {
				t.Fatalf("%s %v: length %d", c.Name, ops, got.Len)
			}
			got.Len, got.Raw, want.Len, want.Raw = 0, 0, 0, 0
			if got != want {
				t.Fatalf("%s %v (%#04x):\n got %v\nwant %v", c.Name, ops, h, got, want)
			}
		}
	}
}

// TestDecodeCompressedReserved checks that reserved compressed encodings
// are illegal.
func TestDecodeCompressedReserved(t *testing.T) {
	for _, h := range []uint16{
		0x0000,         // all zeros (c.addi4spn with imm 0)
		0x4002,         // c.lwsp x0
		0x6002,         // c.ldsp x0
		0x2001,         // c.addiw x0
		0x6101,         // c.addi16sp 0
		0x6181,         // c.lui x3, 0
		0x8002,         // c.jr x0
		0x9c41 | 2<<5,  // reserved c.subw/addw slot (1 00 10)
		0x9c41 | 3<<5,  // (1 00 11)
		0x8000 | 4<<13, // quadrant 0, funct3 4: reserved
	} {
		if in := Decode(uint32(h)); in.Op != ILLEGAL {
			t.Errorf("%#04x decoded as %v, want illegal", h, in)
		}
	}
}
