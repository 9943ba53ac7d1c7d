//go:build linux && amd64

package x86

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/kvmtest"
	"github.com/govmm/govmm/vmm/accel"
)

func TestMain(m *testing.M) {
	kvmtest.RunInitIfPID1()
	os.Exit(m.Run())
}

// TestBootLinux boots Debian's stock x86-64 kernel with a one-file
// initramfs and sees its init run and power the guest off through ACPI.
func TestBootLinux(t *testing.T) {
	kvmtest.SkipIfNoHardwareKVM(t)
	kernel := kvmtest.DebianKernel(t)
	initrd := kvmtest.SelfInitramfs(t)
	for _, cpus := range []int{1, 2} {
		t.Run(fmt.Sprintf("smp%d", cpus), func(t *testing.T) {
			var out syncBuffer
			var booted time.Duration
			start := time.Now()
			stop, _ := runMachine(t, Config{
				Kernel: kernel, Initrd: initrd, MemSize: 256 << 20, CPUs: cpus, Serial: &out,
				Cmdline: "console=ttyS0 quiet panic=-1",
				OnBootMarker: func(what string, d time.Duration) {
					if what == "debug-port 0x61" {
						booted = d
					}
				},
			}, 120*time.Second)
			t.Logf("stop %v after %v; init started at %v", stop, time.Since(start), booted)
			want := fmt.Sprintf("%s cpus=%d", kvmtest.InitMarker, cpus)
			if !strings.Contains(string(out.Bytes()), want) {
				t.Fatalf("console has no %q:\n%s", want, out.Bytes())
			}
			if stop.Reason != accel.ReasonPoweroff {
				t.Fatalf("stop = %v, want poweroff\n%s\n%s", stop, stop.Detail, out.Bytes())
			}
			if booted == 0 {
				t.Error("init's debug-port marker was not seen")
			}
		})
	}
}
