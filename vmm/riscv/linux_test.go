package riscv

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/initramfs"
	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/tap/taptest"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/blk"
	vnet "github.com/govmm/govmm/virtio/net"
	"github.com/govmm/govmm/vmm/accel"
	"github.com/vishvananda/netlink"
)

// Real Linux on the machine: the kernel from guest/riscv-kernel.sh (make
// test builds it and passes its path in GOVMM_RISCV_KERNEL) with
// testdata/guest, a Go program built for riscv64, as its init.

const envKernel = "GOVMM_RISCV_KERNEL"

func riscvKernel(t *testing.T) string {
	t.Helper()
	k := os.Getenv(envKernel)
	if k == "" {
		t.Skipf("%s is not set: `make test` builds the riscv64 kernel (guest/riscv-kernel.sh) and sets it", envKernel)
	}
	if _, err := os.Stat(k); err != nil {
		t.Fatalf("%s: %v", envKernel, err)
	}
	return k
}

// guestInitrd builds testdata/guest for riscv64 into an initramfs.
func guestInitrd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "init")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/guest")
	cmd.Env = append(os.Environ(), "GOARCH=riscv64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the riscv64 guest: %v\n%s", err, out)
	}
	initrd := filepath.Join(dir, "initramfs.cpio")
	a := initramfs.Archive{
		Devices: []initramfs.Device{initramfs.Console},
		Files:   []initramfs.File{{Path: "/init", Perm: 0o755, HostPath: bin}},
	}
	if err := initramfs.WriteFile(initrd, a); err != nil {
		t.Fatal(err)
	}
	return initrd
}

// bootLinux runs the guest with job GOVMM_TEST=job and returns the
// console output; it fails the test unless the guest powered off after
// its DONE line.
func bootLinux(t *testing.T, cfg Config, job string) string {
	t.Helper()
	cfg.Kernel = riscvKernel(t)
	cfg.Initrd = guestInitrd(t)
	cfg.Cmdline = "console=ttyS0 quiet panic=-1 GOVMM_TEST=" + job
	if cfg.MemSize == 0 {
		cfg.MemSize = 256 << 20
	}
	st, out, _ := runImage(t, cfg, 3*time.Minute)
	if st.Reason != accel.ReasonPoweroff || !strings.Contains(out, "GUEST DONE") {
		t.Fatalf("stop %v (%s)\nconsole:\n%s", st, st.Detail, out)
	}
	return out
}

// TestLinuxBoot boots to the init's marker and a clean poweroff, with one
// and two harts.
func TestLinuxBoot(t *testing.T) {
	for _, cpus := range []int{1, 2} {
		t.Run(strings.Repeat("smp", 1)+string(rune('0'+cpus)), func(t *testing.T) {
			out := bootLinux(t, Config{CPUs: cpus}, "boot")
			if want := "GUEST MARKER cpus=" + string(rune('0'+cpus)); !strings.Contains(out, want) {
				t.Fatalf("console lacks %q:\n%s", want, out)
			}
		})
	}
}

// TestLinuxVirtioBlk: the guest checks a pattern the host wrote to a raw
// image and writes its own, which the host finds after the guest powered
// off.
func TestLinuxVirtioBlk(t *testing.T) {
	riscvKernel(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	data := append(pattern('H', 0, 1<<20), make([]byte, 1<<20)...)
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	im, err := blk.Open(img, blk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	d, err := blk.New(blk.Config{ID: "vda", Backend: im, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out := bootLinux(t, Config{Virtio: []virtio.Device{d}}, "blk")
	if !strings.Contains(out, "GUEST BLK OK") {
		t.Fatalf("the guest's check failed:\n%s", out)
	}
	got, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[1<<20:], pattern('G', 1<<20, 1<<20)) {
		t.Fatalf("the guest's writes are not in the image")
	}
	if !bytes.Equal(got[:1<<20], data[:1<<20]) {
		t.Fatalf("the host's pattern changed")
	}
}

// pattern matches testdata/guest's.
func pattern(who byte, off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = who ^ byte((off+int64(i))*7) ^ byte((off+int64(i))>>9)
	}
	return b
}

// TestLinuxVirtioNet: the guest and a UDP socket on the far side of a tap,
// in a network namespace the test creates, exchange datagrams both ways.
func TestLinuxVirtioNet(t *testing.T) {
	riscvKernel(t)
	taptest.SkipIfNotRoot(t)
	ns := taptest.NewNS(t)
	var tp *tap.Tap
	var conn *net.UDPConn
	err := ns.Do(func() error {
		var err error
		if tp, err = tap.Open("rvtap0", tap.Options{VnetHdr: true}); err != nil {
			return err
		}
		link, err := netlink.LinkByName("rvtap0")
		if err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr("10.0.2.1/24")
		if err := netlink.AddrAdd(link, addr); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return err
		}
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.0.2.1:5000")))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	defer conn.Close()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 2048)
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		got <- string(buf[:n]) + " from " + from.String()
		conn.WriteToUDP([]byte("GOVMM-PONG from the host"), from)
	}()
	dev, err := vnet.New(vnet.Config{ID: "n0", Backend: tp, VnetHdr: true, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	out := bootLinux(t, Config{Virtio: []virtio.Device{dev}}, "net")
	select {
	case s := <-got:
		if s != "GOVMM-PING from the guest from 10.0.2.2:6000" {
			t.Errorf("the host received %q", s)
		}
	default:
		t.Errorf("the host received nothing")
	}
	if !strings.Contains(out, `GUEST NET RX "GOVMM-PONG from the host" from 10.0.2.1:5000`) {
		t.Fatalf("the guest did not receive the answer:\n%s", out)
	}
}

// TestLinuxFirmware boots through OpenSBI's fw_jump (Debian's opensbi) in
// M mode instead of govmm's SBI, with two harts.
func TestLinuxFirmware(t *testing.T) {
	riscvKernel(t)
	fw := "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"
	if _, err := os.Stat(fw); err != nil {
		t.Skipf("%s: %v (make deps installs opensbi)", fw, err)
	}
	out := bootLinux(t, Config{BIOS: fw, CPUs: 2}, "boot")
	for _, want := range []string{"OpenSBI v", "Domain0 Next Mode         : S-mode", "GUEST MARKER cpus=2"} {
		if !strings.Contains(out, want) {
			t.Fatalf("console lacks %q:\n%s", want, out)
		}
	}
}
