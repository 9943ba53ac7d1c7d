package tcg

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/govmm/govmm/tcg/riscv/rvasm"
)

// TestSpinningCPUYields: a CPU spinning in translated code (a one-block
// loop, and a loop of two chained blocks) comes back to Go often enough
// that, with a single P, a timer goroutine still runs and stops it, and the
// garbage collector's stop-the-world completes meanwhile. Before the native
// backend counted its time slice in retired instructions, the stop never
// ran and the test hung.
func TestSpinningCPUYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	loops := map[string]func(p *rvasm.Program){
		"self": func(p *rvasm.Program) {
			p.I("addi", 5, 5, 1)
			p.I("jal", 0, -4)
		},
		"two blocks": func(p *rvasm.Program) {
			p.I("addi", 5, 5, 1)
			p.I("jal", 0, 4)
			p.I("addi", 6, 6, 1)
			p.I("jal", 0, -12)
		},
	}
	for name, loop := range loops {
		t.Run(name, func(t *testing.T) {
			forBackends(t, func(t *testing.T, backend string) {
				m := newMachine(t, backend)
				m.load(prog(loop))
				gcDone := make(chan struct{})
				time.AfterFunc(20*time.Millisecond, func() {
					runtime.GC()
					close(gcDone)
					m.cpu.Stop()
				})
				ev, err := m.cpu.Run(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				<-gcDone
				if ev.Kind != EventStopped {
					t.Fatalf("event %v, want stopped", ev)
				}
				if m.cpu.Hart.X(5) == 0 {
					t.Fatal("the loop did not run")
				}
			})
		})
	}
}
