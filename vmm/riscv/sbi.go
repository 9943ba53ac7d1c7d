package riscv

import (
	"fmt"
	"runtime"
	"time"

	"github.com/govmm/govmm/tcg/env"
	rv "github.com/govmm/govmm/tcg/riscv"
	"github.com/govmm/govmm/vmm/accel"
)

// The Supervisor Binary Interface (RISC-V SBI specification 2.0), served
// by govmm when the machine has no firmware: an ECALL from S mode ends the
// translator's Run, and the hart's loop answers it here. a7 is the
// extension, a6 the function, a0-a5 the arguments; the result is a0
// (error) and a1 (value). Bad arguments get an SBI error, never a panic.

// Extension IDs.
const (
	sbiExtBase  = 0x10
	sbiExtTime  = 0x54494d45 // "TIME"
	sbiExtIPI   = 0x735049   // "sPI"
	sbiExtRfnc  = 0x52464e43 // "RFNC"
	sbiExtHSM   = 0x48534d   // "HSM"
	sbiExtSRST  = 0x53525354 // "SRST"
	sbiExtDBCN  = 0x4442434e // "DBCN"
	sbiLegacyHi = 0x08       // legacy extensions are 0x00-0x08
)

// Errors.
const (
	sbiSuccess             = 0
	sbiErrFailed           = -1
	sbiErrNotSupported     = -2
	sbiErrInvalidParam     = -3
	sbiErrInvalidAddress   = -5
	sbiErrAlreadyAvailable = -6
)

// sbiSpecVersion is 2.0 (major << 24 | minor).
const sbiSpecVersion = 2 << 24

// sbiImplID identifies govmm's implementation (not in the specification's
// list, which is for firmware projects).
const sbiImplID = 0x676f766d // "govm"

// sbiCall serves the SBI call the hart stopped at. It returns an exit and
// true when the hart's Run must return it.
func (h *hart) sbiCall() (accel.Exit, bool) {
	hr := h.cpu.Hart
	ext, fid := hr.X(17), hr.X(16)
	a := [6]uint64{hr.X(10), hr.X(11), hr.X(12), hr.X(13), hr.X(14), hr.X(15)}
	hr.PC += 4 // ECALL has no compressed form
	if ext <= sbiLegacyHi {
		v, ex, ok := h.sbiLegacy(ext, a)
		hr.SetX(10, uint64(v))
		return ex, ok
	}
	errno, val := int64(sbiErrNotSupported), uint64(0)
	var exit accel.Exit
	var leave bool
	switch ext {
	case sbiExtBase:
		errno, val = h.sbiBase(fid, a[0])
	case sbiExtTime:
		if fid == 0 {
			h.stimer.Set(a[0])
			errno = sbiSuccess
		}
	case sbiExtIPI:
		if fid == 0 {
			errno = h.forHarts(a[0], a[1], func(t *hart) {
				t.cpu.SetSoftIRQ(rv.MipSSIP, true)
			})
		}
	case sbiExtRfnc:
		switch fid {
		case 0, 1, 2: // remote FENCE.I, SFENCE.VMA, SFENCE.VMA.ASID
			errno = h.remoteFence(a[0], a[1], fid != 0)
		}
	case sbiExtHSM:
		errno, val, exit, leave = h.sbiHSM(fid, a)
	case sbiExtSRST:
		if fid == 0 {
			errno, exit, leave = h.sbiReset(a[0], a[1])
		}
	case sbiExtDBCN:
		errno, val = h.sbiDebugConsole(fid, a)
	}
	hr.SetX(10, uint64(errno))
	hr.SetX(11, val)
	return exit, leave
}

func (h *hart) sbiBase(fid, arg uint64) (int64, uint64) {
	switch fid {
	case 0:
		return sbiSuccess, sbiSpecVersion
	case 1:
		return sbiSuccess, sbiImplID
	case 2:
		return sbiSuccess, 1
	case 3: // probe_extension
		switch arg {
		case sbiExtBase, sbiExtTime, sbiExtIPI, sbiExtRfnc, sbiExtHSM, sbiExtSRST, sbiExtDBCN:
			return sbiSuccess, 1
		}
		if arg <= sbiLegacyHi {
			return sbiSuccess, 1
		}
		return sbiSuccess, 0
	case 4, 5, 6: // mvendorid, marchid, mimpid
		return sbiSuccess, 0
	}
	return sbiErrNotSupported, 0
}

// forHarts calls f on each hart of an SBI hart mask (mask bit i is hart
// base+i; base all ones means every hart).
func (h *hart) forHarts(mask, base uint64, f func(*hart)) int64 {
	harts := h.m.harts
	if base == ^uint64(0) {
		for _, t := range harts {
			f(t)
		}
		return sbiSuccess
	}
	for i := uint64(0); i < 64 && mask>>i != 0; i++ {
		if mask>>i&1 == 0 {
			continue
		}
		if base+i >= uint64(len(harts)) || base+i < base {
			return sbiErrInvalidParam
		}
	}
	for i := uint64(0); i < 64 && mask>>i != 0; i++ {
		if mask>>i&1 != 0 {
			f(harts[base+i])
		}
	}
	return sbiSuccess
}

