// Package mmio is the virtio-mmio transport, version 2 (virtio 1.2,
// 4.2.2): one register block per device, a level-triggered interrupt line
// asserted while InterruptStatus is non-zero, and notifications written to
// QueueNotify. Only modern (VERSION_1) drivers are supported; a legacy
// (version 1) driver sees Version 2 and gives up, as Linux does.
//
// The machine registers a Device on its MMIO bus and tells the guest where
// it is (an FDT node, or CmdlineParam for Linux's virtio_mmio.device=).
package mmio

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/govmm/govmm/virtio"
	"github.com/govmm/govmm/vmm/mem"
)

// Register offsets (virtio 1.2, 4.2.2, table "MMIO Device Register
// Layout"). All registers are 32 bits wide.
const (
	RegMagicValue        = 0x000
	RegVersion           = 0x004
	RegDeviceID          = 0x008
	RegVendorID          = 0x00c
	RegDeviceFeatures    = 0x010
	RegDeviceFeaturesSel = 0x014
	RegDriverFeatures    = 0x020
	RegDriverFeaturesSel = 0x024
	RegQueueSel          = 0x030
	RegQueueNumMax       = 0x034
	RegQueueNum          = 0x038
	RegQueueReady        = 0x044
	RegQueueNotify       = 0x050
	RegInterruptStatus   = 0x060
	RegInterruptACK      = 0x064
	RegStatus            = 0x070
	RegQueueDescLow      = 0x080
	RegQueueDescHigh     = 0x084
	RegQueueDriverLow    = 0x090
	RegQueueDriverHigh   = 0x094
	RegQueueDeviceLow    = 0x0a0
	RegQueueDeviceHigh   = 0x0a4
	RegSHMSel            = 0x0ac
	RegSHMLenLow         = 0x0b0
	RegSHMLenHigh        = 0x0b4
	RegSHMBaseLow        = 0x0b8
	RegSHMBaseHigh       = 0x0bc
	RegQueueReset        = 0x0c0
	RegConfigGeneration  = 0x0fc
	RegConfig            = 0x100
)

const (
	// MagicValue is "virt" in little-endian.
	MagicValue = 0x74726976
	// Version is the modern virtio-mmio interface.
	Version = 2
	// VendorID is the subsystem vendor ID govmm reports ("GOVM").
	VendorID = 0x4d564f47
	// Size is the register block a machine maps per device: the
	// registers and 3840 bytes of device configuration space.
	Size = 0x1000
)

// InterruptStatus bits (virtio 1.2, 4.2.2).
const (
	IntUsedBuffer   = 1
	IntConfigChange = 2
)

// IRQLine is a level-triggered interrupt input: the riscv PLIC, the x86
// IOAPIC through KVM_IRQ_LINE.
type IRQLine interface {
	SetLevel(high bool)
}

// Config is what New needs.
type Config struct {
	Device virtio.Device
	Mem    *mem.Memory
	IRQ    IRQLine
	// Base is the guest-physical address the machine registers the
	// device at; it is needed only to bind notifications.
	Base uint64
	// Notify, if set, binds each queue's kick eventfd to QueueNotify with
	// the queue index as data match, so the guest's write never exits to
	// the VMM. nil: the transport signals the eventfd on the write.
	Notify virtio.NotifyBinder
	Log    func(format string, args ...any)
}

// Device is one virtio-mmio register block, a bus.Device.
type Device struct {
	// mu serialises register accesses from vCPUs; it is held across
	// Device.Activate and Device.Reset.
	mu       sync.Mutex
	t        *virtio.Transport
	queueSel uint32
	shmSel   uint32

	// irqMu guards isr and the line: the device's goroutines raise
	// interrupts while a vCPU may hold mu waiting for them in Reset.
	irqMu sync.Mutex
	isr   uint32
	line  IRQLine

	notify virtio.NotifyBinder
	bound  []virtio.Notification
}

