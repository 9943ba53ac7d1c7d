// Package initramfs writes Linux initramfs archives (newc cpio, optionally
// gzip-compressed) with github.com/u-root/u-root/pkg/cpio. Output is
// reproducible: the same inputs give the same bytes (no timestamps, owners
// or host inode numbers are recorded).
package initramfs

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/u-root/u-root/pkg/cpio"
)

// File is one regular file of the archive.
type File struct {
	Path     string // absolute path in the guest
	Perm     uint64 // permission bits: 0o755 for programs, 0o644 otherwise
	HostPath string // copied from here unless Data is set
	Data     []byte
}

// Device is a character device node.
type Device struct {
	Path         string
	Major, Minor uint64
	Perm         uint64
}

// Console is /dev/console, which the kernel opens for init's stdin, stdout
// and stderr before any devtmpfs is mounted: without it init's output
// goes nowhere.
var Console = Device{Path: "/dev/console", Major: 5, Minor: 1, Perm: 0o600}

// Symlink is a symbolic link.
type Symlink struct {
	Path, Target string
}

// Archive describes an initramfs.
type Archive struct {
	Dirs     []string // empty directories to create (mount points)
	Devices  []Device
	Files    []File
	Symlinks []Symlink
	// Gzip compresses at this level (1-9); 0 writes plain cpio, which
	// boots faster where decompression is emulated.
	Gzip int
}

// Write writes a as a newc archive to w. Parent directories of files are
// created as needed.
func Write(w io.Writer, a Archive) (err error) {
	out := w
	var zw *gzip.Writer
	if a.Gzip != 0 {
		if zw, err = gzip.NewWriterLevel(w, a.Gzip); err != nil {
			return fmt.Errorf("initramfs: gzip level %d: %w", a.Gzip, err)
		}
		out = zw
	}
	// The cpio writer issues a write per header, name and padding.
	bw := bufio.NewWriterSize(out, 1<<20)
	rw := cpio.NewDedupWriter(cpio.Newc.Writer(bw))

	var recs []cpio.Record
	for _, d := range a.Dirs {
		if !path.IsAbs(d) {
			return fmt.Errorf("initramfs: directory %q is not absolute", d)
		}
		recs = append(recs, cpio.Directory(cpio.Normalize(d), 0o755))
	}
	for _, d := range a.Devices {
		if !path.IsAbs(d.Path) {
			return fmt.Errorf("initramfs: device %q is not absolute", d.Path)
		}
		recs = append(recs, cpio.CharDev(cpio.Normalize(d.Path), d.Perm, d.Major, d.Minor))
	}
	if err := cpio.WriteRecordsAndDirs(rw, recs); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	// The dedup writer silently skips a directory whose name an earlier
	// file took, which would leave everything meant to go inside it
	// unpackable.
	files := make(map[string]bool, len(a.Files))
	for i, f := range a.Files {
		for d := path.Dir(f.Path); d != "/" && d != "."; d = path.Dir(d) {
			if files[d] {
				return fmt.Errorf("initramfs: %s: %s is a file, not a directory", f.Path, d)
			}
		}
		if err := writeFile(rw, f, uint64(i+1000)); err != nil {
			return fmt.Errorf("initramfs: %s: %w", f.Path, err)
		}
		files[path.Clean(f.Path)] = true
	}
	for _, l := range a.Symlinks {
		if !path.IsAbs(l.Path) {
			return fmt.Errorf("initramfs: link %q is not absolute", l.Path)
		}
		if err := cpio.WriteRecordsAndDirs(rw, []cpio.Record{cpio.Symlink(cpio.Normalize(l.Path), l.Target)}); err != nil {
			return fmt.Errorf("initramfs: %s: %w", l.Path, err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("initramfs trailer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("initramfs gzip: %w", err)
		}
	}
	return nil
}

// WriteFile writes a to a new file at p (replacing it), removing it again
// on failure.
func WriteFile(p string, a Archive) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := Write(f, a); err != nil {
		f.Close()
		os.Remove(p)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

func writeFile(rw cpio.RecordWriter, f File, ino uint64) error {
	if !path.IsAbs(f.Path) {
		return fmt.Errorf("guest path is not absolute")
	}
	info := cpio.Info{
		Name:  cpio.Normalize(f.Path),
		Mode:  cpio.S_IFREG | f.Perm&0o7777,
		NLink: 1,
		Ino:   ino,
	}
	var rec cpio.Record
	if f.Data != nil || f.HostPath == "" {
		rec = cpio.StaticRecord(f.Data, info)
	} else {
		h, err := os.Open(f.HostPath)
		if err != nil {
			return err
		}
		// The cpio writer closes h once it has copied it; this Close is
		// for the paths that return before that.
		defer h.Close()
		st, err := h.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", f.HostPath)
		}
		if st.Size() > 1<<32-1 {
			return fmt.Errorf("%s is larger than newc cpio's 4 GiB limit", f.HostPath)
		}
		info.FileSize = uint64(st.Size())
		rec = cpio.Record{ReaderAt: h, Info: info}
	}
	return cpio.WriteRecordsAndDirs(rw, []cpio.Record{rec})
}
