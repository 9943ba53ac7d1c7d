package probe

import (
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/govmm/govmm/internal/nestedkvm/proto"
)

var forceFail = flag.Bool("probe.fail", false, "fail on purpose, to check that a failing test binary fails the nested-KVM run")

// ioctl numbers and exit reasons from linux/kvm.h. _IOW/_IOR encode the
// argument's size; TestABISizes checks the structs below against them.
const (
	kvmGetAPIVersion       = 0xAE00 // _IO(KVMIO, 0x00)
	kvmCreateVM            = 0xAE01 // _IO(KVMIO, 0x01)
	kvmGetVCPUMmapSize     = 0xAE04 // _IO(KVMIO, 0x04)
	kvmCreateVCPU          = 0xAE41 // _IO(KVMIO, 0x41)
	kvmSetUserMemoryRegion = 0x4020AE46
	kvmRun                 = 0xAE80     // _IO(KVMIO, 0x80)
	kvmGetRegs             = 0x8090AE81 // _IOR(KVMIO, 0x81, struct kvm_regs)
	kvmSetRegs             = 0x4090AE82 // _IOW(KVMIO, 0x82, struct kvm_regs)
	kvmGetSregs            = 0x8138AE83 // _IOR(KVMIO, 0x83, struct kvm_sregs)
	kvmSetSregs            = 0x4138AE84 // _IOW(KVMIO, 0x84, struct kvm_sregs)

	kvmAPIVersion = 12
	kvmExitIO     = 2
	kvmExitHLT    = 5
	kvmExitIOOut  = 1
)

// kvmUserspaceMemoryRegion mirrors struct kvm_userspace_memory_region.
type kvmUserspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

// kvmRegs mirrors struct kvm_regs (x86).
type kvmRegs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

// kvmSegment mirrors struct kvm_segment.
type kvmSegment struct {
	Base                                 uint64
	Limit                                uint32
	Selector                             uint16
	Type, Present, DPL, DB, S, L, G, AVL uint8
	Unusable                             uint8
	_                                    uint8
}

// kvmDtable mirrors struct kvm_dtable.
type kvmDtable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// kvmSregs mirrors struct kvm_sregs (x86).
type kvmSregs struct {
	CS, DS, ES, FS, GS, SS, TR, LDT         kvmSegment
	GDT, IDT                                kvmDtable
	CR0, CR2, CR3, CR4, CR8, EFER, APICBase uint64
	InterruptBitmap                         [4]uint64
}

func TestABISizes(t *testing.T) {
	for _, c := range []struct {
		name string
		got  uintptr
		req  uint
	}{
		{"kvm_userspace_memory_region", sizeOf[kvmUserspaceMemoryRegion](), kvmSetUserMemoryRegion},
		{"kvm_regs", sizeOf[kvmRegs](), kvmGetRegs},
		{"kvm_regs", sizeOf[kvmRegs](), kvmSetRegs},
		{"kvm_sregs", sizeOf[kvmSregs](), kvmGetSregs},
		{"kvm_sregs", sizeOf[kvmSregs](), kvmSetSregs},
	} {
		if want := uintptr(c.req>>16) & 0x3fff; c.got != want {
			t.Errorf("%s: Go size %d, ioctl %#x encodes %d", c.name, c.got, c.req, want)
		}
	}
}

