package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestTB(t *testing.T) {
	var log bytes.Buffer
	b := newTB("x", &log)
	var order []int
	b.Cleanup(func() { order = append(order, 1) })
	b.Cleanup(func() { order = append(order, 2); panic("boom") })
	b.Cleanup(func() { order = append(order, 3) })

	err := b.guard(func() error { b.Fatalf("bad %d", 7); return nil })
	if err == nil || err.Error() != "bad 7" || !b.Failed() {
		t.Fatalf("Fatalf: %v failed=%v", err, b.Failed())
	}
	err = b.guard(func() error { b.Skip("no root"); return nil })
	if !errors.Is(err, errSkipped) || !strings.Contains(err.Error(), "no root") || !b.Skipped() {
		t.Fatalf("Skip: %v", err)
	}
	want := errors.New("plain")
	if err := b.guard(func() error { return want }); err != want {
		t.Fatalf("plain error: %v", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "other" {
				t.Fatalf("recovered %v, want the panic to go on", r)
			}
		}()
		b.guard(func() error { panic("other") })
	}()

	b.runCleanups()
	if len(order) != 3 || order[0] != 3 || order[1] != 2 || order[2] != 1 {
		t.Fatalf("cleanups ran %v, want [3 2 1]", order)
	}
	if !strings.Contains(log.String(), "boom") {
		t.Fatalf("a panicking cleanup was not reported: %q", log.String())
	}
	b.runCleanups()
	if len(order) != 3 {
		t.Fatal("cleanups ran twice")
	}
	var tbi testing.TB = b
	tbi.Logf("hello %d", 1)
	if !strings.Contains(log.String(), "x: hello 1\n") {
		t.Fatalf("Logf: %q", log.String())
	}
}
