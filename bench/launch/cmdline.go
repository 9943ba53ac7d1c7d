package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// splitCommand splits a command line the way a POSIX shell splits words, for
// the subset that command lines in a Makefile variable use: blanks separate
// words, single quotes keep everything literally, double quotes keep blanks
// and honour \" \\ \$ \`, and a backslash outside quotes escapes the next
// byte. There is no expansion of any kind. The tool splits the commands
// itself instead of handing them to /bin/sh so that the traced process is
// the VMM from its first instruction: a shell in between would be one more
// exec to account for.
func splitCommand(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		i       int
		inQuote byte // 0, '\'' or '"'
	)
	for i < len(s) {
		c := s[i]
		switch {
		case inQuote == '\'':
			if c == '\'' {
				inQuote = 0
			} else {
				cur.WriteByte(c)
			}
		case inQuote == '"':
			switch {
			case c == '"':
				inQuote = 0
			case c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'' || c == '"':
			inQuote = c
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("command ends with a lone backslash")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
		i++
	}
	if inQuote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in command", inQuote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// guestRAMFromArgs returns the guest RAM size in bytes given by the -m option
// of a QEMU-style command line, or ok=false when there is none. It accepts the
// forms both VMMs share: "-m 256M", "-m 256" (MiB, as in QEMU), "-m 1G",
// "-m size=256M,slots=2,maxmem=1G" and "-m=256M".
func guestRAMFromArgs(args []string) (bytes uint64, ok bool, err error) {
	for i, a := range args {
		var v string
		switch {
		case (a == "-m" || a == "--m") && i+1 < len(args):
			v = args[i+1]
		case strings.HasPrefix(a, "-m="):
			v = strings.TrimPrefix(a, "-m=")
		default:
			continue
		}
		n, err := parseMemSize(v)
		if err != nil {
			return 0, false, fmt.Errorf("option -m %q: %w", v, err)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// parseMemSize parses a QEMU memory size: a number with an optional one-letter
// suffix, B for bytes or K, M, G, T for binary units (either case); a bare
// number means MiB, as QEMU's -m does. A "size=" key among comma-separated
// options, or an unnamed first option, is also accepted.
func parseMemSize(v string) (uint64, error) {
	if strings.Contains(v, "=") || strings.Contains(v, ",") {
		found := false
		for _, kv := range strings.Split(v, ",") {
			if s, ok := strings.CutPrefix(kv, "size="); ok {
				v, found = s, true
				break
			}
			if !strings.Contains(kv, "=") {
				v, found = kv, true
				break
			}
		}
		if !found {
			return 0, errors.New("no size in memory options")
		}
	}
	s := strings.TrimSpace(v)
	shift := 20 // a bare number is MiB
	if s != "" {
		if i := strings.IndexByte("bBkKmMgGtT", s[len(s)-1]); i >= 0 {
			shift = i / 2 * 10 // pairs of letters: b B, k K, m M, g G, t T
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse memory size: %w", err)
	}
	if n == 0 || n > (^uint64(0))>>shift {
		return 0, fmt.Errorf("memory size %q out of range", v)
	}
	return n << shift, nil
}
