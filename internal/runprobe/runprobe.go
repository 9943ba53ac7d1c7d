// Package runprobe is the program `govmm run`'s tests run inside the
// guest as /bin/probe: commands whose output and exit status the tests know
// in advance. On x86-64 the cmd/govmm test binary itself serves as the
// probe; for riscv64 guests the tests build ./probe for riscv64.
package runprobe

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
)

// Main runs the probe command args[0] with its arguments and returns the
// exit status.
func Main(args []string) int {
	if len(args) == 0 {
		return 2
	}
	switch args[0] {
	case "exit": // exit N
		n, _ := strconv.Atoi(args[1])
		return n
	case "bytes": // bytes N SEED: N pseudo-random bytes on stdout
		n, _ := strconv.Atoi(args[1])
		seed, _ := strconv.ParseUint(args[2], 10, 64)
		os.Stdout.Write(RandomBytes(n, seed))
		return 0
	case "args": // the arguments after "args", as JSON, on stdout
		json.NewEncoder(os.Stdout).Encode(args[1:])
		return 0
	case "disk": // disk DEV: print the sha256 of its first MiB, then fill the second MiB with pattern(7)
		f, err := os.OpenFile(args[1], os.O_RDWR, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		first := make([]byte, 1<<20)
		if _, err := io.ReadFull(f, first); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%x\n", sha256.Sum256(first))
		if _, err := f.WriteAt(Pattern(7, 1<<20), 1<<20); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := f.Sync(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "hwrng": // read 64 bytes of /dev/hwrng
		f, err := os.Open("/dev/hwrng")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		b := make([]byte, 64)
		if _, err := io.ReadFull(f, b); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%d random bytes\n", len(b))
		return 0
	case "split": // "out" on stdout, "err" on stderr, interleaved
		for i := 0; i < 100; i++ {
			fmt.Fprintf(os.Stdout, "out%d\n", i)
			fmt.Fprintf(os.Stderr, "err%d\n", i)
		}
		return 0
	}
	return 2
}

// Pattern is n bytes that depend on seed.
func Pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

// RandomBytes is n pseudo-random bytes from seed.
func RandomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
