package pci

import "encoding/binary"

// Offsets in a type 0 configuration space header (PCI Local Bus 3.0,
// 6.1).
const (
	cfgVendorID      = 0x00
	cfgDeviceID      = 0x02
	cfgCommand       = 0x04
	cfgStatus        = 0x06
	cfgRevision      = 0x08
	cfgClass         = 0x09 // prog-if, subclass, class: three bytes
	cfgHeaderType    = 0x0e
	cfgBAR0          = 0x10
	cfgBAR1          = 0x14
	cfgSubVendorID   = 0x2c
	cfgSubsystemID   = 0x2e
	cfgCapPtr        = 0x34
	cfgInterruptLine = 0x3c
	cfgInterruptPin  = 0x3d

	configSize = 256
)

// Command and status register bits.
const (
	CommandIO          = 1 << 0
	CommandMemory      = 1 << 1
	CommandBusMaster   = 1 << 2
	CommandINTxDisable = 1 << 10

	statusINTx    = 1 << 3
	statusCapList = 1 << 4
)

// BAR type bits (PCI 3.0, 6.2.5.1): memory, 64-bit, not prefetchable.
const barMem64 = 0x4

// configSpace is a conventional 256-byte configuration space: the bytes
// and, per bit, whether the guest may write it (QEMU keeps config and
// wmask the same way). Registers with side effects are handled by the
// function after the write lands.
type configSpace struct {
	b     [configSize]byte
	wmask [configSize]byte
}

func (c *configSpace) set8(off int, v uint8) { c.b[off] = v }
func (c *configSpace) set16(off int, v uint16) {
	binary.LittleEndian.PutUint16(c.b[off:], v)
}
func (c *configSpace) set32(off int, v uint32) {
	binary.LittleEndian.PutUint32(c.b[off:], v)
}
func (c *configSpace) get8(off int) uint8   { return c.b[off] }
func (c *configSpace) get16(off int) uint16 { return binary.LittleEndian.Uint16(c.b[off:]) }
func (c *configSpace) get32(off int) uint32 { return binary.LittleEndian.Uint32(c.b[off:]) }

func (c *configSpace) setMask16(off int, m uint16) { binary.LittleEndian.PutUint16(c.wmask[off:], m) }
func (c *configSpace) setMask32(off int, m uint32) { binary.LittleEndian.PutUint32(c.wmask[off:], m) }

// read copies the bytes at off. Precondition: validAccess(off, len(data)).
func (c *configSpace) read(off int, data []byte) { copy(data, c.b[off:]) }

// write stores the writable bits of data at off.
func (c *configSpace) write(off int, data []byte) {
	for i, v := range data {
		m := c.wmask[off+i]
		c.b[off+i] = c.b[off+i]&^m | v&m
	}
}

// validAccess reports whether a configuration access of n bytes at off is
// one a host bridge passes on: 1, 2 or 4 bytes inside one dword of the
// 256-byte space (configuration mechanism #1 cannot express more).
func validAccess(off, n int) bool {
	return off >= 0 && off < configSize && (n == 1 || n == 2 || n == 4) && off%4+n <= 4
}

// overlaps reports whether [off, off+n) touches [reg, reg+size).
func overlaps(off, n, reg, size int) bool { return off < reg+size && reg < off+n }

// le reads up to 8 little-endian bytes.
func le(data []byte) uint64 {
	var v uint64
	for i := len(data) - 1; i >= 0; i-- {
		v = v<<8 | uint64(data[i])
	}
	return v
}

// putLE writes v into data, little-endian, len(data) bytes.
func putLE(data []byte, v uint64) {
	for i := range data {
		data[i] = byte(v >> (8 * i))
	}
}
