// Package pci is virtio over PCI (virtio 1.2, 4.1), modern devices only,
// behind a minimal host bridge: PCI bus 0 reached through configuration
// mechanism #1 (ports 0xcf8-0xcff), a host bridge function at 00:00.0,
// and one function per virtio device at 00:NN.0 with a 64-bit memory BAR
// that holds the virtio structures and the MSI-X table.
//
// BARs live in one MMIO window the machine registers once on its MMIO bus
// (Bus.Window); the bus routes each access by the BARs' current
// addresses, so the guest can size and move BARs without the machine's
// bus registrations changing. Interrupts are MSI-X through a platform MSI
// implementation, or INTx with the ISR status register when MSI-X is off.
//
// Everything the guest controls (configuration offsets and widths, BAR
// values, MSI-X table entries, queue selection and sizes, ring addresses)
// is checked; a bad access is ignored and counted, never a panic.
package pci

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/vmm/mem"
)

// Configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2).
const (
	// ConfigPort is CONFIG_ADDRESS; CONFIG_DATA follows at 0xcfc. The
	// machine registers the Bus on its port I/O bus at ConfigPort for
	// ConfigPortSize ports.
	ConfigPort     = 0xcf8
	ConfigPortSize = 8

	configEnable = 1 << 31
)

// The host bridge at 00:00.0: Red Hat's QEMU PCIe host bridge ID, as
// QEMU's microvm and gpex use, with the host bridge class (06/00/00).
const (
	HostBridgeVendor = 0x1b36
	HostBridgeDevice = 0x0008
)

// MaxSlots is the number of device numbers on bus 0; slot 0 is the host
// bridge.
const MaxSlots = 32

// IRQLine is a level-triggered interrupt input for INTx. A platform that
// shares one input among several functions ORs their levels.
type IRQLine interface {
	SetLevel(high bool)
}

// MSI delivers one function's MSI-X messages: KVM routes and irqfds on
// x86, an interrupt controller model on other machines, a recorder in
// tests.
type MSI interface {
	// SetVector tells the platform what the guest wrote into table entry
	// i. masked covers the entry's mask bit, the function mask and MSI-X
	// being disabled; the function never triggers a masked vector, so a
	// platform may defer programming it.
	SetVector(i int, addr uint64, data uint32, masked bool) error
	// Trigger sends vector i's message.
	Trigger(i int) error
	// Close releases what the platform holds for the function.
	Close() error
}

// Config is what NewBus needs.
type Config struct {
	// WindowBase and WindowSize are the MMIO range the machine
	// registers Window() at and describes to the guest (ACPI _CRS). BARs
	// are assigned inside it at creation; the guest may move them, and
	// only BARs inside it are decoded.
	WindowBase, WindowSize uint64
	Mem                    *mem.Memory
	// Notify, if set, binds each queue's notify address to its kick
	// eventfd while the BAR is decoded inside the window.
	Notify virtio.NotifyBinder
	// MSI, if set, gives each function an MSI-X capability delivered
	// through the returned MSI; nil leaves INTx only.
	MSI func(slot, vectors int) (MSI, error)
	// INTx, if set, is the line behind slot's INTA#; nil means no INTx
	// (interrupt pin 0).
	INTx func(slot int) IRQLine
	Log  func(format string, args ...any)
}

// BusCounters count guest accesses the bus itself turned away.
type BusCounters struct {
	BadConfigAccesses atomic.Uint64 // widths or offsets configuration mechanism #1 cannot express
	AbsentFunctions   atomic.Uint64 // configuration reads of functions that do not exist
	UnclaimedWindow   atomic.Uint64 // window accesses that hit no decoded BAR
}

// function is one PCI function on the bus.
type function interface {
	configRead(off int, data []byte)
	configWrite(off int, data []byte)
	close() error
}

// barMap is one decoded BAR: the window routes by it.
type barMap struct {
	addr, size uint64
	fn         *Function
}

