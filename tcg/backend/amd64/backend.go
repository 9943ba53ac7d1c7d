// Package amd64 is the translator's native backend: it compiles an IR block
// to x86-64 machine code in an executable buffer and runs it through an
// assembly trampoline (enter_amd64.s), the technique of wazero's compiler.
//
// Generated code keeps the guest state in env.State (R14 points at it) and
// caches guest registers in host registers within a block. Memory accesses
// probe the softmmu TLB inline (one compare plus the addend); a miss, MMIO,
// a store to a page with translated code, and every helper call exit to
// Go, which performs the slow path and re-enters at a resume point that
// reloads the cached registers. Direct jumps between blocks are chained by
// patching the jump to the successor's code; indirect jumps probe a jump
// cache inline. Each block starts by checking env.State.ExitReq, so a stop
// request, an interrupt or a code invalidation is seen at the next block
// boundary even in a chained loop.
//
// The encoders (asm.go) and the code generator build and test on any host;
// only the trampoline is architecture-specific.
package amd64

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/ir"
	"golang.org/x/sys/cpu"
)

// ErrNotSupported: this host cannot run generated x86-64 code.
var ErrNotSupported = errors.New("amd64: native code generation needs an x86-64 host with mmap")

// Supported reports whether the native backend can run here.
func Supported() bool { return hostSupported }

// DefaultBufferSize is the code buffer of one CPU; when it fills, every
// block is dropped and translation starts over (as QEMU's tb_flush).
const DefaultBufferSize = 64 << 20

// Backend compiles and runs blocks for one CPU.
type Backend struct {
	buf  []byte
	base uintptr
	used int

	thunk    uintptr // entry: load instret, jump to RDX
	epilogue uintptr // exit: store instret, return
	slow     []slowOp
	hasFMA   bool

	// comp is reused by every Compile: its assembler buffer and lists
	// keep their capacity, so translating a block allocates little
	// (a Linux boot translates about 20,000 blocks).
	comp compiler

	// Enters counts entries into generated code (each return to Go and
	// back is one); Slow counts slow paths by kind.
	Enters uint64
	Slow   [4]uint64

	// flat: loads in MMU index flatIdx address guest memory directly
	// (see SetFlat).
	flat      bool
	flatIdx   int
	flatGuest uint64
}

// Code is one compiled block.
type Code struct {
	Entry    uintptr
	jcKey    uint64 // jcKey(the block's flags), folded into its jump-cache tag
	direct   []exitSite
	incoming []exitSite // chained jumps that lead here
}

// exitSite is a patchable direct jump: the address of its rel32 and the
// stub it jumps to when not chained.
type exitSite struct {
	site, stub uintptr
}

// New maps a code buffer of size bytes (0: DefaultBufferSize).
func New(size int) (*Backend, error) {
	if !hostSupported {
		return nil, ErrNotSupported
	}
	if size <= 0 {
		size = DefaultBufferSize
	}
	buf, err := mapCode(size)
	if err != nil {
		return nil, fmt.Errorf("amd64: map %d MiB of code buffer: %w", size>>20, err)
	}
	b := &Backend{buf: buf, base: bufAddr(buf), hasFMA: cpu.X86.HasFMA, slow: make([]slowOp, 0, 1<<14)}
	b.Reset()
	return b, nil
}

// Close unmaps the code buffer.
func (b *Backend) Close() error {
	if b.buf == nil {
		return nil
	}
	err := unmapCode(b.buf)
	b.buf = nil
	return err
}

// SetFlat declares that in MMU index idx the guest addresses
// [guest, guest+size) are identity-mapped onto RAM at host address host
// (user-mode emulation): loads then skip the TLB and address host memory
// directly, with a bounds check, as qemu-user's guest_base addressing
// does. Stores keep the TLB path, which detects writes to translated code.
// It fills s's fields for generated code. Call before compiling.
func (b *Backend) SetFlat(s *env.State, idx int, guest uint64, host uintptr, size uint64) {
	if size < 8 {
		return
	}
	b.flat, b.flatIdx, b.flatGuest = true, idx, guest
	s.N.FlatHost = host - uintptr(guest) // the host address of guest address 0
	s.N.FlatLimit = size - 7             // every access of up to 8 bytes below it fits
	b.Reset()                            // the entry thunk loads the base
}

// Reset drops every compiled block. The caller forgets its Code values
// and clears its jump cache.
func (b *Backend) Reset() {
	b.used = 0
	b.slow = b.slow[:0]
	var a Asm
	// Thunk: R15 = instret; R13 = flat base; jmp rdx.
	a.Load(regInstret, M(regEnv, offInstret), 8, false)
	if b.flat {
		a.Load(regFlatBase, M(regEnv, offFlatHost), 8, false)
	}
	a.JmpR(RDX)
	for a.Len()%16 != 0 {
		a.Int3()
	}
	ep := a.Len()
	// Epilogue: store instret; ret (eax holds the exit code).
	a.Store(M(regEnv, offInstret), regInstret, 8)
	a.Ret()
	for a.Len()%16 != 0 {
		a.Int3()
	}
	copy(b.buf, a.B)
	b.thunk = b.base
	b.epilogue = b.base + uintptr(ep)
	b.used = a.Len()
}

