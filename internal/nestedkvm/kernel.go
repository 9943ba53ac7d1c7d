// Package nestedkvm runs test binaries that need a hardware-style KVM inside an
// outer x86-64 guest of qemu-system-x86_64 under pure TCG emulation, where kvm
// and kvm_amd (nested=1) give a real /dev/kvm. The development machines' own
// /dev/kvm is PVM and cannot boot x86 Linux (PLATFORM.md): those tests skip
// there and run here.
//
// The flow: Run builds an initramfs holding the harness (guest/harness) as
// /init, the modules kvm_amd needs, the test binaries and extra files, and a
// manifest (package proto); boots Debian's stock kernel on it under QEMU;
// streams the guest console to the caller as it comes; and turns the harness's
// marker lines into a pass or a failure.
package nestedkvm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Kernel is an unpacked Debian kernel package, as guest/debian-x86-kernel.sh
// leaves it: boot/vmlinuz-<release>, usually boot/vmlinux-<release>, and
// lib/modules/<release>/ with modules.dep.
type Kernel struct {
	Dir        string // the directory the fetch script printed
	Release    string // e.g. "6.1.0-56-amd64"
	Vmlinuz    string // Dir/boot/vmlinuz-<Release>, the bzImage
	Vmlinux    string // Dir/boot/vmlinux-<Release>, the same kernel as an ELF; "" if absent
	ModulesDir string // Dir/lib/modules/<Release>
}

// BootImage returns what QEMU should boot: the uncompressed ELF if there is one,
// which QEMU enters through PVH, skipping the bzImage's decompressor (3 s or
// more of emulated xz under TCG), else the bzImage.
func (k *Kernel) BootImage() string {
	if k.Vmlinux != "" {
		return k.Vmlinux
	}
	return k.Vmlinuz
}

// FindKernel locates the kernel and its modules in dir.
func FindKernel(dir string) (*Kernel, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if err != nil {
		return nil, fmt.Errorf("find vmlinuz: %w", err)
	}
	if len(matches) != 1 {
		return nil, fmt.Errorf("kernel dir %s: want exactly one boot/vmlinuz-*, found %d (run guest/debian-x86-kernel.sh)", dir, len(matches))
	}
	release := strings.TrimPrefix(filepath.Base(matches[0]), "vmlinuz-")
	k := &Kernel{
		Dir:        dir,
		Release:    release,
		Vmlinuz:    matches[0],
		ModulesDir: filepath.Join(dir, "lib", "modules", release),
	}
	if vmlinux := filepath.Join(dir, "boot", "vmlinux-"+release); fileExists(vmlinux) {
		k.Vmlinux = vmlinux
	}
	if _, err := os.Stat(filepath.Join(k.ModulesDir, "modules.dep")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("kernel dir %s has no lib/modules/%s/modules.dep (the .deb ships none; the fetch script runs depmod): %w", dir, release, err)
		}
		return nil, fmt.Errorf("kernel dir %s: %w", dir, err)
	}
	return k, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
