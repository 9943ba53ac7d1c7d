//go:build linux && amd64

package x86

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/initramfs"
	"github.com/govmm/govmm/internal/kvmtest"
	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/virtio"
	vnet "github.com/govmm/govmm/virtio/net"
	"github.com/govmm/govmm/vmm/accel"
	"golang.org/x/sys/unix"
)

// A real Linux virtio-net driver against govmm's device: the guest sends a
// frame and answers one, through the virtio-pci transport with MSI-X, over
// a socketpair backend standing in for the tap.

const (
	envNetCheck  = "GOVMM_VIRTIO_NET_CHECK"
	netEtherType = 0x88b5 // IEEE local experimental
)

var (
	netPeerMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	netGuestMAC = net.HardwareAddr{0x52, 0x54, 0, 0xab, 0xcd, 0xef}
)

// netModules are the Debian modules virtio-net needs, in load order, as
// paths under lib/modules/<release>/kernel.
var netModules = []string{
	"drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio.ko", "drivers/virtio/virtio_pci_legacy_dev.ko",
	"drivers/virtio/virtio_pci_modern_dev.ko", "drivers/virtio/virtio_pci.ko",
	"net/core/failover.ko", "drivers/net/net_failover.ko", "drivers/net/virtio_net.ko",
}

func init() {
	if os.Getpid() == 1 && os.Getenv(envNetCheck) == "1" {
		netGuestInit()
	}
}

func ethFrame(dst, src net.HardwareAddr, payload string) []byte {
	f := make([]byte, 14, 14+len(payload))
	copy(f, dst)
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], netEtherType)
	return append(f, payload...)
}

