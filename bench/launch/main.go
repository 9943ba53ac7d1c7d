// Command launch measures how fast a VMM gets from its execve to its first
// KVM_RUN and how much memory beyond guest RAM it holds at that moment,
// alternating govmm and QEMU so that both see the same machine state. It is
// the tool behind `make bench-launch` (mk/bench-launch.mk).
//
// The method is the same for every target and needs no cooperation from it
// (a static Go binary ignores LD_PRELOAD). The tool re-executes itself as a
// wrapper under ptrace; the wrapper installs a seccomp filter that turns
// ioctl(fd, KVM_RUN, ...) into a seccomp user notification, hands the
// notification listener to the tool and execs the target. The start time is
// taken when the tool releases the target from its PTRACE_EVENT_EXEC stop,
// detaching for good, so the target then runs untraced: its thread creation
// and signals cost nothing extra, the only cost being ten BPF instructions
// per syscall. The end time is taken when the first KVM_RUN wakes the tool,
// before the ioctl runs. While that thread waits, the tool reads VmRSS from
// /proc/<pid>/status and subtracts the resident size of the guest RAM
// mapping found in /proc/<pid>/smaps (see findGuestRAM); then it kills the
// target.
//
// Usage:
//
//	launch [-rounds 10] [-warmup 1] [-timeout 30s] [-v] [-show-output]
//	       [-guest-ram SIZE] -qemu 'CMDLINE' -govmm 'CMDLINE'
//
// Either command may be empty to measure only the other. The commands may
// also come from $BENCH_LAUNCH_QEMU and $BENCH_LAUNCH_GOVMM, for runners
// that split arguments on white space (the nested KVM harness). Each round
// runs both, in alternating order. Output is one "name value" line per result on stdout;
// -v adds one line per launch on stderr.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"
)

func init() {
	// Keeps the main goroutine on the main thread, so that in wrapper mode
	// the thread that installs the filter and calls execve is the one the
	// tool traces (PTRACE_TRACEME traces only the thread that forked in).
	runtime.LockOSThread()
}

func main() {
	runWrapperIfRequested()
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "bench/launch: %v\n", err)
		os.Exit(1)
	}
}

// Targets the project aims for; printed, never asserted.
const (
	targetLaunchRatio    = 0.1
	targetRSSOverheadMiB = 5
)

