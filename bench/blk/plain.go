//go:build linux

package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// plainSide is the baseline: pread/pwrite on a descriptor of its own.
type plainSide struct {
	fd int
}

func openPlain(path string, direct bool) (*plainSide, error) {
	flags := unix.O_RDWR | unix.O_CLOEXEC
	if direct {
		flags |= unix.O_DIRECT
	}
	fd, err := unix.Open(path, flags, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &plainSide{fd: fd}, nil
}

func (p *plainSide) close() { unix.Close(p.fd) }

// measure runs -jobs goroutines of synchronous I/O for the duration:
// random offsets drawn as the fake driver draws them, or a shared
// sequential cursor.
func (p *plainSide) measure(w workload, o options) (int64, time.Duration, error) {
	var ops atomic.Int64
	var cursor atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	var firstErr atomic.Value
	blocks := o.size / int64(w.bs)
	start := time.Now()
	for j := 0; j < o.jobs; j++ {
		wg.Add(1)
		go func(j int) {
			defer wg.Done()
			buf := alignedBuf(w.bs)
			fillRandom(buf, uint64(j))
			rng := rand.New(rand.NewPCG(uint64(j), 0xb10c))
			n := int64(0)
			for !stop.Load() {
				var off int64
				if w.seq {
					off = (cursor.Add(1) - 1) % blocks * int64(w.bs)
				} else {
					off = rng.Int64N(blocks) * int64(w.bs)
				}
				var err error
				if w.write {
					_, err = unix.Pwrite(p.fd, buf, off)
				} else {
					_, err = unix.Pread(p.fd, buf, off)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					break
				}
				n++
			}
			ops.Add(n)
		}(j)
	}
	time.Sleep(o.duration)
	stop.Store(true)
	wg.Wait()
	el := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	return ops.Load(), el, nil
}

// alignedBuf is n bytes at a page boundary (O_DIRECT needs alignment):
// an anonymous mapping, never freed (the tool makes a few).
func alignedBuf(n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		fail(fmt.Errorf("mmap %d bytes: %w", n, err))
	}
	return b
}

func fillRandom(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0xf111))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
}

// createFile writes size bytes of random data (not a sparse file: reads
// must hit real blocks) and syncs it.
func createFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		fillRandom(buf, uint64(off))
		n := min(int64(len(buf)), size-off)
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
	}
	return f.Sync()
}

// warm reads the whole file once so both sides start with it cached.
func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Read(buf); err != nil {
			return nil
		}
	}
}

// fsType names the filesystem dir is on.
func fsType(dir string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "", fmt.Errorf("statfs %s: %w", dir, err)
	}
	switch uint32(st.Type) {
	case unix.TMPFS_MAGIC:
		return "tmpfs", nil
	case unix.RAMFS_MAGIC:
		return "ramfs", nil
	case unix.EXT4_SUPER_MAGIC:
		return "ext4", nil
	case unix.XFS_SUPER_MAGIC:
		return "xfs", nil
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs", nil
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs", nil
	case unix.NFS_SUPER_MAGIC:
		return "nfs", nil
	}
	return fmt.Sprintf("fs-%#x", uint32(st.Type)), nil
}
