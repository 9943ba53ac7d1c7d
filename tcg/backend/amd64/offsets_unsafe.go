package amd64

import (
	"unsafe"

	"github.com/govmm/govmm/tcg/env"
)

// Offsets into env.State that generated code uses (checked by
// TestOffsets).
const (
	offR            = int(unsafe.Offsetof(env.State{}.R))
	offPC           = int32(unsafe.Offsetof(env.State{}.PC))
	offInstret      = int32(unsafe.Offsetof(env.State{}.Instret))
	offInstretLimit = int32(unsafe.Offsetof(env.State{}.InstretLimit))
	offExitReq      = int32(unsafe.Offsetof(env.State{}.ExitReq))
	offFFlags       = int32(unsafe.Offsetof(env.State{}.FFlags))
	offFRM          = int32(unsafe.Offsetof(env.State{}.FRM))
	offTLB          = int(unsafe.Offsetof(env.State{}.TLB))
	tlbTableSize    = int(unsafe.Sizeof(env.TLBTable{}))
	offTLBInfo      = int(unsafe.Offsetof(env.State{}.TLBInfo))
	tlbInfoTable    = int(unsafe.Sizeof([env.TLBSize]env.TLBInfo{}))
	tlbInfoCode     = int(unsafe.Offsetof(env.TLBInfo{}.Code))
	codePageMask    = int32(unsafe.Offsetof(env.CodePage{}.Mask))
	offN            = int(unsafe.Offsetof(env.State{}.N))
	offExitInfo     = int32(offN + int(unsafe.Offsetof(env.Native{}.ExitInfo)))
	offAddr         = int32(offN + int(unsafe.Offsetof(env.Native{}.Addr)))
	offVal          = int32(offN + int(unsafe.Offsetof(env.Native{}.Val)))
	offArgs         = int(offN + int(unsafe.Offsetof(env.Native{}.Args)))
	offResume       = int32(offN + int(unsafe.Offsetof(env.Native{}.Resume)))
	offPatch        = int32(offN + int(unsafe.Offsetof(env.Native{}.Patch)))
	offJC           = int(offN + int(unsafe.Offsetof(env.Native{}.JC)))
	offFlatHost     = int32(offN + int(unsafe.Offsetof(env.Native{}.FlatHost)))
	offFlatLimit    = int32(offN + int(unsafe.Offsetof(env.Native{}.FlatLimit)))
)

// bufAddr is the host address of a code buffer's first byte.
func bufAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
