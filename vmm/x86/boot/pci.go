package boot

import "encoding/binary"

// The PCI host bridge the x86 machine offers for virtio-pci: bus 0 through
// configuration mechanism #1, BARs in a window of the MMIO hole, INTx on
// IOAPIC pins 16-23. The machine (vmm/x86) and the DSDT both use these.
const (
	// PCIWindowBase and PCIWindowSize are where BARs live: above the
	// boot timer at 0xc0000000, below the IOAPIC at 0xfec00000.
	PCIWindowBase = 0xd0000000
	PCIWindowSize = 0x10000000
	// PCIIntxGSIBase is the first of PCIIntxGSIs IOAPIC pins that carry
	// INTA# of the PCI slots (pins 0-15 are the ISA IRQs).
	PCIIntxGSIBase = 16
	PCIIntxGSIs    = 8
	pciSlots       = 32
)

// PCIIntxGSI is the GSI slot's INTA# is wired to: slots share the eight
// pins round-robin, level-triggered and active-low as PCI interrupts are.
func PCIIntxGSI(slot int) uint32 {
	return PCIIntxGSIBase + uint32(slot+PCIIntxGSIs-1)%PCIIntxGSIs
}

// amlPCIHostBridge is Device (PCI0) in \_SB: a PCI host bridge (PNP0A03,
// conventional PCI, so Linux needs neither MCFG nor _OSC) decoding bus 0
// and the BAR window, with a _PRT that routes each slot's INTA# to its GSI.
//
// Linux with ACPI scans PCI only below such a device: pci_acpi_init makes
// pci_subsys_init skip the legacy bus 0 scan, so without PCI0 the type 1
// probe succeeds ("PCI: Using configuration type 1 for base access") and
// no device is ever found.
func amlPCIHostBridge() []byte {
	var crs []byte
	// WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
	// granularity 0, 0, 0, translation 0, length 1) (ACPI 6.4, 6.4.3.5.3).
	bus := []byte{0x88, 13, 0, 2, 0x0c, 0}
	bus = binary.LittleEndian.AppendUint16(bus, 0) // _GRA
	bus = binary.LittleEndian.AppendUint16(bus, 0) // _MIN
	bus = binary.LittleEndian.AppendUint16(bus, 0) // _MAX
	bus = binary.LittleEndian.AppendUint16(bus, 0) // _TRA
	bus = binary.LittleEndian.AppendUint16(bus, 1) // _LEN
	crs = append(crs, bus...)
	// DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed,
	// NonCacheable, ReadWrite) over the window (6.4.3.5.2).
	win := []byte{0x87, 23, 0, 0, 0x0c, 0x01}
	win = binary.LittleEndian.AppendUint32(win, 0)                             // _GRA
	win = binary.LittleEndian.AppendUint32(win, PCIWindowBase)                 // _MIN
	win = binary.LittleEndian.AppendUint32(win, PCIWindowBase+PCIWindowSize-1) // _MAX
	win = binary.LittleEndian.AppendUint32(win, 0)                             // _TRA
	win = binary.LittleEndian.AppendUint32(win, PCIWindowSize)                 // _LEN
	crs = append(crs, win...)
	crs = append(crs, 0x79, 0) // end tag

	// _PRT: Package { Package { 0xSSSSFFFF, pin 0 (INTA#), source 0
	// (a GSI), GSI } } per slot (ACPI 6.4, 6.2.13).
	var prt [][]byte
	for slot := 1; slot < pciSlots; slot++ {
		prt = append(prt, amlPkg([]byte{0x12}, []byte{4},
			amlDWord(uint32(slot)<<16|0xffff), []byte{0x00}, []byte{0x00}, amlByte(byte(PCIIntxGSI(slot)))))
	}
	return amlDevice("PCI0",
		amlName("_HID", amlEISAID("PNP0A03")),
		amlName("_UID", []byte{0x00}),
		amlName("_ADR", []byte{0x00}),
		amlName("_CRS", amlBuffer(crs)),
		amlName("_PRT", amlPkg([]byte{0x12}, append([][]byte{{byte(len(prt))}}, prt...)...)),
	)
}
