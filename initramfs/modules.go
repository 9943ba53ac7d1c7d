package initramfs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"
)

// ModuleRequest names a module to load, with its parameters.
// Its dependencies are found in modules.dep and loaded first, without
// parameters.
type ModuleRequest struct {
	Name   string // "kvm_amd" or "kvm-amd": both spellings name the same module
	Params string // e.g. "nested=1"
}

// Module is one module to load, resolved to its file.
type Module struct {
	Name    string // canonical name: "kvm_amd"
	RelPath string // relative to lib/modules/<release>: "kernel/arch/x86/kvm/kvm-amd.ko"
	Params  string
}

// ModulesDep is a parsed modules.dep: canonical module name to its entry.
type ModulesDep map[string]depEntry

type depEntry struct {
	path string   // relative to lib/modules/<release>
	deps []string // relative paths, as modules.dep lists them
}

// ModuleName returns the canonical name of the module stored at p: the base name
// without ".ko" and any compression suffix, with '-' spelled '_' as the kernel
// spells it (/sys/module/kvm_amd for kvm-amd.ko).
func ModuleName(p string) string {
	base := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.TrimSuffix(base, ".ko")
	return strings.ReplaceAll(base, "-", "_")
}

// ParseModulesDep reads modules.dep. Each line is
// "kernel/a/b.ko: kernel/c/d.ko kernel/e/f.ko", listing every module the first
// one needs, directly or not; comments and blank lines are ignored.
func ParseModulesDep(r io.Reader) (ModulesDep, error) {
	dep := make(ModulesDep)
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mod, rest, ok := strings.Cut(line, ":")
		mod = strings.TrimSpace(mod)
		if !ok || mod == "" {
			return nil, fmt.Errorf("modules.dep line %d: want \"module: deps...\", got %q", n, line)
		}
		name := ModuleName(mod)
		if prev, dup := dep[name]; dup {
			return nil, fmt.Errorf("modules.dep line %d: module %s listed twice (%s and %s)", n, name, prev.path, mod)
		}
		dep[name] = depEntry{path: mod, deps: strings.Fields(rest)}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	return dep, nil
}

// Resolve returns the modules to load, in an order where each comes after
// everything it depends on, requested ones in the order given. A module needed
// twice is loaded once; a module both requested and needed as a dependency keeps
// the requested parameters.
func (d ModulesDep) Resolve(reqs []ModuleRequest) ([]Module, error) {
	params := make(map[string]string, len(reqs))
	for _, r := range reqs {
		params[ModuleName(r.Name)] = r.Params
	}
	const (
		visiting = 1
		done     = 2
	)
	state := make(map[string]int)
	var out []Module
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("modules.dep has a dependency cycle: %s -> %s", strings.Join(chain, " -> "), name)
		}
		e, ok := d[name]
		if !ok {
			if len(chain) == 0 {
				return fmt.Errorf("module %s is not in modules.dep (built in, or not in this kernel)", name)
			}
			return fmt.Errorf("module %s, needed as %s -> %s, is not in modules.dep", name, strings.Join(chain, " -> "), name)
		}
		state[name] = visiting
		chain = append(chain, name)
		// modules.dep lists dependencies transitively; visiting each one's own
		// line as well orders them correctly whatever order the line uses.
		for _, p := range e.deps {
			if err := visit(ModuleName(p), chain); err != nil {
				return err
			}
		}
		state[name] = done
		out = append(out, Module{Name: name, RelPath: e.path, Params: params[name]})
		return nil
	}
	for _, r := range reqs {
		if err := visit(ModuleName(r.Name), nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ModuleEntry returns the initramfs entry for a module file of the kernel
// package, decompressed if it is compressed: Debian 6.1 ships plain .ko files,
// but its kernel has no CONFIG_MODULE_DECOMPRESS, so a compressed module (as
// other kernels ship) could not be loaded with finit_module as it is.
// guestDir is the module directory in the guest, e.g. /lib/modules/<release>.
func ModuleEntry(hostModulesDir, guestDir, relPath string) (File, error) {
	host := path.Join(hostModulesDir, relPath)
	var decompress []string
	switch path.Ext(relPath) {
	case ".ko":
		return File{Path: path.Join(guestDir, relPath), Perm: 0o644, HostPath: host}, nil
	case ".gz":
		decompress = nil // the standard library does gzip
	case ".xz":
		decompress = []string{"xz", "-dc", host}
	case ".zst":
		decompress = []string{"zstd", "-qdc", host}
	default:
		return File{}, fmt.Errorf("module %s: unknown file type", relPath)
	}
	data, err := decompressFile(host, decompress)
	if err != nil {
		return File{}, fmt.Errorf("decompress module %s: %w", relPath, err)
	}
	guest := path.Join(guestDir, strings.TrimSuffix(relPath, path.Ext(relPath)))
	return File{Path: guest, Perm: 0o644, Data: data}, nil
}

func decompressFile(host string, argv []string) ([]byte, error) {
	if argv != nil {
		var stderr bytes.Buffer
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
	f, err := os.Open(host)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

// LoadOrder is where an archive lists its modules for guest/init, one path
// relative to /lib/modules per line, in load order.
const LoadOrder = "/lib/modules/load-order"

// AddModules resolves the named modules (and what they need) in the
// kernel's module directory modDir (lib/modules/<release>, with
// modules.dep) and adds them and the load-order list to a.
func (a *Archive) AddModules(modDir string, names []string) error {
	f, err := os.Open(path.Join(modDir, "modules.dep"))
	if err != nil {
		return fmt.Errorf("modules: %w", err)
	}
	dep, err := ParseModulesDep(f)
	f.Close()
	if err != nil {
		return err
	}
	var reqs []ModuleRequest
	for _, n := range names {
		reqs = append(reqs, ModuleRequest{Name: n})
	}
	mods, err := dep.Resolve(reqs)
	if err != nil {
		return err
	}
	release := path.Base(path.Clean(modDir))
	var order strings.Builder
	for _, m := range mods {
		e, err := ModuleEntry(modDir, "/lib/modules/"+release, m.RelPath)
		if err != nil {
			return err
		}
		a.Files = append(a.Files, e)
		order.WriteString(strings.TrimPrefix(e.Path, "/lib/modules/") + "\n")
	}
	a.Files = append(a.Files, File{Path: LoadOrder, Perm: 0o644, Data: []byte(order.String())})
	return nil
}