// netGuestInit runs as the guest's PID 1.
func netGuestInit() {
	say := func(format string, args ...any) { fmt.Printf("VNET "+format+"\n", args...) }
	defer func() {
		say("DONE")
		unix.IoctlSetInt(1, unix.TCSBRK, 1)
		unix.Sync()
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		select {}
	}()
	for _, m := range []struct{ dir, fs string }{{"/proc", "proc"}, {"/sys", "sysfs"}, {"/dev", "devtmpfs"}} {
		os.MkdirAll(m.dir, 0o755)
		unix.Mount(m.fs, m.dir, m.fs, 0, "")
	}
	for _, name := range netModules {
		f, err := os.Open("/modules/" + filepath.Base(name))
		if err == nil {
			err = unix.FinitModule(int(f.Fd()), "", 0)
			f.Close()
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			say("module %s: %v", name, err)
		}
	}
	var ifc *net.Interface
	for i := 0; i < 500 && ifc == nil; i++ {
		ifc, _ = net.InterfaceByName("eth0")
		time.Sleep(10 * time.Millisecond)
	}
	if ifc == nil {
		say("no eth0")
		return
	}
	say("MAC %s", ifc.HardwareAddr)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err == nil {
		ifr, _ := unix.NewIfreq("eth0")
		ifr.SetUint16(unix.IFF_UP)
		err = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
		unix.Close(fd)
	}
	if err != nil {
		say("up: %v", err)
		return
	}
	s, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(netEtherType)))
	if err != nil {
		say("socket: %v", err)
		return
	}
	if err := unix.Bind(s, &unix.SockaddrLinklayer{Protocol: htons(netEtherType), Ifindex: ifc.Index}); err != nil {
		say("bind: %v", err)
		return
	}
	to := &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}
	copy(to.Addr[:], netPeerMAC)
	if err := unix.Sendto(s, ethFrame(netPeerMAC, ifc.HardwareAddr, "GOVMM-FROM-GUEST"), 0, to); err != nil {
		say("send: %v", err)
		return
	}
	unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 20})
	buf := make([]byte, 2048)
	for {
		n, _, err := unix.Recvfrom(s, buf, 0)
		if err != nil {
			say("recv: %v", err)
			return
		}
		if p := string(buf[14:n]); strings.HasPrefix(p, "GOVMM-FROM-HOST") {
			say("RX %s", p)
			unix.Sendto(s, ethFrame(netPeerMAC, ifc.HardwareAddr, "GOVMM-ECHO "+p), 0, to)
			return
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// pairBackend is a vnet.Backend over an AF_UNIX datagram socketpair.
type pairBackend struct{ fd int }

func (b pairBackend) Writev(iov [][]byte) (int, error) {
	n, err := unix.Writev(b.fd, iov)
	if err == unix.EAGAIN {
		return 0, tap.ErrWouldBlock
	}
	return n, err
}

func (b pairBackend) Readv(iov [][]byte) (int, error) {
	n, err := unix.Readv(b.fd, iov)
	if err == unix.EAGAIN {
		return 0, tap.ErrWouldBlock
	}
	return n, err
}

func (b pairBackend) FD() int                      { return b.fd }
func (b pairBackend) SetOffload(tap.Offload) error { return nil }

// findKernelFiles returns the host paths of files under the kernel
// package's lib/modules/<release>/kernel, or next to the kernel (make
// test-kvm-x86 copies every file into one directory).
func findKernelFiles(t *testing.T, kernel string, rel []string) []string {
	t.Helper()
	var out []string
	for _, name := range rel {
		p := filepath.Join(filepath.Dir(kernel), filepath.Base(name))
		if _, err := os.Stat(p); err != nil {
			found, _ := filepath.Glob(filepath.Join(filepath.Dir(kernel), "..", "lib", "modules", "*", "kernel", name))
			if len(found) == 0 {
				if kvmtest.Inside() {
					t.Fatalf("module %s: pass it to make test-kvm-x86 with -file", name)
				}
				t.Skipf("module %s not found near %s", name, kernel)
			}
			p = found[0]
		}
		out = append(out, p)
	}
	return out
}

// TestLinuxVirtioNet boots Debian's kernel with govmm's virtio-net on the
// PCI bus and exchanges frames with the guest's driver both ways.
func TestLinuxVirtioNet(t *testing.T) {
	kvmtest.SkipIfNoHardwareKVM(t)
	kernel := kvmtest.DebianKernel(t)
	mods := findKernelFiles(t, kernel, netModules)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	a := initramfs.Archive{
		Devices: []initramfs.Device{initramfs.Console},
		Files:   []initramfs.File{{Path: "/init", Perm: 0o755, HostPath: self}},
	}
	for _, m := range mods {
		a.Files = append(a.Files, initramfs.File{Path: "/modules/" + filepath.Base(m), Perm: 0o644, HostPath: m})
	}
	initrd := filepath.Join(t.TempDir(), "initramfs.cpio")
	if err := initramfs.WriteFile(initrd, a); err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	dev, err := vnet.New(vnet.Config{ID: "n0", MAC: netGuestMAC, Backend: pairBackend{fds[0]}, VnetHdr: true, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	m, err := New(Config{Kernel: kernel, Initrd: initrd, MemSize: 256 << 20, Start: time.Now(), Serial: &out,
		Cmdline: "console=ttyS0 quiet panic=-1 " + envNetCheck + "=1", Virtio: []virtio.Device{dev}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	// The network side: wait for the guest's frame, answer it, and
	// collect the echo.
	peer := make(chan string, 4)
	go func() {
		buf := make([]byte, 70000)
		for {
			fd := []unix.PollFd{{Fd: int32(fds[1]), Events: unix.POLLIN}}
			if n, err := unix.Poll(fd, 120_000); err != nil || n == 0 {
				return
			}
			n, err := unix.Read(fds[1], buf)
			if err != nil || n < vnet.HdrSize+14 {
				continue
			}
			f := buf[vnet.HdrSize:n]
			if binary.BigEndian.Uint16(f[12:]) != netEtherType {
				continue // IPv6 router solicitations and the like
			}
			p := string(f[14:])
			peer <- p
			if p == "GOVMM-FROM-GUEST" {
				if !bytes.Equal(f[6:12], netGuestMAC) {
					peer <- "wrong source MAC " + net.HardwareAddr(f[6:12]).String()
				}
				reply := append(make([]byte, vnet.HdrSize), ethFrame(netGuestMAC, netPeerMAC, "GOVMM-FROM-HOST hello")...)
				unix.Write(fds[1], reply)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	stop := m.Run(ctx)
	con := string(out.Bytes())
	if stop.Reason != accel.ReasonPoweroff || !strings.Contains(con, "VNET DONE") {
		t.Fatalf("stop = %v\n%s", stop, con)
	}
	if !strings.Contains(con, "VNET MAC "+netGuestMAC.String()) {
		t.Errorf("the guest's eth0 does not have the configured MAC:\n%s", con)
	}
	if !strings.Contains(con, "VNET RX GOVMM-FROM-HOST hello") {
		t.Errorf("the guest did not receive the host's frame:\n%s", con)
	}
	var got []string
	for len(peer) > 0 {
		got = append(got, <-peer)
	}
	want := []string{"GOVMM-FROM-GUEST", "GOVMM-ECHO GOVMM-FROM-HOST hello"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the network saw %q, want %q\nconsole:\n%s", got, want, con)
	}
	dev.Metrics.Write(testWriter{t}, "n0 ")
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
