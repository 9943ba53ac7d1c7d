package linuxuser

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govmm/govmm/tcg"
	"github.com/govmm/govmm/tcg/backend/amd64"
	"github.com/govmm/govmm/tcg/internal/rvgen"
)

// Differential tests: the same riscv64 program under qemu-riscv64 (the
// oracle) and under govmm's translator, outputs compared.

func needQEMU(t testing.TB) string {
	t.Helper()
	q, err := exec.LookPath("qemu-riscv64")
	if err != nil {
		t.Skip("qemu-riscv64 not installed (make deps installs qemu-user)")
	}
	return q
}

func needGCC(t testing.TB) string {
	t.Helper()
	g, err := exec.LookPath("riscv64-linux-gnu-gcc")
	if err != nil {
		t.Skip("riscv64-linux-gnu-gcc not installed (make deps installs gcc-riscv64-linux-gnu)")
	}
	return g
}

type runResult struct {
	stdout, stderr []byte
	code           int
}

func runQEMU(t testing.TB, prog string, args ...string) runResult {
	t.Helper()
	q := needQEMU(t)
	cmd := exec.Command(q, append([]string{prog}, args...)...)
	cmd.Env = []string{"GOMAXPROCS=1", "LANG=C"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal()) // qemu re-raises the guest's fatal signal
		}
	} else if err != nil {
		t.Fatalf("qemu-riscv64 %s: %v", prog, err)
	}
	return runResult{out.Bytes(), errb.Bytes(), code}
}

// backends lists the translator's code generators every program runs on.
func backends() []string {
	if amd64.Supported() {
		return []string{tcg.BackendClosure, tcg.BackendNative}
	}
	return []string{tcg.BackendClosure}
}

func runGovmm(t testing.TB, backend, prog string, args ...string) (runResult, Result) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{
		Path: prog, Args: append([]string{prog}, args...),
		Env:    []string{"GOMAXPROCS=1", "LANG=C"},
		Stdout: &out, Stderr: &errb,
		Backend: backend,
	})
	if err != nil {
		t.Fatalf("govmm %s: %v", prog, err)
	}
	if res.Signal != 0 {
		t.Logf("govmm %s: signal %d: %s", prog, res.Signal, res.Detail)
	}
	return runResult{out.Bytes(), errb.Bytes(), res.ExitCode}, res
}

func compileC(t testing.TB, src string, extra ...string) string {
	t.Helper()
	gcc := needGCC(t)
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	args := append([]string{"-O2", "-static", "-o", out, src}, extra...)
	args = append(args, "-lm")
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", src, err, b)
	}
	return out
}

func compareRuns(t *testing.T, name string, q, g runResult) {
	t.Helper()
	if !bytes.Equal(q.stdout, g.stdout) {
		t.Errorf("%s: stdout differs\nqemu:  %q\ngovmm: %q", name, clip(q.stdout), clip(g.stdout))
	}
	if q.code != g.code {
		t.Errorf("%s: exit status qemu %d, govmm %d (stderr %q)", name, q.code, g.code, clip(g.stderr))
	}
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}

// TestDiffCPrograms runs C programs built with riscv64-linux-gnu-gcc
// -static: the test programs in testdata and the benchmark programs with
// small arguments.
func TestDiffCPrograms(t *testing.T) {
	needQEMU(t)
	needGCC(t)
	type prog struct {
		src  string
		args []string
	}
	progs := []prog{}
	srcs, _ := filepath.Glob("testdata/*.c")
	for _, s := range srcs {
		progs = append(progs, prog{src: s})
	}
	bench := "../../bench/tcg/programs"
	progs = append(progs,
		prog{filepath.Join(bench, "crc32.c"), []string{"3"}},
		prog{filepath.Join(bench, "matmul.c"), []string{"20"}},
		prog{filepath.Join(bench, "list.c"), []string{"20"}},
		prog{filepath.Join(bench, "sort.c"), []string{"3"}},
		prog{filepath.Join(bench, "nbody.c"), []string{"2000"}},
		prog{filepath.Join(bench, "samepage.c"), []string{"same", "20000"}},
		prog{filepath.Join(bench, "samepage.c"), []string{"other", "20000"}},
	)
	for _, p := range progs {
		name := filepath.Base(p.src) + " " + strings.Join(p.args, " ")
		t.Run(name, func(t *testing.T) {
			bin := compileC(t, p.src)
			q := runQEMU(t, bin, p.args...)
			for _, b := range backends() {
				g, _ := runGovmm(t, b, bin, p.args...)
				compareRuns(t, name+" on "+b, q, g)
			}
		})
	}
}

