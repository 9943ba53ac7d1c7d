package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ModuleOrder is the file in which the initramfs lists the modules to
// load, one path per line, each after the modules it needs (the builder
// resolved modules.dep).
const ModuleOrder = "/lib/modules/load-order"

// loadModules loads what ModuleOrder lists. Debian's x86 kernel has its
// virtio drivers as modules; the riscv64 kernel has them built in and
// lists none.
func loadModules() {
	f, err := os.Open(ModuleOrder)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" {
			continue
		}
		if err := loadModule(filepath.Join("/lib/modules", p)); err != nil {
			fmt.Fprintf(os.Stderr, "init: module %s: %v\n", p, err)
		}
	}
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}
