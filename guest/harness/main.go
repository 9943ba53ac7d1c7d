// Command harness is /init of the outer x86-64 guest that the nested-KVM test
// runner (cmd/nestedkvm) boots under QEMU TCG. It mounts the basic filesystems,
// loads the kernel modules that give the guest a hardware-style /dev/kvm
// (kvm_amd with nested=1 on QEMU's emulated SVM), runs the test binaries its
// manifest lists, frames each one's output with marker lines on the serial
// console for the host to parse, and powers the guest off.
//
// It must be a static binary (CGO_ENABLED=0): the initramfs holds no libc.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govmm/govmm/internal/nestedkvm/proto"
)

func main() {
	con := newConsole(os.Stdout)
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "harness: must run as PID 1 (/init) of the outer guest; see cmd/nestedkvm")
		os.Exit(2)
	}
	defer powerOff(con)
	// A panic would kill PID 1 and show up as a kernel panic far from its cause;
	// report it as a harness failure instead, then power off as usual.
	defer func() {
		if p := recover(); p != nil {
			con.Printf("panic: %v", p)
			con.Marker(proto.KindFatal)
		}
	}()
	if err := run(con); err != nil {
		con.Printf("%v", err)
		con.Marker(proto.KindFatal)
	}
}

func run(con *console) error {
	if err := mountAll(); err != nil {
		return err
	}
	// The kernel opened fds 0-2 on /dev/console from the initramfs; reopen it from
	// devtmpfs too so output survives an initramfs that lacks the node.
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
		_ = unix.Dup3(int(f.Fd()), 1, 0)
		_ = unix.Dup3(int(f.Fd()), 2, 0)
		f.Close()
	}
	m, err := readManifest(proto.ManifestPath)
	if err != nil {
		return err
	}
	con.nonce = m.Nonce
	con.Marker(proto.KindReady, "uptime="+uptime())

	failed := loadModules(con, m.Modules)
	reportFacts(con)
	if failed > 0 {
		return fmt.Errorf("%d of %d modules failed to load; not running tests that would only skip", failed, len(m.Modules))
	}

	r := &runner{
		con:   con,
		env:   append([]string{"PATH=/bin:/usr/bin", "HOME=/tmp", "TMPDIR=/tmp", proto.EnvInside + "=1"}, m.Env...),
		dir:   "/tmp",
		grace: 5 * time.Second,
	}
	passed := 0
	for _, c := range m.Commands {
		if r.run(c) == "0" {
			passed++
		}
	}
	con.Marker(proto.KindSummary, "commands="+strconv.Itoa(len(m.Commands)),
		"passed="+strconv.Itoa(passed), "failed="+strconv.Itoa(len(m.Commands)-passed))
	return nil
}

func mountAll() error {
	mounts := []struct{ source, target, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", m.target, err)
		}
		if err := unix.Mount(m.source, m.target, m.fstype, unix.MS_NOSUID, ""); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

func readManifest(path string) (*proto.Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m proto.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", path, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return &m, nil
}

// loadModules loads mods in order and returns how many failed. It goes on after
// a failure so that the log names every module that is missing.
func loadModules(con *console, mods []proto.Module) int {
	failed := 0
	for _, mod := range mods {
		start := time.Now()
		err := loadModule(mod)
		status := "ok"
		if err != nil {
			failed++
			status = "error"
			con.Printf("load %s: %v", mod.Name, err)
		} else {
			con.Printf("loaded %s in %v", strings.TrimSpace(mod.Name+" "+mod.Params), time.Since(start).Round(time.Millisecond))
		}
		con.Marker(proto.KindModule, mod.Name, "status="+status)
	}
	return failed
}

func loadModule(mod proto.Module) error {
	f, err := os.Open(mod.Path)
	if err != nil {
		return fmt.Errorf("open module: %w", err)
	}
	defer f.Close()
	flags := 0
	// Debian's 6.1 modules are plain .ko files and the host side decompresses any
	// that are not, since this kernel has no CONFIG_MODULE_DECOMPRESS; the flag
	// is for a kernel that has it and a cache that kept compressed files.
	if ext := filepath.Ext(mod.Path); ext == ".xz" || ext == ".zst" || ext == ".gz" {
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	err = unix.FinitModule(int(f.Fd()), mod.Params, flags)
	if errors.Is(err, unix.EEXIST) {
		return nil // built in, or loaded as someone's dependency
	}
	if err != nil {
		return fmt.Errorf("finit_module %s: %w", mod.Path, err)
	}
	return nil
}

// reportFacts prints what a person needs to see why KVM did or did not come up.
func reportFacts(con *console) {
	fact := func(k, v string) { con.Marker(proto.KindFact, k+"="+v) }
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		fact("kernel", unix.ByteSliceToString(u.Release[:]))
	}
	fact("cpus", strconv.Itoa(runtime.NumCPU()))
	fact("svm", yesNo(cpuFlag("svm")))
	if _, err := os.Stat("/dev/kvm"); err == nil {
		fact("dev_kvm", "present")
	} else {
		fact("dev_kvm", "absent")
	}
	nested := "absent"
	if b, err := os.ReadFile("/sys/module/kvm_amd/parameters/nested"); err == nil {
		nested = strings.TrimSpace(string(b))
	}
	fact("kvm_amd_nested", nested)
}

func cpuFlag(flag string) bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			for _, f := range strings.Fields(v) {
				if f == flag {
					return true
				}
			}
			return false
		}
	}
	return false
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// uptime returns the guest's uptime in seconds as text, or "unknown".
func uptime() string {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// powerOff ends the guest. The outer QEMU pc machine has ACPI, so power-off makes
// QEMU exit. If reboot(2) fails, returning from main kills PID 1, the kernel
// panics, panic=-1 reboots at once and QEMU's -no-reboot turns that into an
// exit too; the host sees the failure as missing markers.
func powerOff(con *console) {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		con.Printf("power off: %v", err)
	}
}
