package linuxuser

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/govmm/govmm/tcg/env"
)

// riscv64 (asm-generic) system call numbers.
const (
	sysGetcwd           = 17
	sysEventfd2         = 19
	sysEpollCreate1     = 20
	sysEpollCtl         = 21
	sysEpollPwait       = 22
	sysFcntl            = 25
	sysIoctl            = 29
	sysFaccessat        = 48
	sysOpenat           = 56
	sysClose            = 57
	sysLseek            = 62
	sysRead             = 63
	sysWrite            = 64
	sysReadv            = 65
	sysWritev           = 66
	sysPread64          = 67
	sysReadlinkat       = 78
	sysNewfstatat       = 79
	sysFstat            = 80
	sysExit             = 93
	sysExitGroup        = 94
	sysSetTidAddress    = 96
	sysFutex            = 98
	sysSetRobustList    = 99
	sysNanosleep        = 101
	sysClockGettime     = 113
	sysClockGetres      = 114
	sysClockNanosleep   = 115
	sysSchedGetaffinity = 123
	sysSchedYield       = 124
	sysKill             = 129
	sysTkill            = 130
	sysTgkill           = 131
	sysSigaltstack      = 132
	sysRtSigaction      = 134
	sysRtSigprocmask    = 135
	sysUname            = 160
	sysGetrlimit        = 163
	sysPrctl            = 167
	sysGettimeofday     = 169
	sysGetpid           = 172
	sysGetppid          = 173
	sysGetuid           = 174
	sysGeteuid          = 175
	sysGetgid           = 176
	sysGetegid          = 177
	sysGettid           = 178
	sysBrk              = 214
	sysMunmap           = 215
	sysMremap           = 216
	sysClone            = 220
	sysMmap             = 222
	sysMprotect         = 226
	sysMadvise          = 233
	sysRiscvHwprobe     = 258
	sysRiscvFlushIcache = 259
	sysPrlimit64        = 261
	sysGetrandom        = 278
	sysRseq             = 293
	sysClone3           = 435
	sysFaccessat2       = 439
)

// Linux errno values.
const (
	ePERM     = 1
	eNOENT    = 2
	eINTR     = 4
	eBADF     = 9
	eAGAIN    = 11
	eNOMEM    = 12
	eACCES    = 13
	eFAULT    = 14
	eEXIST    = 17
	eINVAL    = 22
	eNOTTY    = 25
	eSPIPE    = 29
	eRANGE    = 34
	eNOSYS    = 38
	eTIMEDOUT = 110
)

var sysNames = map[uint64]string{
	sysGetcwd: "getcwd", sysFcntl: "fcntl", sysIoctl: "ioctl", sysOpenat: "openat", sysClose: "close",
	sysRead: "read", sysWrite: "write", sysBrk: "brk", sysMmap: "mmap", sysMunmap: "munmap",
	sysClone: "clone", sysFutex: "futex", 59: "pipe2", 61: "getdents64", 73: "ppoll", 179: "sysinfo",
	221: "execve", 260: "wait4", 198: "socket", 291: "statx", sysClone3: "clone3", sysMremap: "mremap",
	20: "epoll_create1", 21: "epoll_ctl", 22: "epoll_pwait", 24: "dup3", 23: "dup",
}

func sysName(nr uint64) string {
	if n, ok := sysNames[nr]; ok {
		return n
	}
	return fmt.Sprintf("#%d", nr)
}

// syscall runs the system call the thread's hart stopped at (a7 = number,
// a0-a5 = arguments, result in a0). It reports whether the thread is done.
func (t *thread) syscall(ctx context.Context) bool {
	h := t.cpu.Hart
	nr := h.X(17)
	a := [6]uint64{h.X(10), h.X(11), h.X(12), h.X(13), h.X(14), h.X(15)}
	ret, done := t.dispatch(ctx, nr, a)
	if done {
		return true
	}
	h.SetX(10, uint64(ret))
	return false
}

