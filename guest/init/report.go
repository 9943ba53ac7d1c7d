package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func report(w io.Writer, start time.Time) { reportTo(w, start) }

// reportTo prints a short report of the machine the guest finds.
func reportTo(w io.Writer, start time.Time) {
	var u unix.Utsname
	unix.Uname(&u)
	fmt.Fprintf(w, "govmm guest: %s %s (%s)\n", cstr(u.Sysname[:]), cstr(u.Release[:]), cstr(u.Machine[:]))
	fmt.Fprintf(w, "  cpus:    %d\n", runtime.NumCPU())
	if total, free, ok := meminfo(); ok {
		fmt.Fprintf(w, "  memory:  %d MiB total, %d MiB free\n", total>>10, free>>10)
	}
	ifs, _ := net.Interfaces()
	var names []string
	for _, i := range ifs {
		n := i.Name
		if addrs, _ := i.Addrs(); len(addrs) > 0 {
			n += " " + addrs[0].String()
		}
		names = append(names, n)
	}
	fmt.Fprintf(w, "  network: %s\n", strings.Join(names, ", "))
	if up, err := os.ReadFile("/proc/uptime"); err == nil {
		fmt.Fprintf(w, "  uptime:  %ss\n", strings.Fields(string(up))[0])
	}
}

func meminfo() (totalKiB, freeKiB uint64, ok bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v uint64
		if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &v); n == 1 {
			totalKiB = v
		}
		if n, _ := fmt.Sscanf(sc.Text(), "MemAvailable: %d kB", &v); n == 1 {
			freeKiB = v
		}
	}
	return totalKiB, freeKiB, totalKiB > 0
}

func cstr(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// bootMarker tells an x86 VMM that userspace is up: Cloud Hypervisor's
// debug port convention, code 0x61 to port 0x80. The console's Started
// record does the same on every architecture.
func bootMarker() {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "386" {
		return
	}
	if f, err := os.OpenFile("/dev/port", os.O_WRONLY, 0); err == nil {
		f.WriteAt([]byte{0x61}, 0x80)
		f.Close()
	}
}
