package amd64

import (
	"testing"
	"unsafe"

	"github.com/govmm/govmm/tcg/env"
)

// TestLayout checks the sizes and offsets generated code assumes: a TLB
// entry is 32 bytes (indexed by a shift), its Addend at +24; TLBInfo is
// half a TLB entry (the store medium path halves the entry offset); a jump
// cache entry is 16 bytes with the code address at +8; displacements fit
// in 32 bits.
func TestLayout(t *testing.T) {
	var e env.TLBEntry
	if s := unsafe.Sizeof(e); s != 32 {
		t.Errorf("TLBEntry is %d bytes, generated code assumes 32", s)
	}
	if o := unsafe.Offsetof(e.Read); o != 0 {
		t.Errorf("TLBEntry.Read at %d", o)
	}
	if o := unsafe.Offsetof(e.Write); o != 8 {
		t.Errorf("TLBEntry.Write at %d", o)
	}
	if o := unsafe.Offsetof(e.Addend); o != 24 {
		t.Errorf("TLBEntry.Addend at %d", o)
	}
	if s := unsafe.Sizeof(env.TLBInfo{}); s != 16 {
		t.Errorf("TLBInfo is %d bytes, generated code assumes 16", s)
	}
	var j env.JCEntry
	if unsafe.Sizeof(j) != 16 || unsafe.Offsetof(j.Code) != 8 {
		t.Errorf("JCEntry: size %d, Code at %d; generated code assumes 16 and 8", unsafe.Sizeof(j), unsafe.Offsetof(j.Code))
	}
	if s := unsafe.Sizeof(env.State{}); s >= 1<<31 {
		t.Errorf("env.State is %d bytes: 32-bit displacements do not reach", s)
	}
	if s := unsafe.Sizeof(env.State{}.R[0]); s != 8 {
		t.Errorf("register slots are %d bytes", s)
	}
	if unsafe.Sizeof(env.State{}.FFlags) != 1 || unsafe.Sizeof(env.State{}.FRM) != 1 {
		t.Error("FFlags and FRM must be bytes (tested with byte compares)")
	}
	if unsafe.Sizeof(env.State{}.ExitReq) != 4 {
		t.Error("ExitReq must be 32 bits (tested with a dword compare)")
	}
}
