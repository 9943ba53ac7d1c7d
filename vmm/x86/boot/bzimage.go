package boot

import (
	"encoding/binary"
	"fmt"

	"github.com/govmm/govmm/vmm/mem"
)

// Offsets in struct boot_params and its embedded struct setup_header
// (Documentation/arch/x86/boot.rst, arch/x86/include/uapi/asm/bootparam.h).
const (
	bpACPIRSDP        = 0x070
	bpExtRamdiskImage = 0x0c0
	bpExtRamdiskSize  = 0x0c4
	bpExtCmdLinePtr   = 0x0c8
	bpE820Entries     = 0x1e8
	bpSetupHeader     = 0x1f1
	bpSetupSects      = 0x1f1
	bpBootFlag        = 0x1fe
	bpJump            = 0x200
	bpHeader          = 0x202
	bpVersion         = 0x206
	bpTypeOfLoader    = 0x210
	bpLoadFlags       = 0x211
	bpCode32Start     = 0x214
	bpRamdiskImage    = 0x218
	bpRamdiskSize     = 0x21c
	bpCmdLinePtr      = 0x228
	bpInitrdAddrMax   = 0x22c
	bpKernelAlignment = 0x230
	bpRelocatable     = 0x234
	bpXLoadFlags      = 0x236
	bpCmdlineSize     = 0x238
	bpPrefAddress     = 0x258
	bpInitSize        = 0x260
	bpE820Table       = 0x2d0
	bpE820Max         = 128
	bootParamsSize    = 4096

	hdrMagic        = 0x53726448 // "HdrS"
	loadedHigh      = 1 << 0
	xlfKernel64     = 1 << 0
	loaderUndefined = 0xff
)

// setupHeader is what govmm needs from a bzImage's setup header.
type setupHeader struct {
	raw             []byte // setup_header bytes as in the image, from 0x1f1
	version         uint16
	setupSects      uint32
	loadFlags       uint8
	xloadFlags      uint16
	initrdAddrMax   uint32
	kernelAlignment uint32
	relocatable     bool
	cmdlineSize     uint32
	prefAddress     uint64
	initSize        uint32
}

