package legacy

import (
	"sync"
	"sync/atomic"
)

// i8042 register offsets, relative to a base at port 0x60. The machine
// registers the device over 0x60..0x64, which also covers port 0x61.
const (
	i8042Data    = 0 // port 0x60
	i8042PortB   = 1 // port 0x61, the PC's system control port B
	i8042Command = 4 // port 0x64: write command, read status
)

// Status register bits (Linux include/linux/i8042.h I8042_STR_*).
const (
	i8042StrOBF     = 0x01 // output buffer full: a byte waits at 0x60
	i8042StrSys     = 0x04 // system flag, from CTR bit 2
	i8042StrCmdDat  = 0x08 // last write was to the command port
	i8042StrKeylock = 0x10 // 1: keyboard not inhibited
	i8042StrAuxData = 0x20 // the byte at 0x60 came from the AUX port
)

// Controller configuration byte ("CTR") bits.
const (
	i8042CtrKbdInt = 0x01
	i8042CtrSys    = 0x04
	i8042CtrKbdDis = 0x10
	i8042CtrAuxDis = 0x20
	i8042CtrXlate  = 0x40

	// i8042InitialCtr is what firmware leaves behind: keyboard interrupt
	// on, POST passed, AUX clock off, scancode translation on (IBM PC/AT
	// technical reference, 8042 command byte).
	i8042InitialCtr = i8042CtrKbdInt | i8042CtrSys | i8042CtrAuxDis | i8042CtrXlate
)

// Output port bits (command 0xd0/0xd1).
const (
	i8042OutReset = 0x01 // 0 asserts the CPU reset line
	i8042OutA20   = 0x02
	// i8042InitialOut is QEMU's power-on value: reset line released,
	// A20 on, the unused bits high.
	i8042InitialOut = 0xcf
)

// i8042QueueSize is the output queue depth: the chip has a one-byte output
// buffer; the queue holds the rest of a multi-byte keyboard response
// (Linux's I8042_BUFFER_SIZE is also 16).
const i8042QueueSize = 16

// I8042Config configures an I8042.
type I8042Config struct {
	// Reset is called when the guest pulses the CPU reset line: command
	// 0xfe (or another 0xf0-0xfe pulse with bit 0 clear), or output port
	// bit 0 cleared through command 0xd1. It runs on the writing vCPU's
	// goroutine, without the device lock, and may be called more than
	// once (Linux writes 0xfe ten times when the first has no effect): it
	// must request the reset and return, not wait for the vCPUs to stop.
	Reset func()
	// KbdIRQ, if set, is driven with IRQ 1 while a byte from the keyboard
	// side waits and the guest enabled the keyboard interrupt in the CTR.
	// Without it Linux's atkbd probe times out (about a second) and no
	// keyboard is registered, which is harmless for a serial console.
	KbdIRQ IRQLine
}

// I8042 is the PS/2 keyboard controller of a PC, emulated far enough for
// Linux's i8042 and atkbd drivers to probe it quickly and for the guest to
// reset the machine through it. It implements bus.Device, placed at port
// 0x60 with the command/status register at offset 4.
//
// It has a keyboard that never types and no AUX (mouse) port. Linux's
// i8042_check_aux() learns the latter without a timeout: the AUX loopback
// command 0xd3 echoes its byte on the keyboard channel (no AUXDATA bit, so
// Linux gives up on the loop at once) and the AUX interface test 0xa9
// reports "clock line stuck high", the answer of an empty port.
//
// Offset 1 (port 0x61) reads 0x20: bit 5 is the PIT channel 2 output, and
// Linux's PIT-based TSC calibration waits for it to go high. With KVM's
// in-kernel PIT, port 0x61 never reaches this device. Cloud Hypervisor and
// kvmtool answer the same.
//
// Accesses wider than a byte act on the low byte; other offsets read as
// zero.
type I8042 struct {
	reset func()
	irq   IRQLine

	// Resets counts reset requests.
	Resets atomic.Uint64

	mu       sync.Mutex
	ram      [32]byte // controller RAM; ram[0] is the CTR
	outp     byte     // output port
	cmdDat   bool     // status bit 3
	pending  byte     // controller command waiting for its data byte, or 0
	kbdParam byte     // keyboard command waiting for its parameter, or 0
	queue    [i8042QueueSize]byte
	qHead    int
	qLen     int
	irqLevel bool
}

