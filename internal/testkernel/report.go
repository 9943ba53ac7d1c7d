package testkernel

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// E820Entry is one memory map entry as the kernel saw it.
type E820Entry struct {
	Addr, Size uint64
	Type       uint32
}

// Report is what the kernel printed.
type Report struct {
	Mode   string // ModeLong64, ModeProt32 or "unknown"
	Proto  string // ProtoBootParams or ProtoPVH
	Params uint64 // boot_params (%rsi/%esi) or hvm_start_info (%ebx) address
	Load   uint64 // where the image runs (its first byte)
	// Selectors are CS, DS, ES and SS at entry.
	Selectors  [4]uint16
	Cmdline    string
	E820       []E820Entry
	HasInitrd  bool // an INITRD line was printed
	InitrdAddr uint64
	InitrdSize uint64
	InitrdSum  uint32
	Errors     []string // ERROR lines: the kernel found a bad magic number
	Ended      bool     // END was printed
}

// ParseReport parses the kernel's console output. It returns what it could
// parse even on error, so a caller can show a partial report; output that
// stops before END is not an error (Ended says whether it came).
func ParseReport(output []byte) (Report, error) {
	var r Report
	lines := bytes.Split(output, []byte("\n"))
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	for i, raw := range lines {
		line := string(raw)
		if r.Ended {
			return r, fmt.Errorf("line %d: %q after END", i+1, line)
		}
		key, rest, _ := strings.Cut(line, " ")
		var err error
		switch key {
		case "MODE":
			r.Mode = rest
		case "PROTO":
			r.Proto = rest
		case "PARAMS":
			r.Params, err = hexField(rest, 64)
		case "LOAD":
			r.Load, err = hexField(rest, 64)
		case "SEG":
			var v []uint64
			if v, err = hexFields(rest, 4, 16); err == nil {
				for j := range r.Selectors {
					r.Selectors[j] = uint16(v[j])
				}
			}
		case "CMDLINE":
			r.Cmdline = rest
		case "E820":
			var v []uint64
			if v, err = hexFields(rest, 3, 64); err == nil {
				if v[2] > 0xffffffff {
					err = fmt.Errorf("type %#x", v[2])
				}
				r.E820 = append(r.E820, E820Entry{Addr: v[0], Size: v[1], Type: uint32(v[2])})
			}
		case "INITRD":
			var v []uint64
			if v, err = hexFields(rest, 3, 64); err == nil {
				if v[2] > 0xffffffff {
					err = fmt.Errorf("sum %#x", v[2])
				}
				r.HasInitrd, r.InitrdAddr, r.InitrdSize, r.InitrdSum = true, v[0], v[1], uint32(v[2])
			}
		case "ERROR":
			r.Errors = append(r.Errors, rest)
		case "END":
			if rest != "" {
				err = errors.New("trailing text")
			}
			r.Ended = true
		default:
			err = errors.New("unknown line")
		}
		if err != nil {
			return r, fmt.Errorf("line %d %q: %w", i+1, line, err)
		}
	}
	return r, nil
}

func hexField(s string, bits int) (uint64, error) {
	v, err := strconv.ParseUint(s, 16, bits)
	if err != nil {
		return 0, fmt.Errorf("not a hex number: %q", s)
	}
	return v, nil
}

func hexFields(s string, n, bits int) ([]uint64, error) {
	f := strings.Split(s, " ")
	if len(f) != n {
		return nil, fmt.Errorf("%d fields, want %d", len(f), n)
	}
	v := make([]uint64, n)
	for i := range f {
		var err error
		if v[i], err = hexField(f[i], bits); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Want is what a correct loader and VMM make the kernel report. Zero
// Params, Load and Selectors are not checked.
type Want struct {
	Mode, Proto string
	Params      uint64
	Load        uint64
	Selectors   [4]uint16
	Cmdline     string
	E820        []E820Entry
	// InitrdAddr and InitrdSize are 0 without an initrd.
	InitrdAddr, InitrdSize uint64
	InitrdSum              uint32 // Checksum of the initrd's bytes
}

// BootSelectors are the selectors every govmm entry state loads: the
// Linux boot protocol's __BOOT_CS and __BOOT_DS.
var BootSelectors = [4]uint16{0x10, 0x18, 0x18, 0x18}

// Check compares the report with w and returns an error naming every
// difference, or nil.
func (r *Report) Check(w Want) error {
	var d []string
	diff := func(what string, got, want any) {
		d = append(d, fmt.Sprintf("%s = %v, want %v", what, got, want))
	}
	if !r.Ended {
		d = append(d, "no END line")
	}
	for _, e := range r.Errors {
		d = append(d, "kernel error: "+e)
	}
	if r.Mode != w.Mode {
		diff("MODE", r.Mode, w.Mode)
	}
	if r.Proto != w.Proto {
		diff("PROTO", r.Proto, w.Proto)
	}
	if w.Params != 0 && r.Params != w.Params {
		diff("PARAMS", hex(r.Params), hex(w.Params))
	}
	if w.Load != 0 && r.Load != w.Load {
		diff("LOAD", hex(r.Load), hex(w.Load))
	}
	if w.Selectors != ([4]uint16{}) && r.Selectors != w.Selectors {
		diff("SEG", fmt.Sprintf("%#x", r.Selectors), fmt.Sprintf("%#x", w.Selectors))
	}
	if r.Cmdline != w.Cmdline {
		diff("CMDLINE", strconv.Quote(r.Cmdline), strconv.Quote(w.Cmdline))
	}
	if !slices.Equal(r.E820, w.E820) {
		diff("E820", fmtE820(r.E820), fmtE820(w.E820))
	}
	wantSum := w.InitrdSum
	if w.InitrdSize == 0 {
		wantSum = Checksum(nil)
	}
	if !r.HasInitrd {
		d = append(d, "no INITRD line")
	} else if r.InitrdAddr != w.InitrdAddr || r.InitrdSize != w.InitrdSize || r.InitrdSum != wantSum {
		diff("INITRD", fmt.Sprintf("%#x+%#x sum %#x", r.InitrdAddr, r.InitrdSize, r.InitrdSum),
			fmt.Sprintf("%#x+%#x sum %#x", w.InitrdAddr, w.InitrdSize, wantSum))
	}
	if len(d) > 0 {
		return errors.New(strings.Join(d, "; "))
	}
	return nil
}

type hex uint64

func (h hex) String() string { return fmt.Sprintf("%#x", uint64(h)) }

func fmtE820(e []E820Entry) string {
	s := make([]string, len(e))
	for i, x := range e {
		s[i] = fmt.Sprintf("%#x+%#x:%d", x.Addr, x.Size, x.Type)
	}
	return "[" + strings.Join(s, " ") + "]"
}
