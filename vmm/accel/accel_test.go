package accel

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/govmm/govmm/vmm/bus"
)

// scriptCPU replays a list of exits.
type scriptCPU struct {
	exits  []Exit
	i      int
	kicked atomic.Int32
	st     *Stopper
}

func (c *scriptCPU) ID() int      { return 0 }
func (c *scriptCPU) Kick()        { c.kicked.Add(1) }
func (c *scriptCPU) ClearKick()   {}
func (c *scriptCPU) Dump() string { return "regs" }
func (c *scriptCPU) Run() (Exit, error) {
	if c.i == len(c.exits) {
		return Exit{}, errors.New("script ran out")
	}
	e := c.exits[c.i]
	c.i++
	return e, nil
}

type recDev struct{ writes, reads [][]byte }

func (d *recDev) Read(off uint64, data []byte) {
	for i := range data {
		data[i] = byte(len(d.reads) + 1)
	}
	d.reads = append(d.reads, data)
}
func (d *recDev) Write(off uint64, data []byte) {
	d.writes = append(d.writes, append([]byte(nil), data...))
}

func TestLoopStringIOAndStop(t *testing.T) {
	pio := bus.New("pio")
	dev := &recDev{}
	if err := pio.Register(0x80, 1, "p80", dev); err != nil {
		t.Fatal(err)
	}
	in := make([]byte, 3)
	cpu := &scriptCPU{exits: []Exit{
		{Kind: ExitIO, Addr: 0x80, Size: 1, Count: 4, Write: true, Data: []byte("wxyz")},
		{Kind: ExitIO, Addr: 0x80, Size: 1, Count: 3, Data: in},
		{Kind: ExitIO, Addr: 0x80, Size: 2, Count: 5, Write: true, Data: []byte("ab")}, // count beyond data: bounded
		{Kind: ExitShutdown},
	}}
	st := NewStopper([]VCPU{cpu})
	var stats Stats
	Loop(cpu, Buses{PIO: pio, MMIO: bus.New("mmio")}, st, &stats)
	if len(dev.writes) != 4 || string(dev.writes[0]) != "w" || string(dev.writes[3]) != "z" {
		t.Fatalf("string OUT delivered %q", dev.writes)
	}
	if in[0] != 1 || in[1] != 2 || in[2] != 3 {
		t.Fatalf("string IN filled % x, want one read per element", in)
	}
	r := st.Result()
	if r.Reason != ReasonTripleFault || r.Detail != "regs" {
		t.Fatalf("stop = %+v", r)
	}
	if cpu.kicked.Load() != 1 {
		t.Fatalf("kicked %d times", cpu.kicked.Load())
	}
	if stats.IO.Load() != 3 {
		t.Fatalf("IO exits counted %d", stats.IO.Load())
	}
}

func TestStopperFirstWins(t *testing.T) {
	a, b := &scriptCPU{}, &scriptCPU{}
	st := NewStopper([]VCPU{a, b})
	st.Stop(Stop{Reason: ReasonPoweroff, VCPU: 1})
	st.Stop(Stop{Reason: ReasonCanceled, VCPU: -1})
	if r := st.Result(); r.Reason != ReasonPoweroff {
		t.Fatalf("result %v", r)
	}
	select {
	case <-st.Done():
	default:
		t.Fatal("Done not closed")
	}
	if a.kicked.Load() != 1 || b.kicked.Load() != 1 {
		t.Fatal("not every vCPU kicked exactly once")
	}
}
