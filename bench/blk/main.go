//go:build linux

// Command blk measures virtio-blk against plain pread/pwrite on the same
// file in the same run: 4 KiB random reads and writes (IOPS) and 1 MiB
// sequential reads and writes (MiB/s). It is the tool behind
// `make bench-blk` (mk/bench-blk.mk).
//
// The govmm side is the real device (virtio/blk) on a *blk.Image, driven
// by a fake guest driver in this process that keeps -qd requests in
// flight on the split ring, kicks through the queue's eventfd only when
// the device asks (EVENT_IDX avail_event), and sleeps until the device's
// interrupt when it has nothing to collect, re-arming used_event first,
// as Linux's interrupt-driven virtio-blk does (-driver-spin makes it poll
// first, like a guest with polled queues). Each 4 KiB request is three
// descriptors (header, one page, status); each 1 MiB request is an
// indirect table of 258 (header, 256 pages, status). The pages of one
// request are consecutive in guest memory, so the device joins them into
// one iovec, as a Linux guest's own segment merging would have.
//
// The plain side is -jobs goroutines calling pread/pwrite on their own
// descriptor of the same file with the same access pattern (uniformly
// random aligned blocks, or a shared sequential cursor); the device gets
// the same number of I/O workers (-jobs). The sides run alternately,
// -rounds times each for -duration, and medians are compared. The file
// lives in -dir (default: the system temporary directory), which must not
// be tmpfs: the tool prints the filesystem it used.
//
// Page cache: by default both sides use it; the file is read once before
// measuring so both start warm, and writes are synced (untimed) after
// every measurement so neither side inherits the other's dirty pages.
// This measures the VMM's cost per request, which is what the device can
// change. -direct opens both sides O_DIRECT instead and measures the disk
// through each.
//
// The device side runs two busy threads (the device's and the fake
// guest's), the plain side one: on a host with few CPUs and other load the
// device side loses more to the scheduler, so the tool prints the CPU
// count and load average with the results.
//
// Output: "name value" lines, among them blk_randread_ratio,
// blk_randwrite_ratio, blk_seq_ratio (sequential reads) and
// blk_seqwrite_ratio, each govmm/plain (blk_direct_ with -direct); the
// target (>= 0.8) is printed, not asserted.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const targetRatio = 0.8

