package tcg

import (
	"context"
	"encoding/binary"
	"math"
	"testing"

	"github.com/govmm/govmm/tcg/backend/amd64"
	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/riscv"
	"github.com/govmm/govmm/tcg/riscv/rvasm"
)

const (
	testBase = 0x10000
	testData = 0x18000 // scratch data, in register s11 (x27) at start
	testSize = 0x10000
)

// machine is a CPU on 64 KiB of RAM at testBase.
type machine struct {
	cpu *CPU
	ram []byte
}

// backends lists the engines every guest test runs on.
func backends() []string {
	if amd64.Supported() {
		return []string{BackendClosure, BackendNative}
	}
	return []string{BackendClosure}
}

// forBackends runs f once per backend, as subtests.
func forBackends(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range backends() {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

func newMachine(t testing.TB, backend string) *machine {
	t.Helper()
	ram := make([]byte, testSize)
	mem := env.NewMemory(nil)
	if err := mem.AddRAM(testBase, ram); err != nil {
		t.Fatal(err)
	}
	cpu, err := New(Config{Memory: mem, Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cpu.Close)
	return &machine{cpu: cpu, ram: ram}
}

// load copies code to testBase and points the PC at it.
func (m *machine) load(p *rvasm.Program) {
	copy(m.ram[p.Base-testBase:], p.Code)
	m.cpu.Hart.PC = p.Base
	m.cpu.Hart.SetX(27, testData)
}

// run runs until an event other than a system call.
func (m *machine) run(t testing.TB) Event {
	t.Helper()
	ev, err := m.cpu.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func (m *machine) data64(off int) uint64 {
	return binary.LittleEndian.Uint64(m.ram[testData-testBase+off:])
}

// insnCase runs code (ending in ebreak) with the given registers and checks
// others afterwards.
type insnCase struct {
	name string
	init map[int]uint64 // x registers
	code func(p *rvasm.Program)
	want map[int]uint64
}

func prog(f func(p *rvasm.Program)) *rvasm.Program {
	p := &rvasm.Program{Base: testBase}
	f(p)
	p.I("ebreak")
	return p
}

func runCases(t *testing.T, cases []insnCase) {
	forBackends(t, func(t *testing.T, backend string) { runCasesOn(t, backend, cases) })
}

func runCasesOn(t *testing.T, backend string, cases []insnCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t, backend)
			m.load(prog(c.code))
			for r, v := range c.init {
				m.cpu.Hart.SetX(r, v)
			}
			ev := m.run(t)
			if ev.Kind != EventBreakpoint {
				t.Fatalf("stopped with %v\n%s", ev, m.cpu.Hart.Dump())
			}
			for r, want := range c.want {
				if got := m.cpu.Hart.X(r); got != want {
					t.Errorf("x%d = %#x, want %#x", r, got, want)
				}
			}
		})
	}
}

const (
	minI64 = 1 << 63
	allOne = ^uint64(0)
	minI32 = 0xffffffff80000000 // INT32_MIN sign-extended
)

func u64(v int64) uint64 { return uint64(v) }

func rr(name string) func(p *rvasm.Program) {
	return func(p *rvasm.Program) { p.I(name, 10, 11, 12) }
}

func TestDivisionEdgeCases(t *testing.T) {
	var cases []insnCase
	add := func(op string, a, b, want uint64) {
		cases = append(cases, insnCase{name: op, init: map[int]uint64{11: a, 12: b}, code: rr(op), want: map[int]uint64{10: want}})
	}
	// Division by zero.
	add("div", 7, 0, allOne)
	add("divu", 7, 0, allOne)
	add("rem", 7, 0, 7)
	add("remu", 7, 0, 7)
	add("divw", 7, 0, allOne)
	add("divuw", 7, 0, allOne)
	add("remw", 0xffffffff00000007, 0, 7)        // x%0 = sext32(x)
	add("remuw", 0x12345678_80000000, 0, minI32) // sext of the low word
	add("divw", 5, 0xffffffff_00000000, allOne)  // divisor's low word is 0
	add("remw", 0xffff_ffff_8000_0001, 0x1_0000_0000, 0xffffffff80000001)
	// Overflow.
	add("div", minI64, allOne, minI64)
	add("rem", minI64, allOne, 0)
	add("divw", 0x80000000, allOne, minI32)
	add("remw", 0x80000000, allOne, 0)
	// Signs.
	add("div", u64(-7), 2, u64(-3))
	add("rem", u64(-7), 2, u64(-1))
	add("divu", u64(-7), 2, (1<<63)-4)
	add("remu", u64(-7), 2, 1)
	add("divw", u64(-7), 2, u64(-3))
	add("remw", 7, u64(-2), 1)
	add("divuw", u64(-7), 2, 0x7ffffffc)
	add("remuw", u64(-7), 2, 1)
	// Multiplication.
	add("mulh", minI64, minI64, 1<<62)
	add("mulh", u64(-1), u64(-1), 0)
	add("mulhu", allOne, allOne, allOne-1)
	add("mulhsu", u64(-1), allOne, allOne)
	add("mulhsu", 2, allOne, 1)
	add("mulw", 0x10000, 0x10000, 0)
	add("mulw", 0x7fffffff, 2, u64(-2))
	add("mul", 3, u64(-5), u64(-15))
	runCases(t, cases)
}

