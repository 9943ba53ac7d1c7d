//go:build linux

package tap_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/tap/taptest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// openIn opens a tap from inside ns (a tap belongs to the namespace of the
// thread that opened /dev/net/tun).
func openIn(ns *taptest.NS, name string, opts tap.Options) (*tap.Tap, error) {
	var tp *tap.Tap
	err := ns.Do(func() error {
		var err error
		tp, err = tap.Open(name, opts)
		return err
	})
	return tp, err
}

func mustOpenIn(t *testing.T, ns *taptest.NS, name string, opts tap.Options) *tap.Tap {
	t.Helper()
	tp, err := openIn(ns, name, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

const intMax = 1<<31 - 1

func TestOpenCloseSndBuf(t *testing.T) {
	ns := taptest.NewNS(t)
	tp := mustOpenIn(t, ns, "", tap.Options{})
	if !strings.HasPrefix(tp.Name(), "tap") {
		t.Errorf("kernel-chosen name %q, want tapN", tp.Name())
	}
	if tp.FD() < 0 {
		t.Errorf("FD() = %d", tp.FD())
	}
	l, err := ns.Netlink().LinkByName(tp.Name())
	if err != nil {
		t.Fatalf("the tap is not in its namespace: %v", err)
	}
	if l.Type() != "tuntap" {
		t.Errorf("link type %q, want tuntap", l.Type())
	}
	// tun_chr_open: sk_sndbuf = INT_MAX.
	if got, err := tp.SndBuf(); err != nil || got != intMax {
		t.Errorf("default SndBuf() = %d, %v; want INT_MAX", got, err)
	}
	if got := tp.VnetHdrSize(); got != 0 {
		t.Errorf("VnetHdrSize() = %d without IFF_VNET_HDR", got)
	}
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tp.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tp.Writev([][]byte{make([]byte, 60)}); !errors.Is(err, tap.ErrClosed) {
		t.Errorf("Writev after Close: %v, want ErrClosed", err)
	}
	if _, err := tp.SndBuf(); !errors.Is(err, tap.ErrClosed) {
		t.Errorf("SndBuf after Close: %v, want ErrClosed", err)
	}
	// A tap Open created is not persistent: it goes with its last fd.
	if _, err := ns.Netlink().LinkByName(tp.Name()); err == nil {
		t.Errorf("%s still exists after Close", tp.Name())
	}

	// TUNSETSNDBUF takes the value exactly: no doubling (unlike SO_SNDBUF),
	// no clamp to wmem_max, and tiny values are accepted.
	for _, sb := range []int{100, 65536, 1 << 30} {
		tp := mustOpenIn(t, ns, "sb"+strconv.Itoa(sb), tap.Options{SndBuf: sb, VnetHdr: true})
		if got, err := tp.SndBuf(); err != nil || got != sb {
			t.Errorf("SndBuf() = %d, %v; want %d", got, err, sb)
		}
		if got := tp.VnetHdrSize(); got != tap.VnetHdrV1Size {
			t.Errorf("VnetHdrSize() = %d, want the default %d", got, tap.VnetHdrV1Size)
		}
	}
	// Open from a thread inside ns puts the tap in ns, not in the namespace
	// the test runs in.
	mustOpenIn(t, ns, "govmmnscheck", tap.Options{})
	if _, err := ns.Netlink().LinkByName("govmmnscheck"); err != nil {
		t.Errorf("tap not in the namespace it was opened in: %v", err)
	}
	if _, err := netlink.LinkByName("govmmnscheck"); err == nil {
		t.Errorf("tap opened inside a namespace appeared outside it")
	}

	tp = mustOpenIn(t, ns, "tmpl%d", tap.Options{})
	if tp.Name() != "tmpl0" {
		t.Errorf("template name gave %q, want tmpl0", tp.Name())
	}
}

func TestAttachPersistent(t *testing.T) {
	ns := taptest.NewNS(t)
	taptest.CreatePersistentTap(t, ns, "ptap", -1)
	a := mustOpenIn(t, ns, "ptap", tap.Options{SndBuf: 4096})
	if a.Name() != "ptap" {
		t.Fatalf("Name() = %q", a.Name())
	}
	// A single-queue tap takes one fd (tun_attach: EBUSY).
	_, err := openIn(ns, "ptap", tap.Options{})
	if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second attach: %v, want EBUSY explained", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Netlink().LinkByName("ptap"); err != nil {
		t.Fatalf("persistent tap gone after Close: %v", err)
	}
	// Reattaching works, with other flags (IFF_VNET_HDR is taken from each
	// TUNSETIFF). The send buffer is not remembered: it lives in the fd's
	// socket, which tun_chr_open starts at INT_MAX, and tun_attach does not
	// copy tun->sndbuf into it. Whoever opens a tap sets it every time.
	b := mustOpenIn(t, ns, "ptap", tap.Options{VnetHdr: true})
	if got, err := b.SndBuf(); err != nil || got != intMax {
		t.Errorf("SndBuf() after reattaching = %d, %v; want INT_MAX (not the previous fd's 4096)", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ns := taptest.NewNS(t)
	dir := t.TempDir()
	cases := []struct {
		name    string
		tap     string
		opts    tap.Options
		is      error  // errors.Is target, or nil
		message string // substring of the message
	}{
		{"name too long", "abcdefghijklmnop", tap.Options{}, nil, "at most 15"},
		{"name with slash", "a/b", tap.Options{}, nil, "must not"},
		{"negative sndbuf", "t0", tap.Options{SndBuf: -1}, nil, "must be positive"},
		{"vnet header too small", "t0", tap.Options{VnetHdr: true, VnetHdrSize: 8}, nil, "at least 10"},
		{"vnet header size alone", "t0", tap.Options{VnetHdrSize: 12}, nil, "without VnetHdr"},
		{"no device node", "t0", tap.Options{DevicePath: filepath.Join(dir, "tun")}, fs.ErrNotExist, "modprobe tun"},
		{"not the tun device", "t0", tap.Options{DevicePath: "/dev/null"}, unix.ENOTTY, "not the tun clone device"},
		{"name is not a tap", "lo", tap.Options{}, unix.EINVAL, "not a tap device"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tp, err := openIn(ns, c.tap, c.opts)
			if err == nil {
				tp.Close()
				t.Fatal("Open succeeded")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.message) || !strings.HasPrefix(err.Error(), "tap ") {
				t.Errorf("error %q: want prefix \"tap \" and %q", err, c.message)
			}
		})
	}

	// A device node whose driver is missing, as /dev/net/tun is without the
	// tun module: misc_open finds no misc device for the minor: ENODEV.
	t.Run("no driver", func(t *testing.T) {
		minor := freeMiscMinor(t)
		node := filepath.Join(dir, "nodriver")
		if err := unix.Mknod(node, unix.S_IFCHR|0o600, int(unix.Mkdev(10, uint32(minor)))); err != nil {
			t.Skipf("mknod: %v", err)
		}
		_, err := openIn(ns, "t0", tap.Options{DevicePath: node})
		if !errors.Is(err, unix.ENODEV) || !strings.Contains(err.Error(), "modprobe tun") {
			t.Errorf("error %v: want ENODEV and a hint", err)
		}
	})
}

// freeMiscMinor returns a misc device minor no driver has registered.
func freeMiscMinor(t *testing.T) int {
	b, err := os.ReadFile("/proc/misc")
	if err != nil {
		t.Skipf("no /proc/misc: %v", err)
	}
	used := map[int]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			n, _ := strconv.Atoi(f[0])
			used[n] = true
		}
	}
	for m := 100; m < 255; m++ {
		if !used[m] {
			return m
		}
	}
	t.Skip("no free misc minor")
	return 0
}

