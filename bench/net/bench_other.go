//go:build !linux

package main

import (
	"fmt"
	"io"
)

// measure needs Linux taps and network namespaces.
func measure(cfg *config, log io.Writer) (results, error) {
	return nil, fmt.Errorf("%w: taps and network namespaces need Linux", errSkipped)
}