func TestShiftsAndWForms(t *testing.T) {
	var cases []insnCase
	add := func(name string, code func(p *rvasm.Program), a, b, want uint64) {
		cases = append(cases, insnCase{name: name, init: map[int]uint64{11: a, 12: b}, code: code, want: map[int]uint64{10: want}})
	}
	imm := func(op string, v int64) func(p *rvasm.Program) {
		return func(p *rvasm.Program) { p.I(op, 10, 11, v) }
	}
	// Register shift amounts use the low 6 (or 5) bits.
	add("sll 65", rr("sll"), 1, 65, 2)
	add("srl 64", rr("srl"), 0x80, 64, 0x80)
	add("sra 127", rr("sra"), minI64, 127, allOne)
	add("sllw 33", rr("sllw"), 1, 33, 2)
	add("sllw to sign", rr("sllw"), 1, 31, minI32)
	add("srlw neg", rr("srlw"), 0xffffffff_80000000, 4, 0x08000000)
	add("srlw 0", rr("srlw"), 0x1_80000000, 0, minI32) // result sign-extended
	add("sraw", rr("sraw"), 0x80000000, 4, 0xfffffffff8000000)
	add("sraw ignores high", rr("sraw"), 0x7fffffff_00000010, 36, 1)
	add("slli 63", imm("slli", 63), 1, 0, minI64)
	add("srli 63", imm("srli", 63), minI64, 0, 1)
	add("srai 63", imm("srai", 63), minI64, 0, allOne)
	add("slliw 31", imm("slliw", 31), 3, 0, minI32)
	add("srliw 0", imm("srliw", 0), 0xffffffff, 0, allOne)
	add("srliw 1", imm("srliw", 1), 0xffffffff, 0, 0x7fffffff)
	add("sraiw 31", imm("sraiw", 31), 0x80000000, 0, allOne)
	// W forms sign-extend the 32-bit result.
	add("addw overflow", rr("addw"), 0x7fffffff, 1, minI32)
	add("addw high ignored", rr("addw"), 0xffffffff_00000001, 0x1_00000001, 2)
	add("subw", rr("subw"), 0, 1, allOne)
	add("addiw", imm("addiw", -1), 0x1_00000000, 0, allOne)
	add("addiw sext.w", imm("addiw", 0), 0x0000000_80000000, 0, minI32)
	add("slt", rr("slt"), u64(-1), 0, 1)
	add("sltu", rr("sltu"), u64(-1), 0, 0)
	add("slti", imm("slti", -1), u64(-2), 0, 1)
	add("sltiu -1", imm("sltiu", -1), 5, 0, 1) // imm sign-extends, then compares unsigned
	add("sltiu seqz", imm("sltiu", 1), 0, 0, 1)
	add("xori not", imm("xori", -1), 0x0f, 0, ^uint64(0x0f))
	add("andi sext", imm("andi", -16), 0xff, 0, 0xf0)
	runCases(t, cases)
}

