// Package accel is the seam between machines and engines. KVM and the
// translator each provide a VCPU whose Run returns the same exit kinds;
// Loop dispatches those exits to the machine's buses, so devices are
// shared by both engines. A Stopper ends every vCPU of a machine with the
// first reason any of them (or a device, or the user) gives.
package accel

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/vmm/bus"
)

// ExitKind says why Run returned.
type ExitKind int

const (
	// ExitIO is port I/O: Count accesses of Size bytes at port Addr;
	// Data holds them all, element i at Data[i*Size:]. For a read the
	// loop fills Data before the next Run.
	ExitIO ExitKind = iota
	// ExitMMIO is a load or store of len(Data) bytes at physical Addr
	// that hit no RAM.
	ExitMMIO
	// ExitHalt: the vCPU halted and nothing can wake it.
	ExitHalt
	// ExitShutdown: the guest triple-faulted (x86) or hit a fatal trap.
	ExitShutdown
	// ExitSystemEvent: the engine itself saw a poweroff, reset or crash
	// request (Event says which).
	ExitSystemEvent
	// ExitInterrupted: Kick ended Run, or a signal did.
	ExitInterrupted
	// ExitInternalError: the engine could not go on (emulation failure,
	// failed VM entry); Detail says why.
	ExitInternalError
)

var exitNames = [...]string{"io", "mmio", "halt", "shutdown", "system-event", "interrupted", "internal-error"}

func (k ExitKind) String() string {
	if int(k) < len(exitNames) {
		return exitNames[k]
	}
	return fmt.Sprintf("exit(%d)", int(k))
}

// Exit is what Run reports.
type Exit struct {
	Kind   ExitKind
	Addr   uint64
	Data   []byte
	Size   int
	Count  int
	Write  bool
	Event  Reason
	Detail string
}

// VCPU is one virtual CPU of either engine.
type VCPU interface {
	// ID is the vCPU index (the APIC ID on x86, the hart ID on riscv).
	ID() int
	// Run enters the guest until the next exit. Precondition: called
	// from the goroutine that owns this vCPU, locked to its OS thread
	// where the engine needs that.
	Run() (Exit, error)
	// Kick makes the current or next Run return ExitInterrupted. Safe
	// from any goroutine.
	Kick()
	// ClearKick re-arms Run after an ExitInterrupted.
	ClearKick()
	// Dump describes the register state, for error reports.
	Dump() string
}

// Reason is why a machine stopped.
type Reason int

const (
	ReasonNone Reason = iota
	// ReasonPoweroff: the guest powered off.
	ReasonPoweroff
	// ReasonReset: the guest asked for a reset (reboot).
	ReasonReset
	// ReasonTripleFault: an x86 triple fault; QEMU and real hardware
	// reset on it.
	ReasonTripleFault
	// ReasonCrash: the guest reported a panic through a system event.
	ReasonCrash
	// ReasonHalted: every way out of a halt is closed.
	ReasonHalted
	// ReasonCanceled: the VMM was asked to stop (context canceled, Ctrl-A
	// x, a signal).
	ReasonCanceled
	// ReasonError: the engine failed; Stop.Err says how.
	ReasonError
)

