package rvasm

import "encoding/binary"

// ELF returns a static riscv64 Linux executable with one readable,
// writable and executable segment holding image at address base, with
// memSize bytes of memory (at least len(image); the rest is zero), starting
// at entry.
func ELF(base uint64, image []byte, memSize uint64, entry uint64) []byte {
	const ehsize, phsize = 64, 56
	off := uint64(0x1000) // file offset of the segment (page-aligned)
	if memSize < uint64(len(image)) {
		memSize = uint64(len(image))
	}
	out := make([]byte, off+uint64(len(image)))
	le := binary.LittleEndian
	copy(out, "\x7fELF")
	out[4] = 2                  // ELFCLASS64
	out[5] = 1                  // little-endian
	out[6] = 1                  // EV_CURRENT
	le.PutUint16(out[16:], 2)   // ET_EXEC
	le.PutUint16(out[18:], 243) // EM_RISCV
	le.PutUint32(out[20:], 1)   // version
	le.PutUint64(out[24:], entry)
	le.PutUint64(out[32:], ehsize) // phoff
	le.PutUint32(out[48:], 0x5)    // flags: RVC, double-float ABI
	le.PutUint16(out[52:], ehsize)
	le.PutUint16(out[54:], phsize)
	le.PutUint16(out[56:], 1) // phnum
	ph := out[ehsize:]
	le.PutUint32(ph[0:], 1)   // PT_LOAD
	le.PutUint32(ph[4:], 7)   // RWX
	le.PutUint64(ph[8:], off) // offset
	le.PutUint64(ph[16:], base)
	le.PutUint64(ph[24:], base)
	le.PutUint64(ph[32:], uint64(len(image)))
	le.PutUint64(ph[40:], memSize)
	le.PutUint64(ph[48:], 0x1000)
	copy(out[off:], image)
	return out
}
