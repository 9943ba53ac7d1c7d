//go:build !unix

package amd64

func mapCode(size int) ([]byte, error) { return nil, ErrNotSupported }

func unmapCode(b []byte) error { return nil }
