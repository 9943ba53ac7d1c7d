// Command init is govmm's guest init: PID 1 of the default guest. It
// mounts the kernel's filesystems, loads the modules the initramfs lists,
// configures the network from the kernel's ip= parameter, signals boot
// completion, runs the command `govmm run` put on the kernel command line
// with its output and exit status going back over the virtio console
// (guest/runproto), and powers off. With no command it prints a report of
// the machine.
//
// The same binary is a few small tools (true, false, echo, cat, uname,
// sleep) when invoked under their names, so the default guest has a
// minimal userland without a second binary.
//
// Built statically (CGO_ENABLED=0) for each guest architecture.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if name := filepath.Base(os.Args[0]); name != "init" {
		os.Exit(applet(name, os.Args[1:]))
	}
	start := time.Now()
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "init: not PID 1; printing the report only")
		report(os.Stdout, start)
		return
	}
	// The kernel starts init with HOME and TERM only; commands are found
	// through PATH (exec.Command looks them up in init's own environment).
	os.Setenv("PATH", defaultPath)
	mountAll()
	loadModules()
	cmdline, _ := os.ReadFile("/proc/cmdline")
	setupNetwork(string(cmdline))
	bootMarker()
	status := runCommand(string(cmdline), start)
	shutdown(status)
}

const defaultPath = "/bin:/sbin:/usr/bin:/usr/sbin"

// mountAll mounts what every program expects. Failures are reported and
// skipped: a degraded guest beats none.
func mountAll() {
	for _, m := range []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"devpts", "/dev/pts", "devpts"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"tmpfs", "/run", "tmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fs, unix.MS_NOSUID, ""); err != nil && err != unix.EBUSY {
			fmt.Fprintf(os.Stderr, "init: mount %s: %v\n", m.dst, err)
		}
	}
}

// shutdown syncs and powers off. PID 1 must never exit: the kernel would
// panic.
func shutdown(status int) {
	unix.IoctlSetInt(1, unix.TCSBRK, 1) // tcdrain: poweroff does not wait for the UART
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(os.Stderr, "init: poweroff: %v (status %d)\n", err, status)
	}
	for {
		time.Sleep(time.Hour)
	}
}
