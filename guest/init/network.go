package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ipConfig is the kernel's ip= parameter (Documentation/admin-guide/
// nfs/nfsroot.rst): client:server:gateway:netmask:hostname:device:autoconf.
// Only static configuration is supported; the kernel's own autoconfig
// cannot do it because the NIC driver may be a module loaded later.
type ipConfig struct {
	addr, gw netip.Addr
	mask     net.IPMask
	hostname string
	dev      string
}

func parseIP(cmdline string) (ipConfig, bool, error) {
	var v string
	for _, f := range strings.Fields(cmdline) {
		if s, ok := strings.CutPrefix(f, "ip="); ok {
			v = s
		}
	}
	if v == "" || v == "off" || v == "none" {
		return ipConfig{}, false, nil
	}
	p := strings.Split(v, ":")
	for len(p) < 7 {
		p = append(p, "")
	}
	c := ipConfig{hostname: p[4], dev: p[5]}
	var err error
	if c.addr, err = netip.ParseAddr(p[0]); err != nil || !c.addr.Is4() {
		return c, true, fmt.Errorf("ip=%s: client address %q: want IPv4 (dhcp is not supported)", v, p[0])
	}
	if p[2] != "" {
		if c.gw, err = netip.ParseAddr(p[2]); err != nil || !c.gw.Is4() {
			return c, true, fmt.Errorf("ip=%s: gateway %q", v, p[2])
		}
	}
	c.mask = net.CIDRMask(24, 32)
	if p[3] != "" {
		m, err := netip.ParseAddr(p[3])
		if err != nil || !m.Is4() {
			return c, true, fmt.Errorf("ip=%s: netmask %q", v, p[3])
		}
		b := m.As4()
		c.mask = net.IPv4Mask(b[0], b[1], b[2], b[3])
	}
	if c.dev == "" {
		c.dev = "eth0"
	}
	return c, true, nil
}

// setupNetwork brings up lo and, with ip=, the named interface.
func setupNetwork(cmdline string) {
	if err := ifUp("lo"); err != nil {
		fmt.Fprintf(os.Stderr, "init: lo: %v\n", err)
	}
	c, ok, err := parseIP(cmdline)
	if err != nil {
		fmt.Fprintf(os.Stderr, "init: %v\n", err)
		return
	}
	if !ok {
		return
	}
	if c.hostname != "" {
		unix.Sethostname([]byte(c.hostname))
	}
	// The driver may still be probing the device.
	for i := 0; i < 200; i++ {
		if _, err := net.InterfaceByName(c.dev); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := configure(c); err != nil {
		fmt.Fprintf(os.Stderr, "init: %s: %v\n", c.dev, err)
	}
}

func configure(c ipConfig) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	set := func(req uint, ip []byte) error {
		ifr, err := unix.NewIfreq(c.dev)
		if err != nil {
			return err
		}
		if err := ifr.SetInet4Addr(ip); err != nil {
			return err
		}
		return unix.IoctlIfreq(fd, req, ifr)
	}
	a := c.addr.As4()
	if err := set(unix.SIOCSIFADDR, a[:]); err != nil {
		return fmt.Errorf("set address: %w", err)
	}
	if err := set(unix.SIOCSIFNETMASK, c.mask); err != nil {
		return fmt.Errorf("set netmask: %w", err)
	}
	if err := ifUp(c.dev); err != nil {
		return err
	}
	if c.gw.IsValid() {
		if err := addDefaultRoute(fd, c.gw.As4()); err != nil {
			return fmt.Errorf("default route via %s: %w", c.gw, err)
		}
	}
	return nil
}

func ifUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
