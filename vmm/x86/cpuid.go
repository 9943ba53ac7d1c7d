//go:build linux && amd64

package x86

import "github.com/govmm/govmm/kvm"

// CPUID bits govmm changes (Intel SDM vol. 2A, CPUID; AMD APM vol. 3, E.3).
const (
	cpuid1ECXDTES64       = 1 << 2
	cpuid1ECXMonitor      = 1 << 3
	cpuid1ECXDSCPL        = 1 << 4
	cpuid1ECXVMX          = 1 << 5
	cpuid1ECXSMX          = 1 << 6
	cpuid1ECXEST          = 1 << 7
	cpuid1ECXTM2          = 1 << 8
	cpuid1ECXPDCM         = 1 << 15
	cpuid1ECXTSCDeadline  = 1 << 24
	cpuid1ECXHypervisor   = 1 << 31
	cpuid1EDXDS           = 1 << 21
	cpuid1EDXACPI         = 1 << 22
	cpuid1EDXHTT          = 1 << 28
	cpuid1EDXTM           = 1 << 29
	cpuid1EDXPBE          = 1 << 31
	cpuidExt1ECXSVM       = 1 << 2
	cpuidExt1ECXCmpLegacy = 1 << 1
)

// guestCPUID derives vCPU id's CPUID from what KVM can virtualise.
//
// The starting point is KVM_GET_SUPPORTED_CPUID, never the host's own
// CPUID: KVM lists only what it can emulate or pass through (gokvm passed
// the host's leaves and its guests crashed on features KVM did not back).
// On top of that, deliberately:
//   - topology: APIC ID = id, one thread per core, cpus cores in one
//     package (leaves 1, 0xb, 0x80000008, 0x8000001e);
//   - the hypervisor bit is set, so the guest uses paravirtual clocks;
//   - TSC-deadline is advertised when KVM's in-kernel LAPIC supports it
//     (KVM leaves that bit for userspace to set);
//   - features that need VMM support govmm does not give are hidden:
//     nested virtualisation (VMX, SVM), the performance monitoring unit
//     (leaf 0xa, PDCM, DS), thermal and power management (leaf 6, ACPI,
//     TM, TM2, EST, PBE), MONITOR/MWAIT, SMX.
func guestCPUID(supported []kvm.CPUIDEntry, id, cpus int, tscDeadline bool) []kvm.CPUIDEntry {
	out := make([]kvm.CPUIDEntry, 0, len(supported))
	coreBits := uint32(0)
	for 1<<coreBits < cpus {
		coreBits++
	}
	for _, e := range supported {
		switch e.Function {
		case 1:
			e.EBX = e.EBX&0x0000ffff | uint32(id)<<24 | uint32(cpus)<<16
			e.ECX |= cpuid1ECXHypervisor
			e.ECX &^= cpuid1ECXDTES64 | cpuid1ECXMonitor | cpuid1ECXDSCPL | cpuid1ECXVMX |
				cpuid1ECXSMX | cpuid1ECXEST | cpuid1ECXTM2 | cpuid1ECXPDCM
			if tscDeadline {
				e.ECX |= cpuid1ECXTSCDeadline
			}
			e.EDX &^= cpuid1EDXDS | cpuid1EDXACPI | cpuid1EDXTM | cpuid1EDXPBE
			if cpus > 1 {
				e.EDX |= cpuid1EDXHTT
			} else {
				e.EDX &^= cpuid1EDXHTT
			}
		case 4:
			// Intel deterministic cache parameters: cores per package.
			e.EAX = e.EAX&0x03ffffff | uint32(cpus-1)<<26
			e.EAX &^= 0xfff << 14 // one thread shares each cache level...
			if (e.EAX>>5)&7 == 3 {
				e.EAX |= uint32(cpus-1) << 14 // ...except the L3, shared by all
			}
		case 6, 0xa:
			e.EAX, e.EBX, e.ECX, e.EDX = 0, 0, 0, 0
		case 0xb, 0x1f:
			// Extended topology: level 0 SMT (1 thread), level 1 core.
			e.EDX = uint32(id)
			switch e.Index {
			case 0:
				e.EAX, e.EBX, e.ECX = 0, 1, 1<<8
			case 1:
				e.EAX, e.EBX, e.ECX = coreBits, uint32(cpus), 2<<8|1
			default:
				e.EAX, e.EBX, e.ECX = 0, 0, e.Index
			}
		case 0x80000001:
			e.ECX &^= cpuidExt1ECXSVM
			if cpus > 1 {
				e.ECX |= cpuidExt1ECXCmpLegacy
			}
		case 0x80000008:
			// AMD: ApicIdCoreIdSize and NC (cores - 1).
			e.ECX = e.ECX&^0xf0ff | coreBits<<12 | uint32(cpus-1)
		case 0x8000001e:
			// AMD: extended APIC ID, one thread per compute unit.
			e.EAX = uint32(id)
			e.EBX = uint32(id) & 0xff
			e.ECX = 0
		}
		out = append(out, e)
	}
	fixXSAVELeaf(out)
	return out
}

// fixXSAVELeaf makes leaf 0xd consistent: a state component is advertised
// in XCR0's supported mask (subleaf 0 EAX/EDX) only if its own subleaf
// gives its size, and the maximum save area size covers exactly those.
// Nested KVM under QEMU's TCG reports PKRU in the mask without subleaf 9,
// and Linux then warns "XSAVE consistency problem" and runs with a wrong
// buffer size.
func fixXSAVELeaf(entries []kvm.CPUIDEntry) {
	var main *kvm.CPUIDEntry
	size := map[uint32][2]uint32{} // component -> {size, offset}
	for i := range entries {
		e := &entries[i]
		if e.Function != 0xd {
			continue
		}
		switch {
		case e.Index == 0:
			main = e
		case e.Index >= 2 && e.EAX != 0:
			size[e.Index] = [2]uint32{e.EAX, e.EBX}
		}
	}
	if main == nil {
		return
	}
	const legacyArea = 512 + 64 // FXSAVE area plus the XSAVE header
	maxEnd := uint32(legacyArea)
	mask := uint64(main.EDX)<<32 | uint64(main.EAX)
	for c := uint32(2); c < 64; c++ {
		if mask&(1<<c) == 0 {
			continue
		}
		sz, ok := size[c]
		if !ok {
			mask &^= 1 << c
			continue
		}
		maxEnd = max(maxEnd, sz[0]+sz[1])
	}
	main.EAX, main.EDX = uint32(mask), uint32(mask>>32)
	main.ECX = maxEnd
}
