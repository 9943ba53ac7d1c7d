package nestedkvm

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/govmm/govmm/initramfs"
	"github.com/govmm/govmm/internal/nestedkvm/proto"
)

// Test is one program to run in the outer guest, typically a `go test -c` binary.
type Test struct {
	Path    string   // on the host
	Name    string   // in markers and as /bin/<Name> in the guest; default: base name of Path
	Args    []string // e.g. "-test.v", "-test.run", "TestX"
	Env     []string // added to this test's environment
	Timeout time.Duration
}

// File is an extra file copied into the outer initramfs, such as a kernel and an
// initramfs that tests boot as nested guests.
type File struct {
	HostPath  string
	GuestPath string // absolute
}

// Config describes one run.
type Config struct {
	KernelDir   string // from guest/debian-x86-kernel.sh
	HarnessPath string // static build of guest/harness
	Tests       []Test
	Files       []File
	Env         []string                  // added to every test's environment
	Modules     []initramfs.ModuleRequest // default DefaultModules()

	QEMU      string // default "qemu-system-x86_64"
	MemoryMiB int    // default 2048
	CPUs      int    // default 2
	Append    string // extra kernel command line
	// GzipLevel compresses the initramfs; 0 leaves it uncompressed, the
	// default. Under TCG the guest's inflate is emulated and costs more than
	// the bytes it saves, which QEMU loads host-side: measured with a 60 MB
	// initramfs, gzip -1 or -6 reached the harness 1.0 s later (3.5 s against
	// 2.5 s); with 11 MB, 0.15-0.25 s later.
	GzipLevel int
	// Timeout bounds the whole run, boot included; QEMU is killed when it passes.
	Timeout time.Duration
	// Stall kills QEMU when the outer guest prints nothing for that long
	// (0: never). The emulated SVM of QEMU's TCG sometimes wedges the outer
	// guest for good (both of its CPUs spin, no timer or watchdog fires,
	// nothing reaches the console), which no timeout inside it can end.
	Stall time.Duration
	// TestTimeout is the default per-test timeout, enforced by the harness. The
	// default, 12m, lets a test binary's own -test.timeout (10m unless set)
	// fire first: its panic names the test that hung.
	TestTimeout time.Duration

	Console io.Writer // the guest console is copied here as it arrives
	Log     io.Writer // the runner's own progress lines
	// TempDir is where the initramfs is built; default os.TempDir(). KeepTemp
	// leaves the build directory in place for debugging.
	TempDir  string
	KeepTemp bool
}

// Report is the outcome of a run, filled in as far as the run got.
type Report struct {
	Result         *Result
	InitramfsBytes int64
	BuildTime      time.Duration // building the initramfs
	// BootToHarness is wall time from QEMU's start to the harness's READY
	// marker; GuestUptime is the guest's own uptime then, in seconds.
	BootToHarness time.Duration
	GuestUptime   string
	QEMUTime      time.Duration // QEMU's start to its exit
	Total         time.Duration
}

