// Package env is the environment translated code runs against: the guest
// register file, the software TLB (softmmu) with its fast-path layout and
// slow paths, the memory system (RAM regions and an MMIO bus), tracking of
// translated code for self-modifying-code invalidation, and the exit
// protocol between a block and the run loop.
//
// It is guest-neutral: a frontend gives meaning to the register slots and
// to exception causes, and plugs address translation in through the MMU
// interface. Backends (closure, amd64) depend only on this package and on
// tcg/ir; the fields they reach from generated code have offsets checked by
// tests.
package env

import (
	"sync/atomic"

	"github.com/govmm/govmm/tcg/ir"
)

// Exit requests: bits of State.ExitReq. Any nonzero value makes the CPU
// leave translated code at the next block boundary.
const (
	// ReqStop: another goroutine asked the CPU to stop (Run returns).
	ReqStop uint32 = 1 << iota
	// ReqInterrupt: an interrupt line changed; the frontend re-evaluates
	// pending interrupts.
	ReqInterrupt
	// ReqCode: translated code was written (by this or another CPU);
	// invalidations are queued for this CPU.
	ReqCode
	// ReqTLB: another CPU asked this one to flush its TLB (remote
	// SFENCE.VMA).
	ReqTLB
)

// Exception is a pending guest exception, raised by a slow path, the MMU or
// a helper. Cause and Tval are guest-defined (riscv mcause/mtval values).
type Exception struct {
	Pending bool
	Cause   uint64
	Tval    uint64
}

// State is one guest CPU as translated code sees it. Generated code reaches
// R, PC, Instret, ExitReq and TLB at fixed offsets (see layout_test.go).
//
// A State is owned by the goroutine that runs its CPU; ExitReq is the only
// field other goroutines touch.
type State struct {
	// R holds the guest registers (slots below ir.TempBase, numbered by
	// the frontend) and the temporaries of the running block.
	R [ir.NumSlots]uint64
	// PC is the guest PC between blocks and after an exit.
	PC uint64
	// Instret counts retired guest instructions.
	Instret uint64
	// InstretLimit ends a native backend's chain of blocks at the first
	// block boundary where Instret has reached it: the run loop's time
	// slice. Go's scheduler cannot preempt generated code, so without it
	// a CPU spinning in translated code would hold up the garbage
	// collector's stop-the-world, and with it every goroutine.
	InstretLimit uint64
	// ExitReq holds Req* bits; nonzero ends the current chain of blocks.
	ExitReq atomic.Uint32
	_       uint32
	// Exc is the pending exception, if any.
	Exc Exception

	// FFlags are the guest's accrued floating-point exception flags and
	// FRM its dynamic rounding mode, in riscv's encoding (a frontend
	// for another guest maps its own onto them): FFlagNX is the inexact
	// flag and 0 is round-to-nearest-even. Backends that compute
	// floating point natively read them (ir.FastOp).
	FFlags uint8
	FRM    uint8

	// TLB holds one table per MMU index (address space and privilege
	// combination, chosen by the frontend per block).
	TLB [NumMMUIdx]TLBTable
	// TLBInfo is the cold half of each TLB entry, for slow paths.
	TLBInfo [NumMMUIdx][TLBSize]TLBInfo

	// Mem is the memory system shared by all CPUs of a machine.
	Mem *Memory
	// MMU translates virtual addresses; nil means identity with all
	// permissions.
	MMU MMU
	// ID is the CPU (hart) index.
	ID int

	// Code-invalidation queue filled by other CPUs (see Memory).
	inval invalQueue

	// N is shared by a native backend's generated code and its Go side.
	N Native
}

// FFlagNX is the inexact flag in State.FFlags.
const FFlagNX = 1

// JCBits is log2 of the native jump cache's entries.
const JCBits = 12

// JCIndex hashes a guest PC into a jump cache (the native code computes
// the same).
func JCIndex(pc uint64) uint64 { return (pc>>1 ^ pc>>(JCBits+1)) & (1<<JCBits - 1) }

// JCEntry maps a guest PC to the host code of its block.
type JCEntry struct {
	PC   uint64
	Code uintptr
}

// Native is the part of the state that a native backend's generated code
// and its Go side exchange when the code exits to Go: which slow-path
// descriptor exited, the guest address and value of a slow memory access,
// helper arguments, where to resume, which jump to chain, and the jump
// cache for indirect jumps.
type Native struct {
	ExitInfo uint32
	_        uint32
	Addr     uint64
	Val      uint64
	Args     [3]uint64
	Resume   uintptr
	Patch    uintptr
	// FlatHost and FlatLimit describe a flat address space (see the
	// native backend's SetFlat): guest address va is host address
	// FlatHost+va when va-base < FlatLimit.
	FlatHost  uintptr
	FlatLimit uint64
	JC        [1 << JCBits]JCEntry
}

// Raise records an exception; the caller then leaves the block.
func (s *State) Raise(cause, tval uint64) {
	s.Exc = Exception{Pending: true, Cause: cause, Tval: tval}
}

// Request sets exit-request bits; safe from any goroutine.
func (s *State) Request(bits uint32) { s.ExitReq.Or(bits) }

// TakeRequests clears and returns the exit-request bits.
func (s *State) TakeRequests() uint32 { return s.ExitReq.Swap(0) }

// Init prepares a zero State for CPU id on mem, with an empty TLB.
// Register the state with mem (Memory.AddCPU) before it runs so that code
// written by other CPUs reaches it.
func (s *State) Init(mem *Memory, id int) {
	s.Mem = mem
	s.ID = id
	s.FlushTLB()
}
