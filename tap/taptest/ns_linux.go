//go:build linux

package taptest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NS is a private network namespace, deleted when the test ends.
type NS struct {
	h  netns.NsHandle
	nl *netlink.Handle
}

// SkipIfNotRoot skips the test unless it runs as root: every helper here needs
// CAP_SYS_ADMIN (namespaces) and CAP_NET_ADMIN (interfaces).
func SkipIfNotRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("taptest: needs root (CAP_SYS_ADMIN for network namespaces, CAP_NET_ADMIN for interfaces)")
	}
}

// NewNS creates a network namespace for the test and deletes it (with every
// interface in it) at cleanup. IPv6 is disabled inside, so that interfaces
// coming up send no router solicitations, DAD or MLD frames that tests would
// have to filter; the loopback interface is up.
func NewNS(t testing.TB) *NS {
	t.Helper()
	SkipIfNotRoot(t)
	var h netns.NsHandle
	err := onFreshThread(func() error {
		var err error
		// netns.New unshares the calling thread into a new namespace and
		// returns a handle to it; onFreshThread throws the thread away after.
		h, err = netns.New()
		return err
	})
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		t.Skipf("taptest: cannot create a network namespace: %v", err)
	}
	if err != nil {
		t.Fatalf("taptest: new network namespace: %v", err)
	}
	n := &NS{h: h}
	// Besides this fd, only sockets and taps made inside hold the namespace,
	// and their cleanups, registered later, run first: closing the fd
	// destroys it and the interfaces inside (default_device_exit_batch
	// unregisters virtual devices, persistent taps included). A test
	// process that dies releases it just the same.
	t.Cleanup(func() { n.h.Close() })

	n.nl, err = netlink.NewHandleAt(h)
	if err != nil {
		t.Fatalf("taptest: netlink handle in namespace: %v", err)
	}
	t.Cleanup(n.nl.Delete)

	err = n.Do(func() error {
		for _, f := range []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"} {
			if err := writeSysctl(f, "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("taptest: %v", err)
	}
	lo, err := n.nl.LinkByName("lo")
	if err == nil {
		err = n.nl.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("taptest: bring up lo: %v", err)
	}
	return n
}

// Netlink is a netlink handle whose sockets live in the namespace: links,
// addresses and qdiscs changed through it are those of the namespace, from any
// goroutine.
func (n *NS) Netlink() *netlink.Handle { return n.nl }

// Handle is the namespace's fd (owned by NS; do not close it).
func (n *NS) Handle() netns.NsHandle { return n.h }

// Path names the namespace for tools that take a path, valid while the test
// runs: `nsenter --net=PATH cmd`.
func (n *NS) Path() string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(n.h)) }

// Do runs f on a fresh OS thread that has entered the namespace, and returns its
// error. Everything whose namespace is fixed at creation can be made inside f
// and used from any goroutine afterwards: sockets, a tap (tap.Open; tun_chr_open
// takes current->nsproxy->net_ns), and child processes (exec.Cmd.Start forks
// from the calling thread, so the child starts inside the namespace).
//
// f must not call t.FailNow (Fatal, Skip): return an error instead. The thread
// is discarded after f, never returned to Go's scheduler in the wrong namespace.
func (n *NS) Do(f func() error) error {
	return onFreshThread(func() error {
		if err := netns.Set(n.h); err != nil {
			return fmt.Errorf("setns: %w", err)
		}
		return f()
	})
}

// Sysctl writes value to /proc/sys/<name> inside the namespace (name like
// "net/ipv4/ip_forward").
func (n *NS) Sysctl(name, value string) error {
	return n.Do(func() error { return writeSysctl(name, value) })
}

// onFreshThread runs f in a new goroutine locked to its OS thread and never
// unlocks it: when a goroutine exits locked, the Go runtime terminates the thread
// instead of reusing it, so a namespace change made by f cannot leak into
// unrelated goroutines, even if f fails halfway.
func onFreshThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		sent := false
		defer func() {
			if !sent {
				errc <- errors.New("taptest: function exited without returning (runtime.Goexit or t.FailNow inside NS.Do?)")
			}
		}()
		err := f()
		sent = true
		errc <- err
	}()
	return <-errc
}

// writeSysctl writes /proc/sys/<name>. /proc/sys/net resolves in the network
// namespace of the calling thread (net_ctl_header_lookup uses
// current->nsproxy->net_ns), so inside Do it reaches the namespace's copy.
func writeSysctl(name, value string) error {
	p := filepath.Join("/proc/sys", name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	return nil
}

func readSysctl(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", name))
	return strings.TrimSpace(string(b)), err
}
