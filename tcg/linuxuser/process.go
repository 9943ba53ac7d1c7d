// Package linuxuser runs a static riscv64 Linux program on the translator
// with a small system-call layer, as qemu-riscv64 does: the tests'
// differential harness and `govmm user` are built on it.
//
// The guest's address space is one flat region of host memory reserved
// without backing (MAP_NORESERVE) and mapped with identity translation: the
// program's virtual address is the offset in that region. The ELF segments,
// the brk heap, mmap'd memory and the stack are parts of it; the first 64
// KiB stay unmapped so that null pointers fault. Threads (clone with
// CLONE_VM|CLONE_THREAD, which Go's runtime needs) are CPUs on the same
// memory, each run by its own goroutine; futexes are real.
//
// What it does not do: deliver signals (rt_sigaction is accepted and
// ignored, so a fault ends the program with the signal's exit status),
// enforce page protections, fork or exec.
package linuxuser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/tcg"
	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/riscv"
)

// Config describes a program run.
type Config struct {
	// Path is the ELF file; Args[0] is the program name the guest sees.
	Path string
	Args []string
	Env  []string
	// Stdin, Stdout and Stderr are the guest's fds 0, 1 and 2 (nil:
	// empty input, discarded output).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Warn receives one line per unimplemented system call (first use
	// only); nil discards them.
	Warn io.Writer
	// MemSize is the size of the guest address space (0: 16 GiB).
	MemSize uint64
	// MaxBlockInsns bounds translation blocks (0: default).
	MaxBlockInsns int
	// NCPU is the CPU count the guest sees in sched_getaffinity (0: 1).
	NCPU int
	// Backend picks the translator's code generator (tcg.Backend*).
	Backend string
}

// Result is how the program ended.
type Result struct {
	// ExitCode is the exit status (128+signal for a fatal signal).
	ExitCode int
	// Signal is the fatal signal, 0 for a normal exit.
	Signal int
	// Detail describes a fatal signal: the exception and registers.
	Detail string
	// Instret is the instructions retired by all threads.
	Instret uint64
	// Stats sums the engine's counters over all threads.
	Stats tcg.Stats
}

// Process is a running program.
type Process struct {
	cfg  Config
	mem  *env.Memory
	host []byte // the whole address space
	as   addrSpace

	mu      sync.Mutex
	threads map[int]*thread
	nextTID int
	exited  bool
	result  Result
	done    chan struct{}
	wg      sync.WaitGroup

	futex   futexTable
	files   fileTable
	poll    pollState
	warned  sync.Map
	instret atomic.Uint64
	statsMu sync.Mutex
	stats   tcg.Stats

	exePath string
}

type thread struct {
	p   *Process
	cpu *tcg.CPU
	tid int
	// clearTID is the CLONE_CHILD_CLEARTID / set_tid_address word.
	clearTID uint64
}

// Signals the harness reports.
const (
	SIGILL  = 4
	SIGTRAP = 5
	SIGBUS  = 7
	SIGSEGV = 11
	SIGKILL = 9
)

// Run loads and runs the program until it exits or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	p, err := newProcess(cfg)
	if err != nil {
		return Result{}, err
	}
	defer p.close()
	main, err := p.load()
	if err != nil {
		return Result{}, err
	}
	// Guest threads run native code that holds a P each; keep Ps to
	// spare for the timers and signals that make them return (restored
	// when the program ends).
	prevProcs := runtime.GOMAXPROCS(0)
	defer func() {
		if runtime.GOMAXPROCS(0) != prevProcs {
			runtime.GOMAXPROCS(prevProcs)
		}
	}()
	p.start(ctx, main)
	select {
	case <-p.done:
	case <-ctx.Done():
		p.exit(Result{ExitCode: 128 + SIGKILL, Signal: SIGKILL, Detail: "interrupted"})
	}
	p.wg.Wait()
	p.mu.Lock()
	res := p.result
	p.mu.Unlock()
	res.Instret = p.instret.Load()
	p.statsMu.Lock()
	res.Stats = p.stats
	p.statsMu.Unlock()
	return res, nil
}

func newProcess(cfg Config) (*Process, error) {
	if cfg.MemSize == 0 {
		cfg.MemSize = 16 << 30
	}
	cfg.MemSize &^= env.PageMask
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	host, err := reserve(cfg.MemSize)
	if err != nil {
		return nil, fmt.Errorf("reserve %d GiB of guest address space: %w", cfg.MemSize>>30, err)
	}
	p := &Process{cfg: cfg, host: host, threads: map[int]*thread{}, nextTID: 1000, done: make(chan struct{})}
	p.mem = env.NewMemory(nil)
	if err := p.mem.AddRAM(lowLimit, host[lowLimit:]); err != nil {
		release(host)
		return nil, err
	}
	p.as.init(cfg.MemSize)
	p.futex.init()
	p.files.init(cfg)
	p.exePath = cfg.Path
	return p, nil
}

func (p *Process) close() {
	p.files.closeAll()
	release(p.host)
}

