package riscv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/dt"
)

func testFDTConfig() FDTConfig {
	return FDTConfig{
		Harts: 2, ISA: "rv64imafdc_zicsr_zifencei", MMU: "riscv,sv39",
		MemBase: 0x80000000, MemSize: 256 << 20,
		Bootargs: "console=ttyS0 quiet", InitrdStart: 0x88000000, InitrdEnd: 0x88100000,
		UARTBase: 0x10000000, UARTIRQ: 10, UARTClock: 3686400,
		CLINTBase: 0x2000000, PLICBase: 0xc000000,
		VirtioMMIO: []MMIOSlot{{0x10001000, 0x1000, 1}, {0x10002000, 0x1000, 2}},
	}
}

func TestFDTReadsBack(t *testing.T) {
	b, err := BuildFDT(testFDTConfig())
	if err != nil {
		t.Fatal(err)
	}
	fdt, err := dt.ReadFDT(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) *dt.Node {
		n := fdt.RootNode
		for _, p := range path {
			c, ok := n.LookupChildByName(p)
			if !ok {
				t.Fatalf("no node %v", path)
			}
			n = c
		}
		return n
	}
	chosen := get("chosen")
	if p, ok := chosen.LookProperty("bootargs"); !ok || string(p.Value) != "console=ttyS0 quiet\x00" {
		t.Fatalf("bootargs %q", p.Value)
	}
	if p, _ := chosen.LookProperty("stdout-path"); string(p.Value) != "/soc/serial@10000000\x00" {
		t.Fatalf("stdout-path %q", p.Value)
	}
	if p, _ := chosen.LookProperty("linux,initrd-start"); p == nil {
		t.Fatal("no initrd-start")
	}
	mem := get("memory@80000000")
	r, _ := mem.LookProperty("reg")
	if r == nil || !bytes.Equal(r.Value, []byte{0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}) {
		t.Fatalf("memory reg % x", r.Value)
	}
	if _, ok := get("cpus").LookupChildByName("cpu@1"); !ok {
		t.Fatal("no cpu@1")
	}
	for _, n := range []string{"plic@c000000", "clint@2000000", "serial@10000000", "virtio_mmio@10001000", "virtio_mmio@10002000"} {
		get("soc", n)
	}
}

// TestFDTCompiles has dtc decompile the blob, when dtc is installed.
func TestFDTCompiles(t *testing.T) {
	dtc, err := exec.LookPath("dtc")
	if err != nil {
		t.Skip("dtc not installed (apt-get install device-tree-compiler)")
	}
	b, err := BuildFDT(testFDTConfig())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "virt.dtb")
	os.WriteFile(p, b, 0o644)
	out, err := exec.Command(dtc, "-I", "dtb", "-O", "dts", p).CombinedOutput()
	if err != nil {
		t.Fatalf("dtc: %v\n%s", err, out)
	}
	for _, want := range []string{`"sifive,plic-1.0.0`, `riscv,isa = "rv64imafdc_zicsr_zifencei";`, `timebase-frequency = <0x989680>;`, `bootargs = "console=ttyS0 quiet";`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dts lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "Warning") {
		t.Errorf("dtc warnings:\n%s", out)
	}
}
