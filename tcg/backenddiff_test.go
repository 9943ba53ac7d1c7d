package tcg

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/govmm/govmm/tcg/backend/amd64"
	"github.com/govmm/govmm/tcg/backend/closure"
	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/ir"
)

// Backend conformance: random IR blocks (every ALU op on every operand
// shape, loads and stores of every width, side exits, all terminators)
// run on a reference interpreter of the IR, on the closure backend and on
// the native backend, and the guest state after the block is compared.
// Failures name the seed.

const irScratch = testData // 4 KiB of RAM the blocks load from and store to

var irBinOps = []ir.Op{ir.Add, ir.Sub, ir.And, ir.Or, ir.Xor, ir.Shl, ir.Shr, ir.Sar, ir.SetLt, ir.SetLtu,
	ir.Mul, ir.MulH, ir.MulHU, ir.MulHSU, ir.Div, ir.DivU, ir.Rem, ir.RemU,
	ir.AddW, ir.SubW, ir.ShlW, ir.ShrW, ir.SarW, ir.MulW, ir.DivW, ir.DivUW, ir.RemW, ir.RemUW}

var irValues = []uint64{0, 1, 2, 31, 32, 63, 64, 0xff, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 63, 1<<63 - 1, ^uint64(0), ^uint64(1)}

func randIRValue(r *rand.Rand) uint64 {
	if r.Intn(2) == 0 {
		return irValues[r.Intn(len(irValues))]
	}
	return r.Uint64() >> uint(r.Intn(64))
}

// randBlock builds a block using slots 1-12 (registers) and temporaries.
func randBlock(r *rand.Rand) *ir.Block {
	b := &ir.Block{PC: testBase, MMUIdx: 0}
	n := 5 + r.Intn(25)
	b.NumInsns = n + 1
	slot := func() ir.Arg { return ir.S(1 + r.Intn(12)) }
	arg := func() ir.Arg {
		switch r.Intn(4) {
		case 0:
			return ir.CU(randIRValue(r))
		case 1:
			return ir.C(int64(r.Intn(64)))
		}
		return slot()
	}
	pc := uint64(testBase)
	for i := 0; i < n; i++ {
		pc += 4
		in := ir.Inst{PC: pc, Insn: uint16(i)}
		switch k := r.Intn(20); {
		case k < 12:
			in.Op = irBinOps[r.Intn(len(irBinOps))]
			in.Dst, in.A, in.B = slot(), arg(), arg()
			if r.Intn(5) == 0 {
				in.Dst = ir.S(ir.TempBase + r.Intn(3))
				b.Insts = append(b.Insts, in)
				// Use the temporary right away.
				in2 := ir.Inst{Op: ir.Add, Dst: slot(), A: in.Dst, B: arg(), PC: pc, Insn: uint16(i)}
				b.Insts = append(b.Insts, in2)
				continue
			}
		case k < 13:
			in.Op = ir.Mov
			in.Dst, in.A = slot(), arg()
		case k < 16:
			in.Op = ir.Load
			in.Size = []uint8{1, 2, 4, 8}[r.Intn(4)]
			in.Signed = r.Intn(2) == 0
			in.Dst = slot()
			in.A = ir.S(13) // the scratch address, never written
			in.Imm = int64(r.Intn(4096 - 8))
			if r.Intn(6) == 0 {
				in.A = ir.CU(irScratch)
			}
		case k < 19:
			in.Op = ir.Store
			in.Size = []uint8{1, 2, 4, 8}[r.Intn(4)]
			in.A = ir.S(13)
			in.B = arg()
			in.Imm = int64(r.Intn(4096 - 8))
		default:
			in.Op = ir.ExitIf
			in.Cond = ir.Cond(r.Intn(6))
			in.A, in.B = arg(), arg()
			in.Target = 0x1000 + uint64(i)*4
			in.Insn = uint16(i + 1)
		}
		b.Insts = append(b.Insts, in)
	}
	term := ir.Inst{PC: pc + 4, Insn: uint16(n + 1)}
	switch r.Intn(5) {
	case 4:
		// A counted loop back to the block's own start: slot 14 (set by
		// the caller, written by nothing else) counts iterations down, so
		// the backends' in-block looping runs with the side exits above.
		dec := ir.Inst{Op: ir.Sub, Dst: ir.S(14), A: ir.S(14), B: ir.C(1), PC: testBase, Insn: 0}
		b.Insts = append([]ir.Inst{dec}, b.Insts...)
		term.Op, term.Cond, term.A, term.B = ir.Branch, ir.Ne, ir.S(14), ir.C(0)
		term.Target, term.Next = testBase, pc+8
	case 0:
		term.Op, term.Target = ir.Goto, 0x2000
	case 1:
		term.Op, term.Cond, term.A, term.B = ir.Branch, ir.Cond(r.Intn(6)), arg(), arg()
		term.Target, term.Next = 0x3000, 0x3004
	case 2:
		term.Op, term.A = ir.Jump, arg()
	default:
		term.Op, term.Reason, term.Target = ir.Exit, ir.ExitSyscall, pc+4
	}
	b.Insts = append(b.Insts, term)
	return b
}

