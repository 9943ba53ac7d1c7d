package pci

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/vmm/mem"
)

// Virtio PCI identification (virtio 1.2, 4.1.2).
const (
	virtioVendor     = 0x1af4
	virtioDeviceBase = 0x1040 // + device ID: modern, non-transitional
	virtioRevision   = 1      // non-transitional devices have revision >= 1
	virtioSubsystem  = 0x1100 // QEMU's subsystem ID; Linux ignores it for modern devices
)

// NoVector is VIRTIO_MSI_NO_VECTOR: no MSI-X vector (virtio 1.2, 4.1.5.1.2).
const NoVector = 0xffff

// BAR0 layout: each virtio structure in its own 4 KiB page (as QEMU lays
// them out), the MSI-X table and PBA in pages of their own, as the PCI
// spec recommends for tables an OS maps separately.
const (
	barSize = 0x8000

	commonOff = 0x0000
	commonLen = 0x40
	isrOff    = 0x1000
	isrLen    = 4
	deviceOff = 0x2000
	deviceLen = 0x1000
	notifyOff = 0x3000
	notifyLen = 0x1000
	// notifyMultiplier puts queue i's notify address at notifyOff+4*i:
	// every queue its own address, so an ioeventfd per queue needs no
	// data match to tell them apart (virtio 1.2, 4.1.4.4).
	notifyMultiplier = 4
	msixTableOff     = 0x4000
	msixPBAOff       = 0x6000

	maxVectors = (msixPBAOff - msixTableOff) / 16 // 512
	maxQueues  = min(notifyLen/notifyMultiplier, maxVectors-1)
)

// Capability list (PCI 3.0, 6.7): MSI-X, then the virtio structures
// (virtio 1.2, 4.1.4), dword-aligned.
const (
	capMSIX   = 0x40 // 12 bytes
	capCommon = 0x4c // struct virtio_pci_cap, 16 bytes
	capNotify = 0x5c // struct virtio_pci_notify_cap, 20 bytes
	capISR    = 0x70
	capDevice = 0x80
	capPCICfg = 0x90 // struct virtio_pci_cfg_cap, 20 bytes

	capIDVendor = 0x09
	capIDMSIX   = 0x11

	// virtio_pci_cap.cfg_type values.
	CapCommonCfg = 1
	CapNotifyCfg = 2
	CapISRCfg    = 3
	CapDeviceCfg = 4
	CapPCICfg    = 5

	pciCfgData = capPCICfg + 16
)

// MSI-X message control bits.
const (
	msixEnable   = 1 << 15
	msixFuncMask = 1 << 14
)

// Common configuration structure offsets (virtio 1.2, 4.1.4.3).
const (
	CommonDeviceFeatureSelect = 0x00
	CommonDeviceFeature       = 0x04
	CommonDriverFeatureSelect = 0x08
	CommonDriverFeature       = 0x0c
	CommonMSIXConfig          = 0x10
	CommonNumQueues           = 0x12
	CommonDeviceStatus        = 0x14
	CommonConfigGeneration    = 0x15
	CommonQueueSelect         = 0x16
	CommonQueueSize           = 0x18
	CommonQueueMSIXVector     = 0x1a
	CommonQueueEnable         = 0x1c
	CommonQueueNotifyOff      = 0x1e
	CommonQueueDesc           = 0x20
	CommonQueueDriver         = 0x28
	CommonQueueDevice         = 0x30
	CommonQueueNotifConfData  = 0x38
	CommonQueueReset          = 0x3a
)

// classOf is the PCI class code (class, subclass, prog-if) QEMU gives
// each virtio device type.
func classOf(id virtio.DeviceID) uint32 {
	switch id {
	case virtio.IDNet:
		return 0x020000 // network, ethernet
	case virtio.IDBlock:
		return 0x010000 // mass storage, SCSI
	case virtio.IDConsole:
		return 0x078000 // communication, other
	}
	return 0x00ff00 // unclassified, "other"
}

type msixEntry struct {
	addr uint64
	data uint32
	ctrl uint32 // bit 0: masked

	// What the platform was last told, to call SetVector on changes
	// only (each may cost a KVM_SET_GSI_ROUTING).
	told       bool
	toldAddr   uint64
	toldData   uint32
	toldMasked bool
}

