// Command mktestkernel builds govmm's test kernel images into a directory,
// for test runs where binutils are not installed (the nested x86 guest):
//
//	go run ./internal/testkernel/mktestkernel -o out/testkernel
//	GOVMM_TESTKERNEL_DIR=out/testkernel go test ./...
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/govmm/govmm/internal/testkernel"
)

func main() {
	dir := flag.String("o", "", "output directory (created if missing)")
	flag.Parse()
	if *dir == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: mktestkernel -o DIR")
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "mktestkernel:", err)
		os.Exit(1)
	}
	if err := testkernel.WriteImages(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "mktestkernel:", err)
		os.Exit(1)
	}
}
