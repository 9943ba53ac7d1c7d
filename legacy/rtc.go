package legacy

import (
	"fmt"
	"sync"
	"time"
)

// RTC port offsets, relative to a base at port 0x70.
const (
	rtcIndexPort = 0
	rtcDataPort  = 1
)

// CMOS locations (MC146818A datasheet, "address map"; 0x32 is the PC's
// century byte, which ACPI's FADT names).
const (
	cmosSeconds    = 0x00
	cmosMinutes    = 0x02
	cmosHours      = 0x04
	cmosDayOfWeek  = 0x06
	cmosDayOfMonth = 0x07
	cmosMonth      = 0x08
	cmosYear       = 0x09
	cmosRegA       = 0x0a
	cmosRegB       = 0x0b
	cmosRegC       = 0x0c
	cmosRegD       = 0x0d
	cmosCentury    = 0x32
	cmosSize       = 128
)

// Register A, B and D bits.
const (
	rtcAUIP  = 0x80 // update in progress
	rtcBSET  = 0x80 // halt updates while the time is set
	rtcBUIE  = 0x10 // update-ended interrupt enable
	rtcBDM   = 0x04 // data mode: 1 binary, 0 BCD
	rtcB24h  = 0x02 // 1: 24-hour hours; 0: 12-hour with bit 7 = PM
	rtcDVRT  = 0x80 // valid RAM and time
	rtcHourP = 0x80 // PM bit of the hours byte in 12-hour mode

	// Power-on values: 32.768 kHz time base and a 1024 Hz periodic rate
	// (DV = 010, RS = 0110) in A; 24-hour BCD in B, as PC firmware
	// leaves them.
	rtcInitialA = 0x26
	rtcInitialB = rtcB24h
)

// rtcUIPWindow is how long before each second's update UIP reads as set:
// "when UIP is 0, the update transfer will not occur for at least 244 us"
// (MC146818A datasheet, register A bit 7).
const rtcUIPWindow = 244 * time.Microsecond

// RTC is an MC146818A CMOS real-time clock with its 128 bytes of CMOS RAM.
// It implements bus.Device at the PC's ports 0x70 (index, offset 0) and 0x71
// (data, offset 1). Bit 7 of the index is the PC's NMI mask, not part of the
// index, and is ignored.
//
// The time registers are computed from the time source on every read, so
// they are always consistent with it, in the format register B selects (BCD
// or binary, 12- or 24-hour). Changing B's format bits reformats the time at
// once rather than reinterpreting the stored bytes as the chip would;
// Linux never does it. Guest writes to the time registers set the clock: the
// RTC keeps the written time and advances it with the time source, and the
// SET bit of register B stops the clock while the guest writes it, as on
// the chip. The day of the week follows from the date; writes to it are
// ignored. Written values out of range are normalised as time.Date does.
//
// No interrupts: register C always reads 0, and the alarm, periodic and
// update-ended interrupts are never raised. Register A's divider bits are
// plain storage.
type RTC struct {
	now func() time.Time

	mu    sync.Mutex
	index byte
	ram   [cmosSize]byte // CMOS RAM; alarms and registers A and B live here
	// Guest time is base + (now() - ref), or base alone while the SET bit
	// stops the clock. Keeping the reference (not an offset) keeps
	// arithmetic on a guest clock set centuries away from the host's in
	// range.
	base time.Time
	ref  time.Time
}

// NewRTC returns an RTC reading the host's time from now, or from time.Now
// when now is nil. The guest sees the time in UTC.
func NewRTC(now func() time.Time) *RTC {
	if now == nil {
		now = time.Now
	}
	r := &RTC{now: now}
	r.ref = now()
	r.base = r.ref.UTC()
	r.ram[cmosRegA] = rtcInitialA
	r.ram[cmosRegB] = rtcInitialB
	return r
}

// GuestTime returns the time the guest reads from the clock, in UTC.
func (r *RTC) GuestTime() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.guestTimeLocked()
}

