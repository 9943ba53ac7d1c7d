package legacy

import (
	"os"
	"sync"
	"testing"

	"github.com/govmm/govmm/internal/ptytest"
	"golang.org/x/sys/unix"
)

func openPTY(t *testing.T) (master, slave *os.File) { return ptytest.Open(t) }

func TestMakeRawRestore(t *testing.T) {
	_, slave := openPTY(t)
	fd := int(slave.Fd())
	before, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	term, err := MakeRaw(slave)
	if err != nil {
		t.Fatal(err)
	}
	if !term.IsRaw() {
		t.Fatal("IsRaw false on a pty")
	}
	raw, _ := unix.IoctlGetTermios(fd, unix.TCGETS)
	if raw.Lflag&(unix.ECHO|unix.ICANON|unix.ISIG|unix.IEXTEN) != 0 {
		t.Errorf("lflag %#x still has ECHO/ICANON/ISIG/IEXTEN", raw.Lflag)
	}
	if raw.Iflag&(unix.ICRNL|unix.IXON) != 0 {
		t.Errorf("iflag %#x still has ICRNL/IXON", raw.Iflag)
	}
	if raw.Oflag&unix.OPOST == 0 {
		t.Errorf("oflag %#x lost OPOST", raw.Oflag)
	}
	if raw.Cc[unix.VMIN] != 1 || raw.Cc[unix.VTIME] != 0 {
		t.Errorf("VMIN %d VTIME %d", raw.Cc[unix.VMIN], raw.Cc[unix.VTIME])
	}

	// Restore from a "signal handler" and a defer at once: one restores,
	// both return nil.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := term.Restore(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	after, _ := unix.IoctlGetTermios(fd, unix.TCGETS)
	if *after != *before {
		t.Errorf("terminal not restored:\n got %+v\nwant %+v", *after, *before)
	}
	if term.IsRaw() {
		t.Error("IsRaw true after Restore")
	}
}
