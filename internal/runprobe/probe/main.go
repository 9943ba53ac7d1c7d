// Command probe is internal/runprobe as a program, for riscv64 guests.
package main

import (
	"os"

	"github.com/govmm/govmm/internal/runprobe"
)

func main() { os.Exit(runprobe.Main(os.Args[1:])) }
