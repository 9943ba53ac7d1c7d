// Package ir is the translator's intermediate form: what a guest frontend
// (tcg/riscv, later aarch64) produces for one translation block and what a
// backend (tcg/backend/closure, tcg/backend/amd64) compiles.
//
// A Block is a straight-line list of operations on slots of the guest state
// (guest registers, which live in env.State.R) and on block-local
// temporaries, ending in exactly one terminator: a direct jump, a two-way
// conditional branch, an indirect jump or an exit to the run loop. There is
// no control flow inside a block except side exits: an operation that can
// fault (a memory access, a helper marked MayTrap) leaves the block when it
// does, and carries the guest PC and the index of its guest instruction so
// that the exit is precise.
//
// Operands (Arg) are a slot (guest register or temporary) or a constant, so
// a backend can specialise each operation on its operand shape without any
// analysis: `addi a0, a0, 1` arrives as Add{Dst: a0, A: a0, B: const 1}.
// Writes to a hard-wired zero register never reach the IR (the frontend drops
// them) and reads of it arrive as the constant 0.
package ir

import (
	"fmt"
	"strings"
)

// Slot numbers index env.State.R. A frontend decides what its slots mean
// below TempBase; temporaries are TempBase and up and die at the end of the
// guest instruction that defines them (a backend may keep them in host
// registers without ever writing them back).
const (
	// TempBase is the first temporary slot.
	TempBase = 64
	// MaxTemps bounds the temporaries one block may use.
	MaxTemps = 64
	// NumSlots is the size of env.State.R: indexing it with a uint8 needs
	// no bounds check.
	NumSlots = 256
)

// ArgKind says what an Arg is.
type ArgKind uint8

const (
	// None: no operand.
	None ArgKind = iota
	// Slot: a guest-state slot or a temporary, by number.
	Slot
	// Const: the 64-bit constant Imm.
	Const
)

// Arg is an operand.
type Arg struct {
	Kind ArgKind
	Slot uint8
	Imm  int64
}

// S is a slot operand.
func S(n int) Arg { return Arg{Kind: Slot, Slot: uint8(n)} }

// C is a constant operand.
func C(v int64) Arg { return Arg{Kind: Const, Imm: v} }

// CU is a constant operand given as unsigned.
func CU(v uint64) Arg { return Arg{Kind: Const, Imm: int64(v)} }

// IsConst reports whether a is a constant.
func (a Arg) IsConst() bool { return a.Kind == Const }

// IsSlot reports whether a is a slot.
func (a Arg) IsSlot() bool { return a.Kind == Slot }

// IsTemp reports whether a is a temporary.
func (a Arg) IsTemp() bool { return a.Kind == Slot && a.Slot >= TempBase }

func (a Arg) String() string {
	switch a.Kind {
	case Slot:
		if a.Slot >= TempBase {
			return fmt.Sprintf("t%d", a.Slot-TempBase)
		}
		return fmt.Sprintf("r%d", a.Slot)
	case Const:
		if a.Imm < 0 && a.Imm > -4096 {
			return fmt.Sprintf("%d", a.Imm)
		}
		return fmt.Sprintf("%#x", uint64(a.Imm))
	}
	return "_"
}

// Op is an operation code.
type Op uint8

