// Package rvgen generates random riscv64 instruction sequences for
// differential testing: a program of many independent cases, each of which
// loads registers and scratch memory from its own seed, runs random
// instructions (integer, M, A, F, D, C, CSR, branches and jumps forward,
// fences) and writes its final registers and scratch memory to stdout. The
// same program runs under QEMU and under govmm and the outputs are compared
// case by case; a difference names the case's seed, and Generate(seed)
// rebuilds that case alone.
package rvgen

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"strings"

	"github.com/govmm/govmm/tcg/riscv/rvasm"
)

// Layout of the generated program.
const (
	CodeBase    = 0x10000
	DataBase    = 0x400000 // per-case data blocks
	ScratchSize = 256      // scratch memory the instructions use
	// OutSize is the bytes one case writes: scratch, x1-x31, f0-f31, fcsr.
	OutSize   = ScratchSize + 31*8 + 32*8 + 8
	blockSize = 0x800 // per case: init values, scratch, output
	initOff   = 0     // 31 x values, 32 f values, fcsr
	scrOff    = 0x400 // scratch (x27 and x2 point here), output follows
)

// Options tune the instruction mix.
type Options struct {
	// Insns is the number of random instructions per case.
	Insns int
	// NoFP leaves out floating point.
	NoFP bool
}

// Case is one generated test case.
type Case struct {
	Seed    int64
	X       [32]uint64 // initial x registers (x0, x2 and x27 are fixed)
	F       [32]uint64
	FCSR    uint64
	Scratch [ScratchSize]byte
	// Items are the random instructions, with their text for reports.
	Items []Item
}

// Item is one instruction (or a short fixed sequence).
type Item struct {
	Text  string
	Code  []byte
	fixup func(code []byte, pcs []uint64, self int) // resolves forward branch targets
	// target: index of the item a branch or jump goes to (-1: none).
	target int
}

// Listing is the case's instructions as text.
func (c *Case) Listing() string {
	var b strings.Builder
	for i, it := range c.Items {
		fmt.Fprintf(&b, "%3d: %s\n", i, it.Text)
	}
	return b.String()
}

var intValues = []uint64{
	0, 1, 2, 3, 7, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
	0x100000000, 0xffffffff80000000, 0x7fffffffffffffff, 0x8000000000000000, 0xffffffffffffffff,
	0xfffffffffffffffe, 0xfffffffffffff800, 0x8000000000000001, 31, 32, 33, 63, 64, 65,
}

var f64Values = []uint64{
	0, 1 << 63, // +-0
	0x3ff0000000000000, 0xbff0000000000000, // +-1
	0x7ff0000000000000, 0xfff0000000000000, // +-inf
	0x7ff8000000000000, 0xfff8000000000001, // qNaN
	0x7ff0000000000001, 0x7ff4000000000000, // sNaN
	1, 0x800fffffffffffff, 0x000fffffffffffff, // subnormals
	0x0010000000000000, 0x8010000000000000, // min normal
	0x7fefffffffffffff, 0xffefffffffffffff, // max
	0x3ff8000000000000, 0x3fb999999999999a, 0xc006000000000000, // 1.5, 0.1, -2.75
	0x3ff0000000000001, 0x3fefffffffffffff, 0x4330000000000000, 0x43e0000000000000, 0xc3e0000000000000,
	0x41dfffffffc00000, 0x41e0000000000000, 0xc1e0000000200000, 0x4000000000000000, 0x3fe0000000000000,
}

var f32Values = []uint32{
	0, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001,
	0x7f800001, 0x7fa00000, 1, 0x807fffff, 0x00800000, 0x7f7fffff, 0xff7fffff, 0x3fc00000,
	0x3dcccccd, 0x4f000000, 0xcf000000, 0x4f800000, 0x5f000000, 0x3f800001, 0x3f7fffff,
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.Intn(len(s))] }

func randInt(r *rand.Rand) uint64 {
	switch r.Intn(4) {
	case 0:
		return pick(r, intValues)
	case 1:
		return uint64(r.Int63n(4096) - 2048)
	case 2:
		return pick(r, intValues) ^ uint64(r.Intn(16))<<r.Intn(64)
	}
	return r.Uint64()
}

