package legacy

import (
	"bytes"
	"testing"
	"time"
)

// Fuzz inputs are programs of three-byte operations: an opcode, an offset
// and a value. The low two opcode bits pick read, write or a device-specific
// action; the next two pick the access width.

var fuzzWidths = [4]int{1, 2, 4, 8}

func FuzzUART(f *testing.F) {
	f.Add([]byte{0, 0x01, 3, 0xc1, 1, 2, 0x0f, 1, 1, 0, 2, 'a', 0, 0, 0, 0, 2, 0})
	f.Add([]byte{1, 1, 0x10, 1, 4, 0x1a, 1, 0, 'x', 1, 0, 'y', 0, 2, 0, 0, 5, 0})
	f.Add(bytes.Repeat([]byte{2, 0, 0xff, 1, 2, 0x41, 0, 0, 0}, 10))
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) == 0 {
			return
		}
		cfg := UARTConfig{
			IRQ:          newFakeIRQ(),
			RegShift:     uint(prog[0]&1) * 2,
			RegIOWidth:   [4]int{0, 1, 4, 0}[prog[0]>>1&3],
			OUT2GatesIRQ: prog[0]&8 != 0,
			FlushDelay:   time.Hour,
		}
		irq := cfg.IRQ.(*fakeIRQ)
		u, err := NewUART(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		prog = prog[1:]
		for len(prog) >= 3 {
			op, off, v := prog[0], uint64(prog[1]%40), prog[2]
			prog = prog[3:]
			buf := make([]byte, fuzzWidths[op>>2&3])
			buf[0] = v
			switch op & 3 {
			case 0:
				u.Read(off, buf)
			case 1:
				u.Write(off, buf)
			case 2:
				u.tryFeed(bytes.Repeat([]byte{v}, int(off%20)))
			case 3:
				u.Write(off<<cfg.RegShift, buf)
			}
			u.mu.Lock()
			rxLen, rxCap, fifo := u.rxLen, u.rxCapLocked(), u.fifoEnabled
			pending := u.pendingLocked() != iirNone
			gated := cfg.OUT2GatesIRQ && (u.mcr&mcrOUT2 == 0 || u.mcr&mcrLoop != 0)
			u.mu.Unlock()
			if rxLen > fifoSize || rxLen > rxCap || (!fifo && rxLen > 1) {
				t.Fatalf("receiver holds %d bytes (FIFO enabled %v)", rxLen, fifo)
			}
			if want := pending && !gated; irq.Level() != want {
				t.Fatalf("IRQ level %v, want %v", irq.Level(), want)
			}
			if n := irq.Redundant(); n != 0 {
				t.Fatalf("%d SetLevel calls did not change the level", n)
			}
		}
		// IIR always names a real source with the FIFO bits as FCR set them.
		iir := make([]byte, 1)
		u.Read(uint64(regIIR)<<cfg.RegShift, iir)
		if id := iir[0] & 0x0f; cfg.RegIOWidth <= 1 && id != iirNone && id != iirMSI && id != iirTHRI && id != iirRDI && id != iirRLSI && id != iirCTI {
			t.Fatalf("IIR %#02x", iir[0])
		}
	})
}

func FuzzI8042(f *testing.F) {
	f.Add([]byte{1, 4, 0x60, 1, 0, 0x47, 1, 0, 0xf2, 0, 0, 0, 0, 0, 0, 0, 4, 0})
	f.Add([]byte{1, 4, 0xd1, 1, 0, 0x00, 1, 4, 0xfe, 1, 4, 0xaa, 0, 0, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		irq := newFakeIRQ()
		resets := 0
		d := NewI8042(I8042Config{Reset: func() { resets++ }, KbdIRQ: irq})
		for len(prog) >= 3 {
			op, off, v := prog[0], uint64(prog[1]%8), prog[2]
			prog = prog[3:]
			buf := make([]byte, fuzzWidths[op>>2&3])
			buf[0] = v
			if op&1 == 0 {
				d.Read(off, buf)
			} else {
				d.Write(off, buf)
			}
			d.mu.Lock()
			qLen, level, want := d.qLen, d.irqLevel, d.qLen > 0 && d.ram[0]&i8042CtrKbdInt != 0
			d.mu.Unlock()
			if qLen > i8042QueueSize {
				t.Fatalf("queue holds %d bytes", qLen)
			}
			if level != want || irq.Level() != level {
				t.Fatalf("IRQ level %v (device %v), want %v", irq.Level(), level, want)
			}
			if irq.Redundant() != 0 {
				t.Fatal("redundant SetLevel")
			}
		}
		if uint64(resets) != d.Resets.Load() {
			t.Fatalf("%d callbacks, Resets = %d", resets, d.Resets.Load())
		}
	})
}

