package legacy

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// fifoSize is the depth of the 16550A receive FIFO.
const fifoSize = 16

// triggerLevels maps FCR bits 7:6 to the receive trigger level.
var triggerLevels = [4]int{1, 4, 8, 14}

// Output buffering defaults; see UARTConfig.
const (
	DefaultFlushDelay  = 5 * time.Millisecond
	DefaultFlushSize   = 4096
	DefaultMaxBuffered = 64 << 10
)

// UARTConfig configures a UART. The zero value is a byte-wide UART with no
// interrupt line whose output is discarded.
type UARTConfig struct {
	// Out receives the bytes the guest transmits. Writes are batched (see
	// FlushDelay and FlushSize); nil discards the output.
	Out io.Writer

	// IRQ is driven with the UART's INTR output. Nil leaves the guest to
	// poll, which Linux's 8250 driver does when the port has no IRQ.
	IRQ IRQLine

	// RegShift selects the register as offset >> RegShift: 0 for x86 port
	// I/O and for QEMU-style riscv64 MMIO UARTs, 2 for SoCs whose device
	// tree says reg-shift = <2>. At most 3.
	RegShift uint

	// RegIOWidth is the access width the registers answer to (the device
	// tree's reg-io-width). 0 accepts any width: the register is the low
	// byte of the access, the upper bytes read as zero and are ignored on
	// write. 1, 2, 4 or 8 honour only accesses of exactly that width;
	// others read as zero, are dropped and counted in BadAccesses.
	RegIOWidth int

	// OUT2GatesIRQ models the PC wiring in which MCR.OUT2 enables the
	// UART's interrupt onto the ISA bus (and loopback mode disconnects it).
	// QEMU, Firecracker and Cloud Hypervisor do not model it; Linux sets
	// OUT2 before enabling interrupts either way.
	OUT2GatesIRQ bool

	// FlushDelay is how long output waits after the first unflushed byte
	// before it is written to Out (default DefaultFlushDelay). FlushSize
	// flushes earlier once that many bytes are buffered (default
	// DefaultFlushSize). MaxBuffered bounds the buffer: a guest that
	// outruns Out waits in its THR write until there is room (default
	// DefaultMaxBuffered), so a slow terminal slows the guest instead of
	// losing output.
	FlushDelay  time.Duration
	FlushSize   int
	MaxBuffered int
}

// UARTMetrics counts UART events. Fields are atomic and may be read while
// the guest runs.
type UARTMetrics struct {
	TxBytes       atomic.Uint64 // bytes the guest transmitted outside loopback
	TxFlushes     atomic.Uint64 // Write calls on the output io.Writer
	TxWriteErrors atomic.Uint64 // failed Write calls on the output io.Writer
	TxDropped     atomic.Uint64 // bytes lost to write errors or sent after Close
	RxBytes       atomic.Uint64 // host bytes accepted into the receive FIFO
	RxOverruns    atomic.Uint64 // loopback characters lost to a full FIFO (LSR.OE)
	BadAccesses   atomic.Uint64 // accesses ignored for their offset or width
}

// UART is an 8250/16550A serial port. It implements bus.Device.
//
// Transmission is instantaneous: a byte written to THR is handed to the
// output buffer at once, so LSR.THRE and LSR.TEMT always read as set and a
// THRE interrupt follows every THR write while ETBEI is enabled, as it would
// on hardware whose line is infinitely fast. Reception never loses host
// bytes: Feed waits while the receive FIFO is full.
type UART struct {
	regShift  uint
	ioWidth   int
	out2Gates bool
	irq       IRQLine
	out       *outBuffer
	metrics   UARTMetrics

	mu sync.Mutex
	// rxSpace is signalled (with mu) when a waiting feeder may make
	// progress: FIFO space freed, loopback left, or Close.
	rxSpace sync.Cond

	rx             [fifoSize]byte
	rxHead, rxLen  int
	lastRX         byte // what RBR reads when the FIFO is empty
	feedersWaiting int
	closed         bool

	ier, lcr, mcr, scr, dll, dlm byte
	lsrErr                       byte // latched LSR error bits, cleared by reading LSR
	msrLines                     byte // modem lines as last reported, for the delta bits
	msrDelta                     byte // MSR bits 0-3, cleared by reading MSR
	fifoEnabled                  bool
	trigger                      int
	// thrPending is the THRE interrupt latch: set when THR becomes empty
	// or ETBEI is newly enabled while it is empty; cleared by writing THR,
	// by reading IIR while THRE is the reported source, and by disabling
	// ETBEI (16550A datasheet, table 4, "reset control" column).
	thrPending bool
	irqLevel   bool
}