func randF(r *rand.Rand) uint64 {
	switch r.Intn(6) {
	case 0, 1:
		return pick(r, f64Values)
	case 2:
		return 0xffffffff00000000 | uint64(pick(r, f32Values))
	case 3:
		// A random single, boxed.
		return 0xffffffff00000000 | uint64(math.Float32bits(float32(r.NormFloat64()*math.Pow(2, float64(r.Intn(60)-30)))))
	case 4:
		return math.Float64bits(r.NormFloat64() * math.Pow(2, float64(r.Intn(200)-100)))
	}
	if r.Intn(4) == 0 {
		return r.Uint64() // often an improperly boxed single
	}
	return math.Float64bits(float64(r.Intn(2000) - 1000))
}

// Registers the random instructions may write: not x0 (except as a
// discarded destination), x2 (sp) or x27, which hold the scratch address.
func dst(r *rand.Rand) int64 {
	if r.Intn(40) == 0 {
		return 0
	}
	for {
		v := int64(1 + r.Intn(31))
		if v != 2 && v != 27 {
			return v
		}
	}
}

func src(r *rand.Rand) int64 { return int64(r.Intn(32)) }

func freg(r *rand.Rand) int64 { return int64(r.Intn(32)) }

func rmode(r *rand.Rand) int64 { return pick(r, []int64{0, 1, 2, 3, 4, 7, 7, 0}) }

// Generate builds the case for seed.
func Generate(seed int64, opt Options) *Case {
	r := rand.New(rand.NewSource(seed))
	c := &Case{Seed: seed}
	for i := 1; i < 32; i++ {
		c.X[i] = randInt(r)
		if r.Intn(8) == 0 && i > 1 {
			c.X[i] = c.X[r.Intn(i)] // equal operands
		}
	}
	for i := range c.F {
		c.F[i] = randF(r)
	}
	c.FCSR = uint64(r.Intn(5)) << 5
	if r.Intn(2) == 0 {
		c.FCSR |= uint64(r.Intn(32))
	}
	r.Read(c.Scratch[:])
	// Some scratch words hold interesting values.
	for i := 0; i < 8; i++ {
		off := r.Intn(ScratchSize/8) * 8
		v := randInt(r)
		if !opt.NoFP && r.Intn(2) == 0 {
			v = randF(r)
		}
		binary.LittleEndian.PutUint64(c.Scratch[off:], v)
	}
	n := opt.Insns
	if n == 0 {
		n = 40
	}
	g := gen{r: r, opt: opt}
	for len(g.items) < n {
		g.one()
	}
	c.Items = g.items
	return c
}

type gen struct {
	r     *rand.Rand
	opt   Options
	items []Item
}

func (g *gen) add(text string, words ...uint32) {
	var code []byte
	for _, w := range words {
		code = binary.LittleEndian.AppendUint32(code, w)
	}
	g.items = append(g.items, Item{Text: text, Code: code, target: -1})
}

func (g *gen) addC(text string, h uint16) {
	g.items = append(g.items, Item{Text: text, Code: binary.LittleEndian.AppendUint16(nil, h), target: -1})
}

func (g *gen) inst(name string, ops ...int64) {
	g.add(fmt.Sprintf("%s %v", name, ops), rvasm.Enc(name, ops...))
}

var aluR = []string{"add", "sub", "sll", "slt", "sltu", "xor", "srl", "sra", "or", "and",
	"addw", "subw", "sllw", "srlw", "sraw",
	"mul", "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu", "mulw", "divw", "divuw", "remw", "remuw"}
var aluI = []string{"addi", "slti", "sltiu", "xori", "ori", "andi", "addiw"}
var shiftI = []string{"slli", "srli", "srai", "slliw", "srliw", "sraiw"}
var loads = []struct {
	name string
	size int
}{{"lb", 1}, {"lh", 2}, {"lw", 4}, {"ld", 8}, {"lbu", 1}, {"lhu", 2}, {"lwu", 4}}
var stores = []struct {
	name string
	size int
}{{"sb", 1}, {"sh", 2}, {"sw", 4}, {"sd", 8}}
var branches = []string{"beq", "bne", "blt", "bge", "bltu", "bgeu"}
var amos = []string{"amoswap", "amoadd", "amoxor", "amoand", "amoor", "amomin", "amomax", "amominu", "amomaxu"}

