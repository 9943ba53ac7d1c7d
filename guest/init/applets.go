package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Applets are the tools the default guest has, as links to init.
var Applets = []string{"true", "false", "echo", "cat", "uname", "sleep"}

// applet runs init as one of the small tools.
func applet(name string, args []string) int {
	switch name {
	case "true":
		return 0
	case "false":
		return 1
	case "echo":
		nl := true
		if len(args) > 0 && args[0] == "-n" {
			nl, args = false, args[1:]
		}
		fmt.Print(strings.Join(args, " "))
		if nl {
			fmt.Println()
		}
		return 0
	case "cat":
		if len(args) == 0 {
			args = []string{"-"}
		}
		status := 0
		for _, a := range args {
			var r io.Reader = os.Stdin
			if a != "-" {
				f, err := os.Open(a)
				if err != nil {
					fmt.Fprintf(os.Stderr, "cat: %v\n", err)
					status = 1
					continue
				}
				defer f.Close()
				r = f
			}
			if _, err := io.Copy(os.Stdout, r); err != nil {
				fmt.Fprintf(os.Stderr, "cat: %v\n", err)
				status = 1
			}
		}
		return status
	case "uname":
		var u unix.Utsname
		unix.Uname(&u)
		f := []string{cstr(u.Sysname[:])}
		for _, a := range args {
			if a == "-a" {
				f = []string{cstr(u.Sysname[:]), cstr(u.Nodename[:]), cstr(u.Release[:]), cstr(u.Version[:]), cstr(u.Machine[:])}
			}
			if a == "-r" {
				f = []string{cstr(u.Release[:])}
			}
			if a == "-m" {
				f = []string{cstr(u.Machine[:])}
			}
		}
		fmt.Println(strings.Join(f, " "))
		return 0
	case "sleep":
		if len(args) == 1 {
			if d, err := time.ParseDuration(args[0] + "s"); err == nil {
				time.Sleep(d)
				return 0
			}
		}
		fmt.Fprintln(os.Stderr, "usage: sleep SECONDS")
		return 2
	}
	fmt.Fprintf(os.Stderr, "%s: not a govmm guest tool (%s)\n", name, strings.Join(Applets, " "))
	return 127
}
