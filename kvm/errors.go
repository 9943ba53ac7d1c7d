//go:build linux && amd64

package kvm

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

var (
	// ErrNotSupported reports that the host's KVM lacks a capability the
	// caller needs, or that KVM is unavailable on this platform.
	ErrNotSupported = errors.New("KVM is not available")

	// ErrInterrupted is returned by VCPU.Run when KVM_RUN ended with EINTR:
	// a Kick, or any other signal to the thread. The caller decides
	// whether to re-enter.
	ErrInterrupted = errors.New("KVM_RUN interrupted")

	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("kvm: use of closed object")
)

// IoctlError says which ioctl failed, on what, and why.
type IoctlError struct {
	Op    string // "KVM_CREATE_VCPU 1"
	Errno unix.Errno
}

func (e *IoctlError) Error() string { return fmt.Sprintf("%s: %v", e.Op, e.Errno) }
func (e *IoctlError) Unwrap() error { return e.Errno }

func ioErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return &IoctlError{Op: op, Errno: errno}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// openErr turns a failed open of /dev/kvm into advice a user can act on.
func openErr(path string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist (load the kvm-intel or kvm-amd module)", ErrNotSupported, path)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: no permission to open %s (add your user to the kvm group): %w", ErrNotSupported, path, err)
	}
	return fmt.Errorf("%w: open %s: %w", ErrNotSupported, path, err)
}
