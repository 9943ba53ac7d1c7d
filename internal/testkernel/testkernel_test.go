package testkernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/govmm/govmm/vmm/mem"
	"github.com/govmm/govmm/vmm/x86/boot"
)

// TestImages loads every image with the boot package (no vCPU runs) and
// checks that it is entered where the kernel's symbols say.
func TestImages(t *testing.T) {
	k := Build(t)
	f, err := elf.Open(k.PVH)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	addr := map[string]uint64{}
	for _, s := range syms {
		addr[s.Name] = s.Value
	}
	if addr["_text"] != LinkAddr || addr["startup_32"] != LinkAddr || addr["startup_64"] != LinkAddr+0x200 || addr["pvh_start"] == 0 {
		t.Fatalf("entry symbols %#x", addr)
	}
	for _, c := range []struct {
		v        Variant
		protocol string
		entry    uint64
		mode     boot.Mode
	}{
		{k.Variants()[0], "bzImage 2.15 (64-bit long mode entry)", addr["startup_64"], boot.Long64},
		{k.Variants()[1], "bzImage 2.15 (32-bit protected mode entry)", addr["startup_32"], boot.Protected32},
		{k.Variants()[2], "ELF (PVH entry)", addr["pvh_start"], boot.Protected32},
		{k.Variants()[3], "ELF (64-bit entry)", addr["startup_64"], boot.Long64},
	} {
		t.Run(c.v.Name, func(t *testing.T) {
			m, err := mem.New(boot.RAMLayout(64 << 20))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			img, f, err := boot.OpenImage(c.v.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := boot.Load(m, boot.Config{Kernel: img, MemSize: 64 << 20, Cmdline: "x"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Protocol != c.protocol || res.CPU.RIP != c.entry || res.CPU.Mode != c.mode || res.KernelAddr != LinkAddr {
				t.Errorf("loaded as %q at %#x, entry %#x in %v; want %q at %#x, entry %#x in %v",
					res.Protocol, res.KernelAddr, res.CPU.RIP, res.CPU.Mode, c.protocol, LinkAddr, c.entry, c.mode)
			}
			if (c.mode == boot.Protected32) != (c.v.Mode == ModeProt32) {
				t.Errorf("Variant.Mode = %v for %v", c.v.Mode, c.mode)
			}
			// The entry's first bytes are cld; cli.
			var code [2]byte
			if _, err := m.ReadAt(code[:], int64(res.CPU.RIP)); err != nil || code != [2]byte{0xfc, 0xfa} {
				t.Errorf("bytes at the entry %#x = % x, %v; want fc fa", res.CPU.RIP, code, err)
			}
		})
	}
}

// TestBzImageHeader checks the setup header fields the loaders read.
func TestBzImageHeader(t *testing.T) {
	k := Build(t)
	for _, path := range []string{k.BzImage, k.BzImage32} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		pm := b[(setupSects+1)*512:]
		for _, c := range []struct {
			name      string
			got, want uint64
		}{
			{"boot_flag", uint64(le.Uint16(b[0x1fe:])), 0xaa55},
			{"header", uint64(le.Uint32(b[0x202:])), 0x53726448},
			{"version", uint64(le.Uint16(b[0x206:])), 0x20f},
			{"setup_sects", uint64(b[0x1f1]), setupSects},
			{"syssize", uint64(le.Uint32(b[0x1f4:])), uint64(len(pm)+15) / 16},
			{"header end", 0x202 + uint64(b[0x201]), 0x26c},
			{"loadflags", uint64(b[0x211]), loadedHigh},
			{"code32_start", uint64(le.Uint32(b[0x214:])), LinkAddr},
			{"initrd_addr_max", uint64(le.Uint32(b[0x22c:])), InitrdAddrMax},
			{"kernel_alignment", uint64(le.Uint32(b[0x230:])), KernelAlignment},
			{"relocatable_kernel", uint64(b[0x234]), 1},
			{"cmdline_size", uint64(le.Uint32(b[0x238:])), CmdlineSize},
			{"pref_address", le.Uint64(b[0x258:]), LinkAddr},
		} {
			if c.got != c.want {
				t.Errorf("%s: %s = %#x, want %#x", path, c.name, c.got, c.want)
			}
		}
		wantXLF := uint16(xlfKernel64)
		if path == k.BzImage32 {
			wantXLF = 0
		}
		if xlf := le.Uint16(b[0x236:]); xlf != wantXLF {
			t.Errorf("%s: xloadflags = %#x, want %#x", path, xlf, wantXLF)
		}
		if init := le.Uint32(b[0x260:]); init%4096 != 0 || uint64(init) < uint64(len(pm)) {
			t.Errorf("%s: init_size %#x for %#x bytes of image", path, init, len(pm))
		}
		if v := b[0x200+int(le.Uint16(b[0x20e:])):]; !bytes.HasPrefix(v, []byte(versionStr+"\x00")) {
			t.Errorf("%s: kernel_version does not point at %q", path, versionStr)
		}
	}
}

const sample = `MODE long64
PROTO bzimage
PARAMS 00007000
LOAD 01000000
SEG 00000010 00000018 00000018 00000018
CMDLINE a  "b" c=d
E820 0000000000000000 000000000009fc00 00000001
E820 0000000100000000 0000000080000000 00000001
INITRD 0000000003fff000 0000000000000005 4f9f2cab
END
`

func sampleWant() Want {
	return Want{
		Mode: ModeLong64, Proto: ProtoBootParams, Params: 0x7000, Load: LinkAddr,
		Selectors: BootSelectors, Cmdline: `a  "b" c=d`,
		E820:       []E820Entry{{0, 0x9fc00, 1}, {1 << 32, 1 << 31, 1}},
		InitrdAddr: 0x3fff000, InitrdSize: 5, InitrdSum: Checksum([]byte("hello")),
	}
}

func TestParseReport(t *testing.T) {
	r, err := ParseReport([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(sampleWant()); err != nil {
		t.Fatal(err)
	}
	if !r.Ended || r.InitrdSum != 0x4f9f2cab || len(r.E820) != 2 || r.E820[1].Addr != 1<<32 {
		t.Fatalf("%+v", r)
	}

	// A report cut short parses, without END.
	r, err = ParseReport([]byte(sample[:strings.Index(sample, "E820")]))
	if err != nil || r.Ended || r.Cmdline != `a  "b" c=d` {
		t.Fatalf("partial: %+v, %v", r, err)
	}
	for _, bad := range []string{
		"HELLO\n",
		"PARAMS 7000x\n",
		"E820 0 1\n",
		"E820 0 1 100000000\n",
		"INITRD 0 0 0 0\n",
		"SEG 10 18 18\n",
		"END\nMODE long64\n",
		"END now\n",
	} {
		if _, err := ParseReport([]byte(bad)); err == nil {
			t.Errorf("ParseReport(%q) succeeded", bad)
		}
	}
}

func TestCheck(t *testing.T) {
	r, err := ParseReport([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*Want)
		msg  string
	}{
		{"mode", func(w *Want) { w.Mode = ModeProt32 }, "MODE"},
		{"proto", func(w *Want) { w.Proto = ProtoPVH }, "PROTO"},
		{"params", func(w *Want) { w.Params = 0x6000 }, "PARAMS"},
		{"load", func(w *Want) { w.Load = 0x2000000 }, "LOAD"},
		{"seg", func(w *Want) { w.Selectors[0] = 8 }, "SEG"},
		{"cmdline", func(w *Want) { w.Cmdline += " " }, "CMDLINE"},
		{"e820", func(w *Want) { w.E820[1].Type = 2 }, "E820"},
		{"e820 count", func(w *Want) { w.E820 = w.E820[:1] }, "E820"},
		{"initrd", func(w *Want) { w.InitrdSum++ }, "INITRD"},
		{"no initrd", func(w *Want) { w.InitrdAddr, w.InitrdSize = 0, 0 }, "INITRD"},
	} {
		w := sampleWant()
		c.edit(&w)
		if err := r.Check(w); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: Check = %v, want a %s difference", c.name, err, c.msg)
		}
	}
	r2, _ := ParseReport([]byte("MODE long64\nERROR hvm_start_info magic\n"))
	if err := r2.Check(sampleWant()); err == nil || !strings.Contains(err.Error(), "no END") || !strings.Contains(err.Error(), "magic") {
		t.Errorf("Check of a failed report = %v", err)
	}
}

func TestChecksum(t *testing.T) {
	// FNV-1a test vectors, and what the kernel printed for "hello".
	for in, want := range map[string]uint32{"": 0x811c9dc5, "a": 0xe40c292c, "hello": 0x4f9f2cab} {
		if got := Checksum([]byte(in)); got != want {
			t.Errorf("Checksum(%q) = %#x, want %#x", in, got, want)
		}
	}
}