func errno(err error) int64 {
	var en syscall.Errno
	if errors.As(err, &en) {
		return -int64(en)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return -eNOENT
	case errors.Is(err, fs.ErrPermission):
		return -eACCES
	case errors.Is(err, errFault):
		return -eFAULT
	}
	return -eINVAL
}

func (t *thread) dispatch(ctx context.Context, nr uint64, a [6]uint64) (int64, bool) {
	p := t.p
	switch nr {
	case sysWrite:
		if f := p.files.get(int(a[0])); f != nil && f.efd != nil {
			return p.eventfdWrite(f.efd, a[1], a[2]), false
		}
		return p.write(int(a[0]), a[1], a[2]), false
	case sysWritev:
		return p.writev(int(a[0]), a[1], a[2]), false
	case sysRead:
		if f := p.files.get(int(a[0])); f != nil && f.efd != nil {
			return p.eventfdRead(f.efd, a[1], a[2]), false
		}
		return p.read(int(a[0]), a[1], a[2]), false
	case sysEventfd2:
		return p.eventfd2(a[0], a[1]), false
	case sysEpollCreate1:
		return p.epollCreate(), false
	case sysEpollCtl:
		return p.epollCtl(int(a[0]), int(a[1]), int(a[2]), a[3]), false
	case sysEpollPwait:
		return p.epollWait(int(a[0]), a[1], int(int32(a[2])), int64(int32(a[3]))), false
	case sysReadv:
		return p.readv(int(a[0]), a[1], a[2]), false
	case sysPread64:
		return p.pread(int(a[0]), a[1], a[2], int64(a[3])), false
	case sysLseek:
		return p.lseek(int(a[0]), int64(a[1]), int(a[2])), false
	case sysOpenat:
		return p.openat(int32(a[0]), a[1], a[2]), false
	case sysClose:
		if !p.files.close(int(a[0])) {
			return -eBADF, false
		}
		return 0, false
	case sysNewfstatat:
		return p.fstatat(int32(a[0]), a[1], a[2], a[3]), false
	case sysFstat:
		return p.fstatat(int32(a[0]), 0, a[1], atEmptyPath), false
	case sysFcntl:
		f := p.files.get(int(a[0]))
		if f == nil {
			return -eBADF, false
		}
		switch a[1] {
		case 3: // F_GETFL
			if f.w != nil {
				return 1, false // O_WRONLY
			}
			return 0, false
		case 1, 2, 4: // F_GETFD, F_SETFD, F_SETFL
			return 0, false
		}
		return -eINVAL, false
	case sysIoctl:
		if p.files.get(int(a[0])) == nil {
			return -eBADF, false
		}
		return -eNOTTY, false
	case sysExit:
		t.exitThread(int(a[0]))
		return 0, true
	case sysExitGroup:
		p.exit(Result{ExitCode: int(a[0]) & 0xff})
		return 0, true
	case sysSetTidAddress:
		t.clearTID = a[0]
		return int64(t.tid), false
	case sysSetRobustList:
		return 0, false
	case sysRseq, sysClone3, sysMremap, sysRiscvHwprobe:
		// Optional: callers fall back when these fail.
		return -eNOSYS, false
	case sysFutex:
		return t.futexCall(a), false
	case sysClone:
		return t.clone(ctx, a), false
	case sysSchedYield:
		runtime.Gosched()
		return 0, false
	case sysNanosleep:
		d, err := p.timespec(a[0])
		if err != nil {
			return -eFAULT, false
		}
		p.sleep(d)
		return 0, false
	case sysClockNanosleep:
		d, err := p.timespec(a[2])
		if err != nil {
			return -eFAULT, false
		}
		if a[1]&1 != 0 { // TIMER_ABSTIME
			d -= p.clock(int(a[0]))
		}
		p.sleep(d)
		return 0, false
	case sysClockGettime:
		return p.putTimespec(a[1], p.clock(int(a[0]))), false
	case sysClockGetres:
		if a[1] != 0 {
			return p.putTimespec(a[1], 1), false
		}
		return 0, false
	case sysGettimeofday:
		if a[0] != 0 {
			now := time.Now().UnixNano()
			b, err := p.bytes(a[0], 16)
			if err != nil {
				return -eFAULT, false
			}
			binary.LittleEndian.PutUint64(b, uint64(now/1e9))
			binary.LittleEndian.PutUint64(b[8:], uint64(now%1e9/1e3))
		}
		return 0, false
	case sysGetrandom:
		b, err := p.bytes(a[0], a[1])
		if err != nil {
			return -eFAULT, false
		}
		rand.Read(b)
		return int64(len(b)), false
	case sysSchedGetaffinity:
		if a[1] < 8 {
			return -eINVAL, false
		}
		b, err := p.bytes(a[2], 8)
		if err != nil {
			return -eFAULT, false
		}
		n := p.cfg.NCPU
		if n <= 0 {
			n = 1
		}
		if n > 64 {
			n = 64
		}
		binary.LittleEndian.PutUint64(b, uint64(1)<<n-1)
		if n == 64 {
			binary.LittleEndian.PutUint64(b, ^uint64(0))
		}
		return 8, false
	case sysGetpid:
		return 1000, false
	case sysGetppid:
		return 1, false
	case sysGettid:
		return int64(t.tid), false
	case sysGetuid, sysGeteuid, sysGetgid, sysGetegid:
		return 0, false
	case sysUname:
		return p.uname(a[0]), false
	case sysPrlimit64:
		return p.rlimit(int(a[1]), a[3]), false
	case sysGetrlimit:
		return p.rlimit(int(a[0]), a[1]), false
	case sysReadlinkat:
		return p.readlink(a[1], a[2], a[3]), false
	case sysGetcwd:
		wd, err := os.Getwd()
		if err != nil {
			return errno(err), false
		}
		if uint64(len(wd))+1 > a[1] {
			return -eRANGE, false
		}
		b, err := p.bytes(a[0], uint64(len(wd))+1)
		if err != nil {
			return -eFAULT, false
		}
		copy(b, wd)
		b[len(wd)] = 0
		return int64(len(wd)) + 1, false
	case sysFaccessat, sysFaccessat2:
		path, err := p.cstring(a[1])
		if err != nil {
			return -eFAULT, false
		}
		if _, err := os.Stat(path); err != nil {
			return errno(err), false
		}
		return 0, false
	case sysBrk:
		return int64(p.brk(a[0])), false
	case sysMmap:
		return p.mmap(a[0], a[1], a[2], a[3], int64(a[4]), a[5]), false
	case sysMunmap:
		return p.munmap(a[0], a[1]), false
	case sysMprotect:
		return 0, false
	case sysMadvise:
		if a[2] == 4 { // MADV_DONTNEED
			return p.discardRange(a[0], a[1]), false
		}
		return 0, false
	case sysRiscvFlushIcache:
		// Stores to translated code are detected as they happen.
		return 0, false
	case sysPrctl:
		return -eINVAL, false
	case sysSigaltstack:
		if a[1] != 0 {
			b, err := p.bytes(a[1], 24)
			if err != nil {
				return -eFAULT, false
			}
			clear(b)
			binary.LittleEndian.PutUint32(b[8:], 2) // SS_DISABLE
		}
		return 0, false
	case sysRtSigaction:
		if a[2] != 0 {
			b, err := p.bytes(a[2], 24)
			if err != nil {
				return -eFAULT, false
			}
			clear(b)
		}
		return 0, false
	case sysRtSigprocmask:
		if a[2] != 0 {
			b, err := p.bytes(a[2], 8)
			if err != nil {
				return -eFAULT, false
			}
			clear(b)
		}
		return 0, false
	case sysKill, sysTkill, sysTgkill:
		sig := a[1]
		if nr == sysTgkill {
			sig = a[2]
		}
		switch sig {
		case 0, 17, 23, 28: // none, SIGCHLD, SIGURG, SIGWINCH: ignored
			return 0, false
		}
		// Signals are not delivered: a signal sent to the process is
		// fatal, as with the default action of most signals.
		p.exit(Result{ExitCode: 128 + int(sig), Signal: int(sig), Detail: fmt.Sprintf("signal %d sent by the program", sig)})
		return 0, true
	}
	p.warnOnce(fmt.Sprint(nr), fmt.Sprintf("govmm user: unimplemented system call %s, returning ENOSYS", sysName(nr)))
	return -eNOSYS, false
}

