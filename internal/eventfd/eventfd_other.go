//go:build !linux

package eventfd

import "errors"

// ErrNotSupported: eventfd and epoll are Linux interfaces.
var ErrNotSupported = errors.New("eventfd: not supported on this OS")

type EventFD struct{}

func New() (*EventFD, error)              { return nil, ErrNotSupported }
func (e *EventFD) FD() int                { return -1 }
func (e *EventFD) Signal() error          { return ErrNotSupported }
func (e *EventFD) Drain() (uint64, error) { return 0, ErrNotSupported }
func (e *EventFD) Close() error           { return nil }

type Poller struct{}

const (
	In  = 1
	Out = 4
	Err = 8
)

type Ready struct {
	Token  int32
	Events uint32
}

func NewPoller() (*Poller, error)                                  { return nil, ErrNotSupported }
func (p *Poller) Add(fd int, events uint32, token int32) error     { return ErrNotSupported }
func (p *Poller) Modify(fd int, events uint32, token int32) error  { return ErrNotSupported }
func (p *Poller) Remove(fd int) error                              { return ErrNotSupported }
func (p *Poller) Wait(dst []Ready, timeoutMS int) ([]Ready, error) { return dst, ErrNotSupported }
func (p *Poller) Close() error                                     { return nil }
