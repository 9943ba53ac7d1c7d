package legacy

import (
	"slices"
	"testing"
)

func TestUARTPowerOnRegisters(t *testing.T) {
	u := newTestUART(t, UARTConfig{})
	// 16550A datasheet, "UART reset configuration".
	for _, c := range []struct {
		name string
		reg  uint64
		want byte
	}{
		{"IER", regIER, 0x00},
		{"IIR", regIIR, 0x01},
		{"LCR", regLCR, 0x00},
		{"MCR", regMCR, 0x00},
		{"LSR", regLSR, lsrTHRE | lsrTEMT},
		{"MSR", regMSR, msrCTS | msrDSR | msrDCD},
		{"SCR", regSCR, 0x00},
	} {
		if got := rd(u, c.reg); got != c.want {
			t.Errorf("%s = %#02x, want %#02x", c.name, got, c.want)
		}
	}
}

func TestUARTScratchAndLCR(t *testing.T) {
	u := newTestUART(t, UARTConfig{})
	for _, v := range []byte{0x00, 0x55, 0xaa, 0xff, 0x5a} {
		wr(u, regSCR, v)
		if got := rd(u, regSCR); got != v {
			t.Errorf("SCR = %#02x after writing %#02x", got, v)
		}
	}
	for _, v := range []byte{0x03, 0x1f, 0x7f, 0x43} {
		wr(u, regLCR, v)
		if got := rd(u, regLCR); got != v {
			t.Errorf("LCR = %#02x after writing %#02x", got, v)
		}
	}
	wr(u, regMCR, 0xff)
	if got := rd(u, regMCR); got != mcrMask {
		t.Errorf("MCR = %#02x after writing 0xff, want %#02x (bits 5-7 are zero)", got, mcrMask)
	}
	wr(u, regMCR, 0)
	wr(u, regIER, 0xff)
	if got := rd(u, regIER); got != ierMask {
		t.Errorf("IER = %#02x after writing 0xff, want %#02x (Linux autoconfig checks this)", got, ierMask)
	}
}

func TestUARTDivisorLatch(t *testing.T) {
	out := &syncBuffer{}
	u := newTestUART(t, UARTConfig{Out: out})
	wr(u, regIER, 0x05)
	wr(u, regLCR, lcrDLAB|0x03)
	if got := rd(u, regRBR); got != 1 {
		t.Errorf("DLL at reset = %d, want 1 (115200 baud)", got)
	}
	wr(u, regRBR, 0x0c) // DLL: 9600 baud
	wr(u, regIER, 0x01) // DLM
	if got := rd(u, regRBR); got != 0x0c {
		t.Errorf("DLL = %#02x, want 0x0c", got)
	}
	if got := rd(u, regIER); got != 0x01 {
		t.Errorf("DLM = %#02x, want 0x01", got)
	}
	wr(u, regLCR, 0x03)
	if got := rd(u, regIER); got != 0x05 {
		t.Errorf("IER = %#02x after clearing DLAB, want 0x05 (untouched by DLM writes)", got)
	}
	wr(u, regLCR, lcrDLAB)
	if got := rd(u, regRBR); got != 0x0c {
		t.Errorf("DLL = %#02x after toggling DLAB, want 0x0c", got)
	}
	if err := u.Flush(); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); s != "" {
		t.Errorf("DLL writes were transmitted: %q", s)
	}
}