func (t *thread) exitThread(code int) {
	p := t.p
	if t.clearTID != 0 {
		if b, err := p.bytes(t.clearTID, 4); err == nil {
			t.cpu.Hart.AtomicRMW(t.clearTID, 4, t.cpu.Hart.MMUIdx(), env.AMOSwap, 0)
			_ = b
			p.futex.wake(t.clearTID, 1, ^uint32(0))
		}
	}
	p.threadExit(t, code)
}

// I/O.

func (p *Process) write(fd int, buf, n uint64) int64 {
	f := p.files.get(fd)
	if f == nil || f.w == nil {
		return -eBADF
	}
	b, err := p.bytes(buf, n)
	if err != nil {
		return -eFAULT
	}
	w, err := f.w.Write(b)
	if err != nil && w == 0 {
		return errno(err)
	}
	return int64(w)
}

func (p *Process) iovecs(iov, cnt uint64) ([][]byte, error) {
	if cnt > 1024 {
		return nil, errors.New("too many iovecs")
	}
	raw, err := p.bytes(iov, cnt*16)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, cnt)
	for i := uint64(0); i < cnt; i++ {
		base := binary.LittleEndian.Uint64(raw[i*16:])
		n := binary.LittleEndian.Uint64(raw[i*16+8:])
		b, err := p.bytes(base, n)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func (p *Process) writev(fd int, iov, cnt uint64) int64 {
	f := p.files.get(fd)
	if f == nil || f.w == nil {
		return -eBADF
	}
	bufs, err := p.iovecs(iov, cnt)
	if err != nil {
		return -eFAULT
	}
	var total int64
	for _, b := range bufs {
		w, err := f.w.Write(b)
		total += int64(w)
		if err != nil {
			if total == 0 {
				return errno(err)
			}
			break
		}
	}
	return total
}

func (p *Process) read(fd int, buf, n uint64) int64 {
	f := p.files.get(fd)
	if f == nil || f.r == nil {
		return -eBADF
	}
	b, err := p.bytes(buf, n)
	if err != nil {
		return -eFAULT
	}
	if n == 0 {
		return 0
	}
	r, err := f.r.Read(b)
	if err != nil && r == 0 {
		if err == io.EOF {
			return 0
		}
		return errno(err)
	}
	return int64(r)
}

func (p *Process) readv(fd int, iov, cnt uint64) int64 {
	f := p.files.get(fd)
	if f == nil || f.r == nil {
		return -eBADF
	}
	bufs, err := p.iovecs(iov, cnt)
	if err != nil {
		return -eFAULT
	}
	var total int64
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		r, err := f.r.Read(b)
		total += int64(r)
		if err != nil || r < len(b) {
			break
		}
	}
	return total
}

