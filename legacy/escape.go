package legacy

// DefaultEscapeChar is Ctrl-A, QEMU's escape character.
const DefaultEscapeChar = 0x01

// EscapeAction is what an escape sequence on the console input asks for.
type EscapeAction int

// Escape actions.
const (
	EscapeNone EscapeAction = iota // nothing: the byte was forwarded or starts a sequence
	EscapeQuit                     // Ctrl-A x: stop the VM
	EscapeHelp                     // Ctrl-A h: print the escape help on the console
)

// String names the action, for tests and logs.
func (a EscapeAction) String() string {
	switch a {
	case EscapeNone:
		return "none"
	case EscapeQuit:
		return "quit"
	case EscapeHelp:
		return "help"
	}
	return "EscapeAction(?)"
}

// EscapeParser is the console's escape state machine, QEMU's mux_proc_byte
// (chardev/char-mux.c) less the commands govmm has no use for: bytes in,
// bytes for the guest and actions out. It does no I/O, so a sequence split
// across reads works and every case is a table test.
//
//   - Esc x or Esc X: EscapeQuit (QEMU accepts only x).
//   - Esc Esc: one literal Esc byte to the guest.
//   - Esc h or Esc ?: EscapeHelp.
//   - Esc followed by any other byte: both bytes go to the guest. QEMU
//     differs here: it swallows both bytes of an unknown sequence, and runs
//     its own commands for s (commit disks), b (send break), c (monitor) and
//     t (timestamps). govmm has none of those, and passing the pair through
//     keeps Ctrl-A usable in the guest (readline's start-of-line, screen)
//     when the next key is not an escape command.
//
// The zero value is not ready; use NewEscapeParser.
type EscapeParser struct {
	esc     byte
	pending bool // the previous byte was Esc
}

// NewEscapeParser returns a parser for the escape byte esc (0 selects
// DefaultEscapeChar).
func NewEscapeParser(esc byte) *EscapeParser {
	if esc == 0 {
		esc = DefaultEscapeChar
	}
	return &EscapeParser{esc: esc}
}

// Pending reports whether the last byte seen was an unfinished escape.
func (p *EscapeParser) Pending() bool { return p.pending }

// Step consumes one input byte, appends the bytes it releases for the guest
// to dst and returns dst with the action the byte completed.
func (p *EscapeParser) Step(dst []byte, b byte) ([]byte, EscapeAction) {
	if !p.pending {
		if b == p.esc {
			p.pending = true
			return dst, EscapeNone
		}
		return append(dst, b), EscapeNone
	}
	p.pending = false
	switch b {
	case p.esc:
		return append(dst, p.esc), EscapeNone
	case 'x', 'X':
		return dst, EscapeQuit
	case 'h', '?':
		return dst, EscapeHelp
	}
	return append(dst, p.esc, b), EscapeNone
}

// Process runs Step over src. It appends the guest bytes to dst and returns
// them with the actions in the order they were completed. Bytes after a
// quit are still processed; the caller decides whether to send them.
func (p *EscapeParser) Process(dst, src []byte) ([]byte, []EscapeAction) {
	var acts []EscapeAction
	for _, b := range src {
		var a EscapeAction
		dst, a = p.Step(dst, b)
		if a != EscapeNone {
			acts = append(acts, a)
		}
	}
	return dst, acts
}
