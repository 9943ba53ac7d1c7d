// Package qemuopt parses QEMU's comma-separated option syntax
// ("tap,id=n0,ifname=tap0,sndbuf=64k"), so existing command lines keep
// working: an optional leading value for an implied key, key=value pairs,
// ",," for a literal comma, and bare "key" meaning "key=on".
package qemuopt

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Opts is a parsed option string, keys in the order given.
type Opts struct {
	Keys   []string
	Values map[string]string
}

// Parse splits s. implied names the key of a leading value without "=" (for
// example "type" for -netdev, "driver" for -device); "" allows none.
// Repeating a key is an error.
func Parse(s, implied string) (Opts, error) {
	o := Opts{Values: map[string]string{}}
	parts := splitCommas(s)
	for i, p := range parts {
		k, v, hasEq := strings.Cut(p, "=")
		if !hasEq {
			if i == 0 && implied != "" {
				k, v = implied, p
			} else {
				// A bare key is a boolean switch, as in QEMU.
				v = "on"
			}
		}
		if k == "" {
			return Opts{}, fmt.Errorf("empty option name in %q", s)
		}
		if _, dup := o.Values[k]; dup {
			return Opts{}, fmt.Errorf("option %q given twice in %q", k, s)
		}
		o.Keys = append(o.Keys, k)
		o.Values[k] = v
	}
	return o, nil
}

// splitCommas splits at single commas; ",," is a literal comma.
func splitCommas(s string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			if i+1 < len(s) && s[i+1] == ',' {
				cur.WriteByte(',')
				i++
				continue
			}
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(s[i])
	}
	return append(parts, cur.String())
}

// Get returns the value of k and whether it was given.
func (o Opts) Get(k string) (string, bool) {
	v, ok := o.Values[k]
	return v, ok
}

// Only fails if a key outside known was given, naming it and what is
// accepted.
func (o Opts) Only(known ...string) error {
	for _, k := range o.Keys {
		found := false
		for _, n := range known {
			if k == n {
				found = true
				break
			}
		}
		if !found {
			sorted := append([]string(nil), known...)
			sort.Strings(sorted)
			return fmt.Errorf("unknown option %q (accepted: %s)", k, strings.Join(sorted, ", "))
		}
	}
	return nil
}

// Bool parses QEMU's on/off spellings.
func Bool(v string) (bool, error) {
	switch v {
	case "on", "yes", "true", "y":
		return true, nil
	case "off", "no", "false", "n":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on or off", v)
}

// Size parses a byte count with an optional k, M, G or T suffix (powers of
// 1024; case-insensitive except that a bare number is scaled by defUnit,
// as QEMU's -m takes megabytes).
func Size(s string, defUnit uint64) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	unit := defUnit
	num := s
	switch s[len(s)-1] {
	case 'b', 'B':
		unit, num = 1, s[:len(s)-1]
	case 'k', 'K':
		unit, num = 1<<10, s[:len(s)-1]
	case 'm', 'M':
		unit, num = 1<<20, s[:len(s)-1]
	case 'g', 'G':
		unit, num = 1<<30, s[:len(s)-1]
	case 't', 'T':
		unit, num = 1<<40, s[:len(s)-1]
	}
	if num == "" || num[0] == '-' || num[0] == '+' {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	if strings.Contains(num, ".") {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f < 0 {
			return 0, fmt.Errorf("%q is not a size", s)
		}
		v := f * float64(unit)
		if v >= 1<<63 {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return uint64(v), nil
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	if n > (1<<63)/unit {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * unit, nil
}
