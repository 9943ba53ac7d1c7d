//go:build linux && amd64

package kvm

// ioctl number encoding, asm-generic/ioctl.h (x86 uses the generic one).
const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2

	iocNRShift   = 0
	iocTypeShift = 8
	iocSizeShift = 16
	iocDirShift  = 30

	kvmio = 0xAE
)

// The encodings are constant expressions so that the numbers are fixed at
// compile time; kvm_abi_test.go checks every one against <linux/kvm.h>.
const (
	ioBase   = iocNone<<iocDirShift | kvmio<<iocTypeShift
	iorBase  = iocRead<<iocDirShift | kvmio<<iocTypeShift
	iowBase  = iocWrite<<iocDirShift | kvmio<<iocTypeShift
	iowrBase = (iocRead|iocWrite)<<iocDirShift | kvmio<<iocTypeShift
)

// Struct sizes used in ioctl numbers. kvm_abi_test.go asserts that each
// equals both unsafe.Sizeof of the Go mirror and sizeof in the C header.
const (
	sizeofMSRList          = 4
	sizeofCPUID2           = 8
	sizeofUserMemoryRegion = 32
	sizeofU64              = 8
	sizeofIRQLevel         = 8
	sizeofIRQRouting       = 8
	sizeofIRQFD            = 32
	sizeofPITConfig        = 64
	sizeofIOEventFD        = 64
	sizeofRegs             = 144
	sizeofSregs            = 312
	sizeofMSRs             = 8
	sizeofFPU              = 416
	sizeofLAPICState       = 1024
	sizeofVCPUEvents       = 64
	sizeofMPState          = 4
	sizeofEnableCap        = 104
	sizeofSignalMask       = 4
)

// System ioctls (linux/kvm.h "ioctls for /dev/kvm fds").
const (
	KVM_GET_API_VERSION       = ioBase | 0x00
	KVM_CREATE_VM             = ioBase | 0x01
	KVM_GET_MSR_INDEX_LIST    = iowrBase | sizeofMSRList<<iocSizeShift | 0x02
	KVM_CHECK_EXTENSION       = ioBase | 0x03
	KVM_GET_VCPU_MMAP_SIZE    = ioBase | 0x04
	KVM_GET_SUPPORTED_CPUID   = iowrBase | sizeofCPUID2<<iocSizeShift | 0x05
	KVM_GET_MSR_FEATURE_INDEX = iowrBase | sizeofMSRList<<iocSizeShift | 0x0a
)

// VM ioctls (linux/kvm.h "ioctls for VM fds").
const (
	KVM_CREATE_VCPU            = ioBase | 0x41
	KVM_SET_USER_MEMORY_REGION = iowBase | sizeofUserMemoryRegion<<iocSizeShift | 0x46
	KVM_SET_TSS_ADDR           = ioBase | 0x47
	KVM_SET_IDENTITY_MAP_ADDR  = iowBase | sizeofU64<<iocSizeShift | 0x48
	KVM_CREATE_IRQCHIP         = ioBase | 0x60
	KVM_IRQ_LINE               = iowBase | sizeofIRQLevel<<iocSizeShift | 0x61
	KVM_IRQ_LINE_STATUS        = iowrBase | sizeofIRQLevel<<iocSizeShift | 0x67
	KVM_SET_GSI_ROUTING        = iowBase | sizeofIRQRouting<<iocSizeShift | 0x6a
	KVM_IRQFD                  = iowBase | sizeofIRQFD<<iocSizeShift | 0x76
	KVM_CREATE_PIT2            = iowBase | sizeofPITConfig<<iocSizeShift | 0x77
	KVM_IOEVENTFD              = iowBase | sizeofIOEventFD<<iocSizeShift | 0x79
	KVM_ENABLE_CAP             = iowBase | sizeofEnableCap<<iocSizeShift | 0xa3
)

// vCPU ioctls (linux/kvm.h "ioctls for vcpu fds").
const (
	KVM_RUN             = ioBase | 0x80
	KVM_GET_REGS        = iorBase | sizeofRegs<<iocSizeShift | 0x81
	KVM_SET_REGS        = iowBase | sizeofRegs<<iocSizeShift | 0x82
	KVM_GET_SREGS       = iorBase | sizeofSregs<<iocSizeShift | 0x83
	KVM_SET_SREGS       = iowBase | sizeofSregs<<iocSizeShift | 0x84
	KVM_GET_MSRS        = iowrBase | sizeofMSRs<<iocSizeShift | 0x88
	KVM_SET_MSRS        = iowBase | sizeofMSRs<<iocSizeShift | 0x89
	KVM_SET_SIGNAL_MASK = iowBase | sizeofSignalMask<<iocSizeShift | 0x8b
	KVM_GET_FPU         = iorBase | sizeofFPU<<iocSizeShift | 0x8c
	KVM_SET_FPU         = iowBase | sizeofFPU<<iocSizeShift | 0x8d
	KVM_GET_LAPIC       = iorBase | sizeofLAPICState<<iocSizeShift | 0x8e
	KVM_SET_LAPIC       = iowBase | sizeofLAPICState<<iocSizeShift | 0x8f
	KVM_SET_CPUID2      = iowBase | sizeofCPUID2<<iocSizeShift | 0x90
	KVM_GET_CPUID2      = iowrBase | sizeofCPUID2<<iocSizeShift | 0x91
	KVM_GET_MP_STATE    = iorBase | sizeofMPState<<iocSizeShift | 0x98
	KVM_SET_MP_STATE    = iowBase | sizeofMPState<<iocSizeShift | 0x99
	KVM_GET_VCPU_EVENTS = iorBase | sizeofVCPUEvents<<iocSizeShift | 0x9f
	KVM_SET_VCPU_EVENTS = iowBase | sizeofVCPUEvents<<iocSizeShift | 0xa0
	KVM_SET_TSC_KHZ     = ioBase | 0xa2
	KVM_GET_TSC_KHZ     = ioBase | 0xa3
)

