package legacy

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable time source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func cmosRead(r *RTC, idx byte) byte {
	wr(r, rtcIndexPort, idx)
	return rd(r, rtcDataPort)
}

func cmosWrite(r *RTC, idx, v byte) {
	wr(r, rtcIndexPort, idx)
	wr(r, rtcDataPort, v)
}

// fromBCD is the test's own decoder, independent of the device's.
func fromBCD(b byte) int { return int(b>>4)*10 + int(b&0xf) }

func TestRTCFixedTime(t *testing.T) {
	// A leap day, a Thursday, two seconds before midnight, in a zone
	// other than UTC: the guest must see UTC.
	zone := time.FixedZone("UTC+2", 2*3600)
	clk := &fakeClock{t: time.Date(2024, 3, 1, 1, 59, 58, 500_000_000, zone)}
	r := NewRTC(clk.Now)

	regs := []byte{cmosSeconds, cmosMinutes, cmosHours, cmosDayOfWeek, cmosDayOfMonth, cmosMonth, cmosYear, cmosCentury}
	for _, c := range []struct {
		name string
		b    byte
		want []byte
	}{
		{"BCD 24h", rtcB24h, []byte{0x58, 0x59, 0x23, 0x05, 0x29, 0x02, 0x24, 0x20}},
		{"binary 24h", rtcB24h | rtcBDM, []byte{58, 59, 23, 5, 29, 2, 24, 20}},
		{"BCD 12h", 0, []byte{0x58, 0x59, 0x80 | 0x11, 0x05, 0x29, 0x02, 0x24, 0x20}},
		{"binary 12h", rtcBDM, []byte{58, 59, 0x80 | 11, 5, 29, 2, 24, 20}},
	} {
		cmosWrite(r, cmosRegB, c.b)
		for i, idx := range regs {
			if got := cmosRead(r, idx); got != c.want[i] {
				t.Errorf("%s: CMOS[%#02x] = %#02x, want %#02x", c.name, idx, got, c.want[i])
			}
		}
	}

	// Two seconds later: 2024-03-01 00:00:00.5, a Friday.
	clk.Advance(2 * time.Second)
	cmosWrite(r, cmosRegB, rtcB24h)
	want := []byte{0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24, 0x20}
	for i, idx := range regs {
		if got := cmosRead(r, idx); got != want[i] {
			t.Errorf("after midnight: CMOS[%#02x] = %#02x, want %#02x", idx, got, want[i])
		}
	}
}

func TestRTC12HourBoundaries(t *testing.T) {
	clk := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := NewRTC(clk.Now)
	for _, c := range []struct {
		hour     int
		bcd, bin byte
	}{
		{0, 0x12, 12}, {1, 0x01, 1}, {9, 0x09, 9}, {10, 0x10, 10}, {11, 0x11, 11},
		{12, 0x92, 0x80 | 12}, {13, 0x81, 0x80 | 1}, {22, 0x90, 0x80 | 10}, {23, 0x91, 0x80 | 11},
	} {
		clk.t = time.Date(2030, 1, 1, c.hour, 30, 0, 0, time.UTC)
		r = NewRTC(clk.Now)
		cmosWrite(r, cmosRegB, 0)
		if got := cmosRead(r, cmosHours); got != c.bcd {
			t.Errorf("%02d:30 BCD 12h: hours = %#02x, want %#02x", c.hour, got, c.bcd)
		}
		cmosWrite(r, cmosRegB, rtcBDM)
		if got := cmosRead(r, cmosHours); got != c.bin {
			t.Errorf("%02d:30 binary 12h: hours = %#02x, want %#02x", c.hour, got, c.bin)
		}
	}
}