// Compile compiles blk into the code buffer. When the buffer is full it
// returns an error for which ErrBufferFull is true: Reset and retry.
func (b *Backend) Compile(blk *ir.Block) (*Code, error) {
	if err := blk.Validate(); err != nil {
		return nil, err
	}
	nslow := len(b.slow)
	c := &b.comp
	*c = compiler{b: b, blk: blk, origin: b.base + uintptr(b.used),
		a: Asm{B: c.a.B[:0]}, cold: c.cold[:0], direct: c.direct[:0]}
	if err := c.compile(); err != nil {
		b.slow = b.slow[:nslow]
		return nil, err
	}
	n := len(c.a.B)
	if b.used+n+16 > len(b.buf) {
		b.slow = b.slow[:nslow]
		return nil, errBufferFull
	}
	copy(b.buf[b.used:], c.a.B)
	code := &Code{Entry: c.origin, jcKey: jcKey(blk.Flags), direct: make([]exitSite, len(c.direct))}
	for i, d := range c.direct {
		code.direct[i] = exitSite{site: c.origin + uintptr(d.site), stub: c.origin + uintptr(d.stub)}
	}
	b.used += (n + 15) &^ 15
	return code, nil
}

func (b *Backend) patch(site, target uintptr) {
	off := site - b.base
	binary.LittleEndian.PutUint32(b.buf[off:], uint32(int32(int64(target)-int64(site+4))))
}

// Sites lists the addresses of code's patchable direct jumps.
func (c *Code) Sites() []uintptr {
	out := make([]uintptr, len(c.direct))
	for i, d := range c.direct {
		out[i] = d.site
	}
	return out
}

// Chain points the direct exit whose jump is at site (env.Native.Patch
// after an ExitDirect*) straight at target.
func (b *Backend) Chain(from *Code, site uintptr, target *Code) {
	for i := range from.direct {
		if from.direct[i].site == site {
			b.patch(site, target.Entry)
			target.incoming = append(target.incoming, from.direct[i])
			return
		}
	}
}

// Unchain restores every jump chained to code (it is being dropped).
func (b *Backend) Unchain(code *Code) {
	for _, e := range code.incoming {
		b.patch(e.site, e.stub)
	}
	code.incoming = nil
}

// SetJC records code as the block at pc for indirect jumps.
func SetJC(s *env.State, pc uint64, code *Code) {
	s.N.JC[env.JCIndex(pc)] = env.JCEntry{PC: pc ^ code.jcKey, Code: code.Entry}
}

// jcKey is what a jump-cache tag holds beyond the PC: the block's flags in
// bits 56-63, so a probe from code translated under other flags (another
// privilege level, SUM) misses instead of jumping into the wrong block.
// No two (PC, flags) pairs share a tag: a PC that the MMU translates is
// sign-extended from bit 47 at most, so two of them cannot differ in bits
// 56-63 alone, and untranslated PCs are below 2^56.
func jcKey(flags uint32) uint64 { return uint64(flags&0xff) << 56 }

// DropJC removes pc's jump-cache entry if it points at code.
func DropJC(s *env.State, pc uint64, code *Code) {
	e := &s.N.JC[env.JCIndex(pc)]
	if e.PC == pc^code.jcKey && e.Code == code.Entry {
		*e = env.JCEntry{PC: ^uint64(0)}
	}
}

// ClearJC empties the jump cache.
func ClearJC(s *env.State) {
	for i := range s.N.JC {
		s.N.JC[i] = env.JCEntry{PC: ^uint64(0)}
	}
}

// Run executes code and the blocks chained to it until an exit the run
// loop must see: a direct or indirect exit to a block not chained yet, an
// exit request, an exception (PC and Instret point at the faulting
// instruction) or a frontend exit. Slow paths are handled here.
func (b *Backend) Run(s *env.State, code *Code) uint32 {
	addr := code.Entry
	for {
		b.Enters++
		ex := enter(b.thunk, addr, s)
		if ex != exitSlow {
			return ex
		}
		op := &b.slow[s.N.ExitInfo]
		b.Slow[op.kind]++
		switch op.kind {
		case slowLoad:
			v, ok := s.LoadSlow(s.N.Addr, int(op.size), op.idx)
			if !ok {
				return b.fault(s, op)
			}
			if op.signed {
				shift := 64 - 8*uint(op.size)
				v = uint64(int64(v<<shift) >> shift)
			}
			s.R[op.dst] = v
		case slowStore:
			if !s.StoreSlow(s.N.Addr, s.N.Val, int(op.size), op.idx) {
				return b.fault(s, op)
			}
		case slowCall:
			v := op.helper.Fn(s.N.Args[0], s.N.Args[1], s.N.Args[2])
			if op.helper.MayTrap && s.Exc.Pending {
				return b.fault(s, op)
			}
			if op.dst >= 0 {
				s.R[op.dst] = v
			}
		case slowRaise:
			s.Raise(op.cause, op.tval)
			return b.fault(s, op)
		}
		addr = s.N.Resume
	}
}

func (b *Backend) fault(s *env.State, op *slowOp) uint32 {
	s.PC = op.pc
	s.Instret += uint64(op.insn)
	return env.ExitException
}

// CodeBytes returns a copy of code's machine code (for debugging).
func (b *Backend) CodeBytes(code *Code) []byte {
	start := code.Entry - b.base
	end := uintptr(b.used)
	return append([]byte(nil), b.buf[start:min(end, start+4096)]...)
}

// Used is the number of code bytes in use.
func (b *Backend) Used() int { return b.used }
