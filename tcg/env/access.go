package env

import "encoding/binary"

// Guest memory accesses. The Load*/Store* methods are the fast paths the
// closure backend and helpers call (small enough to inline); the *Slow
// methods fill the TLB, split accesses that cross a page, reach MMIO and
// detect stores to translated code. A false result means an exception was
// raised (s.Exc) and the caller must leave the block.

// Load8 loads a byte through TLB table idx.
func (s *State) Load8(va uint64, idx int) (uint64, bool) {
	e := &s.TLB[idx&(NumMMUIdx-1)][(va>>PageBits)&(TLBSize-1)]
	if e.Read == va&^PageMask {
		return uint64(host8(uintptr(va) + e.Addend)), true
	}
	return s.LoadSlow(va, 1, idx)
}

// Load16 loads 2 bytes.
func (s *State) Load16(va uint64, idx int) (uint64, bool) {
	e := &s.TLB[idx&(NumMMUIdx-1)][(va>>PageBits)&(TLBSize-1)]
	if e.Read == (va+1)&^PageMask {
		return uint64(host16(uintptr(va) + e.Addend)), true
	}
	return s.LoadSlow(va, 2, idx)
}

// Load32 loads 4 bytes.
func (s *State) Load32(va uint64, idx int) (uint64, bool) {
	e := &s.TLB[idx&(NumMMUIdx-1)][(va>>PageBits)&(TLBSize-1)]
	if e.Read == (va+3)&^PageMask {
		return uint64(host32(uintptr(va) + e.Addend)), true
	}
	return s.LoadSlow(va, 4, idx)
}

// Load64 loads 8 bytes.
func (s *State) Load64(va uint64, idx int) (uint64, bool) {
	e := &s.TLB[idx&(NumMMUIdx-1)][(va>>PageBits)&(TLBSize-1)]
	if e.Read == (va+7)&^PageMask {
		return host64(uintptr(va) + e.Addend), true
	}
	return s.LoadSlow(va, 8, idx)
}

// Load loads size (1, 2, 4 or 8) bytes, zero-extended.
func (s *State) Load(va uint64, size int, idx int) (uint64, bool) {
	switch size {
	case 1:
		return s.Load8(va, idx)
	case 2:
		return s.Load16(va, idx)
	case 4:
		return s.Load32(va, idx)
	}
	return s.Load64(va, idx)
}

// Store8 stores a byte.
func (s *State) Store8(va, v uint64, idx int) bool {
	e := &s.TLB[idx&(NumMMUIdx-1)][(va>>PageBits)&(TLBSize-1)]
	if e.Write == va&^PageMask {
		hostStore8(uintptr(va)+e.Addend, uint8(v))
		return true
	}
	return s.StoreSlow(va, v, 1, idx)
}

// Store16 stores 2 bytes.
func (s *State) Store16(va, v uint64, idx int) bool {
	e := &s.TLB[idx&(NumMMUIdx-1)][(va>>PageBits)&(TLBSize-1)]
	if e.Write == (va+1)&^PageMask {
		hostStore16(uintptr(va)+e.Addend, uint16(v))
		return true
	}
	return s.StoreSlow(va, v, 2, idx)
}

// Store32 stores 4 bytes.
func (s *State) Store32(va, v uint64, idx int) bool {
	e := &s.TLB[idx&(NumMMUIdx-1)][(va>>PageBits)&(TLBSize-1)]
	if e.Write == (va+3)&^PageMask {
		hostStore32(uintptr(va)+e.Addend, uint32(v))
		return true
	}
	return s.StoreSlow(va, v, 4, idx)
}

// Store64 stores 8 bytes.
func (s *State) Store64(va, v uint64, idx int) bool {
	e := &s.TLB[idx&(NumMMUIdx-1)][(va>>PageBits)&(TLBSize-1)]
	if e.Write == (va+7)&^PageMask {
		hostStore64(uintptr(va)+e.Addend, v)
		return true
	}
	return s.StoreSlow(va, v, 8, idx)
}

// Store stores the low size bytes of v.
func (s *State) Store(va, v uint64, size int, idx int) bool {
	switch size {
	case 1:
		return s.Store8(va, v, idx)
	case 2:
		return s.Store16(va, v, idx)
	case 4:
		return s.Store32(va, v, idx)
	}
	return s.Store64(va, v, idx)
}

// entryFor returns va's entry in table idx, filled for acc.
func (s *State) entryFor(va uint64, acc Access, idx int) (*TLBEntry, *TLBInfo, bool) {
	idx &= NumMMUIdx - 1
	i := Index(va)
	e := &s.TLB[idx][i]
	pg := va &^ PageMask
	var tag uint64
	switch acc {
	case Read:
		tag = e.Read
	case Write:
		tag = e.Write
	default:
		tag = e.Exec
	}
	if tag&TagInvalid != 0 || tag&^TagFlags != pg {
		var ok bool
		if e, ok = s.fill(va, acc, idx); !ok {
			return nil, nil, false
		}
	}
	return e, &s.TLBInfo[idx][i], true
}