func TestUpperImmediatesAndJumps(t *testing.T) {
	runCases(t, []insnCase{
		{name: "lui sign-extends", code: func(p *rvasm.Program) { p.I("lui", 10, 0x80000) }, want: map[int]uint64{10: minI32}},
		{name: "auipc", code: func(p *rvasm.Program) { p.I("auipc", 10, 0xfffff) }, want: map[int]uint64{10: testBase - 0x1000}},
		{name: "jal links", code: func(p *rvasm.Program) {
			p.I("jal", 1, 8)       // skip the next instruction
			p.I("addi", 10, 0, 99) // skipped
			p.I("addi", 11, 0, 1)
		}, want: map[int]uint64{1: testBase + 4, 10: 0, 11: 1}},
		{name: "jalr clears bit 0 and links before jumping", code: func(p *rvasm.Program) {
			p.I("auipc", 5, 0)     // x5 = base
			p.I("addi", 5, 5, 17)  // base+17: target base+16 after clearing bit 0
			p.I("jalr", 5, 5, 0)   // rd == rs1: target from the old value
			p.I("addi", 10, 0, 99) // skipped
			p.I("addi", 11, 0, 1)  // base+16
		}, want: map[int]uint64{5: testBase + 12, 10: 0, 11: 1}},
		{name: "branches", code: func(p *rvasm.Program) {
			// x10 counts taken branches: -1 < 1 signed, not unsigned.
			p.I("addi", 5, 0, -1)
			p.I("addi", 6, 0, 1)
			p.I("blt", 5, 6, 8)
			p.I("ebreak")
			p.I("addi", 10, 10, 1)
			p.I("bltu", 5, 6, 8)
			p.I("addi", 10, 10, 2)
			p.I("bge", 6, 5, 8)
			p.I("ebreak")
			p.I("bgeu", 5, 6, 8)
			p.I("ebreak")
			p.I("beq", 5, 5, 8)
			p.I("ebreak")
			p.I("bne", 5, 5, 8)
			p.I("addi", 10, 10, 4)
		}, want: map[int]uint64{10: 7}},
	})
}

func TestLoadsStores(t *testing.T) {
	runCases(t, []insnCase{
		{name: "sign and zero extension", code: func(p *rvasm.Program) {
			p.Li(5, -2) // 0xfff...fe
			p.I("sd", 5, 27, 0)
			p.I("lb", 10, 27, 0)
			p.I("lbu", 11, 27, 0)
			p.I("lh", 12, 27, 0)
			p.I("lhu", 13, 27, 0)
			p.I("lw", 14, 27, 0)
			p.I("lwu", 15, 27, 0)
			p.I("ld", 16, 27, 0)
		}, want: map[int]uint64{10: u64(-2), 11: 0xfe, 12: u64(-2), 13: 0xfffe, 14: u64(-2), 15: 0xfffffffe, 16: u64(-2)}},
		{name: "store widths and misaligned", code: func(p *rvasm.Program) {
			p.Li(5, 0x1122334455667788)
			p.I("sd", 0, 27, 0)
			p.I("sd", 0, 27, 8)
			p.I("sb", 5, 27, 0)
			p.I("sh", 5, 27, 3)
			p.I("sw", 5, 27, 9) // misaligned
			p.I("ld", 10, 27, 0)
			p.I("ld", 11, 27, 8)
			p.I("ld", 12, 27, 5) // misaligned load
		}, want: map[int]uint64{10: 0x0000_0077_8800_0088, 11: 0x0000_0055_6677_8800, 12: 0x5566_7788_0000_0000}},
		{name: "load to x0 still loads", code: func(p *rvasm.Program) {
			p.I("ld", 0, 27, 0)
			p.I("addi", 10, 0, 1)
		}, want: map[int]uint64{0: 0, 10: 1}},
	})
}

