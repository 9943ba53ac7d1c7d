// Command guest is PID 1 of the riscv64 Linux guests in vmm/riscv's tests,
// built with GOARCH=riscv64 by the test. GOVMM_TEST (from the kernel
// command line) picks the job; results are lines on the console that start
// with "GUEST ", and the guest powers off at the end.
package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func say(format string, args ...any) { fmt.Printf("GUEST "+format+"\n", args...) }

func main() {
	for _, m := range []struct{ dir, fs string }{{"/proc", "proc"}, {"/sys", "sysfs"}, {"/dev", "devtmpfs"}} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.fs, m.dir, m.fs, 0, ""); err != nil {
			say("mount %s: %v", m.dir, err)
		}
	}
	say("MARKER cpus=%d", runtime.NumCPU())
	switch os.Getenv("GOVMM_TEST") {
	case "blk":
		blk()
	case "net":
		netTest()
	}
	say("DONE")
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// pattern is the bytes the host and the guest expect at offset off of
// the disk, for a writer named who.
func pattern(who byte, off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = who ^ byte((off+int64(i))*7) ^ byte((off+int64(i))>>9)
	}
	return b
}

// blk checks the host's pattern in the first MiB of /dev/vda and writes
// its own to the second MiB, in pieces of several sizes.
func blk() {
	f, err := os.OpenFile("/dev/vda", os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		say("BLK open: %v", err)
		return
	}
	defer f.Close()
	buf := make([]byte, 1<<20+4096)
	al := buf[4096-int(uintptrOf(buf)%4096):][:1<<20] // O_DIRECT wants aligned buffers
	if _, err := f.ReadAt(al, 0); err != nil {
		say("BLK read: %v", err)
		return
	}
	if !bytes.Equal(al, pattern('H', 0, 1<<20)) {
		say("BLK host pattern differs")
		return
	}
	off := int64(1 << 20)
	for _, n := range []int{4096, 512 * 3, 65536, 4096 * 5, 1<<20 - 4096 - 1536 - 65536 - 20480} {
		copy(al, pattern('G', off, n))
		if _, err := f.WriteAt(al[:n], off); err != nil {
			say("BLK write at %d: %v", off, err)
			return
		}
		off += int64(n)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		say("BLK fdatasync: %v", err)
		return
	}
	say("BLK OK")
}

// netTest gives eth0 10.0.2.2/24, sends a datagram to the host at
// 10.0.2.1:5000, and waits for the answer.
func netTest() {
	link, err := netlink.LinkByName("eth0")
	if err != nil {
		say("NET eth0: %v", err)
		return
	}
	addr, _ := netlink.ParseAddr("10.0.2.2/24")
	if err := netlink.AddrAdd(link, addr); err != nil {
		say("NET addr: %v", err)
		return
	}
	if err := netlink.LinkSetUp(link); err != nil {
		say("NET up: %v", err)
		return
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 0, 2, 2), Port: 6000})
	if err != nil {
		say("NET listen: %v", err)
		return
	}
	defer c.Close()
	host := &net.UDPAddr{IP: net.IPv4(10, 0, 2, 1), Port: 5000}
	buf := make([]byte, 2048)
	// Resend until the answer comes: the first datagram waits for ARP.
	for try := 0; try < 50; try++ {
		if _, err := c.WriteToUDP([]byte("GOVMM-PING from the guest"), host); err != nil {
			say("NET send: %v", err)
			return
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		say("NET RX %q from %v", buf[:n], from)
		return
	}
	say("NET no answer")
}
