package testkernel

import (
	"bytes"
	"debug/elf"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

//go:embed src/*.S src/kernel.ld
var src embed.FS

// DirEnv names a directory of prebuilt images (as WriteImages leaves
// them) that Build uses instead of running binutils.
const DirEnv = "GOVMM_TESTKERNEL_DIR"

// File names of the images in a directory WriteImages fills.
const (
	FileBzImage   = "bzImage"
	FileBzImage32 = "bzImage32"
	FilePVH       = "pvh.elf"
	FileELF64     = "elf64.elf"
)

// ErrNoBinutils is returned (wrapped) by WriteImages when as, ld or
// objcopy is not installed.
var ErrNoBinutils = errors.New("binutils (as, ld, objcopy) not installed")

var (
	buildOnce   sync.Once
	buildImages map[string][]byte
	buildErr    error
)

// Build returns the test kernel's images, written into t.TempDir(). They
// are assembled once per process; without binutils the test is skipped.
// With GOVMM_TESTKERNEL_DIR set, the images there are used as they are.
func Build(t testing.TB) Kernels {
	t.Helper()
	if dir := os.Getenv(DirEnv); dir != "" {
		k := kernelsIn(dir)
		for _, v := range k.Variants() {
			if _, err := os.Stat(v.Path); err != nil {
				t.Fatalf("test kernel from $%s: %v", DirEnv, err)
			}
		}
		return k
	}
	buildOnce.Do(func() { buildImages, buildErr = images() })
	if errors.Is(buildErr, ErrNoBinutils) {
		t.Skipf("test kernel: %v", buildErr)
	}
	if buildErr != nil {
		t.Fatalf("build test kernel: %v", buildErr)
	}
	dir := t.TempDir()
	if err := writeFiles(dir, buildImages); err != nil {
		t.Fatal(err)
	}
	return kernelsIn(dir)
}

// WriteImages builds the images and writes them into dir under the File*
// names, for a later run with GOVMM_TESTKERNEL_DIR=dir.
func WriteImages(dir string) error {
	imgs, err := images()
	if err != nil {
		return err
	}
	return writeFiles(dir, imgs)
}

func kernelsIn(dir string) Kernels {
	return Kernels{
		BzImage:   filepath.Join(dir, FileBzImage),
		BzImage32: filepath.Join(dir, FileBzImage32),
		PVH:       filepath.Join(dir, FilePVH),
		ELF64:     filepath.Join(dir, FileELF64),
	}
}

func writeFiles(dir string, imgs map[string][]byte) error {
	for name, b := range imgs {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// images assembles and links the kernel in a scratch directory and
// returns the four images by file name.
func images() (map[string][]byte, error) {
	for _, tool := range []string{"as", "ld", "objcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%w: %s not found in $PATH", ErrNoBinutils, tool)
		}
	}
	dir, err := os.MkdirTemp("", "govmm-testkernel-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := fs.WalkDir(src, "src", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := src.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, d.Name()), b, 0o644)
	}); err != nil {
		return nil, err
	}

	// report.S is assembled twice: once for the 32-bit entries, once
	// for the 64-bit one.
	as := []string{"as", "--64", "-mx86-used-note=no"}
	steps := [][]string{
		append(as[:3:3], "-o", "entry.o", "entry.S"),
		append(as[:3:3], "--defsym", "BITS=32", "-o", "report32.o", "report.S"),
		append(as[:3:3], "--defsym", "BITS=64", "-o", "report64.o", "report.S"),
		append(as[:3:3], "-o", "notes.o", "notes.S"),
	}
	ld := []string{"ld", "-nostdlib", "-static", "--build-id=none", "-z", "noexecstack",
		"-z", "max-page-size=4096", "-z", "noseparate-code", "-T", "kernel.ld"}
	objs := []string{"entry.o", "report32.o", "report64.o"}
	steps = append(steps,
		append(append(ld[:len(ld):len(ld)], "-o", FilePVH), append(objs, "notes.o")...),
		append(append(ld[:len(ld):len(ld)], "-o", FileELF64), objs...),
		// The bzImage's protected-mode part is the vmlinux's loaded
		// bytes, as in Linux (uncompressed here).
		[]string{"objcopy", "-O", "binary", FilePVH, "pm.bin"},
	)
	for _, s := range steps {
		cmd := exec.Command(s[0], s[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%v: %v\n%s", s, err, out)
		}
	}

	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	pvh, err := read(FilePVH)
	if err != nil {
		return nil, err
	}
	elf64, err := read(FileELF64)
	if err != nil {
		return nil, err
	}
	pm, err := read("pm.bin")
	if err != nil {
		return nil, err
	}
	initSize, err := memSpan(pvh)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		FileBzImage:   bzImage(pm, initSize, true),
		FileBzImage32: bzImage(pm, initSize, false),
		FilePVH:       pvh,
		FileELF64:     elf64,
	}, nil
}

