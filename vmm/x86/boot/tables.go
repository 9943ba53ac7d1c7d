package boot

import (
	"encoding/binary"
	"fmt"

	"github.com/govmm/govmm/vmm/mem"
)

// Where the firmware tables go: inside the reserved BIOS area that Linux
// scans (0xe0000-0xfffff, 16-byte aligned).
const (
	MPTableAddr mem.GPA = 0xf0000
	ACPIAddr    mem.GPA = 0xe0000
	// MaxCPUs is what the tables can describe: 8-bit xAPIC IDs, with one
	// ID left for the IOAPIC.
	MaxCPUs = 254
)

// Legacy ISA interrupts wired to IOAPIC pins 0-15 one to one, matching
// KVM's default GSI routing.
const isaIRQs = 16

// checksum returns the byte that makes b sum to zero.
func checksum(b []byte) byte {
	var s byte
	for _, x := range b {
		s += x
	}
	return -s
}

// writeMPTable writes an Intel MultiProcessor Specification 1.4 table: the
// floating pointer and a configuration table with one processor entry per
// vCPU (APIC ID = vCPU index), the ISA bus, the IOAPIC and its 16 ISA
// interrupts, and the local interrupts (ExtINT on LINT0, NMI on LINT1).
func writeMPTable(m *mem.Memory, cpus int) error {
	if cpus < 1 || cpus > MaxCPUs {
		return fmt.Errorf("MP table: %d CPUs, supported 1-%d", cpus, MaxCPUs)
	}
	le := binary.LittleEndian
	ioapicID := byte(cpus)
	var ents []byte
	count := 0
	add := func(e []byte) { ents = append(ents, e...); count++ }
	for i := 0; i < cpus; i++ {
		e := make([]byte, 20)
		e[0] = 0 // processor
		e[1] = byte(i)
		e[2] = 0x14 // local APIC version
		e[3] = 1    // enabled
		if i == 0 {
			e[3] |= 2 // bootstrap processor
		}
		le.PutUint32(e[4:], 0x600) // CPU signature: family 6
		le.PutUint32(e[8:], 0x201) // features: FPU, APIC
		add(e)
	}
	add([]byte{1, 0, 'I', 'S', 'A', ' ', ' ', ' '}) // bus 0: ISA
	io := []byte{2, ioapicID, 0x11, 1, 0, 0, 0, 0}  // IOAPIC, version 0x11, enabled
	le.PutUint32(io[4:], uint32(IOAPICAddr))
	add(io)
	for irq := byte(0); irq < isaIRQs; irq++ {
		// I/O interrupt: INT, conforming polarity and trigger, ISA irq -> pin.
		add([]byte{3, 0, 0, 0, 0, irq, ioapicID, irq})
	}
	add([]byte{4, 3, 0, 0, 0, 0, 0xff, 0}) // local: ExtINT -> all LINT0
	add([]byte{4, 1, 0, 0, 0, 0, 0xff, 1}) // local: NMI -> all LINT1

	hdr := make([]byte, 44)
	copy(hdr, "PCMP")
	le.PutUint16(hdr[4:], uint16(len(hdr)+len(ents)))
	hdr[6] = 4 // spec revision 1.4
	copy(hdr[8:], "GOVMM   ")
	copy(hdr[16:], "MICROVM     ")
	le.PutUint16(hdr[34:], uint16(count))
	le.PutUint32(hdr[36:], uint32(LAPICAddr))
	cfg := append(hdr, ents...)
	cfg[7] = checksum(cfg)

	fp := make([]byte, 16)
	copy(fp, "_MP_")
	le.PutUint32(fp[4:], uint32(MPTableAddr)+16)
	fp[8] = 1 // length in 16-byte units
	fp[9] = 4 // spec revision
	fp[10] = checksum(fp)

	if _, err := m.WriteAt(append(fp, cfg...), int64(MPTableAddr)); err != nil {
		return fmt.Errorf("write MP table: %w", err)
	}
	return nil
}

// ACPI: a hardware-reduced ACPI 6 description (no SCI, no PM timer, no
// legacy PM blocks), enough for Linux to find the CPUs and the IOAPIC
// (MADT) and to power off and reset through registers govmm implements
// (FADT sleep control and reset registers, DSDT \_S5).
const (
	// SleepControlPort and SleepStatusPort are the FADT SLEEP_CONTROL_REG
	// and SLEEP_STATUS_REG (ACPI 6.4, 4.8.3.7). Linux writes
	// SLP_TYP<<2 | SLP_EN to power off.
	SleepControlPort = 0x3c0
	SleepStatusPort  = 0x3c1
	// ResetPort is the FADT RESET_REG; writing ResetValue resets.
	ResetPort  = 0x3c2
	ResetValue = 0x1
	// SleepTypeS5 is the SLP_TYP the DSDT's \_S5 package gives.
	SleepTypeS5 = 5

	acpiOEMID = "GOVMM "
)