var reasonNames = [...]string{"none", "poweroff", "reset", "triple fault", "guest crash", "halted", "canceled", "error"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// IsReset reports whether a reboot policy applies to r.
func (r Reason) IsReset() bool { return r == ReasonReset || r == ReasonTripleFault }

// Stop is how and why a machine stopped.
type Stop struct {
	Reason Reason
	VCPU   int    // the vCPU that saw it, or -1
	Detail string // a register dump or other context
	Err    error
	// Code is an exit status the guest asked for (isa-debug-exit, SBI
	// system reset reasons); 0 otherwise.
	Code int
}

func (s Stop) String() string {
	msg := s.Reason.String()
	if s.VCPU >= 0 && s.Reason != ReasonCanceled && s.Reason != ReasonPoweroff {
		msg += fmt.Sprintf(" on vCPU %d", s.VCPU)
	}
	if s.Err != nil {
		msg += ": " + s.Err.Error()
	}
	return msg
}

// Stopper records the first stop of a machine and kicks its vCPUs.
type Stopper struct {
	mu      sync.Mutex
	stop    *Stop
	cpus    []VCPU
	stopped atomic.Bool
	done    chan struct{}
}

// NewStopper returns a Stopper for cpus.
func NewStopper(cpus []VCPU) *Stopper {
	return &Stopper{cpus: cpus, done: make(chan struct{})}
}

// Stop records s unless a stop was already recorded, and kicks every vCPU.
func (st *Stopper) Stop(s Stop) {
	st.mu.Lock()
	first := st.stop == nil
	if first {
		st.stop = &s
		// Set before kicking: a vCPU that clears its kick re-checks
		// Stopped before re-entering.
		st.stopped.Store(true)
		close(st.done)
	}
	st.mu.Unlock()
	if first {
		for _, c := range st.cpus {
			c.Kick()
		}
	}
}

// Stopped reports whether Stop was called.
func (st *Stopper) Stopped() bool { return st.stopped.Load() }

// Done is closed by the first Stop.
func (st *Stopper) Done() <-chan struct{} { return st.done }

// Result returns the recorded stop (zero Stop if none).
func (st *Stopper) Result() Stop {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stop == nil {
		return Stop{VCPU: -1}
	}
	return *st.stop
}

// Buses are where a vCPU's I/O goes.
type Buses struct {
	PIO  *bus.Bus // nil on machines without port I/O
	MMIO *bus.Bus
}

// Stats counts a vCPU's exits.
type Stats struct {
	IO, MMIO, Interrupted atomic.Uint64
}

// Loop runs cpu until the machine stops, dispatching I/O exits to b.
// Precondition: called on the goroutine (and OS thread) that owns cpu.
func Loop(cpu VCPU, b Buses, st *Stopper, stats *Stats) {
	for !st.Stopped() {
		ex, err := cpu.Run()
		if err != nil {
			st.Stop(Stop{Reason: ReasonError, VCPU: cpu.ID(), Err: err, Detail: cpu.Dump()})
			return
		}
		switch ex.Kind {
		case ExitIO:
			stats.IO.Add(1)
			dispatchIO(b.PIO, ex)
		case ExitMMIO:
			stats.MMIO.Add(1)
			if ex.Write {
				b.MMIO.Write(ex.Addr, ex.Data)
			} else {
				b.MMIO.Read(ex.Addr, ex.Data)
			}
		case ExitInterrupted:
			stats.Interrupted.Add(1)
			cpu.ClearKick()
		case ExitShutdown:
			st.Stop(Stop{Reason: ReasonTripleFault, VCPU: cpu.ID(), Detail: cpu.Dump()})
		case ExitSystemEvent:
			st.Stop(Stop{Reason: ex.Event, VCPU: cpu.ID(), Detail: ex.Detail})
		case ExitHalt:
			st.Stop(Stop{Reason: ReasonHalted, VCPU: cpu.ID(), Detail: cpu.Dump()})
		case ExitInternalError:
			st.Stop(Stop{Reason: ReasonError, VCPU: cpu.ID(), Err: fmt.Errorf("%s", ex.Detail), Detail: cpu.Dump()})
		default:
			st.Stop(Stop{Reason: ReasonError, VCPU: cpu.ID(), Err: fmt.Errorf("unexpected exit %v", ex.Kind)})
		}
	}
}

// dispatchIO walks a (possibly string) port access element by element.
func dispatchIO(pio *bus.Bus, ex Exit) {
	if pio == nil || ex.Size <= 0 {
		return
	}
	for i := 0; i < ex.Count && (i+1)*ex.Size <= len(ex.Data); i++ {
		elem := ex.Data[i*ex.Size : (i+1)*ex.Size]
		if ex.Write {
			pio.Write(ex.Addr, elem)
		} else {
			pio.Read(ex.Addr, elem)
		}
	}
}

// Run runs every vCPU's Loop on a goroutine of its own, locked to its OS
// thread (KVM requires it; the translator's harts keep their state hot),
// until the machine stops or ctx ends, and returns why it stopped. done,
// if set, runs on vCPU i's goroutine when its loop returns.
func Run(ctx context.Context, st *Stopper, cpus []VCPU, b Buses, stats []Stats, done func(i int)) Stop {
	var wg sync.WaitGroup
	for i, c := range cpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if done != nil {
				defer done(i)
			}
			Loop(c, b, st, &stats[i])
		}()
	}
	select {
	case <-ctx.Done():
		st.Stop(Stop{Reason: ReasonCanceled, VCPU: -1, Err: context.Cause(ctx)})
	case <-st.Done():
	}
	wg.Wait()
	return st.Result()
}
