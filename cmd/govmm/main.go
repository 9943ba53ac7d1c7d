// Command govmm is a virtual machine monitor for microVMs. It takes QEMU's
// command-line flags for the microVM subset:
//
//	govmm -kernel bzImage -initrd initrd.img -append console=ttyS0 -m 256M -smp 2
//
// Exit status: 0 when the guest powers off (or resets under -no-reboot),
// 1 when govmm fails while running the guest, 2 for a bad command line or
// configuration (nothing is started), 3 when the guest crashes (a triple
// fault under -no-reboot), 130 when interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/govmm/govmm/vmm"
)

func main() {
	start := time.Now()
	os.Exit(run(os.Args[1:], start, os.Stderr))
}

func run(args []string, start time.Time, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "initramfs":
			return initramfsCmd(args[1:], stderr)
		case "run":
			return runCmd(args[1:], start, os.Stdout, stderr)
		case "user":
			return userCmd(args[1:], stderr)
		}
	}
	// GOVMM_KVM_DEVICE names another KVM device node than /dev/kvm (a
	// container's, or a missing one in tests).
	cfg := vmm.Config{Start: start, KVMPath: os.Getenv("GOVMM_KVM_DEVICE")}
	warnings, err := parseArgs(args, &cfg)
	if err != nil {
		if errors.Is(err, errHelp) {
			usage(os.Stdout)
			return 0
		}
		fmt.Fprintf(stderr, "govmm: %v\n", err)
		return 2
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "govmm: warning: %s\n", w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	out, err := vmm.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "govmm: %v\n", err)
		if vmm.IsUsage(err) {
			return 2
		}
		return 1
	}
	return out.ExitCode()
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: govmm -kernel PATH [-initrd PATH] [-append CMDLINE] [options]")
	fmt.Fprintln(w, "       govmm run [options] [-file HOST:GUEST]... [-- CMD ARGS...]")
	fmt.Fprintln(w, "       govmm user [-stats] [-backend native|closure] PROGRAM [ARGS...]")
	fmt.Fprintln(w, "       govmm initramfs -o FILE [-init PATH] [-applets] [-file HOST:GUEST]... [-modules-dir DIR -modules LIST]")
	fmt.Fprintln(w, "\nOptions (QEMU's spelling):")
	for _, o := range options {
		if o.hidden {
			continue
		}
		name := "-" + o.name
		if o.arg != "" {
			name += " " + o.arg
		}
		fmt.Fprintf(w, "  %-22s %s\n", name, o.help)
	}
	fmt.Fprintln(w, "\nConsole: Ctrl-A x quits, Ctrl-A h helps, Ctrl-A Ctrl-A sends Ctrl-A.")
	fmt.Fprintln(w, "Exit status: 0 guest powered off, 1 govmm failed, 2 bad usage, 3 guest crashed, 130 interrupted.")
}
