//go:build linux && amd64

package x86

import (
	"errors"
	"fmt"
	"strings"

	"github.com/govmm/govmm/kvm"
	"github.com/govmm/govmm/vmm/accel"
	"github.com/govmm/govmm/vmm/x86/boot"
)

// vcpu adapts a kvm.VCPU to accel.VCPU.
type vcpu struct {
	c *kvm.VCPU
}

var _ accel.VCPU = (*vcpu)(nil)

func (v *vcpu) ID() int    { return v.c.ID() }
func (v *vcpu) Kick()      { v.c.Kick() }
func (v *vcpu) ClearKick() { v.c.ClearImmediateExit() }

func (v *vcpu) Run() (accel.Exit, error) {
	err := v.c.Run()
	if errors.Is(err, kvm.ErrInterrupted) {
		return accel.Exit{Kind: accel.ExitInterrupted}, nil
	}
	if err != nil {
		return accel.Exit{}, err
	}
	switch r := v.c.ExitReason(); r {
	case kvm.KVM_EXIT_IO:
		io, err := v.c.IO()
		if err != nil {
			return accel.Exit{}, err
		}
		return accel.Exit{Kind: accel.ExitIO, Addr: uint64(io.Port), Size: io.Size, Count: io.Count, Write: io.Out, Data: io.Data}, nil
	case kvm.KVM_EXIT_MMIO:
		m, err := v.c.MMIO()
		if err != nil {
			return accel.Exit{}, err
		}
		return accel.Exit{Kind: accel.ExitMMIO, Addr: m.Addr, Size: len(m.Data), Count: 1, Write: m.Write, Data: m.Data}, nil
	case kvm.KVM_EXIT_HLT:
		return accel.Exit{Kind: accel.ExitHalt}, nil
	case kvm.KVM_EXIT_SHUTDOWN:
		return accel.Exit{Kind: accel.ExitShutdown}, nil
	case kvm.KVM_EXIT_INTR:
		return accel.Exit{Kind: accel.ExitInterrupted}, nil
	case kvm.KVM_EXIT_SYSTEM_EVENT:
		typ, data := v.c.SystemEvent()
		ev := accel.ReasonCrash
		switch typ {
		case kvm.KVM_SYSTEM_EVENT_SHUTDOWN:
			ev = accel.ReasonPoweroff
		case kvm.KVM_SYSTEM_EVENT_RESET:
			ev = accel.ReasonReset
		}
		return accel.Exit{Kind: accel.ExitSystemEvent, Event: ev, Detail: fmt.Sprintf("KVM system event %d %x", typ, data)}, nil
	case kvm.KVM_EXIT_INTERNAL_ERROR:
		sub, data := v.c.InternalError()
		what := map[uint32]string{
			kvm.KVM_INTERNAL_ERROR_EMULATION:   "emulation failure",
			kvm.KVM_INTERNAL_ERROR_SIMUL_EX:    "simultaneous exceptions",
			kvm.KVM_INTERNAL_ERROR_DELIVERY_EV: "event delivery failed",
		}[sub]
		if what == "" {
			what = fmt.Sprintf("suberror %d", sub)
		}
		return accel.Exit{Kind: accel.ExitInternalError, Detail: fmt.Sprintf("KVM internal error: %s %x", what, data)}, nil
	case kvm.KVM_EXIT_FAIL_ENTRY:
		reason, cpu := v.c.FailEntry()
		return accel.Exit{Kind: accel.ExitInternalError, Detail: fmt.Sprintf("VM entry failed: hardware reason %#x on host CPU %d", reason, cpu)}, nil
	case kvm.KVM_EXIT_UNKNOWN:
		return accel.Exit{Kind: accel.ExitInternalError, Detail: fmt.Sprintf("unknown exit: hardware reason %#x", v.c.HardwareExitReason())}, nil
	default:
		return accel.Exit{Kind: accel.ExitInternalError, Detail: fmt.Sprintf("unhandled KVM exit reason %d", r)}, nil
	}
}

// Dump formats the registers for an error report.
func (v *vcpu) Dump() string {
	r, err := v.c.GetRegs()
	if err != nil {
		return "registers unavailable: " + err.Error()
	}
	s, err := v.c.GetSregs()
	if err != nil {
		return "registers unavailable: " + err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "vCPU %d:\n", v.c.ID())
	fmt.Fprintf(&b, " RAX=%016x RBX=%016x RCX=%016x RDX=%016x\n", r.RAX, r.RBX, r.RCX, r.RDX)
	fmt.Fprintf(&b, " RSI=%016x RDI=%016x RBP=%016x RSP=%016x\n", r.RSI, r.RDI, r.RBP, r.RSP)
	fmt.Fprintf(&b, " R8 =%016x R9 =%016x R10=%016x R11=%016x\n", r.R8, r.R9, r.R10, r.R11)
	fmt.Fprintf(&b, " R12=%016x R13=%016x R14=%016x R15=%016x\n", r.R12, r.R13, r.R14, r.R15)
	fmt.Fprintf(&b, " RIP=%016x RFL=%08x\n", r.RIP, r.RFLAGS)
	seg := func(n string, s kvm.Segment) {
		fmt.Fprintf(&b, " %-3s=%04x %016x %08x type=%x dpl=%d l=%d db=%d\n", n, s.Selector, s.Base, s.Limit, s.Type, s.DPL, s.L, s.DB)
	}
	seg("CS", s.CS)
	seg("SS", s.SS)
	seg("DS", s.DS)
	seg("TR", s.TR)
	fmt.Fprintf(&b, " GDT=%016x %04x IDT=%016x %04x\n", s.GDT.Base, s.GDT.Limit, s.IDT.Base, s.IDT.Limit)
	fmt.Fprintf(&b, " CR0=%08x CR2=%016x CR3=%016x CR4=%08x EFER=%x\n", s.CR0, s.CR2, s.CR3, s.CR4, s.EFER)
	return b.String()
}

