package main

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// addDefaultRoute adds 0.0.0.0/0 via gw with SIOCADDRT. struct rtentry
// (include/uapi/linux/route.h) on 64-bit: rt_pad1 at 0, rt_dst at 8,
// rt_gateway at 24, rt_genmask at 40, rt_flags at 56, rt_dev (NULL: the
// kernel finds the interface from the gateway) at 88; 112 bytes.
func addDefaultRoute(fd int, gw [4]byte) error {
	var rt [112]byte
	sin := func(off int, a [4]byte) {
		binary.LittleEndian.PutUint16(rt[off:], unix.AF_INET)
		copy(rt[off+4:], a[:])
	}
	sin(8, [4]byte{})
	sin(24, gw)
	sin(40, [4]byte{})
	binary.LittleEndian.PutUint16(rt[56:], unix.RTF_UP|unix.RTF_GATEWAY)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCADDRT, uintptr(unsafe.Pointer(&rt[0])))
	if errno != 0 {
		return errno
	}
	return nil
}
