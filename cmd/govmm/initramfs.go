package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/govmm/govmm/initramfs"
)

// fileFlags collects -file HOST:GUEST.
type fileFlags []initramfs.File

func (f *fileFlags) String() string { return "" }
func (f *fileFlags) Set(s string) error {
	host, guest, ok := strings.Cut(s, ":")
	if !ok || host == "" || !path.IsAbs(guest) {
		return fmt.Errorf("%q: want HOST:GUEST with an absolute guest path", s)
	}
	perm := uint64(0o644)
	if st, err := os.Stat(host); err == nil && st.Mode()&0o111 != 0 {
		perm = 0o755
	}
	*f = append(*f, initramfs.File{Path: guest, Perm: perm, HostPath: host})
	return nil
}

// initramfsCmd is `govmm initramfs -o FILE -init PATH [-file HOST:GUEST]...`.
func initramfsCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("govmm initramfs", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("o", "", "output file (required)")
	initPath := fs.String("init", "", "program to run as /init (a static binary)")
	gz := fs.Int("gzip", 0, "gzip level 1-9; 0 writes plain cpio")
	var files fileFlags
	fs.Var(&files, "file", "HOST:GUEST file to add (repeatable)")
	applets := fs.Bool("applets", false, "link the default guest's tools (true, false, echo, cat, uname, sleep) in /bin to /init")
	modDir := fs.String("modules-dir", "", "the guest kernel's lib/modules/RELEASE, for -modules")
	modules := fs.String("modules", "", "comma-separated modules to add, with what they need, and load at boot")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stdout, "usage: govmm initramfs -o FILE [-init PATH] [-applets] [-file HOST:GUEST]... [-modules-dir DIR -modules LIST] [-gzip N]")
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "govmm initramfs: %v\n", err)
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "govmm initramfs: usage: govmm initramfs -o FILE [-init PATH] [-file HOST:GUEST]... [-gzip N]")
		return 2
	}
	a := initramfs.Archive{
		Dirs:    []string{"/proc", "/sys", "/dev", "/tmp"},
		Devices: []initramfs.Device{initramfs.Console},
		Files:   files,
		Gzip:    *gz,
	}
	if *initPath != "" {
		a.Files = append([]initramfs.File{{Path: "/init", Perm: 0o755, HostPath: *initPath}}, a.Files...)
	}
	if *applets {
		for _, name := range []string{"true", "false", "echo", "cat", "uname", "sleep"} {
			a.Symlinks = append(a.Symlinks, initramfs.Symlink{Path: "/bin/" + name, Target: "/init"})
		}
	}
	if *modules != "" {
		if *modDir == "" {
			fmt.Fprintln(stderr, "govmm initramfs: -modules needs -modules-dir")
			return 2
		}
		if err := a.AddModules(*modDir, strings.Split(*modules, ",")); err != nil {
			fmt.Fprintf(stderr, "govmm initramfs: %v\n", err)
			return 2
		}
	}
	if err := initramfs.WriteFile(*out, a); err != nil {
		fmt.Fprintf(stderr, "govmm initramfs: %v\n", err)
		return 2
	}
	return 0
}
