package vmm

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govmm/govmm/vmm/accel"
)

func TestConsoleWarnings(t *testing.T) {
	for _, c := range []struct {
		cmdline string
		serial  bool
		want    string // "" for no warning
	}{
		{"console=ttyS0 quiet", true, ""},
		{"console=ttyS0,115200n8", true, ""},
		{"console=tty0 console=ttyS0", true, ""},
		{"quiet", true, ""},
		{"console=ttyS0", false, "no serial port"},
		{"console=hvc0", true, "console=hvc0"},
		{"console=ttyS1", true, "console=ttyS1"},
		{"console=ttyAMA0", true, "console=ttyAMA0"},
	} {
		w := consoleWarnings(c.cmdline, c.serial)
		switch {
		case c.want == "" && len(w) != 0:
			t.Errorf("%q: unexpected warning %q", c.cmdline, w)
		case c.want != "" && (len(w) != 1 || !strings.Contains(w[0], c.want)):
			t.Errorf("%q: warnings %q, want one naming %q", c.cmdline, w, c.want)
		}
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestInputSwitch: input written while no machine is attached (a reboot)
// waits and reaches the next machine; after close, writes fail.
func TestInputSwitch(t *testing.T) {
	s := newInputSwitch()
	var dst lockedBuf
	done := make(chan struct{})
	go func() {
		s.Write([]byte("typed during reboot"))
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("write with no machine attached did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	s.set(&dst)
	<-done
	if dst.b.String() != "typed during reboot" {
		t.Fatalf("machine got %q", dst.b.String())
	}
	s.close()
	if _, err := s.Write([]byte("x")); err != io.ErrClosedPipe {
		t.Fatalf("write after close: %v", err)
	}
}

func TestExitCode(t *testing.T) {
	for r, want := range map[accel.Reason]int{
		accel.ReasonPoweroff:    0,
		accel.ReasonReset:       0,
		accel.ReasonTripleFault: 3,
		accel.ReasonCrash:       3,
		accel.ReasonCanceled:    130,
		accel.ReasonError:       1,
	} {
		if got := (Outcome{Stop: accel.Stop{Reason: r}}).ExitCode(); got != want {
			t.Errorf("%v: exit %d, want %d", r, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	c := Config{Kernel: "/dev/null"}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.MemSize != DefaultMemSize || c.CPUs != 1 || c.Machine != "microvm" || c.Accel != "auto" {
		t.Fatalf("defaults not filled: %+v", c)
	}
	for _, bad := range []Config{
		{},
		{Kernel: "/dev/null", MemSize: 1 << 20},
		{Kernel: "/dev/null", MemSize: 64<<20 + 1},
		{Kernel: "/dev/null", Machine: "pc"},
		{Kernel: "/dev/null", Accel: "hax"},
		{Kernel: "/dev/null", BIOS: "x"},
		{Kernel: "/nonexistent"},
		{Kernel: "/", Initrd: "/dev/null"},
	} {
		if err := bad.validate(); err == nil || !IsUsage(err) {
			t.Errorf("validate(%+v) = %v, want a usage error", bad, err)
		}
	}
}