func TestUARTLoopback(t *testing.T) {
	out := &syncBuffer{}
	u := newTestUART(t, UARTConfig{Out: out})

	// Linux's autoconfig check: MCR = LOOP | OUT2 | RTS must read back
	// as CTS | DCD in MSR's upper nibble.
	wr(u, regMCR, mcrLoop|mcrOUT2|mcrRTS)
	if got := rd(u, regMSR) & 0xf0; got != 0x90 {
		t.Errorf("MSR lines in loopback = %#02x, want 0x90", got)
	}
	wr(u, regMCR, mcrLoop|mcrDTR|mcrRTS|mcrOUT1|mcrOUT2)
	if got := rd(u, regMSR); got != msrCTS|msrDSR|msrRI|msrDCD|msrDDSR {
		t.Errorf("MSR = %#02x, want all lines and DDSR", got)
	}
	wr(u, regMCR, mcrLoop) // drop everything: RI falls (TERI), the rest change
	if got := rd(u, regMSR); got != msrDCTS|msrDDSR|msrTERI|msrDDCD {
		t.Errorf("MSR = %#02x, want all four deltas and no lines", got)
	}
	if got := rd(u, regMSR); got != 0 {
		t.Errorf("MSR = %#02x on second read, want deltas cleared", got)
	}

	// 16450 mode: transmitted bytes come back; a second unread byte
	// overruns and replaces the first.
	wr(u, regRBR, 'a')
	if got := rd(u, regLSR); got != lsrDR|lsrTHRE|lsrTEMT {
		t.Errorf("LSR = %#02x, want DR|THRE|TEMT", got)
	}
	if got := rd(u, regRBR); got != 'a' {
		t.Errorf("RBR = %q, want 'a'", got)
	}
	wr(u, regRBR, 'b')
	wr(u, regRBR, 'c')
	if got := rd(u, regLSR); got != lsrDR|lsrOE|lsrTHRE|lsrTEMT {
		t.Errorf("LSR = %#02x, want DR|OE|THRE|TEMT", got)
	}
	if got := rd(u, regLSR); got != lsrDR|lsrTHRE|lsrTEMT {
		t.Errorf("LSR = %#02x on second read, want OE cleared", got)
	}
	if got := rd(u, regRBR); got != 'c' {
		t.Errorf("RBR = %q, want 'c'", got)
	}

	// FIFO mode: Linux's size_fifo() writes 256 bytes and counts what it
	// can read back: 16 on a 16550A (64 would make it a U6 16550A).
	wr(u, regIIR, fcrEnable|fcrClearRX|fcrClearTX)
	for i := 0; i < 256; i++ {
		wr(u, regRBR, byte(i))
	}
	var got []byte
	for rd(u, regLSR)&lsrDR != 0 && len(got) < 256 {
		got = append(got, rd(u, regRBR))
	}
	want := make([]byte, fifoSize)
	for i := range want {
		want[i] = byte(i)
	}
	if !slices.Equal(got, want) {
		t.Errorf("read back %v in loopback, want the first 16 bytes", got)
	}
	if n := u.Metrics().RxOverruns.Load(); n != 1+256-fifoSize {
		t.Errorf("RxOverruns = %d, want %d", n, 1+256-fifoSize)
	}

	if err := u.Flush(); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); s != "" {
		t.Errorf("loopback bytes reached the output: %q", s)
	}
	wr(u, regMCR, mcrOUT2|mcrRTS|mcrDTR)
	wr(u, regRBR, 'z')
	u.Flush()
	if s := out.String(); s != "z" {
		t.Errorf("output after leaving loopback = %q, want \"z\"", s)
	}
}

func TestUARTLineStatus(t *testing.T) {
	u := newTestUART(t, UARTConfig{})
	if got := rd(u, regLSR); got != lsrTHRE|lsrTEMT {
		t.Fatalf("idle LSR = %#02x", got)
	}
	wr(u, regRBR, 'x') // transmission is instantaneous
	if got := rd(u, regLSR); got != lsrTHRE|lsrTEMT {
		t.Errorf("LSR after THR write = %#02x, want THRE|TEMT", got)
	}
	u.tryFeed([]byte("k"))
	if got := rd(u, regLSR); got != lsrDR|lsrTHRE|lsrTEMT {
		t.Errorf("LSR with a byte received = %#02x, want DR|THRE|TEMT", got)
	}
	if got := rd(u, regRBR); got != 'k' {
		t.Errorf("RBR = %q, want 'k'", got)
	}
	if got := rd(u, regLSR); got&lsrDR != 0 {
		t.Errorf("LSR = %#02x, DR still set after reading the byte", got)
	}
	if got := rd(u, regRBR); got != 'k' {
		t.Errorf("RBR of an empty receiver = %q, want the last byte again", got)
	}
}

