package linuxuser

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/govmm/govmm/tcg/internal/rvgen"
)

// TestBisectSeed finds the first instruction of GOVMM_BISECT_SEED whose
// prefix makes QEMU and govmm differ (a debugging aid).
func TestBisectSeed(t *testing.T) {
	s := os.Getenv("GOVMM_BISECT_SEED")
	if s == "" {
		t.Skip("GOVMM_BISECT_SEED not set")
	}
	var seed int64
	fmt.Sscan(s, &seed)
	full := rvgen.Generate(seed, rvgen.Options{})
	var prev []byte
	for k := 1; k <= len(full.Items); k++ {
		c := rvgen.Generate(seed, rvgen.Options{})
		c.Items = c.Items[:k]
		bin := filepath.Join(t.TempDir(), "one")
		os.WriteFile(bin, rvgen.Program([]*rvgen.Case{c}), 0o755)
		q := runQEMU(t, bin)
		g, _ := runGovmm(t, os.Getenv("GOVMM_BACKEND"), bin)
		if !bytes.Equal(q.stdout, g.stdout) {
			t.Logf("first difference after item %d: %s\n%s", k-1, c.Items[k-1].Text, describeDiff(q.stdout, g.stdout))
			if prev != nil {
				t.Logf("registers before it:\n%s", describeDiff(prev, make([]byte, len(prev))))
			}
			return
		}
		prev = g.stdout
	}
	t.Log("no difference")
}