func (g *gen) offset(size int) int64 {
	off := g.r.Intn(ScratchSize - size + 1)
	if g.r.Intn(3) != 0 {
		off &^= size - 1 // mostly aligned
	}
	return int64(off)
}

// one appends one random instruction (or a short fixed sequence).
func (g *gen) one() {
	r := g.r
	k := r.Intn(100)
	if g.opt.NoFP && k >= 60 && k < 85 {
		k = r.Intn(60)
	}
	switch {
	case k < 18:
		g.inst(pick(r, aluR), dst(r), src(r), src(r))
	case k < 26:
		g.inst(pick(r, aluI), dst(r), src(r), int64(r.Intn(4096)-2048))
	case k < 30:
		op := pick(r, shiftI)
		sh := int64(r.Intn(64))
		if strings.HasSuffix(op, "w") {
			sh &= 31
		}
		g.inst(op, dst(r), src(r), sh)
	case k < 32:
		g.inst(pick(r, []string{"lui", "auipc"}), dst(r), int64(r.Intn(1<<20)))
	case k < 38:
		l := pick(r, loads)
		g.inst(l.name, dst(r), 27, g.offset(l.size))
	case k < 43:
		s := pick(r, stores)
		g.inst(s.name, src(r), 27, g.offset(s.size))
	case k < 48:
		g.branch()
	case k < 51:
		g.atomic()
	case k < 53:
		g.csr()
	case k < 60:
		g.compressed()
	case k < 85:
		g.fp()
	case k < 88:
		g.inst("fence")
		if r.Intn(2) == 0 {
			g.inst("fence.i")
		}
	default:
		g.compressed()
	}
}

// branch emits a conditional branch, jal or jalr to an instruction 1-4
// items ahead (the targets are resolved when the program is laid out).
func (g *gen) branch() {
	r := g.r
	skip := 1 + r.Intn(4)
	self := len(g.items)
	switch r.Intn(6) {
	case 0:
		rd := dst(r)
		g.items = append(g.items, Item{Text: fmt.Sprintf("jal x%d, +%d items", rd, skip), Code: make([]byte, 4), target: self + 1 + skip,
			fixup: func(code []byte, pcs []uint64, i int) {
				binary.LittleEndian.PutUint32(code, rvasm.Enc("jal", rd, int64(pcs[g.tgt(i)]-pcs[i])))
			}})
	case 1:
		// auipc t, 0; jalr rd, off(t)
		t, rd := dst(r), dst(r)
		for t == 0 {
			t = dst(r)
		}
		g.items = append(g.items, Item{Text: fmt.Sprintf("auipc x%d, 0; jalr x%d, x%d, +%d items", t, rd, t, skip), Code: make([]byte, 8), target: self + 1 + skip,
			fixup: func(code []byte, pcs []uint64, i int) {
				binary.LittleEndian.PutUint32(code, rvasm.Enc("auipc", t, 0))
				off := int64(pcs[g.tgt(i)] - pcs[i])
				if skip%2 == 1 {
					off++ // an odd target: jalr clears bit 0
				}
				binary.LittleEndian.PutUint32(code[4:], rvasm.Enc("jalr", rd, t, off))
			}})
	case 2:
		// Compressed branch on x8-x15.
		rs := int64(8 + r.Intn(8))
		name := pick(r, []string{"c.beqz", "c.bnez"})
		g.items = append(g.items, Item{Text: fmt.Sprintf("%s x%d, +%d items", name, rs, skip), Code: make([]byte, 2), target: self + 1 + skip,
			fixup: func(code []byte, pcs []uint64, i int) {
				binary.LittleEndian.PutUint16(code, rvasm.CEnc(name, rs, int64(pcs[g.tgt(i)]-pcs[i])))
			}})
	default:
		name := pick(r, branches)
		a, b := src(r), src(r)
		g.items = append(g.items, Item{Text: fmt.Sprintf("%s x%d, x%d, +%d items", name, a, b, skip), Code: make([]byte, 4), target: self + 1 + skip,
			fixup: func(code []byte, pcs []uint64, i int) {
				binary.LittleEndian.PutUint32(code, rvasm.Enc(name, a, b, int64(pcs[g.tgt(i)]-pcs[i])))
			}})
	}
}