// Operations. Integer operations are on 64 bits; the W forms operate on the
// low 32 bits of their operands and sign-extend the 32-bit result, as
// riscv64's ADDW and friends (a frontend for another guest uses the plain
// forms plus explicit extensions).
const (
	Nop Op = iota

	// Dst = A (B unused).
	Mov
	// Dst = A op B.
	Add
	Sub
	And
	Or
	Xor
	Shl    // shift amount B mod 64
	Shr    // logical
	Sar    // arithmetic
	SetLt  // Dst = A < B signed ? 1 : 0
	SetLtu // unsigned
	Mul
	MulH   // high 64 bits of signed A * signed B
	MulHU  // unsigned * unsigned
	MulHSU // signed A * unsigned B
	Div    // signed; riscv semantics: x/0 = -1, MIN/-1 = MIN
	DivU   // x/0 = all ones
	Rem    // x%0 = x, MIN%-1 = 0
	RemU   // x%0 = x
	AddW
	SubW
	ShlW // shift amount B mod 32
	ShrW
	SarW
	MulW
	DivW
	DivUW
	RemW
	RemUW

	// Dst = memory[A + Imm], Size bytes, sign-extended when Signed.
	// May fault: PC and Insn are set.
	Load
	// memory[A + Imm] = B, Size bytes. May fault.
	Store

	// Dst = Helper.Fn(A, B, C) (Dst may be None). A helper may read and
	// write any guest slot, so a backend writes back cached slots before
	// the call and forgets them after. When Helper.MayTrap, a fault
	// leaves the block (PC and Insn are set).
	Call

	// Fence orders all earlier memory accesses before all later ones
	// (a full host barrier).
	Fence

	// ExitIf leaves the block for the direct target Target when
	// Cond(A, B) holds, retiring Insn instructions; otherwise the block
	// goes on (a side exit of a superblock).
	ExitIf

	// Terminators.

	// Goto: continue at the direct target Target.
	Goto
	// Branch: if Cond(A, B) continue at Target, else at Next.
	Branch
	// Jump: continue at the address in A with bit 0 cleared (riscv JALR).
	Jump
	// Exit: leave to the run loop with Reason; the guest PC becomes
	// Target. Used for system calls, breakpoints, instruction-cache
	// fences, WFI, illegal instructions and CSR writes that change how
	// code is translated.
	Exit

	numOps
)

var opNames = [...]string{
	Nop: "nop", Mov: "mov", Add: "add", Sub: "sub", And: "and", Or: "or", Xor: "xor",
	Shl: "shl", Shr: "shr", Sar: "sar", SetLt: "setlt", SetLtu: "setltu",
	Mul: "mul", MulH: "mulh", MulHU: "mulhu", MulHSU: "mulhsu",
	Div: "div", DivU: "divu", Rem: "rem", RemU: "remu",
	AddW: "addw", SubW: "subw", ShlW: "shlw", ShrW: "shrw", SarW: "sarw",
	MulW: "mulw", DivW: "divw", DivUW: "divuw", RemW: "remw", RemUW: "remuw",
	Load: "load", Store: "store", Call: "call", Fence: "fence", ExitIf: "exitif",
	Goto: "goto", Branch: "branch", Jump: "jump", Exit: "exit",
}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// IsTerminator reports whether o ends a block.
func (o Op) IsTerminator() bool { return o >= Goto && o <= Exit }

// IsBinary reports whether o is a two-operand ALU operation Dst = A op B.
func (o Op) IsBinary() bool { return o >= Add && o <= RemUW }

// Cond is a branch condition.
type Cond uint8

const (
	Eq Cond = iota
	Ne
	Lt // signed
	Ge // signed
	Ltu
	Geu
)

var condNames = [...]string{"eq", "ne", "lt", "ge", "ltu", "geu"}

func (c Cond) String() string {
	if int(c) < len(condNames) {
		return condNames[c]
	}
	return fmt.Sprintf("cond(%d)", int(c))
}

// Eval evaluates c on a and b.
func (c Cond) Eval(a, b uint64) bool {
	switch c {
	case Eq:
		return a == b
	case Ne:
		return a != b
	case Lt:
		return int64(a) < int64(b)
	case Ge:
		return int64(a) >= int64(b)
	case Ltu:
		return a < b
	case Geu:
		return a >= b
	}
	panic("ir: bad condition")
}

// ExitReason says why a block leaves to the run loop.
type ExitReason uint8

const (
	// ExitNone is not an exit (the zero value).
	ExitNone ExitReason = iota
	// ExitSyscall: an environment call (riscv ECALL).
	ExitSyscall
	// ExitBreakpoint: riscv EBREAK.
	ExitBreakpoint
	// ExitFenceI: instruction fetches must see earlier stores from now
	// on; the run loop processes pending code invalidations.
	ExitFenceI
	// ExitWFI: wait for an interrupt.
	ExitWFI
	// ExitException: the helper or the frontend raised an exception
	// (env.State.Exc holds it); the PC is the faulting instruction's.
	ExitException
	// ExitRetranslate: state that changes translation changed (a CSR
	// write); continue at Target under the new state.
	ExitRetranslate
)

var exitNames = [...]string{"none", "syscall", "breakpoint", "fence.i", "wfi", "exception", "retranslate"}

func (r ExitReason) String() string {
	if int(r) < len(exitNames) {
		return exitNames[r]
	}
	return fmt.Sprintf("exit(%d)", int(r))
}

