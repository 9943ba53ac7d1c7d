package boot

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPCIIntxGSI(t *testing.T) {
	for slot, want := range map[int]uint32{1: 16, 2: 17, 8: 23, 9: 16, 31: 22} {
		if got := PCIIntxGSI(slot); got != want {
			t.Errorf("PCIIntxGSI(%d) = %d, want %d", slot, got, want)
		}
	}
}

// TestPCIHostBridgeDisassembles has ACPICA read \_SB.PCI0 back.
func TestPCIHostBridgeDisassembles(t *testing.T) {
	iasl, err := exec.LookPath("iasl")
	if err != nil {
		t.Skip("iasl not installed (apt-get install acpica-tools)")
	}
	dir := t.TempDir()
	aml := filepath.Join(dir, "dsdt.aml")
	body := dsdtBody()
	if !bytes.Contains(body, []byte("PCI0")) {
		// Until dsdtBody has it: the bridge in a scope of its own.
		body = append(body, amlPkg([]byte{0x10}, []byte("_SB_"), amlPCIHostBridge())...)
	}
	if err := os.WriteFile(aml, sdt("DSDT", 2, body), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(iasl, "-d", aml).CombinedOutput(); err != nil {
		t.Fatalf("iasl -d: %v\n%s", err, out)
	}
	dsl, err := os.ReadFile(filepath.Join(dir, "dsdt.dsl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Device (PCI0)", `EisaId ("PNP0A03")`, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,",
		"DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,",
		"0xD0000000", "0xDFFFFFFF", "0x10000000", "Name (_PRT, Package (0x1F)",
		"0x0001FFFF,", "0x001FFFFF,", "0x10", "0x17",
	} {
		if !strings.Contains(string(dsl), want) {
			t.Errorf("disassembled DSDT lacks %q:\n%s", want, dsl)
		}
	}
	t.Logf("DSDT with PCI0: %d bytes", len(sdt("DSDT", 2, body)))
}
