package legacy

import (
	"slices"
	"testing"
)

func TestPort80(t *testing.T) {
	var seen []byte
	p := NewPort80(func(v byte) { seen = append(seen, v) })
	wr(p, 0, 0x41)
	wr(p, 0, 0x42)
	p.Write(0, []byte{0x43, 0xff}) // outw: low byte
	if !slices.Equal(seen, []byte{0x41, 0x42, 0x43}) {
		t.Errorf("callback saw % x", seen)
	}
	if p.Last() != 0x43 || p.Writes() != 3 {
		t.Errorf("Last %#02x Writes %d", p.Last(), p.Writes())
	}
	if got := rd(p, 0); got != 0x43 {
		t.Errorf("port reads %#02x", got)
	}
	p.Write(1, []byte{9})
	p.Write(0, nil)
	p.Read(0, nil)
	if p.Writes() != 3 {
		t.Error("stray writes counted")
	}
	NewPort80(nil).Write(0, []byte{1}) // no callback: no panic
}
