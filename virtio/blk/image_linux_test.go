package blk

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// tempImage creates an image of size bytes filled with a pattern in a
// test directory (on this host /tmp is the root ext4 filesystem) and
// opens it.
func tempImage(t testing.TB, size int, o Options) *Image {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, pattern(size, size), 0o644); err != nil {
		t.Fatal(err)
	}
	im, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	return im
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.img")
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		for _, c := range []struct {
			path string
			is   error
			msg  string
		}{
			{missing, fs.ErrNotExist, "image " + missing + ": no such file or directory"},
			{dir, ErrIsDir, "image " + dir + ": is a directory, not a disk image"},
			{fifo, ErrNotRegular, "image " + fifo + ": not a regular file (only raw image files are supported)"},
			{"/dev/null", ErrNotRegular, "image /dev/null: not a regular file (only raw image files are supported)"},
		} {
			_, err := Open(c.path, Options{ReadOnly: ro})
			var ie *ImageError
			if !errors.Is(err, c.is) || !errors.As(err, &ie) || err.Error() != c.msg {
				t.Errorf("Open(%s, readonly=%v) = %v, want %q (%v)", c.path, ro, err, c.msg, c.is)
			}
		}
	}
	if os.Geteuid() != 0 {
		p := filepath.Join(dir, "ro.img")
		os.WriteFile(p, make([]byte, 512), 0o444)
		_, err := Open(p, Options{})
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "read-only drive") {
			t.Errorf("writable open of a 0444 file: %v", err)
		}
		if im, err := Open(p, Options{ReadOnly: true}); err != nil {
			t.Errorf("read-only open of a 0444 file: %v", err)
		} else {
			im.Close()
		}
	}
}

func TestLocking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(path, make([]byte, 4096), 0o644)
	locked := "image " + path + ": locked by another process (is another VM using it?)"

	a, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{{}, {ReadOnly: true}, {Direct: true}} {
		if _, err := Open(path, o); !errors.Is(err, ErrLocked) || err.Error() != locked {
			t.Errorf("second open %+v while held writable: %v, want %q", o, err, locked)
		}
	}
	a.Close()
	// Read-only opens share the image; a writer is then refused.
	r1, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("second read-only open: %v", err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrLocked) {
		t.Errorf("writable open while shared: %v", err)
	}
	r1.Close()
	r2.Close()
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open after every holder closed: %v", err)
	}
	b.Close()
}

// TestLockingAcrossProcesses: a child process holding the image makes
// Open fail here; once the child is killed, Open succeeds (the kernel
// drops the lock with the process).
func TestLockingAcrossProcesses(t *testing.T) {
	if os.Getenv("GOVMM_BLK_LOCK_CHILD") != "" {
		return
	}
	path := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(path, make([]byte, 4096), 0o644)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderChild$")
	cmd.Env = append(os.Environ(), "GOVMM_BLK_LOCK_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Errorf("open while another process holds the image: %v", err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	im, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open after the holder died: %v", err)
	}
	im.Close()
}

// TestLockHolderChild is the child of TestLockingAcrossProcesses.
func TestLockHolderChild(t *testing.T) {
	path := os.Getenv("GOVMM_BLK_LOCK_CHILD")
	if path == "" {
		t.Skip("child process of TestLockingAcrossProcesses")
	}
	if _, err := Open(path, Options{}); err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("locked\n")
	select {}
}

func TestCloseOnExec(t *testing.T) {
	for _, direct := range []bool{false, true} {
		im := tempImage(t, 4096, Options{Direct: direct})
		for _, fd := range []int{im.fd, im.dfd} {
			if fd < 0 {
				continue
			}
			flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if err != nil || flags&unix.FD_CLOEXEC == 0 {
				t.Errorf("fd %d flags %#x, %v: not close-on-exec", fd, flags, err)
			}
			fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			if fl&unix.O_NONBLOCK != 0 {
				t.Errorf("fd %d left O_NONBLOCK", fd)
			}
		}
	}
}

func TestUnalignedTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd.img")
	os.WriteFile(path, make([]byte, 1000), 0o644)
	im, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	want := "image " + path + ": size 1000 bytes is not a multiple of 512; the last 488 bytes are not exposed to the guest"
	if im.Size() != 512 || len(im.Warnings()) != 1 || im.Warnings()[0] != want {
		t.Fatalf("size %d warnings %q, want 512 and %q", im.Size(), im.Warnings(), want)
	}
	d, err := New(Config{Backend: im})
	if err != nil || d.Capacity() != 1 {
		t.Fatalf("device capacity %v, %v", d, err)
	}
	// A tiny image has no sectors at all, and says so.
	os.WriteFile(path+"2", make([]byte, 100), 0o644)
	im2, err := Open(path+"2", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer im2.Close()
	if im2.Size() != 0 || len(im2.Warnings()) != 1 {
		t.Fatalf("100-byte image: size %d warnings %q", im2.Size(), im2.Warnings())
	}
}