func TestUARTFIFOTrigger(t *testing.T) {
	for _, c := range []struct {
		fcr     byte
		trigger int
	}{{0x01, 1}, {0x41, 4}, {0x81, 8}, {0xc1, 14}} {
		u := newTestUART(t, UARTConfig{})
		wr(u, regIIR, c.fcr)
		wr(u, regIER, ierERBFI)
		if got := rd(u, regIIR); got != iirFIFO|iirNone {
			t.Errorf("trigger %d: IIR = %#02x with nothing received, want 0xc1", c.trigger, got)
		}
		for n := 1; n <= fifoSize; n++ {
			u.tryFeed([]byte{byte(n)})
			want := byte(iirFIFO | iirRDI)
			if n < c.trigger {
				want = iirFIFO | iirCTI // below the trigger: the line went idle
			}
			if got := rd(u, regIIR); got != want {
				t.Errorf("trigger %d, %d bytes: IIR = %#02x, want %#02x", c.trigger, n, got, want)
			}
		}
		if n := u.tryFeed([]byte{0}); n != 0 {
			t.Errorf("trigger %d: a 17th byte was accepted", c.trigger)
		}
		for n := fifoSize; n > 0; n-- {
			if got := rd(u, regRBR); got != byte(fifoSize-n+1) {
				t.Fatalf("trigger %d: RBR = %d, want %d", c.trigger, got, fifoSize-n+1)
			}
		}
		if got := rd(u, regIIR); got != iirFIFO|iirNone {
			t.Errorf("trigger %d: IIR = %#02x after draining, want 0xc1", c.trigger, got)
		}
	}
}

func TestUARTFIFOControl(t *testing.T) {
	u := newTestUART(t, UARTConfig{})
	if got := rd(u, regIIR); got&iirFIFO != 0 {
		t.Errorf("IIR = %#02x at reset, FIFO bits set", got)
	}
	u.tryFeed([]byte("ab"))
	if got := u.rxLenNow(); got != 1 {
		t.Errorf("16450 mode holds %d bytes, want 1", got)
	}
	wr(u, regIIR, 0xc1)
	if got := rd(u, regIIR); got&iirFIFO != iirFIFO {
		t.Errorf("IIR = %#02x with FIFOs on, want bits 6-7 set", got)
	}
	if got := u.rxLenNow(); got != 0 {
		t.Errorf("enabling the FIFO left %d bytes, want it cleared", got)
	}
	u.tryFeed([]byte("hello"))
	wr(u, regIIR, 0xc1|fcrClearTX)
	if got := u.rxLenNow(); got != 5 {
		t.Errorf("clearing TX dropped received bytes: %d left", got)
	}
	wr(u, regIIR, 0x41|fcrClearRX)
	if got := rd(u, regLSR); got&lsrDR != 0 {
		t.Errorf("LSR = %#02x after clearing RX, DR still set", got)
	}
	// FCR0 = 0 disables the FIFOs whatever the other bits say.
	wr(u, regIIR, 0xc0)
	if got := rd(u, regIIR); got&iirFIFO != 0 {
		t.Errorf("IIR = %#02x after disabling FIFOs", got)
	}
}

// TestUARTInterruptPriority raises every source at once and checks that
// IIR walks them in the datasheet's order as each is cleared.
func TestUARTInterruptPriority(t *testing.T) {
	irq := newFakeIRQ()
	u := newTestUART(t, UARTConfig{IRQ: irq})
	wr(u, regMCR, mcrLoop|mcrRTS) // MSR deltas
	wr(u, regIER, ierERBFI|ierETBEI|ierELSI|ierEDSSI)
	wr(u, regRBR, 'a') // THRE pending again after the write
	wr(u, regRBR, 'b') // overrun in 16450 mode

	steps := []struct {
		iir   byte
		clear func()
	}{
		{iirRLSI, func() { rd(u, regLSR) }},
		{iirRDI, func() { rd(u, regRBR) }},
		{iirTHRI, func() {}}, // the IIR read itself clears THRE
		{iirMSI, func() { rd(u, regMSR) }},
		{iirNone, nil},
	}
	for i, s := range steps {
		if got := rd(u, regIIR); got != s.iir {
			t.Fatalf("step %d: IIR = %#02x, want %#02x", i, got, s.iir)
		}
		if want := s.iir != iirNone; irq.Level() != want {
			t.Errorf("step %d: IRQ level %v, want %v", i, irq.Level(), want)
		}
		if s.clear != nil {
			s.clear()
		}
	}
	if n := irq.Redundant(); n != 0 {
		t.Errorf("%d SetLevel calls did not change the level", n)
	}
}