// Bus is PCI bus 0 behind the host bridge. Its Read and Write are the
// configuration ports (a bus.Device for the port I/O bus at ConfigPort).
type Bus struct {
	cfg Config

	mu    sync.Mutex // CONFIG_ADDRESS and the slot table
	addr  uint32
	slots [MaxSlots]function

	mapMu  sync.Mutex // serialises remap
	maps   atomic.Pointer[[]barMap]
	fnList atomic.Pointer[[]*Function] // the virtio functions, for remap

	C BusCounters
}

// NewBus makes bus 0 with the host bridge at 00:00.0.
func NewBus(c Config) (*Bus, error) {
	if c.Mem == nil {
		return nil, errors.New("pci: no guest memory")
	}
	if c.WindowSize < barSize || c.WindowBase%barSize != 0 || c.WindowBase+c.WindowSize < c.WindowBase || c.WindowBase+c.WindowSize > 1<<32 {
		return nil, fmt.Errorf("pci: BAR window %#x+%#x must be %#x-aligned, at least that large, and below 4 GiB", c.WindowBase, c.WindowSize, barSize)
	}
	b := &Bus{cfg: c}
	b.slots[0] = newHostBridge()
	b.maps.Store(&[]barMap{})
	return b, nil
}

// AddVirtio puts dev in the next free slot and returns its function. Its
// BAR is assigned at WindowBase + slot*32 KiB, as firmware would leave it;
// memory decoding stays off until the guest enables it.
func (b *Bus) AddVirtio(dev virtio.Device) (*Function, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	slot := 0
	for i := 1; i < MaxSlots; i++ {
		if b.slots[i] == nil {
			slot = i
			break
		}
	}
	if slot == 0 {
		return nil, fmt.Errorf("pci: bus 0 is full (%d functions)", MaxSlots-1)
	}
	bar := b.cfg.WindowBase + uint64(slot)*barSize
	if bar+barSize > b.cfg.WindowBase+b.cfg.WindowSize {
		return nil, fmt.Errorf("pci: no room for slot %d's BAR in window %#x+%#x", slot, b.cfg.WindowBase, b.cfg.WindowSize)
	}
	f, err := newFunction(b, slot, dev, bar)
	if err != nil {
		return nil, err
	}
	b.slots[slot] = f
	fs := append(append([]*Function(nil), b.functions()...), f)
	b.fnList.Store(&fs)
	return f, nil
}

// Close closes every function: active devices are reset, notifications
// unbound, eventfds and MSI routes released.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for i, f := range b.slots {
		if f != nil {
			errs = append(errs, f.close())
			b.slots[i] = nil
		}
	}
	b.fnList.Store(&[]*Function{})
	b.maps.Store(&[]barMap{})
	return errors.Join(errs...)
}