// TestDirectAlignment feeds an O_DIRECT image buffers that are not
// aligned (bounced), offsets that are not (page cache), and aligned ones
// (direct), and checks every byte.
func TestDirectAlignment(t *testing.T) {
	im := tempImage(t, 1<<20, Options{Direct: true})
	if !im.Direct() {
		t.Skipf("no O_DIRECT on this filesystem: %q", im.Warnings())
	}
	memAlign, offAlign := im.DirectAlignment()
	t.Logf("direct I/O alignment: memory %d, offset %d", memAlign, offAlign)
	page := alignedBuf(3 * 4096)
	odd := make([]byte, 4096+1)[1:] // misaligned for any memAlign > 1
	for _, c := range []struct {
		name    string
		iov     [][]byte
		off     int64
		bounces uint64
		falls   uint64
	}{
		{"aligned", [][]byte{page[:4096], page[8192:]}, 8192, 0, 0},
		{"misaligned buffer", [][]byte{odd[:2048], odd[2048:]}, 4096, 1, 0},
		{"misaligned offset", [][]byte{page[:4096]}, 100, 0, 1},
	} {
		im.Metrics.DirectBounces.Store(0)
		im.Metrics.BufferedFallbacks.Store(0)
		data := pattern(len(c.name), int(iovLen(c.iov)))
		scatter(c.iov, 0, data)
		if err := im.WriteV(c.iov, c.off); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
		for _, b := range c.iov {
			clear(b)
		}
		if err := im.ReadV(c.iov, c.off); err != nil {
			t.Fatalf("%s: read: %v", c.name, err)
		}
		got := make([]byte, len(data))
		gatherAt(got, c.iov, 0)
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: read back different data", c.name)
		}
		// The file agrees, through an independent descriptor.
		raw, _ := os.ReadFile(im.Path())
		if !bytes.Equal(raw[c.off:c.off+int64(len(data))], data) {
			t.Fatalf("%s: the file holds different data", c.name)
		}
		if im.Metrics.DirectBounces.Load() != 2*c.bounces || im.Metrics.BufferedFallbacks.Load() != 2*c.falls {
			t.Errorf("%s: bounces %d fallbacks %d, want %d and %d", c.name,
				im.Metrics.DirectBounces.Load(), im.Metrics.BufferedFallbacks.Load(), 2*c.bounces, 2*c.falls)
		}
	}
}

func alignedBuf(n int) []byte {
	b := make([]byte, n+4096)
	k := (4096 - int(addr(b))%4096) % 4096
	return b[k : k+n]
}

// TestImageDiscardAndZeroes checks holes and zeroes in a real file.
func TestImageDiscardAndZeroes(t *testing.T) {
	im := tempImage(t, 1<<20, Options{})
	if err := im.Sync(); err != nil {
		t.Fatal(err)
	}
	blocks := func() int64 {
		var st unix.Stat_t
		unix.Fstat(im.fd, &st)
		return st.Blocks
	}
	before := blocks()
	if err := im.Discard(0, 256<<10); err != nil {
		t.Fatal(err)
	}
	if err := im.WriteZeroes(512<<10, 128<<10, false); err != nil {
		t.Fatal(err)
	}
	if err := im.WriteZeroes(768<<10, 128<<10, true); err != nil {
		t.Fatal(err)
	}
	after := blocks()
	if im.Metrics.DiscardsIgnored.Load() == 0 && after >= before {
		t.Errorf("discard and unmap freed nothing: %d blocks before, %d after", before, after)
	}
	if im.Size() != 1<<20 {
		t.Fatalf("size changed to %d", im.Size())
	}
	raw, _ := os.ReadFile(im.Path())
	if len(raw) != 1<<20 {
		t.Fatalf("file is %d bytes", len(raw))
	}
	for _, r := range [][2]int{{512 << 10, 640 << 10}, {768 << 10, 896 << 10}} {
		if !bytes.Equal(raw[r[0]:r[1]], make([]byte, r[1]-r[0])) {
			t.Fatalf("WRITE_ZEROES range %v does not read as zero", r)
		}
	}
	if !bytes.Equal(raw[256<<10:512<<10], pattern(1<<20, 1<<20)[256<<10:512<<10]) {
		t.Fatal("data outside the ranges changed")
	}
}

// TestReadPastEOF: if someone shrinks the file, reads past its end are
// zero rather than an error or stale guest memory.
func TestReadPastEOF(t *testing.T) {
	im := tempImage(t, 8192, Options{})
	if err := os.Truncate(im.Path(), 4096+100); err != nil {
		t.Fatal(err)
	}
	b := bytes.Repeat([]byte{0xaa}, 8192)
	if err := im.ReadV([][]byte{b[:5000], b[5000:]}, 0); err != nil {
		t.Fatal(err)
	}
	want := append(pattern(8192, 8192)[:4196], make([]byte, 8192-4196)...)
	if !bytes.Equal(b, want) {
		t.Fatal("short file did not read as data then zeroes")
	}
}
