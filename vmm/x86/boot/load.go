package boot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/govmm/govmm/vmm/mem"
)

// Errors a user can cause with the kernel, initrd, command line or -m.
// The command line maps them to one line and exit status 2.
var (
	ErrBadKernel   = errors.New("not a bzImage or an ELF kernel")
	ErrMemTooSmall = errors.New("guest memory too small")
	ErrInitrdNoFit = errors.New("initrd does not fit")
	ErrCmdlineLong = errors.New("kernel command line too long")
	ErrOldProtocol = errors.New("boot protocol too old")
)

// Image is a kernel or initrd file: read with ReadAt straight into guest
// memory, never copied through the Go heap.
type Image struct {
	R    io.ReaderAt
	Size int64
	Name string
}

// OpenImage opens path and returns it as an Image; the caller closes f.
func OpenImage(path string) (img Image, f *os.File, err error) {
	f, err = os.Open(path)
	if err != nil {
		return Image{}, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return Image{}, nil, err
	}
	if st.IsDir() {
		f.Close()
		return Image{}, nil, fmt.Errorf("open %s: is a directory", path)
	}
	return Image{R: f, Size: st.Size(), Name: path}, f, nil
}

// Config is what to boot.
type Config struct {
	Kernel  Image
	Initrd  *Image // nil: none
	Cmdline string
	MemSize uint64 // bytes of RAM, as given to RAMLayout
	CPUs    int
	// ACPI builds ACPI tables (and points boot_params/start_info at them);
	// the MP table is always built.
	ACPI bool
}

// Result says what was loaded and how the boot vCPU starts.
type Result struct {
	Protocol   string // "bzImage 2.15 (64-bit entry)", "ELF (PVH entry)"...
	CPU        CPUState
	KernelAddr uint64
	KernelEnd  uint64 // first byte past what the kernel may use while booting
	InitrdAddr uint64
	InitrdSize uint64
	RSDPAddr   uint64 // 0 without ACPI
}

// Load loads the kernel (a bzImage or an ELF vmlinux), the command line and
// the initrd into m and builds the boot structures.
func Load(m *mem.Memory, c Config) (*Result, error) {
	if c.CPUs < 1 {
		c.CPUs = 1
	}
	var magic [4]byte
	if _, err := c.Kernel.R.ReadAt(magic[:], 0); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", c.Kernel.Name, ErrBadKernel)
	}
	var res *Result
	var err error
	switch {
	case bytes.Equal(magic[:], []byte("\x7fELF")):
		res, err = loadELF(m, c)
	default:
		res, err = loadBzImage(m, c)
	}
	if err != nil {
		// Initrd and command-line errors name their own subject.
		if errors.Is(err, ErrInitrdNoFit) || errors.Is(err, ErrCmdlineLong) {
			return nil, err
		}
		return nil, fmt.Errorf("kernel %s: %w", c.Kernel.Name, err)
	}
	if err := writeMPTable(m, c.CPUs); err != nil {
		return nil, err
	}
	return res, nil
}

// lowRAMEnd is the end of RAM below the MMIO hole.
func lowRAMEnd(c Config) uint64 { return RAMLayout(c.MemSize)[0].Size }

// loadInto reads n bytes of img at off into guest memory at gpa.
//
// Large images are read in chunks by several goroutines: most of the
// time goes to faulting in and zeroing fresh guest pages, which
// parallelises across cores (a Debian kernel loads in half the time on two).
func loadInto(m *mem.Memory, img Image, off int64, gpa uint64, n uint64) error {
	dst, err := m.Slice(mem.GPA(gpa), n)
	if err != nil {
		return fmt.Errorf("%w: %d bytes at %#x: %v", ErrMemTooSmall, n, gpa, err)
	}
	const chunk = 2 << 20 // one huge page
	workers := min(runtime.GOMAXPROCS(0), 4, int(n/chunk))
	if workers <= 1 {
		return readFull(img, dst, off)
	}
	// Split at 2 MiB boundaries of guest memory, so no huge page is
	// faulted by two goroutines.
	per := (n/uint64(workers) + chunk - 1) &^ (chunk - 1)
	errs := make(chan error, workers)
	for w := uint64(0); w < uint64(workers); w++ {
		lo, hi := min(w*per, n), min((w+1)*per, n)
		go func() { errs <- readFull(img, dst[lo:hi], off+int64(lo)) }()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func readFull(img Image, dst []byte, off int64) error {
	if len(dst) == 0 {
		return nil
	}
	if _, err := img.R.ReadAt(dst, off); err != nil && !(errors.Is(err, io.EOF) && off+int64(len(dst)) <= img.Size) {
		return fmt.Errorf("read %s: %w", img.Name, err)
	}
	return nil
}

// writeCmdline writes the NUL-terminated command line at CmdlineAddr.
func writeCmdline(m *mem.Memory, cmdline string, max uint64) error {
	if strings.IndexByte(cmdline, 0) >= 0 {
		return fmt.Errorf("%w: contains a NUL byte", ErrCmdlineLong)
	}
	if uint64(len(cmdline)) > max || len(cmdline)+1 > CmdlineMax {
		return fmt.Errorf("%w: %d bytes, the kernel accepts %d", ErrCmdlineLong, len(cmdline), min(max, CmdlineMax-1))
	}
	b := append([]byte(cmdline), 0)
	_, err := m.WriteAt(b, int64(CmdlineAddr))
	return err
}

// placeInitrd loads the initrd as high as allowed: below maxAddr (the
// kernel's initrd_addr_max) and the end of low RAM, page aligned, above
// kernelEnd.
func placeInitrd(m *mem.Memory, c Config, kernelEnd, maxAddr uint64) (addr, size uint64, err error) {
	if c.Initrd == nil {
		return 0, 0, nil
	}
	size = uint64(c.Initrd.Size)
	top := min(lowRAMEnd(c), maxAddr+1)
	if size > top {
		return 0, 0, fmt.Errorf("initrd %s: %w: %d MiB, guest RAM below %#x is %d MiB", c.Initrd.Name, ErrInitrdNoFit, size>>20, top, top>>20)
	}
	addr = (top - size) &^ 0xfff
	if addr < kernelEnd {
		return 0, 0, fmt.Errorf("initrd %s: %w: %d MiB between the kernel's end at %#x and %#x (raise -m)", c.Initrd.Name, ErrInitrdNoFit, size>>20, kernelEnd, top)
	}
	if err := loadInto(m, *c.Initrd, 0, addr, size); err != nil {
		return 0, 0, fmt.Errorf("initrd %s: %w", c.Initrd.Name, err)
	}
	return addr, size, nil
}
