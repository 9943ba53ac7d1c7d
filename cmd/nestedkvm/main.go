// Command nestedkvm runs test binaries that need a hardware-style KVM inside an
// outer x86-64 guest of qemu-system-x86_64 under TCG, where kvm_amd (nested=1)
// gives a real /dev/kvm, and exits 0 only if all of them ran and passed.
//
//	nestedkvm -kernel-dir "$(guest/debian-x86-kernel.sh)" -harness out/kvmx86/harness \
//	    -test-args -test.v \
//	    -bin out/kvmx86/kvm.test -args '-test.v -test.run TestRun' \
//	    -bin out/kvmx86/vmm.test \
//	    -file-env GOVMM_TEST_KERNEL=/path/to/vmlinuz
//
// -args belongs to the -bin before it and is split on white space; a binary
// with no -args gets -test-args. The guest console streams to stdout; the
// runner's own lines and the verdict go to stderr. make test-kvm-x86 runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/govmm/govmm/initramfs"
	"github.com/govmm/govmm/internal/nestedkvm"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// binFlags collects -bin and -args in command-line order, so each -args can
// attach to the -bin before it.
type binFlags struct {
	tests   []nestedkvm.Test
	hasArgs []bool
}

type binFlag struct{ b *binFlags }

func (f binFlag) String() string { return "" }
func (f binFlag) Set(s string) error {
	f.b.tests = append(f.b.tests, nestedkvm.Test{Path: s})
	f.b.hasArgs = append(f.b.hasArgs, false)
	return nil
}

type argsFlag struct{ b *binFlags }

func (f argsFlag) String() string { return "" }
func (f argsFlag) Set(s string) error {
	n := len(f.b.tests)
	if n == 0 {
		return errors.New("-args must follow the -bin it belongs to (use -test-args for all binaries)")
	}
	if f.b.hasArgs[n-1] {
		return fmt.Errorf("second -args for %s", f.b.tests[n-1].Path)
	}
	f.b.tests[n-1].Args = strings.Fields(s)
	f.b.hasArgs[n-1] = true
	return nil
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func run(argv []string) int {
	fs := flag.NewFlagSet("nestedkvm", flag.ContinueOnError)
	var bins binFlags
	var envs, files, fileEnvs, modules listFlag
	var cfg nestedkvm.Config
	testArgs := fs.String("test-args", "", "arguments for every -bin that has no -args of its own, split on white space")
	fs.Var(binFlag{&bins}, "bin", "test binary to run in the outer guest (repeatable)")
	fs.Var(argsFlag{&bins}, "args", "arguments for the preceding -bin, split on white space")
	fs.Var(&envs, "env", "KEY=VALUE added to every test's environment (repeatable)")
	fs.Var(&files, "file", "HOST[:GUEST] file to copy into the outer guest; GUEST defaults to /files/<base name> (repeatable)")
	fs.Var(&fileEnvs, "file-env", "VAR=HOST: copy HOST to /files/<base name> and set VAR to that path for every test (repeatable)")
	fs.Var(&modules, "module", "NAME[:PARAMS] module to load, with its dependencies; replaces the default kvm_amd:nested=1 (repeatable)")
	fs.StringVar(&cfg.KernelDir, "kernel-dir", "", "kernel cache dir printed by guest/debian-x86-kernel.sh (required)")
	fs.StringVar(&cfg.HarnessPath, "harness", "", "static build of guest/harness (required)")
	fs.StringVar(&cfg.QEMU, "qemu", "qemu-system-x86_64", "QEMU binary")
	fs.IntVar(&cfg.MemoryMiB, "mem", 2048, "outer guest memory, MiB")
	fs.IntVar(&cfg.CPUs, "smp", 2, "outer guest vCPUs")
	fs.StringVar(&cfg.Append, "append", "", "extra outer kernel command line")
	fs.IntVar(&cfg.GzipLevel, "gzip", 0, "gzip level for the initramfs, 0 for none (under TCG, none boots fastest)")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Minute, "limit for the whole run, boot included")
	fs.DurationVar(&cfg.Stall, "stall", 5*time.Minute, "kill QEMU when the outer guest prints nothing for this long (0: never)")
	retries := fs.Int("retries", 3, "rerun, each in a fresh outer guest, the binaries a stalled or crashed outer guest left without a result (never one that failed)")
	fs.DurationVar(&cfg.TestTimeout, "test-timeout", 12*time.Minute, "limit for each test binary; past it the harness kills it (longer than go test's own 10m default, whose panic names the hung test)")
	fs.BoolVar(&cfg.KeepTemp, "keep", false, "keep the temp dir with the initramfs")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: nestedkvm -kernel-dir DIR -harness PATH -bin TEST [-args ARGS] ... [flags]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		return 2
	}
	usage := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "nestedkvm: "+format+"\n", args...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments %q; test binaries go in -bin", fs.Args())
	}
	if cfg.KernelDir == "" || cfg.HarnessPath == "" || len(bins.tests) == 0 {
		return usage("-kernel-dir, -harness and at least one -bin are required")
	}
	for i := range bins.tests {
		if !bins.hasArgs[i] {
			bins.tests[i].Args = strings.Fields(*testArgs)
		}
	}
	cfg.Tests = bins.tests
	cfg.Env = envs
	for _, s := range files {
		f, err := nestedkvm.ParseFileFlag(s)
		if err != nil {
			return usage("-file: %v", err)
		}
		cfg.Files = append(cfg.Files, f)
	}
	for _, s := range fileEnvs {
		k, host, ok := strings.Cut(s, "=")
		if !ok || k == "" || host == "" {
			return usage("-file-env %q: want VAR=HOST", s)
		}
		f := nestedkvm.File{HostPath: host, GuestPath: "/files/" + filepath.Base(host)}
		cfg.Files = append(cfg.Files, f)
		cfg.Env = append(cfg.Env, k+"="+f.GuestPath)
	}
	if len(modules) > 0 {
		cfg.Modules = []initramfs.ModuleRequest{}
		for _, s := range modules {
			name, params, _ := strings.Cut(s, ":")
			cfg.Modules = append(cfg.Modules, initramfs.ModuleRequest{Name: name, Params: params})
		}
	}
	cfg.Console = os.Stdout
	cfg.Log = os.Stderr

	// ^C or SIGTERM cancels the run: QEMU is killed and temp files removed
	// before we exit.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	all := cfg.Tests
	for attempt := 0; ; attempt++ {
		rep, err := nestedkvm.Run(ctx, cfg)
		report(rep, err)
		if err == nil {
			if attempt > 0 {
				fmt.Fprintf(os.Stderr, "nestedkvm: PASS after %d rerun(s) in a fresh outer guest: the earlier outer guest stalled or crashed (QEMU's emulated SVM), no test failed\n", attempt)
			}
			return 0
		}
		again := unfinished(rep, cfg.Tests)
		if again == nil || attempt == *retries || ctx.Err() != nil {
			if len(all) != len(cfg.Tests) || attempt > 0 {
				fmt.Fprintf(os.Stderr, "nestedkvm: FAIL after %d attempt(s)\n", attempt+1)
			}
			return 1
		}
		names := make([]string, len(again))
		for i, t := range again {
			names[i] = testName(t)
		}
		fmt.Fprintf(os.Stderr, "nestedkvm: the outer guest left %s without a result and no test failed: rerunning them in a fresh outer guest (attempt %d of %d)\n",
			strings.Join(names, ", "), attempt+2, *retries+1)
		cfg.Tests = again
	}
}

