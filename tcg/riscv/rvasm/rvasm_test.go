package rvasm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// asmLine renders an instruction as GNU assembler syntax.
func asmLine(name string, ops []int64) string {
	s := byName[name]
	x := func(r int64) string { return fmt.Sprintf("x%d", r) }
	f := func(r int64) string { return fmt.Sprintf("f%d", r) }
	rms := []string{"rne", "rtz", "rdn", "rup", "rmm", "", "", "dyn"}
	isF := strings.HasPrefix(name, "f") && name != "fence" && name != "fence.i"
	// Register classes of FP instructions' operands.
	dstF, srcF := isF, isF
	switch {
	case strings.HasPrefix(name, "fcvt.w"), strings.HasPrefix(name, "fcvt.l"), name == "fmv.x.w", name == "fmv.x.d",
		strings.HasPrefix(name, "fclass"), strings.HasPrefix(name, "feq"), strings.HasPrefix(name, "flt"), strings.HasPrefix(name, "fle"):
		dstF = false
	}
	switch {
	case strings.HasSuffix(name, ".w") && strings.HasPrefix(name, "fcvt.") && !strings.HasPrefix(name, "fcvt.w"),
		strings.HasSuffix(name, ".wu") && !strings.HasPrefix(name, "fcvt.wu"),
		strings.HasSuffix(name, ".l") && !strings.HasPrefix(name, "fcvt.l"),
		strings.HasSuffix(name, ".lu") && !strings.HasPrefix(name, "fcvt.lu"),
		name == "fmv.w.x", name == "fmv.d.x":
		srcF = false
	}
	rd, rs := x, x
	if dstF {
		rd = f
	}
	if srcF {
		rs = f
	}
	switch s.Format {
	case FmtR:
		return fmt.Sprintf("%s %s, %s, %s", name, x(ops[0]), x(ops[1]), x(ops[2]))
	case FmtI:
		return fmt.Sprintf("%s %s, %s, %d", name, x(ops[0]), x(ops[1]), ops[2])
	case FmtLoad:
		if name == "flw" || name == "fld" {
			return fmt.Sprintf("%s %s, %d(%s)", name, f(ops[0]), ops[2], x(ops[1]))
		}
		return fmt.Sprintf("%s %s, %d(%s)", name, x(ops[0]), ops[2], x(ops[1]))
	case FmtStore:
		if name == "fsw" || name == "fsd" {
			return fmt.Sprintf("%s %s, %d(%s)", name, f(ops[0]), ops[2], x(ops[1]))
		}
		return fmt.Sprintf("%s %s, %d(%s)", name, x(ops[0]), ops[2], x(ops[1]))
	case FmtBranch:
		return fmt.Sprintf("%s %s, %s, .%+d", name, x(ops[0]), x(ops[1]), ops[2])
	case FmtU:
		return fmt.Sprintf("%s %s, %d", name, x(ops[0]), ops[1])
	case FmtJ:
		return fmt.Sprintf("%s %s, .%+d", name, x(ops[0]), ops[1])
	case FmtShift64, FmtShift32:
		return fmt.Sprintf("%s %s, %s, %d", name, x(ops[0]), x(ops[1]), ops[2])
	case FmtFR:
		return fmt.Sprintf("%s %s, %s, %s, %s", name, f(ops[0]), f(ops[1]), f(ops[2]), rms[ops[3]])
	case FmtFR2:
		return fmt.Sprintf("%s %s, %s, %s", name, rd(ops[0]), f(ops[1]), f(ops[2]))
	case FmtF1:
		if exactCvt(name) {
			return fmt.Sprintf("%s %s, %s", name, rd(ops[0]), rs(ops[1]))
		}
		return fmt.Sprintf("%s %s, %s, %s", name, rd(ops[0]), rs(ops[1]), rms[ops[2]])
	case FmtF1NoRM:
		return fmt.Sprintf("%s %s, %s", name, rd(ops[0]), rs(ops[1]))
	case FmtR4:
		return fmt.Sprintf("%s %s, %s, %s, %s, %s", name, f(ops[0]), f(ops[1]), f(ops[2]), f(ops[3]), rms[ops[4]])
	case FmtAMO:
		return fmt.Sprintf("%s%s %s, %s, (%s)", name, aqrl(ops[3]), x(ops[0]), x(ops[1]), x(ops[2]))
	case FmtLR:
		return fmt.Sprintf("%s%s %s, (%s)", name, aqrl(ops[2]), x(ops[0]), x(ops[1]))
	case FmtCSR:
		return fmt.Sprintf("%s %s, %d, %s", name, x(ops[0]), ops[1], x(ops[2]))
	case FmtCSRI:
		return fmt.Sprintf("%s %s, %d, %d", name, x(ops[0]), ops[1], ops[2])
	}
	return name
}

