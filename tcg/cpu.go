package tcg

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/govmm/govmm/tcg/backend/amd64"
	"github.com/govmm/govmm/tcg/backend/closure"
	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/ir"
	"github.com/govmm/govmm/tcg/riscv"
)

// EventKind says why Run returned.
type EventKind int

const (
	// EventSyscall: the guest executed ECALL; PC is the ECALL's address.
	EventSyscall EventKind = iota
	// EventBreakpoint: EBREAK; PC is its address.
	EventBreakpoint
	// EventException: an exception that no trap handler took (Cause,
	// Tval; PC is the faulting instruction).
	EventException
	// EventWFI: the guest waits for an interrupt; PC is after the WFI.
	EventWFI
	// EventStopped: Stop was called or the context ended.
	EventStopped
)

var eventNames = [...]string{"syscall", "breakpoint", "exception", "wfi", "stopped"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is what Run reports.
type Event struct {
	Kind  EventKind
	PC    uint64
	Cause uint64
	Tval  uint64
}

func (e Event) String() string {
	if e.Kind == EventException {
		return fmt.Sprintf("exception cause %d tval %#x at pc %#x", e.Cause, e.Tval, e.PC)
	}
	return fmt.Sprintf("%v at pc %#x", e.Kind, e.PC)
}

// Config configures a CPU.
type Config struct {
	// Memory is the machine's memory system.
	Memory *env.Memory
	// HartID is the hart's index (mhartid).
	HartID int
	// MaxBlockInsns bounds a translation block (0: the default).
	MaxBlockInsns int
	// System, when set, gives the hart the privileged architecture (a
	// machine's hart): exceptions and interrupts trap to the guest's
	// handlers, WFI waits for an interrupt inside Run, and Run reports
	// only what the guest's own modes cannot take (an ECALL to an M mode
	// the VMM owns: an SBI call). Without it the hart runs user code and
	// Run reports every ECALL, EBREAK and exception.
	System *riscv.SystemConfig
	// Backend picks the code generator: BackendAuto (native where the
	// host supports it, else closures), BackendClosure or BackendNative.
	Backend string
	// CodeBufferSize is the native backend's code buffer (0: default).
	CodeBufferSize int
	// Flat, when set, declares a flat address space: in MMU index
	// Flat.MMUIdx, guest addresses [Flat.Base, Flat.Base+Flat.Size) are
	// identity-mapped onto one RAM region (user-mode emulation). The
	// native backend then loads from them directly.
	Flat *Flat
}

// Flat describes an identity-mapped guest address range on one RAM region.
type Flat struct {
	MMUIdx     int
	Base, Size uint64
}

// Backends.
const (
	BackendAuto    = ""
	BackendClosure = "closure"
	BackendNative  = "native"
)

// ErrUnknownBackend is returned for a Config.Backend that is not one of
// the Backend* names.
var ErrUnknownBackend = errors.New("tcg: unknown backend")

// Stats count what the engine did; read them from the CPU's goroutine or
// after Run returned.
type Stats struct {
	Blocks        uint64 // blocks translated
	Lookups       uint64 // TB lookups that missed the successor cache
	JCMisses      uint64 // lookups that missed the jump cache
	JCFlushes     uint64 // jump caches emptied (mapping or mode changes)
	Invalidations uint64 // blocks invalidated by code writes
	// Native backend: entries into generated code, and slow paths
	// (loads, stores, helper calls) taken through Go.
	NativeEnters uint64
	SlowLoads    uint64
	SlowStores   uint64
	HelperCalls  uint64
	// WFI: waits for an interrupt, and the time spent in them.
	WFIs, WFINanos uint64
}

// CPU is one riscv64 hart of the translator.
type CPU struct {
	Hart  *riscv.Hart
	cfg   Config
	tr    *riscv.Translator
	blk   ir.Block
	cache tbCache
	Stats Stats

	// wake is signalled when a hart waiting in WFI may have something to
	// do: an interrupt line rose, a request arrived.
	wake chan struct{}
	// acks counts the times this CPU handled its exit requests, so that
	// another hart can wait until a request it made was served (remote
	// fences).
	acks atomic.Uint64

	nat     *amd64.Backend // native backend, or nil for closures
	sites   map[uintptr]*TB
	profile []*blockCount // GOVMM_TCG_PROFILE
}

// sliceInsns is how many guest instructions a CPU running native code
// executes before it comes back to Go (env.State.InstretLimit): a few
// milliseconds at the native backend's speed.
const sliceInsns = 4 << 20

// New returns a CPU on cfg.Memory, registered with it.
func New(cfg Config) (*CPU, error) {
	if cfg.Memory == nil {
		return nil, errors.New("tcg: no memory")
	}
	h := riscv.NewHart(cfg.Memory, cfg.HartID)
	if cfg.System != nil {
		h.EnableSystem(*cfg.System)
	}
	c := &CPU{Hart: h, cfg: cfg, tr: riscv.NewTranslator(h), wake: make(chan struct{}, 1)}
	if cfg.MaxBlockInsns > 0 {
		c.tr.MaxInsns = cfg.MaxBlockInsns
	}
	c.cache.init()
	switch cfg.Backend {
	case BackendAuto:
		if amd64.Supported() {
			nat, err := amd64.New(cfg.CodeBufferSize)
			if err == nil {
				c.nat = nat
			}
		}
	case BackendNative:
		nat, err := amd64.New(cfg.CodeBufferSize)
		if err != nil {
			h.Mem.RemoveCPU(&h.State)
			return nil, err
		}
		c.nat = nat
	case BackendClosure:
	default:
		h.Mem.RemoveCPU(&h.State)
		return nil, fmt.Errorf("%w %q", ErrUnknownBackend, cfg.Backend)
	}
	if c.nat != nil {
		c.sites = map[uintptr]*TB{}
		amd64.ClearJC(&h.State)
		if f := cfg.Flat; f != nil {
			host, ok := cfg.Memory.HostAddr(f.Base)
			if !ok || !cfg.Memory.Contains(f.Base, f.Size) {
				c.Close()
				return nil, fmt.Errorf("tcg: flat range %#x+%#x is not one RAM region", f.Base, f.Size)
			}
			c.nat.SetFlat(&h.State, f.MMUIdx, f.Base, host, f.Size)
		}
	}
	return c, nil
}

// syncStats copies the native backend's counters into Stats.
func (c *CPU) syncStats() {
	if c.nat != nil {
		c.Stats.NativeEnters = c.nat.Enters
		c.Stats.SlowLoads = c.nat.Slow[0]
		c.Stats.SlowStores = c.nat.Slow[1]
		c.Stats.HelperCalls = c.nat.Slow[2]
	}
}

// BackendName says which code generator the CPU uses.
func (c *CPU) BackendName() string {
	if c.nat != nil {
		return BackendNative
	}
	return BackendClosure
}

// Close unregisters the CPU from its memory and releases its code buffer.
func (c *CPU) Close() {
	if profileBlocks {
		c.printProfile()
	}
	c.syncStats()
	c.cfg.Memory.RemoveCPU(&c.Hart.State)
	if c.nat != nil {
		c.nat.Close()
		c.nat = nil
	}
}

// Stop makes Run return EventStopped at the next block boundary (or the
// next Run return at once). Safe from any goroutine.
func (c *CPU) Stop() { c.request(env.ReqStop) }

// request sets exit-request bits and wakes the hart if it waits in WFI.
func (c *CPU) request(bits uint32) {
	c.Hart.Request(bits)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// SetIRQ raises (level true) or lowers the interrupt lines in mask (riscv
// mip bits driven by devices). Safe from any goroutine; the hart sees the
// change at its next block boundary. Precondition: Config.System was set.
func (c *CPU) SetIRQ(mask uint64, level bool) {
	l := c.Hart.Sys.Lines()
	if level {
		l.Or(mask)
	} else {
		l.And(^mask)
	}
	c.request(env.ReqInterrupt)
}

// SetSoftIRQ sets or clears software-pending interrupt bits (an SBI IPI
// sets SSIP). Safe from any goroutine. Precondition: Config.System was set.
func (c *CPU) SetSoftIRQ(mask uint64, level bool) {
	c.Hart.Sys.SetSoft(mask, level)
	c.request(env.ReqInterrupt)
}

// RemoteFence asks the hart to flush its TLB (tlb) and to apply pending
// code invalidations (FENCE.I), and returns a ticket for Fenced. Safe from
// any goroutine.
func (c *CPU) RemoteFence(tlb bool) uint64 {
	t := c.acks.Load()
	bits := env.ReqCode
	if tlb {
		bits |= env.ReqTLB
	}
	c.request(bits)
	return t
}

// Fenced reports whether the hart has served the requests made when
// RemoteFence returned ticket.
func (c *CPU) Fenced(ticket uint64) bool { return c.acks.Load() > ticket }

// Poll serves the hart's pending requests other than a stop, from the
// hart's goroutine while it is outside Run (waiting on another hart, say).
func (c *CPU) Poll() {
	if c.Hart.ExitReq.Load() != 0 {
		if _, stop := c.requests(); stop {
			c.Hart.Request(env.ReqStop) // for the next Run
		}
	}
}

// Run executes guest code from Hart.PC until an event. Precondition:
// called from one goroutine at a time (the hart's).
func (c *CPU) Run(ctx context.Context) (Event, error) {
	h := c.Hart
	defer c.syncStats()
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, c.Stop)
		defer stop()
	}
	if h.Sys != nil {
		// An interrupt may have become pending while the hart was out
		// of Run.
		h.Request(env.ReqInterrupt)
	}
	for {
		if h.ExitReq.Load() != 0 {
			if ev, stop := c.requests(); stop {
				return ev, nil
			}
		}
		tb, ok := c.lookup(h.PC)
		if !ok {
			if ev, stop := c.exception(); stop {
				return ev, nil
			}
			continue
		}
		code := c.runChain(tb)
		switch {
		case code >= env.ExitDirect, code == env.ExitIndirect, code == env.ExitRequest:
			// A request interrupted the chain.
		case code == env.ExitException:
			if ev, stop := c.exception(); stop {
				return ev, nil
			}
		case code == env.ExitReasonBase+uint32(ir.ExitSyscall):
			return Event{Kind: EventSyscall, PC: h.PC}, nil
		case code == env.ExitReasonBase+uint32(ir.ExitBreakpoint):
			return Event{Kind: EventBreakpoint, PC: h.PC}, nil
		case code == env.ExitReasonBase+uint32(ir.ExitFenceI):
			c.processInvalidations()
		case code == env.ExitReasonBase+uint32(ir.ExitRetranslate):
		case code == env.ExitReasonBase+uint32(ir.ExitWFI):
			if h.Sys == nil {
				return Event{Kind: EventWFI, PC: h.PC}, nil
			}
			if ev, stop := c.waitForInterrupt(ctx); stop {
				return ev, nil
			}
		default:
			return Event{}, fmt.Errorf("tcg: unknown exit code %d at pc %#x", code, h.PC)
		}
	}
}

