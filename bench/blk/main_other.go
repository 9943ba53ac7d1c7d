//go:build !linux

// Command blk measures virtio-blk against plain pread/pwrite; it needs
// Linux (O_DIRECT, flock, fallocate, eventfd).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench/blk: Linux only")
	os.Exit(1)
}