// Function is one virtio device on the bus: its configuration space with
// the virtio capabilities, BAR0 and its interrupts. It implements
// virtio.Interrupt for its device.
type Function struct {
	bus  *Bus
	slot int
	name string
	log  func(format string, args ...any)

	// mu serialises configuration and BAR accesses from vCPUs; it is held
	// across Device.Activate and Device.Reset.
	mu       sync.Mutex
	cs       configSpace
	t        *virtio.Transport
	queueSel uint16
	nvec     int // MSI-X table entries; 0 without MSI-X

	// Decode state, published for the window's routing.
	barAddr  atomic.Uint64
	decoding atomic.Bool
	boundAt  uint64
	bound    bool
	bindErr  bool

	// irqMu guards the interrupt state: device goroutines raise
	// interrupts while a vCPU may hold mu and wait for them in Reset.
	// Lock order: mu, then irqMu.
	irqMu        sync.Mutex
	msi          MSI
	intx         IRQLine
	isr          uint8
	intxHigh     bool
	intxDisabled bool
	busMaster    bool
	msixEnabled  bool
	msixMasked   bool // function mask
	msixConfig   uint16
	queueVec     []uint16
	table        []msixEntry
	pending      []uint64 // PBA bits
}

func newFunction(b *Bus, slot int, dev virtio.Device, bar uint64) (*Function, error) {
	if dev == nil {
		return nil, fmt.Errorf("pci: slot %d: no device", slot)
	}
	f := &Function{bus: b, slot: slot, log: b.cfg.Log, name: fmt.Sprintf("virtio-pci 00:%02x.0 %s", slot, dev.Type())}
	nq := len(dev.QueueMaxSizes())
	if nq > maxQueues {
		return nil, fmt.Errorf("%s: %d queues, at most %d", f.name, nq, maxQueues)
	}
	var err error
	f.t, err = virtio.NewTransport(virtio.TransportConfig{
		Device: dev, Mem: b.cfg.Mem, IRQ: f, OnReset: f.onReset, Name: f.name, Log: b.cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	f.queueVec = make([]uint16, nq)
	f.resetVectors()
	if b.cfg.MSI != nil {
		f.nvec = nq + 1 // one per queue and one for configuration changes
		if f.msi, err = b.cfg.MSI(slot, f.nvec); err != nil {
			f.t.Close()
			return nil, fmt.Errorf("%s: MSI-X: %w", f.name, err)
		}
		f.table = make([]msixEntry, f.nvec)
		for i := range f.table {
			f.table[i].ctrl = 1 // masked at reset (PCI 3.0, 6.8.2.9)
		}
		f.pending = make([]uint64, (f.nvec+63)/64)
	}
	if b.cfg.INTx != nil {
		f.intx = b.cfg.INTx(slot)
	}
	f.buildConfig(dev, bar)
	return f, nil
}

// buildConfig writes the type 0 header and the capability list.
func (f *Function) buildConfig(dev virtio.Device, bar uint64) {
	c := &f.cs
	c.set16(cfgVendorID, virtioVendor)
	c.set16(cfgDeviceID, virtioDeviceBase+uint16(dev.Type()))
	c.setMask16(cfgCommand, CommandMemory|CommandBusMaster|CommandINTxDisable)
	c.set16(cfgStatus, statusCapList)
	c.set8(cfgRevision, virtioRevision)
	class := classOf(dev.Type())
	c.set8(cfgClass, uint8(class))
	c.set8(cfgClass+1, uint8(class>>8))
	c.set8(cfgClass+2, uint8(class>>16))
	c.wmask[0x0c] = 0xff // cache line size
	c.wmask[0x0d] = 0xff // latency timer
	// BAR0/1: one 64-bit memory BAR. The writable bits are the address
	// bits above the size, so the sizing protocol (write all ones, read
	// back) works by itself (PCI 3.0, 6.2.5.1).
	c.set32(cfgBAR0, uint32(bar)|barMem64)
	c.set32(cfgBAR1, uint32(bar>>32))
	c.setMask32(cfgBAR0, ^uint32(barSize-1))
	c.setMask32(cfgBAR1, 0xffffffff)
	c.set16(cfgSubVendorID, virtioVendor)
	c.set16(cfgSubsystemID, virtioSubsystem)
	c.wmask[cfgInterruptLine] = 0xff
	if f.intx != nil {
		c.set8(cfgInterruptPin, 1) // INTA#
	}

	first := capCommon
	if f.msi != nil {
		first = capMSIX
		c.set8(capMSIX, capIDMSIX)
		c.set8(capMSIX+1, capCommon)
		c.set16(capMSIX+2, uint16(f.nvec-1))
		c.setMask16(capMSIX+2, msixEnable|msixFuncMask)
		c.set32(capMSIX+4, msixTableOff) // BIR 0
		c.set32(capMSIX+8, msixPBAOff)
	}
	c.set8(cfgCapPtr, uint8(first))
	vcap := func(at, next, length, typ int, off, size uint32) {
		c.set8(at, capIDVendor)
		c.set8(at+1, uint8(next))
		c.set8(at+2, uint8(length))
		c.set8(at+3, uint8(typ))
		c.set8(at+4, 0) // BAR0
		c.set32(at+8, off)
		c.set32(at+12, size)
	}
	nq := uint32(f.t.NumQueues())
	vcap(capCommon, capNotify, 16, CapCommonCfg, commonOff, commonLen)
	vcap(capNotify, capISR, 20, CapNotifyCfg, notifyOff, nq*notifyMultiplier)
	c.set32(capNotify+16, notifyMultiplier)
	vcap(capISR, capDevice, 16, CapISRCfg, isrOff, isrLen)
	vcap(capDevice, capPCICfg, 16, CapDeviceCfg, deviceOff, deviceLen)
	vcap(capPCICfg, 0, 20, CapPCICfg, 0, 0)
	// The PCI configuration access capability's window (virtio 1.2,
	// 4.1.4.9): bar, offset, length and data are the driver's to write.
	c.wmask[capPCICfg+4] = 0xff
	c.setMask32(capPCICfg+8, 0xffffffff)
	c.setMask32(capPCICfg+12, 0xffffffff)
	c.setMask32(pciCfgData, 0xffffffff)
}

// Slot is the function's device number on bus 0.
func (f *Function) Slot() int { return f.slot }

// Counters are the transport's counters for this function.
func (f *Function) Counters() *virtio.Counters { return &f.t.C }

// Status is the device status byte, for tests and diagnostics.
func (f *Function) Status() uint8 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t.Status()
}

// BAR is the BAR0 address the guest programmed and whether the window
// decodes it (memory enabled, the whole BAR inside the window).
func (f *Function) BAR() (uint64, bool) { return f.decoded() }

func (f *Function) decoded() (uint64, bool) { return f.barAddr.Load(), f.decoding.Load() }

func (f *Function) logf(format string, args ...any) {
	if f.log != nil {
		f.log("%s: "+format, append([]any{f.name}, args...)...)
	}
}

func (f *Function) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unbindLocked()
	err := f.t.Close()
	if f.msi != nil {
		if e := f.msi.Close(); err == nil {
			err = e
		}
	}
	return err
}

