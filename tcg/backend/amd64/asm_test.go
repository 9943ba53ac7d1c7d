package amd64

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var reg32Names = [...]string{"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"}
var reg16Names = [...]string{"ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"}
var reg8Names = [...]string{"al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"}

func regName(r Reg, size int) string {
	switch size {
	case 4:
		return reg32Names[r]
	case 2:
		return reg16Names[r]
	case 1:
		return reg8Names[r]
	}
	return regNames[r]
}

func memText(m Mem, size int) string {
	ptr := map[int]string{1: "byte", 2: "word", 4: "dword", 8: "qword", 0: ""}[size]
	var parts []string
	if m.Base != NoReg {
		parts = append(parts, m.Base.String())
	}
	if m.Index != NoReg {
		parts = append(parts, fmt.Sprintf("%s*%d", m.Index, m.Scale))
	}
	s := strings.Join(parts, "+")
	if m.Disp != 0 || s == "" {
		s += fmt.Sprintf("%+d", m.Disp)
	}
	if ptr != "" {
		return ptr + " ptr [" + s + "]"
	}
	return "[" + s + "]"
}

func randReg(r *rand.Rand) Reg { return Reg(r.Intn(16)) }

func randMem(r *rand.Rand) Mem {
	m := Mem{Base: randReg(r), Index: NoReg, Scale: 1}
	switch r.Intn(3) {
	case 0:
		m.Disp = int32(r.Intn(256) - 128)
	case 1:
		m.Disp = int32(r.Int31n(1<<20) - 1<<19)
	}
	if r.Intn(3) == 0 {
		for {
			m.Index = randReg(r)
			if m.Index != RSP {
				break
			}
		}
		m.Scale = []uint8{1, 2, 4, 8}[r.Intn(4)]
	}
	return m
}

var aluNames = [...]string{"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"}
var ccNames = [...]string{"o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"}