func TestCompressedExecution(t *testing.T) {
	runCases(t, []insnCase{
		{name: "alu", code: func(p *rvasm.Program) {
			p.C("c.li", 10, -5)
			p.C("c.addi", 10, 3) // -2
			p.C("c.li", 11, 7)
			p.C("c.slli", 11, 60) // 7<<60
			p.C("c.mv", 12, 11)
			p.C("c.srai", 12, 62) // sign bits
			p.C("c.li", 8, 12)
			p.C("c.li", 9, 10)
			p.C("c.sub", 8, 9)      // 2
			p.C("c.lui", 13, -4096) // 0xfff...f000
			p.C("c.addiw", 13, 0)   // sext.w
			p.C("c.li", 14, 1)
			p.C("c.add", 14, 10) // -1
			p.C("c.andi", 9, -8) // 8
		}, want: map[int]uint64{10: u64(-2), 11: 7 << 60, 12: 1, 8: 2, 13: u64(-4096), 14: allOne, 9: 8}},
		{name: "stack forms", init: map[int]uint64{2: testData}, code: func(p *rvasm.Program) {
			p.C("c.li", 10, -3)
			p.C("c.sdsp", 10, 16)
			p.C("c.swsp", 10, 4)
			p.C("c.ldsp", 11, 16)
			p.C("c.lwsp", 12, 4)
			p.C("c.addi16sp", -32)
			p.C("c.addi4spn", 8, 32) // x8 = sp + 32 = testData
		}, want: map[int]uint64{11: u64(-3), 12: u64(-3), 2: testData - 32, 8: testData}},
		{name: "jumps", code: func(p *rvasm.Program) {
			p.C("c.li", 8, 0)
			p.C("c.beqz", 8, 4) // skip next
			p.C("c.li", 10, 9)
			p.C("c.bnez", 8, 4) // not taken
			p.C("c.li", 11, 1)
			p.C("c.j", 4)
			p.C("c.li", 12, 9)
		}, want: map[int]uint64{10: 0, 11: 1, 12: 0}},
	})
}

func TestAtomicsSingle(t *testing.T) {
	runCases(t, []insnCase{
		{name: "amo", code: func(p *rvasm.Program) {
			p.I("addi", 5, 0, 10)
			p.I("sd", 5, 27, 0)
			p.I("addi", 6, 0, -3)
			p.I("amoadd.d", 10, 6, 27, 0)  // old 10, mem 7
			p.I("amoswap.d", 11, 5, 27, 0) // old 7, mem 10
			p.I("amomin.d", 12, 6, 27, 0)  // old 10, mem -3
			p.I("amomaxu.d", 13, 5, 27, 0) // old -3 (max unsigned stays -3)
			p.I("ld", 14, 27, 0)
			p.Li(7, 0x80000000)
			p.I("sw", 7, 27, 8)
			p.I("addi", 28, 27, 8)
			p.I("amoadd.w", 15, 7, 28, 0) // old sign-extended, new wraps to 0
			p.I("lw", 16, 27, 8)
		}, want: map[int]uint64{10: 10, 11: 7, 12: 10, 13: u64(-3), 14: u64(-3), 15: minI32, 16: 0}},
		{name: "lr/sc", code: func(p *rvasm.Program) {
			p.I("addi", 5, 0, 42)
			p.I("sd", 5, 27, 0)
			p.I("sc.d", 10, 5, 27, 0) // no reservation: fails
			p.I("lr.d", 11, 27, 0)
			p.I("addi", 6, 11, 1)
			p.I("sc.d", 12, 6, 27, 0) // succeeds
			p.I("sc.d", 13, 6, 27, 0) // reservation gone
			p.I("ld", 14, 27, 0)
		}, want: map[int]uint64{10: 1, 11: 42, 12: 0, 13: 1, 14: 43}},
	})
}

func TestCSRs(t *testing.T) {
	runCases(t, []insnCase{
		{name: "fcsr fields", code: func(p *rvasm.Program) {
			p.I("csrrwi", 0, riscv.CSRFrm, 3)
			p.I("csrrsi", 0, riscv.CSRFflags, 5)
			p.I("csrrs", 10, riscv.CSRFcsr, 0)
			p.I("csrrci", 11, riscv.CSRFflags, 1)
			p.I("csrrw", 12, riscv.CSRFcsr, 0)
			p.I("csrrs", 13, riscv.CSRFcsr, 0)
		}, want: map[int]uint64{10: 3<<5 | 5, 11: 5, 12: 3<<5 | 4, 13: 0}},
		{name: "instret counts earlier instructions", code: func(p *rvasm.Program) {
			p.I("addi", 5, 0, 1)
			p.I("addi", 5, 0, 1)
			p.I("csrrs", 10, riscv.CSRInstret, 0)
		}, want: map[int]uint64{10: 2}},
	})
}

