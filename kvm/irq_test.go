//go:build linux && amd64

package kvm

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newEventFD(t testing.TB) int {
	t.Helper()
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// picGuest is real-mode code that programs the master 8259 with vector base
// 8, unmasks only IRQ5, reports readiness on port 0x90, then halts with
// interrupts enabled. Its IRQ5 handler (vector 13) writes 0x55 to port
// 0x91, sends EOI and returns.
var picGuest = []byte{
	0xfa,                   // cli
	0xb0, 0x11, 0xe6, 0x20, // ICW1
	0xb0, 0x08, 0xe6, 0x21, // ICW2: vector base 8
	0xb0, 0x04, 0xe6, 0x21, // ICW3
	0xb0, 0x01, 0xe6, 0x21, // ICW4: 8086 mode
	0xb0, 0xdf, 0xe6, 0x21, // OCW1: unmask IRQ5 only
	0xb0, 0x01, 0xe6, 0x90, // out 0x90, 1: ready
	0xfb,       // sti
	0xf4,       // hlt
	0xeb, 0xfd, // jmp back to hlt
}

var picISR = []byte{
	0xb0, 0x55, 0xe6, 0x91, // out 0x91, 0x55
	0xb0, 0x20, 0xe6, 0x20, // EOI
	0xcf, // iret
}

func setupIRQGuest(t *testing.T) *testVM {
	sys := openOrSkip(t)
	vm, err := sys.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	if err := vm.CreateIRQChip(); err != nil {
		t.Fatal(err)
	}
	if err := vm.CreatePIT2(KVM_PIT_SPEAKER_DUMMY); err != nil {
		t.Fatal(err)
	}
	mem, host := testMem(t, 1<<20)
	if err := vm.SetUserMemoryRegion(0, 0, 0, 1<<20, host); err != nil {
		t.Fatal(err)
	}
	cpu, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cpu.Close() })
	v := &testVM{vm: vm, cpu: cpu, mem: mem, host: host}
	copy(mem[0x1000:], picGuest)
	copy(mem[0x1100:], picISR)
	binary.LittleEndian.PutUint16(mem[13*4:], 0x1100) // IVT[13] = 0000:1100
	binary.LittleEndian.PutUint16(mem[13*4+2:], 0)
	v.realMode(t, 0x1000)
	return v
}

// expectOut runs until an OUT to port and returns its byte, with a
// watchdog that kicks the vCPU if nothing happens.
func (v *testVM) expectOut(t *testing.T, port uint16) byte {
	t.Helper()
	timer := time.AfterFunc(10*time.Second, v.cpu.Kick)
	defer timer.Stop()
	r := v.run(t)
	if r != KVM_EXIT_IO {
		t.Fatalf("exit %d, want IO to port %#x", r, port)
	}
	io, err := v.cpu.IO()
	if err != nil {
		t.Fatal(err)
	}
	if !io.Out || io.Port != port {
		t.Fatalf("exit %+v, want OUT to %#x", io, port)
	}
	return io.Data[0]
}

// runKickable is run() that returns on a kick instead of retrying.
func (v *testVM) runKickable(t *testing.T) (uint32, bool) {
	t.Helper()
	err := v.cpu.Run()
	if err == ErrInterrupted {
		return 0, true
	}
	if err != nil {
		t.Fatal(err)
	}
	return v.cpu.ExitReason(), false
}

// TestIRQFDDeliversInterrupt raises IRQ5 through an irqfd and sees the
// guest's handler run.
func TestIRQFDDeliversInterrupt(t *testing.T) {
	v := setupIRQGuest(t)
	efd := newEventFD(t)
	if err := v.vm.IRQFD(efd, 5); err != nil {
		t.Fatal(err)
	}
	if b := v.expectOut(t, 0x90); b != 1 {
		t.Fatalf("ready byte %#x", b)
	}
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		unix.Write(efd, one[:])
	}()
	if b := v.expectOut(t, 0x91); b != 0x55 {
		t.Fatalf("ISR byte %#x", b)
	}
	if err := v.vm.IRQFDDeassign(efd, 5); err != nil {
		t.Fatal(err)
	}
}

// TestIRQLineDeliversInterrupt does the same with KVM_IRQ_LINE, after
// installing an explicit GSI routing table.
func TestIRQLineDeliversInterrupt(t *testing.T) {
	v := setupIRQGuest(t)
	var routes []IRQRoute
	for gsi := uint32(0); gsi < 16; gsi++ {
		if gsi != 2 {
			routes = append(routes, IRQChipRoute(gsi, KVM_IRQCHIP_PIC_MASTER+gsi/8, gsi%8))
		}
		routes = append(routes, IRQChipRoute(gsi, KVM_IRQCHIP_IOAPIC, gsi))
	}
	routes = append(routes, MSIRoute(24, 0xfee00000, 0x30))
	if err := v.vm.SetGSIRouting(routes); err != nil {
		t.Fatal(err)
	}
	if b := v.expectOut(t, 0x90); b != 1 {
		t.Fatalf("ready byte %#x", b)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		v.vm.IRQLine(5, true)
		v.vm.IRQLine(5, false)
	}()
	if b := v.expectOut(t, 0x91); b != 0x55 {
		t.Fatalf("ISR byte %#x", b)
	}
}

