package linuxuser

import (
	"sync"
	"time"
)

// futexTable implements FUTEX_WAIT and FUTEX_WAKE between guest threads.
// Waiters queue per address; the value check and the enqueue happen under
// the table's lock, and wakers take the same lock, so a wake between a
// guest's check and its sleep is not lost.
type futexTable struct {
	mu      sync.Mutex
	waiters map[uint64][]*futexWaiter
	closed  bool
}

type futexWaiter struct {
	ch   chan struct{}
	mask uint32
}

func (f *futexTable) init() { f.waiters = map[uint64][]*futexWaiter{} }

// wait sleeps while the word at addr equals val (check reads it under the
// lock) until a wake, the timeout (0: none) or the process's end. It
// returns 0, -EAGAIN or -ETIMEDOUT.
func (f *futexTable) wait(addr uint64, mask uint32, check func() bool, timeout time.Duration) int64 {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return -eINTR
	}
	if !check() {
		f.mu.Unlock()
		return -eAGAIN
	}
	w := &futexWaiter{ch: make(chan struct{}), mask: mask}
	f.waiters[addr] = append(f.waiters[addr], w)
	f.mu.Unlock()
	if timeout <= 0 {
		<-w.ch
		return 0
	}
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case <-w.ch:
		return 0
	case <-tm.C:
	}
	// Timed out: leave the queue unless a wake raced with the timer.
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.waiters[addr]
	for i, x := range q {
		if x == w {
			f.waiters[addr] = append(q[:i], q[i+1:]...)
			if len(f.waiters[addr]) == 0 {
				delete(f.waiters, addr)
			}
			return -eTIMEDOUT
		}
	}
	return 0
}

// wake wakes up to n waiters on addr whose mask intersects mask.
func (f *futexTable) wake(addr uint64, n int, mask uint32) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.waiters[addr]
	woken := 0
	keep := q[:0]
	for _, w := range q {
		if woken < n && w.mask&mask != 0 {
			close(w.ch)
			woken++
			continue
		}
		keep = append(keep, w)
	}
	if len(keep) == 0 {
		delete(f.waiters, addr)
	} else {
		f.waiters[addr] = keep
	}
	return woken
}

// wakeAll releases every waiter (the process is exiting).
func (f *futexTable) wakeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for a, q := range f.waiters {
		for _, w := range q {
			close(w.ch)
		}
		delete(f.waiters, a)
	}
}
