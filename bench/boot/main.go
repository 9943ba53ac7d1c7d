// Command boot times riscv64 guests end to end, govmm's `-M virt` on its
// translator against qemu-system-riscv64 -M virt (Debian's qemu-system-misc,
// its bundled OpenSBI) with the same kernel and initramfs, alternated in one
// run, and prints "name value" lines:
//
//	riscv_boot_s, qemu_riscv_boot_s, riscv_boot_ratio_vs_qemu   launch to the init's marker (medians)
//	run_true_s, qemu_run_true_s, run_true_ratio_vs_qemu         `govmm run -- true` to its exit, and
//	                                                            QEMU booting the same default guest with
//	                                                            the same command to its exit
//
// A ratio is govmm's time over QEMU's: below 1 govmm is faster. The boot
// guest's init is guest/markerinit.c, built here with riscv64-linux-gnu-gcc; the
// run guest is `govmm run`'s default (make guest-riscv).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/govmm/govmm/guest/runproto"
	"github.com/govmm/govmm/initramfs"
)

const marker = "GOVMM-INIT-MARKER"

func main() {
	govmm := flag.String("govmm", "bin/govmm", "the govmm binary")
	kernel := flag.String("kernel", "", "riscv64 kernel Image (default: the default guest's)")
	guest := flag.String("guest", "", "the default riscv64 guest's directory (default: $GOVMM_CACHE/guest/riscv64)")
	qemu := flag.String("qemu", "qemu-system-riscv64", "QEMU")
	rounds := flag.Int("rounds", 7, "measured rounds (each runs both VMMs once)")
	only := flag.String("only", "boot,run", "which measurements: boot, run")
	out := flag.String("out", "out/bench-boot", "work directory")
	verbose := flag.Bool("v", false, "print each run")
	flag.Parse()
	if *guest == "" {
		cache := os.Getenv("GOVMM_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "govmm")
		}
		*guest = filepath.Join(cache, "guest", "riscv64")
	}
	if *kernel == "" {
		*kernel = filepath.Join(*guest, "kernel")
	}
	b := &bench{govmm: *govmm, kernel: *kernel, qemu: *qemu, verbose: *verbose}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	for _, what := range strings.Split(*only, ",") {
		switch what {
		case "boot":
			initrd, err := markerInitrd(*out)
			if err != nil {
				fail(err)
			}
			g, q, err := b.alternate(*rounds, b.govmmBoot(initrd), b.qemuBoot(initrd))
			if err != nil {
				fail(err)
			}
			report("riscv_boot", g, q)
		case "run":
			initrd := filepath.Join(*guest, "initramfs.cpio")
			g, q, err := b.alternate(*rounds, b.govmmRunTrue(), b.qemuRunTrue(initrd, *out))
			if err != nil {
				fail(err)
			}
			report("run_true", g, q)
		default:
			fail(fmt.Errorf("-only %s: boot or run", what))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-boot:", err)
	os.Exit(1)
}

func report(name string, govmm, qemu time.Duration) {
	fmt.Printf("%s_s %.3f\n", name, govmm.Seconds())
	fmt.Printf("qemu_%s_s %.3f\n", name, qemu.Seconds())
	fmt.Printf("%s_ratio_vs_qemu %.3f\n", name, govmm.Seconds()/qemu.Seconds())
}

// markerInitrd builds markerinit.c into an initramfs.
func markerInitrd(dir string) (string, error) {
	src, err := filepath.Abs(filepath.Join(sourceDir(), "guest", "markerinit.c"))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "markerinit")
	if out, err := exec.Command("riscv64-linux-gnu-gcc", "-static", "-Os", "-o", bin, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("riscv64-linux-gnu-gcc (make deps installs it): %v\n%s", err, out)
	}
	initrd := filepath.Join(dir, "marker.cpio")
	a := initramfs.Archive{
		Devices: []initramfs.Device{initramfs.Console},
		Files:   []initramfs.File{{Path: "/init", Perm: 0o755, HostPath: bin}},
	}
	return initrd, initramfs.WriteFile(initrd, a)
}

// sourceDir is this command's source directory (the benchmark runs from
// the repository root).
func sourceDir() string { return "bench/boot" }

type bench struct {
	govmm, kernel, qemu string
	verbose             bool
}

// measure is one timed run: a command and what ends the measurement.
type measure struct {
	name string
	argv []string
	// untilMarker stops the clock when the marker appears on stdout;
	// otherwise at the process's exit.
	untilMarker bool
}

func (b *bench) govmmBoot(initrd string) measure {
	return measure{"govmm", []string{b.govmm, "-M", "virt", "-m", "128M", "-kernel", b.kernel, "-initrd", initrd,
		"-append", "console=ttyS0 quiet", "-nographic", "-no-reboot"}, true}
}

func (b *bench) qemuBoot(initrd string) measure {
	return measure{"qemu", []string{b.qemu, "-M", "virt", "-m", "128M", "-bios", "default", "-kernel", b.kernel, "-initrd", initrd,
		"-append", "console=ttyS0 quiet", "-nographic", "-no-reboot"}, true}
}

func (b *bench) govmmRunTrue() measure {
	return measure{"govmm", []string{b.govmm, "run", "-accel", "tcg", "--", "true"}, false}
}

// qemuRunTrue boots the default guest as `govmm run` does: its command
// line, a virtio console (the channel guest/init reports the command's
// status on), 128 MiB.
func (b *bench) qemuRunTrue(initrd, dir string) measure {
	p, err := runproto.EncodeCmd([]string{"true"})
	if err != nil {
		fail(err)
	}
	return measure{"qemu", []string{b.qemu, "-M", "virt", "-m", "128M", "-bios", "default", "-kernel", b.kernel, "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1 " + p, "-nographic", "-no-reboot",
		"-device", "virtio-serial-device", "-chardev", "file,id=hvc,path=" + filepath.Join(dir, "hvc.out"),
		"-device", "virtconsole,chardev=hvc"}, false}
}

// alternate runs a and b in turn, one warm-up round then rounds measured
// ones, and returns their medians.
func (b *bench) alternate(rounds int, x, y measure) (time.Duration, time.Duration, error) {
	var tx, ty []time.Duration
	for i := -1; i < rounds; i++ {
		for _, m := range []measure{x, y} {
			d, err := b.run(m)
			if err != nil {
				return 0, 0, err
			}
			if b.verbose {
				fmt.Fprintf(os.Stderr, "round %d %s %.3f s\n", i, m.name, d.Seconds())
			}
			if i < 0 {
				continue
			}
			if m.name == x.name {
				tx = append(tx, d)
			} else {
				ty = append(ty, d)
			}
		}
	}
	return median(tx), median(ty), nil
}

func (b *bench) run(m measure) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.argv[0], m.argv[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	cmd.Stderr = io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%s: %w", m.argv[0], err)
	}
	var at time.Duration
	var seen []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m.untilMarker && at == 0 && strings.Contains(sc.Text(), marker) {
			at = time.Since(start)
		}
		if len(seen) < 50 {
			seen = append(seen, sc.Text())
		}
	}
	err = cmd.Wait()
	end := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w\n%s", strings.Join(m.argv, " "), err, strings.Join(seen, "\n"))
	}
	if !m.untilMarker {
		return end, nil
	}
	if at == 0 {
		return 0, fmt.Errorf("%s: no %s on the console\n%s", m.name, marker, strings.Join(seen, "\n"))
	}
	return at, nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