// Run boots the outer guest, runs cfg.Tests in it, and returns nil only if every
// test ran and passed. The report is filled in as far as the run got, also when
// Run returns an error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	rep := &Report{}
	defer func() { rep.Total = time.Since(start) }()
	cfg.setDefaults()
	logf := func(format string, args ...any) { fmt.Fprintf(cfg.Log, "nestedkvm: "+format+"\n", args...) }

	k, err := FindKernel(cfg.KernelDir)
	if err != nil {
		return rep, err
	}
	m, entries, err := plan(k, &cfg)
	if err != nil {
		return rep, err
	}

	dir, err := os.MkdirTemp(cfg.TempDir, "nestedkvm-")
	if err != nil {
		return rep, fmt.Errorf("temp dir: %w", err)
	}
	if cfg.KeepTemp {
		logf("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	initrd := filepath.Join(dir, "initramfs.cpio")
	t := time.Now()
	if err := writeInitramfsFile(initrd, entries, cfg.GzipLevel); err != nil {
		return rep, err
	}
	rep.BuildTime = time.Since(t)
	if st, err := os.Stat(initrd); err == nil {
		rep.InitramfsBytes = st.Size()
	}
	mods := make([]string, len(m.Modules))
	for i, mod := range m.Modules {
		mods[i] = mod.Name
	}
	logf("initramfs: %d files, %.1f MiB (gzip level %d), built in %v; modules: %s",
		len(entries), float64(rep.InitramfsBytes)/(1<<20), cfg.GzipLevel,
		rep.BuildTime.Round(time.Millisecond), strings.Join(mods, " "))

	res, err := boot(ctx, &cfg, k, initrd, m, rep, logf)
	rep.Result = res
	// When QEMU failed or was killed, what the console showed until then still
	// says how far the run got.
	return rep, errors.Join(err, res.Err())
}

func (cfg *Config) setDefaults() {
	if cfg.QEMU == "" {
		cfg.QEMU = "qemu-system-x86_64"
	}
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = 2048
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 2
	}
	if cfg.Modules == nil {
		cfg.Modules = DefaultModules()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Minute
	}
	if cfg.TestTimeout == 0 {
		cfg.TestTimeout = 12 * time.Minute
	}
	if cfg.Console == nil {
		cfg.Console = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
}

// guestModulesDir is where modules sit in the outer guest; the layout mirrors a
// normal system so a person poking at a kept initramfs finds them.
func guestModulesDir(k *Kernel) string { return "/lib/modules/" + k.Release }

// plan decides the initramfs contents and the manifest.
func plan(k *Kernel, cfg *Config) (*proto.Manifest, []Entry, error) {
	if len(cfg.Tests) == 0 {
		return nil, nil, errors.New("no tests to run")
	}
	if err := checkStaticX86(cfg.HarnessPath); err != nil {
		return nil, nil, fmt.Errorf("harness: %w", err)
	}
	nonce, err := newNonce()
	if err != nil {
		return nil, nil, err
	}
	m := &proto.Manifest{Nonce: nonce, Env: cfg.Env}
	entries := []Entry{{Path: "/init", Perm: 0o755, HostPath: cfg.HarnessPath}}

	f, err := os.Open(filepath.Join(k.ModulesDir, "modules.dep"))
	if err != nil {
		return nil, nil, fmt.Errorf("modules.dep: %w", err)
	}
	dep, err := initramfs.ParseModulesDep(f)
	f.Close()
	if err != nil {
		return nil, nil, err
	}
	mods, err := dep.Resolve(cfg.Modules)
	if err != nil {
		return nil, nil, err
	}
	for _, mod := range mods {
		e, err := initramfs.ModuleEntry(k.ModulesDir, guestModulesDir(k), mod.RelPath)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
		m.Modules = append(m.Modules, proto.Module{Name: mod.Name, Path: e.Path, Params: mod.Params})
	}

	for _, t := range cfg.Tests {
		if err := checkStaticX86(t.Path); err != nil {
			return nil, nil, fmt.Errorf("test binary: %w", err)
		}
		name := t.Name
		if name == "" {
			name = filepath.Base(t.Path)
		}
		timeout := t.Timeout
		if timeout == 0 {
			timeout = cfg.TestTimeout
		}
		guest := "/bin/" + name
		entries = append(entries, Entry{Path: guest, Perm: 0o755, HostPath: t.Path})
		m.Commands = append(m.Commands, proto.Command{
			Name: name, Path: guest, Args: t.Args, Env: t.Env, Timeout: proto.Duration(timeout),
		})
	}
	for _, f := range cfg.Files {
		if !path.IsAbs(f.GuestPath) {
			return nil, nil, fmt.Errorf("file %s: guest path %q is not absolute", f.HostPath, f.GuestPath)
		}
		// Executables stay executable (a VMM, a dynamic loader).
		perm := uint64(0o644)
		if st, err := os.Stat(f.HostPath); err == nil && st.Mode()&0o111 != 0 {
			perm = 0o755
		}
		entries = append(entries, Entry{Path: f.GuestPath, Perm: perm, HostPath: f.HostPath})
	}
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	entries = append(entries, Entry{Path: proto.ManifestPath, Perm: 0o644, Data: mj})
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if seen[e.Path] {
			return nil, nil, fmt.Errorf("two files want guest path %s", e.Path)
		}
		seen[e.Path] = true
	}
	return m, entries, nil
}

func newNonce() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("nonce: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// checkStaticX86 rejects what would fail confusingly inside the guest: a
// dynamically linked binary (the initramfs has no libc or loader; exec reports
// "no such file") or one for another architecture.
func checkStaticX86(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%s is for %v, the outer guest is x86-64", p, f.Machine)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; build it with CGO_ENABLED=0", p)
		}
	}
	return nil
}

func writeInitramfsFile(name string, entries []Entry, gzipLevel int) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := WriteInitramfs(f, entries, gzipLevel); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// QEMUArgs returns the command line that boots the outer guest.
func QEMUArgs(cfg *Config, kernel, initrd string) []string {
	// quiet: console output is slow under TCG and the harness prints what
	// matters. panic=-1 with -no-reboot turns a kernel panic into a QEMU exit
	// instead of a hang. -nodefaults drops the NIC, VGA and drives the kernel
	// would otherwise probe; the pc machine's ACPI stays, so power-off exits QEMU.
	cmdline := "console=ttyS0 quiet panic=-1"
	if cfg.Append != "" {
		cmdline += " " + cfg.Append
	}
	return []string{
		"-accel", "tcg",
		"-cpu", "max",
		"-m", fmt.Sprint(cfg.MemoryMiB),
		"-smp", fmt.Sprint(cfg.CPUs),
		"-nodefaults", "-no-user-config",
		"-display", "none",
		"-serial", "stdio",
		"-no-reboot",
		"-kernel", kernel,
		"-initrd", initrd,
		"-append", cmdline,
	}
}

