package nestedkvm

import (
	"io"

	"github.com/govmm/govmm/initramfs"
)

// Entry is one regular file of the outer initramfs.
type Entry = initramfs.File

// WriteInitramfs writes a newc cpio archive holding entries, their parent
// directories, the harness's mount points and /dev/console. gzipLevel 0
// writes the archive uncompressed; 1-9 gzip it at that level.
func WriteInitramfs(w io.Writer, entries []Entry, gzipLevel int) error {
	return initramfs.Write(w, initramfs.Archive{
		// The harness mounts on these; making them in the archive keeps
		// /init from depending on a writable root to create them.
		Dirs:    []string{"/proc", "/sys", "/dev", "/tmp"},
		Devices: []initramfs.Device{initramfs.Console},
		Files:   entries,
		Gzip:    gzipLevel,
	})
}

// DefaultModules returns what gives the outer guest a hardware-style /dev/kvm on
// QEMU's emulated SVM: kvm_amd, which brings kvm, irqbypass and ccp along.
// nested=1 is the 6.1 default already; it is spelled out because the tests
// depend on it.
func DefaultModules() []initramfs.ModuleRequest {
	return []initramfs.ModuleRequest{{Name: "kvm_amd", Params: "nested=1"}}
}
