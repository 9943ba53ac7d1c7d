//go:build linux && (amd64 || arm64 || riscv64)

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// buildKVMHlt builds testdata/kvmhlt, a minimal VMM whose single KVM_RUN
// runs a hlt, and checks that it works untraced. It skips, with the reason,
// where there is no usable /dev/kvm or no Go toolchain.
func buildKVMHlt(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skipf("no /dev/kvm: %v", err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the test VMM: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "kvmhlt")
	if out, err := exec.Command(goTool, "build", "-o", bin, "./testdata/kvmhlt").CombinedOutput(); err != nil {
		t.Fatalf("build kvmhlt: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-m", "1").CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "open /dev/kvm") {
			t.Skipf("/dev/kvm not usable: %s", out)
		}
		t.Fatalf("kvmhlt untraced: %v\n%s", err, out)
	}
	if !strings.HasSuffix(string(out), "hlt\n") {
		t.Fatalf("kvmhlt untraced printed %q, want it to end in \"hlt\"", out)
	}
	return bin
}

// guestRAMLine returns the address kvmhlt printed for its guest RAM.
func guestRAMLine(t *testing.T, f *os.File) uint64 {
	t.Helper()
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "guest_ram "); ok {
			addr, _, _ := strings.Cut(rest, " ")
			v, err := strconv.ParseUint(addr, 0, 64)
			if err != nil {
				t.Fatalf("parse %q: %v", sc.Text(), err)
			}
			return v
		}
	}
	t.Fatal("kvmhlt printed no guest_ram line")
	return 0
}

func TestTraceKVMHlt(t *testing.T) {
	bin := buildKVMHlt(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		// More threads and a signal that must reach the target, or it
		// waits forever.
		{"threads and signal", []string{"-threads", "6", "-signal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := os.CreateTemp(t.TempDir(), "out")
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			// 12 MiB: a size the Go runtime's own mappings do not have,
			// so the guest RAM rule has exactly one match.
			const ramMiB = 12
			argv := append([]string{bin, "-m", strconv.Itoa(ramMiB)}, tc.args...)
			s, err := traceLaunch(traceConfig{Argv: argv, GuestRAMBytes: ramMiB << 20, Timeout: 20 * time.Second, Output: out})
			if err != nil {
				t.Fatalf("traceLaunch: %v", err)
			}
			t.Logf("launch %v, VmRSS %d KiB, guest RAM %d KiB resident, %d threads, KVM_RUN on thread %d",
				s.Launch, s.VmRSSKiB, s.GuestRAM.RssKiB, s.Threads, s.KVMRunThreadID)
			if s.Launch <= 0 || s.Launch > 20*time.Second {
				t.Errorf("launch time %v, want positive", s.Launch)
			}
			if s.VmRSSKiB == 0 {
				t.Error("VmRSS is 0")
			}
			if want := guestRAMLine(t, out); s.GuestRAM.Start != want || s.GuestRAMExact != 1 {
				t.Errorf("guest RAM mapping at %#x (exact matches %d), kvmhlt mapped it at %#x", s.GuestRAM.Start, s.GuestRAMExact, want)
			}
			// The hlt page is the only one written before KVM_RUN, and
			// the stop comes before the ioctl touches anything.
			if s.GuestRAM.RssKiB != 4 {
				t.Errorf("guest RAM resident %d KiB, want 4", s.GuestRAM.RssKiB)
			}
			if s.OverheadKiB() != s.VmRSSKiB-4 {
				t.Errorf("overhead %d KiB, want VmRSS - 4", s.OverheadKiB())
			}
			// The Go runtime has started threads; which one the vCPU
			// goroutine locked may be any of them. Nothing signals it
			// while KVM_RUN waits, so the notification names it.
			if s.Threads < 2 || s.KVMRunThreadID <= 0 {
				t.Errorf("%d threads, KVM_RUN on thread %d; want a vCPU thread", s.Threads, s.KVMRunThreadID)
			}
		})
	}
}

func TestTraceTargetWithoutKVMRun(t *testing.T) {
	_, err := traceLaunch(traceConfig{Argv: []string{"sh", "-c", "echo bye; exit 3"}, GuestRAMBytes: 1 << 20, Timeout: 20 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "target exited with status 3 before its first KVM_RUN") || !strings.Contains(err.Error(), "bye") {
		t.Errorf("err = %v, want the exit status and the captured output", err)
	}
}

// A child that outlives the target keeps the seccomp filter in use, so only
// the waker's signal gets the tool out of SECCOMP_IOCTL_NOTIF_RECV.
func TestTraceTargetExitsLeavingChild(t *testing.T) {
	start := time.Now()
	_, err := traceLaunch(traceConfig{Argv: []string{"sh", "-c", "sleep 1 & exit 4"}, GuestRAMBytes: 1 << 20, Timeout: 20 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "target exited with status 4 before its first KVM_RUN") {
		t.Errorf("err = %v, want the exit status", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("took %v: the tool waited for the child, not the target", d)
	}
}

func TestTraceTimeout(t *testing.T) {
	start := time.Now()
	_, err := traceLaunch(traceConfig{Argv: []string{"sleep", "30"}, GuestRAMBytes: 1 << 20, Timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no KVM_RUN within 300ms") {
		t.Errorf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to give up", d)
	}
}

func TestTraceMissingCommand(t *testing.T) {
	if _, err := traceLaunch(traceConfig{Argv: []string{"/nonexistent/vmm"}, Timeout: time.Second}); err == nil {
		t.Error("want an error for a missing command")
	}
}