// runChain runs tb and its successors until an exit that needs the run
// loop: a special exit, an exception, or a pending request.
func (c *CPU) runChain(tb *TB) uint32 {
	if c.nat != nil {
		return c.runNative(tb)
	}
	s := &c.Hart.State
	for {
		code := tb.run(s)
		if code != env.ExitIndirect && code < env.ExitDirect {
			return code
		}
		if s.ExitReq.Load() != 0 {
			return env.ExitRequest
		}
		var nxt *TB
		slot := int(code - env.ExitDirect)
		if code >= env.ExitDirect && slot < len(tb.next) {
			nxt = tb.next[slot]
		}
		if nxt == nil || nxt.invalid {
			var ok bool
			nxt, ok = c.lookup(s.PC)
			if !ok {
				return env.ExitException
			}
			if code >= env.ExitDirect && slot < len(tb.next) && nxt.PC&^env.PageMask == tb.PC&^env.PageMask {
				tb.next[slot] = nxt
			}
		}
		tb = nxt
	}
}

// runNative runs native code from tb; the backend follows chained jumps
// and the jump cache itself and comes back here for direct exits not yet
// chained, jump-cache misses, and everything the run loop handles.
func (c *CPU) runNative(tb *TB) uint32 {
	s := &c.Hart.State
	s.InstretLimit = s.Instret + sliceInsns
	for {
		code := c.nat.Run(s, tb.native)
		if code != env.ExitIndirect && code < env.ExitDirect {
			return code
		}
		site := s.N.Patch
		nxt, ok := c.lookup(s.PC)
		if !ok {
			return env.ExitException
		}
		amd64.SetJC(s, s.PC, nxt.native)
		if code != env.ExitIndirect && site != 0 {
			if from := c.sites[site]; from != nil && !from.invalid && nxt.PC&^env.PageMask == from.PC&^env.PageMask {
				c.nat.Chain(from.native, site, nxt.native)
			}
		}
		if s.ExitReq.Load() != 0 {
			return env.ExitRequest
		}
		tb = nxt
	}
}

