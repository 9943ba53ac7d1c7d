//go:build linux && amd64

package x86

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/testkernel"
	"github.com/govmm/govmm/kvm"
	"github.com/govmm/govmm/vmm/accel"
	"github.com/govmm/govmm/vmm/x86/boot"
)

// syncBuffer is a bytes.Buffer safe for the UART's flusher goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// skipIfNoKVM skips when there is no usable /dev/kvm at all. The machine
// tests here need only the KVM API, which PVM serves too.
func skipIfNoKVM(t testing.TB) {
	t.Helper()
	sys, err := kvm.Open("")
	if err != nil {
		if errors.Is(err, kvm.ErrNotSupported) || errors.Is(err, os.ErrPermission) {
			t.Skipf("no usable /dev/kvm: %v", err)
		}
		t.Fatal(err)
	}
	sys.Close()
}

// runMachine builds and runs cfg with a timeout, returning the stop.
func runMachine(t *testing.T, cfg Config, timeout time.Duration) (accel.Stop, *Machine) {
	t.Helper()
	if cfg.MemSize == 0 {
		cfg.MemSize = 64 << 20
	}
	cfg.Start = time.Now()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return m.Run(ctx), m
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const testCmdline = "console=ttyS0 quiet a=\"b c\" d='e' end"

// TestBootTestKernel boots the project's test kernel in every packaging
// through the whole machine and checks what the kernel saw at entry.
func TestBootTestKernel(t *testing.T) {
	skipIfNoKVM(t)
	ks := testkernel.Build(t)
	initrd := make([]byte, 3001)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range initrd {
		initrd[i] = byte(r.Uint32())
	}
	initrdPath := writeFile(t, "initrd", initrd)
	for _, v := range ks.Variants() {
		for _, c := range []struct {
			initrd bool
			mem    uint64
		}{{false, 64 << 20}, {true, 64 << 20}, {true, 5 << 30}} {
			name := v.Name
			if c.initrd {
				name += "/initrd"
			}
			if c.mem > 4<<30 {
				name += "/5G"
			}
			t.Run(name, func(t *testing.T) {
				var con syncBuffer
				cfg := Config{Kernel: v.Path, Cmdline: testCmdline, CPUs: 2, MemSize: c.mem, DebugCon: &con, DebugExit: true}
				if c.initrd {
					cfg.Initrd = initrdPath
				}
				stop, m := runMachine(t, cfg, 60*time.Second)
				if stop.Reason != accel.ReasonPoweroff || stop.Code != 1 {
					t.Fatalf("stop = %v (code %d), want isa-debug-exit status 0; console:\n%s", stop, stop.Code, con.Bytes())
				}
				rep, err := testkernel.ParseReport(con.Bytes())
				if err != nil {
					t.Fatalf("report: %v\n%s", err, con.Bytes())
				}
				want := testkernel.Want{
					Mode: v.Mode, Proto: v.Proto, Cmdline: testCmdline,
					E820: toReportE820(boot.E820(c.mem)),
				}
				if c.initrd {
					want.InitrdAddr, want.InitrdSize = m.Boot.InitrdAddr, m.Boot.InitrdSize
					want.InitrdSum = testkernel.Checksum(initrd)
				}
				if err := rep.Check(want); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func toReportE820(e []boot.E820Entry) []testkernel.E820Entry {
	out := make([]testkernel.E820Entry, len(e))
	for i, x := range e {
		out[i] = testkernel.E820Entry{Addr: x.Addr, Size: x.Size, Type: x.Type}
	}
	return out
}

// Guest snippets in 64-bit mode.
var (
	// out 0x64, 0xfe: pulse the reset line through the i8042.
	i8042Reset = []byte{0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0xeb, 0xfd}
	// ACPI poweroff: SLP_TYP=5, SLP_EN to the sleep control register.
	acpiPoweroff = []byte{0x66, 0xba, 0xc0, 0x03, 0xb0, 5<<2 | 1<<5, 0xee, 0xf4, 0xeb, 0xfd}
	// ACPI reset register.
	acpiReset = []byte{0x66, 0xba, 0xc2, 0x03, 0xb0, 0x01, 0xee, 0xf4, 0xeb, 0xfd}
	// lidt of an empty IDT, then a divide by zero: the #DE cannot be
	// delivered, nor the #GP/#DF after it: a triple fault. (Not int3:
	// PVM's instruction emulator fails on it.)
	tripleFault = []byte{
		0x48, 0x31, 0xc0, // xor rax, rax
		0x50, 0x50, // push rax; push rax
		0x0f, 0x01, 0x1c, 0x24, // lidt [rsp]
		0x31, 0xc9, // xor ecx, ecx
		0xf7, 0xf1, // div ecx
	}
	// spin forever.
	spin = []byte{0xeb, 0xfe}
	// boot timer, then the debug port 0x80 with a userspace-range code,
	// then the ACPI poweroff.
	markers = append([]byte{
		0xb8, 0x00, 0x00, 0x00, 0xc0, // mov eax, 0xc0000000
		0xc6, 0x00, 123, // mov byte [rax], 123
		0xb0, 0x61, 0xe6, 0x80, // out 0x80, 0x61
	}, acpiPoweroff...)
	// write "hi\n" to COM1, then power off.
	serialHello = append([]byte{
		0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
		0xb0, 'h', 0xee, 0xb0, 'i', 0xee, 0xb0, '\n', 0xee,
	}, acpiPoweroff...)
)

func TestLifecycle(t *testing.T) {
	skipIfNoKVM(t)
	for _, c := range []struct {
		name   string
		code   []byte
		want   accel.Reason
		dump   bool
		cancel bool
	}{
		{"i8042 reset", i8042Reset, accel.ReasonReset, false, false},
		{"acpi poweroff", acpiPoweroff, accel.ReasonPoweroff, false, false},
		{"acpi reset", acpiReset, accel.ReasonReset, false, false},
		{"triple fault", tripleFault, accel.ReasonTripleFault, true, false},
		{"cancel", spin, accel.ReasonCanceled, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := writeFile(t, "k", testkernel.Flat64(c.code))
			timeout := 30 * time.Second
			if c.cancel {
				timeout = 300 * time.Millisecond
			}
			stop, _ := runMachine(t, Config{Kernel: k, CPUs: 2}, timeout)
			if stop.Reason != c.want {
				t.Fatalf("stop = %v, want %v\n%s", stop, c.want, stop.Detail)
			}
			if c.dump && !strings.Contains(stop.Detail, "RIP=") {
				t.Fatalf("no register dump in %q", stop.Detail)
			}
		})
	}
}

func TestBootMarkersAndSerial(t *testing.T) {
	skipIfNoKVM(t)
	var mu sync.Mutex
	var seen []string
	k := writeFile(t, "k", testkernel.Flat64(markers))
	stop, _ := runMachine(t, Config{Kernel: k, OnBootMarker: func(what string, d time.Duration) {
		mu.Lock()
		seen = append(seen, what)
		mu.Unlock()
		if d <= 0 {
			t.Errorf("marker %s at %v", what, d)
		}
	}}, 30*time.Second)
	if stop.Reason != accel.ReasonPoweroff {
		t.Fatalf("stop = %v", stop)
	}
	if strings.Join(seen, ",") != "boot-complete,debug-port 0x61" {
		t.Fatalf("markers %q", seen)
	}

	var out syncBuffer
	k = writeFile(t, "k2", testkernel.Flat64(serialHello))
	if stop, _ := runMachine(t, Config{Kernel: k, Serial: &out}, 30*time.Second); stop.Reason != accel.ReasonPoweroff {
		t.Fatalf("stop = %v", stop)
	}
	if string(out.Bytes()) != "hi\n" {
		t.Fatalf("serial output %q", out.Bytes())
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestNoLeaks builds, runs and closes machines, and fails on any fd left
// open; a failed build must release what it opened too.
func TestNoLeaks(t *testing.T) {
	skipIfNoKVM(t)
	k := writeFile(t, "k", testkernel.Flat64(acpiPoweroff))
	before := countFDs(t)
	for i := 0; i < 3; i++ {
		m, err := New(Config{Kernel: k, MemSize: 64 << 20, CPUs: 2, Serial: &syncBuffer{}})
		if err != nil {
			t.Fatal(err)
		}
		m.Run(context.Background())
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// A build that fails half way (kernel too big for RAM).
	if _, err := New(Config{Kernel: k, MemSize: 16 << 20}); err == nil {
		t.Fatal("New with 16M succeeded")
	}
	if after := countFDs(t); after != before {
		t.Fatalf("fds: %d before, %d after", before, after)
	}
}
