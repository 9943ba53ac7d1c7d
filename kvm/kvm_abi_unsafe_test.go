//go:build linux && amd64

package kvm

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// abiValue is one number the Go side encodes and the C headers define.
type abiValue struct {
	name string // a C expression
	got  uint64
}

func abiValues() []abiValue {
	v := func(n string, x uint64) abiValue { return abiValue{n, x} }
	return []abiValue{
		v("KVM_GET_API_VERSION", KVM_GET_API_VERSION),
		v("KVM_CREATE_VM", KVM_CREATE_VM),
		v("KVM_GET_MSR_INDEX_LIST", KVM_GET_MSR_INDEX_LIST),
		v("KVM_CHECK_EXTENSION", KVM_CHECK_EXTENSION),
		v("KVM_GET_VCPU_MMAP_SIZE", KVM_GET_VCPU_MMAP_SIZE),
		v("KVM_GET_SUPPORTED_CPUID", KVM_GET_SUPPORTED_CPUID),
		v("KVM_GET_MSR_FEATURE_INDEX_LIST", KVM_GET_MSR_FEATURE_INDEX),
		v("KVM_CREATE_VCPU", KVM_CREATE_VCPU),
		v("KVM_SET_USER_MEMORY_REGION", KVM_SET_USER_MEMORY_REGION),
		v("KVM_SET_TSS_ADDR", KVM_SET_TSS_ADDR),
		v("KVM_SET_IDENTITY_MAP_ADDR", KVM_SET_IDENTITY_MAP_ADDR),
		v("KVM_CREATE_IRQCHIP", KVM_CREATE_IRQCHIP),
		v("KVM_IRQ_LINE", KVM_IRQ_LINE),
		v("KVM_IRQ_LINE_STATUS", KVM_IRQ_LINE_STATUS),
		v("KVM_SET_GSI_ROUTING", KVM_SET_GSI_ROUTING),
		v("KVM_IRQFD", KVM_IRQFD),
		v("KVM_CREATE_PIT2", KVM_CREATE_PIT2),
		v("KVM_IOEVENTFD", KVM_IOEVENTFD),
		v("KVM_ENABLE_CAP", KVM_ENABLE_CAP),
		v("KVM_RUN", KVM_RUN),
		v("KVM_GET_REGS", KVM_GET_REGS),
		v("KVM_SET_REGS", KVM_SET_REGS),
		v("KVM_GET_SREGS", KVM_GET_SREGS),
		v("KVM_SET_SREGS", KVM_SET_SREGS),
		v("KVM_GET_MSRS", KVM_GET_MSRS),
		v("KVM_SET_MSRS", KVM_SET_MSRS),
		v("KVM_SET_SIGNAL_MASK", KVM_SET_SIGNAL_MASK),
		v("KVM_GET_FPU", KVM_GET_FPU),
		v("KVM_SET_FPU", KVM_SET_FPU),
		v("KVM_GET_LAPIC", KVM_GET_LAPIC),
		v("KVM_SET_LAPIC", KVM_SET_LAPIC),
		v("KVM_SET_CPUID2", KVM_SET_CPUID2),
		v("KVM_GET_CPUID2", KVM_GET_CPUID2),
		v("KVM_GET_MP_STATE", KVM_GET_MP_STATE),
		v("KVM_SET_MP_STATE", KVM_SET_MP_STATE),
		v("KVM_GET_VCPU_EVENTS", KVM_GET_VCPU_EVENTS),
		v("KVM_SET_VCPU_EVENTS", KVM_SET_VCPU_EVENTS),
		v("KVM_SET_TSC_KHZ", KVM_SET_TSC_KHZ),
		v("KVM_GET_TSC_KHZ", KVM_GET_TSC_KHZ),
		v("KVM_API_VERSION", KVM_API_VERSION),
		v("KVM_CAP_IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT),
		v("KVM_CAP_MAX_VCPUS", KVM_CAP_MAX_VCPUS),
		v("KVM_CAP_TSC_DEADLINE_TIMER", KVM_CAP_TSC_DEADLINE_TIMER),
		v("KVM_CAP_IRQFD", KVM_CAP_IRQFD),
		v("KVM_CAP_IOEVENTFD", KVM_CAP_IOEVENTFD),
		v("KVM_CAP_PIT2", KVM_CAP_PIT2),
		v("KVM_CAP_IRQ_ROUTING", KVM_CAP_IRQ_ROUTING),
		v("KVM_CAP_SET_IDENTITY_MAP_ADDR", KVM_CAP_SET_IDENTITY_MAP_ADDR),
		v("KVM_EXIT_IO", KVM_EXIT_IO),
		v("KVM_EXIT_MMIO", KVM_EXIT_MMIO),
		v("KVM_EXIT_HLT", KVM_EXIT_HLT),
		v("KVM_EXIT_SHUTDOWN", KVM_EXIT_SHUTDOWN),
		v("KVM_EXIT_FAIL_ENTRY", KVM_EXIT_FAIL_ENTRY),
		v("KVM_EXIT_INTR", KVM_EXIT_INTR),
		v("KVM_EXIT_INTERNAL_ERROR", KVM_EXIT_INTERNAL_ERROR),
		v("KVM_EXIT_SYSTEM_EVENT", KVM_EXIT_SYSTEM_EVENT),
		v("KVM_SYSTEM_EVENT_SHUTDOWN", KVM_SYSTEM_EVENT_SHUTDOWN),
		v("KVM_SYSTEM_EVENT_RESET", KVM_SYSTEM_EVENT_RESET),
		v("KVM_IRQ_ROUTING_MSI", KVM_IRQ_ROUTING_MSI),
		v("KVM_IOEVENTFD_FLAG_PIO", KVM_IOEVENTFD_FLAG_PIO),

		v("sizeof(struct kvm_regs)", uint64(unsafe.Sizeof(Regs{}))),
		v("sizeof(struct kvm_segment)", uint64(unsafe.Sizeof(Segment{}))),
		v("sizeof(struct kvm_dtable)", uint64(unsafe.Sizeof(DTable{}))),
		v("sizeof(struct kvm_sregs)", uint64(unsafe.Sizeof(Sregs{}))),
		v("sizeof(struct kvm_fpu)", uint64(unsafe.Sizeof(FPU{}))),
		v("sizeof(struct kvm_lapic_state)", uint64(unsafe.Sizeof(LAPICState{}))),
		v("sizeof(struct kvm_cpuid_entry2)", uint64(unsafe.Sizeof(CPUIDEntry{}))),
		v("sizeof(struct kvm_cpuid2)", uint64(unsafe.Sizeof(cpuid2Header{}))),
		v("sizeof(struct kvm_msr_entry)", uint64(unsafe.Sizeof(MSREntry{}))),
		v("sizeof(struct kvm_msrs)", uint64(unsafe.Sizeof(msrsHeader{}))),
		v("sizeof(struct kvm_vcpu_events)", uint64(unsafe.Sizeof(VCPUEvents{}))),
		v("sizeof(struct kvm_userspace_memory_region)", uint64(unsafe.Sizeof(userMemoryRegion{}))),
		v("sizeof(struct kvm_irq_level)", uint64(unsafe.Sizeof(irqLevel{}))),
		v("sizeof(struct kvm_irqfd)", uint64(unsafe.Sizeof(irqfd{}))),
		v("sizeof(struct kvm_ioeventfd)", uint64(unsafe.Sizeof(ioeventfd{}))),
		v("sizeof(struct kvm_pit_config)", uint64(unsafe.Sizeof(pitConfig{}))),
		v("sizeof(struct kvm_enable_cap)", uint64(unsafe.Sizeof(enableCap{}))),
		v("sizeof(struct kvm_irq_routing_entry)", uint64(unsafe.Sizeof(IRQRoute{}))),
		v("sizeof(struct kvm_irq_routing)", uint64(unsafe.Sizeof(irqRoutingHeader{}))),
		v("sizeof(struct kvm_mp_state)", 4),

		v("offsetof(struct kvm_run, immediate_exit)", uint64(unsafe.Offsetof(runHeader{}.ImmediateExit))),
		v("offsetof(struct kvm_run, exit_reason)", uint64(unsafe.Offsetof(runHeader{}.ExitReason))),
		v("offsetof(struct kvm_run, cr8)", uint64(unsafe.Offsetof(runHeader{}.CR8))),
		v("offsetof(struct kvm_run, io)", runExitOffset),
		v("offsetof(struct kvm_run, io.port)", runExitOffset+uint64(unsafe.Offsetof(ioExit{}.Port))),
		v("offsetof(struct kvm_run, io.count)", runExitOffset+uint64(unsafe.Offsetof(ioExit{}.Count))),
		v("offsetof(struct kvm_run, io.data_offset)", runExitOffset+uint64(unsafe.Offsetof(ioExit{}.DataOffset))),
		v("offsetof(struct kvm_run, mmio.data)", runExitOffset+uint64(unsafe.Offsetof(mmioExit{}.Data))),
		v("offsetof(struct kvm_run, mmio.len)", runExitOffset+uint64(unsafe.Offsetof(mmioExit{}.Len))),
		v("offsetof(struct kvm_run, mmio.is_write)", runExitOffset+uint64(unsafe.Offsetof(mmioExit{}.IsWrite))),
		v("offsetof(struct kvm_run, internal.data)", runExitOffset+uint64(unsafe.Offsetof(internalExit{}.Data))),
		v("offsetof(struct kvm_run, system_event.data)", runExitOffset+uint64(unsafe.Offsetof(systemEventExit{}.Data))),
		v("offsetof(struct kvm_run, fail_entry.cpu)", runExitOffset+uint64(unsafe.Offsetof(failEntryExit{}.CPU))),
		v("offsetof(struct kvm_run, kvm_valid_regs)", uint64(unsafe.Sizeof(runHeader{}))),
		v("offsetof(struct kvm_sregs, gdt)", uint64(unsafe.Offsetof(Sregs{}.GDT))),
		v("offsetof(struct kvm_sregs, cr0)", uint64(unsafe.Offsetof(Sregs{}.CR0))),
		v("offsetof(struct kvm_sregs, interrupt_bitmap)", uint64(unsafe.Offsetof(Sregs{}.InterruptBitmap))),
		v("offsetof(struct kvm_fpu, xmm)", uint64(unsafe.Offsetof(FPU{}.XMM))),
		v("offsetof(struct kvm_fpu, mxcsr)", uint64(unsafe.Offsetof(FPU{}.MXCSR))),
		v("offsetof(struct kvm_vcpu_events, sipi_vector)", uint64(unsafe.Offsetof(VCPUEvents{}.SIPIVector))),
		v("offsetof(struct kvm_vcpu_events, exception_payload)", uint64(unsafe.Offsetof(VCPUEvents{}.ExceptionPayload))),
		v("offsetof(struct kvm_ioeventfd, flags)", uint64(unsafe.Offsetof(ioeventfd{}.Flags))),
	}
}

// TestABIAgainstKernelHeaders compiles a C program against the installed
// <linux/kvm.h> and compares every ioctl number, constant, struct size and
// offset the Go side relies on.
func TestABIAgainstKernelHeaders(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed: cannot compile the header check")
	}
	if _, err := os.Stat("/usr/include/linux/kvm.h"); err != nil {
		t.Skip("linux/kvm.h not installed (apt-get install linux-libc-dev)")
	}
	vals := abiValues()
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <stddef.h>\n#include <linux/kvm.h>\nint main(void){\n")
	for _, v := range vals {
		fmt.Fprintf(&src, "printf(\"%%llu\\n\", (unsigned long long)(%s));\n", v.name)
	}
	src.WriteString("return 0;}\n")
	dir := t.TempDir()
	cfile := filepath.Join(dir, "abi.c")
	bin := filepath.Join(dir, "abi")
	if err := os.WriteFile(cfile, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-o", bin, cfile).CombinedOutput(); err != nil {
		t.Fatalf("compile header check: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("run header check: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	i := 0
	for sc.Scan() {
		want, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if vals[i].got != want {
			t.Errorf("%s: Go has %#x, <linux/kvm.h> has %#x", vals[i].name, vals[i].got, want)
		}
		i++
	}
	if i != len(vals) {
		t.Fatalf("header check printed %d values, want %d", i, len(vals))
	}
}

// TestSizesMatchIoctlNumbers checks that the size encoded in each ioctl
// number is the size of the Go struct passed with it.
func TestSizesMatchIoctlNumbers(t *testing.T) {
	size := func(req uint64) uint64 { return (req >> iocSizeShift) & (1<<14 - 1) }
	for _, c := range []struct {
		name string
		req  uint64
		sz   uintptr
	}{
		{"KVM_GET_REGS", KVM_GET_REGS, unsafe.Sizeof(Regs{})},
		{"KVM_SET_SREGS", KVM_SET_SREGS, unsafe.Sizeof(Sregs{})},
		{"KVM_GET_FPU", KVM_GET_FPU, unsafe.Sizeof(FPU{})},
		{"KVM_GET_LAPIC", KVM_GET_LAPIC, unsafe.Sizeof(LAPICState{})},
		{"KVM_SET_CPUID2", KVM_SET_CPUID2, unsafe.Sizeof(cpuid2Header{})},
		{"KVM_SET_MSRS", KVM_SET_MSRS, unsafe.Sizeof(msrsHeader{})},
		{"KVM_GET_VCPU_EVENTS", KVM_GET_VCPU_EVENTS, unsafe.Sizeof(VCPUEvents{})},
		{"KVM_SET_USER_MEMORY_REGION", KVM_SET_USER_MEMORY_REGION, unsafe.Sizeof(userMemoryRegion{})},
		{"KVM_IRQ_LINE", KVM_IRQ_LINE, unsafe.Sizeof(irqLevel{})},
		{"KVM_IRQFD", KVM_IRQFD, unsafe.Sizeof(irqfd{})},
		{"KVM_IOEVENTFD", KVM_IOEVENTFD, unsafe.Sizeof(ioeventfd{})},
		{"KVM_CREATE_PIT2", KVM_CREATE_PIT2, unsafe.Sizeof(pitConfig{})},
		{"KVM_ENABLE_CAP", KVM_ENABLE_CAP, unsafe.Sizeof(enableCap{})},
		{"KVM_SET_GSI_ROUTING", KVM_SET_GSI_ROUTING, unsafe.Sizeof(irqRoutingHeader{})},
		{"KVM_GET_MP_STATE", KVM_GET_MP_STATE, 4},
	} {
		if size(c.req) != uint64(c.sz) {
			t.Errorf("%s encodes size %d, Go struct is %d bytes", c.name, size(c.req), c.sz)
		}
	}
}
