package riscv

import (
	"context"
	"fmt"
	"sync"

	"github.com/govmm/govmm/tcg"
	rv "github.com/govmm/govmm/tcg/riscv"
	"github.com/govmm/govmm/vmm/accel"
)

// HSM states (SBI 1.0, chapter 9).
const (
	hsmStarted      = 0
	hsmStopped      = 1
	hsmStartPending = 2
)

// hart is one translator CPU as an accel.VCPU: Run executes guest code and
// serves SBI calls itself, returning only for what the machine loop
// handles (a stop, a system event, an engine error).
type hart struct {
	m      *Machine
	id     int
	cpu    *tcg.CPU
	stimer *Comparator // the supervisor timer: stimecmp and SBI set_timer

	mu    sync.Mutex
	state int // hsm*
	// startc wakes a stopped hart for hart_start; kick for Kick.
	startc chan struct{}
	kick   chan struct{}
	// The pending hart_start's arguments.
	startPC, startArg uint64
}

// ID implements accel.VCPU.
func (h *hart) ID() int { return h.id }

// Dump implements accel.VCPU.
func (h *hart) Dump() string { return h.cpu.Hart.Dump() }

// Kick implements accel.VCPU: the hart leaves Run at its next block
// boundary, or at once if it is stopped or waiting.
func (h *hart) Kick() {
	h.cpu.Stop()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// ClearKick implements accel.VCPU. The translator consumed the stop
// request when it returned.
func (h *hart) ClearKick() {}

// started reports whether the hart runs guest code.
func (h *hart) started() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state == hsmStarted
}

// Run implements accel.VCPU.
func (h *hart) Run() (accel.Exit, error) {
	if !h.waitStarted() {
		return accel.Exit{Kind: accel.ExitInterrupted}, nil
	}
	for {
		ev, err := h.cpu.Run(context.Background())
		if err != nil {
			return accel.Exit{}, err
		}
		switch {
		case ev.Kind == tcg.EventStopped:
			return accel.Exit{Kind: accel.ExitInterrupted}, nil
		case ev.Kind == tcg.EventException && ev.Cause == rv.CauseEcallS && !h.cpu.Hart.Sys.MachineMode():
			if ex, ok := h.sbiCall(); ok {
				return ex, nil
			}
		default:
			// Without firmware only ECALLs from S mode reach M mode;
			// anything else means the guest is beyond rescue.
			return accel.Exit{Kind: accel.ExitSystemEvent, Event: accel.ReasonCrash,
				Detail: fmt.Sprintf("hart %d: %v with no handler in M mode\n%s", h.id, ev, h.cpu.Hart.Dump())}, nil
		}
	}
}

// waitStarted blocks a stopped hart until hart_start (true) or a kick
// (false); a started hart returns true at once.
func (h *hart) waitStarted() bool {
	for {
		h.mu.Lock()
		switch h.state {
		case hsmStarted:
			h.mu.Unlock()
			return true
		case hsmStartPending:
			// Enter at the requested address in S mode (SBI HSM:
			// a0 = hart ID, a1 = opaque, satp = 0, SIE = 0).
			hr := h.cpu.Hart
			hr.PC = h.startPC
			hr.SetX(10, uint64(h.id))
			hr.SetX(11, h.startArg)
			hr.ResetSupervisor()
			h.state = hsmStarted
			h.mu.Unlock()
			return true
		}
		h.mu.Unlock()
		select {
		case <-h.startc:
		case <-h.kick:
			return false
		}
	}
}

// start is SBI hart_start on h from another hart.
func (h *hart) start(pc, arg uint64) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case hsmStarted:
		return sbiErrAlreadyAvailable
	case hsmStartPending:
		return sbiErrAlreadyAvailable
	}
	h.state = hsmStartPending
	h.startPC, h.startArg = pc, arg
	select {
	case h.startc <- struct{}{}:
	default:
	}
	return sbiSuccess
}

// stop is SBI hart_stop on the calling hart.
func (h *hart) stop() {
	h.mu.Lock()
	h.state = hsmStopped
	h.mu.Unlock()
}

func (h *hart) status() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}
