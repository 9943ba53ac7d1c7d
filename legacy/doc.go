// Package legacy holds the PC-era devices a Linux guest expects to find
// before any virtio driver loads: an 8250/16550A UART (the console), the
// host terminal side of that console, an i8042 PS/2 controller (probe and
// reset), an MC146818 CMOS RTC and a port 0x80 POST-code sink.
//
// Every device implements bus.Device (Read/Write at an offset relative to
// where the machine placed it). None of them knows an x86 port number: the
// machine decides that the UART sits at port 0x3f8 or at MMIO 0x10000000,
// and the same code serves both.
//
// Guest accesses never panic: unknown offsets and odd widths are ignored or
// read as zero, as the doc comment of each device says. Devices lock
// themselves; Read and Write may be called from several vCPU goroutines at
// once.
package legacy

import "errors"

// IRQLine is one interrupt input of the machine's interrupt controller, as a
// device sees it: a wire whose level the device drives. The x86 machine
// implements it with KVM_IRQ_LINE on a GSI, the riscv64 machine with a PLIC
// source.
//
// Devices call SetLevel only when the level changes, except where a device's
// doc says it pulses the line. SetLevel may be called from any goroutine
// (vCPU goroutines, the console input goroutine) and is called with the
// device's lock held, so that level changes reach the controller in the order
// the device made them: an implementation must not call back into the device.
type IRQLine interface {
	SetLevel(high bool)
}

// Sentinel errors.
var (
	// ErrClosed is returned by input methods of a device that has been
	// closed.
	ErrClosed = errors.New("legacy: device closed")
	// ErrNotSupported is returned for host features this system lacks
	// (terminal raw mode outside Unix).
	ErrNotSupported = errors.New("legacy: not supported on this system")
)