func parseSetupHeader(img Image) (*setupHeader, error) {
	var b [0x280]byte
	if img.Size < int64(len(b)) {
		return nil, ErrBadKernel
	}
	if _, err := img.R.ReadAt(b[:], 0); err != nil {
		return nil, fmt.Errorf("read setup header: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(b[bpBootFlag:]) != 0xaa55 || le.Uint32(b[bpHeader:]) != hdrMagic {
		return nil, ErrBadKernel
	}
	h := &setupHeader{
		version:         le.Uint16(b[bpVersion:]),
		setupSects:      uint32(b[bpSetupSects]),
		loadFlags:       b[bpLoadFlags],
		initrdAddrMax:   le.Uint32(b[bpInitrdAddrMax:]),
		kernelAlignment: le.Uint32(b[bpKernelAlignment:]),
		relocatable:     b[bpRelocatable] != 0,
		xloadFlags:      le.Uint16(b[bpXLoadFlags:]),
		cmdlineSize:     le.Uint32(b[bpCmdlineSize:]),
		prefAddress:     le.Uint64(b[bpPrefAddress:]),
		initSize:        le.Uint32(b[bpInitSize:]),
	}
	if h.version < 0x206 {
		return nil, fmt.Errorf("%w: bzImage protocol %d.%02d, govmm needs 2.06 or later", ErrOldProtocol, h.version>>8, h.version&0xff)
	}
	if h.setupSects == 0 {
		h.setupSects = 4 // boot.rst: "If this field is 0, the real value is 4."
	}
	if h.loadFlags&loadedHigh == 0 {
		return nil, fmt.Errorf("%w: zImage (not loaded high) is not supported", ErrBadKernel)
	}
	// The header ends at 0x202 + the byte at 0x201 (the jump's target).
	end := bpHeader + int(b[bpJump+1])
	if end > len(b) || end < bpCmdlineSize+4 {
		end = len(b)
	}
	h.raw = append([]byte(nil), b[bpSetupHeader:end]...)
	if h.version < 0x20a {
		h.prefAddress = 0x100000
		h.initSize = 0
	}
	if h.kernelAlignment == 0 {
		h.kernelAlignment = 0x200000
	}
	return h, nil
}

func loadBzImage(m *mem.Memory, c Config) (*Result, error) {
	h, err := parseSetupHeader(c.Kernel)
	if err != nil {
		return nil, err
	}
	pmOff := int64(h.setupSects+1) * 512
	if pmOff >= c.Kernel.Size {
		return nil, fmt.Errorf("%w: setup (%d sectors) is the whole file", ErrBadKernel, h.setupSects)
	}
	pmSize := uint64(c.Kernel.Size - pmOff)

	// Load where the kernel prefers to run so the decompressor need not
	// move itself; a relocatable kernel would also run elsewhere, but the
	// preferred address is always right.
	loadAt := h.prefAddress
	if loadAt == 0 || loadAt%uint64(h.kernelAlignment) != 0 && h.relocatable {
		loadAt = uint64(defaultKernelAt)
	}
	need := max(uint64(h.initSize), pmSize)
	lowEnd := lowRAMEnd(c)
	if loadAt+need > lowEnd {
		return nil, fmt.Errorf("%w: the kernel needs %d MiB at %#x, so -m must be at least %dM", ErrMemTooSmall, need>>20, loadAt, (loadAt+need)>>20+1)
	}
	if err := loadInto(m, c.Kernel, pmOff, loadAt, pmSize); err != nil {
		return nil, err
	}
	kernelEnd := loadAt + need

	cmdMax := uint64(h.cmdlineSize)
	if err := writeCmdline(m, c.Cmdline, cmdMax); err != nil {
		return nil, err
	}
	initrdMax := uint64(h.initrdAddrMax)
	if initrdMax == 0 {
		initrdMax = 0x37ffffff // boot.rst: the default for old protocols
	}
	initrdAddr, initrdSize, err := placeInitrd(m, c, kernelEnd, initrdMax)
	if err != nil {
		return nil, err
	}

	var rsdp uint64
	if c.ACPI {
		if rsdp, err = writeACPI(m, c.CPUs); err != nil {
			return nil, err
		}
	}

	// boot_params: zeroed, with the image's setup header copied in and
	// the loader's fields filled (boot.rst, "The 64-bit boot protocol").
	bp := make([]byte, bootParamsSize)
	copy(bp[bpSetupHeader:], h.raw)
	le := binary.LittleEndian
	bp[bpTypeOfLoader] = loaderUndefined
	le.PutUint32(bp[bpCode32Start:], uint32(loadAt))
	le.PutUint32(bp[bpCmdLinePtr:], uint32(CmdlineAddr))
	le.PutUint32(bp[bpRamdiskImage:], uint32(initrdAddr))
	le.PutUint32(bp[bpRamdiskSize:], uint32(initrdSize))
	le.PutUint32(bp[bpExtRamdiskImage:], uint32(initrdAddr>>32))
	le.PutUint32(bp[bpExtRamdiskSize:], uint32(initrdSize>>32))
	if rsdp != 0 && h.version >= 0x20e {
		le.PutUint64(bp[bpACPIRSDP:], rsdp)
	}
	if err := putE820(bp, E820(c.MemSize)); err != nil {
		return nil, err
	}
	if _, err := m.WriteAt(bp, int64(ZeroPageAddr)); err != nil {
		return nil, fmt.Errorf("write boot_params: %w", err)
	}

	mode, entry := Protected32, loadAt
	if h.version >= 0x20c && h.xloadFlags&xlfKernel64 != 0 {
		mode, entry = Long64, loadAt+0x200
	}
	st, err := entryState(m, mode, entry)
	if err != nil {
		return nil, err
	}
	st.RSI = uint64(ZeroPageAddr)
	return &Result{
		Protocol:   fmt.Sprintf("bzImage %d.%02d (%s entry)", h.version>>8, h.version&0xff, mode),
		CPU:        st,
		KernelAddr: loadAt,
		KernelEnd:  kernelEnd,
		InitrdAddr: initrdAddr,
		InitrdSize: initrdSize,
		RSDPAddr:   rsdp,
	}, nil
}

// putE820 writes the memory map into boot_params.
func putE820(bp []byte, e []E820Entry) error {
	if len(e) > bpE820Max {
		return fmt.Errorf("e820 map has %d entries, boot_params holds %d", len(e), bpE820Max)
	}
	bp[bpE820Entries] = uint8(len(e))
	for i, ent := range e {
		o := bpE820Table + 20*i
		binary.LittleEndian.PutUint64(bp[o:], ent.Addr)
		binary.LittleEndian.PutUint64(bp[o+8:], ent.Size)
		binary.LittleEndian.PutUint32(bp[o+16:], ent.Type)
	}
	return nil
}
