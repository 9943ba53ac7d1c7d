// Command kvmhlt is the launch tracer's test target: a minimal VMM that
// opens /dev/kvm, creates a VM with one vCPU, maps guest RAM holding a single
// hlt at the x86 reset vector, and calls KVM_RUN once. Run untraced it prints
// "hlt" after the guest halts; under the tracer it is killed at the KVM_RUN.
// Before KVM_RUN it prints "guest_ram <host address> <bytes>".
//
// The vCPU starts in its reset state (real mode, CS base 0xffff0000, IP
// 0xfff0), so the guest RAM is placed to end at 4 GiB and no register needs
// setting. It is a shared anonymous mapping, which the kernel never merges
// with a neighbour, so the tracer's guest RAM rule sees it as one entry of
// exactly -m bytes.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// From linux/kvm.h.
const (
	kvmGetAPIVersion       = 0xae00
	kvmCreateVM            = 0xae01
	kvmGetVCPUMmapSize     = 0xae04
	kvmCreateVCPU          = 0xae41
	kvmRun                 = 0xae80
	kvmSetUserMemoryRegion = 0x4020ae46 // _IOW(KVMIO, 0x46, 32 bytes)
	kvmExitHLT             = 5
	// struct kvm_run: __u8 request_interrupt_window, immediate_exit,
	// padding1[6]; __u32 exit_reason.
	kvmRunExitReasonOffset = 8
)

const (
	resetVectorPhys = 0xfffffff0 // CS base 0xffff0000 + IP 0xfff0
	fourGiB         = 1 << 32
	hltOpcode       = 0xf4
)

// kvmUserspaceMemoryRegion mirrors struct kvm_userspace_memory_region.
type kvmUserspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

func ioctl(fd int, req, arg uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

func main() {
	mem := flag.Uint64("m", 2, "guest RAM in MiB")
	threads := flag.Int("threads", 0, "OS threads to start before KVM_RUN (exercises the tracer's clone handling)")
	selfSignal := flag.Bool("signal", false, "send itself SIGUSR1 and wait for it before KVM_RUN (exercises signal pass-through)")
	flag.Parse()
	if err := run(*mem<<20, *threads, *selfSignal); err != nil {
		fmt.Fprintf(os.Stderr, "kvmhlt: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("hlt")
}

func run(ramBytes uint64, threads int, selfSignal bool) error {
	if ramBytes == 0 || ramBytes > fourGiB || ramBytes%4096 != 0 {
		return fmt.Errorf("guest RAM size %d: want whole pages up to 4 GiB", ramBytes)
	}
	if selfSignal {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR1)
		if err := unix.Kill(os.Getpid(), unix.SIGUSR1); err != nil {
			return fmt.Errorf("kill self: %w", err)
		}
		<-ch // never returns if a tracer swallowed the signal
		signal.Stop(ch)
	}
	startThreads(threads)

	kvm, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/kvm: %w", err)
	}
	if v, err := ioctl(kvm, kvmGetAPIVersion, 0); err != nil || v != 12 {
		return fmt.Errorf("KVM_GET_API_VERSION = %d, %v; want 12", v, err)
	}
	vmfd, err := ioctl(kvm, kvmCreateVM, 0)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	vm := int(vmfd)

	ram, err := unix.Mmap(-1, 0, int(ramBytes), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("mmap guest RAM: %w", err)
	}
	base := uint64(fourGiB) - ramBytes
	ram[resetVectorPhys-base] = hltOpcode
	region := kvmUserspaceMemoryRegion{
		MemorySize:    ramBytes,
		GuestPhysAddr: base,
		UserspaceAddr: uint64(uintptr(unsafe.Pointer(&ram[0]))),
	}
	if size := unsafe.Sizeof(region); size != kvmSetUserMemoryRegion>>16&0x3fff {
		return fmt.Errorf("kvm_userspace_memory_region is %d bytes, the ioctl number says %d", size, kvmSetUserMemoryRegion>>16&0x3fff)
	}
	if _, err := ioctl(vm, kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&region))); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION: %w", err)
	}
	runtime.KeepAlive(ram)
	// The tracer test checks that the launch tool picks this mapping.
	fmt.Printf("guest_ram %#x %d\n", region.UserspaceAddr, ramBytes)

	// KVM_RUN on a thread of its own, as a real VMM's vCPU thread, so the
	// tracer has to follow a clone to see it.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- runVCPU(kvm, vm)
	}()
	return <-errc
}

func runVCPU(kvm, vm int) error {
	vcpufd, err := ioctl(vm, kvmCreateVCPU, 0)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VCPU: %w", err)
	}
	size, err := ioctl(kvm, kvmGetVCPUMmapSize, 0)
	if err != nil {
		return fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	run, err := unix.Mmap(int(vcpufd), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap kvm_run: %w", err)
	}
	if _, err := ioctl(int(vcpufd), kvmRun, 0); err != nil {
		return fmt.Errorf("KVM_RUN: %w", err)
	}
	if r := binary.LittleEndian.Uint32(run[kvmRunExitReasonOffset:]); r != kvmExitHLT {
		return fmt.Errorf("exit reason %d, want KVM_EXIT_HLT (%d)", r, kvmExitHLT)
	}
	return nil
}

// startThreads makes the Go runtime create n more OS threads by keeping n
// goroutines locked to their threads and parked in a syscall-free wait.
func startThreads(n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			runtime.LockOSThread()
			wg.Done()
			select {}
		}()
	}
	wg.Wait()
}