// vmm is one command to measure.
type vmm struct {
	name     string
	argv     []string
	ramBytes uint64
	samples  []sample
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("launch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		qemuCmd    = fs.String("qemu", os.Getenv("BENCH_LAUNCH_QEMU"), "QEMU command line (shell-style quoting; empty: skip QEMU); default $BENCH_LAUNCH_QEMU")
		govmmCmd   = fs.String("govmm", os.Getenv("BENCH_LAUNCH_GOVMM"), "govmm command line (shell-style quoting; empty: skip govmm); default $BENCH_LAUNCH_GOVMM")
		rounds     = fs.Int("rounds", 10, "measured rounds; each launches every command once")
		warmup     = fs.Int("warmup", 1, "unmeasured rounds first, to warm the page cache")
		timeout    = fs.Duration("timeout", 30*time.Second, "per launch: kill a target that has not reached KVM_RUN by then")
		guestRAM   = fs.String("guest-ram", "", "guest RAM size (QEMU -m syntax) for both commands; default: each command's own -m")
		verbose    = fs.Bool("v", false, "print every launch on stderr")
		showOutput = fs.Bool("show-output", false, "pass the targets' stdout and stderr through to stderr")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *rounds < 1 || *warmup < 0 {
		return errors.New("-rounds must be at least 1 and -warmup at least 0")
	}

	var vmms []*vmm
	for _, c := range []struct{ name, cmd string }{{"govmm", *govmmCmd}, {"qemu", *qemuCmd}} {
		if c.cmd == "" {
			continue
		}
		v, err := newVMM(c.name, c.cmd, *guestRAM)
		if err != nil {
			return err
		}
		vmms = append(vmms, v)
	}
	if len(vmms) == 0 {
		return errors.New("nothing to measure: give -qemu, -govmm or both")
	}

	var output *os.File
	if *showOutput {
		output = os.Stderr
	}
	warnedTie := map[string]bool{}
	for r := -*warmup; r < *rounds; r++ {
		for i := range vmms {
			// Alternate the order so neither VMM always runs right after
			// the other (cache and frequency effects).
			v := vmms[i]
			if r%2 != 0 {
				v = vmms[len(vmms)-1-i]
			}
			s, err := traceLaunch(traceConfig{Argv: v.argv, GuestRAMBytes: v.ramBytes, Timeout: *timeout, Output: output})
			if err != nil {
				return fmt.Errorf("%s launch (round %d): %w", v.name, r, err)
			}
			if *verbose {
				fmt.Fprintf(stderr, "round %d %s: launch %.3f ms, VmRSS %d KiB, guest RAM %d/%d KiB resident at %#x, overhead %d KiB, %d threads\n",
					r, v.name, ms(s.Launch), s.VmRSSKiB, s.GuestRAM.RssKiB, s.GuestRAM.SizeKiB, s.GuestRAM.Start, s.OverheadKiB(), s.Threads)
			}
			if s.GuestRAMExact > 1 && !warnedTie[v.name] {
				warnedTie[v.name] = true
				fmt.Fprintf(stderr, "warning: %s has %d mappings of exactly its guest RAM size; took the most resident one (%d KiB at %#x)\n",
					v.name, s.GuestRAMExact, s.GuestRAM.RssKiB, s.GuestRAM.Start)
			}
			if r >= 0 {
				v.samples = append(v.samples, s)
			}
		}
	}
	report(stdout, vmms, *rounds)
	return nil
}

func newVMM(name, cmdline, guestRAM string) (*vmm, error) {
	argv, err := splitCommand(cmdline)
	if err != nil {
		return nil, fmt.Errorf("-%s: %w", name, err)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("-%s: empty command", name)
	}
	v := &vmm{name: name, argv: argv}
	if guestRAM != "" {
		v.ramBytes, err = parseMemSize(guestRAM)
		if err != nil {
			return nil, fmt.Errorf("-guest-ram: %w", err)
		}
		return v, nil
	}
	n, ok, err := guestRAMFromArgs(argv)
	if err != nil {
		return nil, fmt.Errorf("-%s: %w", name, err)
	}
	if !ok {
		return nil, fmt.Errorf("-%s: no -m option in the command; give -guest-ram", name)
	}
	v.ramBytes = n
	return v, nil
}

// summary is the medians of one VMM's samples.
type summary struct {
	launchMs, launchMinMs, launchMaxMs  float64
	rssMiB, overheadMiB, guestRAMRssMiB float64
}

func summarize(samples []sample) summary {
	var launch, rss, over, guest []float64
	for _, s := range samples {
		launch = append(launch, ms(s.Launch))
		rss = append(rss, kibToMiB(s.VmRSSKiB))
		over = append(over, kibToMiB(s.OverheadKiB()))
		guest = append(guest, kibToMiB(s.GuestRAM.RssKiB))
	}
	sum := summary{
		launchMs:       median(launch),
		rssMiB:         median(rss),
		overheadMiB:    median(over),
		guestRAMRssMiB: median(guest),
		launchMinMs:    math.NaN(),
		launchMaxMs:    math.NaN(),
	}
	if len(launch) > 0 {
		sum.launchMinMs, sum.launchMaxMs = slices.Min(launch), slices.Max(launch)
	}
	return sum
}

// report prints the results as "name value" lines. govmm's overhead is
// printed as rss_overhead_mib, the name the project's targets use.
func report(w io.Writer, vmms []*vmm, rounds int) {
	line := func(name string, v float64, prec int) {
		fmt.Fprintf(w, "%s %s\n", name, strconv.FormatFloat(v, 'f', prec, 64))
	}
	line("rounds", float64(rounds), 0)
	sums := map[string]summary{}
	for _, v := range vmms {
		s := summarize(v.samples)
		sums[v.name] = s
		line(v.name+"_launch_ms", s.launchMs, 3)
		line(v.name+"_launch_ms_min", s.launchMinMs, 3)
		line(v.name+"_launch_ms_max", s.launchMaxMs, 3)
		line(v.name+"_rss_mib", s.rssMiB, 2)
		line(v.name+"_guest_ram_rss_mib", s.guestRAMRssMiB, 2)
		name := v.name + "_rss_overhead_mib"
		if v.name == "govmm" {
			name = "rss_overhead_mib"
		}
		line(name, s.overheadMiB, 2)
	}
	g, okG := sums["govmm"]
	q, okQ := sums["qemu"]
	if okG && okQ {
		line("launch_ratio_vs_qemu", ratio(g.launchMs, q.launchMs), 4)
		line("rss_overhead_ratio_vs_qemu", ratio(g.overheadMiB, q.overheadMiB), 4)
	}
	line("target_launch_ratio_vs_qemu", targetLaunchRatio, 2)
	line("target_rss_overhead_mib", targetRSSOverheadMiB, 2)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func kibToMiB(k uint64) float64 { return float64(k) / 1024 }
