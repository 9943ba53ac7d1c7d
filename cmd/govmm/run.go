package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/govmm/govmm/guest/runproto"
	"github.com/govmm/govmm/initramfs"
	"github.com/govmm/govmm/kvm"
	"github.com/govmm/govmm/vmm"
)

// guestDir is where `make run` leaves a default guest for arch: a kernel
// and an initramfs with guest/init.
func guestDir(arch string) string {
	cache := os.Getenv("GOVMM_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "govmm")
	}
	return filepath.Join(cache, "guest", arch)
}

// pickEngine chooses the guest: x86-64 on KVM where /dev/kvm can boot x86
// Linux, riscv64 under the translator otherwise. The reason is for -v.
func pickEngine(cfg *vmm.Config) (arch, why string) {
	switch cfg.Accel {
	case "kvm":
		return "x86_64", "-accel kvm"
	case "tcg":
		return "riscv64", "-accel tcg"
	}
	path := cfg.KVMPath
	if path == "" {
		path = kvm.DevicePath
	}
	if _, err := os.Stat(path); err != nil {
		return "riscv64", fmt.Sprintf("%s is not there", path)
	}
	if kvm.IsPVM() {
		return "riscv64", "/dev/kvm is kvm_pvm, which cannot boot x86 Linux"
	}
	return "x86_64", "/dev/kvm is a hardware-style KVM"
}

// runCmd is `govmm run [flags] [-- CMD ARGS...]`: boot the default guest,
// run CMD inside it, copy its stdout and stderr byte for byte, and exit
// with its status.
func runCmd(args []string, start time.Time, stdout, stderr io.Writer) int {
	var flags, command []string
	for i, a := range args {
		if a == "--" {
			flags, command = args[:i], args[i+1:]
			break
		}
	}
	if command == nil {
		flags = args
	}
	// -file HOST:GUEST adds files to the guest; the other flags are the
	// VM's, as for govmm itself.
	var files fileFlags
	var vmFlags []string
	for i := 0; i < len(flags); i++ {
		if flags[i] == "-file" || flags[i] == "--file" {
			if i+1 == len(flags) {
				fmt.Fprintln(stderr, "govmm run: -file needs HOST:GUEST")
				return 2
			}
			if err := files.Set(flags[i+1]); err != nil {
				fmt.Fprintf(stderr, "govmm run: -file %v\n", err)
				return 2
			}
			i++
			continue
		}
		vmFlags = append(vmFlags, flags[i])
	}
	cfg := vmm.Config{Start: start, KVMPath: os.Getenv("GOVMM_KVM_DEVICE"), MemSize: 256 << 20}
	warnings, err := parseArgs(vmFlags, &cfg)
	if err != nil {
		if errors.Is(err, errHelp) {
			fmt.Fprintln(stdout, "usage: govmm run [-v] [-m SIZE] [-smp N] [-accel kvm|tcg] [-file HOST:GUEST]... [-netdev ... -device ...] [-- CMD ARGS...]")
			return 0
		}
		fmt.Fprintf(stderr, "govmm run: %v\n", err)
		return 2
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "govmm: warning: %s\n", w)
	}
	arch, why := pickEngine(&cfg)
	if cfg.Verbose {
		fmt.Fprintf(stderr, "govmm run: %s guest (%s)\n", arch, why)
	}
	if arch == "riscv64" {
		cfg.Machine, cfg.Accel = "virt", "tcg"
	}
	dir := guestDir(arch)
	if cfg.Kernel == "" {
		cfg.Kernel = filepath.Join(dir, "kernel")
	}
	if cfg.Initrd == "" {
		cfg.Initrd = filepath.Join(dir, "initramfs.cpio")
	}
	for _, p := range []string{cfg.Kernel, cfg.Initrd} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(stderr, "govmm run: no %s guest: %s is missing (run `make run` once to build it)\n", arch, p)
			return 2
		}
	}
	if len(files) > 0 {
		// Linux unpacks concatenated archives in order: the extra files
		// go in a second one appended to the default guest's.
		extra, err := appendFiles(cfg.Initrd, files)
		if err != nil {
			fmt.Fprintf(stderr, "govmm run: %v\n", err)
			return 2
		}
		defer os.Remove(extra)
		cfg.Initrd = extra
	}
	cmdline := "console=ttyS0 quiet panic=-1"
	if command != nil {
		p, err := runproto.EncodeCmd(command)
		if err != nil {
			fmt.Fprintf(stderr, "govmm run: %v\n", err)
			return 2
		}
		cmdline += " " + p
	}
	if cfg.Append != "" {
		cmdline += " " + cfg.Append
	}
	cfg.Append = cmdline
	// The kernel's console is for -v; the command's output comes over the
	// virtio console, byte for byte.
	if !cfg.Verbose {
		cfg.Serial = vmm.SerialNull
	} else {
		cfg.Serial, cfg.SerialPath = vmm.SerialFile, "/dev/stderr"
	}
	var mu sync.Mutex
	status, gotStatus := 0, false
	demux := &runproto.Demux{
		Stdout: stdout, Stderr: stderr,
		OnExit: func(s int) { mu.Lock(); status, gotStatus = s, true; mu.Unlock() },
		OnStarted: func() {
			if cfg.Verbose {
				fmt.Fprintf(stderr, "govmm run: guest init started %.1f ms after launch\n", float64(time.Since(start).Microseconds())/1000)
			}
		},
	}
	cfg.Console = demux
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	out, err := vmm.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "govmm run: %v\n", err)
		if vmm.IsUsage(err) {
			return 2
		}
		return 1
	}
	mu.Lock()
	defer mu.Unlock()
	if code := out.ExitCode(); code == 130 {
		return 130
	}
	if !gotStatus {
		fmt.Fprintf(stderr, "govmm run: the guest stopped (%v) without reporting the command's status; -v shows its console\n", out.Stop)
		return 1
	}
	return status
}

// appendFiles writes base followed by a second archive holding files, and
// returns the new file's path.
func appendFiles(base string, files []initramfs.File) (string, error) {
	in, err := os.ReadFile(base)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "govmm-initrd-*.cpio")
	if err != nil {
		return "", err
	}
	_, err = f.Write(in)
	if err == nil {
		err = initramfs.Write(f, initramfs.Archive{Files: files})
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("initramfs with -file: %w", err)
	}
	return f.Name(), nil
}
