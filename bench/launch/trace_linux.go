//go:build linux && (amd64 || arm64 || riscv64)

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// wrapArg, as argv[1], makes the tool (or its test binary) run as the wrapper
// that installs the seccomp filter and then execs the target:
// argv = [self, wrapArg, path, target argv...].
const wrapArg = "__govmm_bench_launch_wrap__"

// wrapperSocketFD is the descriptor on which the wrapper finds the socket
// to send the seccomp listener back on (the first after stdio).
const wrapperSocketFD = 3

// runWrapperIfRequested turns the process into the wrapper when argv asks for
// it, and returns otherwise. main and TestMain call it before anything else,
// from the main goroutine, which init keeps on the main thread.
func runWrapperIfRequested() {
	if len(os.Args) < 4 || os.Args[1] != wrapArg {
		return
	}
	err := wrapAndExec(os.Args[2], os.Args[3:])
	fmt.Fprintf(os.Stderr, "bench/launch wrapper: %v\n", err)
	os.Exit(127)
}

// wrapAndExec installs the KVM_RUN filter, sends its listener to the tool,
// and execs path with argv. It only returns on failure.
func wrapAndExec(path string, argv []string) error {
	// The filter and PR_SET_NO_NEW_PRIVS bind the calling thread, and
	// execve keeps only the calling thread's filter, so all happen on one
	// thread. It must be the main thread: it is the one the tool traces,
	// and an execve from another thread would bypass the tracer.
	runtime.LockOSThread()
	if tid, pid := unix.Gettid(), unix.Getpid(); tid != pid {
		return fmt.Errorf("wrapper runs on thread %d, not the main thread %d", tid, pid)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	listener, err := installKVMRunFilter()
	if err != nil {
		return err
	}
	if err := unix.Sendmsg(wrapperSocketFD, []byte{'L'}, unix.UnixRights(listener), nil, 0); err != nil {
		return fmt.Errorf("send seccomp listener: %w", err)
	}
	// Neither may reach the target: the listener is close-on-exec
	// already, the socket is closed here.
	unix.Close(listener)
	unix.Close(wrapperSocketFD)
	if err := unix.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

// traceLaunch runs cfg.Argv and measures one launch; the target is killed at
// its first KVM_RUN, before the ioctl runs.
//
// How: the tool forks itself as a wrapper under ptrace (PTRACE_TRACEME, only
// the main thread traced). The wrapper installs a seccomp filter that turns
// ioctl(KVM_RUN) into a user notification, hands the filter's listener to the
// tool over a socket, and execs the target. At the target's PTRACE_EVENT_EXEC
// stop the tool detaches and takes the start time, so the target runs with no
// tracer at all: thread creation and signals cost it nothing extra. The first
// KVM_RUN blocks its thread and wakes the tool, blocked in
// SECCOMP_IOCTL_NOTIF_RECV; the tool takes the end time then, reads /proc
// while the thread is blocked, and kills the target. The cost to the target
// is the filter: ten BPF instructions per syscall.
func traceLaunch(cfg traceConfig) (sample, error) {
	if len(cfg.Argv) == 0 {
		return sample{}, errors.New("empty target command")
	}
	path, err := exec.LookPath(cfg.Argv[0])
	if err != nil {
		return sample{}, fmt.Errorf("find target: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return sample{}, fmt.Errorf("find own executable for the wrapper: %w", err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return sample{}, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer devnull.Close()
	out := cfg.Output
	if out == nil {
		f, err := os.CreateTemp("", "bench-launch-output-*")
		if err != nil {
			return sample{}, fmt.Errorf("create file for target output: %w", err)
		}
		defer f.Close()
		os.Remove(f.Name()) // the open descriptor is all that is needed
		out = f
	}
	// SOCK_SEQPACKET so that a wrapper that dies before sending reads as
	// end of stream rather than blocking.
	sock, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return sample{}, fmt.Errorf("socketpair: %w", err)
	}
	defer unix.Close(sock[0])
	theirs := os.NewFile(uintptr(sock[1]), "wrapper socket")
	defer theirs.Close()

	argv := append([]string{self, wrapArg, path}, cfg.Argv...)
	attr := &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{devnull.Fd(), out.Fd(), out.Fd(), theirs.Fd()},
		Sys: &syscall.SysProcAttr{
			Ptrace: true,
			// Its own process group keeps the terminal's ^C away from
			// the target; the tool's death still kills it: the target
			// outlives the ptrace link, so PTRACE_O_EXITKILL cannot.
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL,
		},
	}

	type result struct {
		s   sample
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Every ptrace request must come from the thread that is the
		// tracer, which with Ptrace: true is the thread that forked, and
		// Pdeathsig fires when that thread ends. The thread is never
		// unlocked: it ends with this goroutine, after the target is
		// reaped, instead of going back to the scheduler as a tracer.
		runtime.LockOSThread()
		s, err := traceOnThread(argv, attr, sock[0], theirs, cfg)
		done <- result{s, err}
	}()
	r := <-done
	if r.err != nil && cfg.Output == nil {
		r.err = withOutputTail(r.err, out)
	}
	return r.s, r.err
}

// withOutputTail appends the end of the target's captured output to err.
func withOutputTail(err error, f *os.File) error {
	const tail = 2048
	size, serr := f.Seek(0, io.SeekEnd)
	if serr != nil || size == 0 {
		return err
	}
	off := max(0, size-tail)
	buf := make([]byte, size-off)
	if _, rerr := f.ReadAt(buf, off); rerr != nil && !errors.Is(rerr, io.EOF) {
		return err
	}
	return fmt.Errorf("%w\ntarget output (last %d bytes):\n%s", err, len(buf), buf)
}

// traceOnThread forks the wrapper and follows it to the target's first
// KVM_RUN.
//
// Precondition: called on a locked OS thread, which becomes the tracer.
func traceOnThread(argv []string, attr *syscall.ProcAttr, sock int, theirs *os.File, cfg traceConfig) (sample, error) {
	pid, err := syscall.ForkExec(argv[0], argv, attr)
	if err != nil {
		return sample{}, fmt.Errorf("start wrapper for %s: %w", argv[2], err)
	}
	theirs.Close() // the wrapper has its copy; ours would hide its death
	t := &target{pid: pid, pidfd: -1, listener: -1}

	// A pidfd, unlike the pid, cannot name another process once the target
	// is reaped, so the timeout can fire at any moment without a race; it
	// also becomes readable when the target exits.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL) // not reaped yet, so pid is still ours
		t.killAndReap()
		return sample{}, fmt.Errorf("pidfd_open: %w", err)
	}
	t.pidfd = pidfd
	timer := time.AfterFunc(cfg.Timeout, t.timeOut)
	defer func() {
		timer.Stop()
		t.killAndReap() // needs the pidfd open
		// Only now: closing the listener fails the pending KVM_RUN
		// with ENOSYS and lets the target run on.
		if t.listener >= 0 {
			unix.Close(t.listener)
		}
		t.closePidfd()
	}()

	listener, start, err := t.followToExec(sock)
	if err != nil {
		if listener >= 0 {
			unix.Close(listener)
		}
		return sample{}, t.explain(err, cfg.Timeout)
	}
	s, err := t.waitForKVMRun(listener, start, cfg.GuestRAMBytes)
	return s, t.explain(err, cfg.Timeout)
}

// target is one traced launch: the wrapper, then the target it becomes.
type target struct {
	pid      int
	gone     bool // reaped
	listener int  // seccomp listener once received back from receiveFirst, else -1
	mu       sync.Mutex
	pidfd    int  // -1 once closed; guarded by mu
	timed    bool // the timeout killed it; guarded by mu
}

// kill sends SIGKILL through the pidfd. Safe from any goroutine.
func (t *target) kill() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pidfd >= 0 {
		unix.PidfdSendSignal(t.pidfd, unix.SIGKILL, nil, 0)
	}
}