// tgt is item i's target index; targets past the end mean the epilogue.
func (g *gen) tgt(i int) int { return g.items[i].target }

func (g *gen) atomic() {
	r := g.r
	w := pick(r, []string{".w", ".d"})
	size := 4
	if w == ".d" {
		size = 8
	}
	t := dst(r)
	for t == 0 {
		t = dst(r)
	}
	off := int64(r.Intn(ScratchSize/size) * size)
	addr := rvasm.Enc("addi", t, 27, off)
	aq := int64(r.Intn(4))
	switch r.Intn(4) {
	case 0:
		// lr; op; sc — sometimes with a store in between.
		// rd != t: an SC whose address register LR overwrote is
		// misaligned, which raises an exception as the spec requires
		// but which QEMU reports as a plain failure.
		rd, rd2, v := dst(r), dst(r), src(r)
		for rd == t {
			rd = dst(r)
		}
		words := []uint32{addr, rvasm.Enc("lr"+w, rd, t, aq)}
		text := fmt.Sprintf("addi x%d, x27, %d; lr%s x%d, (x%d)", t, off, w, rd, t)
		if r.Intn(3) == 0 {
			s := pick(r, stores)
			o := g.offset(s.size)
			words = append(words, rvasm.Enc(s.name, src(r), 27, o))
			text += fmt.Sprintf("; %s ..., %d(x27)", s.name, o)
		}
		words = append(words, rvasm.Enc("sc"+w, rd2, v, t, aq))
		text += fmt.Sprintf("; sc%s x%d, x%d, (x%d)", w, rd2, v, t)
		g.add(text, words...)
	case 1:
		g.add(fmt.Sprintf("addi x%d, x27, %d; sc%s (no reservation)", t, off, w), addr, rvasm.Enc("sc"+w, dst(r), src(r), t, aq))
	default:
		op := pick(r, amos) + w
		rd, v := dst(r), src(r)
		g.add(fmt.Sprintf("addi x%d, x27, %d; %s x%d, x%d, (x%d)", t, off, op, rd, v, t), addr, rvasm.Enc(op, rd, v, t, aq))
	}
}

func (g *gen) csr() {
	r := g.r
	// fflags, frm, fcsr. (Not the counters: qemu-riscv64 reads host
	// ticks for them.)
	csr := pick(r, []int64{1, 2, 3})
	if g.opt.NoFP {
		return
	}
	// Writes keep frm valid (0-4): an invalid frm would make dynamic
	// rounding illegal.
	v := int64(r.Intn(32))
	switch csr {
	case 2:
		v = int64(r.Intn(5))
		g.inst(pick(r, []string{"csrrwi"}), dst(r), csr, v)
	case 3:
		v = int64(r.Intn(5))<<5 | int64(r.Intn(32))
		t := dst(r)
		for t == 0 {
			t = dst(r)
		}
		g.add(fmt.Sprintf("addi x%d, x0, %d; csrrw x%d, fcsr, x%d", t, v, t, t), rvasm.Enc("addi", t, 0, v), rvasm.Enc("csrrw", t, csr, t))
	default:
		g.inst(pick(r, []string{"csrrwi", "csrrsi", "csrrci"}), dst(r), csr, v)
	}
}

var fpR = []string{"fadd", "fsub", "fmul", "fdiv"}
var fpR2 = []string{"fsgnj", "fsgnjn", "fsgnjx", "fmin", "fmax"}
var fpCmp = []string{"feq", "flt", "fle"}
var fpR4 = []string{"fmadd", "fmsub", "fnmsub", "fnmadd"}

