//go:build linux && amd64

package x86

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govmm/govmm/initramfs"
	"github.com/govmm/govmm/internal/kvmtest"

	"github.com/govmm/govmm/internal/testkernel"
	"github.com/govmm/govmm/kvm"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/pci"
	"github.com/govmm/govmm/vmm/accel"
	"github.com/govmm/govmm/vmm/x86/boot"
)

// kickDev is a virtio device that only remembers its activation: the test
// reads the kick eventfd itself.
type kickDev struct {
	mu  sync.Mutex
	act *virtio.Activation
}

func (d *kickDev) Type() virtio.DeviceID              { return virtio.IDRNG }
func (d *kickDev) Features() uint64                   { return virtio.FeatureVersion1 }
func (d *kickDev) QueueMaxSizes() []uint16            { return []uint16{8} }
func (d *kickDev) ReadConfig(off uint64, data []byte) { clear(data) }
func (d *kickDev) WriteConfig(uint64, []byte)         {}
func (d *kickDev) Reset()                             {}
func (d *kickDev) Activate(a virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.act = &a
	return nil
}

// addVirtio puts dev in slot 1 of the machine's PCI bus: the one
// addDevices attached, or else a bridge of its own. It returns what to
// call before m.Close.
func addVirtio(t *testing.T, m *Machine, dev virtio.Device) func() {
	t.Helper()
	if d, _, ok := m.pio.Lookup(pci.ConfigPort, 4); ok {
		if _, err := d.(*pci.Bus).AddVirtio(dev); err != nil {
			t.Fatal(err)
		}
		return func() {}
	}
	vp, err := NewVirtioPCI(m.vm, m.mem, m.pio, m.mmio, []virtio.Device{dev}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return func() { vp.Close() }
}

// TestVirtioPCINotifyIOEventFD runs a guest that writes queue 0's
// virtio-pci notify address twice: a 16-bit write of the queue index,
// which KVM's ioeventfd turns into an eventfd signal without an exit, and
// a 32-bit write the ioeventfd does not match, which exits and is
// signalled by the transport. The host plays the driver's setup through
// the machine's buses, as the guest's driver would.
func TestVirtioPCINotifyIOEventFD(t *testing.T) {
	skipIfNoKVM(t)
	const bar = boot.PCIWindowBase + 0x8000 // slot 1's BAR, as the bus assigns it
	const notify = bar + 0x3000
	code := append([]byte{
		0xb8, 0, 0, 0, 0, // mov eax, notify
		0x66, 0xc7, 0x00, 0x00, 0x00, // mov word [rax], 0: ioeventfd, no exit
		0xc7, 0x00, 0x00, 0x00, 0x00, 0x00, // mov dword [rax], 0: an MMIO exit
	}, acpiPoweroff...)
	binary.LittleEndian.PutUint32(code[1:], notify)
	k := writeFile(t, "k", testkernel.Flat64(code))
	m, err := New(Config{Kernel: k, MemSize: 64 << 20, Start: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dev := &kickDev{}
	defer addVirtio(t, m, dev)()

	le := func(n int, v uint64) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		return b
	}
	cfgW := func(reg int, n int, v uint64) {
		m.pio.Write(0xcf8, le(4, 0x80000000|1<<11|uint64(reg&0xfc)))
		m.pio.Write(0xcfc+uint64(reg&3), le(n, v))
	}
	cfgR := func(reg int) uint32 {
		m.pio.Write(0xcf8, le(4, 0x80000000|1<<11|uint64(reg&0xfc)))
		b := make([]byte, 4)
		m.pio.Read(0xcfc, b)
		return binary.LittleEndian.Uint32(b)
	}
	if id := cfgR(0); id != 0x1044<<16|0x1af4 {
		t.Fatalf("00:01.0 is %#x", id)
	}
	if b0 := cfgR(0x10); uint64(b0&^0xf) != bar {
		t.Fatalf("BAR0 %#x", b0)
	}
	cfgW(0x04, 2, 0x6) // memory decoding and bus mastering: binds the ioeventfds
	w := func(off uint64, n int, v uint64) { m.mmio.Write(bar+off, le(n, v)) }
	w(0x14, 1, 0)
	w(0x14, 1, 1)
	w(0x14, 1, 3)
	w(0x08, 4, 1)
	w(0x0c, 4, 1) // VERSION_1
	w(0x14, 1, 11)
	const ring = 0x200000 // free guest RAM below the kernel at 16 MiB
	w(0x16, 2, 0)
	w(0x18, 2, 8)
	w(0x20, 8, ring)
	w(0x28, 8, ring+0x100)
	w(0x30, 8, ring+0x200)
	w(0x1c, 2, 1)
	// MSI-X on with vector 0 routed to the boot CPU's LAPIC: this
	// installs an MSI route next to the default ones.
	cfgW(0x42, 2, 1<<15)
	w(0x4000, 4, 0xfee00000)
	w(0x4008, 4, 0x41)
	w(0x400c, 4, 0)
	w(0x1a, 2, 0)
	w(0x14, 1, 15)
	dev.mu.Lock()
	act := dev.act
	dev.mu.Unlock()
	if act == nil {
		t.Fatal("device not activated")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, mmioBefore := m.Stats()
	if stop := m.Run(ctx); stop.Reason != accel.ReasonPoweroff {
		t.Fatalf("stop = %v", stop)
	}
	_, mmioExits := m.Stats()
	if n, _ := act.Queues[0].Kick.Drain(); n != 2 {
		t.Fatalf("kick count %d, want 2 (one by ioeventfd, one by the transport)", n)
	}
	if got := mmioExits - mmioBefore; got != 1 {
		t.Fatalf("%d MMIO exits, want 1: the 16-bit notify must not exit", got)
	}
}

// portHook is a port I/O device that runs a function on a write.
type portHook func()

func (portHook) Read(off uint64, data []byte) { clear(data) }
func (p portHook) Write(uint64, []byte)       { p() }

// msiGuest is 64-bit code that installs an interrupt gate for vector
// 0x41, software-enables its local APIC, writes port 0x520 (the test's
// cue to make the device interrupt), then waits with interrupts on. The
// handler writes 0 to isa-debug-exit: exit code 1.
func msiGuest() []byte {
	var p []byte
	emit := func(b ...byte) { p = append(p, b...) }
	imm32 := func(v uint32) { p = binary.LittleEndian.AppendUint32(p, v) }
	emit(0x48, 0x8d, 0x05, 0, 0, 0, 0) // lea rax, [rip+handler]
	leaEnd := len(p)
	emit(0x48, 0xc7, 0xc7) // mov rdi, IDT entry 0x41
	imm32(0x300000 + 0x41*16)
	emit(0x66, 0x89, 0x07)                   // mov [rdi], ax: offset 15:0
	emit(0x66, 0xc7, 0x47, 0x02, 0x10, 0x00) // selector: the boot GDT's 64-bit code
	emit(0x66, 0xc7, 0x47, 0x04, 0x00, 0x8e) // present, DPL 0, 64-bit interrupt gate
	emit(0x48, 0xc1, 0xe8, 0x10)             // shr rax, 16
	emit(0x66, 0x89, 0x47, 0x06)             // offset 31:16
	emit(0x48, 0xc1, 0xe8, 0x10)             // shr rax, 16
	emit(0x89, 0x47, 0x08)                   // offset 63:32
	emit(0xc7, 0x47, 0x0c, 0, 0, 0, 0)       // reserved
	emit(0x48, 0xc7, 0xc7)                   // mov rdi, IDTR
	imm32(0x2ffff0)
	emit(0x66, 0xc7, 0x07, 0xff, 0x0f) // limit 0xfff
	emit(0x48, 0xc7, 0x47, 0x02)       // base 0x300000
	imm32(0x300000)
	emit(0x0f, 0x01, 0x1f) // lidt [rdi]
	emit(0xb8)             // mov eax, LAPIC SVR
	imm32(0xfee000f0)
	emit(0xc7, 0x00, 0xff, 0x01, 0x00, 0x00) // APIC software enable, spurious vector 0xff
	emit(0x66, 0xba, 0x20, 0x05)             // mov dx, 0x520
	emit(0xee)                               // out dx, al
	emit(0xfb, 0xf4, 0xeb, 0xfd)             // sti; hlt; jmp hlt
	handler := len(p)
	emit(0xb0, 0x00, 0xe6, 0xf4) // out 0xf4, 0
	emit(0xf4, 0xeb, 0xfd)
	binary.LittleEndian.PutUint32(p[leaEnd-4:], uint32(handler-leaEnd))
	return p
}

// TestVirtioPCIMSI delivers a queue's MSI-X message through its irqfd to
// the guest's local APIC.
func TestVirtioPCIMSI(t *testing.T) {
	skipIfNoKVM(t)
	k := writeFile(t, "k", testkernel.Flat64(msiGuest()))
	m, err := New(Config{Kernel: k, MemSize: 64 << 20, Start: time.Now(), DebugExit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dev := &kickDev{}
	defer addVirtio(t, m, dev)()
	const bar = boot.PCIWindowBase + 0x8000
	le := func(n int, v uint64) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		return b
	}
	cfgW := func(reg int, n int, v uint64) {
		m.pio.Write(0xcf8, le(4, 0x80000000|1<<11|uint64(reg&0xfc)))
		m.pio.Write(0xcfc+uint64(reg&3), le(n, v))
	}
	w := func(off uint64, n int, v uint64) { m.mmio.Write(bar+off, le(n, v)) }
	cfgW(0x04, 2, 0x6)
	cfgW(0x42, 2, 1<<15) // MSI-X enable
	w(0x4010, 4, 0xfee00000)
	w(0x4018, 4, 0x41) // vector 0x41, fixed, edge
	w(0x401c, 4, 0)
	for _, s := range []uint64{0, 1, 3} {
		w(0x14, 1, s)
	}
	w(0x08, 4, 1)
	w(0x0c, 4, 1)
	w(0x14, 1, 11)
	w(0x16, 2, 0)
	w(0x18, 2, 8)
	w(0x20, 8, 0x200000)
	w(0x28, 8, 0x200100)
	w(0x30, 8, 0x200200)
	w(0x1a, 2, 1) // queue 0 -> MSI-X vector 1
	w(0x1c, 2, 1)
	w(0x14, 1, 15)
	dev.mu.Lock()
	act := dev.act
	dev.mu.Unlock()
	if act == nil {
		t.Fatal("device not activated")
	}
	if err := m.pio.Register(0x520, 1, "test-cue", portHook(func() { act.IRQ.NotifyQueue(0) })); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stop := m.Run(ctx)
	if stop.Reason != accel.ReasonPoweroff || stop.Code != 1 {
		t.Fatalf("stop = %v (code %d), want the interrupt handler's isa-debug-exit", stop, stop.Code)
	}
}

// TestGSIRoutes checks the table the router writes: KVM's default
// entries (irq_comm.c default_routing) and the MSI routes in GSI order.
func TestGSIRoutes(t *testing.T) {
	r := newGSIRouter(nil, t.Logf)
	r.msi[30] = msiMsg{0xfee01000, 0x42}
	r.msi[24] = msiMsg{0xfee00000, 0x41}
	rs := r.routesLocked()
	if len(rs) != 24+16+2 {
		t.Fatalf("%d routes", len(rs))
	}
	pins := map[[3]uint32]bool{}
	for _, e := range rs[:40] {
		if e.Type != kvm.KVM_IRQ_ROUTING_IRQCHIP {
			t.Fatalf("route %+v", e)
		}
		pins[[3]uint32{e.GSI, e.U[0], e.U[1]}] = true
	}
	for gsi := uint32(0); gsi < 24; gsi++ {
		if !pins[[3]uint32{gsi, kvm.KVM_IRQCHIP_IOAPIC, gsi}] {
			t.Fatalf("GSI %d not on IOAPIC pin %d", gsi, gsi)
		}
		if gsi < 16 && !pins[[3]uint32{gsi, kvm.KVM_IRQCHIP_PIC_MASTER + gsi/8, gsi % 8}] {
			t.Fatalf("GSI %d not on its PIC", gsi)
		}
	}
	if m := rs[40]; m.Type != kvm.KVM_IRQ_ROUTING_MSI || m.GSI != 24 || m.U[0] != 0xfee00000 || m.U[2] != 0x41 {
		t.Fatalf("MSI route %+v", m)
	}
	if rs[41].GSI != 30 {
		t.Fatalf("MSI routes out of order: %+v", rs[41])
	}
	// A message that is no interrupt is never routed (and needs no
	// KVM call when it had no route).
	if err := r.setMSI(31, 0x1000, 1); err != nil || len(r.msi) != 2 {
		t.Fatalf("setMSI to memory: %v, %d routes", err, len(r.msi))
	}
	g1, _ := r.alloc()
	g2, _ := r.alloc()
	if g1 != 24 || g2 != 25 {
		t.Fatalf("GSIs %d, %d", g1, g2)
	}
}

type levelRecorder struct{ levels []bool }

func (l *levelRecorder) SetLevel(high bool) { l.levels = append(l.levels, high) }

// TestSharedLine checks the wired-OR of INTx sources on one pin.
func TestSharedLine(t *testing.T) {
	rec := &levelRecorder{}
	l := &sharedLine{line: rec}
	a, b := &intxSource{l: l}, &intxSource{l: l}
	a.SetLevel(true)
	b.SetLevel(true)
	a.SetLevel(true)
	a.SetLevel(false) // b still holds the line
	b.SetLevel(false)
	b.SetLevel(false)
	if len(rec.levels) != 2 || !rec.levels[0] || rec.levels[1] {
		t.Fatalf("line levels %v, want [true false]", rec.levels)
	}
}

// The Linux test: Debian's kernel finds the host bridge through ACPI,
// enumerates slot 1, and drives it with virtio_pci and virtio-rng loaded
// from the initramfs: MSI-X vectors, queue notifications through the
// ioeventfd, used buffers read back through /dev/hwrng.

// envVirtioCheck on the kernel command line makes this test binary, as the
// guest's init, run virtioGuestInit instead of the tests.
const envVirtioCheck = "GOVMM_VIRTIO_PCI_CHECK"

// virtioModules are the Debian modules the guest loads, in dependency
// order (modinfo -F depends), with their paths under kernel/drivers.
var virtioModules = []string{
	"virtio/virtio_ring.ko", "virtio/virtio.ko", "virtio/virtio_pci_legacy_dev.ko",
	"virtio/virtio_pci_modern_dev.ko", "virtio/virtio_pci.ko", "char/hw_random/virtio-rng.ko",
}

// rngFill is what rngDev writes into every buffer.
const rngFill = 0xa5

func init() {
	if os.Getpid() == 1 && os.Getenv(envVirtioCheck) == "1" {
		virtioGuestInit()
	}
}

// virtioGuestInit reports what the guest kernel made of the PCI bus and
// the virtio device, then powers off. Everything it prints starts with
// "VPCI ".
func virtioGuestInit() {
	say := func(format string, args ...any) { fmt.Printf("VPCI "+format+"\n", args...) }
	defer func() {
		say("DONE")
		unix.IoctlSetInt(1, unix.TCSBRK, 1)
		unix.Sync()
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		select {}
	}()
	for _, m := range []struct{ dir, fs string }{{"/proc", "proc"}, {"/sys", "sysfs"}, {"/dev", "devtmpfs"}} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.fs, m.dir, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			say("mount %s: %v", m.dir, err)
		}
	}
	for _, name := range virtioModules {
		f, err := os.Open("/modules/" + filepath.Base(name))
		if err == nil {
			err = unix.FinitModule(int(f.Fd()), "", 0)
			f.Close()
		}
		if err != nil {
			say("module %s: %v", name, err)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the drivers probe
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	devs, _ := filepath.Glob("/sys/bus/pci/devices/*")
	for _, d := range devs {
		res := strings.Fields(read(d + "/resource"))
		bar0 := ""
		if len(res) > 0 {
			bar0 = res[0]
		}
		say("PCI %s %s %s %s bar0=%s", filepath.Base(d), read(d+"/vendor"), read(d+"/device"), read(d+"/class"), bar0)
	}
	say("VIRTIO status=%s", read("/sys/bus/virtio/devices/virtio0/status"))
	if b, err := os.ReadFile("/proc/interrupts"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "virtio") {
				say("IRQ %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open("/dev/hwrng")
		if err != nil {
			got <- err.Error()
			return
		}
		b := make([]byte, 16)
		_, err = io.ReadFull(f, b)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- fmt.Sprintf("%x", b)
	}()
	select {
	case s := <-got:
		say("HWRNG %s", s)
	case <-time.After(10 * time.Second):
		say("HWRNG timeout")
	}
}

// rngDev is a virtio entropy device (virtio 1.2, 5.4) that fills every
// buffer with rngFill, from a worker goroutine.
type rngDev struct {
	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

func (d *rngDev) Type() virtio.DeviceID            { return virtio.IDRNG }
func (d *rngDev) Features() uint64                 { return virtio.FeatureVersion1 }
func (d *rngDev) QueueMaxSizes() []uint16          { return []uint16{64} }
func (d *rngDev) ReadConfig(off uint64, b []byte)  { clear(b) }
func (d *rngDev) WriteConfig(off uint64, b []byte) {}

func (d *rngDev) Activate(a virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stop, d.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		q := a.Queues[0]
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if n, _ := q.Kick.Drain(); n == 0 {
				continue
			}
			for {
				c, err := q.Pop()
				if err != nil {
					a.NeedsReset(err)
					return
				}
				if c == nil {
					break
				}
				for _, w := range c.Writable {
					for i := range w {
						w[i] = rngFill
					}
				}
				q.Push(c.Head, uint32(c.WriteLen))
			}
			if q.NeedsNotification() {
				a.IRQ.NotifyQueue(0)
			}
		}
	}(d.stop, d.done)
	return nil
}

func (d *rngDev) Reset() {
	d.mu.Lock()
	stop, done := d.stop, d.done
	d.stop = nil
	d.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// findModules returns the host paths of virtioModules: next to the kernel
// (make test-kvm-x86 copies every -file-env file into one directory), or
// in the kernel package's lib/modules tree.
func findModules(t *testing.T, kernel string) []string {
	t.Helper()
	var out []string
	for _, name := range virtioModules {
		p := filepath.Join(filepath.Dir(kernel), filepath.Base(name))
		if _, err := os.Stat(p); err != nil {
			found, _ := filepath.Glob(filepath.Join(filepath.Dir(kernel), "..", "lib", "modules", "*", "kernel", "drivers", name))
			if len(found) == 0 {
				if kvmtest.Inside() {
					t.Fatalf("module %s: pass it to make test-kvm-x86 with -file-env", name)
				}
				t.Skipf("module %s not found near %s", name, kernel)
			}
			p = found[0]
		}
		out = append(out, p)
	}
	return out
}

// TestLinuxVirtioPCI boots Debian's kernel with a virtio-rng on the PCI
// bus, which Linux finds through the DSDT's \_SB.PCI0, over MSI-X and
// over INTx.
func TestLinuxVirtioPCI(t *testing.T) {
	kvmtest.SkipIfNoHardwareKVM(t)
	kernel := kvmtest.DebianKernel(t)
	mods := findModules(t, kernel)
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
	cfg := Config{Kernel: kernel, Initrd: initrd, MemSize: 256 << 20, Start: time.Now(),
		Cmdline: "console=ttyS0 panic=-1 " + envVirtioCheck + "=1"}

	for _, c := range []struct {
		name, cmdline string
		irqs          []string
	}{
		// One MSI-X vector for configuration changes, one for the queue.
		{"msix", "", []string{"PCI-MSI 16384-edge virtio0-config", "PCI-MSI 16385-edge virtio0-input"}},
		// INTA# of slot 1 through the DSDT's _PRT to GSI 16, with ISR.
		{"intx", " pci=nomsi", []string{fmt.Sprintf("IO-APIC %d-fasteoi virtio0", boot.PCIIntxGSI(1))}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := cfg
			cfg.Cmdline += c.cmdline
			bootVirtioGuest(t, cfg, c.irqs)
		})
	}
}

// bootVirtioGuest boots cfg with an rngDev in slot 1 and checks the
// guest's report.
func bootVirtioGuest(t *testing.T, cfg Config, irqs []string) {
	var out syncBuffer
	cfg.Serial = &out
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dev := &rngDev{}
	defer addVirtio(t, m, dev)()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	stop := m.Run(ctx)
	con := string(out.Bytes())
	if stop.Reason != accel.ReasonPoweroff || !strings.Contains(con, "VPCI DONE") {
		t.Fatalf("stop = %v\n%s", stop, con)
	}
	var report, pciLog []string
	for _, l := range strings.Split(con, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "VPCI "):
			report = append(report, l)
		case strings.Contains(l, "PCI") || strings.Contains(l, "pci"):
			pciLog = append(pciLog, l)
		}
	}
	t.Logf("guest report:\n%s\nkernel PCI messages:\n%s", strings.Join(report, "\n"), strings.Join(pciLog, "\n"))
	rep := strings.Join(report, "\n")
	want := []string{
		"VPCI PCI 0000:00:00.0 0x1b36 0x0008 0x060000",
		fmt.Sprintf("VPCI PCI 0000:00:01.0 0x1af4 0x1044 0x00ff00 bar0=0x%016x", boot.PCIWindowBase+0x8000),
		"VPCI VIRTIO status=0x0000000f",
		"VPCI HWRNG " + strings.Repeat(fmt.Sprintf("%02x", rngFill), 16),
	}
	for _, w := range append(want, irqs...) {
		if !strings.Contains(rep, w) {
			t.Errorf("guest report lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("console:\n%s", con)
	}
}
