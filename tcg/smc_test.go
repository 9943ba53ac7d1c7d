package tcg

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/riscv/rvasm"
)

// TestSelfModifyingCode patches an instruction that already ran, then
// executes FENCE.I and runs it again.
func TestSelfModifyingCode(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		m := newMachine(t, backend)
		p := &rvasm.Program{Base: testBase}
		// x10 accumulates; x6 counts two rounds of the target.
		p.I("addi", 6, 0, 2)
		p.I("auipc", 7, 0) // x7 = address of this instruction
		loop := p.PC()
		p.I("addi", 10, 10, 1) // the target, patched to addi x10, x10, 100
		p.Li(5, int64(rvasm.Enc("addi", 10, 10, 100)))
		p.I("sw", 5, 7, int64(loop-(loop-4)))
		p.I("fence.i")
		p.I("addi", 6, 6, -1)
		off := int64(loop) - int64(p.PC())
		p.I("bne", 6, 0, off)
		p.I("ebreak")
		m.load(p)
		if ev := m.run(t); ev.Kind != EventBreakpoint {
			t.Fatalf("%v\n%s", ev, m.cpu.Hart.Dump())
		}
		if got := m.cpu.Hart.X(10); got != 101 {
			t.Fatalf("x10 = %d, want 101 (1 from the original, 100 from the patch)", got)
		}
		if m.cpu.Stats.Invalidations == 0 {
			t.Fatal("no block was invalidated")
		}
	})
}

// TestSMCWithoutFence: a store to code in a later block is seen even
// without FENCE.I (QEMU behaves this way too; the spec requires FENCE.I,
// but code that relies on the store being seen exists).
func TestSMCWithoutFence(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		m := newMachine(t, backend)
		p := &rvasm.Program{Base: testBase}
		target := uint64(testBase + 0x100)
		p.Li(7, int64(target))
		p.I("jalr", 1, 7, 0) // run it once: x10 = 1
		p.Li(5, int64(rvasm.Enc("addi", 10, 0, 7)))
		p.I("sw", 5, 7, 0)
		p.I("jalr", 1, 7, 0) // x10 = 7
		p.I("ebreak")
		for len(p.Code) < 0x100 {
			p.I("addi", 0, 0, 0)
		}
		p.I("addi", 10, 0, 1)
		p.Ret()
		m.load(p)
		m.run(t)
		if got := m.cpu.Hart.X(10); got != 7 {
			t.Fatalf("x10 = %d, want 7", got)
		}
	})
}

// TestCodeAndDataOnOnePage stores in a loop to data on the loop's own
// page: the stores must take no invalidations and the results be right.
func TestCodeAndDataOnOnePage(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		for _, dataOff := range []int64{0x200, 0x48} { // another chunk; the next chunk but one
			m := newMachine(t, backend)
			p := &rvasm.Program{Base: testBase}
			p.I("auipc", 7, 0)
			p.I("addi", 7, 7, dataOff) // x7 = data on this page
			p.Li(6, 10000)
			loop := p.PC()
			p.I("lw", 5, 7, 0)
			p.I("addiw", 5, 5, 1)
			p.I("sw", 5, 7, 0)
			p.I("addi", 6, 6, -1)
			p.I("bne", 6, 0, int64(loop)-int64(p.PC()))
			p.I("lw", 10, 7, 0)
			p.I("ebreak")
			if int64(len(p.Code)) > dataOff-8 {
				t.Fatalf("code overlaps the data at %#x", dataOff)
			}
			m.load(p)
			m.run(t)
			if got := m.cpu.Hart.X(10); got != 10000 {
				t.Fatalf("data %#x: x10 = %d", dataOff, got)
			}
			if n := m.cpu.Stats.Invalidations; n != 0 {
				t.Errorf("data %#x: %d invalidations for stores that miss the code", dataOff, n)
			}
		}
	})
}

// TestStoreIntoCodeChunk: data in the same 64-byte chunk as code is still
// correct (the stores go through the slow path).
func TestStoreIntoCodeChunk(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		m := newMachine(t, backend)
		p := &rvasm.Program{Base: testBase}
		p.I("auipc", 7, 0)
		p.I("jal", 0, 8)
		p.Word(0) // data word inside the code chunk
		p.Li(6, 100)
		loop := p.PC()
		p.I("lw", 5, 7, 8)
		p.I("addiw", 5, 5, 3)
		p.I("sw", 5, 7, 8)
		p.I("addi", 6, 6, -1)
		p.I("bne", 6, 0, int64(loop)-int64(p.PC()))
		p.I("lw", 10, 7, 8)
		p.I("ebreak")
		m.load(p)
		m.run(t)
		if got := m.cpu.Hart.X(10); got != 300 {
			t.Fatalf("x10 = %d, want 300", got)
		}
	})
}

// TestMultiHartAtomics runs several harts on one memory, each on its own
// goroutine, incrementing shared counters with AMOADD, with an LR/SC loop,
// and under a spinlock built from AMOSWAP.
func TestMultiHartAtomics(t *testing.T) {
	forBackends(t, testMultiHartAtomics)
}