func FuzzRTC(f *testing.F) {
	f.Add([]byte{1, 0, 0x0b, 1, 1, 0x86, 1, 0, 0x09, 1, 1, 0x99, 1, 0, 0x0b, 1, 1, 0x02, 2, 0, 200})
	f.Add([]byte{1, 0, 0x32, 1, 1, 0xff, 1, 0, 0x08, 1, 1, 0x00, 0, 1, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		clk := &fakeClock{t: time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC)}
		r := NewRTC(clk.Now)
		for len(prog) >= 3 {
			op, off, v := prog[0], uint64(prog[1]%4), prog[2]
			prog = prog[3:]
			buf := make([]byte, fuzzWidths[op>>2&3])
			buf[0] = v
			switch op & 3 {
			case 0:
				r.Read(off, buf)
			case 1:
				r.Write(off, buf)
			case 2:
				clk.Advance(time.Duration(v) * 10 * time.Millisecond)
			case 3:
				cmosWrite(r, v, prog0(prog))
			}
		}
		// Whatever the guest wrote, the registers describe GuestTime in
		// the format register B names.
		g := r.GuestTime()
		if g.Year() < 0 || g.Year() > 9999 {
			return // outside what BCD can show
		}
		b := cmosRead(r, cmosRegB)
		dec := func(v byte) int {
			if b&rtcBDM != 0 {
				return int(v)
			}
			if v>>4 > 9 || v&0xf > 9 {
				t.Fatalf("invalid BCD %#02x", v)
			}
			return fromBCD(v)
		}
		h := cmosRead(r, cmosHours)
		hour := dec(h)
		if b&rtcB24h == 0 {
			hour = dec(h&0x7f) % 12
			if h&0x80 != 0 {
				hour += 12
			}
		}
		year := dec(cmosRead(r, cmosCentury))*100 + dec(cmosRead(r, cmosYear))
		got := []int{year, dec(cmosRead(r, cmosMonth)), dec(cmosRead(r, cmosDayOfMonth)),
			hour, dec(cmosRead(r, cmosMinutes)), dec(cmosRead(r, cmosSeconds)), dec(cmosRead(r, cmosDayOfWeek))}
		g = r.GuestTime() // reads take no time on the fake clock
		want := []int{g.Year(), int(g.Month()), g.Day(), g.Hour(), g.Minute(), g.Second(), int(g.Weekday()) + 1}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("registers %v, GuestTime %v (%v), B %#02x", got, want, g, b)
			}
		}
	})
}

func prog0(p []byte) byte {
	if len(p) == 0 {
		return 0
	}
	return p[0]
}

func FuzzEscapeParser(f *testing.F) {
	f.Add([]byte("ab\x01x\x01\x01c\x01h\x01"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		whole := NewEscapeParser(0)
		g1, a1 := whole.Process(nil, in)
		// Any split of the input gives the same result.
		s := int(split)
		if s > len(in) {
			s = len(in)
		}
		parts := NewEscapeParser(0)
		g2, a2 := parts.Process(nil, in[:s])
		g2, b2 := parts.Process(g2, in[s:])
		a2 = append(a2, b2...)
		if !bytes.Equal(g1, g2) || len(a1) != len(a2) {
			t.Fatalf("split at %d changes the result: %q %v vs %q %v", s, g1, a1, g2, a2)
		}
		if len(g1) > len(in) {
			t.Fatalf("%d guest bytes from %d input bytes", len(g1), len(in))
		}
		if bytes.IndexByte(in, DefaultEscapeChar) < 0 && !bytes.Equal(g1, in) {
			t.Fatal("input without escapes was changed")
		}
	})
}
