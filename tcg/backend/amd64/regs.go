package amd64

import "github.com/govmm/govmm/tcg/ir"

// Host register roles in generated code:
//
//	R14        the env.State pointer
//	R15        the guest's retired-instruction count (env.State.Instret
//	           is loaded into it on entry and stored back on every exit)
//	R13        with a flat address space, the host address of guest 0
//	RAX, RCX,  scratch for address computation, the TLB probe, shifts
//	RDX, R11   (CL), multiplication and division (RDX:RAX)
//	the rest   a per-block cache of guest registers and temporaries
//
// RSP and RBP are left alone: the code runs on the goroutine's stack below
// the entry trampoline's frame and uses no stack itself.
const (
	regEnv     = R14
	regInstret = R15
	// regFlatBase holds the host address of guest address 0 when the
	// backend has a flat address space (SetFlat); it is then not
	// allocatable.
	regFlatBase = R13
)

var allocatable = [...]Reg{RBX, RSI, RDI, R8, R9, R10, R12, R13}

// regCache maps IR slots (guest registers and temporaries) to host
// registers within a block. A slot is loaded on first use and written back
// when it is evicted and before every exit; dirty marks a host register
// whose value env.State.R does not have yet.
type regCache struct {
	slot  [16]int16 // host register -> slot, -1 free
	host  [ir.NumSlots]int8
	dirty [16]bool
	pin   [16]bool
	age   [16]uint32
	clock uint32
}

func (rc *regCache) reset() {
	for i := range rc.slot {
		rc.slot[i] = -1
		rc.dirty[i] = false
		rc.pin[i] = false
	}
	for i := range rc.host {
		rc.host[i] = -1
	}
}

// snapshot is the cache state at one point of the block, for the exit and
// resume code of a slow path.
type snapshot struct {
	slot  [16]int16
	dirty [16]bool
}

func (rc *regCache) snap() snapshot {
	return snapshot{slot: rc.slot, dirty: rc.dirty}
}

func slotMem(slot int) Mem { return M(regEnv, int32(offR+8*slot)) }

// writeback stores the dirty registers of a snapshot (temporaries too when
// temps is true).
func (s *snapshot) writeback(a *Asm, temps bool, except int) {
	for _, h := range allocatable {
		sl := int(s.slot[h])
		if sl < 0 || !s.dirty[h] || sl == except || (!temps && sl >= ir.TempBase) {
			continue
		}
		a.Store(slotMem(sl), h, 8)
	}
}

// reload loads every mapped register of a snapshot from env.State.R.
func (s *snapshot) reload(a *Asm) {
	for _, h := range allocatable {
		if sl := int(s.slot[h]); sl >= 0 {
			a.Load(h, slotMem(sl), 8, false)
		}
	}
}

func (c *compiler) touch(h Reg) {
	c.rc.clock++
	c.rc.age[h] = c.rc.clock
}

// alloc finds a free host register, evicting the least recently used
// unpinned one (written back if dirty).
func (c *compiler) alloc() Reg {
	rc := &c.rc
	var best Reg = NoReg
	for _, h := range allocatable {
		if h == regFlatBase && c.b.flat {
			continue
		}
		if rc.slot[h] < 0 {
			return h
		}
		if rc.pin[h] {
			continue
		}
		if best == NoReg || rc.age[h] < rc.age[best] {
			best = h
		}
	}
	if best == NoReg {
		panic("amd64: all registers pinned")
	}
	c.evict(best)
	return best
}

func (c *compiler) evict(h Reg) {
	rc := &c.rc
	sl := int(rc.slot[h])
	if sl < 0 {
		return
	}
	if rc.dirty[h] && !(sl >= ir.TempBase && c.tempDead(sl)) {
		c.a.Store(slotMem(sl), h, 8)
	}
	rc.host[sl] = -1
	rc.slot[h] = -1
	rc.dirty[h] = false
}

// use returns a host register holding slot's value (loading it if needed)
// and pins it for the current instruction.
func (c *compiler) use(slot uint8) Reg {
	rc := &c.rc
	if h := rc.host[slot]; h >= 0 {
		rc.pin[h] = true
		c.touch(Reg(h))
		return Reg(h)
	}
	h := c.alloc()
	c.a.Load(h, slotMem(int(slot)), 8, false)
	rc.host[slot] = int8(h)
	rc.slot[h] = int16(slot)
	rc.dirty[h] = false
	rc.pin[h] = true
	c.touch(h)
	return h
}

// def returns a host register to receive slot's new value, and whether
// the register already held the slot's current value. The register is
// marked dirty and pinned.
func (c *compiler) def(slot uint8) (Reg, bool) {
	rc := &c.rc
	if h := rc.host[slot]; h >= 0 {
		rc.dirty[h] = true
		rc.pin[h] = true
		c.touch(Reg(h))
		return Reg(h), true
	}
	h := c.alloc()
	rc.host[slot] = int8(h)
	rc.slot[h] = int16(slot)
	rc.dirty[h] = true
	rc.pin[h] = true
	c.touch(h)
	return h, false
}

// unpinAll ends an instruction.
func (c *compiler) unpinAll() {
	for i := range c.rc.pin {
		c.rc.pin[i] = false
	}
}

// forget drops every mapping without writing back (after an exit to Go,
// whose code clobbers the host registers; the values are in env.State.R).
func (c *compiler) forget() {
	rc := &c.rc
	for _, h := range allocatable {
		if sl := rc.slot[h]; sl >= 0 {
			rc.host[sl] = -1
		}
		rc.slot[h] = -1
		rc.dirty[h] = false
	}
}

// flushAll writes back every dirty register (temporaries that are still
// live too) and keeps the mappings, now clean.
func (c *compiler) flushAll(temps bool) {
	rc := &c.rc
	for _, h := range allocatable {
		sl := int(rc.slot[h])
		if sl < 0 || !rc.dirty[h] {
			continue
		}
		if sl >= ir.TempBase && (!temps || c.tempDead(sl)) {
			continue
		}
		c.a.Store(slotMem(sl), h, 8)
		rc.dirty[h] = false
	}
}

// freeDeadTemps releases temporaries whose last use has passed.
func (c *compiler) freeDeadTemps() {
	rc := &c.rc
	for _, h := range allocatable {
		sl := int(rc.slot[h])
		if sl >= ir.TempBase && c.tempDead(sl) {
			rc.host[sl] = -1
			rc.slot[h] = -1
			rc.dirty[h] = false
		}
	}
}

func (c *compiler) tempDead(slot int) bool { return c.lastUse[slot-ir.TempBase] < c.cur }