// configRead implements function. Precondition: validAccess(off, len).
func (f *Function) configRead(off int, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if overlaps(off, len(data), cfgStatus, 1) {
		f.irqMu.Lock()
		s := f.cs.get8(cfgStatus) &^ statusINTx
		// The Interrupt Status bit mirrors ISR while INTx is in use
		// (virtio 1.2, 4.1.4.5.1).
		if f.isr != 0 && !f.msixEnabled {
			s |= statusINTx
		}
		f.irqMu.Unlock()
		f.cs.set8(cfgStatus, s)
	}
	if overlaps(off, len(data), pciCfgData, 4) {
		var d [4]byte
		if o, n, ok := f.pciCfgWindow(false); ok {
			f.barAccessLocked(o, d[:n], false)
		}
		copy(f.cs.b[pciCfgData:], d[:])
	}
	f.cs.read(off, data)
}

// configWrite implements function. Precondition: validAccess(off, len).
func (f *Function) configWrite(off int, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(data)
	f.cs.write(off, data)
	if overlaps(off, n, cfgCommand, 2) {
		cmd := f.cs.get16(cfgCommand)
		f.irqMu.Lock()
		f.busMaster = cmd&CommandBusMaster != 0
		f.intxDisabled = cmd&CommandINTxDisable != 0
		f.updateINTxLocked()
		f.irqMu.Unlock()
	}
	if overlaps(off, n, cfgCommand, 2) || overlaps(off, n, cfgBAR0, 8) {
		f.applyDecodeLocked()
	}
	if f.msi != nil && overlaps(off, n, capMSIX+2, 2) {
		ctrl := f.cs.get16(capMSIX + 2)
		f.irqMu.Lock()
		f.msixEnabled = ctrl&msixEnable != 0
		f.msixMasked = ctrl&msixFuncMask != 0
		for i := range f.table {
			f.syncVectorLocked(i)
		}
		f.updateINTxLocked()
		f.irqMu.Unlock()
	}
	if overlaps(off, n, pciCfgData, 4) {
		if o, n, ok := f.pciCfgWindow(true); ok {
			d := append([]byte(nil), f.cs.b[pciCfgData:pciCfgData+n]...)
			f.barAccessLocked(o, d, true)
		}
	}
}