// TestRTCBCDMatchesReportedTime reads the clock once a second for a day and
// a bit across month, year and century ends, decoding the BCD with the
// test's own decoder (gokvm's BCD divided by 100 instead of 10).
func TestRTCBCDMatchesReportedTime(t *testing.T) {
	for _, start := range []time.Time{
		time.Date(2099, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(2023, 6, 30, 22, 0, 0, 0, time.UTC),
	} {
		clk := &fakeClock{t: start}
		r := NewRTC(clk.Now)
		for i := 0; i < 3*3600; i += 7 {
			g := r.GuestTime()
			got := time.Date(
				fromBCD(cmosRead(r, cmosCentury))*100+fromBCD(cmosRead(r, cmosYear)),
				time.Month(fromBCD(cmosRead(r, cmosMonth))),
				fromBCD(cmosRead(r, cmosDayOfMonth)),
				fromBCD(cmosRead(r, cmosHours)),
				fromBCD(cmosRead(r, cmosMinutes)),
				fromBCD(cmosRead(r, cmosSeconds)), 0, time.UTC)
			if !got.Equal(g.Truncate(time.Second)) {
				t.Fatalf("registers say %v, GuestTime %v", got, g)
			}
			if dow := fromBCD(cmosRead(r, cmosDayOfWeek)); dow != int(g.Weekday())+1 {
				t.Fatalf("%v: day of week %d", g, dow)
			}
			clk.Advance(7 * time.Second)
		}
	}
}

func TestRTCStatusRegisters(t *testing.T) {
	clk := &fakeClock{t: time.Date(2024, 5, 5, 5, 5, 5, 0, time.UTC)}
	r := NewRTC(clk.Now)
	if got := cmosRead(r, cmosRegA); got != rtcInitialA {
		t.Errorf("A = %#02x, want %#02x", got, rtcInitialA)
	}
	if got := cmosRead(r, cmosRegB); got != rtcInitialB {
		t.Errorf("B = %#02x, want %#02x", got, rtcInitialB)
	}
	if got := cmosRead(r, cmosRegC); got != 0 {
		t.Errorf("C = %#02x, want 0", got)
	}
	if got := cmosRead(r, cmosRegD); got != rtcDVRT {
		t.Errorf("D = %#02x, want VRT", got)
	}
	cmosWrite(r, cmosRegD, 0)
	cmosWrite(r, cmosRegC, 0xff)
	if cmosRead(r, cmosRegD) != rtcDVRT || cmosRead(r, cmosRegC) != 0 {
		t.Error("C or D took a write")
	}
	cmosWrite(r, cmosRegA, 0xff)
	if got := cmosRead(r, cmosRegA); got != 0x7f {
		t.Errorf("A = %#02x after writing 0xff at mid-second, want 0x7f (UIP read-only)", got)
	}
	cmosWrite(r, cmosRegA, rtcInitialA)

	// UIP: set in the last 244 us before a second ends, clear otherwise.
	for _, c := range []struct {
		ns  int
		uip bool
	}{{0, false}, {500_000_000, false}, {999_755_000, false}, {999_756_000, true}, {999_999_999, true}} {
		clk.t = time.Date(2024, 5, 5, 5, 5, 5, c.ns, time.UTC)
		r := NewRTC(clk.Now)
		if got := cmosRead(r, cmosRegA)&rtcAUIP != 0; got != c.uip {
			t.Errorf("at .%09d UIP = %v, want %v", c.ns, got, c.uip)
		}
		cmosWrite(r, cmosRegB, rtcBSET|rtcB24h)
		if cmosRead(r, cmosRegA)&rtcAUIP != 0 {
			t.Errorf("at .%09d UIP set while SET stops the clock", c.ns)
		}
	}
}

func TestRTCGuestSetsTime(t *testing.T) {
	clk := &fakeClock{t: time.Date(2024, 5, 5, 5, 5, 5, 0, time.UTC)}
	r := NewRTC(clk.Now)

	// hwclock --systohc: SET, write every field, clear SET.
	cmosWrite(r, cmosRegB, rtcBSET|rtcB24h)
	for _, w := range []struct{ idx, v byte }{
		{cmosSeconds, 0x59}, {cmosMinutes, 0x59}, {cmosHours, 0x23},
		{cmosDayOfMonth, 0x31}, {cmosMonth, 0x12}, {cmosYear, 0x99}, {cmosCentury, 0x19},
	} {
		cmosWrite(r, w.idx, w.v)
	}
	clk.Advance(10 * time.Second) // the clock is stopped while SET
	if got := r.GuestTime(); !got.Equal(time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)) {
		t.Fatalf("time while SET = %v", got)
	}
	cmosWrite(r, cmosRegB, rtcB24h)
	clk.Advance(time.Second)
	if got := r.GuestTime(); !got.Equal(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("one second after SET cleared: %v", got)
	}
	if c, y := cmosRead(r, cmosCentury), cmosRead(r, cmosYear); c != 0x20 || y != 0x00 {
		t.Errorf("century %#02x year %#02x, want 0x20 0x00", c, y)
	}

	// A single write without SET moves just that field.
	cmosWrite(r, cmosMinutes, 0x42)
	if got := r.GuestTime(); !got.Equal(time.Date(2000, 1, 1, 0, 42, 0, 0, time.UTC)) {
		t.Errorf("after writing minutes: %v", got)
	}
	// 12-hour binary write: 0x8b is 11 PM.
	cmosWrite(r, cmosRegB, rtcBDM)
	cmosWrite(r, cmosHours, 0x80|11)
	if h := r.GuestTime().Hour(); h != 23 {
		t.Errorf("hour after writing 11 PM = %d", h)
	}
	cmosWrite(r, cmosHours, 12) // 12 AM
	if h := r.GuestTime().Hour(); h != 0 {
		t.Errorf("hour after writing 12 AM = %d", h)
	}
	// Day-of-week writes are ignored.
	before := r.GuestTime()
	cmosWrite(r, cmosDayOfWeek, 3)
	if !r.GuestTime().Equal(before) {
		t.Error("writing the day of the week moved the clock")
	}
	// Garbage normalises instead of panicking.
	cmosWrite(r, cmosRegB, rtcB24h)
	cmosWrite(r, cmosMonth, 0xff)
	cmosWrite(r, cmosDayOfMonth, 0x00)
	if m := cmosRead(r, cmosMonth); fromBCD(m) < 1 || fromBCD(m) > 12 {
		t.Errorf("month register %#02x after garbage", m)
	}
}

