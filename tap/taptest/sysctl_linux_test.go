//go:build linux

package taptest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetGlobalSysctls exercises the pre-5.3 fallback on ordinary files
// standing in for the sysctls: values are set while the test runs, restored at
// cleanup, and a crashed holder's record is restored by the next one.
func TestSetGlobalSysctls(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "lock")
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("1\n"), 0o600)
	os.WriteFile(b, []byte("2\n"), 0o600)
	read := func(p string) string {
		v, _ := os.ReadFile(p)
		return strings.TrimSpace(string(v))
	}

	t.Run("set and restore", func(t *testing.T) {
		if err := setGlobalSysctls(t, lock, []string{a, b}, "0"); err != nil {
			t.Fatal(err)
		}
		if read(a) != "0" || read(b) != "0" {
			t.Errorf("during the test: a=%s b=%s, want 0", read(a), read(b))
		}
		if !strings.Contains(read(lock), a+" 1") {
			t.Errorf("lock file does not record the original: %q", read(lock))
		}
	})
	if read(a) != "1" || read(b) != "2" || read(lock) != "" {
		t.Fatalf("after cleanup: a=%s b=%s lock=%q, want 1, 2, empty", read(a), read(b), read(lock))
	}

	// A holder that died after setting: its values are still 0, its record
	// says 1 and 2.
	os.WriteFile(a, []byte("0\n"), 0o600)
	os.WriteFile(b, []byte("0\n"), 0o600)
	os.WriteFile(lock, []byte(a+" 1\n"+b+" 2\n"), 0o600)
	t.Run("after a crash", func(t *testing.T) {
		if err := setGlobalSysctls(t, lock, []string{a, b}, "0"); err != nil {
			t.Fatal(err)
		}
	})
	if read(a) != "1" || read(b) != "2" {
		t.Errorf("after a crashed holder: a=%s b=%s, want the recorded 1 and 2", read(a), read(b))
	}
}

// TestBridgeNFPerNamespace checks the premise of disableBridgeNF on this
// kernel: where the test namespace has its own bridge-nf sysctls, turning them
// off there leaves the test's own namespace untouched.
func TestBridgeNFPerNamespace(t *testing.T) {
	ns := NewNS(t)
	const s = "net/bridge/bridge-nf-call-iptables"
	var inside string
	err := ns.Do(func() error {
		var err error
		inside, err = readSysctl(s)
		return err
	})
	if err != nil {
		t.Skipf("no per-namespace %s (kernel before 5.3, or no br_netfilter): %v", s, err)
	}
	before, err := readSysctl(s)
	if err != nil {
		t.Skipf("no %s outside: %v", s, err)
	}
	disableBridgeNF(t, ns)
	ns.Do(func() error {
		inside, err = readSysctl(s)
		return err
	})
	after, _ := readSysctl(s)
	if inside != "0" || after != before {
		t.Errorf("inside %s=%s (want 0), outside %s -> %s (want unchanged)", s, inside, before, after)
	}
}
