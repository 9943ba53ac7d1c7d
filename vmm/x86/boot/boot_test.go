package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govmm/govmm/vmm/mem"
)

// fakeBzImage builds a bzImage with a setup header of the given protocol
// version and a protected-mode payload of n bytes.
func fakeBzImage(version uint16, payload int, xlf uint16) []byte {
	const setupSects = 3
	b := make([]byte, (setupSects+1)*512+payload)
	le := binary.LittleEndian
	b[bpSetupSects] = setupSects
	le.PutUint16(b[bpBootFlag:], 0xaa55)
	b[bpJump] = 0xeb
	b[bpJump+1] = 0x6a // header ends at 0x26c
	le.PutUint32(b[bpHeader:], hdrMagic)
	le.PutUint16(b[bpVersion:], version)
	b[bpLoadFlags] = loadedHigh
	le.PutUint32(b[bpInitrdAddrMax:], 0x7fffffff)
	le.PutUint32(b[bpKernelAlignment:], 0x200000)
	b[bpRelocatable] = 1
	le.PutUint16(b[bpXLoadFlags:], xlf)
	le.PutUint32(b[bpCmdlineSize:], 255)
	le.PutUint64(b[bpPrefAddress:], 0x1000000)
	le.PutUint32(b[bpInitSize:], 0x400000)
	for i := (setupSects + 1) * 512; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	return b
}

func image(name string, b []byte) Image {
	return Image{R: bytes.NewReader(b), Size: int64(len(b)), Name: name}
}

