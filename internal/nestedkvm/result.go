package nestedkvm

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/govmm/govmm/internal/nestedkvm/proto"
)

// maxLine bounds how much of one console line the parser keeps. Markers start
// their line and are short; a command that prints megabytes without a newline
// must not make the parser hold them.
const maxLine = 64 << 10

// CommandResult is what the console showed of one manifest command.
type CommandResult struct {
	Name    string
	Began   bool
	Ended   bool
	Status  string // exit code, or proto.StatusTimeout / StatusSignal / StatusError
	Elapsed string // as the harness measured it, e.g. "1.23s"
}

// Passed reports whether the command ran to completion and exited 0.
func (c CommandResult) Passed() bool { return c.Began && c.Ended && c.Status == "0" }

// Result is what the harness reported, as far as the console showed it. Any part
// can be missing: the guest may die or the output stop anywhere.
type Result struct {
	Ready    bool
	Uptime   string            // guest uptime at READY, in seconds
	Modules  map[string]string // module name -> "ok" or "error"
	Facts    map[string]string
	Commands []CommandResult // one per manifest command, in manifest order
	Summary  *proto.Marker
	Fatal    bool
	// Problems are marker sequences that make no sense (END without BEGIN, a
	// command the manifest does not name); any one fails the run.
	Problems []string

	wantModules []string
}

// Err returns nil only if the harness started, every module loaded, /dev/kvm
// appeared, every command ran and exited 0, and the summary agrees. Otherwise it
// returns every reason found, joined.
func (r *Result) Err() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !r.Ready {
		add("the harness never reported READY: the outer guest did not boot, or /init failed before it read its manifest")
	}
	if r.Fatal {
		add("the harness gave up (FATAL); the console line before the marker says why")
	}
	if r.Ready {
		for _, m := range r.wantModules {
			switch st, ok := r.Modules[m]; {
			case !ok:
				add("module %s: no MODULE marker", m)
			case st != "ok":
				add("module %s failed to load (status=%s)", m, st)
			}
		}
		if v := r.Facts["dev_kvm"]; v != "present" {
			add("/dev/kvm is not present in the outer guest (dev_kvm=%q)", v)
		}
	}
	passed := 0
	for _, c := range r.Commands {
		switch {
		case !c.Began:
			add("%s: never started", c.Name)
		case !c.Ended:
			add("%s: no END marker; its output stops mid-run (guest crash, QEMU exit or run timeout)", c.Name)
		case c.Status == proto.StatusTimeout:
			add("%s: killed at its timeout after %s", c.Name, c.Elapsed)
		case c.Status != "0":
			add("%s: failed (status=%s)", c.Name, c.Status)
		default:
			passed++
		}
	}
	switch {
	case r.Summary == nil:
		if r.Ready && !r.Fatal {
			add("no SUMMARY marker: the harness did not finish")
		}
	default:
		p, _ := r.Summary.Get("passed")
		n, _ := r.Summary.Get("commands")
		if p != strconv.Itoa(passed) || n != strconv.Itoa(len(r.Commands)) {
			add("SUMMARY says commands=%s passed=%s; the markers show %d of %d passed", n, p, passed, len(r.Commands))
		}
	}
	for _, p := range r.Problems {
		add("console protocol: %s", p)
	}
	return errors.Join(errs...)
}

// Parser turns the guest console into a Result. It is an io.Writer so the
// console stream can be teed into it as it arrives.
type Parser struct {
	nonce    string
	res      Result
	index    map[string]int // command name -> index in res.Commands
	line     []byte
	onMarker func(proto.Marker)
}

// NewParser returns a parser for a run of m. onMarker, if not nil, is called for
// every marker as it is parsed (the runner timestamps READY with it).
func NewParser(m *proto.Manifest, onMarker func(proto.Marker)) *Parser {
	p := &Parser{
		nonce:    m.Nonce,
		index:    make(map[string]int, len(m.Commands)),
		onMarker: onMarker,
		res: Result{
			Modules: make(map[string]string),
			Facts:   make(map[string]string),
		},
	}
	for _, mod := range m.Modules {
		p.res.wantModules = append(p.res.wantModules, mod.Name)
	}
	for i, c := range m.Commands {
		p.index[c.Name] = i
		p.res.Commands = append(p.res.Commands, CommandResult{Name: c.Name})
	}
	return p
}

// Write implements io.Writer. It never fails.
func (p *Parser) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.appendLine(b)
			break
		}
		p.appendLine(b[:i])
		p.endLine()
		b = b[i+1:]
	}
	return n, nil
}

// Flush parses a last line that has no newline; call it at end of stream.
func (p *Parser) Flush() {
	if len(p.line) > 0 {
		p.endLine()
	}
}

// Result returns what has been parsed so far.
func (p *Parser) Result() *Result { return &p.res }

func (p *Parser) appendLine(b []byte) {
	if room := maxLine - len(p.line); len(b) > room {
		b = b[:room]
	}
	p.line = append(p.line, b...)
}

func (p *Parser) endLine() {
	// The guest's tty turns "\n" into "\r\n"; a "\r" is never part of a marker.
	line := string(bytes.TrimRight(p.line, "\r"))
	p.line = p.line[:0]
	m, ok := proto.Parse(p.nonce, line)
	if !ok {
		return
	}
	p.apply(m)
	if p.onMarker != nil {
		p.onMarker(m)
	}
}

func (p *Parser) apply(m proto.Marker) {
	r := &p.res
	name := ""
	if len(m.Args) > 0 {
		name = m.Args[0]
	}
	switch m.Kind {
	case proto.KindReady:
		if r.Ready {
			p.problem("READY twice: the guest rebooted")
		}
		r.Ready = true
		r.Uptime, _ = m.Get("uptime")
	case proto.KindModule:
		st, _ := m.Get("status")
		r.Modules[name] = st
	case proto.KindFact:
		for _, a := range m.Args {
			if k, v, ok := strings.Cut(a, "="); ok {
				r.Facts[k] = v
			}
		}
	case proto.KindBegin:
		c := p.command(name, m)
		if c == nil {
			return
		}
		if c.Began {
			p.problem("BEGIN %s twice", name)
		}
		c.Began = true
	case proto.KindEnd:
		c := p.command(name, m)
		if c == nil {
			return
		}
		if !c.Began || c.Ended {
			p.problem("END %s without a matching BEGIN", name)
			return
		}
		c.Ended = true
		c.Status, _ = m.Get("status")
		c.Elapsed, _ = m.Get("elapsed")
	case proto.KindSummary:
		r.Summary = &m
	case proto.KindFatal:
		r.Fatal = true
	default:
		p.problem("unknown marker kind %q", m.Kind)
	}
}

func (p *Parser) command(name string, m proto.Marker) *CommandResult {
	i, ok := p.index[name]
	if !ok {
		p.problem("%s names a command the manifest does not have: %q", m.Kind, name)
		return nil
	}
	return &p.res.Commands[i]
}

func (p *Parser) problem(format string, args ...any) {
	p.res.Problems = append(p.res.Problems, fmt.Sprintf(format, args...))
}
