package env

// The softmmu TLB, QEMU-style: one direct-mapped table per MMU index. The
// fast path of an access of size n at virtual address va is
//
//	e := &TLB[idx][(va >> PageBits) & (TLBSize-1)]
//	if e.Read == (va+n-1) &^ PageMask { host = va + e.Addend }
//
// one compare plus an addend. Comparing the page of the access's last byte
// with the tag makes an access that crosses a page miss (it goes to the
// slow path, which splits it). A tag with any of the low Tag* bits set never
// matches, so the flags below force the slow path without a second test.

const (
	// PageBits is the guest page size the TLB works in (4 KiB).
	PageBits = 12
	// PageSize is 1 << PageBits.
	PageSize = 1 << PageBits
	// PageMask selects the offset in a page.
	PageMask = PageSize - 1

	// TLBBits is log2 of the entries per table.
	TLBBits = 9
	// TLBSize is the number of entries per table.
	TLBSize = 1 << TLBBits
	// NumMMUIdx is the number of TLB tables (address space x mode
	// combinations a frontend may use).
	NumMMUIdx = 8
)

// Tag flags. A tag is a page-aligned virtual address, or has one of these.
const (
	// TagInvalid: no translation.
	TagInvalid uint64 = 1 << iota
	// TagMMIO: the page is not RAM; accesses go to the bus.
	TagMMIO
	// TagCode: the page holds translated code (write tag only). Stores
	// take the medium path, which checks the 64-byte chunk.
	TagCode
	// TagFlags is all of them.
	TagFlags = TagInvalid | TagMMIO | TagCode
)

// TLBEntry is the hot half of a TLB entry: 32 bytes, so generated code
// indexes the table with a shift.
type TLBEntry struct {
	Read, Write, Exec uint64
	// Addend: host address = guest virtual address + Addend (RAM pages).
	Addend uintptr
}

// TLBTable is one MMU index's table.
type TLBTable [TLBSize]TLBEntry

// TLBInfo is the cold half, used by slow paths.
type TLBInfo struct {
	// PA is the guest physical page address.
	PA uint64
	// Code tracks translated code on a RAM page (nil for MMIO pages).
	Code *CodePage
}

// Access is the kind of a memory access.
type Access uint8

const (
	Read Access = iota
	Write
	Exec
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return "exec"
}

// Perm is a set of access kinds a translation allows on the fast path.
type Perm uint8

const (
	PermR Perm = 1 << iota
	PermW
	PermX
	PermRWX = PermR | PermW | PermX
)

// MMU is the frontend's address translation: identity in user mode, Sv39 or
// Sv48 page walks for a riscv machine.
type MMU interface {
	// Translate maps va for acc in the address space mmuIdx. On success
	// it returns the physical address and the permissions the whole page
	// grants on the fast path (a page whose dirty bit is clear grants no
	// PermW yet, so the first store comes back here). On a fault it calls
	// s.Raise with the guest's cause and returns ok false.
	Translate(s *State, va uint64, acc Access, mmuIdx int) (pa uint64, perm Perm, ok bool)
	// AccessFault raises the guest's access fault for acc at va: the
	// physical address has neither RAM nor a device behind it.
	AccessFault(s *State, va uint64, acc Access)
}

// Index returns va's entry index.
func Index(va uint64) uint64 { return (va >> PageBits) & (TLBSize - 1) }

// FlushTLB invalidates every entry of every table.
func (s *State) FlushTLB() {
	for i := range s.TLB {
		s.FlushTLBIdx(i)
	}
}

// FlushTLBIdx invalidates every entry of one table.
func (s *State) FlushTLBIdx(idx int) {
	t := &s.TLB[idx]
	for j := range t {
		t[j] = TLBEntry{Read: TagInvalid, Write: TagInvalid, Exec: TagInvalid}
	}
	clear(s.TLBInfo[idx][:])
}

// FlushTLBPage invalidates va's page in every table.
func (s *State) FlushTLBPage(va uint64) {
	i := Index(va)
	pg := va &^ PageMask
	for idx := range s.TLB {
		e := &s.TLB[idx][i]
		if e.Read&^TagFlags == pg || e.Write&^TagFlags == pg || e.Exec&^TagFlags == pg {
			*e = TLBEntry{Read: TagInvalid, Write: TagInvalid, Exec: TagInvalid}
			s.TLBInfo[idx][i] = TLBInfo{}
		}
	}
}

// protectCode sets TagCode on every write tag that maps the physical page
// of cp, and links the entries to cp.
func (s *State) protectCode(cp *CodePage) {
	for idx := range s.TLB {
		t := &s.TLB[idx]
		info := &s.TLBInfo[idx]
		for i := range t {
			if info[i].PA != cp.PA || t[i].Read&TagMMIO != 0 {
				continue
			}
			info[i].Code = cp
			if w := t[i].Write; w&(TagInvalid|TagCode) == 0 {
				t[i].Write = w | TagCode
			}
		}
	}
}

// fill translates va for acc in table idx and installs the entry.
func (s *State) fill(va uint64, acc Access, idx int) (*TLBEntry, bool) {
	pa := va
	perm := PermRWX
	if s.MMU != nil {
		var ok bool
		pa, perm, ok = s.MMU.Translate(s, va, acc, idx)
		if !ok {
			return nil, false
		}
	}
	vpg, ppg := va&^PageMask, pa&^PageMask
	i := Index(va)
	e := &s.TLB[idx][i]
	info := &s.TLBInfo[idx][i]
	tag := func(p Perm, flags uint64) uint64 {
		if perm&p == 0 {
			return TagInvalid
		}
		return vpg | flags
	}
	if r := s.Mem.findRAM(ppg); r != nil {
		cp := s.Mem.codePage(ppg, false)
		wflags := uint64(0)
		if cp != nil && cp.Mask.Load() != 0 {
			wflags = TagCode
		}
		*e = TLBEntry{
			Read:   tag(PermR, 0),
			Write:  tag(PermW, wflags),
			Exec:   tag(PermX, 0),
			Addend: r.hostAddr(ppg) - uintptr(vpg),
		}
		*info = TLBInfo{PA: ppg, Code: cp}
		return e, true
	}
	if s.Mem.bus == nil {
		s.accessFault(va, acc)
		return nil, false
	}
	*e = TLBEntry{
		Read:  tag(PermR, TagMMIO),
		Write: tag(PermW, TagMMIO),
		Exec:  TagInvalid, // no execution from devices
	}
	*info = TLBInfo{PA: ppg}
	return e, true
}

func (s *State) accessFault(va uint64, acc Access) {
	if s.MMU != nil {
		s.MMU.AccessFault(s, va, acc)
		return
	}
	s.Raise(uint64(FaultAccess)<<8|uint64(acc), va)
}

// FaultAccess is the cause class Raise gets (in bits 8 and up, the access
// kind in bits 0-7) when there is no MMU to name the guest's cause.
const FaultAccess = 1
