package initramfs

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// depSample is modules.dep as depmod writes it for Debian's 6.1.0-56-amd64
// (the KVM lines), plus lines that exercise the parser.
const depSample = `kernel/arch/x86/kvm/kvm.ko: kernel/virt/lib/irqbypass.ko
kernel/arch/x86/kvm/kvm-intel.ko: kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko
kernel/arch/x86/kvm/kvm-amd.ko: kernel/drivers/crypto/ccp/ccp.ko kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko
kernel/drivers/crypto/ccp/ccp.ko:
kernel/virt/lib/irqbypass.ko:

# a comment
kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz
kernel/drivers/virtio/virtio_ring.ko.xz: kernel/drivers/virtio/virtio.ko.xz
kernel/drivers/virtio/virtio.ko.xz:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz:
`

func parseSample(t *testing.T) ModulesDep {
	t.Helper()
	d, err := ParseModulesDep(strings.NewReader(depSample))
	if err != nil {
		t.Fatalf("ParseModulesDep: %v", err)
	}
	return d
}

func TestResolveKVMAMD(t *testing.T) {
	d := parseSample(t)
	got, err := d.Resolve([]ModuleRequest{{Name: "kvm-amd", Params: "nested=1"}})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := []Module{
		{Name: "ccp", RelPath: "kernel/drivers/crypto/ccp/ccp.ko"},
		{Name: "irqbypass", RelPath: "kernel/virt/lib/irqbypass.ko"},
		{Name: "kvm", RelPath: "kernel/arch/x86/kvm/kvm.ko"},
		{Name: "kvm_amd", RelPath: "kernel/arch/x86/kvm/kvm-amd.ko", Params: "nested=1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Resolve =\n%+v\nwant\n%+v", got, want)
	}
}

// index returns where each module lands in mods.
func index(mods []Module) map[string]int {
	at := make(map[string]int, len(mods))
	for i, m := range mods {
		at[m.Name] = i
	}
	return at
}

func TestResolveOrdersDependenciesFirst(t *testing.T) {
	d := parseSample(t)
	// virtio_pci's line lists virtio_ring before virtio, which virtio_ring needs:
	// the order must come from each module's own line, not the listing order.
	got, err := d.Resolve([]ModuleRequest{{Name: "virtio_pci"}})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if len(got) != 4 {
		t.Fatalf("Resolve = %+v, want 4 modules", got)
	}
	at := index(got)
	for _, dep := range [][2]string{
		{"virtio", "virtio_ring"}, {"virtio_ring", "virtio_pci"},
		{"virtio", "virtio_pci"}, {"virtio_pci_legacy_dev", "virtio_pci"},
	} {
		if at[dep[0]] >= at[dep[1]] {
			t.Errorf("%s loads at %d, after %s at %d, which needs it", dep[0], at[dep[0]], dep[1], at[dep[1]])
		}
	}
	if got[at["virtio"]].RelPath != "kernel/drivers/virtio/virtio.ko.xz" {
		t.Errorf("virtio path = %q", got[at["virtio"]].RelPath)
	}
}

func TestResolveSharedDependencyOnceAndParamsKept(t *testing.T) {
	d := parseSample(t)
	got, err := d.Resolve([]ModuleRequest{
		{Name: "kvm_intel"},
		{Name: "kvm_amd", Params: "nested=1"},
		{Name: "kvm", Params: "ignore_msrs=1"}, // also a dependency of both
	})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	var names []string
	for _, m := range got {
		names = append(names, m.Name)
	}
	if want := "irqbypass kvm kvm_intel ccp kvm_amd"; strings.Join(names, " ") != want {
		t.Errorf("order = %q, want %q", strings.Join(names, " "), want)
	}
	at := index(got)
	if p := got[at["kvm"]].Params; p != "ignore_msrs=1" {
		t.Errorf("kvm params = %q, want the requested ignore_msrs=1", p)
	}
}

func TestResolveErrors(t *testing.T) {
	d := parseSample(t)
	if _, err := d.Resolve([]ModuleRequest{{Name: "nosuch"}}); err == nil || !strings.Contains(err.Error(), "nosuch is not in modules.dep") {
		t.Errorf("unknown module: err = %v", err)
	}

	broken, err := ParseModulesDep(strings.NewReader("kernel/a.ko: kernel/b.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broken.Resolve([]ModuleRequest{{Name: "a"}}); err == nil || !strings.Contains(err.Error(), "b, needed as a -> b") {
		t.Errorf("missing dependency: err = %v", err)
	}

	cyclic, err := ParseModulesDep(strings.NewReader("kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cyclic.Resolve([]ModuleRequest{{Name: "a"}}); err == nil || !strings.Contains(err.Error(), "cycle: a -> b -> a") {
		t.Errorf("cycle: err = %v", err)
	}
}

func TestParseModulesDepErrors(t *testing.T) {
	for _, in := range []string{
		"kernel/a.ko kernel/b.ko\n",                // no colon
		": kernel/b.ko\n",                          // no module
		"kernel/x/a.ko:\nkernel/y/a.ko.xz:\n",      // same name twice
		strings.Repeat("k", 2<<20) + ".ko: x.ko\n", // line over the scanner's limit
	} {
		if _, err := ParseModulesDep(strings.NewReader(in)); err == nil {
			t.Errorf("ParseModulesDep(%.40q) = nil error, want one", in)
		}
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/arch/x86/kvm/kvm-amd.ko":      "kvm_amd",
		"kernel/arch/x86/kvm/kvm-amd.ko.xz":   "kvm_amd",
		"kernel/drivers/virtio/virtio.ko.zst": "virtio",
		"kernel/a/b-c_d.ko.gz":                "b_c_d",
		"kvm-amd":                             "kvm_amd",
		"kvm_amd":                             "kvm_amd",
	} {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestModuleEntry(t *testing.T) {
	dir := t.TempDir()
	mustWrite := func(rel string, b []byte) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("kernel/a.ko", []byte("plain"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("was gzipped"))
	_ = zw.Close()
	mustWrite("kernel/b.ko.gz", gz.Bytes())

	e, err := ModuleEntry(dir, "/lib/modules/r", "kernel/a.ko")
	if err != nil {
		t.Fatal(err)
	}
	if e.Path != "/lib/modules/r/kernel/a.ko" || e.HostPath != filepath.Join(dir, "kernel/a.ko") || e.Data != nil {
		t.Errorf("plain module entry = %+v", e)
	}

	// The 6.1 kernel cannot decompress modules itself, so the entry must hold
	// the plain module under a plain .ko name.
	e, err = ModuleEntry(dir, "/lib/modules/r", "kernel/b.ko.gz")
	if err != nil {
		t.Fatal(err)
	}
	if e.Path != "/lib/modules/r/kernel/b.ko" || string(e.Data) != "was gzipped" {
		t.Errorf("gzipped module entry = %+v, data %q", e, e.Data)
	}

	if _, err := ModuleEntry(dir, "/lib/modules/r", "kernel/c.ko.lzma"); err == nil {
		t.Error("unknown module type: err = nil, want one")
	}
}