// pciCfgWindow is the BAR access the PCI configuration access capability
// describes, if it is one the device performs: BAR0, 1, 2 or 4 bytes,
// aligned, inside the BAR (virtio 1.2, 4.1.4.9).
func (f *Function) pciCfgWindow(write bool) (uint64, int, bool) {
	bar := f.cs.get8(capPCICfg + 4)
	off := uint64(f.cs.get32(capPCICfg + 8))
	n := f.cs.get32(capPCICfg + 12)
	if bar != 0 || (n != 1 && n != 2 && n != 4) || off%uint64(n) != 0 || off+uint64(n) > barSize {
		if write {
			f.t.BadWrite()
		} else {
			f.t.BadRead()
		}
		return 0, 0, false
	}
	return off, int(n), true
}

// applyDecodeLocked publishes the BAR address and decode state after a
// command or BAR write, and moves the notification bindings with the
// BAR. A BAR outside the window (or half-programmed during sizing) is not
// decoded: the window cannot see it. Precondition: mu held.
func (f *Function) applyDecodeLocked() {
	addr := uint64(f.cs.get32(cfgBAR1))<<32 | uint64(f.cs.get32(cfgBAR0)&^0xf)
	wb, ws := f.bus.cfg.WindowBase, f.bus.cfg.WindowSize
	on := f.cs.get16(cfgCommand)&CommandMemory != 0 && addr >= wb && addr-wb <= ws-barSize
	if on == f.decoding.Load() && addr == f.barAddr.Load() {
		return
	}
	f.barAddr.Store(addr)
	f.decoding.Store(on)
	f.bus.remap()
	f.unbindLocked()
	if on {
		f.bindLocked(addr)
	}
}

func (f *Function) notification(bar uint64, q int) virtio.Notification {
	return virtio.Notification{
		Addr: bar + notifyOff + uint64(q)*notifyMultiplier, Size: 2,
		DataMatch: uint64(q), Match: true,
	}
}

// bindLocked binds every queue's notify address. A failure leaves the
// transport signalling the eventfd itself on the (then exiting) write.
func (f *Function) bindLocked(bar uint64) {
	nb := f.bus.cfg.Notify
	if nb == nil {
		return
	}
	for i := 0; i < f.t.NumQueues(); i++ {
		if err := nb.Bind(f.notification(bar, i), f.t.Queue(uint32(i)).Kick); err != nil {
			if !f.bindErr {
				f.bindErr = true
				f.logf("bind queue %d notification at %#x: %v (notifications will exit to the VMM)", i, bar, err)
			}
			for j := 0; j < i; j++ {
				nb.Unbind(f.notification(bar, j), f.t.Queue(uint32(j)).Kick)
			}
			return
		}
	}
	f.bound, f.boundAt = true, bar
}

func (f *Function) unbindLocked() {
	if !f.bound {
		return
	}
	for i := 0; i < f.t.NumQueues(); i++ {
		f.bus.cfg.Notify.Unbind(f.notification(f.boundAt, i), f.t.Queue(uint32(i)).Kick)
	}
	f.bound = false
}

// barRead and barWrite serve BAR0 accesses routed by the window.
func (f *Function) barRead(off uint64, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.barAccessLocked(off, data, false)
}

func (f *Function) barWrite(off uint64, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.barAccessLocked(off, data, true)
}

// in reports whether [off, off+n) lies in [start, start+size).
func in(off uint64, n int, start, size uint64) bool {
	return off >= start && off-start+uint64(n) <= size
}