// newThread creates a CPU for a new thread.
func (p *Process) newThread() (*thread, error) {
	p.mu.Lock()
	tid := p.nextTID
	p.nextTID++
	p.mu.Unlock()
	cpu, err := tcg.New(tcg.Config{
		Memory: p.mem, HartID: tid, MaxBlockInsns: p.cfg.MaxBlockInsns, Backend: p.cfg.Backend,
		Flat: &tcg.Flat{MMUIdx: 0, Base: lowLimit, Size: p.cfg.MemSize - lowLimit},
	})
	if err != nil {
		return nil, err
	}
	return &thread{p: p, cpu: cpu, tid: tid}, nil
}

// start runs t on a new goroutine.
func (p *Process) start(ctx context.Context, t *thread) {
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		t.cpu.Close()
		return
	}
	p.threads[t.tid] = t
	running := len(p.threads)
	p.wg.Add(1)
	p.mu.Unlock()
	if runtime.GOMAXPROCS(0) < running+2 {
		runtime.GOMAXPROCS(running + 2) // see tcg.ReserveProcs
	}
	go func() {
		defer p.wg.Done()
		t.run(ctx)
	}()
}

// exit ends the process with r (the first call wins) and stops every
// thread.
func (p *Process) exit(r Result) {
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		return
	}
	p.exited = true
	p.result = r
	ts := make([]*thread, 0, len(p.threads))
	for _, t := range p.threads {
		ts = append(ts, t)
	}
	p.mu.Unlock()
	for _, t := range ts {
		t.cpu.Stop()
	}
	p.futex.wakeAll()
	close(p.done)
}

// threadExit removes t; the last thread's exit ends the process.
func (p *Process) threadExit(t *thread, code int) {
	p.mu.Lock()
	delete(p.threads, t.tid)
	last := len(p.threads) == 0
	p.mu.Unlock()
	if last {
		p.exit(Result{ExitCode: code & 0xff})
	}
}

func (p *Process) exiting() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (t *thread) run(ctx context.Context) {
	p := t.p
	h := t.cpu.Hart
	defer func() {
		p.instret.Add(h.Instret)
		p.statsMu.Lock()
		p.stats.Blocks += t.cpu.Stats.Blocks
		p.stats.Lookups += t.cpu.Stats.Lookups
		p.stats.JCMisses += t.cpu.Stats.JCMisses
		p.stats.Invalidations += t.cpu.Stats.Invalidations
		p.stats.NativeEnters += t.cpu.Stats.NativeEnters
		p.stats.SlowLoads += t.cpu.Stats.SlowLoads
		p.stats.SlowStores += t.cpu.Stats.SlowStores
		p.stats.HelperCalls += t.cpu.Stats.HelperCalls
		p.statsMu.Unlock()
		t.cpu.Close()
	}()
	for {
		if p.exiting() {
			return
		}
		ev, err := t.cpu.Run(ctx)
		if err != nil {
			p.exit(Result{ExitCode: 128 + SIGSEGV, Signal: SIGSEGV, Detail: err.Error() + "\n" + h.Dump()})
			return
		}
		switch ev.Kind {
		case tcg.EventSyscall:
			h.PC += 4
			h.Instret++
			if done := t.syscall(ctx); done {
				return
			}
		case tcg.EventStopped:
			return
		case tcg.EventBreakpoint:
			p.exit(Result{ExitCode: 128 + SIGTRAP, Signal: SIGTRAP, Detail: fmt.Sprintf("breakpoint at %#x\n%s", ev.PC, h.Dump())})
			return
		case tcg.EventException:
			sig := SIGSEGV
			switch ev.Cause {
			case riscv.CauseIllegal:
				sig = SIGILL
			case riscv.CauseLoadMisaligned, riscv.CauseStoreMisaligned, riscv.CauseInsnMisaligned:
				sig = SIGBUS
			}
			p.exit(Result{ExitCode: 128 + sig, Signal: sig, Detail: fmt.Sprintf("%v\n%s", ev, h.Dump())})
			return
		default:
			p.exit(Result{ExitCode: 128 + SIGILL, Signal: SIGILL, Detail: fmt.Sprintf("unexpected %v\n%s", ev, h.Dump())})
			return
		}
	}
}

// guest memory helpers (identity-mapped).

var errFault = errors.New("bad address")

func (p *Process) bytes(va, n uint64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	b, ok := p.mem.RAM(va, n)
	if !ok {
		return nil, errFault
	}
	return b, nil
}

func (p *Process) cstring(va uint64) (string, error) {
	const max = 4096
	var out []byte
	for i := uint64(0); i < max; i++ {
		b, ok := p.mem.RAM(va+i, 1)
		if !ok {
			return "", errFault
		}
		if b[0] == 0 {
			return string(out), nil
		}
		out = append(out, b[0])
	}
	return "", errFault
}

func (p *Process) warnOnce(key string, msg string) {
	if _, loaded := p.warned.LoadOrStore(key, true); loaded || p.cfg.Warn == nil {
		return
	}
	fmt.Fprintln(p.cfg.Warn, msg)
}