func TestUARTTHREInterrupt(t *testing.T) {
	irq := newFakeIRQ()
	u := newTestUART(t, UARTConfig{IRQ: irq})
	expect := func(step string, iir byte, changes ...bool) {
		t.Helper()
		if got := irq.Take(); !slices.Equal(got, changes) {
			t.Errorf("%s: IRQ changes %v, want %v", step, got, changes)
		}
		if iir != 0 {
			if got := rd(u, regIIR); got != iir {
				t.Errorf("%s: IIR = %#02x, want %#02x", step, got, iir)
			}
		}
	}

	wr(u, regIER, ierETBEI)
	expect("enable ETBEI with THR empty", 0, true)
	if got := rd(u, regIIR); got != iirTHRI {
		t.Fatalf("IIR = %#02x, want THRE", got)
	}
	expect("IIR read clears THRE", iirNone, false)

	wr(u, regIER, ierETBEI|ierERBFI)
	expect("rewriting IER with ETBEI still set is no edge", iirNone)

	// Linux's serial8250_startup UART_BUG_THRE test: IER=0 then THRI
	// again must re-raise THRE.
	wr(u, regIER, 0)
	wr(u, regIER, ierETBEI)
	expect("ETBEI re-enabled", 0, true)
	rd(u, regIIR)
	expect("cleared", 0, false)

	wr(u, regRBR, 'x')
	expect("THR write: THR empties again at once", iirTHRI, true)

	// Consecutive THR writes while THRE is pending keep the line high
	// without a SetLevel per byte.
	wr(u, regRBR, 'y')
	irq.Take()
	for i := 0; i < 100; i++ {
		wr(u, regRBR, 'z')
	}
	expect("100 THR writes", 0)
	if !irq.Level() {
		t.Error("IRQ low while THRE is pending")
	}

	// A higher-priority source hides THRE from IIR; reading IIR then
	// must not clear THRE.
	wr(u, regIER, ierETBEI|ierERBFI)
	u.tryFeed([]byte("r"))
	if got := rd(u, regIIR); got != iirRDI {
		t.Fatalf("IIR = %#02x, want RDI", got)
	}
	rd(u, regRBR)
	if got := rd(u, regIIR); got != iirTHRI {
		t.Errorf("IIR = %#02x after draining RX, want THRE still pending", got)
	}

	// Disabling ETBEI drops the line.
	wr(u, regRBR, 'w')
	irq.Take()
	wr(u, regIER, 0)
	expect("ETBEI disabled", iirNone, false)

	// Linux's TXEN test: enabling THRI must show in IIR immediately.
	wr(u, regIER, ierETBEI)
	if lsr, iir := rd(u, regLSR), rd(u, regIIR); lsr&lsrTEMT == 0 || iir&iirNone != 0 {
		t.Errorf("TXEN test: LSR %#02x IIR %#02x, Linux would set UART_BUG_TXEN", lsr, iir)
	}
	if n := irq.Redundant(); n != 0 {
		t.Errorf("%d SetLevel calls did not change the level", n)
	}
}

func TestUARTReceiveInterruptLevel(t *testing.T) {
	irq := newFakeIRQ()
	u := newTestUART(t, UARTConfig{IRQ: irq})
	wr(u, regIIR, 0x81) // FIFO, trigger 8
	wr(u, regIER, ierERBFI)
	u.tryFeed([]byte("0123456789"))
	if got := irq.Take(); !slices.Equal(got, []bool{true}) {
		t.Errorf("IRQ changes after receiving = %v, want [true]", got)
	}
	for range 9 {
		rd(u, regRBR)
	}
	if got := irq.Take(); len(got) != 0 {
		t.Errorf("IRQ changed to %v with a byte still in the FIFO", got)
	}
	rd(u, regRBR)
	if got := irq.Take(); !slices.Equal(got, []bool{false}) {
		t.Errorf("IRQ changes after draining = %v, want [false]", got)
	}
	// Disabling ERBFI masks a pending receive interrupt.
	u.tryFeed([]byte("x"))
	wr(u, regIER, 0)
	if got := irq.Take(); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("IRQ changes = %v, want [true false]", got)
	}
}

