package linuxuser

import (
	"sort"
	"sync"

	"github.com/govmm/govmm/tcg/env"
)

// addrSpace tracks which parts of the flat guest address space are mapped,
// for brk and mmap placement. Host memory behind unmapped guest pages is
// released (and reads as zero) but is not protected.
type addrSpace struct {
	mu            sync.Mutex
	size          uint64
	brkStart, brk uint64
	mmapTop       uint64
	vmas          []vma // sorted, disjoint
}

type vma struct{ start, end uint64 }

func (a *addrSpace) init(size uint64) {
	a.size = size
	a.mmapTop = size
}

// mapFixed records [start, start+n) as mapped.
func (a *addrSpace) mapFixed(start, n uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mapLocked(start, n)
}

func (a *addrSpace) mapLocked(start, n uint64) {
	a.unmapLocked(start, n)
	v := vma{start, start + n}
	i := sort.Search(len(a.vmas), func(i int) bool { return a.vmas[i].start >= start })
	a.vmas = append(a.vmas, vma{})
	copy(a.vmas[i+1:], a.vmas[i:])
	a.vmas[i] = v
}

// unmap removes [start, start+n) from the mapped set.
func (a *addrSpace) unmap(start, n uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unmapLocked(start, n)
}

func (a *addrSpace) unmapLocked(start, n uint64) {
	end := start + n
	var out []vma
	for _, v := range a.vmas {
		if v.end <= start || v.start >= end {
			out = append(out, v)
			continue
		}
		if v.start < start {
			out = append(out, vma{v.start, start})
		}
		if v.end > end {
			out = append(out, vma{end, v.end})
		}
	}
	a.vmas = out
}

// free reports whether [start, start+n) is unmapped and inside the space.
func (a *addrSpace) freeLocked(start, n uint64) bool {
	if start < lowLimit || start+n > a.size || start+n < start {
		return false
	}
	if start < a.brk && start+n > a.brkStart {
		return false
	}
	for _, v := range a.vmas {
		if v.start < start+n && start < v.end {
			return false
		}
	}
	return true
}

// alloc finds room for n bytes (page-aligned), at hint when it is free,
// else top-down below the stack, and maps it. 0: no room.
func (a *addrSpace) alloc(hint, n uint64) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if hint != 0 && hint&env.PageMask == 0 && a.freeLocked(hint, n) {
		a.mapLocked(hint, n)
		return hint
	}
	// Top-down first fit over the gaps between mappings.
	end := a.mmapTop
	for i := len(a.vmas) - 1; i >= -1; i-- {
		var gapLo uint64 = a.brk + 1<<30 // leave the brk heap room to grow
		if i >= 0 {
			if a.vmas[i].start >= end {
				continue
			}
			if a.vmas[i].end > gapLo {
				gapLo = a.vmas[i].end
			}
		}
		if end >= gapLo+n {
			start := end - n
			a.mapLocked(start, n)
			return start
		}
		if i >= 0 && a.vmas[i].start < end {
			end = a.vmas[i].start
		}
	}
	return 0
}