func kvmSegment(s boot.Segment) kvm.Segment {
	b := func(v bool) uint8 {
		if v {
			return 1
		}
		return 0
	}
	return kvm.Segment{
		Base: s.Base, Limit: s.Limit, Selector: s.Selector, Type: s.Type,
		Present: b(s.Present), DPL: s.DPL, DB: b(s.DB), S: b(s.S), L: b(s.L), G: b(s.G),
	}
}

// MSRs (Intel SDM vol. 4).
const (
	msrIA32SysenterCS  = 0x174
	msrIA32SysenterESP = 0x175
	msrIA32SysenterEIP = 0x176
	msrIA32MiscEnable  = 0x1a0
	msrMTRRDefType     = 0x2ff
	msrSTAR            = 0xc0000081
	msrLSTAR           = 0xc0000082
	msrCSTAR           = 0xc0000083
	msrSyscallMask     = 0xc0000084
	msrKernelGSBase    = 0xc0000102

	miscEnableFastString = 1 << 0
	mtrrEnable           = 1 << 11
	mtrrTypeWB           = 6
)

// setupVCPU gives every vCPU its CPUID, MSRs, FPU and LAPIC wiring.
func setupVCPU(c *kvm.VCPU, cpuid []kvm.CPUIDEntry) error {
	if err := c.SetCPUID(cpuid); err != nil {
		return err
	}
	// Boot values as a PC firmware leaves them; MTRRs enabled with
	// write-back default so the guest does not run uncached.
	msrs := []kvm.MSREntry{
		{Index: msrIA32SysenterCS}, {Index: msrIA32SysenterESP}, {Index: msrIA32SysenterEIP},
		{Index: msrSTAR}, {Index: msrLSTAR}, {Index: msrCSTAR}, {Index: msrSyscallMask}, {Index: msrKernelGSBase},
		{Index: msrIA32MiscEnable, Data: miscEnableFastString},
		{Index: msrMTRRDefType, Data: mtrrEnable | mtrrTypeWB},
	}
	if err := c.SetMSRs(msrs); err != nil {
		return err
	}
	fpu := kvm.FPU{FCW: 0x37f, MXCSR: 0x1f80}
	if err := c.SetFPU(&fpu); err != nil {
		return err
	}
	// LINT0 in ExtINT mode and LINT1 as NMI: the PC wiring the MP table
	// describes.
	lapic, err := c.GetLAPIC()
	if err != nil {
		return err
	}
	const lvtLINT0, lvtLINT1 = 0x350, 0x360
	const dmExtINT, dmNMI = 0x700, 0x400
	put := func(off int, v uint32) {
		old := uint32(lapic.Regs[off]) | uint32(lapic.Regs[off+1])<<8 | uint32(lapic.Regs[off+2])<<16 | uint32(lapic.Regs[off+3])<<24
		v = old&^0x700 | v
		lapic.Regs[off], lapic.Regs[off+1], lapic.Regs[off+2], lapic.Regs[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	put(lvtLINT0, dmExtINT)
	put(lvtLINT1, dmNMI)
	return c.SetLAPIC(&lapic)
}

// setBootState puts the boot vCPU at the kernel's entry.
func setBootState(c *kvm.VCPU, st boot.CPUState) error {
	s, err := c.GetSregs()
	if err != nil {
		return err
	}
	s.CS = kvmSegment(st.CS)
	ds := kvmSegment(st.DS)
	s.DS, s.ES, s.FS, s.GS, s.SS = ds, ds, ds, ds, ds
	s.TR = kvmSegment(st.TR)
	s.GDT = kvm.DTable{Base: st.GDTBase, Limit: st.GDTLimit}
	s.IDT = kvm.DTable{}
	s.CR0, s.CR3, s.CR4, s.EFER = st.CR0, st.CR3, st.CR4, st.EFER
	if err := c.SetSregs(&s); err != nil {
		return err
	}
	r := kvm.Regs{RIP: st.RIP, RSP: st.RSP, RSI: st.RSI, RBX: st.RBX, RFLAGS: st.RFLAGS, RBP: st.RSP}
	return c.SetRegs(&r)
}