func (g *gen) fp() {
	r := g.r
	s := pick(r, []string{".s", ".d"})
	switch r.Intn(14) {
	case 0, 1, 2:
		g.inst(pick(r, fpR)+s, freg(r), freg(r), freg(r), rmode(r))
	case 3:
		g.inst("fsqrt"+s, freg(r), freg(r), rmode(r))
	case 4:
		g.inst(pick(r, fpR2)+s, freg(r), freg(r), freg(r))
	case 5:
		g.inst(pick(r, fpCmp)+s, dst(r), freg(r), freg(r))
	case 6, 7:
		g.inst(pick(r, fpR4)+s, freg(r), freg(r), freg(r), freg(r), rmode(r))
	case 8:
		op := pick(r, []string{"fcvt.w", "fcvt.wu", "fcvt.l", "fcvt.lu"}) + s
		g.inst(op, dst(r), freg(r), rmode(r))
	case 9:
		op := "fcvt" + s + pick(r, []string{".w", ".wu", ".l", ".lu"})
		rm := rmode(r)
		if op == "fcvt.d.w" || op == "fcvt.d.wu" {
			rm = 0
		}
		g.inst(op, freg(r), src(r), rm)
	case 10:
		if s == ".s" {
			g.inst("fcvt.s.d", freg(r), freg(r), rmode(r))
		} else {
			g.inst("fcvt.d.s", freg(r), freg(r), 0)
		}
	case 11:
		switch r.Intn(5) {
		case 0:
			g.inst("fmv.x.w", dst(r), freg(r))
		case 1:
			g.inst("fmv.x.d", dst(r), freg(r))
		case 2:
			g.inst("fmv.w.x", freg(r), src(r))
		case 3:
			g.inst("fmv.d.x", freg(r), src(r))
		default:
			g.inst("fclass"+s, dst(r), freg(r))
		}
	case 12:
		if s == ".s" {
			g.inst("flw", freg(r), 27, g.offset(4))
		} else {
			g.inst("fld", freg(r), 27, g.offset(8))
		}
	default:
		if s == ".s" {
			g.inst("fsw", freg(r), 27, g.offset(4))
		} else {
			g.inst("fsd", freg(r), 27, g.offset(8))
		}
	}
}

// compressed emits a random compressed instruction that keeps x2 and x27
// and stays in the scratch area.
func (g *gen) compressed() {
	r := g.r
	for {
		c := pick(r, rvasm.CForms)
		switch c.Name {
		case "c.ebreak", "c.jr", "c.jalr", "c.j", "c.beqz", "c.bnez", "c.addi16sp":
			continue // control flow is generated by branch(); sp stays put
		}
		if g.opt.NoFP && strings.Contains(c.Name, "f") {
			continue
		}
		ops, _ := rvasm.RandCOps(r, c)
		bad := false
		for i, o := range c.Ops {
			if (o == "rd" || o == "rd'") && (ops[i] == 2 || ops[i] == 27) {
				bad = true
			}
		}
		if bad {
			continue
		}
		switch c.Name {
		case "c.fld", "c.lw", "c.ld", "c.fsd", "c.sw", "c.sd":
			// The base register gets an address in the scratch area
			// first (c.addi4spn: base = sp + imm).
			size := int64(8)
			if c.Name == "c.lw" || c.Name == "c.sw" {
				size = 4
			}
			base := int64(8 + r.Intn(8))
			boff := int64(4 * (1 + r.Intn(16)))
			ops[1] = base
			maxOff := ScratchSize - boff - size
			ops[2] = (int64(r.Intn(int(maxOff/size)+1)) * size) &^ (size - 1)
			if ops[2] > 31*size {
				ops[2] = 31 * size
			}
			text := fmt.Sprintf("c.addi4spn x%d, sp, %d; %s %v", base, boff, c.Name, ops)
			code := binary.LittleEndian.AppendUint16(nil, rvasm.CEnc("c.addi4spn", base, boff))
			code = binary.LittleEndian.AppendUint16(code, rvasm.CEnc(c.Name, ops...))
			g.items = append(g.items, Item{Text: text, Code: code, target: -1})
			return
		case "c.fldsp", "c.ldsp", "c.fsdsp", "c.sdsp":
			ops[1] = int64(r.Intn(ScratchSize/8)) * 8
		case "c.lwsp", "c.swsp":
			ops[1] = int64(r.Intn(ScratchSize/4)) * 4
		case "c.addi4spn":
			// any nonzero multiple of 4 below 1024: only an address
		}
		g.addC(fmt.Sprintf("%s %v", c.Name, ops), rvasm.CEnc(c.Name, ops...))
		return
	}
}

