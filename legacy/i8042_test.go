package legacy

import (
	"slices"
	"testing"
)

func newTestI8042(irq IRQLine) (*I8042, *int) {
	resets := new(int)
	return NewI8042(I8042Config{Reset: func() { *resets++ }, KbdIRQ: irq}), resets
}

func TestI8042ResetCommand(t *testing.T) {
	d, resets := newTestI8042(nil)
	// Linux's kb_wait() in the reboot path spins while IBF is set.
	if s := rd(d, i8042Command); s&0x02 != 0 {
		t.Fatalf("status %#02x has IBF set", s)
	}
	wr(d, i8042Command, 0xfe)
	if *resets != 1 || d.Resets.Load() != 1 {
		t.Fatalf("0xfe: %d reset calls, Resets = %d", *resets, d.Resets.Load())
	}
	wr(d, i8042Command, 0xff) // pulses nothing
	wr(d, i8042Command, 0xfd) // pulses bit 1 only
	if *resets != 1 {
		t.Errorf("pulse commands without bit 0 reset the machine (%d calls)", *resets)
	}
	wr(d, i8042Command, 0xf0) // pulses bits 0-3: includes reset
	if *resets != 2 {
		t.Errorf("0xf0 did not reset (%d calls)", *resets)
	}
	// Without a callback: counted, no panic.
	n := NewI8042(I8042Config{})
	wr(n, i8042Command, 0xfe)
	if n.Resets.Load() != 1 {
		t.Errorf("Resets = %d", n.Resets.Load())
	}
}

func TestI8042ResetOutputPort(t *testing.T) {
	d, resets := newTestI8042(nil)
	wr(d, i8042Command, 0xd0)
	if got := rd(d, i8042Data); got != i8042InitialOut {
		t.Errorf("output port = %#02x, want %#02x", got, i8042InitialOut)
	}
	wr(d, i8042Command, 0xd1)
	wr(d, i8042Data, 0x03) // reset line high: no reset
	if *resets != 0 {
		t.Fatal("0xd1 with bit 0 set reset the machine")
	}
	wr(d, i8042Command, 0xd0)
	if got := rd(d, i8042Data); got != 0x03 {
		t.Errorf("output port = %#02x after writing 0x03", got)
	}
	wr(d, i8042Command, 0xd1)
	if *resets != 0 {
		t.Fatal("the 0xd1 command byte alone reset the machine")
	}
	wr(d, i8042Data, 0x02) // bit 0 cleared: reset
	if *resets != 1 {
		t.Errorf("0xd1 with bit 0 clear: %d reset calls, want 1", *resets)
	}
}

func TestI8042ControllerCommands(t *testing.T) {
	d, _ := newTestI8042(nil)
	status := func() byte { return rd(d, i8042Command) }
	if s := status(); s != i8042StrKeylock|i8042StrSys {
		t.Errorf("initial status %#02x, want %#02x", s, i8042StrKeylock|i8042StrSys)
	}
	wr(d, i8042Command, 0x20)
	if s := status(); s&i8042StrOBF == 0 || s&i8042StrCmdDat == 0 {
		t.Errorf("status %#02x after 0x20: want OBF and CMD/DATA", s)
	}
	if got := rd(d, i8042Data); got != i8042InitialCtr {
		t.Errorf("CTR = %#02x, want %#02x", got, i8042InitialCtr)
	}
	if s := status(); s&i8042StrOBF != 0 {
		t.Errorf("status %#02x: OBF still set after reading the data", s)
	}
	wr(d, i8042Command, 0x60)
	wr(d, i8042Data, 0x47)
	if s := status(); s&i8042StrCmdDat != 0 {
		t.Errorf("status %#02x: CMD/DATA set after a data write", s)
	}
	wr(d, i8042Command, 0x20)
	if got := rd(d, i8042Data); got != 0x47 {
		t.Errorf("CTR = %#02x after writing 0x47", got)
	}
	for _, c := range []struct {
		cmd, want byte
	}{{0xaa, 0x55}, {0xab, 0x00}, {0xa9, 0x02}} {
		wr(d, i8042Command, c.cmd)
		if got := rd(d, i8042Data); got != c.want {
			t.Errorf("command %#02x returned %#02x, want %#02x", c.cmd, got, c.want)
		}
	}
	ctr := func() byte { wr(d, i8042Command, 0x20); return rd(d, i8042Data) }
	wr(d, i8042Command, 0xa7)
	if ctr()&i8042CtrAuxDis == 0 {
		t.Error("0xa7 did not set the AUX-disable bit")
	}
	wr(d, i8042Command, 0xa8)
	if ctr()&i8042CtrAuxDis != 0 {
		t.Error("0xa8 did not clear the AUX-disable bit")
	}
	wr(d, i8042Command, 0xad)
	if ctr()&i8042CtrKbdDis == 0 {
		t.Error("0xad did not set the keyboard-disable bit")
	}
	wr(d, i8042Command, 0xae)
	if ctr()&i8042CtrKbdDis != 0 {
		t.Error("0xae did not clear the keyboard-disable bit")
	}
	if got := rd(d, i8042PortB); got&0x20 == 0 {
		t.Errorf("port 0x61 = %#02x, want bit 5 set", got)
	}
}