// sdt builds an ACPI table: the 36-byte header followed by body, with
// length and checksum filled.
func sdt(sig string, rev byte, body []byte) []byte {
	t := make([]byte, 36, 36+len(body))
	copy(t, sig)
	binary.LittleEndian.PutUint32(t[4:], uint32(36+len(body)))
	t[8] = rev
	copy(t[10:], acpiOEMID)
	copy(t[16:], "GOVMMVM ")
	binary.LittleEndian.PutUint32(t[24:], 1)
	copy(t[28:], "GOVM")
	binary.LittleEndian.PutUint32(t[32:], 1)
	t = append(t, body...)
	t[9] = checksum(t)
	return t
}

// gas is an ACPI Generic Address Structure for a byte-wide I/O port.
func gas(port uint16) []byte {
	g := make([]byte, 12)
	g[0] = 1 // system I/O
	g[1] = 8 // bit width
	g[3] = 1 // byte access
	binary.LittleEndian.PutUint64(g[4:], uint64(port))
	return g
}

// writeACPI writes RSDP, XSDT, FADT, DSDT and MADT and returns the RSDP's
// address.
func writeACPI(m *mem.Memory, cpus int) (uint64, error) {
	le := binary.LittleEndian
	base := uint64(ACPIAddr)
	const (
		rsdpOff = 0x000
		xsdtOff = 0x040
		fadtOff = 0x100
		dsdtOff = 0x300
		madtOff = 0x800
	)

	dsdt := sdt("DSDT", 2, dsdtBody())

	fadt := make([]byte, 276-36)
	f := func(off int) []byte { return fadt[off-36:] }
	le.PutUint32(f(40), uint32(base+dsdtOff))
	// IAPC_BOOT_ARCH: an 8042 is present (Linux then probes it and can
	// reset through it); no VGA.
	le.PutUint16(f(109), 1<<1|1<<2)
	f(108)[0] = 0x32 // CMOS index of the century
	// Flags: WBINVD, RESET_REG_SUP, HW_REDUCED_ACPI.
	le.PutUint32(f(112), 1<<0|1<<10|1<<20)
	copy(f(116), gas(ResetPort))
	f(128)[0] = ResetValue
	f(131)[0] = 4 // FADT minor version: 6.4
	le.PutUint64(f(140), base+dsdtOff)
	copy(f(244), gas(SleepControlPort))
	copy(f(256), gas(SleepStatusPort))
	le.PutUint64(f(268), 0x4d4d564f47) // hypervisor vendor "GOVMM"
	fadtT := sdt("FACP", 6, fadt)

	madt := make([]byte, 8)
	le.PutUint32(madt, uint32(LAPICAddr))
	// Flags 0: no PC-AT dual 8259 to mask: hardware-reduced ACPI guests
	// run on the IOAPIC.
	for i := 0; i < cpus; i++ {
		madt = append(madt, 0, 8, byte(i), byte(i), 1, 0, 0, 0) // local APIC, enabled
	}
	io := []byte{1, 12, byte(cpus), 0, 0, 0, 0, 0, 0, 0, 0, 0}
	le.PutUint32(io[4:], uint32(IOAPICAddr))
	madt = append(madt, io...)
	madtT := sdt("APIC", 5, madt)

	xsdt := make([]byte, 16)
	le.PutUint64(xsdt, base+fadtOff)
	le.PutUint64(xsdt[8:], base+madtOff)
	xsdtT := sdt("XSDT", 1, xsdt)

	rsdp := make([]byte, 36)
	copy(rsdp, "RSD PTR ")
	copy(rsdp[9:], acpiOEMID)
	rsdp[15] = 2 // ACPI 2.0+
	le.PutUint32(rsdp[20:], 36)
	le.PutUint64(rsdp[24:], base+xsdtOff)
	rsdp[8] = checksum(rsdp[:20])
	rsdp[32] = checksum(rsdp)

	if madtOff+len(madtT) > int(BIOSROMEnd-ACPIAddr) || len(fadtT) > dsdtOff-fadtOff || len(dsdt) > madtOff-dsdtOff {
		return 0, fmt.Errorf("ACPI tables for %d CPUs do not fit", cpus)
	}
	for _, t := range []struct {
		off int
		b   []byte
	}{{rsdpOff, rsdp}, {xsdtOff, xsdtT}, {fadtOff, fadtT}, {dsdtOff, dsdt}, {madtOff, madtT}} {
		if _, err := m.WriteAt(t.b, int64(base)+int64(t.off)); err != nil {
			return 0, fmt.Errorf("write ACPI tables: %w", err)
		}
	}
	return base + rsdpOff, nil
}
