// Command tcg compares govmm's translator with QEMU's TCG (qemu-riscv64)
// on the same CPU-bound riscv64 programs, in one run, and prints
// "name value" lines:
//
//	tcg_<prog>_s, qemu_<prog>_s, tcg_<prog>_ratio_vs_qemu   per program (seconds: best of -rounds)
//	tcg_int_insn_per_s, qemu_int_insn_per_s                 integer mix (crc32, matmul, list, sort)
//	tcg_int_ratio_vs_qemu                                   geometric mean of the integer ratios
//	tcg_fp_ratio_vs_qemu                                    the floating-point kernel (nbody)
//	tcg_code_data_same_page_slowdown                        samepage: stores to the code's page vs another page
//	qemu_code_data_same_page_slowdown                       the same for QEMU (per iteration)
//
// A ratio above 1 means govmm is faster. The programs are C sources
// (bench/tcg/programs) built with riscv64-linux-gnu-gcc -O2 -static; their
// outputs under both engines must match or the benchmark fails. govmm runs
// in this process (tcg/linuxuser, the engine behind `govmm user`); the
// instruction counts are govmm's retired instructions, which are the
// program's, so they hold for QEMU too.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/govmm/govmm/tcg/linuxuser"
)

type bench struct {
	name string
	src  string
	args []string
	// qemuArgs, when set, are QEMU's (samepage: far fewer iterations,
	// QEMU collapses there); times are then compared per iteration.
	qemuArgs []string
	iters    float64 // iterations with args (per-iteration scaling)
	qIters   float64
	kind     string // "int", "fp", "samepage-same", "samepage-other"
}

var benches = []bench{
	{name: "crc32", src: "crc32.c", args: []string{"2000"}, kind: "int"},
	{name: "matmul", src: "matmul.c", args: []string{"20000"}, kind: "int"},
	{name: "list", src: "list.c", args: []string{"60000"}, kind: "int"},
	{name: "sort", src: "sort.c", args: []string{"600"}, kind: "int"},
	{name: "nbody", src: "nbody.c", args: []string{"500000"}, kind: "fp"},
	{name: "samepage_other", src: "samepage.c", args: []string{"other", "100000000"}, iters: 1e8, qIters: 1e8, kind: "samepage-other"},
	{name: "samepage_same", src: "samepage.c", args: []string{"same", "100000000"}, qemuArgs: []string{"same", "100000"}, iters: 1e8, qIters: 1e5, kind: "samepage-same"},
}

