package nestedkvm

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/nestedkvm/proto"
)

// writeELF writes a minimal ELF64 header with a PT_LOAD and, if interp, a
// PT_INTERP: enough for checkStaticX86, without building a real program.
func writeELF(t *testing.T, path string, machine elf.Machine, interp bool) {
	t.Helper()
	progs := []elf.Prog64{{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X)}}
	if interp {
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R)})
	}
	hdr := elf.Header64{
		Ident:     [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)},
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(machine),
		Version:   uint32(elf.EV_CURRENT),
		Phoff:     64,
		Ehsize:    64,
		Phentsize: 56,
		Phnum:     uint16(len(progs)),
	}
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, hdr); err != nil {
		t.Fatal(err)
	}
	if err := binary.Write(&b, binary.LittleEndian, progs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestCheckStaticX86(t *testing.T) {
	dir := t.TempDir()
	static := filepath.Join(dir, "static")
	dynamic := filepath.Join(dir, "dynamic")
	arm := filepath.Join(dir, "arm")
	writeELF(t, static, elf.EM_X86_64, false)
	writeELF(t, dynamic, elf.EM_X86_64, true)
	writeELF(t, arm, elf.EM_AARCH64, false)
	if err := checkStaticX86(static); err != nil {
		t.Errorf("static x86-64: %v", err)
	}
	if err := checkStaticX86(dynamic); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("dynamic: err = %v, want a hint to build with CGO_ENABLED=0", err)
	}
	if err := checkStaticX86(arm); err == nil {
		t.Error("aarch64: err = nil, want one")
	}
	if err := checkStaticX86(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing: err = nil, want one")
	}
}

// fakeKernel lays out a kernel dir as the fetch script leaves it, with two
// modules.
func fakeKernel(t *testing.T, vmlinux bool) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"boot/vmlinuz-6.1.0-test":                               "bzImage",
		"lib/modules/6.1.0-test/modules.dep":                    "kernel/arch/x86/kvm/kvm-amd.ko: kernel/arch/x86/kvm/kvm.ko\nkernel/arch/x86/kvm/kvm.ko:\nkernel/other.ko:\n",
		"lib/modules/6.1.0-test/kernel/arch/x86/kvm/kvm.ko":     "kvm module",
		"lib/modules/6.1.0-test/kernel/arch/x86/kvm/kvm-amd.ko": "kvm_amd module",
	}
	if vmlinux {
		files["boot/vmlinux-6.1.0-test"] = "ELF"
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindKernel(t *testing.T) {
	dir := fakeKernel(t, false)
	k, err := FindKernel(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k.Release != "6.1.0-test" || k.BootImage() != filepath.Join(dir, "boot/vmlinuz-6.1.0-test") {
		t.Errorf("FindKernel = %+v, boot image %s", k, k.BootImage())
	}
	dir = fakeKernel(t, true)
	if k, err = FindKernel(dir); err != nil || k.BootImage() != filepath.Join(dir, "boot/vmlinux-6.1.0-test") {
		t.Errorf("with vmlinux: boot image %v, %v; want the ELF (PVH boot skips emulated decompression)", k, err)
	}
	if err := os.Remove(filepath.Join(dir, "lib/modules/6.1.0-test/modules.dep")); err != nil {
		t.Fatal(err)
	}
	if _, err := FindKernel(dir); err == nil || !strings.Contains(err.Error(), "depmod") {
		t.Errorf("no modules.dep: err = %v, want one that mentions depmod", err)
	}
	if _, err := FindKernel(t.TempDir()); err == nil {
		t.Error("empty dir: err = nil, want one")
	}
}

func testConfig(t *testing.T) Config {
	t.Helper()
	bin := t.TempDir()
	harness := filepath.Join(bin, "harness")
	test := filepath.Join(bin, "kvm.test")
	writeELF(t, harness, elf.EM_X86_64, false)
	writeELF(t, test, elf.EM_X86_64, false)
	extra := filepath.Join(bin, "vmlinuz")
	if err := os.WriteFile(extra, []byte("nested kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Config{
		KernelDir:   fakeKernel(t, true),
		HarnessPath: harness,
		Tests:       []Test{{Path: test, Args: []string{"-test.v"}, Env: []string{"A=1"}}},
		Files:       []File{{HostPath: extra, GuestPath: "/files/vmlinuz"}},
		Env:         []string{"GOVMM_TEST_KERNEL=/files/vmlinuz"},
		TempDir:     t.TempDir(),
	}
}

func TestPlan(t *testing.T) {
	cfg := testConfig(t)
	cfg.setDefaults()
	k, err := FindKernel(cfg.KernelDir)
	if err != nil {
		t.Fatal(err)
	}
	m, entries, err := plan(k, &cfg)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	var paths []string
	var manifest []byte
	for _, e := range entries {
		paths = append(paths, e.Path)
		if e.Path == proto.ManifestPath {
			manifest = e.Data
		}
	}
	want := []string{
		"/init",
		"/lib/modules/6.1.0-test/kernel/arch/x86/kvm/kvm.ko",
		"/lib/modules/6.1.0-test/kernel/arch/x86/kvm/kvm-amd.ko",
		"/bin/kvm.test",
		"/files/vmlinuz",
		proto.ManifestPath,
	}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("entries = %v\nwant %v (only the modules kvm_amd needs)", paths, want)
	}
	var got proto.Manifest
	if err := json.Unmarshal(manifest, &got); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("manifest does not validate: %v", err)
	}
	if got.Nonce != m.Nonce || len(got.Nonce) < 8 {
		t.Errorf("nonce %q", got.Nonce)
	}
	if len(got.Modules) != 2 || got.Modules[1].Name != "kvm_amd" || got.Modules[1].Params != "nested=1" {
		t.Errorf("modules = %+v", got.Modules)
	}
	c := got.Commands[0]
	if c.Name != "kvm.test" || c.Path != "/bin/kvm.test" || c.Args[0] != "-test.v" || c.Env[0] != "A=1" ||
		time.Duration(c.Timeout) != 12*time.Minute || got.Env[0] != "GOVMM_TEST_KERNEL=/files/vmlinuz" {
		t.Errorf("command = %+v, env %v", c, got.Env)
	}

	// Two binaries with one base name would collide in /bin.
	cfg.Tests = append(cfg.Tests, cfg.Tests[0])
	if _, _, err := plan(k, &cfg); err == nil {
		t.Error("duplicate test name: err = nil, want one")
	}
}

func TestQEMUArgs(t *testing.T) {
	cfg := Config{Append: "mitigations=off"}
	cfg.setDefaults()
	args := strings.Join(QEMUArgs(&cfg, "/k/vmlinux", "/t/initrd"), " ")
	for _, want := range []string{
		"-accel tcg", "-cpu max", "-m 2048", "-smp 2", "-no-reboot", "-serial stdio",
		"-kernel /k/vmlinux", "-initrd /t/initrd", "-append console=ttyS0 quiet panic=-1 mitigations=off",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("QEMU args %q lack %q", args, want)
		}
	}
}

