package vmm

import (
	"io"
	"strings"
	"sync"
)

// consoleWarnings returns a warning for each console= on the kernel
// command line that names a device this machine does not have. Cloud
// Hypervisor users read such mismatches as hangs (its issues 2855, 6554).
func consoleWarnings(cmdline string, haveTTYS0 bool) []string {
	var warns []string
	for _, f := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(f, "console=")
		if !ok {
			continue
		}
		dev, _, _ := strings.Cut(v, ",")
		switch {
		case dev == "ttyS0" && haveTTYS0, dev == "tty0", dev == "null", dev == "":
		case dev == "ttyS0":
			warns = append(warns, "console=ttyS0 but the machine has no serial port (-serial none): the kernel's console output goes nowhere")
		default:
			warns = append(warns, "console="+dev+": this machine has no such device (it has ttyS0); the kernel's console output goes nowhere")
		}
	}
	return warns
}

// inputSwitch forwards console input to the current machine's serial
// port. Between machines (a reboot) writers wait instead of losing input.
type inputSwitch struct {
	mu     sync.Mutex
	cond   sync.Cond
	dst    io.Writer
	closed bool
}

func newInputSwitch() *inputSwitch {
	s := &inputSwitch{}
	s.cond.L = &s.mu
	return s
}

func (s *inputSwitch) set(w io.Writer) {
	s.mu.Lock()
	s.dst = w
	s.mu.Unlock()
	s.cond.Broadcast()
}

func (s *inputSwitch) close() {
	s.mu.Lock()
	s.closed = true
	s.dst = nil
	s.mu.Unlock()
	s.cond.Broadcast()
}

func (s *inputSwitch) Write(p []byte) (int, error) {
	s.mu.Lock()
	for s.dst == nil && !s.closed {
		s.cond.Wait()
	}
	dst, closed := s.dst, s.closed
	s.mu.Unlock()
	if closed {
		return 0, io.ErrClosedPipe
	}
	return dst.Write(p)
}
