//go:build linux && amd64

package kvm

// Regs mirrors struct kvm_regs (arch/x86/include/uapi/asm/kvm.h).
type Regs struct {
	RAX, RBX, RCX, RDX uint64
	RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11   uint64
	R12, R13, R14, R15 uint64
	RIP, RFLAGS        uint64
}

// Segment mirrors struct kvm_segment.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	_        uint8
}

// DTable mirrors struct kvm_dtable (GDTR/IDTR).
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// Sregs mirrors struct kvm_sregs.
type Sregs struct {
	CS, DS, ES, FS, GS, SS Segment
	TR, LDT                Segment
	GDT, IDT               DTable
	CR0, CR2, CR3, CR4     uint64
	CR8                    uint64
	EFER                   uint64
	APICBase               uint64
	InterruptBitmap        [4]uint64
}

// FPU mirrors struct kvm_fpu.
type FPU struct {
	FPR        [8][16]uint8
	FCW        uint16
	FSW        uint16
	FTWX       uint8
	_          uint8
	LastOpcode uint16
	LastIP     uint64
	LastDP     uint64
	XMM        [16][16]uint8
	MXCSR      uint32
	_          uint32
}

// LAPICState mirrors struct kvm_lapic_state: the 1 KiB APIC register page.
type LAPICState struct {
	Regs [1024]byte
}

// CPUIDEntry mirrors struct kvm_cpuid_entry2.
type CPUIDEntry struct {
	Function uint32
	Index    uint32
	Flags    uint32
	EAX      uint32
	EBX      uint32
	ECX      uint32
	EDX      uint32
	_        [3]uint32
}

// cpuid2Header mirrors the fixed part of struct kvm_cpuid2; the entries
// follow it in the same buffer.
type cpuid2Header struct {
	NEnt uint32
	_    uint32
}

// MSREntry mirrors struct kvm_msr_entry.
type MSREntry struct {
	Index uint32
	_     uint32
	Data  uint64
}

// msrsHeader mirrors the fixed part of struct kvm_msrs.
type msrsHeader struct {
	NMSRs uint32
	_     uint32
}

// VCPUEvents mirrors struct kvm_vcpu_events.
type VCPUEvents struct {
	Exception struct {
		Injected     uint8
		NR           uint8
		HasErrorCode uint8
		Pending      uint8
		ErrorCode    uint32
	}
	Interrupt struct {
		Injected uint8
		NR       uint8
		Soft     uint8
		Shadow   uint8
	}
	NMI struct {
		Injected uint8
		Pending  uint8
		Masked   uint8
		_        uint8
	}
	SIPIVector uint32
	Flags      uint32
	SMI        struct {
		SMM          uint8
		Pending      uint8
		SMMInsideNMI uint8
		LatchedInit  uint8
	}
	TripleFaultPending  uint8
	_                   [26]uint8
	ExceptionHasPayload uint8
	ExceptionPayload    uint64
}

// userMemoryRegion mirrors struct kvm_userspace_memory_region.
type userMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

// irqLevel mirrors struct kvm_irq_level.
type irqLevel struct {
	IRQ   uint32
	Level uint32
}

// irqfd mirrors struct kvm_irqfd.
type irqfd struct {
	FD         uint32
	GSI        uint32
	Flags      uint32
	ResampleFD uint32
	_          [16]uint8
}

// ioeventfd mirrors struct kvm_ioeventfd.
type ioeventfd struct {
	DataMatch uint64
	Addr      uint64
	Len       uint32
	FD        int32
	Flags     uint32
	_         [36]uint8
}

// pitConfig mirrors struct kvm_pit_config.
type pitConfig struct {
	Flags uint32
	_     [15]uint32
}

// enableCap mirrors struct kvm_enable_cap.
type enableCap struct {
	Cap   uint32
	Flags uint32
	Args  [4]uint64
	_     [64]uint8
}

// IRQRoute mirrors struct kvm_irq_routing_entry. U holds the union: for
// KVM_IRQ_ROUTING_IRQCHIP U[0]=irqchip, U[1]=pin; for KVM_IRQ_ROUTING_MSI
// U[0]=address_lo, U[1]=address_hi, U[2]=data, U[3]=devid.
type IRQRoute struct {
	GSI   uint32
	Type  uint32
	Flags uint32
	_     uint32
	U     [8]uint32
}

// irqRoutingHeader mirrors the fixed part of struct kvm_irq_routing.
type irqRoutingHeader struct {
	NR    uint32
	Flags uint32
}

// IRQChipRoute builds a routing entry from gsi to pin of an in-kernel
// interrupt controller (KVM_IRQCHIP_PIC_MASTER, _SLAVE or _IOAPIC).
func IRQChipRoute(gsi, chip, pin uint32) IRQRoute {
	r := IRQRoute{GSI: gsi, Type: KVM_IRQ_ROUTING_IRQCHIP}
	r.U[0], r.U[1] = chip, pin
	return r
}

// MSIRoute builds a routing entry that turns an assertion of gsi into an
// MSI write of data to addr.
func MSIRoute(gsi uint32, addr uint64, data uint32) IRQRoute {
	r := IRQRoute{GSI: gsi, Type: KVM_IRQ_ROUTING_MSI}
	r.U[0], r.U[1], r.U[2] = uint32(addr), uint32(addr>>32), data
	return r
}

// runHeader mirrors struct kvm_run up to and including the exit union
// (whose largest x86 member is 256 bytes).
type runHeader struct {
	RequestInterruptWindow     uint8
	ImmediateExit              uint8
	_                          [6]uint8
	ExitReason                 uint32
	ReadyForInterruptInjection uint8
	IfFlag                     uint8
	Flags                      uint16
	CR8                        uint64
	APICBase                   uint64
	Exit                       [256]byte
}

// runExitOffset is offsetof(struct kvm_run, hw) on x86.
const runExitOffset = 32

// ioExit mirrors kvm_run.io.
type ioExit struct {
	Direction  uint8
	Size       uint8
	Port       uint16
	Count      uint32
	DataOffset uint64
}

// mmioExit mirrors kvm_run.mmio.
type mmioExit struct {
	PhysAddr uint64
	Data     [8]uint8
	Len      uint32
	IsWrite  uint8
	_        [3]uint8
}

// internalExit mirrors kvm_run.internal.
type internalExit struct {
	Suberror uint32
	NData    uint32
	Data     [16]uint64
}

// systemEventExit mirrors kvm_run.system_event.
type systemEventExit struct {
	Type  uint32
	NData uint32
	Data  [16]uint64
}

// failEntryExit mirrors kvm_run.fail_entry.
type failEntryExit struct {
	HardwareEntryFailureReason uint64
	CPU                        uint32
	_                          uint32
}