// SetNVRAM stores v at a CMOS RAM location, for the machine to pass
// firmware-style settings (memory size, boot order). The clock and status
// registers (0x00-0x0d) and the century byte are not RAM and are refused.
func (r *RTC) SetNVRAM(index, v byte) error {
	if index >= cmosSize || index <= cmosRegD || index == cmosCentury {
		return fmt.Errorf("legacy: rtc: CMOS index %#x is not NVRAM", index)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ram[index] = v
	return nil
}

// Read implements bus.Device.
func (r *RTC) Read(off uint64, data []byte) {
	clear(data)
	if len(data) == 0 {
		return
	}
	switch off {
	case rtcIndexPort:
		data[0] = 0xff // write-only on the PC
	case rtcDataPort:
		r.mu.Lock()
		data[0] = r.readLocked(r.index)
		r.mu.Unlock()
	}
}

// Write implements bus.Device.
func (r *RTC) Write(off uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch off {
	case rtcIndexPort:
		r.index = data[0] & 0x7f // bit 7 masks NMIs on the PC
	case rtcDataPort:
		r.writeLocked(r.index, data[0])
	}
}

// Precondition: r.mu held.
func (r *RTC) guestTimeLocked() time.Time {
	if r.ram[cmosRegB]&rtcBSET != 0 {
		return r.base
	}
	return r.base.Add(r.now().Sub(r.ref))
}

// Precondition: r.mu held.
func (r *RTC) readLocked(idx byte) byte {
	switch idx {
	case cmosSeconds, cmosMinutes, cmosHours, cmosDayOfWeek, cmosDayOfMonth, cmosMonth, cmosYear, cmosCentury:
		return r.timeFieldLocked(idx, r.guestTimeLocked())
	case cmosRegA:
		a := r.ram[cmosRegA] &^ rtcAUIP
		if r.ram[cmosRegB]&rtcBSET == 0 {
			// UIP is set for the last 244 us before each second's
			// update: a guest that saw it clear may read all the time
			// registers before they change.
			t := r.guestTimeLocked()
			if time.Duration(t.Nanosecond()) >= time.Second-rtcUIPWindow {
				a |= rtcAUIP
			}
		}
		return a
	case cmosRegC:
		return 0 // no interrupt flags: interrupts are not emulated
	case cmosRegD:
		return rtcDVRT // the battery is always good
	}
	return r.ram[idx%cmosSize]
}

// timeFieldLocked formats one time register from t.
// Precondition: r.mu held.
func (r *RTC) timeFieldLocked(idx byte, t time.Time) byte {
	switch idx {
	case cmosSeconds:
		return r.encode(t.Second())
	case cmosMinutes:
		return r.encode(t.Minute())
	case cmosHours:
		h := t.Hour()
		if r.ram[cmosRegB]&rtcB24h != 0 {
			return r.encode(h)
		}
		// 12-hour mode: 12, 1..11 with bit 7 set from noon on.
		v := r.encode((h+11)%12 + 1)
		if h >= 12 {
			v |= rtcHourP
		}
		return v
	case cmosDayOfWeek:
		return r.encode(int(t.Weekday()) + 1) // 1 = Sunday
	case cmosDayOfMonth:
		return r.encode(t.Day())
	case cmosMonth:
		return r.encode(int(t.Month()))
	case cmosYear:
		return r.encode(t.Year() % 100)
	default: // cmosCentury
		return r.encode(t.Year() / 100)
	}
}

// Precondition: r.mu held.
func (r *RTC) writeLocked(idx, v byte) {
	switch idx {
	case cmosSeconds, cmosMinutes, cmosHours, cmosDayOfMonth, cmosMonth, cmosYear, cmosCentury:
		r.setFieldLocked(idx, v)
	case cmosDayOfWeek:
		// Derived from the date.
	case cmosRegA:
		r.ram[cmosRegA] = v &^ rtcAUIP // UIP is read-only
	case cmosRegB:
		r.writeRegBLocked(v)
	case cmosRegC, cmosRegD:
		// Read-only.
	default:
		r.ram[idx%cmosSize] = v
	}
}

// Precondition: r.mu held.
func (r *RTC) writeRegBLocked(v byte) {
	old := r.ram[cmosRegB]
	switch {
	case v&rtcBSET != 0 && old&rtcBSET == 0:
		// Stop the clock where it is. Setting SET also clears UIE
		// (MC146818A datasheet, register B bit 7).
		r.base = r.guestTimeLocked()
		v &^= rtcBUIE
	case v&rtcBSET == 0 && old&rtcBSET != 0:
		// Restart from the time the guest left in the registers.
		r.ref = r.now()
	}
	r.ram[cmosRegB] = v
}

// setFieldLocked changes one field of the guest time.
// Precondition: r.mu held.
func (r *RTC) setFieldLocked(idx, v byte) {
	t := r.guestTimeLocked()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	switch idx {
	case cmosSeconds:
		s = r.decode(v)
	case cmosMinutes:
		mi = r.decode(v)
	case cmosHours:
		if r.ram[cmosRegB]&rtcB24h != 0 {
			h = r.decode(v)
		} else {
			h = r.decode(v&^rtcHourP) % 12
			if v&rtcHourP != 0 {
				h += 12
			}
		}
	case cmosDayOfMonth:
		d = r.decode(v)
	case cmosMonth:
		mo = time.Month(r.decode(v))
	case cmosYear:
		y = y - y%100 + r.decode(v)
	case cmosCentury:
		y = r.decode(v)*100 + y%100
	}
	// The sub-second phase restarts with the write, so the next update
	// comes a full second after it.
	r.base = time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	if r.ram[cmosRegB]&rtcBSET == 0 {
		r.ref = r.now()
	}
}

// encode formats a register value in the mode register B selects. BCD
// holds two decimal digits, tens in the high nibble.
// Precondition: r.mu held.
func (r *RTC) encode(v int) byte {
	if r.ram[cmosRegB]&rtcBDM != 0 {
		return byte(v)
	}
	v %= 100
	if v < 0 {
		v += 100
	}
	return byte(v/10<<4 | v%10)
}

// decode reads a register value the guest wrote in the mode register B
// selects. Invalid BCD digits are taken at face value (0xff reads as 165)
// and normalised by time.Date later.
// Precondition: r.mu held.
func (r *RTC) decode(v byte) int {
	if r.ram[cmosRegB]&rtcBDM != 0 {
		return int(v)
	}
	return int(v>>4)*10 + int(v&0x0f)
}
