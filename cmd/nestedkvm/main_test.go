package main

import (
	"testing"

	"github.com/govmm/govmm/internal/nestedkvm"
)

// TestUnfinished: only binaries a stalled or crashed outer guest left
// without a result are rerun, and nothing is when a test failed.
func TestUnfinished(t *testing.T) {
	tests := []nestedkvm.Test{{Path: "/x/a.test"}, {Path: "/x/b.test"}, {Path: "/x/c.test"}}
	res := func(cs ...nestedkvm.CommandResult) *nestedkvm.Report {
		return &nestedkvm.Report{Result: &nestedkvm.Result{Ready: true, Commands: cs}}
	}
	ok := func(n string) nestedkvm.CommandResult {
		return nestedkvm.CommandResult{Name: n, Began: true, Ended: true, Status: "0"}
	}
	for _, c := range []struct {
		name string
		rep  *nestedkvm.Report
		want []string
	}{
		{"stalled in b", res(ok("a.test"), nestedkvm.CommandResult{Name: "b.test", Began: true}, nestedkvm.CommandResult{Name: "c.test"}), []string{"b.test", "c.test"}},
		{"a failed", res(nestedkvm.CommandResult{Name: "a.test", Began: true, Ended: true, Status: "1"}, nestedkvm.CommandResult{Name: "b.test", Began: true}), nil},
		{"a timed out", res(nestedkvm.CommandResult{Name: "a.test", Began: true, Ended: true, Status: "timeout"}), nil},
		{"no result at all", &nestedkvm.Report{}, nil},
		{"harness gave up", &nestedkvm.Report{Result: &nestedkvm.Result{Ready: true, Fatal: true}}, nil},
		{"no command began", res(), []string{"a.test", "b.test", "c.test"}},
	} {
		got := unfinished(c.rep, tests)
		var names []string
		for _, t := range got {
			names = append(names, testName(t))
		}
		if len(names) != len(c.want) {
			t.Errorf("%s: rerun %v, want %v", c.name, names, c.want)
			continue
		}
		for i := range names {
			if names[i] != c.want[i] {
				t.Errorf("%s: rerun %v, want %v", c.name, names, c.want)
			}
		}
	}
}
