package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/govmm/govmm/internal/qemuopt"
	"github.com/govmm/govmm/tcg"
	"github.com/govmm/govmm/tcg/linuxuser"
)

// userCmd runs a static riscv64 Linux program on the translator, like
// qemu-riscv64: `govmm user [-stats] PROGRAM [ARGS...]`. The exit status
// is the program's (128+signal when it dies of one).
func userCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("govmm user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stats := fs.Bool("stats", false, "print instructions retired, blocks translated and speed on exit")
	memSize := fs.String("m", "16G", "guest address space size")
	ncpu := fs.Int("smp", 1, "CPUs the program sees (sched_getaffinity)")
	backend := fs.String("backend", "", "code generator: native (x86-64 machine code) or closure (portable); default: native where supported")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: govmm user [options] PROGRAM [ARGS...]")
		fmt.Fprintln(stderr, "Runs a static riscv64 Linux program on govmm's translator.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return 2
	}
	size, err := qemuopt.Size(*memSize, 1<<20)
	if err != nil {
		fmt.Fprintf(stderr, "govmm user: -m %s: %v\n", *memSize, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	res, err := linuxuser.Run(ctx, linuxuser.Config{
		Path:    fs.Arg(0),
		Args:    fs.Args(),
		Env:     os.Environ(),
		Stdin:   os.Stdin,
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Warn:    stderr,
		MemSize: size,
		NCPU:    *ncpu,
		Backend: *backend,
	})
	if errors.Is(err, tcg.ErrUnknownBackend) {
		fmt.Fprintf(stderr, "govmm user: -backend %s: use native or closure\n", *backend)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "govmm user: %v\n", err)
		return 1
	}
	if res.Signal != 0 {
		fmt.Fprintf(stderr, "govmm user: %s: killed by signal %d: %s\n", fs.Arg(0), res.Signal, res.Detail)
	}
	if *stats {
		el := time.Since(start)
		fmt.Fprintf(stderr, "govmm user: %d instructions in %v (%.3g/s), %d blocks translated, %d invalidated\n",
			res.Instret, el.Round(time.Millisecond), float64(res.Instret)/el.Seconds(), res.Stats.Blocks, res.Stats.Invalidations)
	}
	return res.ExitCode
}
