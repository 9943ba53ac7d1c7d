//go:build linux && amd64

package x86

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/govmm/govmm/internal/eventfd"
	"github.com/govmm/govmm/kvm"
	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/virtio/pci"
	"github.com/govmm/govmm/vmm/bus"
	"github.com/govmm/govmm/vmm/mem"
	"github.com/govmm/govmm/vmm/x86/boot"
)

// This file is the KVM side of virtio-pci on the x86 machine: queue
// notifications as ioeventfds (the guest's write signals the device's
// eventfd inside KVM, with no exit to the VMM), MSI-X vectors as MSI GSI
// routes with one irqfd each, and INTx on IOAPIC pins 16-23 through
// KVM_IRQ_LINE.

// ioeventfdBinder implements virtio.NotifyBinder with KVM_IOEVENTFD.
type ioeventfdBinder struct{ vm *kvm.VM }

func ioeventfd(n virtio.Notification, e *eventfd.EventFD) kvm.IOEventFD {
	r := kvm.IOEventFD{Addr: n.Addr, Len: uint32(n.Size), FD: e.FD(), PIO: n.PIO}
	if n.Match {
		dm := n.DataMatch
		r.DataMatch = &dm
	}
	return r
}

func (b ioeventfdBinder) Bind(n virtio.Notification, e *eventfd.EventFD) error {
	return b.vm.AddIOEventFD(ioeventfd(n, e))
}

func (b ioeventfdBinder) Unbind(n virtio.Notification, e *eventfd.EventFD) error {
	return b.vm.RemoveIOEventFD(ioeventfd(n, e))
}

// gsiRouter owns the VM's GSI routing table. KVM_SET_GSI_ROUTING replaces
// the whole table, so the router always writes KVM's default entries
// (GSIs 0-23 to the IOAPIC pins, 0-15 also to the PICs: irq_comm.c's
// default_routing) plus one MSI route per programmed vector. There is one
// router per VM.
type gsiRouter struct {
	mu     sync.Mutex
	vm     *kvm.VM
	next   uint32            // next GSI to hand out
	free   []uint32          // GSIs given back
	msi    map[uint32]msiMsg // programmed MSI routes
	logged bool
	log    func(format string, args ...any)
}

type msiMsg struct {
	addr uint64
	data uint32
}

// ioapicPins is the in-kernel IOAPIC's pin count.
const ioapicPins = 24

func newGSIRouter(vm *kvm.VM, log func(string, ...any)) *gsiRouter {
	return &gsiRouter{vm: vm, next: ioapicPins, msi: map[uint32]msiMsg{}, log: log}
}

// alloc hands out a GSI above the IOAPIC's.
func (r *gsiRouter) alloc() (uint32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.free); n > 0 {
		g := r.free[n-1]
		r.free = r.free[:n-1]
		return g, nil
	}
	if r.next >= kvm.KVM_MAX_IRQ_ROUTES {
		return 0, fmt.Errorf("no free GSI (KVM allows %d routes)", kvm.KVM_MAX_IRQ_ROUTES)
	}
	r.next++
	return r.next - 1, nil
}

// release drops gsi's route and makes it available again.
func (r *gsiRouter) release(gsi uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.free = append(r.free, gsi)
	if _, ok := r.msi[gsi]; ok {
		delete(r.msi, gsi)
		return r.commitLocked()
	}
	return nil
}

// validMSI reports whether KVM can deliver a message to addr: an x86
// interrupt message targets 0xfeexxxxx (Intel SDM 3A, 11.11.1). Anything
// else would be a DMA write to memory, which a VMM need not emulate;
// KVM would refuse some such routes and fail the whole table.
func validMSI(addr uint64) bool { return addr>>20 == 0xfee }

// setMSI routes gsi to the message, or removes its route if the message
// cannot be delivered.
func (r *gsiRouter) setMSI(gsi uint32, addr uint64, data uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had := r.msi[gsi]
	if !validMSI(addr) {
		if !r.logged && r.log != nil {
			r.logged = true
			r.log("virtio-pci: MSI-X address %#x is not an interrupt address; the vector is dropped", addr)
		}
		if !had {
			return nil
		}
		delete(r.msi, gsi)
		return r.commitLocked()
	}
	if had && old == (msiMsg{addr, data}) {
		return nil
	}
	r.msi[gsi] = msiMsg{addr, data}
	if err := r.commitLocked(); err != nil {
		// Keep the table KVM accepted last.
		if had {
			r.msi[gsi] = old
		} else {
			delete(r.msi, gsi)
		}
		return err
	}
	return nil
}

// routes is the whole table. Precondition: mu held.
func (r *gsiRouter) routesLocked() []kvm.IRQRoute {
	rs := make([]kvm.IRQRoute, 0, ioapicPins+16+len(r.msi))
	for gsi := uint32(0); gsi < ioapicPins; gsi++ {
		rs = append(rs, kvm.IRQChipRoute(gsi, kvm.KVM_IRQCHIP_IOAPIC, gsi))
		if gsi < 16 {
			rs = append(rs, kvm.IRQChipRoute(gsi, kvm.KVM_IRQCHIP_PIC_MASTER+gsi/8, gsi%8))
		}
	}
	gsis := make([]uint32, 0, len(r.msi))
	for g := range r.msi {
		gsis = append(gsis, g)
	}
	sort.Slice(gsis, func(i, j int) bool { return gsis[i] < gsis[j] })
	for _, g := range gsis {
		m := r.msi[g]
		rs = append(rs, kvm.MSIRoute(g, m.addr, m.data))
	}
	return rs
}