// waitForInterrupt blocks a hart in WFI until an interrupt is pending and
// enabled in mie, serving requests (remote fences) meanwhile.
func (c *CPU) waitForInterrupt(ctx context.Context) (Event, bool) {
	h := c.Hart
	c.Stats.WFIs++
	start := time.Now()
	defer func() { c.Stats.WFINanos += uint64(time.Since(start)) }()
	for !h.WakeUp() {
		if h.ExitReq.Load() != 0 {
			if ev, stop := c.requests(); stop {
				return ev, true
			}
			continue
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			return Event{Kind: EventStopped, PC: h.PC}, true
		}
	}
	h.Request(env.ReqInterrupt)
	return Event{}, false
}

// exception handles a pending exception: the guest's trap handler takes it
// (a hart with the privileged architecture), or Run reports it.
func (c *CPU) exception() (Event, bool) {
	h := c.Hart
	exc := h.Exc
	h.Exc = env.Exception{}
	h.ClearReservation()
	if h.Sys != nil && h.TakeTrap(exc.Cause, exc.Tval) {
		return Event{}, false
	}
	return Event{Kind: EventException, PC: h.PC, Cause: exc.Cause, Tval: exc.Tval}, true
}

// requests handles exit requests at a block boundary.
func (c *CPU) requests() (Event, bool) {
	h := c.Hart
	req := h.TakeRequests()
	if req&env.ReqCode != 0 {
		c.processInvalidations()
	}
	if req&env.ReqTLB != 0 {
		h.FlushTLB()
		c.flushJumpCaches()
	}
	if req&env.ReqInterrupt != 0 && h.Sys != nil {
		h.TakeInterrupt()
	}
	c.acks.Add(1)
	if req&env.ReqStop != 0 {
		return Event{Kind: EventStopped, PC: h.PC}, true
	}
	return Event{}, false
}