func (p *Process) pread(fd int, buf, n uint64, off int64) int64 {
	f := p.files.get(fd)
	if f == nil || f.r == nil {
		return -eBADF
	}
	if f.f == nil {
		return -eSPIPE
	}
	b, err := p.bytes(buf, n)
	if err != nil {
		return -eFAULT
	}
	r, err := f.f.ReadAt(b, off)
	if err != nil && err != io.EOF && r == 0 {
		return errno(err)
	}
	return int64(r)
}

func (p *Process) lseek(fd int, off int64, whence int) int64 {
	f := p.files.get(fd)
	if f == nil {
		return -eBADF
	}
	if f.f == nil {
		return -eSPIPE
	}
	n, err := f.f.Seek(off, whence)
	if err != nil {
		return errno(err)
	}
	return n
}

const atFDCWD = -100
const atEmptyPath = 0x1000

func (p *Process) path(dirfd int32, pathp uint64) (string, int64) {
	path, err := p.cstring(pathp)
	if err != nil {
		return "", -eFAULT
	}
	if !filepath.IsAbs(path) && dirfd != atFDCWD {
		f := p.files.get(int(dirfd))
		if f == nil || f.f == nil {
			return "", -eBADF
		}
		path = filepath.Join(f.path, path)
	}
	return path, 0
}