// New makes the transport for c.Device and, with a binder, binds every
// queue's notification.
func New(c Config) (*Device, error) {
	if c.IRQ == nil {
		return nil, fmt.Errorf("virtio-mmio: no interrupt line")
	}
	d := &Device{line: c.IRQ, notify: c.Notify}
	var err error
	name := ""
	if c.Device != nil {
		name = fmt.Sprintf("virtio-mmio@%#x %s", c.Base, c.Device.Type())
	}
	d.t, err = virtio.NewTransport(virtio.TransportConfig{
		Device: c.Device, Mem: c.Mem, IRQ: d, OnReset: d.clearInterrupts, Name: name, Log: c.Log,
	})
	if err != nil {
		return nil, err
	}
	if d.notify != nil {
		for i := 0; i < d.t.NumQueues(); i++ {
			n := virtio.Notification{Addr: c.Base + RegQueueNotify, Size: 4, DataMatch: uint64(i), Match: true}
			if err := d.notify.Bind(n, d.t.Queue(uint32(i)).Kick); err != nil {
				d.Close()
				return nil, fmt.Errorf("%s: bind queue %d notification: %w", name, i, err)
			}
			d.bound = append(d.bound, n)
		}
	}
	return d, nil
}

// Close unbinds the notifications, stops the device if it is active and
// releases the kick eventfds.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var first error
	for i, n := range d.bound {
		if err := d.notify.Unbind(n, d.t.Queue(uint32(i)).Kick); err != nil && first == nil {
			first = err
		}
	}
	d.bound = nil
	if err := d.t.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// Counters are the transport's counters for this device.
func (d *Device) Counters() *virtio.Counters { return &d.t.C }

// Status is the device status byte, for tests and diagnostics.
func (d *Device) Status() uint8 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.t.Status()
}

// CmdlineParam is the Linux kernel parameter that declares a virtio-mmio
// device at base with the given IRQ (Documentation/admin-guide/
// kernel-parameters.txt, virtio_mmio.device=<size>@<baseaddr>:<irq>). It
// needs CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES; FDT machines describe the
// device in a node instead.
func CmdlineParam(base, size uint64, irq int) string {
	return fmt.Sprintf("virtio_mmio.device=%#x@%#x:%d", size, base, irq)
}

// NotifyQueue implements virtio.Interrupt: a used buffer notification.
func (d *Device) NotifyQueue(int) error { d.raise(IntUsedBuffer); return nil }

// NotifyConfig implements virtio.Interrupt: a configuration change
// notification.
func (d *Device) NotifyConfig() error { d.raise(IntConfigChange); return nil }

// raise sets bits in InterruptStatus; the line goes high with the first.
func (d *Device) raise(bits uint32) {
	d.irqMu.Lock()
	defer d.irqMu.Unlock()
	was := d.isr
	d.isr |= bits
	if was == 0 {
		d.line.SetLevel(true)
	}
}

// ack clears bits; the line goes low when none is left (virtio 1.2,
// 4.2.2: InterruptACK).
func (d *Device) ack(bits uint32) {
	d.irqMu.Lock()
	defer d.irqMu.Unlock()
	was := d.isr
	d.isr &^= bits
	if was != 0 && d.isr == 0 {
		d.line.SetLevel(false)
	}
}

func (d *Device) clearInterrupts() { d.ack(^uint32(0)) }

func (d *Device) interruptStatus() uint32 {
	d.irqMu.Lock()
	defer d.irqMu.Unlock()
	return d.isr
}

// Read implements bus.Device.
func (d *Device) Read(off uint64, data []byte) {
	clear(data)
	d.mu.Lock()
	defer d.mu.Unlock()
	if off >= RegConfig {
		// Device configuration: any width the device's fields have
		// (virtio 1.2, 4.2.2.2 allows 8, 16, 32 and 64-bit accesses).
		d.t.ReadConfig(off-RegConfig, data)
		return
	}
	if len(data) != 4 || off%4 != 0 {
		d.t.BadRead()
		return
	}
	binary.LittleEndian.PutUint32(data, d.readReg(off))
}

