package env

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// Bus is where accesses to physical addresses without RAM go: MMIO devices.
// *vmm/bus.Bus has this method set. len(data) is the access size; data is
// little-endian. A false result (nothing claims the address) becomes the
// guest's access fault.
type Bus interface {
	Read(addr uint64, data []byte) bool
	Write(addr uint64, data []byte) bool
}

// Memory is a machine's physical memory as the translator sees it: RAM
// regions with their host backing (taken once, when the region is added),
// an MMIO bus for the rest, and the record of which RAM holds translated
// code. All CPUs of a machine share one Memory.
type Memory struct {
	ram []ramRegion // sorted by base
	bus Bus

	mu   sync.Mutex
	code map[uint64]*CodePage // physical page -> translated-code chunks
	cpus []*State
}

type ramRegion struct {
	base, size uint64
	host       []byte
	addr       uintptr // host address of host[0]
}

func (r *ramRegion) hostAddr(pa uint64) uintptr { return r.addr + uintptr(pa-r.base) }

// NewMemory returns a memory system whose non-RAM addresses go to bus (nil:
// they fault).
func NewMemory(bus Bus) *Memory {
	return &Memory{bus: bus, code: map[uint64]*CodePage{}}
}

// AddRAM makes host the RAM at physical address base. base and len(host)
// must be page-aligned and the range must not overlap other RAM. host must
// stay valid (and, if it is Go memory, referenced) while any CPU runs.
// Precondition: no CPU is running.
func (m *Memory) AddRAM(base uint64, host []byte) error {
	size := uint64(len(host))
	if size == 0 || size%PageSize != 0 || base%PageSize != 0 || base+size < base {
		return fmt.Errorf("tcg: RAM region %#x+%#x: not page aligned or empty", base, size)
	}
	for _, r := range m.ram {
		if base < r.base+r.size && r.base < base+size {
			return fmt.Errorf("tcg: RAM region %#x+%#x overlaps %#x+%#x", base, size, r.base, r.size)
		}
	}
	m.ram = append(m.ram, ramRegion{base: base, size: size, host: host, addr: sliceAddr(host)})
	sort.Slice(m.ram, func(i, j int) bool { return m.ram[i].base < m.ram[j].base })
	return nil
}

// AddCPU registers a CPU so that code invalidations reach it.
func (m *Memory) AddCPU(s *State) {
	m.mu.Lock()
	m.cpus = append(m.cpus, s)
	m.mu.Unlock()
}

// RemoveCPU undoes AddCPU.
func (m *Memory) RemoveCPU(s *State) {
	m.mu.Lock()
	for i, c := range m.cpus {
		if c == s {
			m.cpus = append(m.cpus[:i], m.cpus[i+1:]...)
			break
		}
	}
	m.mu.Unlock()
}

func (m *Memory) findRAM(pa uint64) *ramRegion {
	for i := range m.ram {
		r := &m.ram[i]
		if pa >= r.base && pa-r.base < r.size {
			return r
		}
	}
	return nil
}

// RAM returns the host bytes of [pa, pa+n) if they are RAM in one region.
func (m *Memory) RAM(pa, n uint64) ([]byte, bool) {
	r := m.findRAM(pa)
	if r == nil || n > r.size-(pa-r.base) {
		return nil, false
	}
	off := pa - r.base
	return r.host[off : off+n : off+n], true
}

// HostAddr returns the host address of RAM at pa, for a backend that maps
// a flat guest address space directly.
func (m *Memory) HostAddr(pa uint64) (uintptr, bool) {
	r := m.findRAM(pa)
	if r == nil {
		return 0, false
	}
	return r.hostAddr(pa), true
}

// Contains reports whether [pa, pa+n) is RAM in one region.
func (m *Memory) Contains(pa, n uint64) bool {
	_, ok := m.RAM(pa, n)
	return ok
}

// Bus returns the MMIO bus.
func (m *Memory) Bus() Bus { return m.bus }

// CodePage records which 64-byte chunks of one physical page hold
// translated code (bit i: bytes [64i, 64i+64), widened by 7 bytes before
// each block so that any store of up to 8 bytes starting in an unmarked
// chunk cannot overlap code). Stores to the page test one bit: data that
// merely shares a page with code keeps a near-fast path, which is what QEMU
// lacks (it takes the slow path for every store to such a page).
type CodePage struct {
	PA   uint64
	Mask atomic.Uint64
}

// ChunkBits is log2 of the code-tracking granule.
const ChunkBits = 6

// codePage returns pa's record, creating it when create.
func (m *Memory) codePage(pa uint64, create bool) *CodePage {
	pg := pa &^ PageMask
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := m.code[pg]
	if cp == nil && create {
		cp = &CodePage{PA: pg}
		m.code[pg] = cp
	}
	return cp
}