func (r *gsiRouter) commitLocked() error { return r.vm.SetGSIRouting(r.routesLocked()) }

// kvmMSI implements pci.MSI for one function: a GSI and an irqfd per
// vector. Trigger is an eventfd write; KVM injects the message.
type kvmMSI struct {
	vm   *kvm.VM
	r    *gsiRouter
	gsis []uint32
	fds  []*eventfd.EventFD
}

func newKVMMSI(vm *kvm.VM, r *gsiRouter, vectors int) (_ *kvmMSI, err error) {
	m := &kvmMSI{vm: vm, r: r}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	for i := 0; i < vectors; i++ {
		gsi, err := r.alloc()
		if err != nil {
			return nil, err
		}
		m.gsis = append(m.gsis, gsi)
		fd, err := eventfd.New()
		if err != nil {
			return nil, err
		}
		if err := vm.IRQFD(fd.FD(), gsi); err != nil {
			fd.Close()
			return nil, err
		}
		m.fds = append(m.fds, fd)
	}
	return m, nil
}

// SetVector programs the route of an unmasked vector. A masked vector
// keeps whatever route it had: it is never triggered, so rewriting the
// whole routing table on every mask and unmask would buy nothing.
func (m *kvmMSI) SetVector(i int, addr uint64, data uint32, masked bool) error {
	if i < 0 || i >= len(m.gsis) {
		return fmt.Errorf("MSI-X vector %d of %d", i, len(m.gsis))
	}
	if masked {
		return nil
	}
	return m.r.setMSI(m.gsis[i], addr, data)
}

func (m *kvmMSI) Trigger(i int) error {
	if i < 0 || i >= len(m.fds) {
		return fmt.Errorf("MSI-X vector %d of %d", i, len(m.fds))
	}
	return m.fds[i].Signal()
}

func (m *kvmMSI) Close() error {
	var errs []error
	for i, fd := range m.fds {
		errs = append(errs, m.vm.IRQFDDeassign(fd.FD(), m.gsis[i]), fd.Close())
	}
	for _, g := range m.gsis {
		errs = append(errs, m.r.release(g))
	}
	m.fds, m.gsis = nil, nil
	return errors.Join(errs...)
}

// sharedLine is one IOAPIC pin that several slots' INTA# share: the pin is
// high while any of them is (PCI INTx lines are wired-OR). KVM_IRQ_LINE
// from userspace has a single source, so the OR must happen here.
type sharedLine struct {
	mu   sync.Mutex
	line interface{ SetLevel(bool) } // an irqLine
	high int                         // sources holding the line high
}

// intxSource is one function's INTA# on a shared line.
type intxSource struct {
	l    *sharedLine
	high bool
}

func (s *intxSource) SetLevel(high bool) {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if high == s.high {
		return
	}
	s.high = high
	if high {
		l.high++
		if l.high == 1 {
			l.line.SetLevel(true)
		}
		return
	}
	l.high--
	if l.high == 0 {
		l.line.SetLevel(false)
	}
}

// VirtioPCI is the PCI host bridge and its virtio functions on a KVM
// machine. Close it before the VM.
type VirtioPCI struct {
	Bus    *pci.Bus
	router *gsiRouter
}

// NewVirtioPCI puts a PCI host bridge at port pci.ConfigPort (0xcf8)
// and its BAR window at boot.PCIWindowBase on the machine's buses, with
// one function per device in slots 1, 2, ... (none is fine: the bridge
// alone is what the DSDT's \_SB.PCI0 describes). Each MSI-X vector gets a
// GSI and an irqfd now; routes, ioeventfds and INTx follow what the guest
// programs.
func NewVirtioPCI(vm *kvm.VM, m *mem.Memory, pio, mmio *bus.Bus, devs []virtio.Device, log func(string, ...any)) (_ *VirtioPCI, err error) {
	// KVM starts with the default routing table; the router writes the
	// whole table only when the guest programs its first MSI-X vector,
	// so a machine that never uses MSI-X pays no KVM_SET_GSI_ROUTING.
	r := newGSIRouter(vm, log)
	lines := map[uint32]*sharedLine{}
	b, err := pci.NewBus(pci.Config{
		WindowBase: boot.PCIWindowBase, WindowSize: boot.PCIWindowSize, Mem: m,
		Notify: ioeventfdBinder{vm},
		MSI: func(slot, vectors int) (pci.MSI, error) {
			return newKVMMSI(vm, r, vectors)
		},
		INTx: func(slot int) pci.IRQLine {
			gsi := boot.PCIIntxGSI(slot)
			l := lines[gsi]
			if l == nil {
				l = &sharedLine{line: irqLine{vm, gsi}}
				lines[gsi] = l
			}
			return &intxSource{l: l}
		},
		Log: log,
	})
	if err != nil {
		return nil, err
	}
	v := &VirtioPCI{Bus: b, router: r}
	defer func() {
		if err != nil {
			v.Close()
		}
	}()
	for _, d := range devs {
		if _, err := b.AddVirtio(d); err != nil {
			return nil, err
		}
	}
	if err := pio.Register(pci.ConfigPort, pci.ConfigPortSize, "pci-config", b); err != nil {
		return nil, err
	}
	if err := mmio.Register(boot.PCIWindowBase, boot.PCIWindowSize, "pci-window", b.Window()); err != nil {
		return nil, err
	}
	return v, nil
}

// Close resets the devices and releases eventfds, ioeventfds and irqfds.
func (v *VirtioPCI) Close() error { return v.Bus.Close() }