// memSpan returns the bytes from the first PT_LOAD's start to the last
// one's end (bss included), rounded up to a page: the bzImage's init_size.
func memSpan(image []byte) (uint32, error) {
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return 0, err
	}
	var lo, hi uint64 = ^uint64(0), 0
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			lo, hi = min(lo, p.Paddr), max(hi, p.Paddr+p.Memsz)
		}
	}
	if lo != LinkAddr || hi <= lo {
		return 0, fmt.Errorf("test kernel ELF loads at %#x-%#x, want it to start at %#x", lo, hi, LinkAddr)
	}
	return uint32((hi - lo + 0xfff) &^ 0xfff), nil
}

// Setup header fields (Documentation/arch/x86/boot.rst, "The real-mode
// kernel header"), as offsets in the bzImage file.
const (
	hdrSetupSects   = 0x1f1
	hdrSyssize      = 0x1f4
	hdrVidMode      = 0x1fa
	hdrBootFlag     = 0x1fe
	hdrJump         = 0x200
	hdrMagic        = 0x202
	hdrVersion      = 0x206
	hdrKernelVer    = 0x20e
	hdrLoadFlags    = 0x211
	hdrCode32Start  = 0x214
	hdrInitrdMax    = 0x22c
	hdrKernelAlign  = 0x230
	hdrRelocatable  = 0x234
	hdrMinAlignment = 0x235
	hdrXLoadFlags   = 0x236
	hdrCmdlineSize  = 0x238
	hdrPrefAddress  = 0x258
	hdrInitSize     = 0x260
	hdrEnd          = 0x26c // after kernel_info_offset: the end of a 2.15 header
	hdrVersionStr   = 0x280 // where kernel_version points

	setupSects  = 1 // the setup is the boot sector and one more
	bootVersion = 0x020f
	loadedHigh  = 0x01
	xlfKernel64 = 0x01
	versionStr  = "govmm testkernel"
)

// bzImage puts a setup header in front of the protected-mode part pm. The
// setup has no real-mode code: a loader that jumps to the real-mode entry
// finds cli; hlt.
func bzImage(pm []byte, initSize uint32, kernel64 bool) []byte {
	le := binary.LittleEndian
	b := make([]byte, (setupSects+1)*512, (setupSects+1)*512+len(pm))
	b[hdrSetupSects] = setupSects
	le.PutUint32(b[hdrSyssize:], uint32((len(pm)+15)/16))
	le.PutUint16(b[hdrVidMode:], 0xffff) // "normal"
	le.PutUint16(b[hdrBootFlag:], 0xaa55)
	// A short jump over the header: its end is 0x202 + the offset.
	b[hdrJump], b[hdrJump+1] = 0xeb, hdrEnd-(hdrJump+2)
	copy(b[hdrMagic:], "HdrS")
	le.PutUint16(b[hdrVersion:], bootVersion)
	le.PutUint16(b[hdrKernelVer:], hdrVersionStr-0x200)
	b[hdrLoadFlags] = loadedHigh
	le.PutUint32(b[hdrCode32Start:], LinkAddr)
	le.PutUint32(b[hdrInitrdMax:], InitrdAddrMax)
	le.PutUint32(b[hdrKernelAlign:], KernelAlignment)
	b[hdrRelocatable] = 1
	b[hdrMinAlignment] = 21 // log2(KernelAlignment)
	if kernel64 {
		le.PutUint16(b[hdrXLoadFlags:], xlfKernel64)
	}
	le.PutUint32(b[hdrCmdlineSize:], CmdlineSize)
	le.PutUint64(b[hdrPrefAddress:], LinkAddr)
	le.PutUint32(b[hdrInitSize:], initSize)
	copy(b[hdrEnd:], []byte{0xfa, 0xf4, 0xeb, 0xfd}) // cli; 1: hlt; jmp 1b
	copy(b[hdrVersionStr:], versionStr)
	return append(b, pm...)
}