// interpret runs b on s: the IR's reference semantics.
func interpret(b *ir.Block, s *env.State) uint32 {
	val := func(a ir.Arg) uint64 {
		if a.IsConst() {
			return uint64(a.Imm)
		}
		return s.R[a.Slot]
	}
	slot := uint32(0)
	for i := range b.Insts {
		in := &b.Insts[i]
		switch {
		case in.Op == ir.Mov:
			s.R[in.Dst.Slot] = val(in.A)
		case in.Op.IsBinary():
			s.R[in.Dst.Slot] = ir.Eval(in.Op, val(in.A), val(in.B))
		case in.Op == ir.Load:
			v, ok := s.Load(val(in.A)+uint64(in.Imm), int(in.Size), b.MMUIdx)
			if !ok {
				s.PC, s.Instret = in.PC, s.Instret+uint64(in.Insn)
				return env.ExitException
			}
			if in.Signed {
				sh := 64 - 8*uint(in.Size)
				v = uint64(int64(v<<sh) >> sh)
			}
			s.R[in.Dst.Slot] = v
		case in.Op == ir.Store:
			if !s.Store(val(in.A)+uint64(in.Imm), val(in.B), int(in.Size), b.MMUIdx) {
				s.PC, s.Instret = in.PC, s.Instret+uint64(in.Insn)
				return env.ExitException
			}
		case in.Op == ir.ExitIf:
			if in.Cond.Eval(val(in.A), val(in.B)) {
				s.PC, s.Instret = in.Target, s.Instret+uint64(in.Insn)
				return env.ExitDirect + slot
			}
			slot++
		case in.Op == ir.Goto:
			s.PC, s.Instret = in.Target, s.Instret+uint64(in.Insn)
			return env.ExitDirect + slot
		case in.Op == ir.Branch:
			s.Instret += uint64(in.Insn)
			if in.Cond.Eval(val(in.A), val(in.B)) {
				s.PC = in.Target
				return env.ExitDirect + slot
			}
			s.PC = in.Next
			return env.ExitDirect + slot + 1
		case in.Op == ir.Jump:
			s.PC, s.Instret = val(in.A)&^1, s.Instret+uint64(in.Insn)
			return env.ExitIndirect
		case in.Op == ir.Exit:
			s.PC, s.Instret = in.Target, s.Instret+uint64(in.Insn)
			return env.ExitCode(in.Reason)
		}
	}
	panic("no terminator")
}

type irRun struct {
	code    uint32
	r       [64]uint64
	pc      uint64
	instret uint64
	mem     []byte
}

func runIR(t *testing.T, backend string, b *ir.Block, regs [64]uint64) irRun {
	ram := make([]byte, testSize)
	mem := env.NewMemory(nil)
	if err := mem.AddRAM(testBase, ram); err != nil {
		t.Fatal(err)
	}
	s := &env.State{}
	s.Init(mem, 0)
	copy(s.R[:], regs[:])
	s.Instret = 100
	s.InstretLimit = ^uint64(0) // no time slice: the block runs to its exit
	for i := range ram[irScratch-testBase : irScratch-testBase+4096] {
		ram[irScratch-testBase+i] = byte(i*7 + 3)
	}
	// run re-enters a block that branched to its own start, as the run
	// loop does (a backend may also loop inside the block itself).
	var code uint32
	run := func(f func(*env.State) uint32) {
		for {
			code = f(s)
			if s.PC != b.PC || code < env.ExitDirect {
				return
			}
		}
	}
	switch backend {
	case "interpreter":
		run(func(s *env.State) uint32 { return interpret(b, s) })
	case BackendClosure:
		f, err := closure.Compile(b)
		if err != nil {
			t.Fatal(err)
		}
		run(f)
	case BackendNative:
		nat, err := amd64.New(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		defer nat.Close()
		amd64.ClearJC(s)
		c, err := nat.Compile(b)
		if err != nil {
			t.Fatal(err)
		}
		run(func(s *env.State) uint32 { return nat.Run(s, c) })
	}
	var out irRun
	out.code, out.pc, out.instret = code, s.PC, s.Instret
	copy(out.r[:], s.R[:64])
	out.mem = append([]byte(nil), ram[irScratch-testBase:irScratch-testBase+4096]...)
	return out
}

func TestBackendsAgainstIRInterpreter(t *testing.T) {
	seeds := 3000
	if testing.Short() {
		seeds = 300
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		r := rand.New(rand.NewSource(seed))
		b := randBlock(r)
		if err := b.Validate(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		var regs [64]uint64
		for i := 1; i < 13; i++ {
			regs[i] = randIRValue(r)
		}
		regs[13] = irScratch
		regs[14] = 1 + uint64(r.Intn(5)) // loop count of self-looping blocks
		want := runIR(t, "interpreter", b, regs)
		for _, be := range backends() {
			got := runIR(t, be, b, regs)
			if d := diffIR(want, got); d != "" {
				t.Fatalf("seed %d, %s backend:\n%s\n%s", seed, be, d, b)
			}
		}
	}
}

func diffIR(want, got irRun) string {
	var b strings.Builder
	if want.code != got.code {
		fmt.Fprintf(&b, "exit code %d, want %d\n", got.code, want.code)
	}
	if want.pc != got.pc {
		fmt.Fprintf(&b, "pc %#x, want %#x\n", got.pc, want.pc)
	}
	if want.instret != got.instret {
		fmt.Fprintf(&b, "instret %d, want %d\n", got.instret, want.instret)
	}
	for i := 1; i < 15; i++ {
		if want.r[i] != got.r[i] {
			fmt.Fprintf(&b, "r%d = %#x, want %#x\n", i, got.r[i], want.r[i])
		}
	}
	for i := range want.mem {
		if want.mem[i] != got.mem[i] {
			fmt.Fprintf(&b, "scratch+%d = %#x, want %#x\n", i, got.mem[i], want.mem[i])
			break
		}
	}
	return b.String()
}