func (c *CPU) processInvalidations() {
	for _, r := range c.Hart.TakeInvalidations() {
		if r.PA == 0 && r.N == ^uint64(0) {
			c.FlushCode()
			continue
		}
		for _, tb := range c.cache.invalidate(r.PA, r.N) {
			c.dropNative(tb)
			c.Stats.Invalidations++
		}
	}
}

// dropNative unlinks an invalidated block's native code.
func (c *CPU) dropNative(tb *TB) {
	if c.nat == nil || tb.native == nil {
		return
	}
	c.nat.Unchain(tb.native)
	amd64.DropJC(&c.Hart.State, tb.PC, tb.native)
	for _, site := range tb.native.Sites() {
		delete(c.sites, site)
	}
}

// flushJumpCaches empties the jump caches (after the virtual-to-physical
// mapping or the translation flags changed).
func (c *CPU) flushJumpCaches() {
	c.Stats.JCFlushes++
	c.cache.flushJC()
	if c.nat != nil {
		amd64.ClearJC(&c.Hart.State)
	}
}

// FlushCode drops every translated block of this CPU (after a change the
// code tracking cannot see). Call from the CPU's goroutine.
func (c *CPU) FlushCode() {
	c.Stats.Invalidations += uint64(len(c.cache.m))
	c.cache.flushAll()
	if c.nat != nil {
		c.nat.Reset()
		clear(c.sites)
		amd64.ClearJC(&c.Hart.State)
	}
}

