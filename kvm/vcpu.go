//go:build linux && amd64

package kvm

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// KickSignal is the signal Kick sends to a vCPU thread to end KVM_RUN.
// Go's runtime installs a handler for it without side effects unless the
// program subscribes with os/signal (gVisor's platform uses it likewise).
const KickSignal = unix.SIGCHLD

// VCPU is one virtual CPU: its fd and its kvm_run area.
//
// Run must always be called from the same OS thread (the caller locks its
// goroutine with runtime.LockOSThread), so that Kick can signal it. Every
// other method may be called from any goroutine while Run is not in
// progress, except Kick, which is made to be called concurrently with Run.
type VCPU struct {
	id   int
	fd   int
	run  []byte // the mmap'd struct kvm_run
	tid  atomic.Int32
	once sync.Once
}

func newVCPU(id, fd int, run []byte) *VCPU {
	return &VCPU{id: id, fd: fd, run: run}
}

// ID is the vCPU id given to KVM_CREATE_VCPU (the APIC ID on x86).
func (c *VCPU) ID() int { return c.id }

// Close unmaps kvm_run and closes the fd.
func (c *VCPU) Close() error {
	var err error
	c.once.Do(func() {
		err = errors.Join(unix.Munmap(c.run), unix.Close(c.fd))
		c.run = nil
	})
	return err
}

// Run enters the guest until the next exit to userspace (KVM_RUN). It
// returns ErrInterrupted if a signal (a Kick, or any other) ended it; the
// exit reason is then KVM_EXIT_INTR. Any other error is wrapped.
//
// Precondition: called from the thread this vCPU is bound to.
func (c *VCPU) Run() error {
	if c.tid.Load() == 0 {
		c.tid.Store(int32(unix.Gettid()))
	}
	_, err := ioctl(c.fd, KVM_RUN, 0)
	if err == nil {
		return nil
	}
	// EAGAIN: an application processor waiting for INIT/SIPI was woken
	// and must simply re-enter (QEMU's kvm_cpu_exec treats it as EINTR).
	if err == unix.EINTR || err == unix.EAGAIN {
		return ErrInterrupted
	}
	return ioErr(fmt.Sprintf("KVM_RUN vcpu %d", c.id), err)
}

// Kick makes the vCPU's current or next KVM_RUN return ErrInterrupted:
// it sets kvm_run.immediate_exit (which covers a thread that is about to
// enter) and signals the bound thread (which covers one inside the guest).
// The flag stays set until ClearImmediateExit.
func (c *VCPU) Kick() {
	c.setImmediateExit(1)
	if tid := c.tid.Load(); tid != 0 {
		// ESRCH means the thread is gone: nothing left to interrupt.
		_ = unix.Tgkill(unix.Getpid(), int(tid), KickSignal)
	}
}

// ClearImmediateExit resets the flag Kick set, before re-entering the guest.
func (c *VCPU) ClearImmediateExit() { c.setImmediateExit(0) }

// Unbind forgets the bound thread; the next Run binds the calling thread.
// Call it when the vCPU goroutine unlocks its OS thread.
func (c *VCPU) Unbind() { c.tid.Store(0) }

// GetRegs returns the general-purpose registers.
func (c *VCPU) GetRegs() (Regs, error) {
	var r Regs
	_, err := ioctlPtr(c.fd, KVM_GET_REGS, &r)
	return r, c.err("KVM_GET_REGS", err)
}

// SetRegs sets the general-purpose registers.
func (c *VCPU) SetRegs(r *Regs) error {
	_, err := ioctlPtr(c.fd, KVM_SET_REGS, r)
	return c.err("KVM_SET_REGS", err)
}

// GetSregs returns the segment and control registers.
func (c *VCPU) GetSregs() (Sregs, error) {
	var s Sregs
	_, err := ioctlPtr(c.fd, KVM_GET_SREGS, &s)
	return s, c.err("KVM_GET_SREGS", err)
}

// SetSregs sets the segment and control registers.
func (c *VCPU) SetSregs(s *Sregs) error {
	_, err := ioctlPtr(c.fd, KVM_SET_SREGS, s)
	return c.err("KVM_SET_SREGS", err)
}

// GetFPU returns the x87/SSE state.
func (c *VCPU) GetFPU() (FPU, error) {
	var f FPU
	_, err := ioctlPtr(c.fd, KVM_GET_FPU, &f)
	return f, c.err("KVM_GET_FPU", err)
}

// SetFPU sets the x87/SSE state.
func (c *VCPU) SetFPU(f *FPU) error {
	_, err := ioctlPtr(c.fd, KVM_SET_FPU, f)
	return c.err("KVM_SET_FPU", err)
}

// GetLAPIC returns the in-kernel local APIC's register page.
func (c *VCPU) GetLAPIC() (LAPICState, error) {
	var l LAPICState
	_, err := ioctlPtr(c.fd, KVM_GET_LAPIC, &l)
	return l, c.err("KVM_GET_LAPIC", err)
}

