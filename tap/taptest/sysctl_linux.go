//go:build linux

package taptest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// bridgeNFSysctls make the bridge pass frames through iptables, ip6tables and
// arptables (br_netfilter). With call-iptables on, br_nf_pre_routing prepares
// every bridged IPv4 frame for the IP hooks, and setup_pre_routing orphans the
// skb ("Must drop socket now because of tproxy"), uncharging it from the tap's
// socket before it reaches the bottleneck qdisc: the tap's send buffer never
// fills and EAGAIN never comes.
var bridgeNFSysctls = []string{
	"net/bridge/bridge-nf-call-iptables",
	"net/bridge/bridge-nf-call-ip6tables",
	"net/bridge/bridge-nf-call-arptables",
}

// bridgeNFLockPath serializes tests that must change the bridge-nf sysctls
// globally (see disableBridgeNF), across goroutines and test processes alike
// (go test runs packages in parallel processes). flock locks belong to the open
// file description, so two opens in one process exclude each other too.
const bridgeNFLockPath = "/tmp/govmm-taptest-bridge-nf.lock"

// disableBridgeNF turns the bridge-nf-call-* sysctls off for bridges in ns.
//
// Since Linux 5.3 (commit 22567590b2e6, "netfilter: bridge: namespace bridge
// netfilter sysctls") they are per network namespace: each namespace has its
// own copy, a new namespace starts with 1 (brnf_init_net), and br_netfilter
// consults the copy of the bridge's namespace. Then the helper writes the copy
// inside ns, which vanishes with ns: nothing global changes and parallel tests
// cannot interfere. Before 5.3 the sysctls were registered for init_net only
// (register_net_sysctl(&init_net, ...)): they are invisible from another
// namespace and global in effect. That is how the helper tells the two apart:
// if ns has no copy but the test's own namespace has, it changes the global
// value under an exclusive lock held until cleanup, and restores it. If neither
// has the files, br_netfilter is not loaded and there is nothing to do.
func disableBridgeNF(t testing.TB, ns *NS) {
	t.Helper()
	perNS := false
	err := ns.Do(func() error {
		for _, s := range bridgeNFSysctls {
			err := writeSysctl(s, "0")
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			perNS = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("taptest: %v", err)
	}
	if perNS {
		return
	}
	var global []string
	for _, s := range bridgeNFSysctls {
		if _, err := os.Stat("/proc/sys/" + s); err == nil {
			global = append(global, "/proc/sys/"+s)
		}
	}
	if len(global) == 0 {
		return
	}
	if err := setGlobalSysctls(t, bridgeNFLockPath, global, "0"); err != nil {
		t.Fatalf("taptest: bridge-nf sysctls are global on this kernel: %v", err)
	}
}

// setGlobalSysctls writes value to the files in paths (sysctls that are global,
// not per namespace) while the test runs and restores them at cleanup. It holds
// an exclusive flock on lockPath from before reading the original values until
// after restoring them. The original values are also written into the lock
// file: a test process that dies between setting and restoring leaves them
// there, and the next holder restores them from it before reading, so a crash
// does not turn the test's value into the machine's new "original".
func setGlobalSysctls(t testing.TB, lockPath string, paths []string, value string) error {
	lf, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock file: %w", err)
	}
	// Blocks while another test holds it; a dead holder's lock goes away
	// with its file descriptors.
	for {
		err = unix.Flock(int(lf.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		lf.Close()
		return fmt.Errorf("lock %s: %w", lockPath, err)
	}
	unlock := func() { lf.Close() } // closing drops the flock
	if err := restoreFromLockFile(lf); err != nil {
		unlock()
		return err
	}
	var saved strings.Builder
	orig := make([]string, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			unlock()
			return err
		}
		orig[i] = strings.TrimSpace(string(b))
		fmt.Fprintf(&saved, "%s %s\n", p, orig[i])
	}
	if _, err := lf.WriteAt([]byte(saved.String()), 0); err != nil {
		unlock()
		return fmt.Errorf("lock file: %w", err)
	}
	restore := func() {
		defer unlock()
		for i, p := range paths {
			if err := os.WriteFile(p, []byte(orig[i]+"\n"), 0); err != nil {
				// Leave the lock file's record, so the next holder
				// retries the restore.
				t.Errorf("taptest: restore %s=%s: %v", p, orig[i], err)
				return
			}
		}
		if err := lf.Truncate(0); err != nil {
			t.Errorf("taptest: lock file: %v", err)
		}
	}
	t.Cleanup(restore)
	for _, p := range paths {
		if err := os.WriteFile(p, []byte(value+"\n"), 0); err != nil {
			return err // restore runs at cleanup
		}
	}
	return nil
}

// restoreFromLockFile restores the values a crashed holder recorded.
func restoreFromLockFile(lf *os.File) error {
	b, err := os.ReadFile(lf.Name())
	if err != nil {
		return fmt.Errorf("lock file: %w", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		path, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if err := os.WriteFile(path, []byte(val+"\n"), 0); err != nil {
			return fmt.Errorf("restore %s=%s left by a crashed test: %w", path, val, err)
		}
	}
	return lf.Truncate(0)
}