func main() {
	progDir := flag.String("programs", "bench/tcg/programs", "directory of the C benchmark programs")
	outDir := flag.String("out", "out/bench-tcg", "build directory")
	gcc := flag.String("gcc", "riscv64-linux-gnu-gcc", "riscv64 C compiler")
	qemu := flag.String("qemu", "qemu-riscv64", "QEMU user-mode emulator")
	rounds := flag.Int("rounds", 3, "runs of each program per engine; the best time counts")
	only := flag.String("only", "", "comma-separated program names to run (default: all)")
	noQEMU := flag.Bool("no-qemu", false, "run govmm only")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of govmm's runs to this file")
	verbose := flag.Bool("v", false, "log each run")
	backend := flag.String("backend", "", "govmm's code generator: native or closure (default: native where supported)")
	flag.Parse()

	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		fatal(err)
	}
	if _, err := exec.LookPath(*gcc); err != nil {
		fatal(fmt.Errorf("%s not found: install gcc-riscv64-linux-gnu (make deps)", *gcc))
	}
	if !*noQEMU {
		if _, err := exec.LookPath(*qemu); err != nil {
			fatal(fmt.Errorf("%s not found: install qemu-user (make deps)", *qemu))
		}
	}
	var prof *os.File
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		prof = f
	}

	type result struct {
		b        bench
		tcg, q   float64 // seconds
		insns    uint64
		tcgStats linuxuser.Result
	}
	var results []result
	for _, b := range benches {
		if *only != "" && !contains(strings.Split(*only, ","), b.name) {
			continue
		}
		bin, err := build(*gcc, filepath.Join(*progDir, b.src), *outDir)
		if err != nil {
			fatal(err)
		}
		r := result{b: b, tcg: math.Inf(1), q: math.Inf(1)}
		var tcgOut, qOut []byte
		for i := 0; i < *rounds; i++ {
			if prof != nil && i == 0 {
				pprof.StartCPUProfile(prof)
			}
			el, out, res, err := runTCG(bin, b.args, *backend)
			if prof != nil && i == 0 {
				pprof.StopCPUProfile()
			}
			if err != nil {
				fatal(fmt.Errorf("%s under govmm: %w", b.name, err))
			}
			if el < r.tcg {
				r.tcg = el
			}
			r.insns, r.tcgStats, tcgOut = res.Instret, res, out
			if *verbose {
				fmt.Fprintf(os.Stderr, "govmm %s: %.3fs %d insns %.3g/s, %d blocks\n", b.name, el, res.Instret, float64(res.Instret)/el, res.Stats.Blocks)
			}
			if *noQEMU {
				continue
			}
			qa := b.args
			if b.qemuArgs != nil {
				qa = b.qemuArgs
			}
			el, out, err = runQEMU(*qemu, bin, qa)
			if err != nil {
				fatal(fmt.Errorf("%s under QEMU: %w", b.name, err))
			}
			if el < r.q {
				r.q = el
			}
			qOut = out
			if *verbose {
				fmt.Fprintf(os.Stderr, "qemu  %s: %.3fs\n", b.name, el)
			}
		}
		if !*noQEMU && b.qemuArgs == nil && !bytes.Equal(tcgOut, qOut) {
			fatal(fmt.Errorf("%s: outputs differ:\ngovmm %q\nqemu  %q", b.name, tcgOut, qOut))
		}
		results = append(results, r)
		fmt.Printf("tcg_%s_insns %d\n", b.name, r.insns)
		fmt.Printf("tcg_%s_s %.4f\n", b.name, r.tcg)
		if !*noQEMU {
			fmt.Printf("qemu_%s_s %.4f\n", b.name, r.q)
			if b.qemuArgs == nil {
				fmt.Printf("tcg_%s_ratio_vs_qemu %.3f\n", b.name, r.q/r.tcg)
			}
		}
	}
	if prof != nil {
		prof.Close()
	}

	// Aggregates.
	var intInsns uint64
	var intTCG, intQ, logSum float64
	nInt := 0
	byKind := map[string]result{}
	for _, r := range results {
		byKind[r.b.kind] = r
		if r.b.kind == "int" {
			intInsns += r.insns
			intTCG += r.tcg
			intQ += r.q
			logSum += math.Log(r.q / r.tcg)
			nInt++
		}
	}
	if nInt > 0 {
		fmt.Printf("tcg_int_insn_per_s %.4g\n", float64(intInsns)/intTCG)
		if !*noQEMU {
			fmt.Printf("qemu_int_insn_per_s %.4g\n", float64(intInsns)/intQ)
			fmt.Printf("tcg_int_ratio_vs_qemu %.3f\n", math.Exp(logSum/float64(nInt)))
		}
	}
	if r, ok := byKind["fp"]; ok && !*noQEMU {
		fmt.Printf("tcg_fp_ratio_vs_qemu %.3f\n", r.q/r.tcg)
	}
	same, ok1 := byKind["samepage-same"]
	other, ok2 := byKind["samepage-other"]
	if ok1 && ok2 {
		fmt.Printf("tcg_code_data_same_page_slowdown %.3f\n", (same.tcg/same.b.iters)/(other.tcg/other.b.iters))
		if !*noQEMU {
			fmt.Printf("qemu_code_data_same_page_slowdown %.1f\n", (same.q/same.b.qIters)/(other.q/other.b.qIters))
		}
	}
	fmt.Println("tcg_int_ratio_vs_qemu_target 1.0")
	fmt.Println("tcg_code_data_same_page_slowdown_target 2.0")
}

func contains(list []string, s string) bool {
	sort.Strings(list)
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}

// build compiles src (cached by the source's hash).
func build(gcc, src, outDir string) (string, error) {
	text, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(text, gcc...))
	bin := filepath.Join(outDir, strings.TrimSuffix(filepath.Base(src), ".c")+"-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	out, err := exec.Command(gcc, "-O2", "-static", "-o", bin, src, "-lm").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", gcc, src, err, out)
	}
	return bin, nil
}

func runTCG(bin string, args []string, backend string) (float64, []byte, linuxuser.Result, error) {
	var out bytes.Buffer
	start := time.Now()
	res, err := linuxuser.Run(context.Background(), linuxuser.Config{
		Path: bin, Args: append([]string{bin}, args...), Stdout: &out, Stderr: os.Stderr,
		Backend: backend,
	})
	el := time.Since(start).Seconds()
	if err == nil && (res.ExitCode != 0 || res.Signal != 0) {
		err = fmt.Errorf("exit status %d %s", res.ExitCode, res.Detail)
	}
	return el, out.Bytes(), res, err
}

func runQEMU(qemu, bin string, args []string) (float64, []byte, error) {
	var out bytes.Buffer
	cmd := exec.Command(qemu, append([]string{bin}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, io.Discard
	start := time.Now()
	err := cmd.Run()
	return time.Since(start).Seconds(), out.Bytes(), err
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench-tcg:", err)
	os.Exit(1)
}
