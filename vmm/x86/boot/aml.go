package boot

import "encoding/binary"

// A few AML encodings (ACPI 6.4, chapter 20, "ACPI Machine Language"), enough
// for the DSDT govmm writes: named objects, packages, devices in \_SB and
// resource templates. Nothing here evaluates AML.

// amlPkgLength encodes a PkgLength for a body of n bytes; the length
// counts its own bytes (20.2.4).
func amlPkgLength(n int) []byte {
	for size := 1; size <= 4; size++ {
		total := n + size
		if size == 1 && total < 0x40 {
			return []byte{byte(total)}
		}
		if size > 1 && total < 1<<(4+8*(size-1)) {
			b := make([]byte, size)
			b[0] = byte(size-1)<<6 | byte(total&0xf)
			for i := 1; i < size; i++ {
				b[i] = byte(total >> (4 + 8*(i-1)))
			}
			return b
		}
	}
	panic("aml: package too large") // the DSDT is built from constants
}

func amlPkg(op []byte, body ...[]byte) []byte {
	var b []byte
	for _, x := range body {
		b = append(b, x...)
	}
	out := append([]byte(nil), op...)
	out = append(out, amlPkgLength(len(b))...)
	return append(out, b...)
}

// amlName is NameOp: Name (seg, value). seg is a 4-character NameSeg.
func amlName(seg string, value []byte) []byte {
	return append(append([]byte{0x08}, seg...), value...)
}

func amlByte(v byte) []byte { return []byte{0x0a, v} }

func amlDWord(v uint32) []byte {
	b := []byte{0x0c, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], v)
	return b
}

// amlEISAID compresses a PNP ID such as "PNP0501" (20.2.3 / EisaId macro).
func amlEISAID(id string) []byte {
	c := func(i int) uint32 { return uint32(id[i]-'@') & 0x1f }
	h := func(i int) uint32 {
		x := id[i]
		if x >= 'A' {
			return uint32(x-'A') + 10
		}
		return uint32(x - '0')
	}
	v := c(0)<<26 | c(1)<<21 | c(2)<<16 | h(3)<<12 | h(4)<<8 | h(5)<<4 | h(6)
	// EisaId is stored byte-swapped: big-endian in a DWord.
	return amlDWord(v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24)
}

// amlDevice is Device (seg) { body }.
func amlDevice(seg string, body ...[]byte) []byte {
	return amlPkg([]byte{0x5b, 0x82}, append([][]byte{[]byte(seg)}, body...)...)
}

// amlBuffer is a Buffer of raw bytes.
func amlBuffer(b []byte) []byte {
	return amlPkg([]byte{0x11}, amlByte(byte(len(b))), b)
}

// amlResources is a ResourceTemplate with 16-bit decoded I/O ranges and
// one edge-triggered, active-high ISA IRQ (IRQNoFlags), plus the end tag
// (6.4.2).
func amlResources(irq int, io ...[2]uint16) []byte {
	var b []byte
	for _, r := range io {
		d := []byte{0x47, 1, 0, 0, 0, 0, 1, byte(r[1])} // IO, Decode16, align 1, length
		binary.LittleEndian.PutUint16(d[2:], r[0])
		binary.LittleEndian.PutUint16(d[4:], r[0])
		b = append(b, d...)
	}
	if irq >= 0 {
		mask := uint16(1) << irq
		b = append(b, 0x22, byte(mask), byte(mask>>8))
	}
	b = append(b, 0x79, 0) // end tag, checksum 0 = "not checked"
	return amlBuffer(b)
}

// dsdtBody is the DSDT's AML: \_S5 for poweroff, and the legacy devices in
// \_SB with their ports and IRQs. A hardware-reduced guest has no legacy
// PIC, so Linux maps ISA IRQs only for devices it finds here (Firecracker
// and Cloud Hypervisor describe theirs the same way); without them the
// UART, i8042 and RTC drivers get no interrupt.
func dsdtBody() []byte {
	s5 := amlName("_S5_", amlPkg([]byte{0x12}, []byte{4}, amlByte(SleepTypeS5), []byte{0, 0, 0}))
	sb := amlPkg([]byte{0x10}, []byte("_SB_"),
		amlDevice("COM1",
			amlName("_HID", amlEISAID("PNP0501")),
			amlName("_UID", amlByte(1)),
			amlName("_CRS", amlResources(4, [2]uint16{0x3f8, 8}))),
		amlDevice("PS2K",
			amlName("_HID", amlEISAID("PNP0303")),
			amlName("_CRS", amlResources(1, [2]uint16{0x60, 1}, [2]uint16{0x64, 1}))),
		amlDevice("RTC_",
			amlName("_HID", amlEISAID("PNP0B00")),
			amlName("_CRS", amlResources(8, [2]uint16{0x70, 2}))),
		amlPCIHostBridge(),
	)
	return append(s5, sb...)
}