// LoadSlow is the slow path of a load: TLB miss, MMIO, or a page-crossing
// access.
func (s *State) LoadSlow(va uint64, size int, idx int) (uint64, bool) {
	if va&PageMask+uint64(size) > PageSize {
		// Crosses a page: byte by byte (both pages must be readable;
		// the fault reports the first byte that is not).
		var v uint64
		for i := 0; i < size; i++ {
			b, ok := s.LoadSlow(va+uint64(i), 1, idx)
			if !ok {
				return 0, false
			}
			v |= b << (8 * i)
		}
		return v, true
	}
	e, info, ok := s.entryFor(va, Read, idx)
	if !ok {
		return 0, false
	}
	if e.Read&TagMMIO != 0 {
		var buf [8]byte
		pa := info.PA | va&PageMask
		if !s.Mem.bus.Read(pa, buf[:size]) {
			s.accessFault(va, Read)
			return 0, false
		}
		return binary.LittleEndian.Uint64(buf[:]), true
	}
	return hostLoad(uintptr(va)+e.Addend, size), true
}

// StoreSlow is the slow path of a store: TLB miss, MMIO, a page holding
// translated code, or a page-crossing access.
func (s *State) StoreSlow(va, v uint64, size int, idx int) bool {
	if va&PageMask+uint64(size) > PageSize {
		// Check that both pages are writable before writing either. A
		// fault on the second page reports its first byte (the part of
		// the access that faulted), as a page-crossing load does.
		if _, _, ok := s.entryFor(va, Write, idx); !ok {
			return false
		}
		if _, _, ok := s.entryFor((va+uint64(size)-1)&^PageMask, Write, idx); !ok {
			return false
		}
		for i := 0; i < size; i++ {
			if !s.StoreSlow(va+uint64(i), v>>(8*i), 1, idx) {
				return false
			}
		}
		return true
	}
	e, info, ok := s.entryFor(va, Write, idx)
	if !ok {
		return false
	}
	if e.Write&TagMMIO != 0 {
		var buf [8]byte
		binary.LittleEndian.PutUint64(buf[:], v)
		pa := info.PA | va&PageMask
		if !s.Mem.bus.Write(pa, buf[:size]) {
			s.accessFault(va, Write)
			return false
		}
		return true
	}
	hostStoreN(uintptr(va)+e.Addend, v, size)
	if e.Write&TagCode != 0 {
		s.checkCodeWrite(info, va, uint64(size))
	}
	return true
}

// StoreCodePage is the medium path for a store whose tag matched except
// for TagCode: the page holds translated code somewhere. When the written
// chunk has none, it is an ordinary store.
func (s *State) StoreCodePage(va, v uint64, size int, idx int) bool {
	return s.StoreSlow(va, v, size, idx)
}

// checkCodeWrite invalidates translated code overlapping a store.
func (s *State) checkCodeWrite(info *TLBInfo, va, n uint64) {
	cp := info.Code
	if cp == nil {
		return
	}
	off := va & PageMask
	bits := uint64(1)<<(off>>ChunkBits) | uint64(1)<<((off+n-1)>>ChunkBits)
	if cp.Mask.Load()&bits != 0 {
		s.Mem.codeWritten(info.PA|off, n)
	}
}

// CodeAddr translates an instruction fetch at va (table idx) to a physical
// address and returns the host bytes from there to the end of the page.
func (s *State) CodeAddr(va uint64, idx int) (pa uint64, host []byte, ok bool) {
	e, info, ok := s.entryFor(va, Exec, idx)
	if !ok {
		return 0, nil, false
	}
	pa = info.PA | va&PageMask
	if e.Exec&TagMMIO != 0 {
		s.accessFault(va, Exec)
		return 0, nil, false
	}
	host, ok = s.Mem.RAM(pa, PageSize-va&PageMask)
	if !ok {
		s.accessFault(va, Exec)
		return 0, nil, false
	}
	return pa, host, true
}

// HostAddr translates va for acc and returns the host address of RAM
// backing it, for atomics; ok false with no exception means the address is
// MMIO (the caller falls back to a non-atomic bus access).
func (s *State) hostFor(va uint64, acc Access, idx int) (addr uintptr, info *TLBInfo, mmio bool, ok bool) {
	e, info, ok := s.entryFor(va, acc, idx)
	if !ok {
		return 0, nil, false, false
	}
	tag := e.Read
	if acc == Write {
		tag = e.Write
	}
	if tag&TagMMIO != 0 {
		return 0, info, true, true
	}
	return uintptr(va) + e.Addend, info, false, true
}
