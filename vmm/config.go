// Package vmm turns a configuration into a running VM: it picks the
// machine and engine, wires the console, applies the reboot policy and
// reports why the VM stopped. Machines live in subpackages (vmm/x86 on
// KVM); devices in virtio/ and legacy/; engines in kvm/ and tcg/.
package vmm

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// SerialMode is where the first serial port goes.
type SerialMode int

const (
	SerialStdio SerialMode = iota // host terminal, with Ctrl-A escapes
	SerialFile                    // append output to a file; no input
	SerialNull                    // the port exists, output is discarded
	SerialNone                    // no serial port at all
)

// Config is everything the command line can say about one VM.
type Config struct {
	Machine  string // "microvm" (x86-64 on KVM) or "virt" (riscv64 on the translator); "" picks by -accel and the kernel
	NoACPI   bool   // -M microvm,acpi=off
	Accel    string // "auto", "kvm" or "tcg"
	Kernel   string
	Initrd   string
	Append   string
	MemSize  uint64
	CPUs     int
	NoReboot bool
	BIOS     string

	Serial     SerialMode
	SerialPath string // for SerialFile

	// Nets are the network interfaces, in the order given.
	Nets []NetConfig

	// Drives are virtio-blk disks, in the order given (/dev/vda first).
	Drives []DriveConfig
	// RNGs are virtio entropy devices, by transport ("pci" or "mmio").
	RNGs []string

	// Console, when set, adds a virtio console (the guest's /dev/hvc0)
	// whose output goes here; ConsoleLog reports its errors.
	Console io.Writer

	Verbose bool
	// KVMPath is the KVM device; "" means /dev/kvm.
	KVMPath string
	// Start is the process start, for boot-time reports.
	Start time.Time

	// Stdin, Stdout and Stderr default to the process's own.
	Stdin          *os.File
	Stdout, Stderr io.Writer
}

// NetConfig is one virtio-net device and its tap backend.
type NetConfig struct {
	ID      string // the -netdev id ("net0", "net1"... for -net)
	IfName  string // the tap to attach to or create ("" lets the kernel name it)
	SndBuf  int    // TUNSETSNDBUF; 0 leaves the default (unlimited)
	VnetHdr bool   // IFF_VNET_HDR, so offloads work (vnet_hdr=on, the default)
	MAC     net.HardwareAddr
	// Transport is "pci" (-device virtio-net-pci) or "mmio"
	// (virtio-net-device).
	Transport string
}

// DriveConfig is one virtio-blk disk on a raw image file.
type DriveConfig struct {
	ID        string
	Path      string
	ReadOnly  bool
	Direct    bool   // cache=none: O_DIRECT where the filesystem allows it
	Serial    string // GET_ID, at most 20 bytes
	Transport string // "pci" or "mmio"
}

// UsageError is a configuration the user must change; the command line
// reports it in one line and exits with status 2. Nothing has been
// started or left behind when it is returned.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, args ...any) error {
	return &UsageError{fmt.Errorf(format, args...)}
}

// IsUsage reports whether err is (or wraps) a UsageError.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// Default values, as QEMU's where QEMU has one.
const (
	DefaultMemSize = 128 << 20
	DefaultMachine = "microvm"
)

// validate fills defaults and rejects what no machine can run.
func (c *Config) validate() error {
	if c.Accel == "" {
		c.Accel = "auto"
	}
	if c.MemSize == 0 {
		c.MemSize = DefaultMemSize
	}
	if c.CPUs == 0 {
		c.CPUs = 1
	}
	if c.Stdin == nil {
		c.Stdin = os.Stdin
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	switch {
	case c.Kernel == "":
		return usagef("no kernel: give -kernel PATH")
	case c.MemSize < 16<<20:
		return usagef("-m %dM: at least 16M of guest memory is needed", c.MemSize>>20)
	case c.MemSize%4096 != 0:
		return usagef("-m %d bytes: not a multiple of 4 KiB", c.MemSize)
	case c.CPUs < 1:
		return usagef("-smp %d: at least one CPU", c.CPUs)
	}
	switch c.Accel {
	case "auto", "kvm", "tcg":
	default:
		return usagef("-accel %s: unknown accelerator (kvm or tcg)", c.Accel)
	}
	if err := checkReadable("-kernel", c.Kernel); err != nil {
		return err
	}
	if c.Machine == "" {
		// -accel tcg, or a riscv64 kernel, picks the riscv64 machine.
		c.Machine = DefaultMachine
		if c.Accel == "tcg" || isRISCVImage(c.Kernel) {
			c.Machine = "virt"
		}
	}
	switch c.Machine {
	case "microvm":
		if c.Accel == "tcg" {
			return usagef("-M microvm -accel tcg: x86-64 guests run on KVM; the translator runs riscv64 guests (-M virt)")
		}
		if c.BIOS != "" {
			return usagef("-bios: the microvm machine boots kernels directly, without firmware")
		}
	case "virt":
		if c.Accel == "kvm" {
			return usagef("-M virt -accel kvm: riscv64 guests run on the translator (-accel tcg)")
		}
		if c.BIOS != "" {
			if err := checkReadable("-bios", c.BIOS); err != nil {
				return err
			}
		}
	default:
		return usagef("-M %s: unknown machine (microvm or virt)", c.Machine)
	}
	if c.Initrd != "" {
		if err := checkReadable("-initrd", c.Initrd); err != nil {
			return err
		}
	}
	return nil
}

func checkReadable(flag, path string) error {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return usagef("%s %s: %v", flag, path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return usagef("%s %s: %v", flag, path, err)
	}
	if st.IsDir() {
		return usagef("%s %s: is a directory", flag, path)
	}
	return nil
}

// isRISCVImage reports whether path starts with a riscv64 Image header
// (the magic "RSC\x05" at offset 56).
func isRISCVImage(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var hdr [64]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return false
	}
	return string(hdr[56:60]) == "RSC\x05"
}