func (t *target) timeOut() {
	t.mu.Lock()
	t.timed = true
	t.mu.Unlock()
	t.kill()
}

func (t *target) closePidfd() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pidfd >= 0 {
		unix.Close(t.pidfd)
		t.pidfd = -1
	}
}

// explain adds the timeout to err when the timeout caused it.
func (t *target) explain(err error, timeout time.Duration) error {
	if err == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timed {
		return fmt.Errorf("no KVM_RUN within %v: %w", timeout, err)
	}
	return err
}

// killAndReap kills the target unless it is gone and reaps it. Only the
// leader needs reaping: no thread is traced any more, so the others are
// reaped by the kernel.
func (t *target) killAndReap() {
	if t.gone {
		return
	}
	t.kill()
	var ws unix.WaitStatus
	if _, err := waitRetry(t.pid, &ws); err == nil || errors.Is(err, unix.ECHILD) {
		t.gone = true
	}
}

// followToExec runs the wrapper under ptrace up to the target's exec, takes
// the seccomp listener from the socket, detaches, and returns the listener
// and the start time.
//
// Precondition: called from the tracer thread.
func (t *target) followToExec(sock int) (listener int, start time.Time, err error) {
	listener = -1
	// With PTRACE_TRACEME the wrapper stops with SIGTRAP after its own
	// exec, before its first instruction, so the options are in place
	// before it runs. Only this thread is traced; the Go runtime's other
	// threads in the wrapper are not, and execve ends them.
	var ws unix.WaitStatus
	if _, err := waitRetry(t.pid, &ws); err != nil {
		return listener, start, fmt.Errorf("wait for wrapper: %w", err)
	}
	if !ws.Stopped() || ws.StopSignal() != unix.SIGTRAP {
		t.gone = ws.Exited() || ws.Signaled()
		return listener, start, fmt.Errorf("wrapper did not stop at its exec: %s", describeStatus(ws))
	}
	// EXITKILL covers the time until the detach; Pdeathsig the rest.
	if err := unix.PtraceSetOptions(t.pid, unix.PTRACE_O_TRACEEXEC|unix.PTRACE_O_EXITKILL); err != nil {
		return listener, start, fmt.Errorf("PTRACE_SETOPTIONS: %w", err)
	}
	if err := unix.PtraceCont(t.pid, 0); err != nil {
		return listener, start, fmt.Errorf("PTRACE_CONT: %w", err)
	}
	for {
		if _, err := waitRetry(t.pid, &ws); err != nil {
			return listener, start, fmt.Errorf("wait for wrapper: %w", err)
		}
		if ws.Exited() || ws.Signaled() {
			t.gone = true
			return listener, start, fmt.Errorf("wrapper %s before exec'ing the target", describeStatus(ws))
		}
		if !ws.Stopped() {
			continue
		}
		sig := ws.StopSignal()
		switch {
		case sig == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXEC:
			// The wrapper sent the listener before its execve.
			if listener, err = receiveListener(sock); err != nil {
				return listener, start, err
			}
			if err := unix.PtraceDetach(t.pid); err != nil {
				return listener, start, fmt.Errorf("PTRACE_DETACH: %w", err)
			}
			// Stamped once the target may run, so the time it sat in
			// the exec stop is not counted.
			return listener, time.Now(), nil
		case sig == unix.SIGTRAP && ws.TrapCause() != 0:
			sig = 0 // another ptrace event: nothing to deliver
		case isStopSignal(sig) && errors.Is(ptraceGetSiginfoErr(t.pid), unix.EINVAL):
			// A group-stop. Without PTRACE_SEIZE the tracer cannot keep
			// it stopped and still see the exec; the wrapper has to run
			// on anyway.
			sig = 0
		}
		// Anything else is a signal for the wrapper (the Go runtime's
		// SIGURG, say): deliver it.
		if err := unix.PtraceCont(t.pid, int(sig)); err != nil {
			return listener, start, fmt.Errorf("PTRACE_CONT: %w", err)
		}
	}
}