func testName(t nestedkvm.Test) string {
	if t.Name != "" {
		return t.Name
	}
	return filepath.Base(t.Path)
}

// unfinished returns the tests a failed run left without a result, or nil
// when it must not be retried: a test ran to the end and failed, or the
// harness itself gave up.
func unfinished(rep *nestedkvm.Report, tests []nestedkvm.Test) []nestedkvm.Test {
	r := rep.Result
	if r == nil || r.Fatal || len(r.Problems) > 0 {
		return nil
	}
	done := map[string]bool{}
	for _, c := range r.Commands {
		if c.Ended {
			if !c.Passed() {
				return nil
			}
			done[c.Name] = true
		}
	}
	var out []nestedkvm.Test
	for _, t := range tests {
		if !done[testName(t)] {
			out = append(out, t)
		}
	}
	return out
}

func report(rep *nestedkvm.Report, err error) {
	w := os.Stderr
	fmt.Fprintln(w)
	if rep.BootToHarness > 0 {
		fmt.Fprintf(w, "nestedkvm: outer boot to harness %.2fs (guest uptime %ss), QEMU ran %.2fs, total %.2fs\n",
			rep.BootToHarness.Seconds(), rep.GuestUptime, rep.QEMUTime.Seconds(), rep.Total.Seconds())
	} else if rep.QEMUTime > 0 {
		fmt.Fprintf(w, "nestedkvm: the harness never started; QEMU ran %.2fs, total %.2fs\n",
			rep.QEMUTime.Seconds(), rep.Total.Seconds())
	}
	if rep.Result != nil {
		for _, c := range rep.Result.Commands {
			verdict := "ok"
			switch {
			case !c.Began:
				verdict = "not run"
			case !c.Ended:
				verdict = "no result"
			case !c.Passed():
				verdict = "FAIL status=" + c.Status
			}
			fmt.Fprintf(w, "nestedkvm:   %-24s %s %s\n", c.Name, verdict, c.Elapsed)
		}
	}
	if err != nil {
		fmt.Fprintf(w, "nestedkvm: FAIL\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return
	}
	fmt.Fprintln(w, "nestedkvm: PASS")
}
