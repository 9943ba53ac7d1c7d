package amd64

import "github.com/govmm/govmm/tcg/env"

// enter calls the entry thunk, which loads the retired-instruction count
// and jumps to code; generated code returns the exit code. Implemented in
// enter_amd64.s.
//
//go:noescape
func enter(thunk, code uintptr, s *env.State) uint32

const hostSupported = true