func (d *Device) readReg(off uint64) uint32 {
	t := d.t
	q := t.Queue(d.queueSel)
	switch off {
	case RegMagicValue:
		return MagicValue
	case RegVersion:
		return Version
	case RegDeviceID:
		return uint32(t.Device().Type())
	case RegVendorID:
		return VendorID
	case RegDeviceFeatures:
		return t.DeviceFeatures()
	case RegDeviceFeaturesSel:
		return t.DeviceFeatureSelect()
	case RegDriverFeatures:
		return t.DriverFeatures()
	case RegDriverFeaturesSel:
		return t.DriverFeatureSelect()
	case RegQueueSel:
		return d.queueSel
	case RegQueueNumMax:
		// Zero says the queue is not available (4.2.2).
		if q == nil {
			return 0
		}
		return uint32(q.MaxSize)
	case RegQueueNum:
		if q == nil {
			return 0
		}
		return uint32(q.Size)
	case RegQueueReady:
		if q == nil || !q.Ready {
			return 0
		}
		return 1
	case RegInterruptStatus:
		return d.interruptStatus()
	case RegStatus:
		return uint32(t.Status())
	case RegQueueDescLow, RegQueueDescHigh, RegQueueDriverLow, RegQueueDriverHigh, RegQueueDeviceLow, RegQueueDeviceHigh:
		if q == nil {
			return 0
		}
		v := uint64(*queueAddr(q, off))
		if off&4 != 0 {
			return uint32(v >> 32)
		}
		return uint32(v)
	case RegSHMSel:
		return d.shmSel
	case RegSHMLenLow, RegSHMLenHigh, RegSHMBaseLow, RegSHMBaseHigh:
		// No shared memory regions: length and base read as -1
		// (4.2.2).
		return 0xffffffff
	case RegQueueReset:
		return 0
	case RegConfigGeneration:
		return t.ConfigGeneration()
	}
	t.BadRead()
	return 0
}

// queueAddr returns the queue field a Queue{Desc,Driver,Device}{Low,High}
// register addresses.
func queueAddr(q *virtio.Queue, off uint64) *mem.GPA {
	switch off &^ 7 {
	case RegQueueDescLow:
		return &q.Desc
	case RegQueueDriverLow:
		return &q.Avail
	}
	return &q.Used
}

// Write implements bus.Device.
func (d *Device) Write(off uint64, data []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off >= RegConfig {
		d.t.WriteConfig(off-RegConfig, data)
		return
	}
	if len(data) != 4 || off%4 != 0 {
		d.t.BadWrite()
		return
	}
	d.writeReg(off, binary.LittleEndian.Uint32(data))
}

func (d *Device) writeReg(off uint64, v uint32) {
	t := d.t
	switch off {
	case RegDeviceFeaturesSel:
		t.SelectDeviceFeatures(v)
	case RegDriverFeatures:
		t.WriteDriverFeatures(v)
	case RegDriverFeaturesSel:
		t.SelectDriverFeatures(v)
	case RegQueueSel:
		d.queueSel = v
	case RegQueueNum:
		q := t.ConfigurableQueue(d.queueSel)
		if q == nil {
			return
		}
		if v > virtio.MaxQueueSize {
			// It would not fit the 16-bit size; a power of two
			// that is too large is caught at DRIVER_OK.
			t.BadWrite()
			return
		}
		q.Size = uint16(v)
	case RegQueueReady:
		if v > 1 {
			t.BadWrite()
			return
		}
		t.SetQueueReady(d.queueSel, v == 1)
	case RegQueueNotify:
		// Without VIRTIO_F_NOTIFICATION_DATA the value is the queue
		// index (4.2.3.3).
		t.Notify(v)
	case RegInterruptACK:
		d.ack(v)
	case RegStatus:
		if v > 0xff {
			t.BadWrite()
			return
		}
		t.WriteStatus(uint8(v))
	case RegQueueDescLow, RegQueueDescHigh, RegQueueDriverLow, RegQueueDriverHigh, RegQueueDeviceLow, RegQueueDeviceHigh:
		q := t.ConfigurableQueue(d.queueSel)
		if q == nil {
			return
		}
		p := queueAddr(q, off)
		if off&4 != 0 {
			*p = *p&0xffffffff | mem.GPA(v)<<32
		} else {
			*p = *p&^0xffffffff | mem.GPA(v)
		}
	case RegSHMSel:
		d.shmSel = v
	default:
		// Read-only registers, QueueReset (VIRTIO_F_RING_RESET is never
		// offered) and holes.
		t.BadWrite()
	}
}