func TestIllegalAndExceptions(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		m := newMachine(t, backend)
		p := prog(func(p *rvasm.Program) {
			p.I("addi", 10, 0, 1)
			p.Word(0xffffffff) // illegal
		})
		m.load(p)
		ev := m.run(t)
		if ev.Kind != EventException || ev.Cause != riscv.CauseIllegal || ev.PC != testBase+4 || ev.Tval != 0xffffffff {
			t.Fatalf("got %v", ev)
		}
		if m.cpu.Hart.X(10) != 1 || m.cpu.Hart.Instret != 1 {
			t.Fatalf("state before the fault: x10 %d instret %d", m.cpu.Hart.X(10), m.cpu.Hart.Instret)
		}

		// A load fault in the middle of a block is precise.
		m = newMachine(t, backend)
		m.load(prog(func(p *rvasm.Program) {
			p.I("addi", 10, 0, 1)
			p.I("addi", 11, 0, 2)
			p.I("ld", 12, 0, 8) // address 8: no RAM
			p.I("addi", 13, 0, 3)
		}))
		ev = m.run(t)
		if ev.Kind != EventException || ev.Cause != riscv.CauseLoadAccess || ev.PC != testBase+8 || ev.Tval != 8 {
			t.Fatalf("got %v", ev)
		}
		h := m.cpu.Hart
		if h.X(10) != 1 || h.X(11) != 2 || h.X(13) != 0 || h.Instret != 2 {
			t.Fatalf("imprecise: x10 %d x11 %d x13 %d instret %d", h.X(10), h.X(11), h.X(13), h.Instret)
		}
		// A store fault leaves memory and rd alone.
		m = newMachine(t, backend)
		m.load(prog(func(p *rvasm.Program) {
			p.I("sd", 0, 0, 16)
		}))
		if ev = m.run(t); ev.Cause != riscv.CauseStoreAccess || ev.Tval != 16 {
			t.Fatalf("got %v", ev)
		}
		// A fetch fault.
		m = newMachine(t, backend)
		m.load(prog(func(p *rvasm.Program) {
			p.I("jalr", 0, 0, 0x100) // jump to 0x100: no RAM
		}))
		if ev = m.run(t); ev.Cause != riscv.CauseInsnAccess || ev.PC != 0x100 {
			t.Fatalf("got %v", ev)
		}
	})
}

// FP through the whole pipeline: operands from integer registers, result
// and fflags back.
func TestFPInstructions(t *testing.T) {
	d := func(f float64) uint64 { return math.Float64bits(f) }
	type fcase struct {
		name   string
		op     string
		a, b   uint64
		rm     int64
		want   uint64
		fflags uint64
	}
	nan := uint64(0x7ff8000000000000)
	cases := []fcase{
		{"add exact", "fadd.d", d(1), d(2), 0, d(3), 0},
		{"add inexact rne", "fadd.d", d(1), d(0x1p-53), 0, d(1), riscv.FlagNX},
		{"add tie rmm", "fadd.d", d(1), d(0x1p-53), 4, d(1 + 0x1p-52), riscv.FlagNX},
		{"add rup", "fadd.d", d(1), d(0x1p-60), 3, d(1 + 0x1p-52), riscv.FlagNX},
		{"add rdn", "fadd.d", d(-1), d(-0x1p-60), 2, d(-1 - 0x1p-52), riscv.FlagNX},
		{"add rtz", "fadd.d", d(-1), d(-0x1p-60), 1, d(-1), riscv.FlagNX},
		{"inf-inf", "fsub.d", d(math.Inf(1)), d(math.Inf(1)), 0, nan, riscv.FlagNV},
		{"x-x rdn is -0", "fsub.d", d(3), d(3), 2, d(math.Copysign(0, -1)), 0},
		{"div by zero", "fdiv.d", d(1), d(0), 0, d(math.Inf(1)), riscv.FlagDZ},
		{"0/0", "fdiv.d", d(0), d(0), 0, nan, riscv.FlagNV},
		{"overflow rne", "fmul.d", d(math.MaxFloat64), d(2), 0, d(math.Inf(1)), riscv.FlagOF | riscv.FlagNX},
		{"overflow rtz", "fmul.d", d(math.MaxFloat64), d(2), 1, d(math.MaxFloat64), riscv.FlagOF | riscv.FlagNX},
		{"overflow rdn neg", "fmul.d", d(-math.MaxFloat64), d(2), 2, d(math.Inf(-1)), riscv.FlagOF | riscv.FlagNX},
		{"underflow to 0", "fmul.d", d(0x1p-1074), d(0.5), 0, 0, riscv.FlagUF | riscv.FlagNX},
		{"underflow rup", "fmul.d", d(0x1p-1074), d(0.5), 3, d(0x1p-1074), riscv.FlagUF | riscv.FlagNX},
		{"subnormal exact", "fmul.d", d(0x1p-1022), d(0.5), 0, d(0x1p-1023), 0},
		{"sNaN", "fadd.d", 0x7ff0000000000001, d(1), 0, nan, riscv.FlagNV},
		{"qNaN quiet", "fadd.d", 0xfff8000000000123, d(1), 0, nan, 0},
		{"min -0 +0", "fmin.d", d(0), d(math.Copysign(0, -1)), 0, d(math.Copysign(0, -1)), 0},
		{"max NaN", "fmax.d", nan, d(2), 0, d(2), 0},
		{"max sNaN", "fmax.d", 0x7ff0000000000001, d(2), 0, d(2), riscv.FlagNV},
		{"max NaN NaN", "fmax.d", 0x7ff0000000000001, nan, 0, nan, riscv.FlagNV},
	}
	forBackends(t, func(t *testing.T, backend string) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				m := newMachine(t, backend)
				m.load(prog(func(p *rvasm.Program) {
					p.I("fmv.d.x", 1, 11)
					p.I("fmv.d.x", 2, 12)
					if c.op == "fmin.d" || c.op == "fmax.d" {
						p.I(c.op, 3, 1, 2)
					} else {
						p.I(c.op, 3, 1, 2, c.rm)
					}
					p.I("fmv.x.d", 10, 3)
					p.I("csrrs", 13, riscv.CSRFflags, 0)
				}))
				m.cpu.Hart.SetX(11, c.a)
				m.cpu.Hart.SetX(12, c.b)
				m.run(t)
				if got := m.cpu.Hart.X(10); got != c.want {
					t.Errorf("result %#x (%g), want %#x (%g)", got, math.Float64frombits(got), c.want, math.Float64frombits(c.want))
				}
				if got := m.cpu.Hart.X(13); got != c.fflags {
					t.Errorf("fflags %#x, want %#x", got, c.fflags)
				}
			})
		}
	})
}

