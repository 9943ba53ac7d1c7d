//go:build linux && amd64

package kvm

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// DevicePath is where KVM lives.
const DevicePath = "/dev/kvm"

// System is an open /dev/kvm.
type System struct {
	fd       int
	once     sync.Once
	mmapSize int
}

// Open opens /dev/kvm (or path, if not empty) and checks the API version.
func Open(path string) (*System, error) {
	if path == "" {
		path = DevicePath
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openErr(path, err)
	}
	s := &System{fd: fd}
	v, err := ioctl(fd, KVM_GET_API_VERSION, 0)
	if err != nil {
		s.Close()
		return nil, ioErr("KVM_GET_API_VERSION", err)
	}
	if v != KVM_API_VERSION {
		s.Close()
		return nil, fmt.Errorf("%s: API version %d, want %d: %w", path, v, KVM_API_VERSION, ErrNotSupported)
	}
	sz, err := ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0)
	if err != nil {
		s.Close()
		return nil, ioErr("KVM_GET_VCPU_MMAP_SIZE", err)
	}
	s.mmapSize = int(sz)
	return s, nil
}

// Close releases the /dev/kvm fd. VMs created from it stay valid.
func (s *System) Close() error {
	var err error
	s.once.Do(func() { err = unix.Close(s.fd) })
	return err
}

// APIVersion returns KVM_GET_API_VERSION.
func (s *System) APIVersion() (int, error) {
	v, err := ioctl(s.fd, KVM_GET_API_VERSION, 0)
	return int(v), ioErr("KVM_GET_API_VERSION", err)
}

// CheckExtension returns KVM_CHECK_EXTENSION's answer for capability c
// (0 = absent; for counting capabilities, the count).
func (s *System) CheckExtension(c int) (int, error) {
	v, err := ioctl(s.fd, KVM_CHECK_EXTENSION, uintptr(c))
	return int(v), ioErr(fmt.Sprintf("KVM_CHECK_EXTENSION %d", c), err)
}

// VCPUMmapSize is the size of the kvm_run area each vCPU maps.
func (s *System) VCPUMmapSize() int { return s.mmapSize }

// SupportedCPUID returns KVM_GET_SUPPORTED_CPUID.
func (s *System) SupportedCPUID() ([]CPUIDEntry, error) {
	entries := make([]CPUIDEntry, KVM_MAX_CPUID_ENTRIES)
	hdr, _, err := ioctlVar(s.fd, KVM_GET_SUPPORTED_CPUID, cpuid2Header{NEnt: uint32(len(entries))}, entries)
	if err != nil {
		return nil, ioErr("KVM_GET_SUPPORTED_CPUID", err)
	}
	return entries[:hdr.NEnt], nil
}

// MSRIndexList returns KVM_GET_MSR_INDEX_LIST: the MSRs KVM saves and
// restores for a vCPU.
func (s *System) MSRIndexList() ([]uint32, error) {
	const max = 1024
	idx := make([]uint32, max)
	n, _, err := ioctlVar(s.fd, KVM_GET_MSR_INDEX_LIST, uint32(max), idx)
	if err != nil {
		return nil, ioErr("KVM_GET_MSR_INDEX_LIST", err)
	}
	return idx[:n], nil
}

// MaxVCPUs is the number of vCPUs one VM may have on this host
// (KVM_CAP_MAX_VCPUS, falling back to KVM_CAP_NR_VCPUS, then 4 as the API
// documentation specifies).
func (s *System) MaxVCPUs() int {
	if n, err := s.CheckExtension(KVM_CAP_MAX_VCPUS); err == nil && n > 0 {
		return n
	}
	if n, err := s.CheckExtension(KVM_CAP_NR_VCPUS); err == nil && n > 0 {
		return n
	}
	return 4
}

// IsPVM reports whether /dev/kvm is served by kvm_pvm, the pagetable-based
// software KVM on which guest ring 0 is emulated and x86 Linux cannot boot.
func IsPVM() bool {
	_, err := os.Stat("/sys/module/kvm_pvm")
	return err == nil
}

// CreateVM creates a VM (KVM_CREATE_VM, default machine type).
func (s *System) CreateVM() (*VM, error) {
	fd, err := ioctl(s.fd, KVM_CREATE_VM, 0)
	if err != nil {
		return nil, ioErr("KVM_CREATE_VM", err)
	}
	return &VM{fd: int(fd), mmapSize: s.mmapSize}, nil
}
