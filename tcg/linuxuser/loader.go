package linuxuser

import (
	"crypto/rand"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/govmm/govmm/tcg/env"
)

// Address-space layout.
const (
	lowLimit    = 0x10000    // below: unmapped (null pointers fault)
	stackSize   = 8 << 20    // the main thread's stack
	pieBase     = 0x40000000 // where an ET_DYN (static-pie) program goes
	hwcapIMAFDC = 1<<('I'-'A') | 1<<('M'-'A') | 1<<('A'-'A') | 1<<('F'-'A') | 1<<('D'-'A') | 1<<('C'-'A')
)

// Auxiliary vector tags (linux/auxvec.h).
const (
	atNull   = 0
	atPhdr   = 3
	atPhent  = 4
	atPhnum  = 5
	atPagesz = 6
	atBase   = 7
	atFlags  = 8
	atEntry  = 9
	atUID    = 11
	atEUID   = 12
	atGID    = 13
	atEGID   = 14
	atHwcap  = 16
	atClktck = 17
	atSecure = 23
	atRandom = 25
	atExecfn = 31
)

// load maps the ELF and builds the main thread with its stack.
func (p *Process) load() (*thread, error) {
	f, err := os.Open(p.cfg.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.cfg.Path, err)
	}
	if ef.Class != elf.ELFCLASS64 || ef.Machine != elf.EM_RISCV || ef.Data != elf.ELFDATA2LSB {
		return nil, fmt.Errorf("%s: not a riscv64 little-endian ELF (%v %v)", p.cfg.Path, ef.Class, ef.Machine)
	}
	var base uint64
	switch ef.Type {
	case elf.ET_EXEC:
	case elf.ET_DYN:
		base = pieBase
	default:
		return nil, fmt.Errorf("%s: ELF type %v is not executable", p.cfg.Path, ef.Type)
	}
	var phdr, end uint64
	var hdrRead [64]byte
	if _, err := f.ReadAt(hdrRead[:], 0); err != nil {
		return nil, err
	}
	phoff := binary.LittleEndian.Uint64(hdrRead[32:])
	for _, prog := range ef.Progs {
		switch prog.Type {
		case elf.PT_INTERP:
			return nil, fmt.Errorf("%s: dynamically linked (needs %s); build it with -static", p.cfg.Path, interp(prog))
		case elf.PT_PHDR:
			phdr = base + prog.Vaddr
		case elf.PT_LOAD:
			va := base + prog.Vaddr
			if va < lowLimit || va+prog.Memsz > p.as.size || va+prog.Memsz < va {
				return nil, fmt.Errorf("%s: segment at %#x+%#x is outside the guest address space", p.cfg.Path, va, prog.Memsz)
			}
			dst, err := p.bytes(va, prog.Memsz)
			if err != nil {
				return nil, err
			}
			if _, err := io.ReadFull(prog.Open(), dst[:prog.Filesz]); err != nil {
				return nil, fmt.Errorf("%s: segment at %#x: %w", p.cfg.Path, va, err)
			}
			if phdr == 0 && prog.Off == 0 {
				phdr = va + phoff
			}
			if e := va + prog.Memsz; e > end {
				end = e
			}
			lo := va &^ env.PageMask
			p.as.mapFixed(lo, (va+prog.Memsz+env.PageMask)&^env.PageMask-lo)
		}
	}
	if end == 0 {
		return nil, errors.New(p.cfg.Path + ": no loadable segments")
	}
	brk := (end + env.PageMask) &^ env.PageMask
	p.as.brkStart, p.as.brk = brk, brk

	t, err := p.newThread()
	if err != nil {
		return nil, err
	}
	h := t.cpu.Hart
	sp, err := p.buildStack(ef, base, phdr)
	if err != nil {
		return nil, err
	}
	h.SetX(2, sp)
	h.PC = base + ef.Entry
	return t, nil
}

func interp(prog *elf.Prog) string {
	b, _ := io.ReadAll(prog.Open())
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	return string(b)
}

// buildStack writes argv, envp and the auxiliary vector at the top of the
// address space and returns the initial stack pointer.
func (p *Process) buildStack(ef *elf.File, base, phdr uint64) (uint64, error) {
	top := p.as.size
	stackLo := top - stackSize
	p.as.mapFixed(stackLo, stackSize)
	p.as.mmapTop = stackLo - env.PageSize // a guard page below the stack

	sp := top
	pushBytes := func(b []byte) uint64 {
		sp -= uint64(len(b))
		dst, _ := p.bytes(sp, uint64(len(b)))
		copy(dst, b)
		return sp
	}
	pushString := func(s string) uint64 { return pushBytes(append([]byte(s), 0)) }

	execfn := pushString(p.cfg.Path)
	args := p.cfg.Args
	if len(args) == 0 {
		args = []string{p.cfg.Path}
	}
	argv := make([]uint64, len(args))
	for i, a := range args {
		argv[i] = pushString(a)
	}
	envp := make([]uint64, len(p.cfg.Env))
	for i, e := range p.cfg.Env {
		envp[i] = pushString(e)
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	random := pushBytes(rnd[:])
	sp &^= 15

	auxv := []uint64{
		atPhdr, phdr,
		atPhent, 56,
		atPhnum, uint64(len(ef.Progs)),
		atPagesz, env.PageSize,
		atBase, 0,
		atFlags, 0,
		atEntry, base + ef.Entry,
		atUID, 0, atEUID, 0, atGID, 0, atEGID, 0,
		atHwcap, hwcapIMAFDC,
		atClktck, 100,
		atSecure, 0,
		atRandom, random,
		atExecfn, execfn,
		atNull, 0,
	}
	words := []uint64{uint64(len(argv))}
	words = append(words, argv...)
	words = append(words, 0)
	words = append(words, envp...)
	words = append(words, 0)
	words = append(words, auxv...)
	if len(words)%2 != 0 {
		words = append(words, 0)
	}
	sp -= uint64(len(words)) * 8
	dst, err := p.bytes(sp, uint64(len(words))*8)
	if err != nil {
		return 0, err
	}
	for i, w := range words {
		binary.LittleEndian.PutUint64(dst[i*8:], w)
	}
	return sp, nil
}
