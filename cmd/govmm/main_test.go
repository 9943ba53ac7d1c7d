package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/kvmtest"
	"github.com/govmm/govmm/internal/ptytest"
	"github.com/govmm/govmm/internal/runprobe"
	"github.com/govmm/govmm/internal/testkernel"
	"github.com/govmm/govmm/kvm"
	"golang.org/x/sys/unix"
)

// binDir holds the govmm binary the tests run, built once in TestMain.
var binDir string

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "probe" {
		os.Exit(runprobe.Main(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "govmm-cli-test")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// govmm builds the command once per test binary.
func govmm(t *testing.T) string {
	t.Helper()
	if kvmtest.Inside() {
		t.Skip("no Go toolchain inside the nested KVM guest: this test runs on the host")
	}
	bin := filepath.Join(binDir, "govmm")
	buildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build govmm: %v", buildErr)
	}
	return bin
}

type result struct {
	code           int
	stdout, stderr string
}

func runGovmm(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(govmm(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = nil
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("govmm %q did not exit", args)
	}
	return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// acpiPoweroff is 64-bit code writing SLP_TYP=5|SLP_EN to the sleep
// control register, then halting.
var acpiPoweroff = []byte{0x66, 0xba, 0xc0, 0x03, 0xb0, 5<<2 | 1<<5, 0xee, 0xf4, 0xeb, 0xfd}

// TestBadInput checks every user error gives exactly one line on stderr,
// exit status 2, and leaves no file behind.
func TestBadInput(t *testing.T) {
	govmm(t) // builds the binary, or skips where there is no toolchain
	dir := t.TempDir()
	kernel := write(t, dir, "kernel", testkernel.Flat64(acpiPoweroff))
	notKernel := write(t, dir, "notkernel", bytes.Repeat([]byte("not a kernel\n"), 100))
	// A riscv64 Image header and nothing else: enough to pick -M virt.
	rvHeader := make([]byte, 4096)
	copy(rvHeader[56:], "RSC\x05")
	rvImage := write(t, dir, "Image", rvHeader)
	bigInitrd := write(t, dir, "big.img", make([]byte, 40<<20))
	unreadable := write(t, dir, "unreadable", []byte("x"))
	os.Chmod(unreadable, 0)
	serialFile := filepath.Join(dir, "serial.log")
	img := write(t, dir, "disk.img", make([]byte, 1<<20))
	lockedImg := write(t, dir, "locked.img", make([]byte, 1<<20))
	lf, err := os.Open(lockedImg)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string // a substring of the one line
	}{
		{"missing kernel", nil, []string{"-kernel", filepath.Join(dir, "nope")}, "no such file"},
		{"no kernel", nil, []string{"-m", "64M"}, "no kernel"},
		{"kernel is a directory", nil, []string{"-kernel", dir}, "is a directory"},
		{"not a kernel", nil, []string{"-kernel", notKernel}, "not a bzImage or an ELF"},
		{"initrd does not fit", nil, []string{"-kernel", kernel, "-initrd", bigInitrd, "-m", "48M"}, "initrd"},
		{"missing initrd", nil, []string{"-kernel", kernel, "-initrd", filepath.Join(dir, "nope")}, "-initrd"},
		{"memory too small for the kernel", nil, []string{"-kernel", kernel, "-m", "16M"}, "-m must be at least"},
		{"memory below minimum", nil, []string{"-kernel", kernel, "-m", "8M"}, "at least 16M"},
		{"no kvm device", []string{"GOVMM_KVM_DEVICE=" + filepath.Join(dir, "kvm")}, []string{"-kernel", kernel}, "KVM is not available"},
		{"unknown flag", nil, []string{"-kernel", kernel, "-frobnicate"}, "unknown option -frobnicate"},
		{"missing value", nil, []string{"-kernel"}, "needs a value"},
		{"bad -m", nil, []string{"-kernel", kernel, "-m", "lots"}, "not a size"},
		{"bad -smp", nil, []string{"-kernel", kernel, "-smp", "0"}, "CPU count"},
		{"bad -accel", nil, []string{"-kernel", kernel, "-accel", "hvf"}, "unknown accelerator"},
		{"bad -machine", nil, []string{"-kernel", kernel, "-M", "q35"}, "unknown machine"},
		{"bad -serial", nil, []string{"-kernel", kernel, "-serial", "tcp:1"}, "unknown serial"},
		{"bad acpi value", nil, []string{"-kernel", kernel, "-M", "microvm,acpi=maybe"}, "acpi"},
		{"unknown netdev id", nil, []string{"-kernel", kernel, "-netdev", "tap,id=n0,ifname=tap0", "-device", "virtio-net-pci,netdev=n1"}, "no -netdev with id=n1"},
		{"device before netdev", nil, []string{"-kernel", kernel, "-device", "virtio-net-pci,netdev=n0", "-netdev", "tap,id=n0"}, "no -netdev with id=n0"},
		{"netdev used twice", nil, []string{"-kernel", kernel, "-netdev", "tap,id=n0", "-device", "virtio-net-pci,netdev=n0", "-device", "virtio-net-pci,netdev=n0"}, "already used"},
		{"bad mac", nil, []string{"-kernel", kernel, "-netdev", "tap,id=n0", "-device", "virtio-net-pci,netdev=n0,mac=52:54:zz:00:00:01"}, "not a MAC address"},
		{"multicast mac", nil, []string{"-kernel", kernel, "-netdev", "tap,id=n0", "-device", "virtio-net-pci,netdev=n0,mac=01:00:5e:00:00:01"}, "multicast"},
		{"duplicate netdev id", nil, []string{"-kernel", kernel, "-netdev", "tap,id=n0", "-netdev", "tap,id=n0"}, "duplicate netdev id"},
		{"nic without tap", nil, []string{"-kernel", kernel, "-net", "nic,model=virtio"}, "pairs with one -net tap"},
		{"tap name too long", nil, []string{"-kernel", kernel, "-net", "nic", "-net", "tap,ifname=averyveryverylongname"}, "longer than 15"},
		{"tap is not a tap", nil, []string{"-kernel", kernel, "-netdev", "tap,id=n0,ifname=lo", "-device", "virtio-net-pci,netdev=n0"}, "-netdev n0"},
		{"mmio net on x86", nil, []string{"-kernel", kernel, "-netdev", "tap,id=n0", "-device", "virtio-net-device,netdev=n0"}, "use virtio-net-pci"},
		{"bad sndbuf", nil, []string{"-kernel", kernel, "-netdev", "tap,id=n0,ifname=tap0,sndbuf=-1"}, "sndbuf"},
		{"unknown netdev option", nil, []string{"-kernel", kernel, "-netdev", "tap,id=n0,vhost=on"}, "unknown option \"vhost\""},
		{"drive missing", nil, []string{"-kernel", kernel, "-drive", "file=" + filepath.Join(dir, "nope.img") + ",if=virtio,format=raw"}, "no such file"},
		{"drive is a directory", nil, []string{"-kernel", kernel, "-drive", "file=" + dir + ",format=raw"}, "is a directory"},
		{"drive locked", nil, []string{"-kernel", kernel, "-drive", "file=" + lockedImg}, "locked"},
		{"drive format", nil, []string{"-kernel", kernel, "-drive", "file=x.img,format=qcow2"}, "only raw"},
		{"drive unknown option", nil, []string{"-kernel", kernel, "-drive", "file=x.img,discard=unmap"}, "unknown option"},
		{"drive cache mode", nil, []string{"-kernel", kernel, "-drive", "file=x.img,cache=unsafe"}, "writeback or none"},
		{"drive id unknown", nil, []string{"-kernel", kernel, "-device", "virtio-blk-pci,drive=d9"}, "no -drive with id=d9"},
		{"same image twice", nil, []string{"-kernel", kernel, "-drive", "file=" + img, "-drive", "file=" + img}, "same image"},
		{"unknown device", nil, []string{"-kernel", kernel, "-device", "e1000"}, "unknown device"},
		{"tcg with an x86 kernel", nil, []string{"-kernel", kernel, "-accel", "tcg"}, "not a riscv64 kernel Image"},
		{"microvm on tcg", nil, []string{"-kernel", kernel, "-M", "microvm", "-accel", "tcg"}, "x86-64 guests run on KVM"},
		{"virt on kvm", nil, []string{"-kernel", rvImage, "-M", "virt", "-accel", "kvm"}, "riscv64 guests run on the translator"},
		{"bios on microvm", nil, []string{"-kernel", kernel, "-bios", kernel}, "without firmware"},
		{"missing bios", nil, []string{"-kernel", rvImage, "-bios", filepath.Join(dir, "nope")}, "-bios"},
		{"too many harts", nil, []string{"-kernel", rvImage, "-smp", "9"}, "at most 8 harts"},
		{"riscv initrd does not fit", nil, []string{"-kernel", rvImage, "-initrd", bigInitrd, "-m", "32M"}, "does not fit"},
		{"pci rng on virt", nil, []string{"-kernel", rvImage, "-device", "virtio-rng-pci"}, "use virtio-rng-device"},
		{"serial file left behind", nil, []string{"-kernel", notKernel, "-serial", "file:" + serialFile}, "not a bzImage"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runGovmm(t, c.env, c.args...)
			if r.code != 2 {
				t.Errorf("exit status %d, want 2; stderr %q", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "govmm: ") {
				t.Errorf("stderr is not one govmm: line: %q", r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q lacks %q", r.stderr, c.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
	if _, err := os.Stat(serialFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("-serial file left behind after a failed start: %v", err)
	}
	if os.Geteuid() != 0 {
		r := runGovmm(t, nil, "-kernel", unreadable)
		if r.code != 2 || !strings.Contains(r.stderr, "permission denied") {
			t.Errorf("unreadable kernel: %d %q", r.code, r.stderr)
		}
	}
}

func skipIfNoKVM(t *testing.T) {
	t.Helper()
	sys, err := kvm.Open("")
	if err != nil {
		t.Skipf("no usable /dev/kvm: %v", err)
	}
	sys.Close()
}

// TestRunGuests runs tiny guests through the whole command.
func TestRunGuests(t *testing.T) {
	govmm(t) // builds the binary, or skips where there is no toolchain
	skipIfNoKVM(t)
	dir := t.TempDir()
	hello := append([]byte{
		0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
		0xb0, 'h', 0xee, 0xb0, 'i', 0xee, 0xb0, '\n', 0xee,
	}, acpiPoweroff...)
	tripleFault := []byte{0x48, 0x31, 0xc0, 0x50, 0x50, 0x0f, 0x01, 0x1c, 0x24, 0x31, 0xc9, 0xf7, 0xf1}
	reset := []byte{0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0xeb, 0xfd}
	serialLog := filepath.Join(dir, "serial.log")
	for _, c := range []struct {
		name   string
		code   []byte
		args   []string
		status int
		stdout string
		stderr string
	}{
		{"poweroff with serial output", hello, nil, 0, "hi\n", ""},
		{"serial to a file", hello, []string{"-serial", "file:" + serialLog}, 0, "", ""},
		{"serial none", hello, []string{"-serial", "none"}, 0, "", ""},
		{"triple fault with -no-reboot", tripleFault, []string{"-no-reboot"}, 3, "", "RIP="},
		{"reset with -no-reboot", reset, []string{"-no-reboot"}, 0, "", ""},
		{"verbose", hello, []string{"-v", "-smp", "2"}, 0, "hi\n", "guest stopped: poweroff"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := write(t, dir, "k", testkernel.Flat64(c.code))
			r := runGovmm(t, nil, append([]string{"-kernel", k, "-m", "64M", "-append", "console=ttyS0"}, c.args...)...)
			if r.code != c.status {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, c.status, r.stderr)
			}
			if r.stdout != c.stdout {
				t.Errorf("stdout %q, want %q", r.stdout, c.stdout)
			}
			if !strings.Contains(r.stderr, c.stderr) {
				t.Errorf("stderr %q lacks %q", r.stderr, c.stderr)
			}
		})
	}
	if b, err := os.ReadFile(serialLog); err != nil || string(b) != "hi\n" {
		t.Errorf("serial log %q, %v", b, err)
	}
}

// TestSignalStops sends SIGTERM to a spinning guest's VMM: it must stop
// promptly with status 130.
func TestSignalStops(t *testing.T) {
	govmm(t) // builds the binary, or skips where there is no toolchain
	skipIfNoKVM(t)
	dir := t.TempDir()
	k := write(t, dir, "k", testkernel.Flat64([]byte{0xeb, 0xfe}))
	for _, smp := range []string{"1", "4"} {
		cmd := exec.Command(govmm(t), "-kernel", k, "-m", "64M", "-smp", smp, "-serial", "none")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("-smp %s: govmm ignored SIGTERM", smp)
		}
		if c := cmd.ProcessState.ExitCode(); c != 130 {
			t.Errorf("-smp %s: exit %d after SIGTERM, want 130", smp, c)
		}
	}
}

var (
	buildOnce sync.Once
	buildErr  error
)

// TestConsoleQuit runs govmm on a terminal: the terminal goes raw while
// the guest runs, Ctrl-A x ends the VM with status 0, and the terminal
// settings come back.
func TestConsoleQuit(t *testing.T) {
	govmm(t) // builds the binary, or skips where there is no toolchain
	skipIfNoKVM(t)
	master, slave := ptytest.Open(t)
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	k := write(t, dir, "k", testkernel.Flat64([]byte{0xeb, 0xfe}))
	cmd := exec.Command(govmm(t), "-kernel", k, "-m", "64M")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, master) // drain whatever govmm prints
	deadline := time.Now().Add(10 * time.Second)
	for {
		now, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if now.Lflag&unix.ECHO == 0 {
			break // raw mode is on
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("terminal never went raw")
		}
		time.Sleep(10 * time.Millisecond)
	}
	master.Write([]byte{0x01, 'x'})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("Ctrl-A x did not stop govmm")
	}
	if c := cmd.ProcessState.ExitCode(); c != 0 {
		t.Errorf("exit %d after Ctrl-A x, want 0", c)
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if *after != *before {
		t.Errorf("terminal not restored:\nbefore %+v\nafter  %+v", before, after)
	}
}

func TestInitramfsCommand(t *testing.T) {
	govmm(t) // builds the binary, or skips where there is no toolchain
	dir := t.TempDir()
	prog := write(t, dir, "prog", []byte("#!/bin/true\n"))
	os.Chmod(prog, 0o755)
	out := filepath.Join(dir, "a.cpio")
	if r := runGovmm(t, nil, "initramfs", "-o", out, "-init", prog, "-file", prog+":/bin/x"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	a, _ := os.ReadFile(out)
	out2 := filepath.Join(dir, "b.cpio")
	runGovmm(t, nil, "initramfs", "-o", out2, "-init", prog, "-file", prog+":/bin/x")
	b, _ := os.ReadFile(out2)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("the same inputs gave different archives")
	}
	for _, args := range [][]string{
		{"initramfs"},
		{"initramfs", "-o", filepath.Join(dir, "c.cpio"), "-init", filepath.Join(dir, "missing")},
		{"initramfs", "-o", filepath.Join(dir, "d.cpio"), "-file", "relative"},
		{"initramfs", "-bogus"},
	} {
		r := runGovmm(t, nil, args...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "c.cpio")); err == nil {
		t.Error("a failed build left its output behind")
	}
}

// TestNetCounters runs a VM with a tap-backed virtio-net device: SIGUSR1
// prints the device's counters while it runs, and -v prints them at exit.
func TestNetCounters(t *testing.T) {
	govmm(t) // builds the binary, or skips where there is no toolchain
	skipIfNoKVM(t)
	if os.Geteuid() != 0 {
		t.Skip("creating a tap needs root")
	}
	dir := t.TempDir()
	k := write(t, dir, "k", testkernel.Flat64([]byte{0xeb, 0xfe}))
	cmd := exec.Command(govmm(t), "-kernel", k, "-m", "64M", "-serial", "none", "-v",
		"-netdev", "tap,id=n0,sndbuf=64k", "-device", "virtio-net-pci,netdev=n0")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGUSR1)
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	out := errb.String()
	if n := strings.Count(out, "govmm: net n0: tap_write_eagain 0"); n != 2 {
		t.Fatalf("counters printed %d times, want twice (SIGUSR1 and exit):\n%s", n, out)
	}
	if !strings.Contains(out, "sndbuf 65536") {
		t.Errorf("-v does not report the tap's sndbuf:\n%s", out)
	}
}