// asUser drops the calling thread's credentials to uid/gid (and with them every
// capability: a transition of all uids away from 0 clears the effective and
// permitted sets). It uses raw syscalls because Linux credentials are per
// thread and Go's syscall.Setuid changes all threads of the process; only the
// throwaway thread of NS.Do may be changed.
func asUser(uid, gid int) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return e
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return e
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return e
	}
	return nil
}

func TestOpenPermission(t *testing.T) {
	ns := taptest.NewNS(t)
	const owner, other = 4242, 65534
	taptest.CreatePersistentTap(t, ns, "owned", owner)

	// A device node any user may open, in a directory any user may enter,
	// so that the ioctl's permission check is what is tested.
	dir, err := os.MkdirTemp("", "taptest-perm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(dir, "tun")
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 200))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	if err := os.Chmod(node, 0o666); err != nil { // mknod applies the umask
		t.Fatal(err)
	}

	openAs := func(uid int, name, path string) error {
		return ns.Do(func() error {
			if err := asUser(uid, uid); err != nil {
				return err
			}
			tp, err := tap.Open(name, tap.Options{DevicePath: path})
			if err == nil {
				tp.Close()
			}
			return err
		})
	}

	st, err := os.Stat(tap.DefaultDevicePath)
	if err != nil {
		t.Skipf("no %s: %v", tap.DefaultDevicePath, err)
	}
	if st.Mode().Perm()&0o006 != 0o006 {
		err := openAs(other, "owned", "")
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "check its permissions") {
			t.Errorf("opening %s (mode %v) as uid %d: %v, want permission denied explained", tap.DefaultDevicePath, st.Mode().Perm(), other, err)
		}
	}
	err = openAs(other, "", node)
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
		t.Errorf("creating a tap as uid %d: %v, want EPERM explained", other, err)
	}
	err = openAs(other, "owned", node)
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "owned by this user") {
		t.Errorf("attaching to uid %d's tap as uid %d: %v, want EPERM explained", owner, other, err)
	}
	// The owner needs no capability to attach (tun_not_capable).
	if err := openAs(owner, "owned", node); err != nil {
		t.Errorf("attaching to its own tap as uid %d: %v", owner, err)
	}
}

