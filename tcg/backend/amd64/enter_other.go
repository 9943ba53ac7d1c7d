//go:build !amd64

package amd64

import "github.com/govmm/govmm/tcg/env"

func enter(thunk, code uintptr, s *env.State) uint32 {
	panic("amd64: native code needs an amd64 host")
}

const hostSupported = false
