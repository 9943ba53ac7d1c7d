package riscv

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/tcg"
	"github.com/govmm/govmm/tcg/backend/amd64"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/rng"
	"github.com/govmm/govmm/vmm/accel"
)

// Bare-metal S-mode programs (testdata/*.S) built with the cross toolchain
// into kernel Images, run on the machine with SBI served by govmm.

// buildImage assembles testdata/name.S into a riscv64 Image.
func buildImage(t *testing.T, name string) string {
	t.Helper()
	gcc, err := exec.LookPath("riscv64-linux-gnu-gcc")
	if err != nil {
		t.Skip("riscv64-linux-gnu-gcc not installed (make deps installs gcc-riscv64-linux-gnu)")
	}
	dir := t.TempDir()
	elfPath, img := filepath.Join(dir, name+".elf"), filepath.Join(dir, name+".img")
	cmd := exec.Command(gcc, "-nostdlib", "-nostartfiles", "-static", "-march=rv64gc", "-mabi=lp64d",
		"-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments", "-T", "testdata/link.ld", "-o", elfPath, "testdata/"+name+".S")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("assemble %s: %v\n%s", name, err, out)
	}
	if out, err := exec.Command("riscv64-linux-gnu-objcopy", "-O", "binary", elfPath, img).CombinedOutput(); err != nil {
		t.Fatalf("objcopy %s: %v\n%s", name, err, out)
	}
	return img
}

// syncBuffer is a bytes.Buffer safe for the UART's and SBI's writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testBackends() []string {
	if amd64.Supported() {
		return []string{tcg.BackendClosure, tcg.BackendNative}
	}
	return []string{tcg.BackendClosure}
}

// runImage boots img and returns the stop and the console output.
func runImage(t *testing.T, cfg Config, timeout time.Duration) (accel.Stop, string, *Machine) {
	t.Helper()
	var out syncBuffer
	if cfg.MemSize == 0 {
		cfg.MemSize = 64 << 20
	}
	if cfg.Serial == nil {
		cfg.Serial = &out
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st := m.Run(ctx)
	return st, out.String(), m
}

func TestHelloSBI(t *testing.T) {
	img := buildImage(t, "hello")
	for _, be := range testBackends() {
		t.Run(be, func(t *testing.T) {
			st, out, _ := runImage(t, Config{Kernel: img, Backend: be}, 10*time.Second)
			if st.Reason != accel.ReasonPoweroff {
				t.Fatalf("stop %v (%s), want poweroff; output %q", st, st.Detail, out)
			}
			if out != "hello from S mode\n" {
				t.Fatalf("output %q", out)
			}
		})
	}
}

// expectPass runs img and fails the test unless the program powered off
// through the test device's pass value.
func expectPass(t *testing.T, cfg Config) {
	t.Helper()
	for _, be := range testBackends() {
		t.Run(be, func(t *testing.T) {
			c := cfg
			c.Backend = be
			st, out, _ := runImage(t, c, 20*time.Second)
			if st.Reason != accel.ReasonPoweroff || st.Code != 0 {
				t.Fatalf("stop %v code %d (%s): the program's check %d failed; output %q", st, st.Code, st.Detail, st.Code, out)
			}
		})
	}
}

// TestSBIBadArguments: every bad SBI call gets its error and the hart goes
// on (checks in testdata/sbibad.S).
func TestSBIBadArguments(t *testing.T) {
	expectPass(t, Config{Kernel: buildImage(t, "sbibad"), CPUs: 2})
}

// TestSMP: SBI HSM starts a second hart, an SBI IPI wakes it from WFI,
// it stops itself (testdata/smp.S).
func TestSMP(t *testing.T) {
	expectPass(t, Config{Kernel: buildImage(t, "smp"), CPUs: 2})
}

// TestHostileGuest: garbage written to a virtio-mmio device's registers,
// then a descriptor outside RAM: the device ends in NEEDS_RESET and the
// machine runs on; accesses to nothing fault into the guest
// (testdata/hostile.S).
func TestHostileGuest(t *testing.T) {
	img := buildImage(t, "hostile")
	for _, be := range testBackends() {
		t.Run(be, func(t *testing.T) {
			dev, err := rng.New(rng.Config{ID: "rng0"})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			st, out, m := runImage(t, Config{Kernel: img, Backend: be, Virtio: []virtio.Device{dev}}, 60*time.Second)
			if st.Reason != accel.ReasonPoweroff || st.Code != 0 {
				t.Fatalf("stop %v code %d (%s); output %q", st, st.Code, st.Detail, out)
			}
			if s := m.VirtioStatus(0); s&virtio.StatusDeviceNeedsReset == 0 {
				t.Fatalf("device status %#x: NEEDS_RESET not set", s)
			}
		})
	}
}