// KVM_API_VERSION is the only API version this package speaks.
const KVM_API_VERSION = 12

// Capabilities (KVM_CAP_*), the subset govmm checks.
const (
	KVM_CAP_IRQCHIP               = 0
	KVM_CAP_HLT                   = 1
	KVM_CAP_USER_MEMORY           = 3
	KVM_CAP_SET_TSS_ADDR          = 4
	KVM_CAP_EXT_CPUID             = 7
	KVM_CAP_NR_VCPUS              = 9
	KVM_CAP_NR_MEMSLOTS           = 10
	KVM_CAP_IRQ_ROUTING           = 25
	KVM_CAP_IRQFD                 = 32
	KVM_CAP_PIT2                  = 33
	KVM_CAP_IOEVENTFD             = 36
	KVM_CAP_SET_IDENTITY_MAP_ADDR = 37
	KVM_CAP_VCPU_EVENTS           = 41
	KVM_CAP_TSC_CONTROL           = 60
	KVM_CAP_GET_TSC_KHZ           = 61
	KVM_CAP_MAX_VCPUS             = 66
	KVM_CAP_TSC_DEADLINE_TIMER    = 72
	KVM_CAP_SIGNAL_MSI            = 77
	KVM_CAP_MAX_VCPU_ID           = 128
	KVM_CAP_IMMEDIATE_EXIT        = 136
)

// Exit reasons (kvm_run.exit_reason).
const (
	KVM_EXIT_UNKNOWN         = 0
	KVM_EXIT_EXCEPTION       = 1
	KVM_EXIT_IO              = 2
	KVM_EXIT_HYPERCALL       = 3
	KVM_EXIT_DEBUG           = 4
	KVM_EXIT_HLT             = 5
	KVM_EXIT_MMIO            = 6
	KVM_EXIT_IRQ_WINDOW_OPEN = 7
	KVM_EXIT_SHUTDOWN        = 8
	KVM_EXIT_FAIL_ENTRY      = 9
	KVM_EXIT_INTR            = 10
	KVM_EXIT_INTERNAL_ERROR  = 17
	KVM_EXIT_SYSTEM_EVENT    = 24
)

// KVM_EXIT_IO directions.
const (
	KVM_EXIT_IO_IN  = 0
	KVM_EXIT_IO_OUT = 1
)

// KVM_SYSTEM_EVENT types.
const (
	KVM_SYSTEM_EVENT_SHUTDOWN = 1
	KVM_SYSTEM_EVENT_RESET    = 2
	KVM_SYSTEM_EVENT_CRASH    = 3
)

// KVM_INTERNAL_ERROR suberrors.
const (
	KVM_INTERNAL_ERROR_EMULATION              = 1
	KVM_INTERNAL_ERROR_SIMUL_EX               = 2
	KVM_INTERNAL_ERROR_DELIVERY_EV            = 3
	KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4
)

// Memory region flags.
const (
	KVM_MEM_LOG_DIRTY_PAGES = 1 << 0
	KVM_MEM_READONLY        = 1 << 1
)

// IRQ routing entry types and irqchip ids.
const (
	KVM_IRQ_ROUTING_IRQCHIP = 1
	KVM_IRQ_ROUTING_MSI     = 2

	KVM_IRQCHIP_PIC_MASTER = 0
	KVM_IRQCHIP_PIC_SLAVE  = 1
	KVM_IRQCHIP_IOAPIC     = 2
)

// KVM_IRQFD flags.
const (
	KVM_IRQFD_FLAG_DEASSIGN = 1 << 0
	KVM_IRQFD_FLAG_RESAMPLE = 1 << 1
)

// KVM_IOEVENTFD flags.
const (
	KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0
	KVM_IOEVENTFD_FLAG_PIO       = 1 << 1
	KVM_IOEVENTFD_FLAG_DEASSIGN  = 1 << 2
)

// KVM_CREATE_PIT2 flags.
const KVM_PIT_SPEAKER_DUMMY = 1

// CPUID entry flags (kvm_cpuid_entry2.flags).
const (
	KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0
)

// MP states.
const (
	KVM_MP_STATE_RUNNABLE      = 0
	KVM_MP_STATE_UNINITIALIZED = 1
	KVM_MP_STATE_INIT_RECEIVED = 2
	KVM_MP_STATE_HALTED        = 3
)

// Limits on variable-length ioctl arguments; the kernel refuses more.
const (
	KVM_MAX_CPUID_ENTRIES = 256
	KVM_MAX_IRQ_ROUTES    = 4096
)