// barAccessLocked dispatches an access at off in BAR0 (off+len(data) <=
// barSize). Reads are zeroed first. Precondition: mu held.
func (f *Function) barAccessLocked(off uint64, data []byte, write bool) {
	if !write {
		clear(data)
	}
	n := len(data)
	okWidth := n == 1 || n == 2 || n == 4 || n == 8
	nq := uint64(f.t.NumQueues())
	switch {
	case !okWidth:
	case in(off, n, commonOff, commonLen):
		if write {
			f.commonWrite(off-commonOff, data)
		} else {
			f.commonRead(off-commonOff, data)
		}
		return
	case in(off, n, isrOff, isrLen):
		if write {
			break
		}
		if off == isrOff {
			data[0] = f.readISR()
		}
		return
	case in(off, n, deviceOff, deviceLen):
		if write {
			f.t.WriteConfig(off-deviceOff, data)
		} else {
			f.t.ReadConfig(off-deviceOff, data)
		}
		return
	case in(off, n, notifyOff, nq*notifyMultiplier):
		rel := off - notifyOff
		if !write || rel%notifyMultiplier != 0 || n > 4 {
			break
		}
		// The address names the queue (4.1.5.2); the value written
		// is its index too, but the address is what counts.
		f.t.Notify(uint32(rel / notifyMultiplier))
		return
	case f.msi != nil && in(off, n, msixTableOff, uint64(f.nvec)*16):
		if f.msixTable(off-msixTableOff, data, write) {
			return
		}
	case f.msi != nil && in(off, n, msixPBAOff, uint64(len(f.pending))*8):
		if write || (n != 4 && n != 8) || off%uint64(n) != 0 {
			break
		}
		f.irqMu.Lock()
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], f.pending[(off-msixPBAOff)/8])
		f.irqMu.Unlock()
		copy(data, b[off%8:])
		return
	}
	if write {
		f.t.BadWrite()
	} else {
		f.t.BadRead()
	}
}

// msixTable reads or writes the table with dword or aligned qword
// accesses (PCI 3.0, 6.8.2). Precondition: mu held.
func (f *Function) msixTable(off uint64, data []byte, write bool) bool {
	n := len(data)
	if (n != 4 && n != 8) || off%uint64(n) != 0 {
		return false
	}
	f.irqMu.Lock()
	defer f.irqMu.Unlock()
	i := int(off / 16)
	e := &f.table[i]
	for k := 0; k < n; k += 4 {
		field := (off + uint64(k)) % 16
		if !write {
			var v uint32
			switch field {
			case 0:
				v = uint32(e.addr)
			case 4:
				v = uint32(e.addr >> 32)
			case 8:
				v = e.data
			case 12:
				v = e.ctrl
			}
			binary.LittleEndian.PutUint32(data[k:], v)
			continue
		}
		v := binary.LittleEndian.Uint32(data[k:])
		switch field {
		case 0:
			e.addr = e.addr&^0xffffffff | uint64(v&^3) // dword-aligned
		case 4:
			e.addr = e.addr&0xffffffff | uint64(v)<<32
		case 8:
			e.data = v
		case 12:
			e.ctrl = v & 1
		}
	}
	if write {
		f.syncVectorLocked(i)
	}
	return true
}