// NewUART returns a UART in its power-on state and starts the goroutine
// that flushes its output. Call Close when the machine stops, so buffered
// output is written and the goroutine ends.
func NewUART(cfg UARTConfig) (*UART, error) {
	if cfg.RegShift > 3 {
		return nil, fmt.Errorf("legacy: uart: register shift %d: want 0..3", cfg.RegShift)
	}
	switch cfg.RegIOWidth {
	case 0, 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("legacy: uart: register I/O width %d: want 0, 1, 2, 4 or 8", cfg.RegIOWidth)
	}
	if cfg.FlushSize < 0 || cfg.MaxBuffered < 0 || cfg.FlushDelay < 0 {
		return nil, fmt.Errorf("legacy: uart: negative output buffering setting (delay %v, size %d, max %d)",
			cfg.FlushDelay, cfg.FlushSize, cfg.MaxBuffered)
	}
	w := cfg.Out
	if w == nil {
		w = io.Discard
	}
	delay, size, maxBuf := cfg.FlushDelay, cfg.FlushSize, cfg.MaxBuffered
	if delay == 0 {
		delay = DefaultFlushDelay
	}
	if size == 0 {
		size = DefaultFlushSize
	}
	if maxBuf == 0 {
		maxBuf = DefaultMaxBuffered
	}
	if maxBuf < size {
		maxBuf = size
	}
	u := &UART{
		regShift:  cfg.RegShift,
		ioWidth:   cfg.RegIOWidth,
		out2Gates: cfg.OUT2GatesIRQ,
		irq:       cfg.IRQ,
	}
	u.rxSpace.L = &u.mu
	u.out = newOutBuffer(w, delay, size, maxBuf, &u.metrics)
	u.mu.Lock()
	u.resetLocked()
	u.mu.Unlock()
	return u, nil
}

// Metrics returns the UART's counters.
func (u *UART) Metrics() *UARTMetrics { return &u.metrics }

// Reset puts the registers in their power-on state (16550A datasheet, table
// "UART reset configuration") and empties the receive FIFO, as the master
// reset pin would. Buffered output is kept.
func (u *UART) Reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.resetLocked()
	u.updateIRQLocked()
}

// Precondition: u.mu held.
func (u *UART) resetLocked() {
	u.ier, u.lcr, u.mcr, u.scr, u.lsrErr, u.msrDelta = 0, 0, 0, 0, 0, 0
	// The divisor is undefined at reset. 1 (115200 baud from the PC's
	// 1.8432 MHz clock) rather than 0: Linux's earlycon without a baud
	// rate divides by the divisor it reads (8250_early.c probe_baud).
	u.dll, u.dlm = 1, 0
	u.fifoEnabled = false
	u.trigger = 1
	u.thrPending = false
	u.lastRX = 0
	u.resetRXLocked()
	u.msrLines = u.modemLinesLocked()
}

// Read implements bus.Device.
func (u *UART) Read(off uint64, data []byte) {
	clear(data)
	reg, ok := u.decode(off, len(data))
	if !ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	data[0] = u.readLocked(reg)
	u.updateIRQLocked()
}

// Write implements bus.Device. A THR write outside loopback may wait for
// room in the output buffer; it does so without holding the UART's lock.
func (u *UART) Write(off uint64, data []byte) {
	reg, ok := u.decode(off, len(data))
	if !ok {
		return
	}
	v := data[0]
	u.mu.Lock()
	emit := u.writeLocked(reg, v)
	u.updateIRQLocked()
	u.mu.Unlock()
	if emit {
		u.out.writeByte(v)
	}
}

// Flush writes all buffered output to the output writer and returns the
// first error the writer reported since the last Flush.
func (u *UART) Flush() error { return u.out.flush() }

// Close ends the UART's host side: feeders waiting for FIFO space return
// ErrClosed, buffered output is flushed and the flushing goroutine stops.
// Later THR writes are dropped (and counted). Register accesses keep
// working, so vCPUs still running during shutdown are unaffected. Close
// waits until the output writer has taken the buffered bytes, so a writer
// that never returns blocks it. Close is idempotent; it returns the output
// writer's error, if any.
func (u *UART) Close() error {
	u.mu.Lock()
	u.closed = true
	u.rxSpace.Broadcast()
	u.mu.Unlock()
	return u.out.close()
}

// decode maps an access to a register number, or reports that the access
// hits no register: a width the UART does not answer to, the upper bytes of
// a shifted register, or an offset past SCR.
func (u *UART) decode(off uint64, n int) (int, bool) {
	if n == 0 || (u.ioWidth != 0 && n != u.ioWidth) || off&(1<<u.regShift-1) != 0 || off>>u.regShift > regSCR {
		u.metrics.BadAccesses.Add(1)
		return 0, false
	}
	return int(off >> u.regShift), true
}
