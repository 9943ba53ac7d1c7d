package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/govmm/govmm/guest/runproto"
	"golang.org/x/sys/unix"
)

// hvcPath is the virtio console the host reads records from.
const hvcPath = "/dev/hvc0"

// records serialises the command's two output streams onto one console.
type records struct {
	mu sync.Mutex
	w  runproto.Writer
}

func (r *records) send(typ byte, p []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w.Write(typ, p)
}

// stream is one of the command's outputs.
type stream struct {
	r   *records
	typ byte
}

func (s stream) Write(p []byte) (int, error) {
	if err := s.r.send(s.typ, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// openConsole opens /dev/hvc0 in raw mode (a tty would turn \n into
// \r\n and mangle binary output). The driver may still be probing: wait a
// little for it.
func openConsole() (*os.File, error) {
	var f *os.File
	var err error
	for i := 0; i < 200; i++ {
		if f, err = os.OpenFile(hvcPath, os.O_RDWR|unix.O_NOCTTY, 0); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err == nil {
		// cfmakeraw
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		err = unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("raw mode on %s: %w", hvcPath, err)
	}
	return f, nil
}

// runCommand runs the command from the kernel command line and returns
// its exit status; without one it prints the report.
func runCommand(cmdline string, start time.Time) int {
	args, ok, err := runproto.DecodeCmd(cmdline)
	if err != nil {
		fmt.Fprintf(os.Stderr, "init: %v\n", err)
		return 2
	}
	con, cerr := openConsole()
	if !ok {
		if cerr == nil {
			r := &records{w: runproto.Writer{W: con}}
			r.send(runproto.Started, nil)
			reportTo(stream{r, runproto.Stdout}, start)
			r.w.WriteExit(0)
			con.Close()
			return 0
		}
		report(os.Stdout, start)
		return 0
	}
	if cerr != nil {
		// No way to return output: say so on the kernel console.
		fmt.Fprintf(os.Stderr, "init: %v: cannot return the command's output\n", cerr)
		return 2
	}
	defer con.Close()
	r := &records{w: runproto.Writer{W: con}}
	r.send(runproto.Started, nil)
	status := run(args, stream{r, runproto.Stdout}, stream{r, runproto.Stderr})
	r.mu.Lock()
	r.w.WriteExit(status)
	r.mu.Unlock()
	unix.IoctlSetInt(int(con.Fd()), unix.TCSBRK, 1) // drain before poweroff
	return status
}

// run executes args and maps the outcome to a shell-style exit status:
// 127 not found, 126 not executable, 128+n killed by signal n.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=" + defaultPath, "HOME=/root", "TERM=dumb"}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(stderr, "govmm: %s: command not found\n", args[0])
		return 127
	default:
		fmt.Fprintf(stderr, "govmm: %s: %v\n", args[0], err)
		return 126
	}
}