// TestIOEventFD checks that a registered port write signals the eventfd
// instead of exiting, and that other values (datamatch) still exit.
func TestIOEventFD(t *testing.T) {
	sys := openOrSkip(t)
	v := newTestVM(t, sys, 1<<20)
	efd := newEventFD(t)
	match := uint64(7)
	ev := IOEventFD{Addr: 0x88, Len: 1, FD: efd, PIO: true, DataMatch: &match}
	if err := v.vm.AddIOEventFD(ev); err != nil {
		t.Fatal(err)
	}
	copy(v.mem[0x1000:], []byte{
		0xb0, 0x07, 0xe6, 0x88, // out 0x88, 7: signals the eventfd
		0xb0, 0x08, 0xe6, 0x88, // out 0x88, 8: no match, exits
		0xf4,
	})
	v.realMode(t, 0x1000)
	if r := v.run(t); r != KVM_EXIT_IO {
		t.Fatalf("exit %d, want IO", r)
	}
	io, _ := v.cpu.IO()
	if io.Port != 0x88 || io.Data[0] != 8 {
		t.Fatalf("exit %+v, want the unmatched write of 8", io)
	}
	var buf [8]byte
	if _, err := unix.Read(efd, buf[:]); err != nil {
		t.Fatalf("eventfd not signalled: %v", err)
	}
	if binary.LittleEndian.Uint64(buf[:]) != 1 {
		t.Fatalf("eventfd count %d", binary.LittleEndian.Uint64(buf[:]))
	}
	if err := v.vm.RemoveIOEventFD(ev); err != nil {
		t.Fatal(err)
	}
}

// TestVCPUState round-trips the state ioctls.
func TestVCPUState(t *testing.T) {
	sys := openOrSkip(t)
	vm, err := sys.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if err := vm.CreateIRQChip(); err != nil {
		t.Fatal(err)
	}
	cpu, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()

	supported, err := sys.SupportedCPUID()
	if err != nil {
		t.Fatal(err)
	}
	if err := cpu.SetCPUID(supported); err != nil {
		t.Fatal(err)
	}
	got, err := cpu.GetCPUID()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(supported) {
		t.Fatalf("GetCPUID: %d entries, set %d", len(got), len(supported))
	}

	fpu, err := cpu.GetFPU()
	if err != nil {
		t.Fatal(err)
	}
	fpu.FCW, fpu.MXCSR = 0x37f, 0x1f80
	fpu.XMM[3][0] = 0xab
	if err := cpu.SetFPU(&fpu); err != nil {
		t.Fatal(err)
	}
	// MXCSR is not compared: PVM's KVM_GET_FPU reports it as 0.
	if f2, err := cpu.GetFPU(); err != nil || f2.XMM[3][0] != 0xab || f2.FCW != 0x37f {
		t.Fatalf("FPU round trip: %v xmm3[0]=%#x fcw=%#x", err, f2.XMM[3][0], f2.FCW)
	}

	lapic, err := cpu.GetLAPIC()
	if err != nil {
		t.Fatal(err)
	}
	// LVT LINT0 at 0x350: ExtINT delivery (0x700), as the BSP's is set up
	// for a PIC-wired machine.
	binary.LittleEndian.PutUint32(lapic.Regs[0x350:], 0x700)
	if err := cpu.SetLAPIC(&lapic); err != nil {
		t.Fatal(err)
	}
	if l2, err := cpu.GetLAPIC(); err != nil || binary.LittleEndian.Uint32(l2.Regs[0x350:])&0x700 != 0x700 {
		t.Fatalf("LAPIC LINT0 round trip: %v", err)
	}

	const msrTSCAux = 0xc0000103
	if err := cpu.SetMSRs([]MSREntry{{Index: msrTSCAux, Data: 5}}); err != nil {
		t.Logf("TSC_AUX not settable here: %v", err)
	} else {
		m := []MSREntry{{Index: msrTSCAux}}
		if err := cpu.GetMSRs(m); err != nil || m[0].Data != 5 {
			t.Fatalf("MSR round trip: %v data=%d", err, m[0].Data)
		}
	}
	if err := cpu.SetMSRs([]MSREntry{{Index: 0xdeadbeef, Data: 1}}); err == nil {
		t.Fatal("SetMSRs accepted a nonexistent MSR")
	}

	ev, err := cpu.GetVCPUEvents()
	if err != nil {
		t.Fatal(err)
	}
	if err := cpu.SetVCPUEvents(&ev); err != nil {
		t.Fatal(err)
	}
	st, err := cpu.GetMPState()
	if err != nil || st != KVM_MP_STATE_RUNNABLE {
		t.Fatalf("MP state %d, %v", st, err)
	}
	if err := cpu.SetMPState(KVM_MP_STATE_RUNNABLE); err != nil {
		t.Fatal(err)
	}
	if khz, err := cpu.TSCKHz(); err != nil || khz == 0 {
		t.Logf("TSC frequency unavailable: %d, %v", khz, err)
	}
}