// Read implements bus.Device for the configuration ports.
func (b *Bus) Read(off uint64, data []byte) {
	for i := range data {
		data[i] = 0xff
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if off < 4 {
		// CONFIG_ADDRESS reads back whole or in part.
		if int(off)+len(data) > 4 {
			b.C.BadConfigAccesses.Add(1)
			return
		}
		var a [4]byte
		binary.LittleEndian.PutUint32(a[:], b.addr)
		copy(data, a[off:])
		return
	}
	fn, reg, ok := b.target(int(off-4), len(data))
	if !ok {
		return
	}
	if fn == nil {
		b.C.AbsentFunctions.Add(1)
		return // no device: all ones, as a master abort reads
	}
	fn.configRead(reg, data)
}

// Write implements bus.Device for the configuration ports.
func (b *Bus) Write(off uint64, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if off < 4 {
		// Only a dword write sets CONFIG_ADDRESS; Linux's type 1
		// probe also writes a byte to 0xcfb, which mechanism #1
		// chipsets ignore.
		if off != 0 || len(data) != 4 {
			b.C.BadConfigAccesses.Add(1)
			return
		}
		b.addr = binary.LittleEndian.Uint32(data) & 0x80fffffc
		return
	}
	fn, reg, ok := b.target(int(off-4), len(data))
	if !ok || fn == nil {
		return
	}
	fn.configWrite(reg, data)
}

// target decodes CONFIG_ADDRESS for an access of n bytes at byte k of
// CONFIG_DATA. Precondition: b.mu held.
func (b *Bus) target(k, n int) (function, int, bool) {
	a := b.addr
	reg := int(a&0xfc) + k
	if a&configEnable == 0 || !validAccess(reg, n) {
		b.C.BadConfigAccesses.Add(1)
		return nil, 0, false
	}
	bus, dev, fn := a>>16&0xff, a>>11&0x1f, a>>8&7
	if bus != 0 || fn != 0 {
		return nil, reg, true
	}
	return b.slots[dev], reg, true
}

// remap rebuilds the window's routing from the functions' decoded BARs.
// Functions publish their BAR state atomically, so this takes no function
// lock and may run while the caller holds its own.
func (b *Bus) remap() {
	b.mapMu.Lock()
	defer b.mapMu.Unlock()
	var ms []barMap
	for _, f := range b.functions() {
		if addr, ok := f.decoded(); ok {
			ms = append(ms, barMap{addr: addr, size: barSize, fn: f})
		}
	}
	b.maps.Store(&ms)
}

// functions lists the virtio functions without taking mu (remap runs
// under a function's lock, which a configuration access holds inside mu).
func (b *Bus) functions() []*Function {
	p := b.fnList.Load()
	if p == nil {
		return nil
	}
	return *p
}

// Window is the MMIO device the machine registers at WindowBase for
// WindowSize bytes: it routes accesses to the BAR that holds them.
func (b *Bus) Window() *Window { return &Window{b: b} }

// Window dispatches BAR accesses; see Bus.Window.
type Window struct{ b *Bus }

func (w *Window) lookup(off uint64, n int) (*Function, uint64) {
	addr := w.b.cfg.WindowBase + off
	for _, m := range *w.b.maps.Load() {
		if addr >= m.addr && addr-m.addr+uint64(n) <= m.size {
			return m.fn, addr - m.addr
		}
	}
	w.b.C.UnclaimedWindow.Add(1)
	return nil, 0
}

// Read implements bus.Device.
func (w *Window) Read(off uint64, data []byte) {
	if f, o := w.lookup(off, len(data)); f != nil {
		f.barRead(o, data)
		return
	}
	for i := range data {
		data[i] = 0xff
	}
}

// Write implements bus.Device.
func (w *Window) Write(off uint64, data []byte) {
	if f, o := w.lookup(off, len(data)); f != nil {
		f.barWrite(o, data)
	}
}

// hostBridge is function 00:00.0: identification only, no BARs.
type hostBridge struct {
	mu sync.Mutex
	cs configSpace
}

func newHostBridge() *hostBridge {
	h := &hostBridge{}
	h.cs.set16(cfgVendorID, HostBridgeVendor)
	h.cs.set16(cfgDeviceID, HostBridgeDevice)
	h.cs.set8(cfgClass+2, 0x06) // bridge
	h.cs.set8(cfgClass+1, 0x00) // host bridge
	h.cs.set16(cfgSubVendorID, virtioVendor)
	h.cs.set16(cfgSubsystemID, 0x1100) // QEMU's subsystem ID
	h.cs.set8(0x0c, 0)                 // cache line size
	h.cs.wmask[0x0c] = 0xff
	h.cs.wmask[0x0d] = 0xff // latency timer
	return h
}

func (h *hostBridge) configRead(off int, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cs.read(off, data)
}

func (h *hostBridge) configWrite(off int, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cs.write(off, data)
}

func (h *hostBridge) close() error { return nil }