// SetLAPIC sets the in-kernel local APIC's register page.
func (c *VCPU) SetLAPIC(l *LAPICState) error {
	_, err := ioctlPtr(c.fd, KVM_SET_LAPIC, l)
	return c.err("KVM_SET_LAPIC", err)
}

// GetVCPUEvents returns pending exceptions, interrupts, NMIs and SMIs.
func (c *VCPU) GetVCPUEvents() (VCPUEvents, error) {
	var e VCPUEvents
	_, err := ioctlPtr(c.fd, KVM_GET_VCPU_EVENTS, &e)
	return e, c.err("KVM_GET_VCPU_EVENTS", err)
}

// SetVCPUEvents sets pending exceptions, interrupts, NMIs and SMIs.
func (c *VCPU) SetVCPUEvents(e *VCPUEvents) error {
	_, err := ioctlPtr(c.fd, KVM_SET_VCPU_EVENTS, e)
	return c.err("KVM_SET_VCPU_EVENTS", err)
}

// GetMPState returns the multiprocessing state (KVM_MP_STATE_*).
func (c *VCPU) GetMPState() (uint32, error) {
	var s uint32
	_, err := ioctlPtr(c.fd, KVM_GET_MP_STATE, &s)
	return s, c.err("KVM_GET_MP_STATE", err)
}

// SetMPState sets the multiprocessing state.
func (c *VCPU) SetMPState(s uint32) error {
	_, err := ioctlPtr(c.fd, KVM_SET_MP_STATE, &s)
	return c.err("KVM_SET_MP_STATE", err)
}

// SetCPUID sets what CPUID reports to the guest (KVM_SET_CPUID2).
func (c *VCPU) SetCPUID(entries []CPUIDEntry) error {
	if len(entries) > KVM_MAX_CPUID_ENTRIES {
		return fmt.Errorf("vcpu %d: KVM_SET_CPUID2: %d entries, at most %d", c.id, len(entries), KVM_MAX_CPUID_ENTRIES)
	}
	e := append([]CPUIDEntry(nil), entries...)
	_, _, err := ioctlVar(c.fd, KVM_SET_CPUID2, cpuid2Header{NEnt: uint32(len(e))}, e)
	return c.err("KVM_SET_CPUID2", err)
}

// GetCPUID returns what was set with SetCPUID.
func (c *VCPU) GetCPUID() ([]CPUIDEntry, error) {
	e := make([]CPUIDEntry, KVM_MAX_CPUID_ENTRIES)
	hdr, _, err := ioctlVar(c.fd, KVM_GET_CPUID2, cpuid2Header{NEnt: uint32(len(e))}, e)
	if err != nil {
		return nil, c.err("KVM_GET_CPUID2", err)
	}
	n := int(min(hdr.NEnt, uint32(len(e))))
	// Kernels before 6.2 report nent only on failure, leaving ours on
	// success; trailing entries the kernel did not fill stay all zero,
	// which no real leaf is (leaf 0 has the maximum leaf in EAX).
	for n > 0 && e[n-1] == (CPUIDEntry{}) {
		n--
	}
	return e[:n], nil
}

// SetMSRs writes model-specific registers. KVM stops at the first MSR it
// refuses; that is reported as an error naming the MSR.
func (c *VCPU) SetMSRs(msrs []MSREntry) error {
	e := append([]MSREntry(nil), msrs...)
	_, n, err := ioctlVar(c.fd, KVM_SET_MSRS, msrsHeader{NMSRs: uint32(len(e))}, e)
	if err != nil {
		return c.err("KVM_SET_MSRS", err)
	}
	if int(n) != len(e) {
		return fmt.Errorf("vcpu %d: KVM_SET_MSRS: MSR %#x refused", c.id, e[n].Index)
	}
	return nil
}

// GetMSRs reads the MSRs whose indices are given in msrs[i].Index, filling
// in Data.
func (c *VCPU) GetMSRs(msrs []MSREntry) error {
	_, n, err := ioctlVar(c.fd, KVM_GET_MSRS, msrsHeader{NMSRs: uint32(len(msrs))}, msrs)
	if err != nil {
		return c.err("KVM_GET_MSRS", err)
	}
	if int(n) != len(msrs) {
		return fmt.Errorf("vcpu %d: KVM_GET_MSRS: MSR %#x refused", c.id, msrs[n].Index)
	}
	return nil
}

// SetTSCKHz sets the guest TSC frequency.
func (c *VCPU) SetTSCKHz(khz uint32) error {
	_, err := ioctl(c.fd, KVM_SET_TSC_KHZ, uintptr(khz))
	return c.err("KVM_SET_TSC_KHZ", err)
}

// TSCKHz returns the guest TSC frequency.
func (c *VCPU) TSCKHz() (uint32, error) {
	v, err := ioctl(c.fd, KVM_GET_TSC_KHZ, 0)
	return uint32(v), c.err("KVM_GET_TSC_KHZ", err)
}

func (c *VCPU) err(op string, err error) error {
	if err == nil {
		return nil
	}
	return ioErr(fmt.Sprintf("%s vcpu %d", op, c.id), err)
}