// lookup finds or translates the block at pc under the current state.
func (c *CPU) lookup(pc uint64) (*TB, bool) {
	h := c.Hart
	flags := h.TBFlags()
	if tb := c.cache.jc[jcIndex(pc)]; tb != nil && tb.PC == pc && tb.Flags == flags && !tb.invalid {
		return tb, true
	}
	c.Stats.JCMisses++
	pa, _, ok := h.CodeAddr(pc, h.FetchIdx())
	if !ok {
		h.PC = pc
		return nil, false
	}
	key := tbKey{pc: pc, pa: pa, flags: flags}
	tb := c.cache.m[key]
	if tb == nil {
		var err error
		if tb, err = c.translate(pc, flags); err != nil {
			h.PC = pc
			return nil, false
		}
	}
	c.cache.jc[jcIndex(pc)] = tb
	return tb, true
}

// translate builds, compiles and registers the block at pc.
func (c *CPU) translate(pc uint64, flags uint32) (*TB, error) {
	h := c.Hart
	code, ok := c.tr.Translate(pc, &c.blk)
	if !ok {
		return nil, errFetch
	}
	c.blk.Flags = flags
	tb := &TB{PC: pc, PA: code[0].PA, Flags: flags, ranges: code}
	if c.nat == nil {
		tb.next = make([]*TB, c.blk.DirectExits())
	}
	var err error
	if c.nat != nil {
		tb.native, err = c.nat.Compile(&c.blk)
		if err != nil && amd64.ErrBufferFull(err) {
			c.FlushCode()
			tb.native, err = c.nat.Compile(&c.blk)
		}
		if err == nil {
			for _, site := range tb.native.Sites() {
				c.sites[site] = tb
			}
		}
	} else {
		tb.run, err = closure.Compile(&c.blk)
		if err == nil {
			c.profileWrap(tb, c.blk.NumInsns)
		}
	}
	if err != nil {
		// A frontend bug: report it as an illegal instruction rather
		// than crash the VMM.
		h.Raise(riscv.CauseIllegal, 0)
		return nil, err
	}
	c.cache.insert(tb)
	if dumpPCs != nil {
		c.dump(tb)
	}
	for _, r := range code {
		if r.N != 0 {
			h.Mem.MarkCode(&h.State, r.PA, r.N)
		}
	}
	c.Stats.Blocks++
	return tb, nil
}

var errFetch = errors.New("tcg: instruction fetch fault")

// ReserveProcs raises GOMAXPROCS to at least cpus+2 and returns a function
// that restores it. A CPU running native code holds its P (Go's scheduler
// cannot preempt generated code), so with no P to spare the goroutines
// that make it return to Go (the budget timer, device timers, the signal
// handler) never run and every CPU spins forever. Extra Ps cost nothing
// but OS threads; the OS shares the cores among them.
func ReserveProcs(cpus int) (restore func()) {
	prev := runtime.GOMAXPROCS(0)
	if prev >= cpus+2 {
		return func() {}
	}
	runtime.GOMAXPROCS(cpus + 2)
	return func() { runtime.GOMAXPROCS(prev) }
}
