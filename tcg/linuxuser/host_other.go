//go:build !linux

package linuxuser

import "errors"

var errNotSupported = errors.New("linuxuser: user-mode emulation needs a Linux host")

func reserve(size uint64) ([]byte, error) { return nil, errNotSupported }

func release(b []byte) {}

func discard(b []byte) { clear(b) }
