//go:build !(linux && amd64)

package kvm

import "errors"

// ErrNotSupported reports that KVM is unavailable on this platform: govmm
// drives KVM on linux/amd64 hosts only, and uses the translator elsewhere.
var ErrNotSupported = errors.New("KVM is supported on linux/amd64 hosts only")

// IsPVM is false where there is no KVM.
func IsPVM() bool { return false }