func testMultiHartAtomics(t *testing.T, backend string) {
	const harts, iters = 4, 20000
	ram := make([]byte, testSize)
	mem := env.NewMemory(nil)
	if err := mem.AddRAM(testBase, ram); err != nil {
		t.Fatal(err)
	}
	p := &rvasm.Program{Base: testBase}
	// x27 = data: 0 amo counter, 8 lr/sc counter, 16 lock, 24 locked counter.
	p.Li(6, iters)
	p.I("addi", 5, 0, 1)
	loop := p.PC()
	p.I("amoadd.d", 0, 5, 27, 0)
	// LR/SC increment of data+8.
	p.I("addi", 8, 27, 8)
	retry := p.PC()
	p.I("lr.d", 9, 8, 2)
	p.I("addi", 9, 9, 1)
	p.I("sc.d", 11, 9, 8, 1)
	p.I("bne", 11, 0, int64(retry)-int64(p.PC()))
	// Spinlock at data+16 around a plain increment of data+24.
	p.I("addi", 12, 27, 16)
	spin := p.PC()
	p.I("amoswap.w", 13, 5, 12, 2)
	p.I("bne", 13, 0, int64(spin)-int64(p.PC()))
	p.I("ld", 14, 27, 24)
	p.I("addi", 14, 14, 1)
	p.I("sd", 14, 27, 24)
	p.I("amoswap.w", 0, 0, 12, 1)
	p.I("addi", 6, 6, -1)
	p.I("bne", 6, 0, int64(loop)-int64(p.PC()))
	p.I("ebreak")
	copy(ram, p.Code)

	var wg sync.WaitGroup
	errs := make(chan error, harts)
	for i := 0; i < harts; i++ {
		cpu, err := New(Config{Memory: mem, HartID: i, Backend: backend})
		if err != nil {
			t.Fatal(err)
		}
		defer cpu.Close()
		cpu.Hart.PC = testBase
		cpu.Hart.SetX(27, testData)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := cpu.Run(context.Background())
			if err == nil && ev.Kind != EventBreakpoint {
				err = fmt.Errorf("hart stopped with %v", ev)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m := &machine{ram: ram}
	for off, name := range map[int]string{0: "amoadd", 8: "lr/sc", 24: "spinlock"} {
		if got := m.data64(off); got != harts*iters {
			t.Errorf("%s counter = %d, want %d", name, got, harts*iters)
		}
	}
}

// TestExitRequestsInLoops interrupts long-running loops (a self-looping
// block, and a loop of two blocks) with exit requests from another
// goroutine, as interrupts, invalidations and the scheduler tick do, and
// checks that no work is lost or repeated.
func TestExitRequestsInLoops(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		m := newMachine(t, backend)
		p := &rvasm.Program{Base: testBase}
		const n1, n2 = 20000000, 1000000
		p.Li(6, n1)
		loop := p.PC()
		p.I("addi", 10, 10, 3)
		p.I("xor", 11, 11, 10)
		p.I("sd", 10, 27, 0)
		p.I("addi", 6, 6, -1)
		p.I("bne", 6, 0, int64(loop)-int64(p.PC()))
		p.Li(6, n2)
		loop2 := p.PC()
		p.I("addi", 12, 12, 1)
		p.I("jal", 0, 4)
		p.I("addi", 6, 6, -1)
		p.I("bne", 6, 0, int64(loop2)-int64(p.PC()))
		p.I("ebreak")
		m.load(p)
		done := make(chan struct{})
		started := make(chan struct{})
		go func() {
			close(started)
			for {
				select {
				case <-done:
					return
				default:
					m.cpu.Hart.Request(env.ReqInterrupt)
				}
			}
		}()
		<-started
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ev, err := m.cpu.Run(ctx)
		close(done)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind != EventBreakpoint {
			t.Fatalf("%v", ev)
		}
		var x11 uint64
		for i := uint64(1); i <= n1; i++ {
			x11 ^= 3 * i
		}
		h := m.cpu.Hart
		if h.X(10) != 3*n1 || h.X(11) != x11 || h.X(12) != n2 || m.data64(0) != 3*n1 {
			t.Fatalf("x10 %d x11 %#x (want %#x) x12 %d mem %d", h.X(10), h.X(11), x11, h.X(12), m.data64(0))
		}
		if want := uint64(3+5*n1+3+4*n2) - 1; h.Instret < want-8 || h.Instret > want+8 {
			t.Errorf("instret %d, want about %d", h.Instret, want)
		}
	})
}

// TestDeviceWroteCode: code a device overwrites behind the CPU's back (DMA
// into a page the guest reuses for a program read from disk) runs anew
// once the device's write is reported; a device write to a page without
// translated code asks nothing of the CPU.
func TestDeviceWroteCode(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		m := newMachine(t, backend)
		m.load(prog(func(p *rvasm.Program) { p.I("addi", 10, 0, 1) }))
		if ev := m.run(t); ev.Kind != EventBreakpoint || m.cpu.Hart.X(10) != 1 {
			t.Fatalf("first run: %v, a0 = %d", ev, m.cpu.Hart.X(10))
		}
		mem := m.cpu.cfg.Memory
		mem.DeviceWrote(testData, 64) // data page: no code there
		if r := m.cpu.Hart.ExitReq.Load(); r != 0 {
			t.Fatalf("a device write to a data page made requests %#x", r)
		}
		p := prog(func(p *rvasm.Program) { p.I("addi", 10, 0, 2) })
		copy(m.ram, p.Code) // as DMA: no CPU store sees it
		mem.DeviceWrote(testBase, uint64(len(p.Code)))
		m.cpu.Hart.PC = testBase
		if ev := m.run(t); ev.Kind != EventBreakpoint || m.cpu.Hart.X(10) != 2 {
			t.Fatalf("after the device's write: %v, a0 = %d (want the new code's 2)", ev, m.cpu.Hart.X(10))
		}
	})
}
