package tcg

import (
	"github.com/govmm/govmm/tcg/backend/amd64"
	"github.com/govmm/govmm/tcg/env"
	"github.com/govmm/govmm/tcg/riscv"
)

// TB is a translation block: guest code at one (virtual PC, physical
// address, translation flags) compiled for the host.
type TB struct {
	PC    uint64 // guest virtual address of the first instruction
	PA    uint64 // its physical address
	Flags uint32 // hart state that changed how it was translated

	run    func(s *env.State) uint32 // the closure backend's code
	native *amd64.Code               // or the native backend's
	ranges riscv.Code                // physical bytes it was translated from
	// next caches the blocks the direct exits lead to (by exit slot,
	// closure backend). Only successors on the same virtual page are
	// cached: a page's mapping can change.
	next    []*TB
	invalid bool
}

type tbKey struct {
	pc, pa uint64
	flags  uint32
}

const jcBits = env.JCBits

func jcIndex(pc uint64) uint64 { return env.JCIndex(pc) }

// tbCache holds one CPU's blocks: a hash map by full key, a direct-mapped
// jump cache by virtual PC in front of it (validated against the block's
// PC and flags), and the blocks of each physical page for invalidation.
type tbCache struct {
	m     map[tbKey]*TB
	jc    [1 << jcBits]*TB
	pages map[uint64][]*TB
}

func (c *tbCache) init() {
	c.m = map[tbKey]*TB{}
	c.pages = map[uint64][]*TB{}
}

func (c *tbCache) insert(tb *TB) {
	c.m[tbKey{pc: tb.PC, pa: tb.PA, flags: tb.Flags}] = tb
	for _, r := range tb.ranges {
		if r.N != 0 {
			pg := r.PA &^ env.PageMask
			c.pages[pg] = append(c.pages[pg], tb)
		}
	}
}

// flushJC empties the jump cache (after the virtual-to-physical mapping
// changed).
func (c *tbCache) flushJC() { clear(c.jc[:]) }

// flushAll drops every block.
func (c *tbCache) flushAll() {
	for _, tb := range c.m {
		tb.invalid = true
	}
	c.init()
	c.flushJC()
}

// invalidate drops the blocks whose code overlaps [pa, pa+n) and returns
// them.
func (c *tbCache) invalidate(pa, n uint64) []*TB {
	end := pa + n
	if end < pa {
		end = ^uint64(0)
	}
	var dropped []*TB
	first, last := pa&^env.PageMask, (end-1)&^env.PageMask
	if (last-first)/env.PageSize > uint64(len(c.pages)) {
		// A big range (munmap of a large area): visit the pages that
		// have blocks instead of every page of the range.
		for pg := range c.pages {
			if pg >= first && pg <= last {
				dropped = c.invalidatePage(pg, pa, end, dropped)
			}
		}
		return dropped
	}
	for pg := first; ; pg += env.PageSize {
		dropped = c.invalidatePage(pg, pa, end, dropped)
		if pg >= last {
			break
		}
	}
	return dropped
}

func (c *tbCache) invalidatePage(pg, pa, end uint64, dropped []*TB) []*TB {
	{
		tbs := c.pages[pg]
		keep := tbs[:0]
		for _, tb := range tbs {
			if tb.invalid {
				continue
			}
			if overlaps(tb.ranges, pa, end) {
				tb.invalid = true
				delete(c.m, tbKey{pc: tb.PC, pa: tb.PA, flags: tb.Flags})
				dropped = append(dropped, tb)
				continue
			}
			keep = append(keep, tb)
		}
		if len(keep) == 0 {
			delete(c.pages, pg)
		} else {
			clear(tbs[len(keep):])
			c.pages[pg] = keep
		}
	}
	return dropped
}

func overlaps(rs riscv.Code, lo, hi uint64) bool {
	for _, r := range rs {
		if r.N != 0 && r.PA < hi && lo < r.PA+r.N {
			return true
		}
	}
	return false
}