func aqrl(v int64) string { return [...]string{"", ".rl", ".aq", ".aqrl"}[v&3] }

func cAsmLine(c CSpec, ops []int64) string {
	var parts []string
	for i, o := range c.Ops {
		v := ops[i]
		switch {
		case o == "imm" && (c.Name == "c.j" || c.Name == "c.beqz" || c.Name == "c.bnez"):
			parts = append(parts, fmt.Sprintf(".%+d", v))
		case o == "imm" && c.Name == "c.lui":
			parts = append(parts, fmt.Sprintf("%d", (v>>12)&0xfffff))
		case o == "imm":
			parts = append(parts, fmt.Sprint(v))
		default:
			reg := "x"
			if (c.Name == "c.fld" || c.Name == "c.fsd") && i == 0 || (c.Name == "c.fldsp" || c.Name == "c.fsdsp") && i == 0 {
				reg = "f"
			}
			parts = append(parts, fmt.Sprintf("%s%d", reg, v))
		}
	}
	switch c.Name {
	case "c.fld", "c.lw", "c.ld", "c.fsd", "c.sw", "c.sd":
		return fmt.Sprintf("%s %s, %s(%s)", c.Name, parts[0], parts[2], parts[1])
	case "c.fldsp", "c.lwsp", "c.ldsp", "c.fsdsp", "c.swsp", "c.sdsp":
		return fmt.Sprintf("%s %s, %s(sp)", c.Name, parts[0], parts[1])
	case "c.addi4spn":
		return fmt.Sprintf("%s %s, sp, %s", c.Name, parts[0], parts[1])
	case "c.addi16sp":
		return fmt.Sprintf("%s sp, %s", c.Name, parts[0])
	}
	return c.Name + " " + strings.Join(parts, ", ")
}

// TestAgainstGNUAssembler encodes random operands of every instruction and
// compressed form and compares the bytes with what riscv64-linux-gnu-as
// produces.
func TestAgainstGNUAssembler(t *testing.T) {
	as, err := exec.LookPath("riscv64-linux-gnu-as")
	if err != nil {
		t.Skip("riscv64-linux-gnu-as not installed (make deps installs binutils for riscv64)")
	}
	objcopy, err := exec.LookPath("riscv64-linux-gnu-objcopy")
	if err != nil {
		t.Skip("riscv64-linux-gnu-objcopy not installed")
	}
	r := rand.New(rand.NewSource(1))
	var src strings.Builder
	src.WriteString(".option norelax\n.option norvc\n")
	var want []byte
	for _, name := range Names() {
		for i := 0; i < 20; i++ {
			ops := RandOps(r, name)
			fmt.Fprintf(&src, "%s\n", asmLine(name, ops))
			want = binary.LittleEndian.AppendUint32(want, Enc(name, ops...))
		}
	}
	src.WriteString(".option rvc\n")
	for _, c := range CForms {
		for i := 0; i < 20; i++ {
			ops, _ := RandCOps(r, c)
			fmt.Fprintf(&src, "%s\n", cAsmLine(c, ops))
			want = binary.LittleEndian.AppendUint16(want, CEnc(c.Name, ops...))
		}
	}
	dir := t.TempDir()
	s := filepath.Join(dir, "a.s")
	o := filepath.Join(dir, "a.o")
	bin := filepath.Join(dir, "a.bin")
	os.WriteFile(s, []byte(src.String()), 0o644)
	if out, err := exec.Command(as, "-march=rv64gc", "-o", o, s).CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	if out, err := exec.Command(objcopy, "-O", "binary", "-j", ".text", o, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(bin)
	if bytes.Equal(got, want) {
		return
	}
	// Find the first difference and name the line.
	lines := strings.Split(src.String(), "\n")[2:]
	off := 0
	for _, l := range lines {
		if strings.HasPrefix(l, ".") {
			continue
		}
		n := 4
		if strings.HasPrefix(l, "c.") {
			n = 2
		}
		if off+n > len(got) || off+n > len(want) || !bytes.Equal(got[off:off+n], want[off:off+n]) {
			t.Fatalf("%q: gas %x, rvasm %x", l, got[off:min(off+n, len(got))], want[off:off+n])
		}
		off += n
	}
	t.Fatalf("lengths differ: gas %d, rvasm %d", len(got), len(want))
}