func TestUARTOUT2GatesIRQ(t *testing.T) {
	irq := newFakeIRQ()
	u := newTestUART(t, UARTConfig{IRQ: irq, OUT2GatesIRQ: true})
	wr(u, regIER, ierETBEI)
	if irq.Level() {
		t.Fatal("IRQ raised with OUT2 clear")
	}
	wr(u, regMCR, mcrOUT2)
	if !irq.Level() {
		t.Fatal("IRQ not raised once OUT2 is set")
	}
	wr(u, regMCR, mcrOUT2|mcrLoop)
	if irq.Level() {
		t.Error("IRQ raised in loopback mode")
	}
	// Without the option, OUT2 does not matter.
	irq2 := newFakeIRQ()
	u2 := newTestUART(t, UARTConfig{IRQ: irq2})
	wr(u2, regIER, ierETBEI)
	if !irq2.Level() {
		t.Error("IRQ gated by OUT2 without OUT2GatesIRQ")
	}
}

func TestUARTRegShiftAndWidth(t *testing.T) {
	u := newTestUART(t, UARTConfig{RegShift: 2, RegIOWidth: 4})
	w4 := func(reg uint64, v byte) { u.Write(reg<<2, []byte{v, 0xee, 0xee, 0xee}) }
	r4 := func(reg uint64) []byte { b := []byte{9, 9, 9, 9}; u.Read(reg<<2, b); return b }

	w4(regSCR, 0x5a)
	if got := r4(regSCR); !slices.Equal(got, []byte{0x5a, 0, 0, 0}) {
		t.Errorf("SCR as 32-bit read = %v, want [0x5a 0 0 0]", got)
	}
	if got := r4(regLSR); got[0] != lsrTHRE|lsrTEMT {
		t.Errorf("LSR at offset 0x14 = %#02x", got[0])
	}
	before := u.Metrics().BadAccesses.Load()
	wr(u, regSCR<<2, 0x11) // byte access on a reg-io-width 4 UART
	u.Write(regSCR<<2+1, []byte{1, 2, 3, 4})
	if got := r4(regSCR); got[0] != 0x5a {
		t.Errorf("SCR = %#02x: a rejected access wrote it", got[0])
	}
	if got := u.Metrics().BadAccesses.Load() - before; got != 2 {
		t.Errorf("BadAccesses grew by %d, want 2", got)
	}

	// Width 0 accepts anything and uses the low byte.
	u0 := newTestUART(t, UARTConfig{RegShift: 2})
	wr(u0, regSCR<<2, 0x33)
	b := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	u0.Read(regSCR<<2, b)
	if !slices.Equal(b, []byte{0x33, 0, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("64-bit read of SCR = %v", b)
	}
}

func TestUARTConfigErrors(t *testing.T) {
	for _, cfg := range []UARTConfig{
		{RegShift: 4},
		{RegIOWidth: 3},
		{FlushSize: -1},
	} {
		if u, err := NewUART(cfg); err == nil {
			u.Close()
			t.Errorf("NewUART(%+v) succeeded", cfg)
		}
	}
}

func TestUARTOddAccessesDoNotPanic(t *testing.T) {
	for _, shift := range []uint{0, 2} {
		u := newTestUART(t, UARTConfig{RegShift: shift})
		for off := uint64(0); off < 64; off++ {
			for _, n := range []int{0, 1, 2, 3, 4, 8} {
				b := make([]byte, n)
				u.Read(off, b)
				for i := range b {
					b[i] = 0xff
				}
				u.Write(off, b)
			}
		}
		u.Read(1<<63, make([]byte, 1))
		u.Write(^uint64(0), []byte{1})
	}
}

func TestUARTReset(t *testing.T) {
	irq := newFakeIRQ()
	u := newTestUART(t, UARTConfig{IRQ: irq})
	wr(u, regIER, ierETBEI)
	wr(u, regLCR, 0x1b)
	wr(u, regIIR, 0xc1)
	u.tryFeed([]byte("abc"))
	u.Reset()
	if irq.Level() {
		t.Error("IRQ still high after reset")
	}
	if got := rd(u, regLCR); got != 0 {
		t.Errorf("LCR = %#02x after reset", got)
	}
	if got := rd(u, regLSR); got != lsrTHRE|lsrTEMT {
		t.Errorf("LSR = %#02x after reset", got)
	}
	if got := rd(u, regIIR); got != iirNone {
		t.Errorf("IIR = %#02x after reset", got)
	}
}
