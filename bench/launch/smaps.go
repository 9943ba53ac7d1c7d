package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// mapping is one entry of /proc/<pid>/smaps: the header line's fields and the
// sizes this tool needs, in KiB as the kernel prints them.
type mapping struct {
	Start, End uint64
	Perms      string
	Path       string // "" for a private anonymous mapping
	SizeKiB    uint64
	RssKiB     uint64
}

// parseSmaps reads /proc/<pid>/smaps text. Lines of the form "Key: N kB" fill
// the mapping opened by the last header line; other keys (VmFlags,
// THPeligible, ...) are skipped.
func parseSmaps(r io.Reader) ([]mapping, error) {
	var maps []mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if key, ok := strings.CutSuffix(fields[0], ":"); ok {
			if len(maps) == 0 {
				return nil, fmt.Errorf("smaps line %d: field %q before any mapping", line, key)
			}
			if key != "Size" && key != "Rss" {
				continue
			}
			if len(fields) != 3 || fields[2] != "kB" {
				return nil, fmt.Errorf("smaps line %d: malformed %s line %q", line, key, text)
			}
			n, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("smaps line %d: %s: %w", line, key, err)
			}
			m := &maps[len(maps)-1]
			if key == "Size" {
				m.SizeKiB = n
			} else {
				m.RssKiB = n
			}
			continue
		}
		m, err := parseMapsHeader(text)
		if err != nil {
			return nil, fmt.Errorf("smaps line %d: %w", line, err)
		}
		maps = append(maps, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read smaps: %w", err)
	}
	return maps, nil
}

// parseMapsHeader parses "start-end perms offset dev inode [path]". The path
// is everything after the inode with the padding removed; it may contain
// blanks ("/dev/zero (deleted)").
func parseMapsHeader(text string) (mapping, error) {
	rest := text
	var f [5]string
	for i := range f {
		rest = strings.TrimLeft(rest, " ")
		j := strings.IndexByte(rest, ' ')
		if j < 0 {
			if i < 4 {
				return mapping{}, fmt.Errorf("malformed mapping header %q", text)
			}
			j = len(rest)
		}
		f[i], rest = rest[:j], rest[j:]
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return mapping{}, fmt.Errorf("malformed address range in %q", text)
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err := errors.Join(err1, err2); err != nil || end < start {
		return mapping{}, fmt.Errorf("malformed address range in %q: %v", text, err)
	}
	return mapping{Start: start, End: end, Perms: f[1], Path: strings.TrimSpace(rest)}, nil
}

// isAnonymousRAM reports whether m can hold guest RAM: writable memory not
// backed by a regular file. That covers private anonymous mappings (no path,
// or a name given with PR_SET_VMA_ANON_NAME), shared anonymous ones (the
// kernel shows them as "/dev/zero (deleted)") and memfd ("/memfd:..."), so
// the rule works whichever way a VMM allocates RAM. [heap] and [stack] are
// not candidates: no VMM puts guest RAM in brk memory or on its stack.
func isAnonymousRAM(m mapping) bool {
	if len(m.Perms) < 2 || m.Perms[1] != 'w' {
		return false
	}
	p := m.Path
	return p == "" ||
		strings.HasPrefix(p, "[anon:") ||
		strings.HasPrefix(p, "[anon_shmem:") ||
		strings.HasPrefix(p, "/memfd:") ||
		strings.HasPrefix(p, "/dev/zero")
}

// errNoGuestRAM is returned when no mapping qualifies as guest RAM.
var errNoGuestRAM = errors.New("no anonymous mapping as large as guest RAM")

// findGuestRAM picks the mapping that holds guest RAM of ramBytes bytes.
//
// The rule, the same for every VMM: among writable anonymous mappings (see
// isAnonymousRAM), take the one whose size is exactly ramBytes. If several
// are, take the one with the most resident pages, a guess (a VMM that loads
// the kernel itself has written guest RAM by then; QEMU's firmware loads it
// later); with guest RAM of hundreds of MiB a tie does not happen in
// practice, with a few MiB the Go runtime's heap can match, so the caller
// reports ties. If none is exactly that size, take the largest one of at
// least ramBytes: the kernel merges adjacent anonymous mappings with equal
// flags into one entry, and a VMM may round the allocation up. QEMU 7.2 (a
// private anonymous mapping) and govmm as of this writing both map RAM as
// one mapping of exactly the -m size; QEMU's guard pages around it are
// PROT_NONE, so not candidates.
//
// Guest RAM split into several mappings, none as large as ramBytes (RAM below
// and above a PCI hole, say), is not recognised: that returns errNoGuestRAM
// rather than subtracting the wrong thing.
//
// exact is how many mappings had exactly the guest RAM size; more than one
// means the choice was a guess.
func findGuestRAM(maps []mapping, ramBytes uint64) (m mapping, exact int, err error) {
	ramKiB := (ramBytes + 1023) / 1024
	var cands []mapping
	for _, m := range maps {
		if isAnonymousRAM(m) && m.SizeKiB >= ramKiB {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return mapping{}, 0, fmt.Errorf("%w (%d KiB)", errNoGuestRAM, ramKiB)
	}
	var exacts []mapping
	for _, m := range cands {
		if m.SizeKiB == ramKiB {
			exacts = append(exacts, m)
		}
	}
	if len(exacts) > 0 {
		return slices.MaxFunc(exacts, func(a, b mapping) int { return cmp.Compare(a.RssKiB, b.RssKiB) }), len(exacts), nil
	}
	return slices.MaxFunc(cands, func(a, b mapping) int { return cmp.Compare(a.SizeKiB, b.SizeKiB) }), 0, nil
}

// vmRSSKiB returns the VmRSS field of /proc/<pid>/status text, in KiB.
func vmRSSKiB(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("malformed VmRSS line %q", sc.Text())
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmRSS: %w", err)
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	return 0, errors.New("no VmRSS line in status (process is a zombie?)")
}