// requireHardwareKVM skips where /dev/kvm is not a hardware-style AMD KVM, and
// fails instead inside the nested harness (proto.EnvInside set), where a skip
// would look like a pass.
func requireHardwareKVM(t *testing.T) {
	t.Helper()
	stop := t.Skip
	if os.Getenv(proto.EnvInside) == "1" {
		stop = t.Fatal
	}
	if exists("/sys/module/kvm_pvm") {
		stop("kvm_pvm loaded: /dev/kvm is PVM, not hardware-style KVM; make test-kvm-x86 runs this nested")
		return
	}
	if !exists("/sys/module/kvm_amd") {
		stop("kvm_amd not loaded: no hardware-style AMD KVM here; make test-kvm-x86 runs this nested")
		return
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestHardwareKVM(t *testing.T) {
	if *forceFail {
		t.Fatal("failing on purpose (-probe.fail)")
	}
	requireHardwareKVM(t)

	kvm, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/kvm: %v", err)
	}
	defer unix.Close(kvm)
	if v, err := unix.IoctlRetInt(kvm, kvmGetAPIVersion); err != nil || v != kvmAPIVersion {
		t.Fatalf("KVM_GET_API_VERSION = %d, %v; want %d", v, err, kvmAPIVersion)
	}
	vm, err := unix.IoctlRetInt(kvm, kvmCreateVM)
	if err != nil {
		t.Fatalf("KVM_CREATE_VM: %v", err)
	}
	defer unix.Close(vm)
	vcpu, err := unix.IoctlRetInt(vm, kvmCreateVCPU)
	if err != nil {
		t.Fatalf("KVM_CREATE_VCPU 0: %v", err)
	}
	defer unix.Close(vcpu)
	t.Logf("KVM_GET_API_VERSION=%d, KVM_CREATE_VM and KVM_CREATE_VCPU succeeded", kvmAPIVersion)

	runSize, err := unix.IoctlRetInt(kvm, kvmGetVCPUMmapSize)
	if err != nil {
		t.Fatalf("KVM_GET_VCPU_MMAP_SIZE: %v", err)
	}
	run, err := unix.Mmap(vcpu, 0, runSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap kvm_run: %v", err)
	}
	defer unix.Munmap(run)

	// Real mode at 0x1000: mov al, 0x42; out 0x10, al; hlt.
	const codeGPA = 0x1000
	mem, err := unix.Mmap(-1, 0, 0x2000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap guest memory: %v", err)
	}
	defer unix.Munmap(mem)
	copy(mem[codeGPA:], []byte{0xb0, 0x42, 0xe6, 0x10, 0xf4})
	region := memoryRegion(0, 0, mem)
	if err := ioctlPtr(vm, kvmSetUserMemoryRegion, &region); err != nil {
		t.Fatalf("KVM_SET_USER_MEMORY_REGION: %v", err)
	}
	var sregs kvmSregs
	if err := ioctlPtr(vcpu, kvmGetSregs, &sregs); err != nil {
		t.Fatalf("KVM_GET_SREGS: %v", err)
	}
	sregs.CS.Base, sregs.CS.Selector = 0, 0
	if err := ioctlPtr(vcpu, kvmSetSregs, &sregs); err != nil {
		t.Fatalf("KVM_SET_SREGS: %v", err)
	}
	regs := kvmRegs{RIP: codeGPA, RFLAGS: 2}
	if err := ioctlPtr(vcpu, kvmSetRegs, &regs); err != nil {
		t.Fatalf("KVM_SET_REGS: %v", err)
	}

	exit := func() uint32 { return binary.LittleEndian.Uint32(run[8:]) }
	if err := kvmRunOnce(vcpu); err != nil {
		t.Fatalf("KVM_RUN: %v", err)
	}
	if got := exit(); got != kvmExitIO {
		t.Fatalf("first exit reason %d, want KVM_EXIT_IO (%d)", got, kvmExitIO)
	}
	// struct kvm_run's io member: direction u8, size u8, port u16, count u32,
	// data_offset u64, at offset 32.
	dir, size, port := run[32], run[33], binary.LittleEndian.Uint16(run[34:])
	dataOff := binary.LittleEndian.Uint64(run[40:])
	if dir != kvmExitIOOut || size != 1 || port != 0x10 || dataOff >= uint64(len(run)) || run[dataOff] != 0x42 {
		t.Fatalf("io exit: dir=%d size=%d port=%#x data_offset=%d; want an out of 0x42 to port 0x10", dir, size, port, dataOff)
	}
	if err := kvmRunOnce(vcpu); err != nil {
		t.Fatalf("KVM_RUN: %v", err)
	}
	if got := exit(); got != kvmExitHLT {
		t.Fatalf("second exit reason %d, want KVM_EXIT_HLT (%d)", got, kvmExitHLT)
	}
	t.Logf("guest ran: out 0x42 to port 0x10, then hlt")
}

// kvmRunOnce enters the guest until its next exit, retrying an entry cut short
// by a signal (the Go runtime preempts with SIGURG).
func kvmRunOnce(vcpu int) error {
	for {
		_, err := unix.IoctlRetInt(vcpu, kvmRun)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