func TestNaNBoxing(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		m := newMachine(t, backend)
		m.load(prog(func(p *rvasm.Program) {
			p.Li(5, 0x3f800000) // 1.0f
			p.I("sw", 5, 27, 0)
			p.I("flw", 1, 27, 0)
			p.I("fmv.x.d", 10, 1) // boxed: upper 32 bits ones
			p.I("fmv.d.x", 2, 5)  // not boxed: reads as NaN
			p.I("fadd.s", 3, 2, 1, 0)
			p.I("fmv.x.w", 11, 3)
			p.I("fmv.x.d", 12, 3)
			p.Li(6, 0x80000000)
			p.I("fmv.w.x", 4, 6)
			p.I("fmv.x.w", 13, 4) // sign-extends
			p.I("fsw", 4, 27, 8)
			p.I("lwu", 14, 27, 8)
		}))
		m.run(t)
		h := m.cpu.Hart
		for r, want := range map[int]uint64{10: 0xffffffff3f800000, 11: 0x7fc00000, 12: 0xffffffff7fc00000, 13: minI32, 14: 0x80000000} {
			if got := h.X(r); got != want {
				t.Errorf("x%d = %#x, want %#x", r, got, want)
			}
		}
	})
}

func TestFPConversions(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		d := func(f float64) uint64 { return math.Float64bits(f) }
		type ccase struct {
			op     string
			in     uint64
			rm     int64
			want   uint64
			fflags uint64
		}
		cases := []ccase{
			{"fcvt.w.d", d(2.5), 0, 2, riscv.FlagNX},
			{"fcvt.w.d", d(2.5), 4, 3, riscv.FlagNX},
			{"fcvt.w.d", d(2.5), 3, 3, riscv.FlagNX},
			{"fcvt.w.d", d(-2.5), 2, u64(-3), riscv.FlagNX},
			{"fcvt.w.d", d(-2.5), 1, u64(-2), riscv.FlagNX},
			{"fcvt.w.d", d(math.NaN()), 0, 0x7fffffff, riscv.FlagNV},
			{"fcvt.w.d", d(math.Inf(-1)), 0, minI32, riscv.FlagNV},
			{"fcvt.w.d", d(2147483648), 0, 0x7fffffff, riscv.FlagNV},
			{"fcvt.w.d", d(-2147483648), 0, minI32, 0},
			{"fcvt.wu.d", d(-1), 0, 0, riscv.FlagNV},
			{"fcvt.wu.d", d(-0.5), 1, 0, riscv.FlagNX},
			{"fcvt.wu.d", d(3e9), 0, 0xffffffffb2d05e00, 0},
			{"fcvt.wu.d", d(math.NaN()), 0, allOne, riscv.FlagNV},
			{"fcvt.l.d", d(0x1p63), 0, 1<<63 - 1, riscv.FlagNV},
			{"fcvt.l.d", d(-0x1p63), 0, minI64, 0},
			{"fcvt.lu.d", d(0x1p64), 0, allOne, riscv.FlagNV},
			{"fcvt.lu.d", d(0x1p63), 0, 1 << 63, 0},
			{"fcvt.d.l", u64(-3), 0, d(-3), 0},
			{"fcvt.d.lu", allOne, 0, d(0x1p64), riscv.FlagNX},
			{"fcvt.d.lu", allOne, 1, d(0x1p64 - 2048), riscv.FlagNX},
			{"fcvt.d.w", 0xffffffff, 0, d(-1), 0},
			{"fcvt.d.wu", 0xffffffff, 0, d(4294967295), 0},
			{"fcvt.s.l", 0x7fffffffffffffff, 0, 0xffffffff5f000000, riscv.FlagNX},
			{"fclass.d", d(math.Inf(-1)), 0, 1 << 0, 0},
			{"fclass.d", d(-1), 0, 1 << 1, 0},
			{"fclass.d", 0x800fffffffffffff, 0, 1 << 2, 0},
			{"fclass.d", 1 << 63, 0, 1 << 3, 0},
			{"fclass.d", 0, 0, 1 << 4, 0},
			{"fclass.d", 1, 0, 1 << 5, 0},
			{"fclass.d", d(1), 0, 1 << 6, 0},
			{"fclass.d", d(math.Inf(1)), 0, 1 << 7, 0},
			{"fclass.d", 0x7ff0000000000001, 0, 1 << 8, 0},
			{"fclass.d", 0x7ff8000000000000, 0, 1 << 9, 0},
		}
		for _, c := range cases {
			m := newMachine(t, backend)
			m.load(prog(func(p *rvasm.Program) {
				spec, _ := rvasm.Lookup(c.op)
				toF := c.op == "fcvt.d.l" || c.op == "fcvt.d.lu" || c.op == "fcvt.d.w" || c.op == "fcvt.d.wu" || c.op == "fcvt.s.l"
				if toF {
					p.I(c.op, 1, 11, c.rm)
					p.I("fmv.x.d", 10, 1)
				} else {
					p.I("fmv.d.x", 1, 11)
					if spec.Format == rvasm.FmtF1NoRM {
						p.I(c.op, 10, 1)
					} else {
						p.I(c.op, 10, 1, c.rm)
					}
				}
				p.I("csrrs", 13, riscv.CSRFflags, 0)
			}))
			m.cpu.Hart.SetX(11, c.in)
			m.run(t)
			if got, gf := m.cpu.Hart.X(10), m.cpu.Hart.X(13); got != c.want || gf != c.fflags {
				t.Errorf("%s %#x rm %d: got %#x flags %#x, want %#x flags %#x", c.op, c.in, c.rm, got, gf, c.want, c.fflags)
			}
		}
	})
}

// TestConstantBranches: branches on x0 only (always or never taken) in
// the middle of a block and at its end.
func TestConstantBranches(t *testing.T) {
	runCases(t, []insnCase{
		{name: "beq x0 x0 skips", code: func(p *rvasm.Program) {
			p.I("beq", 0, 0, 8)
			p.I("addi", 10, 0, 1)
			p.I("addi", 11, 0, 2)
		}, want: map[int]uint64{10: 0, 11: 2}},
		{name: "bne x0 x0 falls through", code: func(p *rvasm.Program) {
			p.I("bne", 0, 0, 8)
			p.I("addi", 10, 0, 1)
			p.I("addi", 11, 0, 2)
		}, want: map[int]uint64{10: 1, 11: 2}},
		{name: "bltu x0 x0 then a real branch", code: func(p *rvasm.Program) {
			p.I("addi", 5, 0, 3)
			p.I("bltu", 0, 0, 12)
			p.I("bne", 5, 0, 8)
			p.I("addi", 10, 0, 1)
			p.I("addi", 11, 0, 2)
		}, want: map[int]uint64{10: 0, 11: 2}},
	})
}
