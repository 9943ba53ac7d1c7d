package tcg

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/riscv"
	"github.com/govmm/govmm/tcg/riscv/rvasm"
)

// The privileged architecture (Config.System), tested with bare-metal
// programs: testdata/system/*.S, assembled with the riscv64 cross compiler
// at test time and run on both backends on a machine of 2 MiB of RAM at
// 0x80000000 and a test device. A program reports what it observes (CSR
// values after traps, page-table entries, values read through mappings) by
// writing to the device's log register, and ends by writing its done
// register; the test compares the log with what the RISC-V privileged
// specification (20211203) requires.

const (
	sysRAMBase = 0x80000000
	sysRAMSize = 2 << 20
	sysDevBase = 0x100000 // DEV in testdata/system/common.h

	devDone   = 0
	devLog    = 8
	devIRQSet = 16
	devIRQClr = 24
)

// sysProgram is an assembled program.
type sysProgram struct {
	name  string
	image []byte // RAM contents from sysRAMBase
	syms  map[string]uint64
}

// needCrossGCC returns the riscv64 cross compiler or skips the test.
func needCrossGCC(t testing.TB) string {
	t.Helper()
	g, err := exec.LookPath("riscv64-linux-gnu-gcc")
	if err != nil {
		t.Skip("riscv64-linux-gnu-gcc not installed (make deps installs gcc-riscv64-linux-gnu)")
	}
	return g
}

// buildSys assembles testdata/system/<name>.S and loads its segments into
// a RAM image.
func buildSys(t testing.TB, name string) *sysProgram {
	t.Helper()
	gcc := needCrossGCC(t)
	src, err := filepath.Abs(filepath.Join("testdata", "system", name+".S"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), name+".elf")
	cmd := exec.Command(gcc, "-march=rv64imafd_zicsr_zifencei", "-mabi=lp64d",
		"-nostdlib", "-nostartfiles", "-static", "-no-pie", "-fno-pic",
		"-Wl,-Ttext=0x80000000", "-Wl,-n", "-Wl,--no-relax", "-Wl,--build-id=none",
		"-Wl,--no-warn-rwx-segments", "-o", out, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("assembling %s: %v\n%s", name, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &sysProgram{name: name, image: make([]byte, sysRAMSize), syms: map[string]uint64{}}
	for _, ph := range f.Progs {
		if ph.Type != elf.PT_LOAD {
			continue
		}
		if ph.Vaddr < sysRAMBase || ph.Vaddr+ph.Memsz > sysRAMBase+sysRAMSize {
			t.Fatalf("%s: segment %#x+%#x is not in RAM", name, ph.Vaddr, ph.Memsz)
		}
		if _, err := ph.ReadAt(p.image[ph.Vaddr-sysRAMBase:ph.Vaddr-sysRAMBase+ph.Filesz], 0); err != nil {
			t.Fatal(err)
		}
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name != "" {
			p.syms[s.Name] = s.Value
		}
	}
	return p
}

// sym returns the address of a label.
func (p *sysProgram) sym(t testing.TB, name string) uint64 {
	t.Helper()
	v, ok := p.syms[name]
	if !ok {
		t.Fatalf("%s: no symbol %q", p.name, name)
	}
	return v
}

// insn returns the 32-bit instruction at a label.
func (p *sysProgram) insn(t testing.TB, name string) uint64 {
	a := p.sym(t, name)
	return uint64(binary.LittleEndian.Uint32(p.image[a-sysRAMBase:]))
}

// sysDev is the test device: a log, a done register and interrupt lines.
type sysDev struct {
	cpu *CPU

	mu   sync.Mutex
	log  []uint64
	done bool
}

func (d *sysDev) Read(addr uint64, data []byte) bool {
	if addr&^env.PageMask != sysDevBase {
		return false
	}
	clear(data)
	return true
}

func (d *sysDev) Write(addr uint64, data []byte) bool {
	if addr&^env.PageMask != sysDevBase {
		return false
	}
	var buf [8]byte
	copy(buf[:], data)
	v := binary.LittleEndian.Uint64(buf[:])
	switch addr - sysDevBase {
	case devDone:
		d.mu.Lock()
		d.done = true
		d.mu.Unlock()
		d.cpu.Stop()
	case devLog:
		d.mu.Lock()
		d.log = append(d.log, v)
		d.mu.Unlock()
	case devIRQSet:
		d.cpu.SetIRQ(v, true)
	case devIRQClr:
		d.cpu.SetIRQ(v, false)
	}
	return true
}

// snapshot returns the log so far and whether the program finished.
func (d *sysDev) snapshot() ([]uint64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]uint64(nil), d.log...), d.done
}