// commonRead reads a common configuration field at its natural width;
// the 64-bit queue addresses may also be read as two dwords (virtio 1.2,
// 4.1.3.1). Precondition: mu held.
func (f *Function) commonRead(off uint64, data []byte) {
	t := f.t
	n := len(data)
	q := t.Queue(uint32(f.queueSel))
	var v uint64
	switch {
	case off == CommonDeviceFeatureSelect && n == 4:
		v = uint64(t.DeviceFeatureSelect())
	case off == CommonDeviceFeature && n == 4:
		v = uint64(t.DeviceFeatures())
	case off == CommonDriverFeatureSelect && n == 4:
		v = uint64(t.DriverFeatureSelect())
	case off == CommonDriverFeature && n == 4:
		v = uint64(t.DriverFeatures())
	case off == CommonMSIXConfig && n == 2:
		f.irqMu.Lock()
		v = uint64(f.msixConfig)
		f.irqMu.Unlock()
	case off == CommonNumQueues && n == 2:
		v = uint64(t.NumQueues())
	case off == CommonDeviceStatus && n == 1:
		v = uint64(t.Status())
	case off == CommonConfigGeneration && n == 1:
		v = uint64(uint8(t.ConfigGeneration()))
	case off == CommonQueueSelect && n == 2:
		v = uint64(f.queueSel)
	case off == CommonQueueSize && n == 2:
		// Zero: no such queue (4.1.4.3).
		if q != nil {
			v = uint64(q.Size)
		}
	case off == CommonQueueMSIXVector && n == 2:
		v = NoVector
		if q != nil {
			f.irqMu.Lock()
			v = uint64(f.queueVec[q.Index])
			f.irqMu.Unlock()
		}
	case off == CommonQueueEnable && n == 2:
		if q != nil && q.Ready {
			v = 1
		}
	case off == CommonQueueNotifyOff && n == 2:
		if q != nil {
			v = uint64(q.Index)
		}
	case off >= CommonQueueDesc && off < CommonQueueNotifConfData:
		if (n != 4 && n != 8) || off%uint64(n) != 0 {
			t.BadRead()
			return
		}
		p := queueAddrField(q, off)
		if p == nil {
			return // no such queue: zero
		}
		v = uint64(*p)
		if off%8 == 4 {
			v >>= 32
		}
	case (off == CommonQueueNotifConfData || off == CommonQueueReset) && n == 2:
		// VIRTIO_F_NOTIF_CONFIG_DATA and VIRTIO_F_RING_RESET are never
		// offered: zero.
	default:
		t.BadRead()
		return
	}
	putLE(data, v)
}

// queueAddrField is the queue field behind a queue_desc/driver/device
// offset, or nil without a queue.
func queueAddrField(q *virtio.Queue, off uint64) *mem.GPA {
	if q == nil {
		return nil
	}
	switch off &^ 7 {
	case CommonQueueDesc:
		return &q.Desc
	case CommonQueueDriver:
		return &q.Avail
	}
	return &q.Used
}

// commonWrite writes a common configuration field. Precondition: mu held.
func (f *Function) commonWrite(off uint64, data []byte) {
	t := f.t
	n := len(data)
	v := le(data)
	switch {
	case off == CommonDeviceFeatureSelect && n == 4:
		t.SelectDeviceFeatures(uint32(v))
	case off == CommonDriverFeatureSelect && n == 4:
		t.SelectDriverFeatures(uint32(v))
	case off == CommonDriverFeature && n == 4:
		t.WriteDriverFeatures(uint32(v))
	case off == CommonMSIXConfig && n == 2:
		f.irqMu.Lock()
		f.msixConfig = f.checkVector(uint16(v))
		f.irqMu.Unlock()
	case off == CommonDeviceStatus && n == 1:
		t.WriteStatus(uint8(v))
	case off == CommonQueueSelect && n == 2:
		f.queueSel = uint16(v)
	case off == CommonQueueSize && n == 2:
		if q := t.ConfigurableQueue(uint32(f.queueSel)); q != nil {
			// Checked (power of two, at most the maximum) at
			// DRIVER_OK, where a bad size sets DEVICE_NEEDS_RESET.
			q.Size = uint16(v)
		}
	case off == CommonQueueMSIXVector && n == 2:
		q := t.Queue(uint32(f.queueSel))
		if q == nil {
			t.BadWrite()
			return
		}
		f.irqMu.Lock()
		f.queueVec[q.Index] = f.checkVector(uint16(v))
		f.irqMu.Unlock()
	case off == CommonQueueEnable && n == 2:
		// Writing 0 is forbidden to the driver (4.1.4.3.2).
		if v != 1 {
			t.BadWrite()
			return
		}
		t.SetQueueReady(uint32(f.queueSel), true)
	case off >= CommonQueueDesc && off < CommonQueueNotifConfData:
		if (n != 4 && n != 8) || off%uint64(n) != 0 {
			t.BadWrite()
			return
		}
		q := t.ConfigurableQueue(uint32(f.queueSel))
		if q == nil {
			return
		}
		p := queueAddrField(q, off)
		switch {
		case n == 8:
			*p = mem.GPA(v)
		case off%8 == 4:
			*p = *p&0xffffffff | mem.GPA(v)<<32
		default:
			*p = *p&^0xffffffff | mem.GPA(v)
		}
	default:
		// Read-only fields, queue_reset without RING_RESET, holes and
		// wrong widths.
		t.BadWrite()
	}
}

