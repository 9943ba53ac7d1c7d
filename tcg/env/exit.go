package env

import "github.com/govmm/govmm/tcg/ir"

// Exit codes a compiled block returns to the run loop. In every case
// State.PC holds the guest PC to continue at and State.Instret includes the
// instructions the block retired.
const (
	// ExitIndirect: a Jump to a computed address.
	ExitIndirect uint32 = 2
	// ExitException: an exception is pending in State.Exc; PC is the
	// faulting instruction's.
	ExitException uint32 = 3
	// ExitRequest: an exit request (State.ExitReq) ended the chain at the
	// start of the block at PC (native code only).
	ExitRequest uint32 = 4
	// ExitReasonBase + r: an ir.Exit with reason r.
	ExitReasonBase uint32 = 16
	// ExitDirect + k: the block left through its k-th direct exit (the
	// ExitIf side exits in order, then the terminator's Goto target, or
	// its Branch targets taken and not taken): the run loop may chain
	// the successor.
	ExitDirect uint32 = 64
)

// ExitCode returns the code of an ir.Exit with reason r.
func ExitCode(r ir.ExitReason) uint32 {
	if r == ir.ExitException {
		return ExitException
	}
	return ExitReasonBase + uint32(r)
}