func TestSetOffload(t *testing.T) {
	ns := taptest.NewNS(t)
	tp := mustOpenIn(t, ns, "", tap.Options{VnetHdr: true})
	for _, f := range []tap.Offload{
		0,
		tap.OffloadCSUM,
		tap.OffloadCSUM | tap.OffloadTSO4 | tap.OffloadTSO6 | tap.OffloadTSOECN,
		tap.OffloadCSUM | tap.OffloadTSO4 | tap.OffloadTSO6 | tap.OffloadUFO,
	} {
		if err := tp.SetOffload(f); err != nil {
			t.Errorf("SetOffload(%#x): %v", f, err)
		}
	}
	// set_offload only consumes TSO bits together with CSUM; leftovers are
	// EINVAL, the kernel's way of saying "unknown or unusable offload".
	if err := tp.SetOffload(tap.OffloadTSO4); !errors.Is(err, unix.EINVAL) {
		t.Errorf("SetOffload(TSO4 without CSUM): %v, want EINVAL", err)
	}
	if err := tp.SetOffload(tap.OffloadCSUM | tap.OffloadTSOECN); !errors.Is(err, unix.EINVAL) {
		t.Errorf("SetOffload(CSUM|TSO_ECN without TSO): %v, want EINVAL", err)
	}
	plain := mustOpenIn(t, ns, "", tap.Options{})
	if err := plain.SetOffload(tap.OffloadCSUM); err == nil || !strings.Contains(err.Error(), "vnet header") {
		t.Errorf("SetOffload(CSUM) without a vnet header: %v, want a refusal", err)
	}
	if err := plain.SetOffload(0); err != nil {
		t.Errorf("SetOffload(0) without a vnet header: %v", err)
	}
	if err := tp.SetOffload(tap.OffloadCSUM | tap.OffloadUSO4 | tap.OffloadUSO6); err != nil {
		t.Logf("USO4|USO6 not supported by this kernel (needs 6.2): %v", err)
	}
}
