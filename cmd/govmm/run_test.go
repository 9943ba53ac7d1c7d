package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/kvmtest"
	"github.com/govmm/govmm/internal/runprobe"
	"github.com/govmm/govmm/vmm"
)

// probeFor returns the probe for the guest's architecture: this test
// binary on x86-64 (it runs inside the nested KVM guest, which has no Go
// toolchain), internal/runprobe/probe built for riscv64 otherwise.
func probeFor(t *testing.T, arch string) string {
	t.Helper()
	if arch == "x86_64" {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		return self
	}
	p := filepath.Join(t.TempDir(), "probe")
	cmd := exec.Command("go", "build", "-o", p, "github.com/govmm/govmm/internal/runprobe/probe")
	cmd.Env = append(os.Environ(), "GOARCH=riscv64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the riscv64 probe: %v\n%s", err, out)
	}
	return p
}

// runGuest runs `govmm run` in this process with probe in the guest as
// /bin/probe.
func runGuest(t *testing.T, probe string, args ...string) (status int, stdout, stderr []byte) {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"-file", probe + ":/bin/probe"}, args...)
	status = runCmd(full, time.Now(), &out, &errb)
	return status, out.Bytes(), errb.Bytes()
}

// TestRun runs commands in the default guest, x86-64 on a hardware KVM or
// riscv64 on the translator: the exit status, the output byte for byte,
// the arguments intact.
func TestRun(t *testing.T) {
	arch, why := pickEngine(&vmm.Config{})
	t.Logf("%s guest: %s", arch, why)
	transport := "pci"
	if arch == "x86_64" {
		kvmtest.SkipIfNoHardwareKVM(t)
	} else {
		transport = "device" // virtio-mmio
	}
	if _, err := os.Stat(guestDir(arch) + "/kernel"); err != nil {
		if kvmtest.Inside() || os.Getenv("GOVMM_REQUIRE_GUESTS") != "" {
			t.Fatalf("no default guest: %v", err)
		}
		t.Skipf("no default %s guest (make guest-%s): %v", arch, strings.TrimSuffix(arch, "_64"), err)
	}
	probe := probeFor(t, arch)
	runGuest := func(t *testing.T, args ...string) (int, []byte, []byte) {
		t.Helper()
		return runGuest(t, probe, args...)
	}
	t.Run("statuses", func(t *testing.T) {
		for _, want := range []int{0, 1, 3, 255} {
			st, _, errb := runGuest(t, "--", "/bin/probe", "exit", strconv.Itoa(want))
			if st != want {
				t.Errorf("exit %d came back as %d; stderr:\n%s", want, st, errb)
			}
		}
	})
	t.Run("not found", func(t *testing.T) {
		st, _, errb := runGuest(t, "--", "/no/such/cmd", "x")
		if st != 127 || !strings.Contains(string(errb), "command not found") {
			t.Errorf("status %d, stderr %q", st, errb)
		}
	})
	t.Run("10MiB binary", func(t *testing.T) {
		const n = 10 << 20
		st, out, errb := runGuest(t, "--", "/bin/probe", "bytes", strconv.Itoa(n), "42")
		if st != 0 || !bytes.Equal(out, runprobe.RandomBytes(n, 42)) {
			t.Errorf("status %d, %d bytes back (want %d, identical); stderr %q", st, len(out), n, errb)
		}
	})
	t.Run("arguments", func(t *testing.T) {
		args := []string{"a b", `"quoted"`, "'single'", "naïve ✓ 日本", "", "$HOME", "a=b,c", "\\back"}
		st, out, errb := runGuest(t, append([]string{"--", "/bin/probe", "args"}, args...)...)
		var got []string
		if st != 0 || json.Unmarshal(out, &got) != nil || strings.Join(got, "\x00") != strings.Join(args, "\x00") {
			t.Errorf("status %d, got %q, want %q; stderr %q", st, got, args, errb)
		}
	})
	t.Run("separate streams", func(t *testing.T) {
		st, out, errb := runGuest(t, "--", "/bin/probe", "split")
		var wo, we strings.Builder
		for i := 0; i < 100; i++ {
			fmt.Fprintf(&wo, "out%d\n", i)
			fmt.Fprintf(&we, "err%d\n", i)
		}
		if st != 0 || string(out) != wo.String() || string(errb) != we.String() {
			t.Errorf("status %d\nstdout %q\nstderr %q", st, out, errb)
		}
	})
	t.Run("virtio-blk and virtio-rng", func(t *testing.T) {
		img := filepath.Join(t.TempDir(), "disk.img")
		if err := os.WriteFile(img, append(runprobe.Pattern(3, 1<<20), make([]byte, 3<<20)...), 0o644); err != nil {
			t.Fatal(err)
		}
		st, out, errb := runGuest(t, "-drive", "file="+img+",format=raw", "-device", "virtio-rng-"+transport, "--", "/bin/probe", "disk", "/dev/vda")
		want := fmt.Sprintf("%x\n", sha256.Sum256(runprobe.Pattern(3, 1<<20)))
		if st != 0 || string(out) != want {
			t.Fatalf("status %d, guest read %q, want %q; stderr %q", st, out, want, errb)
		}
		b, err := os.ReadFile(img)
		if err != nil || !bytes.Equal(b[1<<20:2<<20], runprobe.Pattern(7, 1<<20)) {
			t.Fatalf("the guest's write did not reach the image: %v", err)
		}
		st, out, errb = runGuest(t, "-device", "virtio-rng-"+transport, "--", "/bin/probe", "hwrng")
		if st != 0 || string(out) != "64 random bytes\n" {
			t.Fatalf("hwrng: status %d, %q, %q", st, out, errb)
		}
	})
	t.Run("boot marker", func(t *testing.T) {
		st, out, errb := runGuest(t, "-v", "--", "uname", "-m")
		if st != 0 || !strings.Contains(string(out), arch) || !strings.Contains(string(errb), "guest init started") {
			t.Errorf("status %d, stdout %q, stderr:\n%s", st, out, errb)
		}
	})
}
