package vmm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/govmm/govmm/legacy"
	"github.com/govmm/govmm/virtio/console"
	"github.com/govmm/govmm/vmm/accel"
)

// machine is what every machine type offers vmm.
type machine interface {
	Run(ctx context.Context) accel.Stop
	Close() error
	// SerialInput is where console input goes; nil without a port.
	SerialInput() io.Writer
	Describe() string
}

// Outcome is how a VM ended.
type Outcome struct {
	Stop  accel.Stop
	Boots int // 1 + the number of reboots
}

// ExitCode is the process exit status for an outcome (README, "Exit
// status"): 0 when the guest powered off or reset under -no-reboot, 1 when
// the engine failed, 3 when the guest crashed (a triple fault under
// -no-reboot or a crash event), 130 when the VMM was interrupted.
func (o Outcome) ExitCode() int {
	switch o.Stop.Reason {
	case accel.ReasonPoweroff, accel.ReasonReset:
		return 0
	case accel.ReasonTripleFault, accel.ReasonCrash, accel.ReasonHalted:
		return 3
	case accel.ReasonCanceled:
		return 130
	}
	return 1
}

// Run boots the VM and runs it until it stops for good: a poweroff, a
// reset under -no-reboot, an engine error or ctx's cancellation. A reset
// without -no-reboot builds the machine afresh, as a reboot does.
// Errors that are the user's to fix are *UsageError.
func Run(ctx context.Context, cfg Config) (Outcome, error) {
	if err := cfg.validate(); err != nil {
		return Outcome{}, err
	}
	logf := func(format string, args ...any) {
		if cfg.Verbose {
			fmt.Fprintf(cfg.Stderr, "govmm: "+format+"\n", args...)
		}
	}
	serial, closeSerial, err := openSerial(&cfg)
	if err != nil {
		return Outcome{}, err
	}
	defer closeSerial()
	// Device errors are logged once each, always: they are the user's
	// only hint that frames are being dropped.
	warnf := func(format string, args ...any) {
		fmt.Fprintf(cfg.Stderr, "govmm: "+format+"\n", args...)
	}
	nets, err := openNets(cfg, logf, warnf)
	if err != nil {
		return Outcome{}, err
	}
	defer closeNets(nets)
	// SIGUSR1 prints the device counters while the VM runs.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for range usr1 {
			writeNetMetrics(cfg.Stderr, nets)
		}
	}()
	if cfg.Verbose {
		defer writeNetMetrics(cfg.Stderr, nets)
	}
	drives, err := openDrives(cfg, logf, warnf)
	if err != nil {
		return Outcome{}, err
	}
	defer closeDrives(drives)
	if cfg.Verbose {
		defer writeDriveMetrics(cfg.Stderr, drives)
	}
	rngs, err := newRNGs(cfg, warnf)
	if err != nil {
		return Outcome{}, err
	}
	devs := virtioDevices(nets)
	for _, d := range drives {
		devs = append(devs, d.dev)
	}
	for _, r := range rngs {
		defer r.Close()
		devs = append(devs, r)
	}
	if cfg.Console != nil {
		con, err := console.New(console.Config{Out: cfg.Console, Log: warnf})
		if err != nil {
			return Outcome{}, err
		}
		defer con.Close()
		devs = append(devs, con)
	}
	for _, w := range consoleWarnings(cfg.Append, cfg.Serial != SerialNone) {
		fmt.Fprintf(cfg.Stderr, "govmm: warning: %s\n", w)
	}

	input := newInputSwitch()
	defer input.close()
	quit := make(chan struct{})
	if cfg.Serial == SerialStdio {
		restore, err := startConsole(cfg, input, quit)
		if err != nil {
			return Outcome{}, err
		}
		defer restore()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-quit:
			cancel()
		case <-ctx.Done():
		}
	}()

	out := Outcome{}
	for {
		m, err := newMachine(cfg, serial, devs, nets, logf)
		if err != nil {
			if out.Boots == 0 {
				return out, classify(err)
			}
			return out, fmt.Errorf("reboot: %w", err)
		}
		out.Boots++
		logf("%s", m.Describe())
		input.set(m.SerialInput())
		stop := m.Run(ctx)
		input.set(nil)
		if err := m.Close(); err != nil {
			logf("close machine: %v", err)
		}
		if stop.Reason == accel.ReasonCanceled {
			select {
			case <-quit:
				// Ctrl-A x is the user's way to end the VM: a clean stop.
				stop = accel.Stop{Reason: accel.ReasonPoweroff, VCPU: -1, Detail: "quit from the console"}
			default:
			}
		}
		out.Stop = stop
		logf("guest stopped: %v", stop)
		if stop.Detail != "" && (cfg.Verbose || stop.Reason == accel.ReasonError || stop.Reason == accel.ReasonTripleFault) {
			fmt.Fprintf(cfg.Stderr, "%s", stop.Detail)
		}
		if stop.Reason.IsReset() && !cfg.NoReboot && ctx.Err() == nil {
			logf("rebooting")
			continue
		}
		if stop.Reason == accel.ReasonError {
			return out, stop.Err
		}
		return out, nil
	}
}

// classify turns errors the user can fix into UsageErrors.
func classify(err error) error {
	if IsUsage(err) {
		return err
	}
	for _, e := range userErrors {
		if errors.Is(err, e) {
			return &UsageError{err}
		}
	}
	return err
}

// openSerial opens -serial file:PATH. A file govmm creates is removed
// again if the VM never starts (close with started=false).
func openSerial(cfg *Config) (io.Writer, func(), error) {
	switch cfg.Serial {
	case SerialStdio:
		return cfg.Stdout, func() {}, nil
	case SerialNull:
		return io.Discard, func() {}, nil
	case SerialNone:
		return nil, func() {}, nil
	}
	_, statErr := os.Stat(cfg.SerialPath)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(cfg.SerialPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, usagef("-serial file:%s: %v", cfg.SerialPath, err)
	}
	start := time.Now()
	return f, func() {
		f.Close()
		// Leave nothing behind when the VM never ran: an empty file this
		// run created within moments is removed.
		if created && time.Since(start) < time.Minute {
			if st, err := os.Stat(cfg.SerialPath); err == nil && st.Size() == 0 {
				os.Remove(cfg.SerialPath)
			}
		}
	}, nil
}

// startConsole puts a terminal stdin in raw mode and feeds it, with
// Ctrl-A escapes, to the serial port. The returned func restores the
// terminal; callers defer it (and it is idempotent).
func startConsole(cfg Config, input io.Writer, quit chan struct{}) (func(), error) {
	raw, err := legacy.MakeRaw(cfg.Stdin)
	if err != nil {
		if !errors.Is(err, legacy.ErrNotSupported) {
			return nil, fmt.Errorf("console: %w", err)
		}
		// No termios here: the console works, in cooked mode.
		fmt.Fprintf(cfg.Stderr, "govmm: warning: %v\n", err)
	}
	var once sync.Once
	c := legacy.NewConsole(legacy.ConsoleConfig{
		In:     cfg.Stdin,
		Out:    cfg.Stdout,
		OnQuit: func() { once.Do(func() { close(quit) }) },
	})
	go c.Run(input)
	return func() { raw.Restore() }, nil
}