// checkVector returns v if the function has such an MSI-X vector, else
// NO_VECTOR: the driver reads the mapping back to learn it failed
// (virtio 1.2, 4.1.5.1.2). Precondition: irqMu held.
func (f *Function) checkVector(v uint16) uint16 {
	if v != NoVector && int(v) >= f.nvec {
		f.t.BadWrite()
		return NoVector
	}
	return v
}

// readISR returns and clears the ISR status, deasserting INTx (virtio
// 1.2, 4.1.4.5).
func (f *Function) readISR() uint8 {
	f.irqMu.Lock()
	defer f.irqMu.Unlock()
	v := f.isr
	f.isr = 0
	f.updateINTxLocked()
	return v
}

// onReset is the transport's OnReset: the driver reset the device.
// Vector assignments and ISR go; the MSI-X table is PCI state and stays
// (a driver re-probing after reset keeps its vectors).
func (f *Function) onReset() {
	f.queueSel = 0
	f.irqMu.Lock()
	defer f.irqMu.Unlock()
	f.resetVectors()
	f.isr = 0
	f.updateINTxLocked()
}

func (f *Function) resetVectors() {
	f.msixConfig = NoVector
	for i := range f.queueVec {
		f.queueVec[i] = NoVector
	}
}

// NotifyQueue implements virtio.Interrupt (virtio 1.2, 4.1.5.4).
func (f *Function) NotifyQueue(q int) error {
	f.irqMu.Lock()
	defer f.irqMu.Unlock()
	if q < 0 || q >= len(f.queueVec) {
		return fmt.Errorf("%s: notification for queue %d", f.name, q)
	}
	if f.msixEnabled {
		return f.fireLocked(f.queueVec[q])
	}
	f.isr |= 1
	f.updateINTxLocked()
	return nil
}

// NotifyConfig implements virtio.Interrupt (virtio 1.2, 4.1.5.3): ISR bit
// 1 is set in either mode.
func (f *Function) NotifyConfig() error {
	f.irqMu.Lock()
	defer f.irqMu.Unlock()
	f.isr |= 2
	if f.msixEnabled {
		return f.fireLocked(f.msixConfig)
	}
	f.updateINTxLocked()
	return nil
}

// fireLocked sends MSI-X vector v, or holds it pending while masked.
// Precondition: irqMu held, MSI-X enabled.
func (f *Function) fireLocked(v uint16) error {
	if int(v) >= f.nvec || !f.busMaster {
		// NO_VECTOR, or a function that may not master the bus: the
		// message has no way to the CPU.
		f.t.C.IRQsDropped.Add(1)
		return nil
	}
	if f.msixMasked || f.table[v].ctrl&1 != 0 {
		f.pending[v/64] |= 1 << (v % 64)
		f.t.C.IRQsPending.Add(1)
		return nil
	}
	return f.msi.Trigger(int(v))
}

// syncVectorLocked tells the platform about entry i if anything it sees
// changed, and sends a message left pending while the entry was masked
// (PCI 3.0, 6.8.2.9). Precondition: irqMu held.
func (f *Function) syncVectorLocked(i int) {
	e := &f.table[i]
	masked := !f.msixEnabled || f.msixMasked || e.ctrl&1 != 0
	if !e.told || e.toldAddr != e.addr || e.toldData != e.data || e.toldMasked != masked {
		if err := f.msi.SetVector(i, e.addr, e.data, masked); err != nil {
			f.logf("MSI-X vector %d (address %#x data %#x): %v", i, e.addr, e.data, err)
		}
		e.told, e.toldAddr, e.toldData, e.toldMasked = true, e.addr, e.data, masked
	}
	if !masked && f.pending[i/64]&(1<<(i%64)) != 0 {
		f.pending[i/64] &^= 1 << (i % 64)
		if f.busMaster {
			f.msi.Trigger(i)
		}
	}
}

// updateINTxLocked drives INTA# from ISR: asserted while ISR is non-zero,
// MSI-X is off and the command register does not disable INTx.
// Precondition: irqMu held.
func (f *Function) updateINTxLocked() {
	if f.intx == nil {
		return
	}
	want := f.isr != 0 && !f.msixEnabled && !f.intxDisabled
	if want != f.intxHigh {
		f.intxHigh = want
		f.intx.SetLevel(want)
	}
}