// boot runs QEMU to completion, streaming and parsing its console. Its error is
// about QEMU itself (could not start, exited badly, timed out, interrupted);
// what the tests did is in the Result.
func boot(ctx context.Context, cfg *Config, k *Kernel, initrd string, m *proto.Manifest, rep *Report, logf func(string, ...any)) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	ctx, stall := context.WithCancelCause(ctx)
	defer stall(nil)
	var lastOutput atomicTime
	lastOutput.set(time.Now())
	if cfg.Stall > 0 {
		go func() {
			tick := time.NewTicker(cfg.Stall / 10)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if time.Since(lastOutput.get()) > cfg.Stall {
						stall(ErrStalled)
						return
					}
				}
			}
		}()
	}

	var qemuStart time.Time
	var con lockedWriter
	con.w = cfg.Console
	parser := NewParser(m, func(mk proto.Marker) {
		switch mk.Kind {
		case proto.KindReady:
			rep.BootToHarness = time.Since(qemuStart)
			rep.GuestUptime, _ = mk.Get("uptime")
			con.printf("nestedkvm: outer guest reached the harness %.2fs after QEMU started (guest uptime %ss)\n",
				rep.BootToHarness.Seconds(), rep.GuestUptime)
		}
	})
	stderrTail := &tailBuffer{max: 4 << 10}

	args := QEMUArgs(cfg, k.BootImage(), initrd)
	cmd := exec.CommandContext(ctx, cfg.QEMU, args...)
	cmd.Stdin = nil // /dev/null: QEMU must not put a terminal into raw mode
	cmd.Stdout = &teeWriter{console: &con, parser: parser, last: &lastOutput}
	cmd.Stderr = io.MultiWriter(&con, stderrTail)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: a terminal's ^C reaches only us, and we kill
		// QEMU. Pdeathsig kills it if we die without getting the chance.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	cmd.WaitDelay = 5 * time.Second

	logf("booting: %s", shellJoin(append([]string{cfg.QEMU}, args...)))
	qemuStart = time.Now()
	if err := cmd.Start(); err != nil {
		return parser.Result(), fmt.Errorf("start %s: %w", cfg.QEMU, err)
	}
	werr := cmd.Wait()
	rep.QEMUTime = time.Since(qemuStart)
	parser.Flush()
	res := parser.Result()

	switch {
	case errors.Is(context.Cause(ctx), ErrStalled):
		return res, fmt.Errorf("%w: nothing on its console for %v; QEMU killed", ErrStalled, cfg.Stall)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return res, fmt.Errorf("the run passed its timeout of %v; QEMU killed", cfg.Timeout)
	case ctx.Err() != nil:
		return res, fmt.Errorf("interrupted; QEMU killed: %w", context.Cause(ctx))
	case werr != nil:
		return res, fmt.Errorf("%s: %w: %s", cfg.QEMU, werr, strings.TrimSpace(stderrTail.String()))
	}
	return res, nil
}

// lockedWriter serialises QEMU's stdout and stderr copies onto the console.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(l, format, args...)
}

// teeWriter feeds the parser everything and the console what it will take: a
// console that fails must not stop the parse or block QEMU on a full pipe. It
// passes one line at a time to both, so a note the parser's callback prints
// lands right after the marker line that caused it, not inside a later line.
type teeWriter struct {
	console    io.Writer
	parser     *Parser
	consoleErr bool
	last       *atomicTime // when output last arrived
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n := len(p)
	if t.last != nil {
		t.last.set(time.Now())
	}
	for len(p) > 0 {
		seg := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			seg = p[:i+1]
		}
		p = p[len(seg):]
		if !t.consoleErr {
			if _, err := t.console.Write(seg); err != nil {
				t.consoleErr = true
			}
		}
		_, _ = t.parser.Write(seg)
	}
	return n, nil
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// ParseFileFlag parses "HOST[:GUEST]"; GUEST defaults to /files/<base of HOST>.
func ParseFileFlag(s string) (File, error) {
	host, guest, ok := strings.Cut(s, ":")
	if host == "" {
		return File{}, fmt.Errorf("file %q: empty host path", s)
	}
	if !ok {
		guest = "/files/" + filepath.Base(host)
	}
	if !path.IsAbs(guest) {
		return File{}, fmt.Errorf("file %q: guest path must be absolute", s)
	}
	return File{HostPath: host, GuestPath: guest}, nil
}

// shellJoin quotes args for a shell, so a logged command line can be pasted
// to rerun QEMU by hand.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// ErrStalled is a run whose outer guest stopped printing (Config.Stall).
var ErrStalled = errors.New("the outer guest stalled")

// atomicTime is a time read and written from different goroutines.
type atomicTime struct{ ns atomic.Int64 }

func (a *atomicTime) set(t time.Time) { a.ns.Store(t.UnixNano()) }
func (a *atomicTime) get() time.Time  { return time.Unix(0, a.ns.Load()) }
