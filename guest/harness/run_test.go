package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/internal/nestedkvm/proto"
)

// syncBuffer is a bytes.Buffer safe for the runner's copy goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testNonce = "n0nce"

func newTestRunner(out *syncBuffer) *runner {
	con := newConsole(out)
	con.nonce = testNonce
	return &runner{con: con, env: []string{"PATH=/bin:/usr/bin", "FROM_BASE=1"}, dir: "/", grace: 500 * time.Millisecond}
}

func sh(name, script string, timeout time.Duration) proto.Command {
	return proto.Command{Name: name, Path: "/bin/sh", Args: []string{"-c", script}, Timeout: proto.Duration(timeout)}
}

// markers returns the marker lines of out, parsed.
func markers(t *testing.T, out string) []proto.Marker {
	t.Helper()
	var ms []proto.Marker
	for _, line := range strings.Split(out, "\n") {
		if m, ok := proto.Parse(testNonce, line); ok {
			if !strings.HasPrefix(line, "=== HARNESS ") {
				t.Errorf("marker does not start its line: %q", line)
			}
			ms = append(ms, m)
		}
	}
	return ms
}

func TestRunFramesOutputAndExitCode(t *testing.T) {
	var out syncBuffer
	r := newTestRunner(&out)
	c := sh("t1", `echo out; echo err >&2; printf 'no newline'; exit 3`, 10*time.Second)
	if got := r.run(c); got != "3" {
		t.Fatalf("status = %q, want 3; output:\n%s", got, out.String())
	}
	s := out.String()
	if !strings.Contains(s, "out\nerr\nno newline\n=== HARNESS ") {
		t.Errorf("output not in order or END not on its own line:\n%s", s)
	}
	ms := markers(t, s)
	if len(ms) != 2 || ms[0].Kind != proto.KindBegin || ms[1].Kind != proto.KindEnd {
		t.Fatalf("markers = %+v, want BEGIN, END", ms)
	}
	if st, _ := ms[1].Get("status"); st != "3" || ms[1].Args[0] != "t1" {
		t.Errorf("END = %+v, want t1 status=3", ms[1])
	}
}

func TestRunEnvAndDir(t *testing.T) {
	var out syncBuffer
	r := newTestRunner(&out)
	c := sh("env", `echo "base=$FROM_BASE own=$OWN pwd=$(pwd)"`, 10*time.Second)
	c.Env = []string{"OWN=2", "FROM_BASE=overridden"}
	c.Dir = "/tmp"
	if got := r.run(c); got != "0" {
		t.Fatalf("status = %q, want 0; output:\n%s", got, out.String())
	}
	if !strings.Contains(out.String(), "base=overridden own=2 pwd=/tmp") {
		t.Errorf("env or dir not applied:\n%s", out.String())
	}
}

func TestRunTimeoutKillsGroup(t *testing.T) {
	var out syncBuffer
	r := newTestRunner(&out)
	// The shell ignores SIGQUIT, and its background child holds the pipe open:
	// both must die at the timeout, not after the 60 s sleep.
	c := sh("hang", `trap '' QUIT; sleep 60 & echo started; wait`, 200*time.Millisecond)
	start := time.Now()
	got := r.run(c)
	if got != proto.StatusTimeout {
		t.Fatalf("status = %q, want %q; output:\n%s", got, proto.StatusTimeout, out.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run took %v after a 200ms timeout", d)
	}
	if !strings.Contains(out.String(), "started") {
		t.Errorf("output before the timeout is missing:\n%s", out.String())
	}
}

func TestRunStartError(t *testing.T) {
	var out syncBuffer
	r := newTestRunner(&out)
	c := proto.Command{Name: "missing", Path: "/nonexistent/bin", Timeout: proto.Duration(time.Second)}
	if got := r.run(c); got != proto.StatusError {
		t.Fatalf("status = %q, want %q", got, proto.StatusError)
	}
	ms := markers(t, out.String())
	if len(ms) != 2 || ms[1].Kind != proto.KindEnd {
		t.Fatalf("markers = %+v, want BEGIN, END", ms)
	}
}

func TestRunSignal(t *testing.T) {
	var out syncBuffer
	r := newTestRunner(&out)
	if got := r.run(sh("sig", `kill -KILL $$`, 10*time.Second)); got != proto.StatusSignal {
		t.Fatalf("status = %q, want %q", got, proto.StatusSignal)
	}
}

func TestConsoleMarkerStartsLine(t *testing.T) {
	var out bytes.Buffer
	con := newConsole(&out)
	con.nonce = testNonce
	_, _ = con.Write([]byte("partial"))
	con.Marker(proto.KindFact, "k=v")
	con.Marker(proto.KindFact, "k2=v2")
	want := "partial\n=== HARNESS n0nce FACT k=v\n=== HARNESS n0nce FACT k2=v2\n"
	if out.String() != want {
		t.Errorf("console = %q, want %q", out.String(), want)
	}
}