func TestParseFileFlag(t *testing.T) {
	if f, err := ParseFileFlag("/a/b/vmlinuz"); err != nil || f.GuestPath != "/files/vmlinuz" {
		t.Errorf("default guest path: %+v, %v", f, err)
	}
	if f, err := ParseFileFlag("x.img:/data/x.img"); err != nil || f.HostPath != "x.img" || f.GuestPath != "/data/x.img" {
		t.Errorf("explicit guest path: %+v, %v", f, err)
	}
	for _, bad := range []string{"", ":/x", "a:rel"} {
		if _, err := ParseFileFlag(bad); err == nil {
			t.Errorf("ParseFileFlag(%q): err = nil, want one", bad)
		}
	}
}

// fakeQEMU writes a shell script that stands in for qemu-system-x86_64: it
// reads the nonce from the manifest in the (uncompressed) initramfs it is given
// and runs body, where `m KIND ARGS` prints a marker.
func fakeQEMU(t *testing.T, body string) string {
	t.Helper()
	script := `#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -initrd ] && initrd=$2; shift; done
n=$(grep -ao '"nonce": "[0-9a-f]*"' "$initrd" | sed 's/.*: "//; s/"$//')
m() { printf '=== HARNESS %s %s\r\n' "$n" "$*"; }
` + body + "\n"
	p := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

const fakeSetup = `echo "[    0.0] Linux version 6.1.0"
m READY uptime=1.50
m MODULE kvm status=ok
m MODULE kvm_amd status=ok
m FACT dev_kvm=present
m BEGIN kvm.test`

func runFake(t *testing.T, body string, adjust func(*Config)) (*Report, string, error) {
	t.Helper()
	cfg := testConfig(t)
	cfg.QEMU = fakeQEMU(t, body)
	var con bytes.Buffer
	cfg.Console = &con
	if adjust != nil {
		adjust(&cfg)
	}
	rep, err := Run(context.Background(), cfg)
	if left, _ := os.ReadDir(cfg.TempDir); len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}
	return rep, con.String(), err
}

func TestRunPass(t *testing.T) {
	rep, con, err := runFake(t, fakeSetup+`
echo "--- PASS: TestX"
m END kvm.test status=0 elapsed=0.1s
m SUMMARY commands=1 passed=1 failed=0`, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(con, "--- PASS: TestX") || !strings.Contains(con, "reached the harness") {
		t.Errorf("console was not streamed:\n%s", con)
	}
	if rep.BootToHarness <= 0 || rep.GuestUptime != "1.50" || rep.InitramfsBytes == 0 || !rep.Result.Commands[0].Passed() {
		t.Errorf("report = %+v", rep)
	}
}

func TestRunFailures(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		adjust func(*Config)
		want   string
	}{
		{"test fails", fakeSetup + "\nm END kvm.test status=1 elapsed=0.1s\nm SUMMARY commands=1 passed=0 failed=1", nil, "kvm.test: failed (status=1)"},
		{"guest dies mid-test", fakeSetup + "\necho '[ 9.0] Kernel panic'", nil, "kvm.test: no END marker"},
		{"QEMU fails", "echo 'qemu: could not load kernel' >&2; exit 1", nil, "could not load kernel"},
		{"QEMU missing", "", func(c *Config) { c.QEMU = "/nonexistent/qemu" }, "start /nonexistent/qemu"},
		// exec, so that killing QEMU's pid kills what holds the console pipe.
		{"hang", fakeSetup + "\nexec sleep 60", func(c *Config) { c.Timeout = 500 * time.Millisecond }, "timeout of 500ms; QEMU killed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, _, err := runFake(t, c.body, c.adjust)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Run: err = %v, want it to mention %q", err, c.want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Run took %v", d)
			}
		})
	}
}

func TestRunInterrupted(t *testing.T) {
	cfg := testConfig(t)
	cfg.QEMU = fakeQEMU(t, fakeSetup+"\nexec sleep 60")
	ctx, cancel := context.WithCancel(context.Background())
	var con bytes.Buffer
	cfg.Console = &con
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err := Run(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("Run: err = %v, want interrupted", err)
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"qemu", "-append", "console=ttyS0 quiet", "it's", ""})
	if want := `qemu -append 'console=ttyS0 quiet' 'it'\''s' ''`; got != want {
		t.Errorf("shellJoin = %s, want %s", got, want)
	}
}
