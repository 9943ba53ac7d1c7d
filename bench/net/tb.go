package main

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
)

// tb lets a command use helpers written for tests (taptest, virtiotest),
// which take a testing.TB: cleanups run in reverse order when the command
// calls runCleanups, and Fatal and Skip unwind to the nearest guard call
// instead of ending a test. The embedded interface is nil; it only
// supplies testing.TB's unexported method, so a helper calling a method not
// implemented here panics, which guard reports.
type tb struct {
	testing.TB
	name string
	log  io.Writer

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	skipped  bool
}

func newTB(name string, log io.Writer) *tb { return &tb{name: name, log: log} }

// abort is what Fatal and Skip panic with.
type abort struct {
	skip bool
	msg  string
}

// errSkipped is wrapped by guard's error when a helper skipped.
var errSkipped = errors.New("skipped")

// guard runs f, turning a Fatal or Skip inside it into an error (wrapping
// errSkipped for a skip). Other panics go on.
func (t *tb) guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(abort)
			if !ok {
				panic(r)
			}
			if a.skip {
				err = fmt.Errorf("%w: %s", errSkipped, a.msg)
			} else {
				err = errors.New(a.msg)
			}
		}
	}()
	return f()
}

// runCleanups runs the registered cleanups, last first, each once.
func (t *tb) runCleanups() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		func() {
			// A failing cleanup must not stop the others.
			defer func() {
				if r := recover(); r != nil {
					fmt.Fprintf(t.log, "%s: cleanup: %v\n", t.name, r)
				}
			}()
			f()
		}()
	}
}

func (t *tb) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

func (t *tb) Helper()      {}
func (t *tb) Name() string { return t.name }

func (t *tb) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *tb) Skipped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.skipped
}

func (t *tb) Log(args ...any) { fmt.Fprintf(t.log, "%s: %s", t.name, fmt.Sprintln(args...)) }
func (t *tb) Logf(format string, args ...any) {
	fmt.Fprintf(t.log, "%s: %s\n", t.name, fmt.Sprintf(format, args...))
}

func (t *tb) Error(args ...any) {
	t.Fail()
	t.Log(args...)
}

func (t *tb) Errorf(format string, args ...any) {
	t.Fail()
	t.Logf(format, args...)
}

func (t *tb) Fail() {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
}

func (t *tb) FailNow() {
	t.Fail()
	panic(abort{msg: "FailNow"})
}

func (t *tb) Fatal(args ...any) {
	t.Fail()
	panic(abort{msg: fmt.Sprint(args...)})
}

func (t *tb) Fatalf(format string, args ...any) {
	t.Fail()
	panic(abort{msg: fmt.Sprintf(format, args...)})
}

func (t *tb) SkipNow() { t.skip("SkipNow") }

func (t *tb) Skip(args ...any) { t.skip(fmt.Sprint(args...)) }

func (t *tb) Skipf(format string, args ...any) { t.skip(fmt.Sprintf(format, args...)) }

func (t *tb) skip(msg string) {
	t.mu.Lock()
	t.skipped = true
	t.mu.Unlock()
	panic(abort{skip: true, msg: msg})
}
