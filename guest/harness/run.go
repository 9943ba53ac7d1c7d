package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govmm/govmm/internal/nestedkvm/proto"
)

// runner runs manifest commands one at a time and frames their output with
// BEGIN and END markers.
type runner struct {
	con *console
	// env is the base environment of every command; a command's own Env entries
	// come after it and win (os/exec keeps the last of duplicate keys).
	env []string
	// dir is the working directory of a command that names none.
	dir string
	// grace is how long a timed-out command gets between SIGQUIT (which makes a
	// Go test binary print every goroutine's stack, the one clue to a hang) and
	// SIGKILL of its whole process group.
	grace time.Duration
}

// run runs c and returns its END status: an exit code, or one of
// proto.StatusTimeout, proto.StatusSignal, proto.StatusError.
func (r *runner) run(c proto.Command) string {
	r.con.Marker(proto.KindBegin, c.Name)
	start := time.Now()
	status := r.exec(c)
	r.con.Marker(proto.KindEnd, c.Name, "status="+status,
		fmt.Sprintf("elapsed=%.2fs", time.Since(start).Seconds()))
	return status
}

func (r *runner) exec(c proto.Command) string {
	// One pipe for stdout and stderr keeps their interleaving as written. The
	// harness owns the pipe rather than letting os/exec copy from it, so that
	// Wait returns when the command exits even if something it started still
	// holds the write end; that leftover is killed below.
	pr, pw, err := os.Pipe()
	if err != nil {
		r.con.Printf("%s: pipe: %v", c.Name, err)
		return proto.StatusError
	}
	defer pr.Close()
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(append([]string(nil), r.env...), c.Env...)
	cmd.Dir = c.Dir
	if cmd.Dir == "" {
		cmd.Dir = r.dir
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	// A process group of its own lets one kill reach everything the command
	// started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		r.con.Printf("%s: start: %v", c.Name, err)
		return proto.StatusError
	}
	pgid := cmd.Process.Pid

	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(r.con, pr)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	timer := time.NewTimer(time.Duration(c.Timeout))
	defer timer.Stop()
	timedOut := false
	var werr error
	select {
	case werr = <-exited:
	case <-timer.C:
		timedOut = true
		r.con.Printf("%s: still running after its timeout of %v; sending SIGQUIT, SIGKILL in %v",
			c.Name, time.Duration(c.Timeout), r.grace)
		_ = cmd.Process.Signal(unix.SIGQUIT)
		select {
		case werr = <-exited:
		case <-time.After(r.grace):
			_ = unix.Kill(-pgid, unix.SIGKILL)
			werr = <-exited
		}
	}
	// Whatever the command left behind in its group dies with it.
	_ = unix.Kill(-pgid, unix.SIGKILL)
	if n := reapGroup(pgid, r.grace); n > 0 {
		r.con.Printf("%s: killed %d processes it left running", c.Name, n)
	}
	select {
	case <-copied:
	case <-time.After(r.grace):
		// Only a process that left the group (setsid) can still hold the pipe.
		r.con.Printf("%s: output pipe still open after exit; closing it", c.Name)
		pr.Close()
		<-copied
	}

	if timedOut {
		return proto.StatusTimeout
	}
	var ee *exec.ExitError
	switch {
	case werr == nil:
		return "0"
	case errors.As(werr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.con.Printf("%s: killed by %v", c.Name, ws.Signal())
			return proto.StatusSignal
		}
		return strconv.Itoa(ee.ExitCode())
	default:
		r.con.Printf("%s: wait: %v", c.Name, werr)
		return proto.StatusError
	}
}

// reapGroup waits for the members of process group pgid that are children of
// this process, for at most limit, and returns how many it reaped. As PID 1 the
// harness inherits every orphan, so without this a command that leaks processes
// would leave zombies behind. Waiting by group, never wait4(-1), leaves the exit
// status of any process os/exec is waiting for to os/exec.
func reapGroup(pgid int, limit time.Duration) int {
	n := 0
	deadline := time.Now().Add(limit)
	for {
		pid, err := unix.Wait4(-pgid, nil, unix.WNOHANG, nil)
		switch {
		case pid > 0:
			n++
			continue
		case err == unix.EINTR:
			continue
		case err != nil: // ECHILD: none of our children is left in the group
			return n
		}
		if time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}