// MarkCode records that [pa, pa+n) was translated by CPU s. When a page
// gets its first code, write entries that map it lose their fast path: in
// s at once, in other CPUs at their next block boundary.
func (m *Memory) MarkCode(s *State, pa, n uint64) {
	if n == 0 {
		return
	}
	start := pa
	if start&PageMask >= 7 {
		start -= 7
	} else {
		start &^= PageMask
	}
	end := pa + n // exclusive
	for pg := start &^ PageMask; pg < end; pg += PageSize {
		lo, hi := pg, pg+PageSize
		if start > lo {
			lo = start
		}
		if end < hi {
			hi = end
		}
		bits := chunkBits(lo, hi)
		cp := m.codePage(pg, true)
		old := cp.Mask.Or(bits)
		if old == 0 {
			s.protectCode(cp)
			m.mu.Lock()
			for _, c := range m.cpus {
				if c != s {
					c.inval.protect(cp)
					c.Request(ReqCode)
				}
			}
			m.mu.Unlock()
		}
	}
}

// chunkBits is the CodePage mask of the chunks [lo, hi) touches; both lie
// in one page.
func chunkBits(lo, hi uint64) uint64 {
	var bits uint64
	for c := (lo & PageMask) >> ChunkBits; c <= ((hi-1)&PageMask)>>ChunkBits; c++ {
		bits |= 1 << c
	}
	return bits
}

// codeWritten is called after a store to a chunk holding code: every CPU
// invalidates its blocks overlapping [pa, pa+n) at its next block boundary.
func (m *Memory) codeWritten(pa, n uint64) {
	m.mu.Lock()
	for _, c := range m.cpus {
		c.inval.add(pa, n)
		c.Request(ReqCode)
	}
	m.mu.Unlock()
}

// CodeWritten tells every CPU that [pa, pa+n) changed (a device DMA into
// guest code, a loader). Safe from any goroutine.
func (m *Memory) CodeWritten(pa, n uint64) { m.codeWritten(pa, n) }

// DeviceWrote is CodeWritten for writes that rarely touch code (device
// DMA into buffers the guest handed out): only the parts of [pa, pa+n)
// in chunks that hold translated code are invalidated, so a network
// packet landing on a data page costs one lookup per page. Without it a
// page the kernel reuses for a program read from disk would keep running
// the code translated from its previous contents.
func (m *Memory) DeviceWrote(pa, n uint64) {
	end := pa + n
	if n == 0 || end < pa {
		return
	}
	for pg := pa &^ PageMask; pg < end && pg >= pa&^PageMask; pg += PageSize {
		m.mu.Lock()
		cp := m.code[pg]
		m.mu.Unlock()
		if cp == nil {
			continue
		}
		lo, hi := max(pa, pg), min(end, pg+PageSize)
		if cp.Mask.Load()&chunkBits(lo, hi) != 0 {
			m.codeWritten(lo, hi-lo)
		}
	}
}

// Range is a physical address range.
type Range struct{ PA, N uint64 }

type invalQueue struct {
	mu     sync.Mutex
	ranges []Range
	pages  []*CodePage
}

func (q *invalQueue) add(pa, n uint64) {
	q.mu.Lock()
	// Coalesce repeated writes to the same place (a loop storing to a
	// code chunk).
	if k := len(q.ranges); k > 0 && q.ranges[k-1] == (Range{pa, n}) {
		q.mu.Unlock()
		return
	}
	if len(q.ranges) > 1024 {
		// Too many to track: invalidate the pages instead.
		q.ranges = append(q.ranges[:0], Range{0, ^uint64(0)})
	} else {
		q.ranges = append(q.ranges, Range{pa, n})
	}
	q.mu.Unlock()
}

func (q *invalQueue) protect(pg *CodePage) {
	q.mu.Lock()
	q.pages = append(q.pages, pg)
	q.mu.Unlock()
}

// TakeInvalidations returns the code ranges written since the last call
// (a range {0, ^0} means everything), and applies pending code protection
// to this CPU's TLB. Called by the CPU's own goroutine on ReqCode.
func (s *State) TakeInvalidations() []Range {
	q := &s.inval
	q.mu.Lock()
	r := q.ranges
	q.ranges = nil
	p := q.pages
	q.pages = nil
	q.mu.Unlock()
	for _, cp := range p {
		s.protectCode(cp)
	}
	return r
}

// PhysLoad64 atomically loads the naturally aligned 8 bytes of RAM at pa
// (a page-table entry). ok is false when pa is not RAM.
func (m *Memory) PhysLoad64(pa uint64) (uint64, bool) {
	r := m.findRAM(pa)
	if r == nil || pa&7 != 0 || pa-r.base > r.size-8 {
		return 0, false
	}
	return hostAtomicLoad(r.hostAddr(pa), 8), true
}

// PhysCAS64 replaces the aligned 8 bytes of RAM at pa with new if they
// hold old (a page-table walker setting accessed and dirty bits while
// other CPUs walk or write the same table).
func (m *Memory) PhysCAS64(pa, old, new uint64) bool {
	r := m.findRAM(pa)
	if r == nil || pa&7 != 0 || pa-r.base > r.size-8 {
		return false
	}
	return hostCAS(r.hostAddr(pa), 8, old, new)
}
