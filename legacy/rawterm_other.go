//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package legacy

type termState struct{}

func termGet(uintptr) (*termState, error)  { return nil, ErrNotSupported }
func termSetRaw(uintptr, *termState) error { return ErrNotSupported }
func termSet(uintptr, *termState) error    { return ErrNotSupported }