// remoteFence makes the harts of a mask flush their TLBs (tlb) or apply
// pending code invalidations, and waits until each running one has: the
// caller goes on to free or reuse what the old mappings pointed to.
func (h *hart) remoteFence(mask, base uint64, tlb bool) int64 {
	type wait struct {
		t      *hart
		ticket uint64
	}
	var waits []wait
	errno := h.forHarts(mask, base, func(t *hart) {
		tk := t.cpu.RemoteFence(tlb)
		if t != h && t.started() {
			waits = append(waits, wait{t, tk})
		}
	})
	for _, w := range waits {
		for spins := 0; !w.t.cpu.Fenced(w.ticket) && w.t.started() && !h.m.st.Stopped(); spins++ {
			// Serve fences others ask of this hart meanwhile, or two
			// harts fencing each other would wait forever.
			h.cpu.Poll()
			if spins < 100 {
				runtime.Gosched()
			} else {
				time.Sleep(10 * time.Microsecond)
			}
		}
	}
	return errno
}

func (h *hart) sbiHSM(fid uint64, a [6]uint64) (int64, uint64, accel.Exit, bool) {
	harts := h.m.harts
	switch fid {
	case 0: // hart_start(hartid, start_addr, opaque)
		if a[0] >= uint64(len(harts)) {
			return sbiErrInvalidParam, 0, accel.Exit{}, false
		}
		if !h.m.tmem.Contains(a[1], 4) {
			return sbiErrInvalidAddress, 0, accel.Exit{}, false
		}
		return harts[a[0]].start(a[1], a[2]), 0, accel.Exit{}, false
	case 1: // hart_stop
		h.stop()
		return sbiSuccess, 0, accel.Exit{Kind: accel.ExitInterrupted}, true
	case 2: // hart_get_status(hartid)
		if a[0] >= uint64(len(harts)) {
			return sbiErrInvalidParam, 0, accel.Exit{}, false
		}
		return sbiSuccess, uint64(harts[a[0]].status()), accel.Exit{}, false
	}
	return sbiErrNotSupported, 0, accel.Exit{}, false
}

// sbiReset is SRST system_reset(type, reason).
func (h *hart) sbiReset(typ, reason uint64) (int64, accel.Exit, bool) {
	if reason > 1 && reason < 0xe0000000 {
		return sbiErrInvalidParam, accel.Exit{}, false
	}
	ev := accel.ReasonPoweroff
	switch typ {
	case 0:
		if reason == 1 {
			ev = accel.ReasonCrash // shutdown because of a system failure
		}
	case 1, 2:
		ev = accel.ReasonReset
	default:
		return sbiErrInvalidParam, accel.Exit{}, false
	}
	return sbiSuccess, accel.Exit{Kind: accel.ExitSystemEvent, Event: ev,
		Detail: fmt.Sprintf("SBI system reset type %d reason %d\n", typ, reason)}, true
}

// sbiDebugConsole is DBCN: console_write(n, addr_lo, addr_hi),
// console_read (no input: 0 bytes), console_write_byte(b).
func (h *hart) sbiDebugConsole(fid uint64, a [6]uint64) (int64, uint64) {
	out := h.m.out
	switch fid {
	case 0:
		if a[2] != 0 {
			return sbiErrInvalidParam, 0
		}
		n := min(a[0], 4096) // a short write is allowed
		b, ok := h.m.tmem.RAM(a[1], n)
		if !ok {
			return sbiErrInvalidParam, 0
		}
		if out != nil {
			out.Write(append([]byte(nil), b...))
		}
		return sbiSuccess, n
	case 1:
		return sbiSuccess, 0
	case 2:
		if out != nil {
			out.Write([]byte{byte(a[0])})
		}
		return sbiSuccess, 0
	}
	return sbiErrNotSupported, 0
}

// sbiLegacy serves the SBI 0.1 calls; they return one value in a0.
func (h *hart) sbiLegacy(ext uint64, a [6]uint64) (int64, accel.Exit, bool) {
	switch ext {
	case 0: // set_timer
		h.stimer.Set(a[0])
		return 0, accel.Exit{}, false
	case 1: // console_putchar
		if h.m.out != nil {
			h.m.out.Write([]byte{byte(a[0])})
		}
		return 0, accel.Exit{}, false
	case 2: // console_getchar: no input on this console
		return -1, accel.Exit{}, false
	case 3: // clear_ipi
		h.cpu.SetSoftIRQ(rv.MipSSIP, false)
		return 0, accel.Exit{}, false
	case 4, 5, 6, 7: // send_ipi, remote fences: a0 points to a hart mask
		mask, ok := h.legacyMask(a[0])
		if !ok {
			return sbiErrInvalidAddress, accel.Exit{}, false
		}
		if ext == 4 {
			return h.forHarts(mask, 0, func(t *hart) { t.cpu.SetSoftIRQ(rv.MipSSIP, true) }), accel.Exit{}, false
		}
		return h.remoteFence(mask, 0, ext != 5), accel.Exit{}, false
	case 8: // shutdown
		_, ex, ok := h.sbiReset(0, 0)
		return 0, ex, ok
	}
	return sbiErrNotSupported, accel.Exit{}, false
}

// legacyMask reads a legacy call's hart mask through the caller's address
// translation (0: every hart).
func (h *hart) legacyMask(va uint64) (uint64, bool) {
	if va == 0 {
		return 1<<len(h.m.harts) - 1, true
	}
	hr := h.cpu.Hart
	v, ok := hr.Load64(va, hr.MMUIdx())
	if !ok {
		hr.Exc = env.Exception{} // the fault is the SBI call's error, not the guest's
		return 0, false
	}
	return v, true
}
