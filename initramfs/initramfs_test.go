package initramfs

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"
)

func archive(t *testing.T) Archive {
	host := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(host, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Archive{
		Dirs:    []string{"/proc", "/sys"},
		Devices: []Device{Console},
		Files: []File{
			{Path: "/init", Perm: 0o755, HostPath: host},
			{Path: "/etc/motd", Perm: 0o644, Data: []byte("hello\n")},
			{Path: "/usr/share/deep/file", Perm: 0o600, Data: []byte{0, 1, 2}},
		},
	}
}

func read(t *testing.T, b []byte) map[string]cpio.Record {
	t.Helper()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]cpio.Record{}
	for _, r := range recs {
		m[r.Name] = r
	}
	return m
}

func content(t *testing.T, r cpio.Record) string {
	b, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteReadBack(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, archive(t)); err != nil {
		t.Fatal(err)
	}
	m := read(t, b.Bytes())
	if r := m["init"]; content(t, r) != "#!/bin/sh\necho hi\n" || r.Mode&0o777 != 0o755 || r.Mode&cpio.S_IFMT != cpio.S_IFREG {
		t.Errorf("init: mode %o, %q", r.Mode, content(t, r))
	}
	if content(t, m["etc/motd"]) != "hello\n" {
		t.Error("etc/motd content")
	}
	for _, d := range []string{"proc", "sys", "etc", "usr", "usr/share", "usr/share/deep", "dev"} {
		if r, ok := m[d]; !ok || r.Mode&cpio.S_IFMT != cpio.S_IFDIR {
			t.Errorf("directory %s missing", d)
		}
	}
	if r := m["dev/console"]; r.Mode&cpio.S_IFMT != cpio.S_IFCHR || r.Rmajor != 5 || r.Rminor != 1 {
		t.Errorf("dev/console = %+v", r.Info)
	}
}

func TestReproducible(t *testing.T) {
	a := archive(t)
	var x, y bytes.Buffer
	if err := Write(&x, a); err != nil {
		t.Fatal(err)
	}
	// Touch the host file: its time must not leak into the archive.
	os.Chtimes(a.Files[0].HostPath, time1, time1)
	if err := Write(&y, a); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x.Bytes(), y.Bytes()) {
		t.Fatal("same inputs gave different archives")
	}
	for _, r := range read(t, x.Bytes()) {
		if r.MTime != 0 || r.UID != 0 || r.GID != 0 {
			t.Errorf("%s records host metadata: %+v", r.Name, r.Info)
		}
	}
}

func TestGzip(t *testing.T) {
	a := archive(t)
	a.Gzip = 6
	var b bytes.Buffer
	if err := Write(&b, a); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if content(t, read(t, plain)["etc/motd"]) != "hello\n" {
		t.Fatal("gzip archive content")
	}
}

func TestErrors(t *testing.T) {
	for _, a := range []Archive{
		{Files: []File{{Path: "relative", Data: []byte("x")}}},
		{Files: []File{{Path: "/x", HostPath: "/nonexistent"}}},
		{Files: []File{{Path: "/d", HostPath: "/"}}},
		{Files: []File{{Path: "/a", Data: []byte("x")}, {Path: "/a/b", Data: []byte("y")}}},
		{Dirs: []string{"rel"}},
		{Gzip: 42},
	} {
		if err := Write(io.Discard, a); err == nil {
			t.Errorf("Write(%+v) succeeded", a)
		}
	}
	p := filepath.Join(t.TempDir(), "out.cpio")
	if err := WriteFile(p, Archive{Files: []File{{Path: "/x", HostPath: "/nonexistent"}}}); err == nil {
		t.Fatal("WriteFile succeeded")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("WriteFile left a partial archive")
	}
}

var time1 = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