// waitLog waits until the log holds v (from another goroutine than the
// hart's).
func (d *sysDev) waitLog(v uint64, timeout time.Duration) bool {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		log, _ := d.snapshot()
		for _, x := range log {
			if x == v {
				return true
			}
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// sysTimer models the supervisor timer of a machine with Sstc: time counts
// microseconds, and STIP is raised on the hart's lines while time >=
// stimecmp.
type sysTimer struct {
	start time.Time
	cpu   *CPU

	mu       sync.Mutex
	deadline uint64
	timer    *time.Timer
	closed   bool
}

func (tm *sysTimer) now() uint64 { return uint64(time.Since(tm.start) / time.Microsecond) }

func (tm *sysTimer) set(deadline uint64) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.deadline = deadline
	tm.arm()
}

// arm raises or lowers STIP for the deadline and schedules the next check.
// Precondition: tm.mu held.
func (tm *sysTimer) arm() {
	if tm.timer != nil {
		tm.timer.Stop()
		tm.timer = nil
	}
	now := tm.now()
	if now >= tm.deadline {
		tm.cpu.SetIRQ(riscv.MipSTIP, true)
		return
	}
	tm.cpu.SetIRQ(riscv.MipSTIP, false)
	if d := tm.deadline - now; d < uint64(time.Hour/time.Microsecond) && !tm.closed {
		tm.timer = time.AfterFunc(time.Duration(d)*time.Microsecond, func() {
			tm.mu.Lock()
			defer tm.mu.Unlock()
			if !tm.closed {
				tm.arm()
			}
		})
	}
}

func (tm *sysTimer) close() {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.closed = true
	if tm.timer != nil {
		tm.timer.Stop()
	}
}

// sysMachine is a hart with the privileged architecture on the test
// machine, loaded with a program.
type sysMachine struct {
	cpu   *CPU
	ram   []byte
	dev   *sysDev
	timer *sysTimer
	prog  *sysProgram
}

func newSysMachine(t testing.TB, backend string, p *sysProgram, machineMode bool) *sysMachine {
	t.Helper()
	m := &sysMachine{ram: make([]byte, sysRAMSize), dev: &sysDev{}, prog: p}
	copy(m.ram, p.image)
	mem := env.NewMemory(m.dev)
	if err := mem.AddRAM(sysRAMBase, m.ram); err != nil {
		t.Fatal(err)
	}
	m.timer = &sysTimer{start: time.Now(), deadline: ^uint64(0)}
	cpu, err := New(Config{Memory: mem, Backend: backend, System: &riscv.SystemConfig{
		MachineMode: machineMode,
		Time:        func() uint64 { return m.timer.now() },
		SetTimer:    func(d uint64) { m.timer.set(d) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	m.cpu, m.dev.cpu, m.timer.cpu = cpu, cpu, cpu
	t.Cleanup(func() {
		m.timer.close()
		cpu.Close()
	})
	cpu.Hart.PC = sysRAMBase
	return m
}

// ecallHandler serves an ECALL from S mode that Run reported (M mode is
// the VMM's); it returns an error to fail the test.
type ecallHandler func(m *sysMachine) error

// run runs the program until it writes the device's done register. ecall,
// if set, serves ECALLs from S mode; any other event fails the test.
func (m *sysMachine) run(t testing.TB, ecall ecallHandler) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		ev, err := m.cpu.Run(ctx)
		log, done := m.dev.snapshot()
		if err != nil {
			t.Fatalf("%s: Run: %v\nlog %#x\n%s", m.prog.name, err, log, m.cpu.Hart.Dump())
		}
		if done {
			return log
		}
		if ev.Kind == EventException && ev.Cause == riscv.CauseEcallS && ecall != nil {
			if err := ecall(m); err != nil {
				t.Fatalf("%s: ecall at %#x: %v\nlog %#x", m.prog.name, ev.PC, err, log)
			}
			continue
		}
		what := ev.String()
		if ev.Kind == EventStopped && ctx.Err() != nil {
			what = "timed out"
		}
		t.Fatalf("%s: %s before the program finished\nlog %#x\n%s", m.prog.name, what, log, m.cpu.Hart.Dump())
	}
}

// chk is one expected log entry: a description and a value, which is a
// number, a label of the program ("name", "name+0x10"), or the instruction
// bits at a label ("insn:name").
type chk struct {
	what string
	v    any
}

func (p *sysProgram) resolve(t testing.TB, v any) (uint64, string) {
	t.Helper()
	switch v := v.(type) {
	case int:
		return uint64(v), ""
	case uint64:
		return v, ""
	case string:
		if name, ok := strings.CutPrefix(v, "insn:"); ok {
			return p.insn(t, name), v
		}
		name, off, _ := strings.Cut(v, "+")
		a := p.sym(t, name)
		if off != "" {
			n, err := strconv.ParseUint(off, 0, 64)
			if err != nil {
				t.Fatalf("bad offset in %q", v)
			}
			a += n
		}
		return a, v
	}
	t.Fatalf("bad expectation %T", v)
	return 0, ""
}

// checkLog compares a program's log with the expected entries and reports
// every entry on a mismatch.
func checkLog(t testing.TB, p *sysProgram, got []uint64, want []chk) {
	t.Helper()
	bad := len(got) != len(want)
	var b strings.Builder
	for i := 0; i < len(got) || i < len(want); i++ {
		mark, desc, g, w := " ", "", "-", "-"
		if i < len(got) {
			g = fmt.Sprintf("%#x", got[i])
		}
		if i < len(want) {
			v, label := p.resolve(t, want[i].v)
			desc = want[i].what
			w = fmt.Sprintf("%#x", v)
			if label != "" {
				w += " (" + label + ")"
			}
			if i >= len(got) || got[i] != v {
				mark, bad = "*", true
			}
		} else {
			mark = "*"
		}
		fmt.Fprintf(&b, "%s %3d %-52s got %-20s want %s\n", mark, i, desc, g, w)
	}
	if bad {
		t.Errorf("%s: the log differs from what the specification requires (* marks differences):\n%s", p.name, b.String())
	}
}

// runSys assembles a program and runs it on every backend, checking its
// log.
func runSys(t *testing.T, name string, machineMode bool, want []chk) {
	runSysProg(t, buildSys(t, name), machineMode, want)
}

func runSysProg(t *testing.T, p *sysProgram, machineMode bool, want []chk) {
	forBackends(t, func(t *testing.T, backend string) {
		m := newSysMachine(t, backend, p, machineMode)
		checkLog(t, p, m.run(t, nil), want)
	})
}

// trap is the four entries the M-mode handlers of traps.S log.
func trap(cause, epc, tval any, stacks uint64) []chk {
	return []chk{{"mcause", cause}, {"mepc", epc}, {"mtval", tval}, {"mstatus stacks", stacks}}
}

const (
	mppS = 1 << 11
	mppM = 3 << 11
	mpie = 1 << 7
	mie  = 1 << 3
	spp  = 1 << 8
	spie = 1 << 5
	sie  = 1 << 1
)

func cat(parts ...[]chk) []chk {
	var all []chk
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// TestSystemTraps: ECALL from M, S and U (causes 11, 9, 8), illegal
// instructions with mtval holding the instruction, EBREAK with mtval its
// address, access faults with mtval the address, M CSRs and MRET from S,
// S CSRs, SRET, WFI and SFENCE.VMA from U, and the MPP/MPIE/MIE stack
// across trap entry and MRET (privileged spec 3.1.6.1, 3.1.15-16, 3.3.2).
func TestSystemTraps(t *testing.T) {
	runSys(t, "traps", true, cat(
		trap(riscv.CauseEcallM, "m_ecall", 0, mppM),
		trap(riscv.CauseIllegal, "m_illegal", "insn:m_illegal", mppM),
		trap(riscv.CauseIllegal, "m_csr", "insn:m_csr", mppM),
		trap(riscv.CauseBreakpoint, "m_ebreak", "m_ebreak", mppM),
		trap(riscv.CauseEcallM, "m_ecall_mie", 0, mppM|mpie),
		[]chk{{"mstatus after MRET (MIE restored, MPIE set, MPP=U)", mie | mpie}},
		trap(riscv.CauseEcallS, "s_ecall", 0, mppS),
		[]chk{{"sstatus in S (UXL=64)", uint64(2) << 32}},
		trap(riscv.CauseIllegal, "s_mstatus", "insn:s_mstatus", mppS),
		trap(riscv.CauseIllegal, "s_mscratch", "insn:s_mscratch", mppS),
		trap(riscv.CauseIllegal, "s_mhartid", "insn:s_mhartid", mppS),
		trap(riscv.CauseIllegal, "s_mret", "insn:s_mret", mppS),
		trap(riscv.CauseBreakpoint, "s_ebreak", "s_ebreak", mppS),
		trap(riscv.CauseLoadAccess, "s_fault", 8, mppS),
		trap(riscv.CauseStoreAccess, "s_sfault", 16, mppS),
		trap(riscv.CauseEcallU, "u_ecall", 0, spie),
		trap(riscv.CauseIllegal, "u_sstatus", "insn:u_sstatus", spie),
		trap(riscv.CauseIllegal, "u_sret", "insn:u_sret", spie),
		trap(riscv.CauseIllegal, "u_wfi", "insn:u_wfi", spie),
		trap(riscv.CauseIllegal, "u_sfence", "insn:u_sfence", spie),
		trap(riscv.CauseBreakpoint, "u_ebreak", "u_ebreak", spie),
		trap(riscv.CauseInsnAccess, 0x1000, 0x1000, spie),
		trap(riscv.CauseEcallU, "u_exit+4", 0, spie),
	))
}

// tagged is the five entries the handlers of deleg.S log: which mode took
// the trap ('M' or 'S'), cause, epc, tval and the status stacks (sstatus
// for S: no M fields).
func tagged(mode byte, cause, epc, tval any, stacks uint64) []chk {
	x := "m"
	if mode == 'S' {
		x = "s"
	}
	return []chk{{"trap taken in " + string(mode), int(mode)}, {x + "cause", cause}, {x + "epc", epc},
		{x + "tval", tval}, {x + "status stacks", stacks}}
}

// TestSystemDelegation: medeleg sends exceptions from S and U to S but not
// from M; ECALL from S and undelegated causes still go to M; the
// SPP/SPIE/SIE stack across S traps and SRET; medeleg and mideleg WARL
// masks; sstatus as a view of mstatus (privileged spec 3.1.8, 4.1.1).
func TestSystemDelegation(t *testing.T) {
	const uxl = 2 << 32
	runSys(t, "deleg", true, cat(
		[]chk{{"medeleg WARL (all but 10, 11, 14)", 0xb3ff}, {"mideleg WARL (SSI, STI, SEI)", 0x222}},
		tagged('M', riscv.CauseIllegal, "m_illegal", "insn:m_illegal", mppM),
		tagged('M', riscv.CauseBreakpoint, "m_ebreak", "m_ebreak", mppM),
		tagged('S', riscv.CauseIllegal, "s_illegal", "insn:s_illegal", spp|spie),
		[]chk{{"sstatus after SRET: SIE=1 SPIE=1 SPP=U", sie | spie}},
		tagged('S', riscv.CauseIllegal, "s_mstatus", "insn:s_mstatus", spp|spie),
		tagged('M', riscv.CauseEcallS, "s_ecall", 0, mppS|mpie|spie|sie),
		[]chk{{"sstatus after writing all ones", uint64(1)<<63 | uxl | 0xc6122}, {"sstatus after writing zero", uxl}},
		tagged('S', riscv.CauseEcallU, "u_ecall", 0, 0),
		tagged('S', riscv.CauseBreakpoint, "u_ebreak", "u_ebreak", 0),
		tagged('S', riscv.CauseIllegal, "u_illegal", "insn:u_illegal", 0),
		tagged('M', riscv.CauseLoadAccess, "u_fault", 8, mpie|spie),
		tagged('S', riscv.CauseEcallU, "u_exit+4", 0, 0),
	))
}

const intr uint64 = riscv.CauseInterrupt

// TestSystemInterrupts: vectored mtvec, priority of simultaneous M
// interrupts, MIE honoured in M and ignored below M, interrupts taken as
// soon as a CSR write enables them, a software interrupt delegated to S
// (taken in S only with SIE, in U always, never in M) (privileged spec
// 3.1.7, 3.1.9, 3.3.2).
func TestSystemInterrupts(t *testing.T) {
	runSys(t, "intr", true, []chk{
		{"mtvec (vectored)", "mvec+1"},
		{"mip: MEIP pending, MIE clear: not taken", riscv.MipMEIP},
		{"MEI handler (base+4*11)", 0x10b}, {"mcause", intr | riscv.IntMEI}, {"mepc: right after MIE was set", "after_mie"},
		{"mstatus stacks", mppM | mpie},
		{"after the MEI", 0x1001},
		{"MEI first", 0x10b}, {"mcause", intr | riscv.IntMEI}, {"mepc", "after_mie2"}, {"mstatus stacks", mppM | mpie},
		{"then MSI", 0x103}, {"mcause", intr | riscv.IntMSI}, {"mepc", "after_mie2"},
		{"then MTI", 0x107}, {"mcause", intr | riscv.IntMTI}, {"mepc", "after_mie2"},
		{"after the three", 0x1002},
		{"MTI taken as soon as mie enables it", 0x107}, {"mcause", intr | riscv.IntMTI}, {"mepc", "after_mie3"},
		{"after the MTI", 0x1003},
		{"exception at the vector base", 0x100}, {"mcause", riscv.CauseEcallM}, {"mepc", "m_ecall"},
		{"mip: SSIP delegated, pending in M, not taken", riscv.MipSSIP},
		{"sip in S: SSIP pending, SIE clear", riscv.MipSSIP},
		{"sie: SSIE only (M bits hidden)", riscv.MipSSIP},
		{"SSI taken in S", 0x201}, {"scause", intr | riscv.IntSSI}, {"sepc: right after SIE was set", "after_sie"},
		{"sstatus stacks", spp | spie},
		{"after the SSI", 0x2001},
		{"MEI taken from S with MIE clear", 0x10b}, {"mcause", intr | riscv.IntMEI}, {"mepc", "s_spin"},
		{"mstatus stacks", mppS | spie | sie},
		{"after the MEI", 0x2002},
		{"sip: SSIP pending, SIE clear", riscv.MipSSIP},
		{"SSI taken in U with SIE clear", 0x201}, {"scause", intr | riscv.IntSSI}, {"sepc", "u_code"}, {"sstatus stacks", 0},
		{"ecall from U", 0x100}, {"mcause", riscv.CauseEcallU}, {"mepc", "u_code+12"},
	})
}

// TestSystemWFI: WFI waits inside Run (the hart is still before the WFI's
// successor when the test raises the line from another goroutine), wakes
// on a pending interrupt enabled in mie whatever the global enables, and
// the interrupt is then taken if enabled (privileged spec 3.3.3).
func TestSystemWFI(t *testing.T) {
	p := buildSys(t, "wfi")
	forBackends(t, func(t *testing.T, backend string) {
		m := newSysMachine(t, backend, p, true)
		errc := make(chan error, 1)
		go func() {
			for _, step := range []struct {
				marker uint64
				line   uint64
			}{{1, riscv.MipMEIP}, {4, riscv.MipMEIP}, {6, riscv.MipSEIP}} {
				if !m.dev.waitLog(step.marker, 10*time.Second) {
					errc <- fmt.Errorf("the program never logged %d", step.marker)
					return
				}
				time.Sleep(20 * time.Millisecond)
				if log, _ := m.dev.snapshot(); log[len(log)-1] != step.marker {
					errc <- fmt.Errorf("WFI after marker %d did not wait for the interrupt: log %#x", step.marker, log)
					m.cpu.SetIRQ(step.line, true)
					return
				}
				m.cpu.SetIRQ(step.line, true)
			}
			errc <- nil
		}()
		log := m.run(t, nil)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		checkLog(t, p, log, []chk{
			{"marker", 1}, {"WFI completed with MIE clear", 2}, {"mip: MEIP", riscv.MipMEIP},
			{"mcause", intr | riscv.IntMEI}, {"mepc: right after MIE was set", "after_mie"},
			{"after", 3}, {"marker", 4},
			{"mcause", intr | riscv.IntMEI}, {"mepc: after the WFI", "after_wfi2"}, {"after", 5},
			{"marker", 6},
			{"scause", intr | riscv.IntSEI}, {"sepc: after the WFI", "after_wfi3"}, {"after", 7},
			{"mcause", riscv.CauseEcallS}, {"mepc", "s_exit+4"},
		})
	})
}

// TestSystemWFIStop: Stop and the context end a WFI that nothing wakes.
func TestSystemWFIStop(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		p := &sysProgram{name: "wfi loop", image: make([]byte, sysRAMSize)}
		binary.LittleEndian.PutUint32(p.image, 0x10500073)     // wfi
		binary.LittleEndian.PutUint32(p.image[4:], 0xffdff06f) // j .-4
		m := newSysMachine(t, backend, p, true)
		go func() {
			time.Sleep(20 * time.Millisecond)
			m.cpu.Stop()
		}()
		ev, err := m.cpu.Run(context.Background())
		if err != nil || ev.Kind != EventStopped || ev.PC != sysRAMBase+4 {
			t.Fatalf("Stop during WFI: %v, %v; want stopped at %#x", ev, err, sysRAMBase+4)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		ev, err = m.cpu.Run(ctx)
		if err != nil || ev.Kind != EventStopped {
			t.Fatalf("context end during WFI: %v, %v", ev, err)
		}
	})
}

// TestSystemSupervisorTimer: Sstc's stimecmp with a machine timer that
// raises STIP through SetIRQ while time >= stimecmp (Sstc 1.0, privileged
// spec 3.1.9 for mip.STIP without it).
func TestSystemSupervisorTimer(t *testing.T) {
	runSys(t, "stimer", true, []chk{
		{"mip.STIP written by M (no Sstc)", riscv.MipSTIP}, {"mip.STIP cleared by M", 0},
		{"mcause: stimecmp from S without STCE", riscv.CauseIllegal}, {"mepc", "s_stimecmp"}, {"mtval", "insn:s_stimecmp"},
		{"mcause", riscv.CauseEcallS}, {"mepc", "s_stimecmp+8"}, {"mtval", 0},
		{"mip.STIP write by M ignored with STCE", 0},
		{"sip.STIP: stimecmp 0 <= time", riscv.MipSTIP},
		{"sip.STIP: stimecmp ~0 > time", 0},
		{"stimecmp reads back", ^uint64(0)},
		{"scause: timer woke WFI", intr | riscv.IntSTI}, {"time >= stimecmp in the handler", 1}, {"sip.STIP after stimecmp = ~0", 0},
		{"sepc: after the WFI", "after_wfi"}, {"after", 0x51},
		{"scause: timer interrupts a loop", intr | riscv.IntSTI}, {"time >= stimecmp in the handler", 1}, {"sip.STIP after stimecmp = ~0", 0},
		{"sepc in the loop", 1},
		{"mcause", riscv.CauseEcallS}, {"mepc", "s_exit+4"}, {"mtval", 0},
	})
}

// Virtual addresses of testdata/system/sv39.S.
const (
	vaL0B   = 0x80600000
	vaA     = vaL0B + 0x0000
	vaB     = vaL0B + 0x1000
	vaInv   = vaL0B + 0x2000
	vaRO    = vaL0B + 0x3000
	vaU     = vaL0B + 0x4000
	vaUX    = vaL0B + 0x5000
	vaXO    = vaL0B + 0x6000
	vaNX    = vaL0B + 0x7000
	vaWO    = vaL0B + 0x9000
	vaRsv   = vaL0B + 0xa000
	vaUCode = vaL0B + 0xd000
	vaStr   = vaL0B + 0xe000
	vaNL    = vaL0B + 0x10000
)

// fault is the three entries most handlers log: cause, epc and tval.
func fault(cause uint64, epc, tval any) []chk {
	return []chk{{"cause", cause}, {"epc", epc}, {"tval", tval}}
}

// TestSystemSv39: Sv39 translation from S and U mode, and for M with MPRV
// (privileged spec 3.1.6.3, 4.1.11, 4.2, 4.3).
func TestSystemSv39(t *testing.T) {
	p := buildSys(t, "sv39")
	uVA := func(name string) uint64 { return vaUCode + p.sym(t, name) - p.sym(t, "u_page") }
	const (
		ld, st, fetch = riscv.CauseLoadPage, riscv.CauseStorePage, riscv.CauseInsnPage
		valC          = 0xcccc
	)
	runSysProg(t, p, true, cat(
		[]chk{
			{"M with MPRV, MPP=S: offset mapping", valC},
			{"S: identity 4 KiB page", valC},
			{"offset 4 KiB page (VA != PA)", valC},
			{"stored through the offset VA, read through identity", 0x5555},
			{"megapage", valC},
			{"gigapage", valC},
			{"load through a PTE with A and D clear", 0xaaaa},
			{"PTE after the load: A, not D", 0x40},
			{"PTE after a store: A and D", 0xc0},
			{"PTE after a store to a fresh page: A and D", 0xc0},
		},
		fault(ld, "f_load", vaInv+0x18),
		[]chk{{"rd of the faulting load unchanged", 0x77}},
		fault(st, "f_store", vaInv+0x20),
		fault(fetch, vaInv+0x40, vaInv+0x40),
		[]chk{{"read-only page read", valC}},
		fault(st, "f_ro", vaRO+0x28),
		fault(ld, "f_wo", vaWO),
		fault(ld, "f_rsv", vaRsv),
		fault(fetch, vaNX, vaNX),
		fault(ld, "f_nl", vaNL),
		fault(ld, "f_sum0", vaU),
		[]chk{{"U page from S with SUM", valC}},
		fault(fetch, vaUX, vaUX),
		fault(ld, "f_sum0_again", vaU),
		[]chk{{"U page through an indirect call with SUM", valC}},
		fault(ld, "f_load_u", vaU),
		[]chk{{"the faulting load's rd unchanged", 0x77}},
		fault(ld, "f_mxr0", vaXO),
		[]chk{{"execute-only page with MXR", valC}},
		fault(ld, "f_mega", 0x80400000),
		fault(ld, "f_giga", 0x100000000),
		fault(ld, "f_noncanon", 0x4000000000),
		fault(st, "f_noncanon_st", 0x4000000000),
		fault(fetch, 0x8080000000, 0x8080000000),
		fault(ld, "f_cross_ld", vaInv),
		fault(st, "f_cross_st", vaInv),
		[]chk{{"a faulting page-crossing store wrote nothing", 0}},
		fault(fetch, vaStr+0xffe, vaStr+0x1000),
		[]chk{
			{"instruction across non-adjacent physical pages", 0x5a},
			{"code before it is rewritten", 1},
			{"after a store through another mapping and FENCE.I", 2},
		},
		fault(riscv.CauseLoadAccess, "f_ptaf", 0x140000000),
		[]chk{
			{"SFENCE.VMA: before", 0xdddd},
			{"after changing the PTE and SFENCE.VMA", 0xeeee},
			{"after SFENCE.VMA rs1", 0xdddd},
			{"satp", 8<<60 | p.sym(t, "pt_root")>>12},
			{"satp after writing mode 10 (Sv57)", 8<<60 | p.sym(t, "pt_root")>>12},
			{"translation still on", valC},
			{"SC.D after LR.D", 0},
			{"value", 0x1001},
			{"PTE after SC: A and D", 0xc0},
			{"SC.D without reservation", 1},
			{"AMOADD.D old value", 0x1001},
			{"value", 0x1006},
			{"SC.W on an offset mapping", 0},
			{"value through identity", 0x103},
		},
		fault(st, "f_amo", vaInv),
		fault(ld, "f_lr", vaInv),
		fault(ld, uVA("u_ro"), vaRO),
		[]chk{{"mcause: ECALL from U", riscv.CauseEcallU}, {"mepc", uVA("u_exit") + 4}, {"mtval", 0},
			{"U page from U", valC}},
	))
}

// TestSystemSv48: a four-level walk (privileged spec 4.4).
func TestSystemSv48(t *testing.T) {
	p := buildSys(t, "sv48")
	runSysProg(t, p, true, cat(
		[]chk{
			{"satp (Sv48)", 9<<60 | p.sym(t, "pt_root")>>12},
			{"load at 0x200000000000", 0xcccc},
			{"stored there, read through identity (gigapage)", 0x4444},
			{"leaf PTE: A and D", 0xc0},
		},
		fault(riscv.CauseLoadPage, "f_unmapped", 0x200000001000),
		fault(riscv.CauseLoadPage, "f_noncanon", 0x800000000000),
		fault(riscv.CauseStorePage, "f_high", uint64(0xffff800000000000)),
		[]chk{{"mcause", riscv.CauseEcallS}, {"mepc", "s_exit+4"}},
	))
}

// TestSystemFPEnable: mstatus.FS gates the F and D extensions (privileged
// spec 3.1.6.6).
func TestSystemFPEnable(t *testing.T) {
	illegalFP := fault(riscv.CauseIllegal, "fp_insn", "insn:fp_insn")
	runSys(t, "fp", true, cat(
		[]chk{{"mstatus.FS at reset", 0}},
		illegalFP,
		fault(riscv.CauseIllegal, "f_fcsr", "insn:f_fcsr"),
		[]chk{{"FS not off after writing Initial", 1}, {"SD", 1},
			{"fadd.d 1.5 + 2.25", uint64(0x400e000000000000)}, {"fcsr", 0}},
		illegalFP,
		[]chk{{"SD with FS off", 0}},
		illegalFP,
		[]chk{{"fadd.d in S after sstatus.FS on", uint64(0x400e000000000000)}},
		fault(riscv.CauseEcallS, "s_exit+4", 0),
	))
}

// TestSystemCSRs: misa, mhartid, the counters (one instruction between
// consecutive reads), WARL fields (MPP, mtvec mode, xepc bit 0),
// read-only CSRs, TVM, TW and TSR (privileged spec 3.1.1, 3.1.6.5, 3.1.7,
// 3.1.11, 3.1.14).
func TestSystemCSRs(t *testing.T) {
	runSys(t, "csr", true, cat(
		[]chk{
			{"misa: RV64 ACDFIMSU", uint64(2<<62 | 0x14112d)},
			{"mhartid", 0},
			{"minstret delta of consecutive reads", 1},
			{"instret delta of consecutive reads", 1},
			{"mcycle delta over 3 instructions", 3},
			{"mstatus.MPP after writing 2", 0},
			{"mtvec after writing mode 3", "mtrap"},
			{"mepc after writing 0x80000003", 0x80000002},
			{"sepc after writing 0x80000003", 0x80000002},
			{"mscratch", 3},
		},
		fault(riscv.CauseIllegal, "m_hartid", "insn:m_hartid"),
		fault(riscv.CauseIllegal, "m_cycle", "insn:m_cycle"),
		fault(riscv.CauseIllegal, "s_satp", "insn:s_satp"),
		fault(riscv.CauseIllegal, "s_sfence", "insn:s_sfence"),
		fault(riscv.CauseIllegal, "s_sret", "insn:s_sret"),
		fault(riscv.CauseIllegal, "s_wfi", "insn:s_wfi"),
		fault(riscv.CauseEcallS, "s_exit+4", 0),
	))
}

// TestSystemSBI: with MachineMode false the hart starts in S mode, Run
// reports an ECALL from S (cause 9, PC at the ECALL) for the embedder to
// serve, and the other traps (delegated) go to the guest's S handler.
func TestSystemSBI(t *testing.T) {
	p := buildSys(t, "sbi")
	forBackends(t, func(t *testing.T, backend string) {
		m := newSysMachine(t, backend, p, false)
		if m.cpu.Hart.Priv != riscv.PrivS {
			t.Fatalf("hart starts in mode %d, want S", m.cpu.Hart.Priv)
		}
		var calls []uint64
		log := m.run(t, func(m *sysMachine) error {
			h := m.cpu.Hart
			calls = append(calls, h.PC)
			if h.Priv != riscv.PrivS {
				return fmt.Errorf("SBI call from mode %d", h.Priv)
			}
			switch h.X(17) { // a7
			case 0x10:
				h.SetX(10, h.X(10)+1)
			case 0x20:
				m.cpu.SetSoftIRQ(riscv.MipSSIP, true)
			default:
				return fmt.Errorf("unknown call %#x", h.X(17))
			}
			h.PC += 4
			return nil
		})
		want := []uint64{p.sym(t, "sbi_add"), p.sym(t, "sbi_ipi")}
		if fmt.Sprint(calls) != fmt.Sprint(want) {
			t.Errorf("SBI calls at %#x, want %#x", calls, want)
		}
		checkLog(t, p, log, cat(
			[]chk{{"sstatus at reset", uint64(2) << 32}, {"a0 set by the SBI call", 42}},
			fault(riscv.CauseIllegal, "s_mstatus", "insn:s_mstatus"),
			fault(riscv.CauseBreakpoint, "s_ebreak", "s_ebreak"),
			fault(intr|riscv.IntSSI, "after_ipi", 0),
			[]chk{{"after the IPI", 0x33}, {"time readable", 1}},
			fault(riscv.CauseEcallU, "u_ecall", 0),
			fault(riscv.CauseEcallU, "u_exit+4", 0),
		))
	})
}

// hostileCSRs are the CSRs the hostile programs write garbage to.
var hostileCSRs = []int64{
	riscv.CSRSatp, riscv.CSRMtvec, riscv.CSRMepc, riscv.CSRMstatus, riscv.CSRMedeleg, riscv.CSRMideleg,
	riscv.CSRMie, riscv.CSRMip, riscv.CSRStvec, riscv.CSRSepc, riscv.CSRSstatus, riscv.CSRSie, riscv.CSRSip,
	riscv.CSRStimecmp, riscv.CSRMenvcfg, riscv.CSRMcause, riscv.CSRScause, riscv.CSRMtval, riscv.CSRStval,
	riscv.CSRMscratch, riscv.CSRSscratch, riscv.CSRMcounteren, riscv.CSRScounteren, riscv.CSRPmpcfg0,
	riscv.CSRPmpaddr0, riscv.CSRMinstret, riscv.CSRMcycle, riscv.CSRFcsr, riscv.CSRFrm, riscv.CSRTime,
	riscv.CSRMisa, riscv.CSRMhartid, 0x7c0, 0x5c0,
}

// Layout of a hostile program: random code, then trap handlers that skip
// the trapping instruction, then random data shaped like page tables.
const (
	hostileCode     = 64 << 10
	hostileMHandler = sysRAMBase + hostileCode
	hostileSHandler = hostileMHandler + 32
)

// hostileValue is a register value a hostile program likes: addresses of
// code, RAM and the device, and page-table-shaped or satp-shaped garbage.
func hostileValue(r *rand.Rand) uint64 {
	ram := func() uint64 { return sysRAMBase + uint64(r.Intn(sysRAMSize)) }
	switch r.Intn(10) {
	case 0:
		return r.Uint64()
	case 1:
		return ram() &^ 7
	case 2:
		return uint64(8+r.Intn(3))<<60 | ram()>>12 // Sv39, Sv48, Sv57 + a RAM page
	case 3:
		return r.Uint64() & (1<<23 - 1) // mstatus-shaped
	case 4:
		return uint64(r.Intn(64))
	case 5:
		return sysDevBase + uint64(r.Intn(32))&^7
	case 6:
		return r.Uint64() & (1<<39 - 1)
	case 7:
		return ram()>>12<<10 | uint64(r.Intn(256)) // a PTE
	case 8:
		return sysRAMBase + uint64(r.Intn(hostileCode))&^3 // code
	}
	return ^uint64(0)
}

// hostileImage builds a RAM image of random code (valid instructions of
// every kind, CSR writes of garbage, xRET to garbage, privileged
// instructions, wild jumps, raw words), trap handlers, and random
// page-table-shaped data.
func hostileImage(r *rand.Rand) []byte {
	img := make([]byte, sysRAMSize)
	p := &rvasm.Program{Base: sysRAMBase}
	names := rvasm.Names()
	reg := func() int64 { return int64(r.Intn(32)) }
	priv := []uint32{0x30200073, 0x10200073, 0x10500073, 0x00000073, 0x00100073, 0x0000100f}
	// Handlers first (stvec: an S-mode hart cannot write mtvec).
	p.Li(5, hostileSHandler)
	p.I("csrrw", 0, riscv.CSRStvec, 5)
	p.Li(5, hostileMHandler)
	p.I("csrrw", 0, riscv.CSRMtvec, 5)
	for len(p.Code) < hostileCode-64 {
		switch k := r.Intn(100); {
		case k < 40:
			n := names[r.Intn(len(names))]
			p.I(n, rvasm.RandOps(r, n)...)
		case k < 60:
			op := []string{"csrrw", "csrrs", "csrrc"}[r.Intn(3)]
			p.I(op, reg(), hostileCSRs[r.Intn(len(hostileCSRs))], reg())
		case k < 70:
			p.Li(1+int64(r.Intn(31)), int64(hostileValue(r)))
		case k < 74:
			// Garbage in satp and an xepc, then xRET.
			t := 1 + int64(r.Intn(31))
			p.Li(t, int64(hostileValue(r)))
			p.I("csrrw", 0, riscv.CSRSatp, t)
			p.Li(t, int64(hostileValue(r)))
			if r.Intn(2) == 0 {
				p.I("csrrw", 0, riscv.CSRMepc, t)
				p.Word(0x30200073)
			} else {
				p.I("csrrw", 0, riscv.CSRSepc, t)
				p.Word(0x10200073)
			}
		case k < 84:
			p.Word(priv[r.Intn(len(priv))])
		case k < 88:
			p.Word(0x12000073 | uint32(reg())<<20 | uint32(reg())<<15) // sfence.vma rs1, rs2
		case k < 94:
			p.I("jalr", reg(), reg(), int64(r.Intn(64))*4)
		default:
			p.Word(r.Uint32())
		}
	}
	copy(img, p.Code)
	// The handlers skip the trapping instruction (4 bytes or not).
	for _, x := range []struct {
		at       uint64
		epc, ret string
	}{{hostileMHandler, "mepc", "mret"}, {hostileSHandler, "sepc", "sret"}} {
		h := &rvasm.Program{Base: x.at}
		csr := int64(riscv.CSRMepc)
		ret := uint32(0x30200073)
		if x.epc == "sepc" {
			csr, ret = riscv.CSRSepc, 0x10200073
		}
		h.I("csrrs", 5, csr, 0)
		h.I("addi", 5, 5, 4)
		h.I("csrrw", 0, csr, 5)
		h.Word(ret)
		copy(img[x.at-sysRAMBase:], h.Code)
	}
	for i := hostileCode + 64; i < len(img); i += 8 {
		binary.LittleEndian.PutUint64(img[i:], hostileValue(r))
	}
	return img
}

// TestSystemHostile runs random programs that write garbage to satp,
// mtvec, mepc and the other CSRs, return to garbage, jump wildly and walk
// garbage page tables, in M mode and in S mode under an SBI-owning VMM:
// every run must end in guest traps or a Run event or error, never a Go
// panic or a hang. A hart that stops making progress (a trap vector into
// nowhere, WFI with nothing enabled) is sent to another place in the code
// in another mode, as is one that stops reaching new code.
func TestSystemHostile(t *testing.T) {
	seeds := 4
	if testing.Short() {
		seeds = 1
	}
	if n, err := strconv.Atoi(os.Getenv("GOVMM_HOSTILE_SEEDS")); err == nil {
		seeds = n // a longer fuzz
	}
	forBackends(t, func(t *testing.T, backend string) {
		var insns, rescues uint64
		for seed := 1; seed <= seeds; seed++ {
			for _, machineMode := range []bool{true, false} {
				r := rand.New(rand.NewSource(int64(seed)))
				p := &sysProgram{name: fmt.Sprintf("hostile seed %d machine mode %v", seed, machineMode), image: hostileImage(r)}
				m := newSysMachine(t, backend, p, machineMode)
				for i := 1; i < 32; i++ {
					m.cpu.Hart.SetX(i, hostileValue(r))
				}
				n, err := runHostile(m, r, 150*time.Millisecond)
				if err != nil {
					t.Fatalf("%s: %v\n%s", p.name, err, m.cpu.Hart.Dump())
				}
				insns += m.cpu.Hart.Instret
				rescues += n
			}
		}
		t.Logf("%d instructions, %d rescues", insns, rescues)
		if insns < 10000 {
			t.Errorf("the hostile programs ran only %d instructions", insns)
		}
	})
}

// runHostile runs m for d, moving a hart that makes no progress; it
// reports a panic, a hang, or an event that a hart with the privileged
// architecture must not report.
func runHostile(m *sysMachine, r *rand.Rand, d time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				m.cpu.Stop()
			}
		}
	}()
	var rescues uint64
	done := make(chan error, 1)
	go func() {
		defer func() {
			if x := recover(); x != nil {
				done <- fmt.Errorf("panic: %v\n%s", x, debug.Stack())
			}
		}()
		h := m.cpu.Hart
		last, lastBlocks := ^uint64(0), ^uint64(0)
		for ctx.Err() == nil {
			ev, err := m.cpu.Run(ctx)
			if err != nil {
				done <- nil // a Run error is an acceptable end
				return
			}
			if h.Priv != riscv.PrivU && h.Priv != riscv.PrivS && h.Priv != riscv.PrivM || h.PC&1 != 0 {
				done <- fmt.Errorf("bad state after %v: priv %d pc %#x", ev, h.Priv, h.PC)
				return
			}
			switch {
			case ev.Kind == EventStopped:
				// Stuck: no instruction retired, or no new code
				// reached (a tight loop).
				if h.Instret == last || m.cpu.Stats.Blocks == lastBlocks {
					rescues++
					h.PC = sysRAMBase + uint64(r.Intn(hostileCode))&^3
					h.Priv = []uint8{riscv.PrivU, riscv.PrivS, riscv.PrivM}[r.Intn(3)]
					if !h.Sys.MachineMode() && h.Priv == riscv.PrivM {
						h.Priv = riscv.PrivS
					}
				}
				last, lastBlocks = h.Instret, m.cpu.Stats.Blocks
			case ev.Kind == EventException && !h.Sys.MachineMode() && ev.Cause == riscv.CauseEcallS && h.Priv == riscv.PrivS:
				h.PC += 4
			default:
				done <- fmt.Errorf("unexpected event %v", ev)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		return rescues, err
	case <-time.After(d + 10*time.Second):
		return rescues, errors.New("Run did not return after its context ended")
	}
}
