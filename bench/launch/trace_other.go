//go:build !linux || !(amd64 || arm64 || riscv64)

package main

import "errors"

// errNotSupported: the tracer needs Linux ptrace and seccomp, and a seccomp
// filter written for a known architecture.
var errNotSupported = errors.New("launch tracing is supported on linux/amd64, arm64 and riscv64 only")

func runWrapperIfRequested() {}

func traceLaunch(traceConfig) (sample, error) { return sample{}, errNotSupported }