// receiveListener takes the seccomp listener the wrapper sent.
func receiveListener(sock int) (int, error) {
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(sock, make([]byte, 1), oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("receive seccomp listener: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("receive seccomp listener: bad control message (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("receive seccomp listener: no descriptor (%v)", err)
	}
	return fds[0], nil
}

// waitForKVMRun waits until the target's first KVM_RUN or its death. It
// takes ownership of listener.
//
// The first KVM_RUN is seen by blocking in SECCOMP_IOCTL_NOTIF_RECV, not by
// polling the listener: a signal to the blocked thread (QEMU kicks its vCPU
// threads with SIG_IPI right as they start) withdraws the notification, and
// poll, which re-checks readiness after waking, would then sleep on to a
// later KVM_RUN. RECV instead returns, with ENOENT, and its wake-up still
// marks the first KVM_RUN. RECV does not return when the target dies (before
// Linux 6.6 never; since, not while a child of it still carries the filter),
// so it runs in a goroutine of its own and the target's pidfd is watched
// beside it. When RECV returns first, t takes the listener back, to close
// it only after the target is dead.
func (t *target) waitForKVMRun(listener int, start time.Time, guestRAMBytes uint64) (sample, error) {
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(listener)
		return sample{}, fmt.Errorf("eventfd: %w", err)
	}
	defer unix.Close(stop)
	recvc := make(chan recvResult)
	abandon := make(chan struct{})
	go receiveFirst(listener, recvc, abandon)
	t.mu.Lock()
	pidfd := t.pidfd
	t.mu.Unlock()
	gonec := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		if waitReadable(pidfd, stop) {
			close(gonec)
		}
	}()
	// The watcher must be gone before the caller kills the target (the
	// watcher would report it) or closes the pidfd.
	defer func() {
		unix.Write(stop, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		<-watcherDone
	}()

	var r recvResult
	select {
	case r = <-recvc:
		t.listener = listener
	case <-gonec:
		// A KVM_RUN that raced with the death still counts.
		select {
		case r = <-recvc:
			t.listener = listener
		default:
			close(abandon) // receiveFirst closes the listener
			r.orphaned = true
		}
	}
	switch {
	case r.orphaned:
		var ws unix.WaitStatus
		if _, err := waitRetry(t.pid, &ws); err != nil {
			return sample{}, fmt.Errorf("target ended before its first KVM_RUN; wait: %w", err)
		}
		t.gone = true
		return sample{}, fmt.Errorf("target %s before its first KVM_RUN", describeStatus(ws))
	case errors.Is(r.err, unix.ENOENT):
		// A signal ended the KVM_RUN wait before the notification was
		// received; the wake-up still marks the first KVM_RUN.
		r.n = notification{Nr: unix.SYS_IOCTL, Arg1: kvmRun}
	case r.err != nil:
		return sample{}, r.err
	}
	if r.n.Nr != unix.SYS_IOCTL || uint32(r.n.Arg1) != kvmRun {
		return sample{}, fmt.Errorf("seccomp notification for syscall %d (%#x), want ioctl(KVM_RUN)", r.n.Nr, r.n.Arg1)
	}
	s, err := measureAtStop(t.pid, guestRAMBytes)
	s.Launch = r.at.Sub(start)
	s.KVMRunThreadID = r.n.TID
	return s, err
}

// recvResult is what receiveFirst saw.
type recvResult struct {
	n        notification
	err      error
	at       time.Time // when RECV returned
	orphaned bool      // no task uses the filter any more: the target is gone
}

// receiveFirst blocks until the first notification on listener and hands
// the result, and with it the listener, to the receiver of out; if abandon
// is closed instead, it closes the listener itself. It may outlive the
// launch: see waitForKVMRun.
func receiveFirst(listener int, out chan<- recvResult, abandon <-chan struct{}) {
	for {
		n, err := receiveNotification(listener)
		at := time.Now() // first thing: the rest is outside the measurement
		if errors.Is(err, unix.EINTR) {
			continue // a signal to this thread (before Linux 6.6 RECV is not restarted)
		}
		r := recvResult{n: n, err: err, at: at}
		if errors.Is(err, unix.ENOENT) {
			// Since Linux 6.6 RECV also returns ENOENT once no task uses
			// the filter; the listener then reports POLLHUP.
			fds := []unix.PollFd{{Fd: int32(listener)}}
			if k, perr := unix.Poll(fds, 0); perr == nil && k > 0 && fds[0].Revents&unix.POLLHUP != 0 {
				r.orphaned = true
			}
		}
		select {
		case out <- r:
		case <-abandon:
			unix.Close(listener)
		}
		return
	}
}

// waitReadable waits until fd or stop is readable and reports whether fd is.
func waitReadable(fd, stop int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(stop), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == nil {
			return fds[0].Revents != 0
		}
		if !errors.Is(err, unix.EINTR) {
			return false
		}
	}
}