// TestDiffGoPrograms runs Go programs built with GOARCH=riscv64.
func TestDiffGoPrograms(t *testing.T) {
	needQEMU(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH")
	}
	srcs, _ := filepath.Glob("testdata/go/*.go")
	if len(srcs) == 0 {
		t.Fatal("no Go test programs")
	}
	for _, src := range srcs {
		name := filepath.Base(src)
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".go"))
			cmd := exec.Command(goBin, "build", "-o", bin, src)
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, b)
			}
			q := runQEMU(t, bin)
			for _, b := range backends() {
				g, _ := runGovmm(t, b, bin)
				compareRuns(t, name+" on "+b, q, g)
			}
		})
	}
}

// TestDiffRandom runs random instruction sequences (thousands of seeds)
// under QEMU and govmm and compares registers, fcsr and scratch memory
// after each. A failure names the seed; rvgen.Generate(seed) rebuilds it.
func TestDiffRandom(t *testing.T) {
	needQEMU(t)
	programs, perProgram := 8, 250
	if testing.Short() {
		programs = 1
	}
	if s := os.Getenv("GOVMM_RANDOM_SEEDS"); s != "" {
		var n int
		fmt.Sscan(s, &n)
		programs = (n + perProgram - 1) / perProgram
	}
	base := int64(1)
	if s := os.Getenv("GOVMM_RANDOM_BASE"); s != "" {
		fmt.Sscan(s, &base)
	}
	for pi := 0; pi < programs; pi++ {
		first := base + int64(pi*perProgram)
		t.Run(fmt.Sprintf("seeds_%d-%d", first, first+int64(perProgram)-1), func(t *testing.T) {
			cases := make([]*rvgen.Case, perProgram)
			for i := range cases {
				cases[i] = rvgen.Generate(first+int64(i), rvgen.Options{})
			}
			elf := rvgen.Program(cases)
			bin := filepath.Join(t.TempDir(), "random")
			if err := os.WriteFile(bin, elf, 0o755); err != nil {
				t.Fatal(err)
			}
			q := runQEMU(t, bin)
			for _, b := range backends() {
				g, _ := runGovmm(t, b, bin)
				compareRandom(t, b, cases, q, g)
			}
		})
	}
}

func compareRandom(t *testing.T, backend string, cases []*rvgen.Case, q, g runResult) {
	t.Helper()
	failures := 0
	for i, c := range cases {
		lo, hi := i*rvgen.OutSize, (i+1)*rvgen.OutSize
		if hi > len(q.stdout) {
			t.Fatalf("seed %d: qemu wrote only %d bytes (exit %d, stderr %q)", c.Seed, len(q.stdout), q.code, q.stderr)
		}
		if hi > len(g.stdout) {
			t.Fatalf("seed %d: govmm (%s) wrote only %d bytes (exit %d, stderr %q)\n%s", c.Seed, backend, len(g.stdout), g.code, g.stderr, c.Listing())
		}
		qo, gov := q.stdout[lo:hi], g.stdout[lo:hi]
		if bytes.Equal(qo, gov) {
			continue
		}
		failures++
		t.Errorf("seed %d differs on the %s backend:\n%s\ninstructions:\n%s", c.Seed, backend, describeDiff(qo, gov), c.Listing())
		if failures >= 3 {
			t.Fatalf("stopping after %d failing seeds", failures)
		}
	}
	if q.code != g.code {
		t.Errorf("exit status qemu %d, govmm %d", q.code, g.code)
	}
}

func describeDiff(q, g []byte) string {
	var b strings.Builder
	le := binary.LittleEndian
	for off := 0; off < rvgen.ScratchSize; off += 8 {
		if !bytes.Equal(q[off:off+8], g[off:off+8]) {
			fmt.Fprintf(&b, "  scratch+%d: qemu %#016x govmm %#016x\n", off, le.Uint64(q[off:]), le.Uint64(g[off:]))
		}
	}
	for i := 1; i < 32; i++ {
		off := rvgen.ScratchSize + 8*(i-1)
		if qv, gv := le.Uint64(q[off:]), le.Uint64(g[off:]); qv != gv {
			fmt.Fprintf(&b, "  x%d: qemu %#016x govmm %#016x\n", i, qv, gv)
		}
	}
	for i := 0; i < 32; i++ {
		off := rvgen.ScratchSize + 31*8 + 8*i
		if qv, gv := le.Uint64(q[off:]), le.Uint64(g[off:]); qv != gv {
			fmt.Fprintf(&b, "  f%d: qemu %#016x (%g) govmm %#016x (%g)\n", i, qv, math.Float64frombits(qv), gv, math.Float64frombits(gv))
		}
	}
	off := rvgen.ScratchSize + 63*8
	if qv, gv := le.Uint64(q[off:]), le.Uint64(g[off:]); qv != gv {
		fmt.Fprintf(&b, "  fcsr: qemu %#x govmm %#x\n", qv, gv)
	}
	return b.String()
}