func (p *Process) openat(dirfd int32, pathp, flags uint64) int64 {
	path, e := p.path(dirfd, pathp)
	if e != 0 {
		return e
	}
	if flags&3 != 0 { // O_WRONLY, O_RDWR
		return -eACCES
	}
	f, err := os.Open(path)
	if err != nil {
		return errno(err)
	}
	return int64(p.files.add(&gfile{r: f, f: f, path: path}))
}

// fstatat fills a riscv64 struct stat (asm-generic/stat.h, 128 bytes).
func (p *Process) fstatat(dirfd int32, pathp, buf, flags uint64) int64 {
	var st syscall.Stat_t
	var path string
	if pathp != 0 {
		var e int64
		if path, e = p.path(dirfd, pathp); e != 0 {
			return e
		}
	}
	if path == "" {
		if flags&atEmptyPath == 0 && pathp != 0 {
			return -eNOENT
		}
		f := p.files.get(int(dirfd))
		if f == nil {
			return -eBADF
		}
		if f.f == nil {
			// A standard stream: a pipe, so the C library buffers it.
			st.Mode = syscall.S_IFIFO | 0o600
			st.Blksize = 4096
		} else if err := syscall.Fstat(int(f.f.Fd()), &st); err != nil {
			return errno(err)
		}
	} else {
		var err error
		if flags&0x100 != 0 { // AT_SYMLINK_NOFOLLOW
			err = syscall.Lstat(path, &st)
		} else {
			err = syscall.Stat(path, &st)
		}
		if err != nil {
			return errno(err)
		}
	}
	b, err := p.bytes(buf, 128)
	if err != nil {
		return -eFAULT
	}
	clear(b)
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(st.Dev))
	le.PutUint64(b[8:], st.Ino)
	le.PutUint32(b[16:], st.Mode)
	le.PutUint32(b[20:], uint32(st.Nlink))
	le.PutUint32(b[24:], st.Uid)
	le.PutUint32(b[28:], st.Gid)
	le.PutUint64(b[32:], uint64(st.Rdev))
	le.PutUint64(b[48:], uint64(st.Size))
	le.PutUint32(b[56:], uint32(st.Blksize))
	le.PutUint64(b[64:], uint64(st.Blocks))
	le.PutUint64(b[72:], uint64(st.Atim.Sec))
	le.PutUint64(b[80:], uint64(st.Atim.Nsec))
	le.PutUint64(b[88:], uint64(st.Mtim.Sec))
	le.PutUint64(b[96:], uint64(st.Mtim.Nsec))
	le.PutUint64(b[104:], uint64(st.Ctim.Sec))
	le.PutUint64(b[112:], uint64(st.Ctim.Nsec))
	return 0
}

func (p *Process) readlink(pathp, buf, size uint64) int64 {
	path, err := p.cstring(pathp)
	if err != nil {
		return -eFAULT
	}
	var target string
	if path == "/proc/self/exe" {
		target, err = filepath.Abs(p.exePath)
	} else {
		target, err = os.Readlink(path)
	}
	if err != nil {
		return errno(err)
	}
	n := uint64(len(target))
	if n > size {
		n = size
	}
	b, err := p.bytes(buf, n)
	if err != nil {
		return -eFAULT
	}
	copy(b, target)
	return int64(n)
}

func (p *Process) uname(buf uint64) int64 {
	b, err := p.bytes(buf, 65*6)
	if err != nil {
		return -eFAULT
	}
	clear(b)
	for i, s := range []string{"Linux", "govmm", "6.1.0", "#1 SMP govmm user", "riscv64", "(none)"} {
		copy(b[65*i:], s)
	}
	return 0
}

