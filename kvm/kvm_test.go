//go:build linux && amd64

package kvm

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

// openOrSkip opens /dev/kvm or skips with the reason. These tests need
// only the KVM API, which the PVM /dev/kvm of the development machines
// also serves.
func openOrSkip(t testing.TB) *System {
	t.Helper()
	sys, err := Open("")
	if err != nil {
		if errors.Is(err, ErrNotSupported) || errors.Is(err, os.ErrPermission) {
			t.Skipf("no usable /dev/kvm: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	return sys
}

// testVM is a VM with one memory slot at guest physical 0 and one vCPU.
type testVM struct {
	vm   *VM
	cpu  *VCPU
	mem  []byte
	host uintptr
}

func newTestVM(t testing.TB, sys *System, memSize int) *testVM {
	t.Helper()
	vm, err := sys.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	mem, host := testMem(t, memSize)
	if err := vm.SetUserMemoryRegion(0, 0, 0, uint64(memSize), host); err != nil {
		t.Fatal(err)
	}
	cpu, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cpu.Close() })
	return &testVM{vm: vm, cpu: cpu, mem: mem, host: host}
}

// realMode puts the vCPU in real mode at CS:IP = 0:entry with flat 64 KiB
// segments.
func (v *testVM) realMode(t testing.TB, entry uint64) {
	t.Helper()
	s, err := v.cpu.GetSregs()
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range []*Segment{&s.CS, &s.DS, &s.ES, &s.FS, &s.GS, &s.SS} {
		seg.Base, seg.Selector = 0, 0
	}
	if err := v.cpu.SetSregs(&s); err != nil {
		t.Fatal(err)
	}
	r := Regs{RIP: entry, RFLAGS: 2, RSP: 0xf000}
	if err := v.cpu.SetRegs(&r); err != nil {
		t.Fatal(err)
	}
}

// run runs the vCPU on a locked thread until an exit that is not an
// interruption, returning the exit reason.
func (v *testVM) run(t testing.TB) uint32 {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer v.cpu.Unbind()
	for {
		err := v.cpu.Run()
		if errors.Is(err, ErrInterrupted) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return v.cpu.ExitReason()
	}
}

func TestSystem(t *testing.T) {
	sys := openOrSkip(t)
	v, err := sys.APIVersion()
	if err != nil || v != KVM_API_VERSION {
		t.Fatalf("APIVersion = %d, %v", v, err)
	}
	if sys.VCPUMmapSize() < 4096 {
		t.Fatalf("VCPUMmapSize = %d", sys.VCPUMmapSize())
	}
	if n, err := sys.CheckExtension(KVM_CAP_USER_MEMORY); err != nil || n == 0 {
		t.Fatalf("KVM_CAP_USER_MEMORY = %d, %v", n, err)
	}
	if sys.MaxVCPUs() < 1 {
		t.Fatalf("MaxVCPUs = %d", sys.MaxVCPUs())
	}
	cpuid, err := sys.SupportedCPUID()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range cpuid {
		if e.Function == 0 {
			found = true
			// The vendor string is EBX, EDX, ECX.
			var b [12]byte
			binary.LittleEndian.PutUint32(b[0:], e.EBX)
			binary.LittleEndian.PutUint32(b[4:], e.EDX)
			binary.LittleEndian.PutUint32(b[8:], e.ECX)
			t.Logf("CPUID vendor %q, %d entries, max leaf %#x", b[:], len(cpuid), e.EAX)
		}
	}
	if !found {
		t.Fatal("KVM_GET_SUPPORTED_CPUID has no leaf 0")
	}
	msrs, err := sys.MSRIndexList()
	if err != nil || len(msrs) == 0 {
		t.Fatalf("MSRIndexList: %d MSRs, %v", len(msrs), err)
	}
}

// TestRealModePortIO runs "mov dx,0x3f8; mov al,'A'; out dx,al; in al,dx;
// mov [0x500],al; hlt": an OUT exit, an IN exit whose value the guest
// stores, then HLT.
func TestRealModePortIO(t *testing.T) {
	sys := openOrSkip(t)
	v := newTestVM(t, sys, 1<<20)
	code := []byte{
		0xba, 0xf8, 0x03, // mov dx, 0x3f8
		0xb0, 'A', // mov al, 'A'
		0xee,             // out dx, al
		0xec,             // in al, dx
		0xa2, 0x00, 0x05, // mov [0x500], al
		0xf4, // hlt
	}
	copy(v.mem[0x1000:], code)
	v.realMode(t, 0x1000)

	if r := v.run(t); r != KVM_EXIT_IO {
		t.Fatalf("exit %d, want KVM_EXIT_IO", r)
	}
	io, err := v.cpu.IO()
	if err != nil {
		t.Fatal(err)
	}
	if !io.Out || io.Port != 0x3f8 || io.Size != 1 || io.Count != 1 || io.Data[0] != 'A' {
		t.Fatalf("OUT exit = %+v", io)
	}
	if r := v.run(t); r != KVM_EXIT_IO {
		t.Fatalf("exit %d, want KVM_EXIT_IO (in)", r)
	}
	io, err = v.cpu.IO()
	if err != nil {
		t.Fatal(err)
	}
	if io.Out || io.Port != 0x3f8 {
		t.Fatalf("IN exit = %+v", io)
	}
	io.Data[0] = 0x5a
	if r := v.run(t); r != KVM_EXIT_HLT {
		t.Fatalf("exit %d, want KVM_EXIT_HLT", r)
	}
	if v.mem[0x500] != 0x5a {
		t.Fatalf("guest stored %#x from IN, want 0x5a", v.mem[0x500])
	}
	regs, err := v.cpu.GetRegs()
	if err != nil {
		t.Fatal(err)
	}
	if regs.RIP != 0x1000+uint64(len(code)) {
		t.Fatalf("RIP after hlt = %#x, want %#x", regs.RIP, 0x1000+len(code))
	}
}

// TestRealModeStringIO checks that "rep outsb" of 4 bytes is one exit whose
// data holds all four, in order.
func TestRealModeStringIO(t *testing.T) {
	sys := openOrSkip(t)
	v := newTestVM(t, sys, 1<<20)
	code := []byte{
		0xbe, 0x00, 0x06, // mov si, 0x600
		0xb9, 0x04, 0x00, // mov cx, 4
		0xba, 0x80, 0x00, // mov dx, 0x80
		0xfc,       // cld
		0xf3, 0x6e, // rep outsb
		0xf4, // hlt
	}
	copy(v.mem[0x1000:], code)
	copy(v.mem[0x600:], "wxyz")
	v.realMode(t, 0x1000)
	var got []byte
	for {
		r := v.run(t)
		if r == KVM_EXIT_HLT {
			break
		}
		if r != KVM_EXIT_IO {
			t.Fatalf("exit %d", r)
		}
		io, err := v.cpu.IO()
		if err != nil {
			t.Fatal(err)
		}
		if io.Port != 0x80 || !io.Out {
			t.Fatalf("exit %+v", io)
		}
		got = append(got, io.Data...)
	}
	if string(got) != "wxyz" {
		t.Fatalf("rep outsb delivered %q, want %q", got, "wxyz")
	}
}

// TestRealModeMMIO stores to and loads from a guest address with no memory
// slot: both exit as MMIO.
func TestRealModeMMIO(t *testing.T) {
	sys := openOrSkip(t)
	v := newTestVM(t, sys, 1<<16) // RAM ends at 0x10000
	code := []byte{
		0xb8, 0x00, 0x20, // mov ax, 0x2000
		0x8e, 0xd8, // mov ds, ax  (DS base 0x20000: no memory there)
		0xb0, 0x42, // mov al, 0x42
		0xa2, 0x10, 0x00, // mov [0x10], al
		0xa0, 0x20, 0x00, // mov al, [0x20]
		0x31, 0xdb, // xor bx, bx
		0x8e, 0xdb, // mov ds, bx
		0xa2, 0x00, 0x05, // mov [0x500], al
		0xf4, // hlt
	}
	copy(v.mem[0x1000:], code)
	v.realMode(t, 0x1000)
	if r := v.run(t); r != KVM_EXIT_MMIO {
		t.Fatalf("exit %d, want KVM_EXIT_MMIO", r)
	}
	m, err := v.cpu.MMIO()
	if err != nil {
		t.Fatal(err)
	}
	if !m.Write || m.Addr != 0x20010 || len(m.Data) != 1 || m.Data[0] != 0x42 {
		t.Fatalf("MMIO write exit = %+v", m)
	}
	if r := v.run(t); r != KVM_EXIT_MMIO {
		t.Fatalf("exit %d, want KVM_EXIT_MMIO", r)
	}
	m, err = v.cpu.MMIO()
	if err != nil {
		t.Fatal(err)
	}
	if m.Write || m.Addr != 0x20020 || len(m.Data) != 1 {
		t.Fatalf("MMIO read exit = %+v", m)
	}
	m.Data[0] = 0x99
	if r := v.run(t); r != KVM_EXIT_HLT {
		t.Fatalf("exit %d, want HLT", r)
	}
	if v.mem[0x500] != 0x99 {
		t.Fatalf("guest loaded %#x from MMIO, want 0x99", v.mem[0x500])
	}
}

// TestKick runs a guest that spins forever and stops it from another
// goroutine, many times over.
func TestKick(t *testing.T) {
	sys := openOrSkip(t)
	v := newTestVM(t, sys, 1<<16)
	copy(v.mem[0x1000:], []byte{0xeb, 0xfe}) // jmp $
	v.realMode(t, 0x1000)

	rounds := 2000
	if testing.Short() {
		rounds = 200
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer v.cpu.Unbind()
	for i := 0; i < rounds; i++ {
		done := make(chan struct{})
		go func() {
			defer close(done)
			// Kick both before and (usually) during KVM_RUN.
			if i%2 == 0 {
				time.Sleep(20 * time.Microsecond)
			}
			v.cpu.Kick()
		}()
		err := v.cpu.Run()
		if !errors.Is(err, ErrInterrupted) {
			t.Fatalf("round %d: Run = %v (exit %d), want ErrInterrupted", i, err, v.cpu.ExitReason())
		}
		<-done
		v.cpu.ClearImmediateExit()
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestCloseReleasesFDs(t *testing.T) {
	openOrSkip(t) // skip early if KVM is unusable
	before := openFDs(t)
	for i := 0; i < 3; i++ {
		sys, err := Open("")
		if err != nil {
			t.Fatal(err)
		}
		vm, err := sys.CreateVM()
		if err != nil {
			t.Fatal(err)
		}
		cpu, err := vm.CreateVCPU(0)
		if err != nil {
			t.Fatal(err)
		}
		if err := cpu.Close(); err != nil {
			t.Fatal(err)
		}
		if err := cpu.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		vm.Close()
		sys.Close()
	}
	if after := openFDs(t); after != before {
		t.Fatalf("open fds: %d before, %d after", before, after)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open("/nonexistent/kvm")
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Open(missing) = %v, want ErrNotSupported", err)
	}
	f, err := os.CreateTemp(t.TempDir(), "notkvm")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Open(f.Name()); err == nil {
		t.Fatal("Open(regular file) succeeded")
	}
}