// Program lays out cases into one static ELF. Each case runs its prologue
// (registers from its data block), its items, and an epilogue that writes
// OutSize bytes to stdout; the program then exits with status 0.
func Program(cases []*Case) []byte {
	p := &rvasm.Program{Base: CodeBase}
	data := make([]byte, len(cases)*blockSize)
	for ci, c := range cases {
		blk := uint64(DataBase + ci*blockSize)
		d := data[ci*blockSize:]
		for i := 1; i < 32; i++ {
			binary.LittleEndian.PutUint64(d[initOff+8*(i-1):], c.X[i])
		}
		for i := 0; i < 32; i++ {
			binary.LittleEndian.PutUint64(d[initOff+31*8+8*i:], c.F[i])
		}
		binary.LittleEndian.PutUint64(d[initOff+63*8:], c.FCSR)
		copy(d[scrOff:], c.Scratch[:])

		// Prologue: x27 = block; f regs, fcsr, x regs; then x2 = x27 =
		// scratch.
		p.Li(27, int64(blk))
		for i := 0; i < 32; i++ {
			p.I("fld", int64(i), 27, int64(initOff+31*8+8*i))
		}
		p.I("ld", 5, 27, initOff+63*8)
		p.I("csrrw", 0, 3, 5)
		for i := 1; i < 32; i++ {
			if i == 27 || i == 2 {
				continue
			}
			p.I("ld", int64(i), 27, int64(initOff+8*(i-1)))
		}
		p.I("addi", 27, 27, scrOff)
		p.I("addi", 2, 27, 0)

		// Body: lay out, then resolve forward targets.
		start := len(p.Code)
		pcs := make([]uint64, len(c.Items)+1)
		off := uint64(0)
		for i, it := range c.Items {
			pcs[i] = p.PC() + off
			off += uint64(len(it.Code))
		}
		pcs[len(c.Items)] = p.PC() + off
		for i := range c.Items {
			if c.Items[i].target > len(c.Items) {
				c.Items[i].target = len(c.Items)
			}
		}
		for i, it := range c.Items {
			code := append([]byte(nil), it.Code...)
			if it.fixup != nil {
				it.fixup(code, pcs, i)
			}
			p.Code = append(p.Code, code...)
		}
		_ = start

		// Epilogue: x1..x31, f0..f31, fcsr after the scratch area, then
		// write(1, scratch, OutSize).
		out := int64(ScratchSize)
		for i := 1; i < 32; i++ {
			p.I("sd", int64(i), 27, out+int64(8*(i-1)))
		}
		for i := 0; i < 32; i++ {
			p.I("fsd", int64(i), 27, out+31*8+int64(8*i))
		}
		p.I("csrrs", 5, 3, 0)
		p.I("sd", 5, 27, out+63*8)
		p.I("addi", 10, 0, 1)
		p.I("addi", 11, 27, 0)
		p.Li(12, OutSize)
		p.I("addi", 17, 0, 64) // write
		p.I("ecall")
	}
	p.I("addi", 10, 0, 0)
	p.I("addi", 17, 0, 94) // exit_group
	p.I("ecall")

	// One image: code, then the data blocks at DataBase.
	if uint64(len(p.Code)) > DataBase-CodeBase {
		panic("rvgen: code too large")
	}
	img := make([]byte, DataBase-CodeBase+len(data))
	copy(img, p.Code)
	copy(img[DataBase-CodeBase:], data)
	return rvasm.ELF(CodeBase, img, uint64(len(img)), CodeBase)
}
