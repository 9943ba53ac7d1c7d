package kvmtest

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// InitMarker is what the test binary prints when it runs as a guest's init.
const InitMarker = "GOVMM-TEST-INIT-OK"

// RunInitIfPID1 turns the process into a minimal guest init when it is
// PID 1: it reports the marker and its CPU count on the console, writes
// the Cloud Hypervisor-style "userspace started" code 0x61 to port 0x80,
// and powers the guest off. It returns only when not PID 1.
func RunInitIfPID1() {
	if os.Getpid() != 1 {
		return
	}
	if p, err := os.OpenFile("/dev/port", os.O_WRONLY, 0); err == nil {
		p.WriteAt([]byte{0x61}, 0x80)
		p.Close()
	}
	fmt.Printf("%s cpus=%d\n", InitMarker, runtime.NumCPU())
	// tcdrain: the serial driver sends from its buffer on interrupts, and
	// poweroff does not wait for it.
	unix.IoctlSetInt(1, unix.TCSBRK, 1)
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// Reboot returns only on failure; an init that exits panics the kernel.
	fmt.Println("govmm test init: poweroff failed")
	select {}
}