// NewI8042 returns a controller in the state firmware leaves it in.
func NewI8042(cfg I8042Config) *I8042 {
	d := &I8042{reset: cfg.Reset, irq: cfg.KbdIRQ, outp: i8042InitialOut}
	d.ram[0] = i8042InitialCtr
	return d
}

// Read implements bus.Device.
func (d *I8042) Read(off uint64, data []byte) {
	clear(data)
	if len(data) == 0 {
		return
	}
	switch off {
	case i8042Data:
		d.mu.Lock()
		data[0] = d.readDataLocked()
		d.mu.Unlock()
	case i8042Command:
		d.mu.Lock()
		data[0] = d.statusLocked()
		d.mu.Unlock()
	case i8042PortB:
		data[0] = 0x20
	}
}

// Write implements bus.Device.
func (d *I8042) Write(off uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	v := data[0]
	var reset bool
	d.mu.Lock()
	switch off {
	case i8042Data:
		d.cmdDat = false
		reset = d.writeDataLocked(v)
	case i8042Command:
		d.cmdDat = true
		reset = d.commandLocked(v)
	}
	d.updateIRQLocked()
	d.mu.Unlock()
	if reset {
		d.Resets.Add(1)
		if d.reset != nil {
			d.reset()
		}
	}
}

// Precondition: d.mu held.
func (d *I8042) statusLocked() byte {
	// The input buffer is never full (IBF clear): commands take effect at
	// once, so Linux's i8042_wait_write and the reboot path's kb_wait
	// never spin.
	s := byte(i8042StrKeylock)
	if d.qLen > 0 {
		s |= i8042StrOBF
	}
	if d.ram[0]&i8042CtrSys != 0 {
		s |= i8042StrSys
	}
	if d.cmdDat {
		s |= i8042StrCmdDat
	}
	return s
}

// readDataLocked pops the output buffer. An empty buffer reads as the
// last byte again on real parts; zero here, as in Firecracker.
// Precondition: d.mu held.
func (d *I8042) readDataLocked() byte {
	if d.qLen == 0 {
		return 0
	}
	v := d.queue[d.qHead]
	d.qHead = (d.qHead + 1) % i8042QueueSize
	d.qLen--
	// IRQ 1 is edge-triggered on a PC: drop the line for every byte taken
	// so that the next byte of a response raises a fresh edge, as QEMU's
	// ps2_read_data does. Linux's i8042_interrupt reads one byte per
	// interrupt.
	if d.irqLevel {
		d.irqLevel = false
		if d.irq != nil {
			d.irq.SetLevel(false)
		}
	}
	d.updateIRQLocked()
	return v
}

// Precondition: d.mu held.
func (d *I8042) push(bytes ...byte) {
	for _, b := range bytes {
		if d.qLen == i8042QueueSize {
			return // a real controller would not have accepted the command
		}
		d.queue[(d.qHead+d.qLen)%i8042QueueSize] = b
		d.qLen++
	}
}

// respond replaces the output buffer with a controller response, so a
// stale byte (an unread keyboard ACK, an echo Linux gave up on) cannot be
// read in its place.
// Precondition: d.mu held.
func (d *I8042) respond(bytes ...byte) {
	d.qHead, d.qLen = 0, 0
	d.push(bytes...)
}

