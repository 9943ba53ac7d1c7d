package tcg

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/govmm/govmm/tcg/env"
)

// GOVMM_TCG_DUMP=pc[,pc...] (hex) prints the IR of the blocks that start at
// those guest addresses, and writes their native code to
// $TMPDIR/tcg-<pc>.bin for a disassembler:
//
//	objdump -D -b binary -m i386:x86-64 /tmp/tcg-10606.bin
var dumpPCs = func() map[uint64]bool {
	v := os.Getenv("GOVMM_TCG_DUMP")
	if v == "" {
		return nil
	}
	m := map[uint64]bool{}
	for _, f := range strings.Split(v, ",") {
		if pc, err := strconv.ParseUint(strings.TrimPrefix(f, "0x"), 16, 64); err == nil {
			m[pc] = true
		}
	}
	return m
}()

func (c *CPU) dump(tb *TB) {
	if !dumpPCs[tb.PC] {
		return
	}
	fmt.Fprint(os.Stderr, c.blk.String())
	if tb.native != nil {
		code := c.nat.CodeBytes(tb.native)
		name := fmt.Sprintf("%s/tcg-%x.bin", os.TempDir(), tb.PC)
		os.WriteFile(name, code, 0o644)
		fmt.Fprintf(os.Stderr, "native code: %d bytes in %s\n", len(code), name)
	}
}

// GOVMM_TCG_PROFILE=1 counts block executions (closure backend only) and
// prints the hottest blocks when the CPU is closed.
var profileBlocks = os.Getenv("GOVMM_TCG_PROFILE") != ""

type blockCount struct {
	pc, n uint64
	insns int
}

func (c *CPU) profileWrap(tb *TB, insns int) {
	if !profileBlocks || tb.run == nil {
		return
	}
	bc := &blockCount{pc: tb.PC, insns: insns}
	c.profile = append(c.profile, bc)
	run := tb.run
	tb.run = func(s *env.State) uint32 {
		bc.n++
		return run(s)
	}
}

func (c *CPU) printProfile() {
	if len(c.profile) == 0 {
		return
	}
	sort.Slice(c.profile, func(i, j int) bool {
		return c.profile[i].n*uint64(c.profile[i].insns) > c.profile[j].n*uint64(c.profile[j].insns)
	})
	var total uint64
	for _, b := range c.profile {
		total += b.n * uint64(b.insns)
	}
	fmt.Fprintf(os.Stderr, "hart %d: hottest blocks (executions, instructions, share of instructions)\n", c.Hart.ID)
	for _, b := range c.profile[:min(20, len(c.profile))] {
		fmt.Fprintf(os.Stderr, "  %#x %12d x %3d  %5.1f%%\n", b.pc, b.n, b.insns, 100*float64(b.n*uint64(b.insns))/float64(total))
	}
}
