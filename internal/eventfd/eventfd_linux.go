// Package eventfd wraps Linux eventfds and epoll, the two raw primitives
// device workers wait on: a queue's kick (an eventfd that KVM's ioeventfd
// or a transport signals) next to a backend fd such as a tap. Waiting
// happens in plain blocking syscalls on the worker's own goroutine, never
// in Go's netpoller (see PLATFORM.md on taps and EAGAIN).
package eventfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// EventFD is a counter the kernel can signal (KVM ioeventfd/irqfd) and a
// goroutine can wait on.
type EventFD struct {
	fd   int
	once sync.Once
}

// New creates a non-blocking eventfd.
func New() (*EventFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &EventFD{fd: fd}, nil
}

// FD is the descriptor, for KVM registration and epoll.
func (e *EventFD) FD() int { return e.fd }

// Signal adds one to the counter, waking any waiter.
func (e *EventFD) Signal() error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], 1)
	for {
		_, err := unix.Write(e.fd, b[:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return nil // the counter is saturated: a wakeup is pending anyway
		}
		return err
	}
}

// Drain reads and resets the counter; 0 means it was not signalled.
func (e *EventFD) Drain() (uint64, error) {
	var b [8]byte
	for {
		_, err := unix.Read(e.fd, b[:])
		switch err {
		case nil:
			return binary.LittleEndian.Uint64(b[:]), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		}
		return 0, err
	}
}

// Close releases the fd; it is idempotent.
func (e *EventFD) Close() error {
	var err error
	e.once.Do(func() { err = unix.Close(e.fd) })
	return err
}

// Poller is an epoll set owned by one goroutine.
type Poller struct {
	fd     int
	events []unix.EpollEvent
	once   sync.Once
}

// Event bits.
const (
	In  = unix.EPOLLIN
	Out = unix.EPOLLOUT
	Err = unix.EPOLLERR | unix.EPOLLHUP
)

// NewPoller creates an epoll set.
func NewPoller() (*Poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	return &Poller{fd: fd, events: make([]unix.EpollEvent, 16)}, nil
}

// Add watches fd for events (level-triggered), reporting token.
func (p *Poller) Add(fd int, events uint32, token int32) error {
	ev := unix.EpollEvent{Events: events, Fd: token}
	if err := unix.EpollCtl(p.fd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll add fd %d: %w", fd, err)
	}
	return nil
}

// Modify changes the events watched on fd.
func (p *Poller) Modify(fd int, events uint32, token int32) error {
	ev := unix.EpollEvent{Events: events, Fd: token}
	if err := unix.EpollCtl(p.fd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return fmt.Errorf("epoll modify fd %d: %w", fd, err)
	}
	return nil
}

// Remove stops watching fd.
func (p *Poller) Remove(fd int) error {
	if err := unix.EpollCtl(p.fd, unix.EPOLL_CTL_DEL, fd, nil); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("epoll remove fd %d: %w", fd, err)
	}
	return nil
}

// Ready is one reported event: the token given to Add and the event bits.
type Ready struct {
	Token  int32
	Events uint32
}

// Wait blocks until at least one fd is ready or timeoutMS passes (-1:
// forever) and appends the ready tokens to dst.
func (p *Poller) Wait(dst []Ready, timeoutMS int) ([]Ready, error) {
	for {
		n, err := unix.EpollWait(p.fd, p.events, timeoutMS)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return dst, fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range p.events[:n] {
			dst = append(dst, Ready{Token: ev.Fd, Events: ev.Events})
		}
		return dst, nil
	}
}

// Close releases the epoll fd.
func (p *Poller) Close() error {
	var err error
	p.once.Do(func() { err = unix.Close(p.fd) })
	return err
}