// Helper is a Go function called from translated code. Frontends create
// helpers for what is not worth expressing in the IR (floating point, CSRs,
// atomics); a helper usually captures its guest CPU and decoded operands.
// Arguments arrive evaluated; the result goes to the op's Dst.
type Helper struct {
	Name string
	Fn   func(a, b, c uint64) uint64
	// MayTrap: after the call, the backend leaves the block if the
	// helper raised an exception (env.State.Exc pending).
	MayTrap bool
	// NoSlots: the helper neither reads nor writes guest slots (only its
	// arguments and state outside env.State.R), so a backend need not
	// write cached slots back around it.
	NoSlots bool
	// Fast, when set, says the helper computes a double-precision IEEE
	// operation on its arguments' raw bits (see FastOp) with rounding
	// mode FastRM (riscv encoding; 7: env.State.FRM). A backend may
	// compute it natively instead of calling the helper when the
	// effective rounding mode is round-to-nearest-even, the inexact flag
	// is already set in env.State.FFlags, and the native result is a
	// normal number above the smallest normal (for the comparisons:
	// neither operand is a NaN). In every other case it calls Fn, which
	// handles flags, NaNs, subnormals and the other modes.
	Fast   FastOp
	FastRM uint8
}

// FastOp names a floating-point operation a backend may inline.
type FastOp uint8

const (
	FastNone   FastOp = iota
	FastAddD          // A + B
	FastSubD          // A - B
	FastMulD          // A * B
	FastDivD          // A / B
	FastSqrtD         // sqrt(A)
	FastMAddD         // A*B + C, fused
	FastMSubD         // A*B - C
	FastNMSubD        // -(A*B) + C
	FastNMAddD        // -(A*B) - C
	FastEqD           // A == B ? 1 : 0 (integer result)
	FastLtD           // A < B
	FastLeD           // A <= B
)

// Inst is one IR operation.
type Inst struct {
	Op   Op
	Cond Cond // Branch
	// Size in bytes (1, 2, 4, 8) and signedness of a Load/Store.
	Size   uint8
	Signed bool
	Reason ExitReason // Exit

	Dst     Arg // a slot or None
	A, B, C Arg
	Imm     int64 // Load/Store displacement

	Helper *Helper // Call

	// Target and Next are guest PCs: Goto and Exit continue at Target,
	// Branch at Target when taken and Next when not.
	Target, Next uint64

	// PC is the guest address of the instruction this op belongs to. Set
	// on every op that can leave the block early and on terminators.
	PC uint64
	// Insn is the number of guest instructions retired when the block is
	// left at this op: for an op that faults, the index of its
	// instruction in the block; for a terminator, the instructions the
	// block retires (all of them, or all but a final ECALL, EBREAK or
	// illegal instruction, which do not retire). The backend adds it to
	// env.State.Instret.
	Insn uint16
	// Cause is the exception an Exit with ExitException raises, with
	// Next as its trap value.
	Cause uint64
}

// DirectExits counts the block's direct exits (ExitIf side exits and the
// terminator's direct targets), numbered in that order.
func (b *Block) DirectExits() int {
	n := 0
	for i := range b.Insts {
		switch b.Insts[i].Op {
		case ExitIf, Goto:
			n++
		case Branch:
			n += 2
		}
	}
	return n
}

// MayTrap reports whether the instruction can leave the block early.
func (in *Inst) MayTrap() bool {
	switch in.Op {
	case Load, Store:
		return true
	case Call:
		return in.Helper.MayTrap
	}
	return false
}

