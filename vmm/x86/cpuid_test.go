//go:build linux && amd64

package x86

import (
	"testing"

	"github.com/govmm/govmm/kvm"
)

func find(es []kvm.CPUIDEntry, fn, idx uint32) kvm.CPUIDEntry {
	for _, e := range es {
		if e.Function == fn && e.Index == idx {
			return e
		}
	}
	return kvm.CPUIDEntry{}
}

func TestGuestCPUID(t *testing.T) {
	supported := []kvm.CPUIDEntry{
		{Function: 1, EBX: 0xff00ffff, ECX: cpuid1ECXVMX | cpuid1ECXPDCM | 1, EDX: cpuid1EDXHTT | cpuid1EDXACPI | 1},
		{Function: 6, EAX: 7},
		{Function: 0xa, EAX: 0x07300403},
		{Function: 0xb, Index: 0}, {Function: 0xb, Index: 1}, {Function: 0xb, Index: 2},
		{Function: 0xd, Index: 0, EAX: 0x207, ECX: 0xa88}, // x87 SSE AVX PKRU
		{Function: 0xd, Index: 2, EAX: 0x100, EBX: 0x240}, // AVX: 256 bytes at 576
		{Function: 0x80000001, ECX: cpuidExt1ECXSVM},
	}
	got := guestCPUID(supported, 3, 4, true)
	l1 := find(got, 1, 0)
	if l1.EBX>>24 != 3 || (l1.EBX>>16)&0xff != 4 || l1.EBX&0xffff != 0xffff {
		t.Errorf("leaf 1 EBX %#x: want APIC ID 3, 4 logical CPUs, low half kept", l1.EBX)
	}
	if l1.ECX&cpuid1ECXHypervisor == 0 || l1.ECX&cpuid1ECXTSCDeadline == 0 {
		t.Errorf("leaf 1 ECX %#x: hypervisor and TSC-deadline bits not set", l1.ECX)
	}
	if l1.ECX&(cpuid1ECXVMX|cpuid1ECXPDCM) != 0 || l1.EDX&cpuid1EDXACPI != 0 {
		t.Errorf("leaf 1 ECX %#x EDX %#x: hidden features leak", l1.ECX, l1.EDX)
	}
	if l1.ECX&1 == 0 || l1.EDX&1 == 0 {
		t.Error("unrelated leaf 1 bits were cleared")
	}
	if e := find(got, 6, 0); e.EAX != 0 {
		t.Error("leaf 6 (thermal) not cleared")
	}
	if e := find(got, 0xa, 0); e.EAX != 0 {
		t.Error("leaf 0xa (PMU) not cleared")
	}
	if e := find(got, 0xb, 1); e.EBX != 4 || e.EDX != 3 || e.EAX != 2 || e.ECX != 2<<8|1 {
		t.Errorf("leaf 0xb.1 = %+v", e)
	}
	if e := find(got, 0xb, 2); e.EBX != 0 || e.ECX != 2 {
		t.Errorf("leaf 0xb.2 = %+v: want an invalid level", e)
	}
	if e := find(got, 0x80000001, 0); e.ECX&cpuidExt1ECXSVM != 0 || e.ECX&cpuidExt1ECXCmpLegacy == 0 {
		t.Errorf("leaf 0x80000001 ECX %#x", e.ECX)
	}
	// PKRU has no subleaf 9: it must leave the mask, and the size shrink
	// to what x87, SSE and AVX need.
	if e := find(got, 0xd, 0); e.EAX != 0x7 || e.ECX != 0x340 {
		t.Errorf("leaf 0xd.0 EAX %#x ECX %#x, want 0x7 and 0x340", e.EAX, e.ECX)
	}
	if supported[0].EBX != 0xff00ffff {
		t.Error("guestCPUID modified its input")
	}
	if one := find(guestCPUID(supported, 0, 1, false), 1, 0); one.EDX&cpuid1EDXHTT != 0 || one.ECX&cpuid1ECXTSCDeadline != 0 {
		t.Errorf("single CPU leaf 1: %+v", one)
	}
}