// linuxCommand runs a command the way Linux's __i8042_command does: the
// number of parameter and result bytes is encoded in the command. It fails
// where Linux would time out, and reports Linux's "auxerr" for an AUX loop
// answered on the keyboard channel.
func linuxCommand(t *testing.T, d *I8042, cmd int, param []byte) ([]byte, bool) {
	t.Helper()
	wr(d, i8042Command, byte(cmd))
	for i := 0; i < (cmd>>12)&0xf; i++ {
		wr(d, i8042Data, param[i])
	}
	var res []byte
	for i := 0; i < (cmd>>8)&0xf; i++ {
		s := rd(d, i8042Command)
		if s&i8042StrOBF == 0 {
			t.Fatalf("command %#04x: no result byte %d: Linux would wait 500 ms", cmd, i)
		}
		if cmd == 0x11d3 && s&i8042StrAuxData == 0 {
			return nil, false
		}
		res = append(res, rd(d, i8042Data))
	}
	return res, true
}

// TestI8042LinuxProbe walks Linux's i8042 probe and atkbd's keyboard
// probe: every step must answer at once, AUX must come out absent, and the
// keyboard must identify itself through interrupts.
func TestI8042LinuxProbe(t *testing.T) {
	irq := newFakeIRQ()
	d, resets := newTestI8042(irq)

	// i8042_controller_check: flush must empty within 16 reads.
	for i := 0; rd(d, i8042Command)&i8042StrOBF != 0; i++ {
		if i == 16 {
			t.Fatal("output buffer never empties")
		}
		rd(d, i8042Data)
	}
	// i8042_controller_selftest.
	if r, _ := linuxCommand(t, d, 0x01aa, nil); r[0] != 0x55 {
		t.Fatalf("self-test returned %#02x", r[0])
	}
	// i8042_controller_init: two equal CTR reads, then write it back with
	// the keyboard disabled.
	c1, _ := linuxCommand(t, d, 0x0120, nil)
	c2, _ := linuxCommand(t, d, 0x0120, nil)
	if c1[0] != c2[0] {
		t.Fatalf("unstable CTR %#02x %#02x", c1[0], c2[0])
	}
	ctr := (c1[0] | i8042CtrKbdDis) &^ i8042CtrKbdInt
	linuxCommand(t, d, 0x1060, []byte{ctr})

	// i8042_check_aux: the loop fails fast, the AUX test says "no port".
	if _, ok := linuxCommand(t, d, 0x11d3, []byte{0x5a}); ok {
		t.Error("AUX loop answered on the AUX channel: Linux would probe a mouse")
	}
	r, _ := linuxCommand(t, d, 0x01a9, nil)
	if p := r[0]; p == 0 || p == 0xfa || p == 0xff {
		t.Errorf("AUX test returned %#02x: Linux would take the AUX port as present", p)
	}

	// i8042_setup_kbd / i8042_enable_kbd_port: keyboard and its IRQ on.
	ctr = (ctr &^ i8042CtrKbdDis) | i8042CtrKbdInt
	linuxCommand(t, d, 0x1060, []byte{ctr})
	if irq.Level() {
		t.Fatal("IRQ 1 high with nothing to read")
	}
	irq.Take()

	// atkbd_probe: GETID (0xf2) answered by ACK and ab 41 (translated),
	// each byte announced by its own IRQ 1 edge.
	wr(d, i8042Data, 0xf2)
	var got []byte
	for irq.Level() {
		got = append(got, rd(d, i8042Data))
	}
	if !slices.Equal(got, []byte{0xfa, 0xab, 0x41}) {
		t.Errorf("GETID answered % x, want fa ab 41", got)
	}
	if ch := irq.Take(); !slices.Equal(ch, []bool{true, false, true, false, true, false}) {
		t.Errorf("IRQ 1 changes %v, want three pulses", ch)
	}
	// Set LEDs: command and parameter are both ACKed.
	for _, b := range []byte{0xed, 0x00} {
		wr(d, i8042Data, b)
		if got := rd(d, i8042Data); got != 0xfa {
			t.Errorf("keyboard byte %#02x answered %#02x, want ACK", b, got)
		}
	}
	wr(d, i8042Data, 0xff)
	if a, b := rd(d, i8042Data), rd(d, i8042Data); a != 0xfa || b != 0xaa {
		t.Errorf("keyboard reset answered %#02x %#02x, want fa aa", a, b)
	}
	wr(d, i8042Data, 0x99)
	if got := rd(d, i8042Data); got != 0xfe {
		t.Errorf("unknown keyboard command answered %#02x, want fe", got)
	}
	// Untranslated: GETID is ab 83.
	linuxCommand(t, d, 0x1060, []byte{ctr &^ i8042CtrXlate})
	wr(d, i8042Data, 0xf2)
	if a, b, c := rd(d, i8042Data), rd(d, i8042Data), rd(d, i8042Data); a != 0xfa || b != 0xab || c != 0x83 {
		t.Errorf("untranslated GETID = %x %x %x", a, b, c)
	}
	if *resets != 0 {
		t.Errorf("the probe reset the machine %d times", *resets)
	}
	if irq.Redundant() != 0 {
		t.Errorf("%d redundant SetLevel calls", irq.Redundant())
	}
}

func TestI8042WideAndStrayAccesses(t *testing.T) {
	d, resets := newTestI8042(newFakeIRQ())
	for off := uint64(0); off < 16; off++ {
		for _, n := range []int{0, 1, 2, 4, 8} {
			b := make([]byte, n)
			d.Read(off, b)
			d.Write(off, b)
		}
	}
	d.Write(i8042Command, []byte{0xfe, 0, 0, 0}) // outl: low byte is the command
	if *resets != 1 {
		t.Errorf("32-bit 0xfe write: %d resets, want 1", *resets)
	}
	b := []byte{1, 2, 3, 4}
	d.Read(i8042PortB, b)
	if !slices.Equal(b, []byte{0x20, 0, 0, 0}) {
		t.Errorf("32-bit read of port 0x61 = %v", b)
	}
}
