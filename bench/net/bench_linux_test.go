//go:build linux

package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/govmm/govmm/tap/taptest"
)

// TestBenchSmoke runs every case once with few frames: the namespace, the
// tap, the preload, both drivers and the report work end to end.
func TestBenchSmoke(t *testing.T) {
	taptest.SkipIfNotRoot(t)
	for _, args := range [][]string{
		{"-rounds", "1", "-warmup", "0", "-scale", "0.02", "-queue-size", "256"},
		{"-rounds", "1", "-warmup", "0", "-scale", "0.02", "-driver", "poll", "-raw-rx-layout", "guest", "-cases", "tx_1500,rx_1500,rx_tso"},
	} {
		var out, log bytes.Buffer
		if code := run(args, &out, &log); code != 0 {
			t.Fatalf("%q: exit %d\n%s", args, code, log.String())
		}
		for _, c := range allCases {
			if !strings.Contains(strings.Join(args, " "), "-cases") || strings.Contains(strings.Join(args, " "), c.name) {
				if !strings.Contains(out.String(), "net_"+c.name+"_ratio ") {
					t.Errorf("%q: no ratio for %s in\n%s", args, c.name, out.String())
				}
			}
		}
		t.Logf("%q:\n%s", args, out.String())
		if strings.Contains(out.String(), "NaN") {
			t.Errorf("%q: NaN in the report\n%s", args, out.String())
		}
	}
	// Nothing left behind: no interface of ours in this namespace.
	if b, err := os.ReadFile("/proc/net/dev"); err == nil && strings.Contains(string(b), tapName) {
		t.Errorf("%s still exists", tapName)
	}
}
