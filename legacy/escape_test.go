package legacy

import (
	"slices"
	"testing"
)

func TestEscapeParser(t *testing.T) {
	const ca = "\x01"
	for _, c := range []struct {
		name    string
		reads   []string // input, as the reads that delivered it
		guest   string
		acts    []EscapeAction
		pending bool
	}{
		{"plain", []string{"ls -l\r"}, "ls -l\r", nil, false},
		{"quit", []string{ca + "x"}, "", []EscapeAction{EscapeQuit}, false},
		{"quit upper case", []string{ca + "X"}, "", []EscapeAction{EscapeQuit}, false},
		{"quit after text", []string{"abc" + ca + "x"}, "abc", []EscapeAction{EscapeQuit}, false},
		{"quit split across reads", []string{"abc" + ca, "x"}, "abc", []EscapeAction{EscapeQuit}, false},
		{"literal escape", []string{ca + ca}, ca, nil, false},
		{"literal split across reads", []string{ca, ca}, ca, nil, false},
		{"literal then x is not quit", []string{ca + ca + "x"}, ca + "x", nil, false},
		{"help", []string{ca + "h"}, "", []EscapeAction{EscapeHelp}, false},
		{"help question mark", []string{ca + "?"}, "", []EscapeAction{EscapeHelp}, false},
		{"unknown passes both", []string{ca + "e"}, ca + "e", nil, false},
		{"unknown split", []string{ca, "b", "c"}, ca + "bc", nil, false},
		{"escape at end waits", []string{"ab" + ca}, "ab", nil, true},
		{"help then quit", []string{ca + "h" + "ok" + ca + "x"}, "ok", []EscapeAction{EscapeHelp, EscapeQuit}, false},
		{"byte by byte", []string{"a", ca, ca, "b", ca, "x"}, "a" + ca + "b", []EscapeAction{EscapeQuit}, false},
		{"ctrl-c goes to the guest", []string{"\x03"}, "\x03", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := NewEscapeParser(0)
			var guest []byte
			var acts []EscapeAction
			for _, r := range c.reads {
				var a []EscapeAction
				guest, a = p.Process(guest, []byte(r))
				acts = append(acts, a...)
			}
			if string(guest) != c.guest {
				t.Errorf("guest bytes %q, want %q", guest, c.guest)
			}
			if !slices.Equal(acts, c.acts) {
				t.Errorf("actions %v, want %v", acts, c.acts)
			}
			if p.Pending() != c.pending {
				t.Errorf("Pending() = %v, want %v", p.Pending(), c.pending)
			}
		})
	}
}

func TestEscapeParserCustomChar(t *testing.T) {
	p := NewEscapeParser(0x1d) // Ctrl-]
	guest, acts := p.Process(nil, []byte("\x01x\x1dx"))
	if string(guest) != "\x01x" || !slices.Equal(acts, []EscapeAction{EscapeQuit}) {
		t.Errorf("got %q %v", guest, acts)
	}
	if got := escapeName(0x1d); got != "0x1d" {
		t.Errorf("escapeName(0x1d) = %q", got)
	}
	if got := escapeName(0x01); got != "C-a" {
		t.Errorf("escapeName(0x01) = %q", got)
	}
}