func (p *Process) rlimit(resource int, old uint64) int64 {
	if old == 0 {
		return 0
	}
	b, err := p.bytes(old, 16)
	if err != nil {
		return -eFAULT
	}
	cur, max := ^uint64(0), ^uint64(0)
	switch resource {
	case 3: // RLIMIT_STACK
		cur = stackSize
	case 7: // RLIMIT_NOFILE
		cur, max = 1024, 4096
	}
	binary.LittleEndian.PutUint64(b, cur)
	binary.LittleEndian.PutUint64(b[8:], max)
	return 0
}

// Time.

var monoBase = time.Now()

// clock returns the time of a Linux clock in nanoseconds.
func (p *Process) clock(id int) time.Duration {
	switch id {
	case 0, 5, 8: // REALTIME, REALTIME_COARSE, REALTIME_ALARM
		return time.Duration(time.Now().UnixNano())
	}
	// Monotonic clocks start at an arbitrary but positive base.
	return time.Since(monoBase) + time.Hour
}

func (p *Process) timespec(va uint64) (time.Duration, error) {
	b, err := p.bytes(va, 16)
	if err != nil {
		return 0, err
	}
	sec := int64(binary.LittleEndian.Uint64(b))
	nsec := int64(binary.LittleEndian.Uint64(b[8:]))
	return time.Duration(sec)*time.Second + time.Duration(nsec), nil
}

func (p *Process) putTimespec(va uint64, d time.Duration) int64 {
	b, err := p.bytes(va, 16)
	if err != nil {
		return -eFAULT
	}
	binary.LittleEndian.PutUint64(b, uint64(d/time.Second))
	binary.LittleEndian.PutUint64(b[8:], uint64(d%time.Second))
	return 0
}

func (p *Process) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-p.done:
	}
}

// Memory.

func pageUp(n uint64) uint64 { return (n + env.PageMask) &^ env.PageMask }

func (p *Process) brk(addr uint64) uint64 {
	as := &p.as
	as.mu.Lock()
	defer as.mu.Unlock()
	if addr < as.brkStart || addr >= as.size {
		return as.brk
	}
	oldTop, newTop := pageUp(as.brk), pageUp(addr)
	if newTop > oldTop {
		for _, v := range as.vmas {
			if v.start < newTop && oldTop < v.end {
				return as.brk // would run into a mapping
			}
		}
	} else if newTop < oldTop {
		discard(p.host[newTop:oldTop])
	}
	as.brk = addr
	return addr
}

const (
	mapFixed          = 0x10
	mapAnonymous      = 0x20
	mapFixedNoreplace = 0x100000
)

func (p *Process) mmap(addr, length, prot, flags uint64, fd int64, off uint64) int64 {
	if length == 0 {
		return -eINVAL
	}
	n := pageUp(length)
	if n < length {
		return -eNOMEM
	}
	var start uint64
	switch {
	case flags&(mapFixed|mapFixedNoreplace) != 0:
		if addr&env.PageMask != 0 || addr < lowLimit || addr+n > p.as.size || addr+n < addr {
			return -eINVAL
		}
		if flags&mapFixedNoreplace != 0 {
			p.as.mu.Lock()
			free := p.as.freeLocked(addr, n)
			p.as.mu.Unlock()
			if !free {
				return -eEXIST
			}
		}
		p.discardRange(addr, n)
		p.as.mapFixed(addr, n)
		start = addr
	default:
		start = p.as.alloc(addr, n)
		if start == 0 {
			return -eNOMEM
		}
	}
	if flags&mapAnonymous == 0 {
		f := p.files.get(int(fd))
		if f == nil || f.f == nil {
			p.munmap(start, n)
			return -eBADF
		}
		b, _ := p.bytes(start, length)
		if _, err := f.f.ReadAt(b, int64(off)); err != nil && err != io.EOF {
			p.munmap(start, n)
			return errno(err)
		}
	}
	return int64(start)
}