func TestRTCIndexAndNVRAM(t *testing.T) {
	clk := &fakeClock{t: time.Date(2024, 5, 5, 5, 5, 17, 0, time.UTC)}
	r := NewRTC(clk.Now)
	wr(r, rtcIndexPort, 0x80|cmosSeconds) // NMI disable bit set
	if got := rd(r, rtcDataPort); got != 0x17 {
		t.Errorf("seconds through an NMI-masked index = %#02x, want 0x17", got)
	}
	if got := rd(r, rtcIndexPort); got != 0xff {
		t.Errorf("index port reads %#02x, want 0xff", got)
	}
	cmosWrite(r, 0x40, 0xa5)
	cmosWrite(r, 0x7f, 0x5a)
	if cmosRead(r, 0x40) != 0xa5 || cmosRead(r, 0x7f) != 0x5a || cmosRead(r, 0xff) != 0x5a {
		t.Error("CMOS RAM does not hold its bytes")
	}
	cmosWrite(r, 0x01, 0x30) // seconds alarm: plain storage
	if got := cmosRead(r, 0x01); got != 0x30 {
		t.Errorf("alarm register = %#02x", got)
	}
	if err := r.SetNVRAM(0x34, 0x12); err != nil {
		t.Fatal(err)
	}
	if got := cmosRead(r, 0x34); got != 0x12 {
		t.Errorf("SetNVRAM value reads %#02x", got)
	}
	for _, idx := range []byte{0x00, 0x0d, cmosCentury, 0x80} {
		if err := r.SetNVRAM(idx, 1); err == nil {
			t.Errorf("SetNVRAM(%#02x) accepted", idx)
		}
	}
	for _, n := range []int{0, 2, 4, 8} {
		b := make([]byte, n)
		r.Read(rtcDataPort, b)
		r.Write(rtcIndexPort, b)
		r.Read(5, b)
		r.Write(5, b)
	}
}

func TestRTCDefaultClock(t *testing.T) {
	r := NewRTC(nil)
	if d := time.Since(r.GuestTime()); d < -time.Second || d > time.Second {
		t.Errorf("default RTC is %v off the host clock", d)
	}
	if r.GuestTime().Location() != time.UTC {
		t.Error("guest time not in UTC")
	}
}
