package linuxuser

import (
	"io"
	"os"
	"sync"
)

// fileTable maps guest file descriptors to host streams: 0-2 are the
// configured stdin, stdout and stderr; files the guest opens are host
// files, read-only.
type fileTable struct {
	mu    sync.Mutex
	files map[int]*gfile
	next  int
}

type gfile struct {
	r    io.Reader
	w    io.Writer
	f    *os.File // host file, or nil for the standard streams
	path string
	efd  *eventfd
	ep   *epoll
}

func (t *fileTable) init(cfg Config) {
	t.files = map[int]*gfile{}
	in := cfg.Stdin
	if in == nil {
		in = eofReader{}
	}
	t.files[0] = &gfile{r: in}
	t.files[1] = &gfile{w: cfg.Stdout}
	t.files[2] = &gfile{w: cfg.Stderr}
	t.next = 3
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func (t *fileTable) get(fd int) *gfile {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.files[fd]
}

func (t *fileTable) add(f *gfile) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	fd := t.next
	for t.files[fd] != nil {
		fd++
	}
	t.files[fd] = f
	t.next = fd + 1
	return fd
}

func (t *fileTable) close(fd int) bool {
	t.mu.Lock()
	f := t.files[fd]
	delete(t.files, fd)
	if fd < t.next {
		t.next = fd
	}
	t.mu.Unlock()
	if f == nil {
		return false
	}
	if f.f != nil {
		f.f.Close()
	}
	return true
}

func (t *fileTable) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for fd, f := range t.files {
		if f.f != nil {
			f.f.Close()
		}
		delete(t.files, fd)
	}
}