func newMem(t *testing.T, size uint64) *mem.Memory {
	t.Helper()
	m, err := mem.New(RAMLayout(size))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestBzImage64(t *testing.T) {
	const size = 64 << 20
	m := newMem(t, size)
	k := fakeBzImage(0x20f, 8192, xlfKernel64)
	initrd := bytes.Repeat([]byte("initrd!"), 1000)
	ird := image("initrd", initrd)
	res, err := Load(m, Config{Kernel: image("k", k), Initrd: &ird, Cmdline: "console=ttyS0 a=\"b c\"", MemSize: size, CPUs: 2, ACPI: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.CPU.Mode != Long64 || res.CPU.RIP != 0x1000200 || res.CPU.RSI != uint64(ZeroPageAddr) {
		t.Fatalf("entry %+v", res.CPU)
	}
	got := make([]byte, 8192)
	m.ReadAt(got, 0x1000000)
	if !bytes.Equal(got, k[4*512:]) {
		t.Fatal("protected-mode code not loaded at 16 MiB")
	}
	bp := make([]byte, 4096)
	m.ReadAt(bp, int64(ZeroPageAddr))
	le := binary.LittleEndian
	if le.Uint32(bp[bpHeader:]) != hdrMagic || bp[bpTypeOfLoader] != 0xff {
		t.Fatal("setup header not copied or loader type unset")
	}
	cl := le.Uint32(bp[bpCmdLinePtr:])
	cmd := make([]byte, 40)
	m.ReadAt(cmd, int64(cl))
	if want := "console=ttyS0 a=\"b c\"\x00"; string(cmd[:len(want)]) != want {
		t.Fatalf("cmdline %q", cmd)
	}
	ia, is := le.Uint32(bp[bpRamdiskImage:]), le.Uint32(bp[bpRamdiskSize:])
	if uint64(ia) != res.InitrdAddr || int(is) != len(initrd) || ia%4096 != 0 {
		t.Fatalf("initrd at %#x+%d, result says %#x", ia, is, res.InitrdAddr)
	}
	if uint64(ia)+uint64(is) > size || uint64(ia) < res.KernelEnd {
		t.Fatalf("initrd %#x+%d outside [kernel end %#x, RAM end)", ia, is, res.KernelEnd)
	}
	gotInitrd := make([]byte, len(initrd))
	m.ReadAt(gotInitrd, int64(ia))
	if !bytes.Equal(gotInitrd, initrd) {
		t.Fatal("initrd bytes differ")
	}
	n := int(bp[bpE820Entries])
	want := E820(size)
	if n != len(want) {
		t.Fatalf("%d e820 entries, want %d", n, len(want))
	}
	for i, w := range want {
		o := bpE820Table + 20*i
		e := E820Entry{le.Uint64(bp[o:]), le.Uint64(bp[o+8:]), le.Uint32(bp[o+16:])}
		if e != w {
			t.Errorf("e820[%d] = %+v, want %+v", i, e, w)
		}
	}
	if le.Uint64(bp[bpACPIRSDP:]) != res.RSDPAddr || res.RSDPAddr == 0 {
		t.Fatalf("acpi_rsdp_addr %#x, result %#x", le.Uint64(bp[bpACPIRSDP:]), res.RSDPAddr)
	}
}

func TestBzImage32BitProtocol(t *testing.T) {
	m := newMem(t, 64<<20)
	res, err := Load(m, Config{Kernel: image("k", fakeBzImage(0x20a, 4096, 0)), MemSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.CPU.Mode != Protected32 || res.CPU.RIP != 0x1000000 || res.CPU.CR0&cr0PG != 0 {
		t.Fatalf("entry %+v", res.CPU)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		kernel []byte
		mem    uint64
		initrd int
		cmd    string
		want   error
	}{
		{"garbage", bytes.Repeat([]byte{0x90}, 4096), 64 << 20, 0, "", ErrBadKernel},
		{"empty", nil, 64 << 20, 0, "", ErrBadKernel},
		{"old protocol", fakeBzImage(0x205, 4096, 1), 64 << 20, 0, "", ErrOldProtocol},
		{"memory too small", fakeBzImage(0x20f, 4096, 1), 16 << 20, 0, "", ErrMemTooSmall},
		{"initrd too big", fakeBzImage(0x20f, 4096, 1), 32 << 20, 13 << 20, "", ErrInitrdNoFit},
		{"cmdline too long", fakeBzImage(0x20f, 4096, 1), 64 << 20, 0, string(bytes.Repeat([]byte("x"), 300)), ErrCmdlineLong},
		{"elf garbage", append([]byte("\x7fELF"), make([]byte, 100)...), 64 << 20, 0, "", ErrBadKernel},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMem(t, c.mem)
			cfg := Config{Kernel: image("k", c.kernel), MemSize: c.mem, Cmdline: c.cmd}
			if c.initrd > 0 {
				ird := image("initrd", make([]byte, c.initrd))
				cfg.Initrd = &ird
			}
			_, err := Load(m, cfg)
			if !errors.Is(err, c.want) {
				t.Fatalf("Load = %v, want %v", err, c.want)
			}
		})
	}
}

func TestE820Layout(t *testing.T) {
	e := E820(4 << 30)
	last := e[len(e)-1]
	if last.Addr != uint64(MMIOHoleEnd) || last.Size != 1<<30 {
		t.Fatalf("RAM above 4 GiB: %+v", last)
	}
	for _, x := range e {
		if x.Type == E820RAM && x.Addr < uint64(MMIOHoleEnd) && x.Addr+x.Size > uint64(MMIOHoleStart) {
			t.Fatalf("RAM %+v overlaps the MMIO hole", x)
		}
	}
	specs := RAMLayout(4 << 30)
	if len(specs) != 2 || specs[0].Size != uint64(MMIOHoleStart) {
		t.Fatalf("RAMLayout = %+v", specs)
	}
}

func sum(b []byte) byte {
	var s byte
	for _, x := range b {
		s += x
	}
	return s
}

func TestTables(t *testing.T) {
	m := newMem(t, 64<<20)
	if err := writeMPTable(m, 3); err != nil {
		t.Fatal(err)
	}
	fp := make([]byte, 16)
	m.ReadAt(fp, int64(MPTableAddr))
	if string(fp[:4]) != "_MP_" || sum(fp) != 0 {
		t.Fatalf("MP floating pointer % x", fp)
	}
	cfgAddr := binary.LittleEndian.Uint32(fp[4:])
	hdr := make([]byte, 44)
	m.ReadAt(hdr, int64(cfgAddr))
	n := binary.LittleEndian.Uint16(hdr[4:])
	cfg := make([]byte, n)
	m.ReadAt(cfg, int64(cfgAddr))
	if string(cfg[:4]) != "PCMP" || sum(cfg) != 0 {
		t.Fatal("MP config table signature or checksum")
	}
	procs := 0
	for off := 44; off < len(cfg); {
		switch cfg[off] {
		case 0:
			procs++
			off += 20
		default:
			off += 8
		}
	}
	if procs != 3 {
		t.Fatalf("%d processor entries, want 3", procs)
	}
	if err := writeMPTable(m, MaxCPUs+1); err == nil {
		t.Fatal("MP table accepted too many CPUs")
	}

	rsdpAddr, err := writeACPI(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	rsdp := make([]byte, 36)
	m.ReadAt(rsdp, int64(rsdpAddr))
	if string(rsdp[:8]) != "RSD PTR " || sum(rsdp[:20]) != 0 || sum(rsdp) != 0 {
		t.Fatal("RSDP signature or checksums")
	}
	readSDT := func(addr uint64) []byte {
		h := make([]byte, 36)
		m.ReadAt(h, int64(addr))
		b := make([]byte, binary.LittleEndian.Uint32(h[4:]))
		m.ReadAt(b, int64(addr))
		if sum(b) != 0 {
			t.Fatalf("table %s checksum", b[:4])
		}
		return b
	}
	xsdt := readSDT(binary.LittleEndian.Uint64(rsdp[24:]))
	sigs := map[string][]byte{}
	for off := 36; off < len(xsdt); off += 8 {
		tb := readSDT(binary.LittleEndian.Uint64(xsdt[off:]))
		sigs[string(tb[:4])] = tb
	}
	fadt, madt := sigs["FACP"], sigs["APIC"]
	if fadt == nil || madt == nil || len(fadt) != 276 {
		t.Fatalf("XSDT lists %v", sigs)
	}
	if binary.LittleEndian.Uint32(fadt[112:])&(1<<20) == 0 {
		t.Fatal("FADT is not hardware-reduced")
	}
	dsdt := readSDT(binary.LittleEndian.Uint64(fadt[140:]))
	if !bytes.Contains(dsdt, []byte("_S5_")) {
		t.Fatal("DSDT has no _S5_")
	}
	lapics := 0
	for off := 44; off < len(madt); off += int(madt[off+1]) {
		if madt[off] == 0 {
			lapics++
		}
	}
	if lapics != 2 {
		t.Fatalf("MADT has %d local APICs, want 2", lapics)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(fakeBzImage(0x20f, 600, 1))
	f.Add(append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 120)...))
	m, err := mem.New(RAMLayout(32 << 20))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, k []byte) {
		// Any kernel file must load or fail with an error, never panic.
		Load(m, Config{Kernel: image("fuzz", k), MemSize: 32 << 20, Cmdline: "x"})
	})
}

func TestAMLPkgLength(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x01}},
		{62, []byte{0x3f}},
		{63, []byte{0x41, 0x04}}, // 65 total: two bytes
		{0x0ffd, []byte{0x4f, 0xff}},
		{0x0ffe, []byte{0x81, 0x00, 0x01}},
	} {
		if got := amlPkgLength(c.n); !bytes.Equal(got, c.want) {
			t.Errorf("amlPkgLength(%d) = % x, want % x", c.n, got, c.want)
		}
	}
	if got := amlEISAID("PNP0501"); !bytes.Equal(got, []byte{0x0c, 0x41, 0xd0, 0x05, 0x01}) {
		t.Errorf("EisaId(PNP0501) = % x", got)
	}
}

// TestDSDTDisassembles has ACPICA's disassembler read the DSDT back.
func TestDSDTDisassembles(t *testing.T) {
	iasl, err := exec.LookPath("iasl")
	if err != nil {
		t.Skip("iasl not installed (apt-get install acpica-tools)")
	}
	dir := t.TempDir()
	aml := filepath.Join(dir, "dsdt.aml")
	if err := os.WriteFile(aml, sdt("DSDT", 2, dsdtBody()), 0o644); err != nil {
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
		"Name (_S5, Package (0x04)", "0x05,",
		`Device (COM1)`, `EisaId ("PNP0501")`, "0x03F8", "{4}",
		`EisaId ("PNP0303")`, "0x0064", "{1}",
		`EisaId ("PNP0B00")`, "0x0070", "{8}",
	} {
		if !strings.Contains(string(dsl), want) {
			t.Errorf("disassembled DSDT lacks %q:\n%s", want, dsl)
		}
	}
}