// commandLocked runs a controller command written to port 0x64. It reports
// whether the command resets the machine.
// Precondition: d.mu held.
func (d *I8042) commandLocked(cmd byte) bool {
	d.pending = 0
	switch {
	case cmd >= 0x20 && cmd <= 0x3f: // read controller RAM; 0x20 is the CTR
		d.respond(d.ram[cmd&0x1f])
	case cmd >= 0x60 && cmd <= 0x7f: // write controller RAM: byte follows at 0x60
		d.pending = cmd
	case cmd == 0xa7: // disable AUX
		d.ram[0] |= i8042CtrAuxDis
	case cmd == 0xa8: // enable AUX
		d.ram[0] &^= i8042CtrAuxDis
	case cmd == 0xa9: // AUX interface test: 0x02, clock line stuck high
		d.respond(0x02)
	case cmd == 0xaa: // controller self-test
		d.ram[0] |= i8042CtrSys
		d.respond(0x55)
	case cmd == 0xab: // keyboard interface test: 0x00, no error
		d.respond(0x00)
	case cmd == 0xad: // disable keyboard
		d.ram[0] |= i8042CtrKbdDis
	case cmd == 0xae: // enable keyboard
		d.ram[0] &^= i8042CtrKbdDis
	case cmd == 0xd0: // read output port
		d.respond(d.outp)
	case cmd == 0xd1, cmd == 0xd2, cmd == 0xd3, cmd == 0xd4: // data byte follows at 0x60
		d.pending = cmd
	case cmd == 0xdd: // A20 off
		d.outp &^= i8042OutA20
	case cmd == 0xdf: // A20 on
		d.outp |= i8042OutA20
	case cmd >= 0xf0:
		// Pulse output port bits 0-3 low for those bits clear in the
		// command; bit 0 is the CPU reset line, so 0xfe resets.
		return cmd&i8042OutReset == 0
	}
	return false
}

// writeDataLocked handles a byte written to port 0x60: the data byte of a
// pending controller command, or else a byte for the keyboard. It reports
// whether the write resets the machine.
// Precondition: d.mu held.
func (d *I8042) writeDataLocked(v byte) bool {
	cmd := d.pending
	d.pending = 0
	switch {
	case cmd >= 0x60 && cmd <= 0x7f:
		d.ram[cmd&0x1f] = v
	case cmd == 0xd1:
		d.outp = v
		return v&i8042OutReset == 0
	case cmd == 0xd2: // as if the keyboard had sent v
		d.respond(v)
	case cmd == 0xd3:
		// AUX loopback; see the type comment for why it answers on
		// the keyboard channel.
		d.respond(v)
	case cmd == 0xd4:
		// Byte for the AUX device: there is none.
	default:
		d.keyboardLocked(v)
	}
	return false
}

// keyboardLocked answers a byte sent to the keyboard, as a PS/2 keyboard
// does (IBM PS/2 keyboard technical reference, "commands from the system").
// Precondition: d.mu held.
func (d *I8042) keyboardLocked(v byte) {
	const ack, nak = 0xfa, 0xfe
	if p := d.kbdParam; p != 0 {
		d.kbdParam = 0
		if p == 0xf0 && v == 0 {
			d.respond(ack, d.xlate(0x02)) // report scancode set 2
		} else {
			d.respond(ack)
		}
		return
	}
	switch v {
	case 0xed, 0xf0, 0xf3: // set LEDs, scancode set, typematic: parameter follows
		d.kbdParam = v
		d.respond(ack)
	case 0xee: // echo
		d.respond(0xee)
	case 0xf2: // identify: MF2 keyboard, ab 83
		d.respond(ack, 0xab, d.xlate(0x83))
	case 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd:
		d.respond(ack)
	case 0xfe: // resend: there is nothing worth resending but the ACK
		d.respond(ack)
	case 0xff: // reset: ACK, then basic assurance test passed
		d.respond(ack, 0xaa)
	default:
		d.respond(nak)
	}
}

// xlate applies the controller's set 2 to set 1 translation, when the CTR
// enables it, to the response bytes that go through it: the keyboard ID's
// 0x83 and the scancode set number 0x02 both read as 0x41 (ID ab 83 is seen
// as ab 41 behind a translating controller).
// Precondition: d.mu held.
func (d *I8042) xlate(b byte) byte {
	if d.ram[0]&i8042CtrXlate != 0 && (b == 0x83 || b == 0x02) {
		return 0x41
	}
	return b
}

// updateIRQLocked drives IRQ 1: high while a byte waits and the keyboard
// interrupt is enabled.
// Precondition: d.mu held.
func (d *I8042) updateIRQLocked() {
	level := d.qLen > 0 && d.ram[0]&i8042CtrKbdInt != 0
	if level == d.irqLevel {
		return
	}
	d.irqLevel = level
	if d.irq != nil {
		d.irq.SetLevel(level)
	}
}
