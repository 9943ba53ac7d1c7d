package main

import (
	"os"
	"time"
)

// traceConfig says what traceLaunch runs and how.
type traceConfig struct {
	Argv          []string      // target command; Argv[0] is looked up in PATH
	GuestRAMBytes uint64        // size of the target's guest RAM, see findGuestRAM
	Timeout       time.Duration // kill the target if it has not reached KVM_RUN by then
	// Output receives the target's stdout and stderr. When nil they go to
	// a temporary file whose tail is added to the error if the launch fails.
	Output *os.File
}

// sample is one measured launch.
type sample struct {
	// Launch is the time from the target's execve (the tool resuming it
	// from its PTRACE_EVENT_EXEC stop) to its first ioctl(KVM_RUN) (the
	// tool seeing the seccomp notification, before the ioctl runs).
	Launch   time.Duration
	VmRSSKiB uint64  // VmRSS of the target while its first KVM_RUN waits
	GuestRAM mapping // the mapping findGuestRAM chose, with its Rss then
	// GuestRAMExact counts mappings of exactly the guest RAM size; more
	// than one means GuestRAM is a guess.
	GuestRAMExact int
	Threads       int // threads of the target then
	// KVMRunThreadID is the thread that called KVM_RUN; 0 if a signal
	// withdrew the notification before the tool could read it.
	KVMRunThreadID int
}

// OverheadKiB is the VMM's resident memory beyond guest RAM.
func (s sample) OverheadKiB() uint64 {
	if s.GuestRAM.RssKiB > s.VmRSSKiB {
		return 0
	}
	return s.VmRSSKiB - s.GuestRAM.RssKiB
}