func (p *Process) munmap(addr, length uint64) int64 {
	if addr&env.PageMask != 0 || length == 0 {
		return -eINVAL
	}
	n := pageUp(length)
	if addr < lowLimit || addr+n > p.as.size || addr+n < addr {
		return -eINVAL
	}
	p.discardRange(addr, n)
	p.as.unmap(addr, n)
	return 0
}

// discardRange zeroes guest memory by giving the host pages back, and
// drops translated code there.
func (p *Process) discardRange(addr, length uint64) int64 {
	n := pageUp(length)
	if addr&env.PageMask != 0 || addr < lowLimit || addr+n > p.as.size || addr+n < addr {
		return -eINVAL
	}
	discard(p.host[addr : addr+n])
	p.mem.CodeWritten(addr, n)
	return 0
}

// Futexes.

const (
	futexWait       = 0
	futexWake       = 1
	futexWaitBitset = 9
	futexWakeBitset = 10
)

func (t *thread) futexCall(a [6]uint64) int64 {
	p := t.p
	addr, op, val := a[0], a[1]&0x7f, uint32(a[2])
	if addr&3 != 0 {
		return -eINVAL
	}
	h := t.cpu.Hart
	switch op {
	case futexWait, futexWaitBitset:
		mask := ^uint32(0)
		if op == futexWaitBitset {
			mask = uint32(a[5])
			if mask == 0 {
				return -eINVAL
			}
		}
		var timeout time.Duration
		if a[3] != 0 {
			d, err := p.timespec(a[3])
			if err != nil {
				return -eFAULT
			}
			if op == futexWaitBitset { // absolute
				clk := 1
				if a[1]&256 != 0 {
					clk = 0
				}
				d -= p.clock(clk)
				if d <= 0 {
					return -eTIMEDOUT
				}
			}
			timeout = d
			if timeout <= 0 {
				timeout = 1
			}
		}
		fault := false
		check := func() bool {
			v, ok := h.AtomicLoad(addr, 4, h.MMUIdx())
			if !ok {
				h.Exc = env.Exception{}
				fault = true
				return false
			}
			return uint32(v) == val
		}
		r := p.futex.wait(addr, mask, check, timeout)
		if fault {
			return -eFAULT
		}
		return r
	case futexWake, futexWakeBitset:
		mask := ^uint32(0)
		if op == futexWakeBitset {
			mask = uint32(a[5])
		}
		return int64(p.futex.wake(addr, int(int32(val)), mask))
	}
	return -eNOSYS
}

// Threads.

const (
	cloneVM            = 0x100
	cloneThread        = 0x10000
	cloneSettls        = 0x80000
	cloneParentSettid  = 0x100000
	cloneChildCleartid = 0x200000
	cloneChildSettid   = 0x1000000
)

func (t *thread) clone(ctx context.Context, a [6]uint64) int64 {
	p := t.p
	flags, newsp, ptid, tls, ctid := a[0], a[1], a[2], a[3], a[4]
	if flags&cloneVM == 0 || flags&cloneThread == 0 {
		p.warnOnce("fork", "govmm user: fork (clone without CLONE_VM|CLONE_THREAD) is not supported")
		return -eNOSYS
	}
	nt, err := p.newThread()
	if err != nil {
		return -eNOMEM
	}
	src, dst := t.cpu.Hart, nt.cpu.Hart
	dst.R = src.R
	dst.PC = src.PC
	dst.FFlags, dst.FRM = src.FFlags, src.FRM
	dst.SetX(10, 0)
	if newsp != 0 {
		dst.SetX(2, newsp)
	}
	if flags&cloneSettls != 0 {
		dst.SetX(4, tls)
	}
	put32 := func(va uint64, v uint32) {
		if b, err := p.bytes(va, 4); err == nil {
			binary.LittleEndian.PutUint32(b, v)
		}
	}
	if flags&cloneParentSettid != 0 {
		put32(ptid, uint32(nt.tid))
	}
	if flags&cloneChildSettid != 0 {
		put32(ctid, uint32(nt.tid))
	}
	if flags&cloneChildCleartid != 0 {
		nt.clearTID = ctid
	}
	p.start(ctx, nt)
	return int64(nt.tid)
}