func (in *Inst) String() string {
	var b strings.Builder
	switch {
	case in.Op.IsBinary():
		fmt.Fprintf(&b, "%v = %v %v, %v", in.Dst, in.Op, in.A, in.B)
	case in.Op == Mov:
		fmt.Fprintf(&b, "%v = %v", in.Dst, in.A)
	case in.Op == Load:
		s := "u"
		if in.Signed {
			s = "s"
		}
		fmt.Fprintf(&b, "%v = load%s%d [%v%+d]", in.Dst, s, in.Size*8, in.A, in.Imm)
	case in.Op == Store:
		fmt.Fprintf(&b, "store%d [%v%+d] = %v", in.Size*8, in.A, in.Imm, in.B)
	case in.Op == Call:
		if in.Dst.Kind != None {
			fmt.Fprintf(&b, "%v = ", in.Dst)
		}
		fmt.Fprintf(&b, "call %s(%v, %v, %v)", in.Helper.Name, in.A, in.B, in.C)
	case in.Op == Goto:
		fmt.Fprintf(&b, "goto %#x", in.Target)
	case in.Op == Branch:
		fmt.Fprintf(&b, "if %v %v, %v goto %#x else %#x", in.A, in.Cond, in.B, in.Target, in.Next)
	case in.Op == ExitIf:
		fmt.Fprintf(&b, "if %v %v, %v exit to %#x", in.A, in.Cond, in.B, in.Target)
	case in.Op == Jump:
		fmt.Fprintf(&b, "jump %v", in.A)
	case in.Op == Exit:
		fmt.Fprintf(&b, "exit %v pc=%#x", in.Reason, in.Target)
	default:
		b.WriteString(in.Op.String())
	}
	return b.String()
}

// Block is one translation block.
type Block struct {
	// PC is the guest (virtual) address of the first instruction.
	PC uint64
	// Size is the number of guest code bytes the block covers.
	Size uint64
	// NumInsns is the number of guest instructions; the backend adds it
	// to env.State.Instret when the block completes.
	NumInsns int
	// MMUIdx selects the softmmu TLB for the block's memory accesses
	// (env.State.TLB[MMUIdx]).
	MMUIdx int
	// Flags is the CPU state the block was translated under (privilege,
	// translation regime). A backend's indirect jumps reach only blocks
	// translated under the same flags, so a mode switch needs no flush
	// of its jump cache. Set by the run loop before compiling.
	Flags uint32
	// Insts ends with exactly one terminator.
	Insts []Inst
}

// Reset empties b for reuse.
func (b *Block) Reset(pc uint64, mmuIdx int) {
	b.PC = pc
	b.Size = 0
	b.NumInsns = 0
	b.MMUIdx = mmuIdx
	b.Insts = b.Insts[:0]
}

// Add appends in and returns its index.
func (b *Block) Add(in Inst) int {
	b.Insts = append(b.Insts, in)
	return len(b.Insts) - 1
}

// Terminator returns the last instruction.
func (b *Block) Terminator() *Inst { return &b.Insts[len(b.Insts)-1] }

func (b *Block) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "block %#x (%d insns, %d bytes, mmu %d)\n", b.PC, b.NumInsns, b.Size, b.MMUIdx)
	for i := range b.Insts {
		fmt.Fprintf(&s, "  %s\n", b.Insts[i].String())
	}
	return s.String()
}

// Validate checks the structural rules backends rely on.
func (b *Block) Validate() error {
	if len(b.Insts) == 0 {
		return fmt.Errorf("block %#x: empty", b.PC)
	}
	for i := range b.Insts {
		in := &b.Insts[i]
		last := i == len(b.Insts)-1
		if in.Op >= numOps {
			return fmt.Errorf("block %#x: inst %d: bad op %d", b.PC, i, in.Op)
		}
		if in.Op.IsTerminator() != last {
			return fmt.Errorf("block %#x: inst %d (%v): terminator must be last and only last", b.PC, i, in)
		}
		if (in.Op.IsBinary() || in.Op == Mov || in.Op == Load) && in.Dst.Kind != Slot {
			return fmt.Errorf("block %#x: inst %d (%v): no destination", b.PC, i, in)
		}
		if in.Op == Load || in.Op == Store {
			switch in.Size {
			case 1, 2, 4, 8:
			default:
				return fmt.Errorf("block %#x: inst %d (%v): bad size %d", b.PC, i, in, in.Size)
			}
			if in.A.Kind == None {
				return fmt.Errorf("block %#x: inst %d (%v): no address", b.PC, i, in)
			}
		}
		if in.Op == Call && (in.Helper == nil || in.Helper.Fn == nil) {
			return fmt.Errorf("block %#x: inst %d: call without a helper", b.PC, i)
		}
		if in.Op.IsBinary() && (in.A.Kind == None || in.B.Kind == None) {
			return fmt.Errorf("block %#x: inst %d (%v): missing operand", b.PC, i, in)
		}
		if int(in.Insn) > b.NumInsns {
			return fmt.Errorf("block %#x: inst %d (%v): insn index %d beyond %d", b.PC, i, in, in.Insn, b.NumInsns)
		}
	}
	return nil
}
