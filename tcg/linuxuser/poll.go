package linuxuser

import (
	"encoding/binary"
	"sync"
	"time"
)

// eventfd and epoll, enough for Go's runtime: it sleeps in epoll_pwait
// until its next timer and wakes a sleeping thread by writing to an
// eventfd. Other descriptors are always ready (regular files and the
// standard streams never block here).

type eventfd struct {
	count    uint64
	nonblock bool
}

type epollEntry struct {
	events uint32
	data   uint64
}

type epoll struct {
	fds map[int]epollEntry
}

// pollState is the process-wide lock and wakeup for eventfds and epolls.
type pollState struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced when an eventfd changes
}

func (ps *pollState) notifyLocked() {
	if ps.changed != nil {
		close(ps.changed)
		ps.changed = nil
	}
}

func (ps *pollState) waitChan() chan struct{} {
	if ps.changed == nil {
		ps.changed = make(chan struct{})
	}
	return ps.changed
}

const (
	epollIn  = 0x1
	epollOut = 0x4

	efdNonblock = 0x800 // O_NONBLOCK
)

func (p *Process) eventfd2(initval uint64, flags uint64) int64 {
	e := &eventfd{count: initval & 0xffffffff, nonblock: flags&efdNonblock != 0}
	return int64(p.files.add(&gfile{efd: e}))
}

func (p *Process) eventfdRead(e *eventfd, buf, n uint64) int64 {
	if n < 8 {
		return -eINVAL
	}
	b, err := p.bytes(buf, 8)
	if err != nil {
		return -eFAULT
	}
	for {
		p.poll.mu.Lock()
		if e.count > 0 {
			binary.LittleEndian.PutUint64(b, e.count)
			e.count = 0
			p.poll.mu.Unlock()
			return 8
		}
		if e.nonblock {
			p.poll.mu.Unlock()
			return -eAGAIN
		}
		ch := p.poll.waitChan()
		p.poll.mu.Unlock()
		select {
		case <-ch:
		case <-p.done:
			return -eINTR
		}
	}
}

func (p *Process) eventfdWrite(e *eventfd, buf, n uint64) int64 {
	if n < 8 {
		return -eINVAL
	}
	b, err := p.bytes(buf, 8)
	if err != nil {
		return -eFAULT
	}
	v := binary.LittleEndian.Uint64(b)
	p.poll.mu.Lock()
	e.count += v
	p.poll.notifyLocked()
	p.poll.mu.Unlock()
	return 8
}

func (p *Process) epollCreate() int64 {
	return int64(p.files.add(&gfile{ep: &epoll{fds: map[int]epollEntry{}}}))
}

func (p *Process) epollCtl(epfd int, op int, fd int, event uint64) int64 {
	f := p.files.get(epfd)
	if f == nil || f.ep == nil {
		return -eBADF
	}
	if p.files.get(fd) == nil {
		return -eBADF
	}
	var ent epollEntry
	if op != 2 { // EPOLL_CTL_DEL takes no event
		b, err := p.bytes(event, 16)
		if err != nil {
			return -eFAULT
		}
		ent = epollEntry{events: binary.LittleEndian.Uint32(b), data: binary.LittleEndian.Uint64(b[8:])}
	}
	p.poll.mu.Lock()
	defer p.poll.mu.Unlock()
	switch op {
	case 1: // ADD
		if _, ok := f.ep.fds[fd]; ok {
			return -eEXIST
		}
		f.ep.fds[fd] = ent
	case 2: // DEL
		if _, ok := f.ep.fds[fd]; !ok {
			return -eNOENT
		}
		delete(f.ep.fds, fd)
	case 3: // MOD
		if _, ok := f.ep.fds[fd]; !ok {
			return -eNOENT
		}
		f.ep.fds[fd] = ent
	default:
		return -eINVAL
	}
	p.poll.notifyLocked()
	return 0
}

// epollWait reports ready descriptors (riscv64 struct epoll_event: u32
// events, 4 bytes of padding, u64 data).
func (p *Process) epollWait(epfd int, events uint64, max int, timeoutMS int64) int64 {
	f := p.files.get(epfd)
	if f == nil || f.ep == nil {
		return -eBADF
	}
	if max <= 0 || max > 1024 {
		return -eINVAL
	}
	out, err := p.bytes(events, uint64(max)*16)
	if err != nil {
		return -eFAULT
	}
	var deadline <-chan time.Time
	if timeoutMS > 0 {
		tm := time.NewTimer(time.Duration(timeoutMS) * time.Millisecond)
		defer tm.Stop()
		deadline = tm.C
	}
	for {
		p.poll.mu.Lock()
		n := 0
		for fd, ent := range f.ep.fds {
			if n == max {
				break
			}
			g := p.files.get(fd)
			var ready uint32
			switch {
			case g == nil:
				continue
			case g.efd != nil:
				if g.efd.count > 0 {
					ready |= epollIn
				}
				ready |= epollOut
			case g.ep != nil:
			default:
				ready = epollIn | epollOut
			}
			if ready &= ent.events; ready != 0 {
				binary.LittleEndian.PutUint32(out[n*16:], ready)
				binary.LittleEndian.PutUint32(out[n*16+4:], 0)
				binary.LittleEndian.PutUint64(out[n*16+8:], ent.data)
				n++
			}
		}
		if n > 0 || timeoutMS == 0 {
			p.poll.mu.Unlock()
			return int64(n)
		}
		ch := p.poll.waitChan()
		p.poll.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return 0
		case <-p.done:
			return -eINTR
		}
	}
}
