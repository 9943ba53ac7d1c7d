package nestedkvm

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

// readArchive reads an initramfs back with the cpio reader: name -> record,
// file contents alongside.
func readArchive(t *testing.T, b []byte) (map[string]cpio.Record, map[string][]byte, []string) {
	t.Helper()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("read archive: %v", err)
	}
	byName := make(map[string]cpio.Record)
	data := make(map[string][]byte)
	var order []string
	for _, r := range recs {
		if _, dup := byName[r.Name]; dup {
			t.Errorf("%s appears twice", r.Name)
		}
		byName[r.Name] = r
		order = append(order, r.Name)
		if r.Mode&cpio.S_IFMT == cpio.S_IFREG {
			d, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
			if err != nil {
				t.Fatalf("read %s: %v", r.Name, err)
			}
			data[r.Name] = d
		}
	}
	return byName, data, order
}

func TestWriteInitramfsReadBack(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "probe.test")
	if err := os.WriteFile(host, []byte("\x7fELF pretend test binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	entries := []Entry{
		{Path: "/init", Perm: 0o755, Data: []byte("harness")},
		{Path: "/lib/modules/6.1.0/kernel/arch/x86/kvm/kvm.ko", Perm: 0o644, Data: []byte("module")},
		{Path: "/bin/probe.test", Perm: 0o755, HostPath: host},
		{Path: "/harness/manifest.json", Perm: 0o644, Data: []byte(`{"nonce":"x"}`)},
		{Path: "/files/empty", Perm: 0o644, Data: []byte{}},
	}
	for _, level := range []int{0, 1, 9} {
		var buf bytes.Buffer
		if err := WriteInitramfs(&buf, entries, level); err != nil {
			t.Fatalf("level %d: WriteInitramfs: %v", level, err)
		}
		raw := buf.Bytes()
		if level != 0 {
			zr, err := gzip.NewReader(&buf)
			if err != nil {
				t.Fatalf("level %d: not gzip: %v", level, err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				t.Fatalf("level %d: gunzip: %v", level, err)
			}
		} else if !bytes.HasPrefix(raw, []byte("070701")) {
			t.Fatalf("uncompressed archive starts %q, want newc magic", raw[:6])
		}
		recs, data, order := readArchive(t, raw)

		want := map[string]string{
			"init": "harness",
			"lib/modules/6.1.0/kernel/arch/x86/kvm/kvm.ko": "module",
			"bin/probe.test":        "\x7fELF pretend test binary",
			"harness/manifest.json": `{"nonce":"x"}`,
			"files/empty":           "",
		}
		for name, content := range want {
			if got, ok := data[name]; !ok || string(got) != content {
				t.Errorf("level %d: %s = %q (present %v), want %q", level, name, got, ok, content)
			}
		}
		if p := recs["init"].Mode & 0o777; p != 0o755 {
			t.Errorf("level %d: /init mode %o, want 755", level, p)
		}
		if p := recs["harness/manifest.json"].Mode & 0o777; p != 0o644 {
			t.Errorf("level %d: manifest mode %o, want 644", level, p)
		}
		// Every parent directory must come before what it holds: the kernel's
		// unpacker does not create missing directories.
		seen := map[string]bool{".": true}
		for _, name := range order {
			if parent := filepath.Dir(name); !seen[parent] {
				t.Errorf("level %d: %s comes before its directory %s", level, name, parent)
			}
			seen[name] = true
		}
		for _, d := range []string{"proc", "sys", "dev", "tmp", "lib/modules/6.1.0/kernel/arch/x86/kvm"} {
			if r, ok := recs[d]; !ok || r.Mode&cpio.S_IFMT != cpio.S_IFDIR {
				t.Errorf("level %d: directory %s missing", level, d)
			}
		}
		con, ok := recs["dev/console"]
		if !ok || con.Mode&cpio.S_IFMT != cpio.S_IFCHR || con.Rmajor != 5 || con.Rminor != 1 {
			t.Errorf("level %d: dev/console = %+v, want char device 5:1", level, con.Info)
		}
	}
}

func TestWriteInitramfsErrors(t *testing.T) {
	dir := t.TempDir()
	for _, e := range []Entry{
		{Path: "relative/path", Data: []byte("x")},
		{Path: "/files/missing", HostPath: filepath.Join(dir, "missing")},
		{Path: "/files/dir", HostPath: dir},
	} {
		if err := WriteInitramfs(io.Discard, []Entry{e}, 0); err == nil {
			t.Errorf("WriteInitramfs(%+v) = nil, want an error", e)
		}
	}
	if err := WriteInitramfs(io.Discard, []Entry{{Path: "/a", Data: nil}, {Path: "/a/b", Data: nil}}, 0); err == nil {
		t.Error("a file used as a directory: err = nil, want one")
	}
}