type options struct {
	dir      string
	size     int64
	duration time.Duration
	rounds   int
	qd       int
	seqQD    int
	jobs     int
	direct   bool
	only     string
	keep     bool
	verbose  bool
	spin     time.Duration
	poll     time.Duration
	prefix   string
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", os.TempDir(), "directory for the benchmark file (a local disk, not tmpfs)")
	flag.Int64Var(&o.size, "size", 512<<20, "file size in bytes")
	flag.DurationVar(&o.duration, "duration", time.Second, "length of each measurement")
	flag.IntVar(&o.rounds, "rounds", 5, "measurements per side and workload (alternating; medians reported)")
	flag.IntVar(&o.qd, "qd", 32, "requests the fake driver keeps in flight for 4 KiB random I/O")
	flag.IntVar(&o.seqQD, "seq-qd", 4, "requests in flight for 1 MiB sequential I/O")
	flag.IntVar(&o.jobs, "jobs", 1, "device I/O workers, and plain-side threads")
	flag.BoolVar(&o.direct, "direct", false, "O_DIRECT on both sides (cache=none) instead of the page cache")
	flag.StringVar(&o.only, "only", "", "run only this workload: randread, randwrite, seq, seqwrite")
	flag.BoolVar(&o.keep, "keep", false, "keep the benchmark file")
	flag.BoolVar(&o.verbose, "v", false, "one line per measurement on stderr")
	flag.DurationVar(&o.poll, "poll", 0, "the device's PollMax (0: its default; negative: no polling)")
	flag.DurationVar(&o.spin, "driver-spin", 0, "how long the fake driver polls for completions before it sleeps until the interrupt (0: interrupt-driven, as Linux's virtio-blk)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run")
	flag.Parse()
	o.prefix = "blk_"
	if o.direct {
		o.prefix = "blk_direct_"
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(o, os.Stdout); err != nil {
		pprof.StopCPUProfile()
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "bench/blk: %v\n", err)
	os.Exit(1)
}

// workload is one access pattern.
type workload struct {
	name  string
	write bool
	seq   bool
	bs    int
	qd    int
	unit  string // of the reported rate
}

func run(o options, out io.Writer) error {
	fsName, err := fsType(o.dir)
	if err != nil {
		return err
	}
	if fsName == "tmpfs" || fsName == "ramfs" {
		return fmt.Errorf("%s is on %s: pick a directory on a local disk with -dir", o.dir, fsName)
	}
	path := filepath.Join(o.dir, fmt.Sprintf("govmm-bench-blk-%d.img", os.Getpid()))
	if err := createFile(path, o.size); err != nil {
		return err
	}
	if !o.keep {
		defer os.Remove(path)
	}
	fmt.Fprintf(out, "%sfile_fs %s\n", o.prefix, fsName)
	fmt.Fprintf(out, "%sfile_mib %d\n", o.prefix, o.size>>20)
	fmt.Fprintf(out, "%sjobs %d\n", o.prefix, o.jobs)
	fmt.Fprintf(out, "%sqd %d\n", o.prefix, o.qd)
	fmt.Fprintf(out, "%shost_cpus %d\n", o.prefix, runtime.NumCPU())
	// Other load on the host skews the comparison (the device side runs
	// two threads, the plain side one): say how much there was.
	fmt.Fprintf(out, "%shost_loadavg_before %s\n", o.prefix, loadavg())
	defer func() { fmt.Fprintf(out, "%shost_loadavg_after %s\n", o.prefix, loadavg()) }()

	plain, err := openPlain(path, o.direct)
	if err != nil {
		return err
	}
	defer plain.close()
	dev, err := newGovmm(path, o)
	if err != nil {
		return err
	}
	defer dev.close()
	if !o.direct {
		// Warm the page cache for both sides: they read the same file.
		if err := warm(path); err != nil {
			return err
		}
	}
	for _, w := range []workload{
		{"randread", false, false, 4096, o.qd, "iops"},
		{"randwrite", true, false, 4096, o.qd, "iops"},
		{"seq", false, true, 1 << 20, o.seqQD, "mibps"},
		{"seqwrite", true, true, 1 << 20, o.seqQD, "mibps"},
	} {
		if o.only != "" && o.only != w.name {
			continue
		}
		var g, p []float64
		for r := 0; r < o.rounds; r++ {
			// Alternate which side goes first.
			sides := []bool{r%2 == 0, r%2 != 0}
			for _, govmmSide := range sides {
				var ops int64
				var el time.Duration
				var err error
				if govmmSide {
					ops, el, err = dev.measure(w, o)
				} else {
					ops, el, err = plain.measure(w, o)
				}
				if err != nil {
					return fmt.Errorf("%s: %w", w.name, err)
				}
				if w.write {
					unix.Fdatasync(plain.fd) // untimed: no dirty pages carried over
				}
				rate := float64(ops) / el.Seconds()
				if w.unit == "mibps" {
					rate = rate * float64(w.bs) / (1 << 20)
				}
				side := "plain"
				if govmmSide {
					g = append(g, rate)
					side = "govmm"
				} else {
					p = append(p, rate)
				}
				if o.verbose {
					fmt.Fprintf(os.Stderr, "%s round %d %s: %.0f %s\n", w.name, r, side, rate, w.unit)
				}
			}
		}
		gm, pm := median(g), median(p)
		fmt.Fprintf(out, "%s%s_%s_govmm %.0f\n", o.prefix, w.name, w.unit, gm)
		fmt.Fprintf(out, "%s%s_%s_plain %.0f\n", o.prefix, w.name, w.unit, pm)
		fmt.Fprintf(out, "%s%s_ratio %.3f\n", o.prefix, w.name, gm/pm)
	}
	fmt.Fprintf(out, "%starget_ratio %.1f\n", o.prefix, targetRatio)
	dev.writeCounters(out)
	return nil
}

// loadavg is the 1-minute load average.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
