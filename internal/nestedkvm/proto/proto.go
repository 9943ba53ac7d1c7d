// Package proto is the contract between the nested-KVM host runner
// (internal/nestedkvm) and the harness that runs as /init in the outer guest
// (guest/harness): the manifest the host writes into the initramfs, and the marker
// lines the harness prints on the serial console.
//
// The two sides are separate binaries built from one tree, so the format lives
// here once rather than being kept in sync by hand. The package has no
// dependencies beyond the standard library because it is linked into /init.
package proto

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// ManifestPath is where the harness reads its manifest inside the outer guest.
const ManifestPath = "/harness/manifest.json"

// EnvInside is set to "1" in the environment of every command the harness
// runs. A test that skips where there is no hardware-style KVM should fail
// instead when it is set: inside the harness a skip would pass silently.
const EnvInside = "GOVMM_NESTEDKVM"

// Manifest tells the harness what to load and what to run.
type Manifest struct {
	// Nonce is a random token the host picks per run. Every marker line carries
	// it, so output of a test binary that happens to contain marker-like text
	// (a test of the marker parser, say) can never be mistaken for a marker.
	Nonce string `json:"nonce"`
	// Modules are loaded in order, before any command runs; dependencies come
	// first. A module that fails to load aborts the run: tests that need KVM
	// would otherwise skip and look like passes.
	Modules []Module `json:"modules"`
	// Env is added to every command's environment.
	Env []string `json:"env,omitempty"`
	// Commands run one after another, in order.
	Commands []Command `json:"commands"`
}

// Module is one kernel module to load with finit_module(2).
type Module struct {
	Name   string `json:"name"`             // module name, e.g. "kvm_amd"
	Path   string `json:"path"`             // absolute path in the guest
	Params string `json:"params,omitempty"` // e.g. "nested=1"
}

// Command is one program the harness runs, typically a test binary.
type Command struct {
	// Name identifies the command in markers: no whitespace, unique per manifest.
	Name    string   `json:"name"`
	Path    string   `json:"path"`
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"`
	Dir     string   `json:"dir,omitempty"` // working directory; the harness picks one if empty
	Timeout Duration `json:"timeout"`       // the command is killed when it runs longer
}

// Duration is a time.Duration that reads and writes JSON as "90s" rather than
// as nanoseconds, so a manifest stays readable when someone debugs a run.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"90s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("invalid manifest")

// Validate checks what the harness relies on: names that fit in a marker line,
// absolute paths, positive timeouts.
func (m *Manifest) Validate() error {
	if !isToken(m.Nonce) {
		return fmt.Errorf("%w: nonce %q must be a non-empty word", ErrInvalid, m.Nonce)
	}
	for i, mod := range m.Modules {
		if !isToken(mod.Name) {
			return fmt.Errorf("%w: module %d: name %q must be a non-empty word", ErrInvalid, i, mod.Name)
		}
		if !path.IsAbs(mod.Path) {
			return fmt.Errorf("%w: module %s: path %q is not absolute", ErrInvalid, mod.Name, mod.Path)
		}
	}
	seen := make(map[string]bool, len(m.Commands))
	for i, c := range m.Commands {
		if !isToken(c.Name) {
			return fmt.Errorf("%w: command %d: name %q must be a non-empty word", ErrInvalid, i, c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("%w: command name %q used twice", ErrInvalid, c.Name)
		}
		seen[c.Name] = true
		if !path.IsAbs(c.Path) {
			return fmt.Errorf("%w: command %s: path %q is not absolute", ErrInvalid, c.Name, c.Path)
		}
		if c.Timeout <= 0 {
			return fmt.Errorf("%w: command %s: timeout must be positive", ErrInvalid, c.Name)
		}
	}
	return nil
}

// isToken reports whether s can stand as one word of a marker line.
func isToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n") && !strings.Contains(s, "=")
}

// Marker kinds, in the order a healthy run prints them.
const (
	// KindReady: the harness started; args "uptime=<seconds>" (guest uptime).
	KindReady = "READY"
	// KindModule: one module load; args "<name> status=ok|error".
	KindModule = "MODULE"
	// KindFact: one observation about the guest; args "<key>=<value>".
	KindFact = "FACT"
	// KindBegin: a command starts; args "<name>".
	KindBegin = "BEGIN"
	// KindEnd: a command ended; args "<name> status=<exit code>|timeout|signal|error
	// elapsed=<seconds>".
	KindEnd = "END"
	// KindSummary: all commands ran; args "commands=N passed=N failed=N".
	KindSummary = "SUMMARY"
	// KindFatal: the harness gave up (bad manifest, module failed); no args. The
	// human-readable reason is on the console line before it.
	KindFatal = "FATAL"
)

// Status values of an END marker other than an exit code.
const (
	StatusTimeout = "timeout" // killed at its timeout
	StatusSignal  = "signal"  // died of a signal it did not ask for
	StatusError   = "error"   // could not be started
)

// Marker is one parsed marker line.
type Marker struct {
	Kind string
	Args []string // the words after the kind
}

// Get returns the value of the first "key=value" argument.
func (m Marker) Get(key string) (string, bool) {
	for _, a := range m.Args {
		if k, v, ok := strings.Cut(a, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// prefix is what every marker line starts with; the nonce follows it.
const prefix = "=== HARNESS "

// Format returns a marker line without its newline, e.g.
// "=== HARNESS 1f2e3d4c BEGIN probe.test". Arguments must be words (isToken
// for names, "key=value" otherwise); the harness only passes such.
func Format(nonce, kind string, args ...string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString(nonce)
	b.WriteByte(' ')
	b.WriteString(kind)
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(a)
	}
	return b.String()
}

// Parse finds a marker carrying nonce in one console line. It looks anywhere in
// the line, not only at its start: a kernel message or a command's output with
// no trailing newline can sit in front of a marker on the same line. The nonce
// makes such a search safe.
func Parse(nonce, line string) (Marker, bool) {
	lead := prefix + nonce + " "
	i := strings.Index(line, lead)
	if i < 0 || nonce == "" {
		return Marker{}, false
	}
	words := strings.Fields(line[i+len(lead):])
	if len(words) == 0 {
		return Marker{}, false
	}
	return Marker{Kind: words[0], Args: words[1:]}, true
}