// TestAgainstGNUAssembler encodes random instances of every instruction the
// backend uses and compares with the bytes GNU as (x86-64, Intel syntax)
// produces.
func TestAgainstGNUAssembler(t *testing.T) {
	as, err := exec.LookPath("as")
	if err != nil {
		t.Skip("GNU as not installed (make deps installs binutils)")
	}
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		t.Skip("objcopy not installed")
	}
	r := rand.New(rand.NewSource(1))
	var src strings.Builder
	src.WriteString(".intel_syntax noprefix\n")
	a := &Asm{}
	var lines []string
	var ends []int
	emit := func(text string, f func()) {
		f()
		lines = append(lines, text)
		ends = append(ends, a.Len())
		src.WriteString(text + "\n")
	}
	for i := 0; i < 300; i++ {
		d, s := randReg(r), randReg(r)
		m := randMem(r)
		emit(fmt.Sprintf("mov %s, %s", d, s), func() { a.MovRR(d, s) })
		emit(fmt.Sprintf("mov %s, %s", regName(d, 4), regName(s, 4)), func() { a.MovRR32(d, s) })
		v := []uint64{uint64(r.Uint32()), uint64(int64(r.Int31()) - 1<<31), r.Uint64(), 0, 1}[r.Intn(5)]
		movText := fmt.Sprintf("movabs %s, %d", d, v)
		switch {
		case v <= 0xffffffff:
			movText = fmt.Sprintf("mov %s, %d", regName(d, 4), v)
		case int64(v) == int64(int32(v)):
			movText = fmt.Sprintf("mov %s, %d", d, int64(v))
		}
		emit(movText, func() { a.MovRI(d, v) })
		size := []int{1, 2, 4, 8}[r.Intn(4)]
		signed := r.Intn(2) == 0
		var ins string
		switch {
		case size == 8:
			ins = fmt.Sprintf("mov %s, %s", d, memText(m, 8))
		case size == 4 && signed:
			ins = fmt.Sprintf("movsxd %s, %s", d, memText(m, 4))
		case size == 4:
			ins = fmt.Sprintf("mov %s, %s", regName(d, 4), memText(m, 4))
		case signed:
			ins = fmt.Sprintf("movsx %s, %s", d, memText(m, size))
		default:
			ins = fmt.Sprintf("movzx %s, %s", regName(d, 4), memText(m, size))
		}
		emit(ins, func() { a.Load(d, m, size, signed) })
		emit(fmt.Sprintf("mov %s, %s", memText(m, size), regName(s, size)), func() { a.Store(m, s, size) })
		imm := int32(r.Int31n(1<<20) - 1<<19)
		if r.Intn(2) == 0 {
			imm = int32(r.Intn(256) - 128)
		}
		immS := imm
		switch size {
		case 1:
			immS = int32(int8(imm))
		case 2:
			immS = int32(int16(imm))
		}
		emit(fmt.Sprintf("mov %s, %d", memText(m, size), immS), func() { a.StoreImm(m, immS, size) })
		emit(fmt.Sprintf("lea %s, %s", d, memText(m, 0)), func() { a.Lea(d, m) })
		op := ALU(r.Intn(8))
		w := r.Intn(2) == 0
		sz := 4
		if w {
			sz = 8
		}
		emit(fmt.Sprintf("%s %s, %s", aluNames[op], regName(d, sz), regName(s, sz)), func() { a.AluRR(op, w, d, s) })
		emit(fmt.Sprintf("%s %s, %d", aluNames[op], regName(d, sz), imm), func() { a.AluRI(op, w, d, imm) })
		emit(fmt.Sprintf("%s %s, %s", aluNames[op], regName(d, sz), memText(m, sz)), func() { a.AluRM(op, w, d, m) })
		emit(fmt.Sprintf("%s %s, %s", aluNames[op], memText(m, sz), regName(s, sz)), func() { a.AluMR(op, w, m, s) })
		emit(fmt.Sprintf("%s %s, %d", aluNames[op], memText(m, sz), imm), func() { a.AluMI(op, w, m, imm) })
		emit(fmt.Sprintf("test %s, %s", regName(d, sz), regName(s, sz)), func() { a.Test(w, d, s) })
		sh := []Shift{SHL, SHR, SAR}[r.Intn(3)]
		shName := map[Shift]string{SHL: "shl", SHR: "shr", SAR: "sar"}[sh]
		emit(fmt.Sprintf("%s %s, cl", shName, regName(d, sz)), func() { a.ShiftCL(sh, w, d) })
		n := uint8(1 + r.Intn(31))
		emit(fmt.Sprintf("%s %s, %d", shName, regName(d, sz), n), func() { a.ShiftI(sh, w, d, n) })
		emit(fmt.Sprintf("imul %s, %s", regName(d, sz), regName(s, sz)), func() { a.Imul(w, d, s) })
		emit(fmt.Sprintf("imul %s, %s, %d", regName(d, sz), regName(s, sz), imm), func() { a.ImulI(w, d, s, imm) })
		u := []Unary{NOT, NEG, MUL, IMUL, DIV, IDIV}[r.Intn(6)]
		uName := map[Unary]string{NOT: "not", NEG: "neg", MUL: "mul", IMUL: "imul", DIV: "div", IDIV: "idiv"}[u]
		emit(fmt.Sprintf("%s %s", uName, regName(d, sz)), func() { a.UnaryOp(u, w, d) })
		emit(map[bool]string{true: "cqo", false: "cdq"}[w], func() { a.Cqo(w) })
		emit(fmt.Sprintf("movsxd %s, %s", d, regName(s, 4)), func() { a.Movsxd(d, s) })
		emit(fmt.Sprintf("movzx %s, %s", regName(d, 4), regName(s, 1)), func() { a.Movzx8(d, s) })
		emit(fmt.Sprintf("movzx %s, %s", regName(d, 4), regName(s, 2)), func() { a.Movzx16(d, s) })
		c := Cond(r.Intn(16))
		emit(fmt.Sprintf("set%s %s\nmovzx %s, %s", ccNames[c], regName(d, 1), regName(d, 4), regName(d, 1)), func() { a.Setcc(c, d) })
		emit(fmt.Sprintf("cmov%s %s, %s", ccNames[c], d, s), func() { a.Cmov(c, d, s) })
		emit(fmt.Sprintf("jmp qword ptr %s", memText(m, 0)), func() { a.JmpM(m) })
		emit(fmt.Sprintf("jmp %s", d), func() { a.JmpR(d) })
		emit(fmt.Sprintf("bt %s, %s", regName(d, sz), regName(s, sz)), func() { a.Bt(w, d, s) })
		x, y := XReg(r.Intn(16)), XReg(r.Intn(16))
		emit(fmt.Sprintf("movq xmm%d, %s", x, d), func() { a.MovqXR(x, d) })
		emit(fmt.Sprintf("movq %s, xmm%d", d, y), func() { a.MovqRX(d, y) })
		sop := []byte{SqrtSD, AddSD, MulSD, SubSD, DivSD}[r.Intn(5)]
		sName := map[byte]string{SqrtSD: "sqrtsd", AddSD: "addsd", MulSD: "mulsd", SubSD: "subsd", DivSD: "divsd"}[sop]
		emit(fmt.Sprintf("%s xmm%d, xmm%d", sName, x, y), func() { a.ScalarSD(sop, x, y) })
		emit(fmt.Sprintf("ucomisd xmm%d, xmm%d", x, y), func() { a.Ucomisd(x, y) })
		b8 := uint8(r.Intn(256))
		emit(fmt.Sprintf("test %s, %d", memText(m, 1), b8), func() { a.TestMem8(m, b8) })
		emit(fmt.Sprintf("cmp %s, %d", memText(m, 1), b8), func() { a.CmpMem8(m, b8) })
		z := XReg(r.Intn(16))
		emit(fmt.Sprintf("vfmadd231sd xmm%d, xmm%d, xmm%d", x, z, y), func() { a.Vfmadd231sd(x, z, y) })
	}
	dir := t.TempDir()
	s := filepath.Join(dir, "a.s")
	o := filepath.Join(dir, "a.o")
	bin := filepath.Join(dir, "a.bin")
	os.WriteFile(s, []byte(src.String()), 0o644)
	if out, err := exec.Command(as, "--64", "-o", o, s).CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	if out, err := exec.Command(objcopy, "-O", "binary", "-j", ".text", o, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(bin)
	start := 0
	for i, l := range lines {
		end := ends[i]
		if end > len(got) || !bytes.Equal(got[start:end], a.B[start:end]) {
			t.Fatalf("%q: as % x, ours % x", l, got[start:min(end, len(got))], a.B[start:end])
		}
		start = end
	}
}