// waitRetry is wait4 with __WALL that retries on EINTR.
func waitRetry(pid int, ws *unix.WaitStatus) (int, error) {
	for {
		tid, err := unix.Wait4(pid, ws, unix.WALL, nil)
		if !errors.Is(err, unix.EINTR) {
			return tid, err
		}
	}
}

func isStopSignal(sig unix.Signal) bool {
	return sig == unix.SIGSTOP || sig == unix.SIGTSTP || sig == unix.SIGTTIN || sig == unix.SIGTTOU
}

func describeStatus(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("was killed by %v", ws.Signal())
	case ws.Stopped():
		return fmt.Sprintf("stopped by %v (event %d)", ws.StopSignal(), ws.TrapCause())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// measureAtStop reads the target's memory while its KVM_RUN caller is
// blocked in the seccomp notification. Its other threads run on.
func measureAtStop(pid int, guestRAMBytes uint64) (sample, error) {
	var s sample
	proc := fmt.Sprintf("/proc/%d", pid)
	status, err := os.Open(proc + "/status")
	if err != nil {
		return s, fmt.Errorf("open target status: %w", err)
	}
	defer status.Close()
	if s.VmRSSKiB, err = vmRSSKiB(status); err != nil {
		return s, fmt.Errorf("%s/status: %w", proc, err)
	}
	smaps, err := os.Open(proc + "/smaps")
	if err != nil {
		return s, fmt.Errorf("open target smaps: %w", err)
	}
	defer smaps.Close()
	maps, err := parseSmaps(smaps)
	if err != nil {
		return s, fmt.Errorf("%s/smaps: %w", proc, err)
	}
	if s.GuestRAM, s.GuestRAMExact, err = findGuestRAM(maps, guestRAMBytes); err != nil {
		return s, fmt.Errorf("%s/smaps: %w", proc, err)
	}
	tasks, err := os.ReadDir(proc + "/task")
	if err != nil {
		return s, fmt.Errorf("list target threads: %w", err)
	}
	s.Threads = len(tasks)
	return s, nil
}
