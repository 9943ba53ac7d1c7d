package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/govmm/govmm/internal/qemuopt"
	"github.com/govmm/govmm/vmm"
)

// option is one QEMU-style command-line flag.
type option struct {
	name   string
	arg    string // "" for a switch; otherwise the metavariable for help
	help   string
	apply  func(p *parser, v string) error
	hidden bool
}

// options is the accepted command line: QEMU's spelling for the microVM
// subset, so existing command lines work. Keep this list stable; retire a
// flag with a message rather than dropping it (QEMU's removals of -redir
// and -net vlan= broke scripts).
var options = []option{
	{name: "kernel", arg: "PATH", help: "Linux kernel: bzImage or ELF vmlinux", apply: func(p *parser, v string) error { p.cfg.Kernel = v; return nil }},
	{name: "initrd", arg: "PATH", help: "initial ramdisk", apply: func(p *parser, v string) error { p.cfg.Initrd = v; return nil }},
	{name: "append", arg: "CMDLINE", help: "kernel command line", apply: func(p *parser, v string) error { p.cfg.Append = v; return nil }},
	{name: "m", arg: "SIZE", help: "guest RAM, MiB unless suffixed k/M/G/T (default 128M)", apply: parseMem},
	{name: "smp", arg: "N", help: "number of vCPUs (N or cpus=N)", apply: parseSMP},
	{name: "M", arg: "MACHINE", help: "machine: microvm[,acpi=on|off] (x86-64 on KVM) or virt (riscv64 on the translator)", apply: parseMachine},
	{name: "machine", arg: "MACHINE", help: "same as -M", apply: parseMachine, hidden: true},
	{name: "accel", arg: "ACCEL", help: "kvm (x86-64 guests) or tcg (riscv64 guests on the translator)", apply: parseAccel},
	{name: "enable-kvm", help: "same as -accel kvm", apply: func(p *parser, _ string) error { p.cfg.Accel = "kvm"; return nil }},
	{name: "serial", arg: "DEV", help: "stdio (default), file:PATH, null or none", apply: parseSerial},
	{name: "nographic", help: "no display, serial on stdio (always so)", apply: func(*parser, string) error { return nil }},
	{name: "display", arg: "none", help: "only none: govmm has no display", apply: func(_ *parser, v string) error {
		if v != "none" {
			return fmt.Errorf("%q: only -display none is supported", v)
		}
		return nil
	}, hidden: true},
	{name: "nodefaults", help: "accepted; govmm adds no default devices beyond the serial port", apply: func(*parser, string) error { return nil }, hidden: true},
	{name: "no-user-config", help: "accepted; govmm reads no config files", apply: func(*parser, string) error { return nil }, hidden: true},
	{name: "no-reboot", help: "exit instead of rebooting when the guest resets", apply: func(p *parser, _ string) error { p.cfg.NoReboot = true; return nil }},
	{name: "bios", arg: "PATH", help: "M-mode firmware for -M virt (OpenSBI fw_jump); default: SBI inside govmm", apply: func(p *parser, v string) error { p.cfg.BIOS = v; return nil }},
	{name: "netdev", arg: "OPTS", help: "tap,id=ID,ifname=NAME[,sndbuf=N][,vnet_hdr=on|off]", apply: parseNetdev},
	{name: "net", arg: "OPTS", help: "nic[,model=virtio] or tap,ifname=NAME[,sndbuf=N]", apply: parseNet},
	{name: "device", arg: "OPTS", help: "virtio-net-pci,netdev=ID[,mac=MAC] | virtio-blk-pci,drive=ID | virtio-rng-pci (-device instead of -pci for virtio-mmio on -M virt)", apply: parseDevice},
	{name: "drive", arg: "OPTS", help: "file=PATH[,if=virtio|none][,format=raw][,id=ID][,readonly=on][,cache=writeback|none][,serial=S]", apply: parseDrive},
	{name: "v", help: "verbose: report engine, boot markers and counters", apply: func(p *parser, _ string) error { p.cfg.Verbose = true; return nil }},
}

func lookup(name string) *option {
	for i := range options {
		if options[i].name == name {
			return &options[i]
		}
	}
	return nil
}

// errHelp asks for the usage text.
var errHelp = fmt.Errorf("help requested")

// parser holds what the flags said so far: the configuration, and network
// pieces that only make sense together (-netdev with -device, -net nic
// with -net tap).
type parser struct {
	cfg      *vmm.Config
	netdevs  map[string]*vmm.NetConfig // by id, in netdevOrder
	order    []string
	used     map[string]bool
	nics     []nicOpts                   // -net nic, paired with -net tap in order
	drives   map[string]*vmm.DriveConfig // if=none drives, by id, for -device
	driveN   int
	netTaps  []vmm.NetConfig
	warnings []string
}

type nicOpts struct {
	mac net.HardwareAddr
}

// parseArgs parses a QEMU-style command line into c. Warnings are for
// the user but do not stop the VM.
func parseArgs(args []string, c *vmm.Config) (warnings []string, err error) {
	p := &parser{cfg: c, netdevs: map[string]*vmm.NetConfig{}, used: map[string]bool{}, drives: map[string]*vmm.DriveConfig{}}
	if err := p.parse(args); err != nil {
		return nil, err
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.warnings, nil
}

func (p *parser) parse(args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			return fmt.Errorf("unexpected argument %q (options start with -)", a)
		}
		name := strings.TrimLeft(a, "-")
		if name == "h" || name == "help" {
			return errHelp
		}
		val := ""
		if n, v, ok := strings.Cut(name, "="); ok && strings.HasPrefix(a, "--") {
			name, val = n, v
		}
		o := lookup(name)
		if o == nil {
			return fmt.Errorf("unknown option %s (see govmm -help)", a)
		}
		if o.arg != "" && val == "" {
			if i+1 >= len(args) {
				return fmt.Errorf("-%s needs a value (%s)", o.name, o.arg)
			}
			i++
			val = args[i]
		}
		if err := o.apply(p, val); err != nil {
			return fmt.Errorf("-%s %s: %w", o.name, val, err)
		}
	}
	return nil
}

func parseMem(p *parser, v string) error {
	c := p.cfg
	o, err := qemuopt.Parse(v, "size")
	if err != nil {
		return err
	}
	if err := o.Only("size"); err != nil {
		return err
	}
	s, _ := o.Get("size")
	n, err := qemuopt.Size(s, 1<<20)
	if err != nil {
		return err
	}
	c.MemSize = n
	return nil
}

func parseSMP(p *parser, v string) error {
	c := p.cfg
	o, err := qemuopt.Parse(v, "cpus")
	if err != nil {
		return err
	}
	if err := o.Only("cpus", "maxcpus", "sockets", "cores", "threads"); err != nil {
		return err
	}
	s, _ := o.Get("cpus")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("%q is not a CPU count", s)
	}
	if m, ok := o.Get("maxcpus"); ok && m != s {
		return fmt.Errorf("CPU hotplug (maxcpus) is not supported")
	}
	c.CPUs = n
	return nil
}

func parseMachine(p *parser, v string) error {
	c := p.cfg
	o, err := qemuopt.Parse(v, "type")
	if err != nil {
		return err
	}
	if err := o.Only("type", "acpi", "accel"); err != nil {
		return err
	}
	c.Machine, _ = o.Get("type")
	if a, ok := o.Get("acpi"); ok {
		on, err := qemuopt.Bool(a)
		if err != nil {
			return fmt.Errorf("acpi: %w", err)
		}
		c.NoACPI = !on
	}
	if a, ok := o.Get("accel"); ok {
		return parseAccel(p, a)
	}
	return nil
}

func parseAccel(p *parser, v string) error {
	c := p.cfg
	switch v {
	case "kvm", "tcg":
		c.Accel = v
		return nil
	}
	return fmt.Errorf("unknown accelerator (kvm or tcg)")
}

func parseSerial(p *parser, v string) error {
	c := p.cfg
	switch {
	case v == "stdio" || v == "mon:stdio":
		c.Serial = vmm.SerialStdio
	case v == "null":
		c.Serial = vmm.SerialNull
	case v == "none":
		c.Serial = vmm.SerialNone
	case strings.HasPrefix(v, "file:") && len(v) > len("file:"):
		c.Serial, c.SerialPath = vmm.SerialFile, strings.TrimPrefix(v, "file:")
	default:
		return fmt.Errorf("unknown serial device (stdio, file:PATH, null or none)")
	}
	return nil
}

// parseNetdev: -netdev tap,id=ID[,ifname=NAME][,sndbuf=N][,vnet_hdr=on|off].
func parseNetdev(p *parser, v string) error {
	o, err := qemuopt.Parse(v, "type")
	if err != nil {
		return err
	}
	typ, _ := o.Get("type")
	if typ != "tap" {
		return fmt.Errorf("netdev type %q: only tap is supported", typ)
	}
	if err := o.Only("type", "id", "ifname", "sndbuf", "vnet_hdr", "script", "downscript"); err != nil {
		return err
	}
	id, ok := o.Get("id")
	if !ok || id == "" {
		return fmt.Errorf("tap needs id=")
	}
	if _, dup := p.netdevs[id]; dup {
		return fmt.Errorf("duplicate netdev id %q", id)
	}
	n, err := tapOpts(o)
	if err != nil {
		return err
	}
	n.ID = id
	p.netdevs[id] = &n
	p.order = append(p.order, id)
	return nil
}

// tapOpts reads the tap options shared by -netdev tap and -net tap.
func tapOpts(o qemuopt.Opts) (vmm.NetConfig, error) {
	n := vmm.NetConfig{VnetHdr: true}
	n.IfName, _ = o.Get("ifname")
	if len(n.IfName) > 15 {
		return n, fmt.Errorf("ifname %q: longer than 15 characters", n.IfName)
	}
	if s, ok := o.Get("sndbuf"); ok {
		v, err := qemuopt.Size(s, 1)
		if err != nil {
			return n, fmt.Errorf("sndbuf: %w", err)
		}
		if v > 1<<31-1 {
			return n, fmt.Errorf("sndbuf %s: at most 2G", s)
		}
		n.SndBuf = int(v) // 0, as QEMU, means unlimited
	}
	if s, ok := o.Get("vnet_hdr"); ok {
		on, err := qemuopt.Bool(s)
		if err != nil {
			return n, fmt.Errorf("vnet_hdr: %w", err)
		}
		n.VnetHdr = on
	}
	for _, k := range []string{"script", "downscript"} {
		if s, ok := o.Get(k); ok && s != "no" {
			return n, fmt.Errorf("%s=%s: govmm runs no scripts; create the tap beforehand and give %s=no", k, s, k)
		}
	}
	return n, nil
}

func parseMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("mac=%s: not a MAC address (like 52:54:00:12:34:56)", s)
	}
	if mac[0]&1 != 0 {
		return nil, fmt.Errorf("mac=%s: a multicast address cannot be a NIC's", s)
	}
	return mac, nil
}

// parseNet is QEMU's older spelling: -net nic[,model=virtio][,macaddr=MAC]
// and -net tap[,ifname=NAME][,sndbuf=N]; nics and taps pair up in order.
func parseNet(p *parser, v string) error {
	o, err := qemuopt.Parse(v, "type")
	if err != nil {
		return err
	}
	typ, _ := o.Get("type")
	switch typ {
	case "nic":
		if err := o.Only("type", "model", "macaddr"); err != nil {
			return err
		}
		if m, ok := o.Get("model"); ok && m != "virtio" && m != "virtio-net-pci" && m != "virtio-net-device" {
			return fmt.Errorf("model %q: only virtio", m)
		}
		var nic nicOpts
		if s, ok := o.Get("macaddr"); ok {
			if nic.mac, err = parseMAC(s); err != nil {
				return err
			}
		}
		p.nics = append(p.nics, nic)
	case "tap":
		if err := o.Only("type", "ifname", "sndbuf", "vnet_hdr", "script", "downscript", "id", "name"); err != nil {
			return err
		}
		n, err := tapOpts(o)
		if err != nil {
			return err
		}
		p.netTaps = append(p.netTaps, n)
	default:
		return fmt.Errorf("net type %q: nic or tap", typ)
	}
	return nil
}

// parseDevice: -device virtio-net-pci|virtio-net-device,netdev=ID[,mac=MAC].
func parseDevice(p *parser, v string) error {
	o, err := qemuopt.Parse(v, "driver")
	if err != nil {
		return err
	}
	drv, _ := o.Get("driver")
	switch drv {
	case "virtio-net-pci", "virtio-net-device":
		if err := o.Only("driver", "netdev", "mac", "id"); err != nil {
			return err
		}
		id, ok := o.Get("netdev")
		if !ok {
			return fmt.Errorf("%s needs netdev=ID", drv)
		}
		n, ok := p.netdevs[id]
		if !ok {
			return fmt.Errorf("no -netdev with id=%s (give -netdev before -device)", id)
		}
		if p.used[id] {
			return fmt.Errorf("netdev %s is already used by another device", id)
		}
		p.used[id] = true
		if s, ok := o.Get("mac"); ok {
			if n.MAC, err = parseMAC(s); err != nil {
				return err
			}
		}
		n.Transport = "pci"
		if drv == "virtio-net-device" {
			n.Transport = "mmio"
		}
		p.cfg.Nets = append(p.cfg.Nets, *n)
		return nil
	case "virtio-blk-pci", "virtio-blk-device":
		if err := o.Only("driver", "drive", "serial", "id"); err != nil {
			return err
		}
		id, ok := o.Get("drive")
		if !ok {
			return fmt.Errorf("%s needs drive=ID", drv)
		}
		d, ok := p.drives[id]
		if !ok {
			return fmt.Errorf("no -drive with id=%s,if=none (give -drive before -device)", id)
		}
		delete(p.drives, id)
		if s, ok := o.Get("serial"); ok {
			d.Serial = s
		}
		d.Transport = "pci"
		if drv == "virtio-blk-device" {
			d.Transport = "mmio"
		}
		p.cfg.Drives = append(p.cfg.Drives, *d)
		return nil
	case "virtio-rng-pci", "virtio-rng-device":
		if err := o.Only("driver", "id"); err != nil {
			return err
		}
		t := "pci"
		if drv == "virtio-rng-device" {
			t = "mmio"
		}
		p.cfg.RNGs = append(p.cfg.RNGs, t)
		return nil
	}
	return fmt.Errorf("unknown device %q", drv)
}

// finish checks what needs the whole command line.
func (p *parser) finish() error {
	if len(p.nics) != len(p.netTaps) {
		return fmt.Errorf("-net: %d nic and %d tap: each -net nic pairs with one -net tap", len(p.nics), len(p.netTaps))
	}
	for i, n := range p.netTaps {
		n.ID = fmt.Sprintf("net%d", i)
		n.MAC = p.nics[i].mac
		n.Transport = ""
		p.cfg.Nets = append(p.cfg.Nets, n)
	}
	for _, id := range p.order {
		if !p.used[id] {
			p.warnings = append(p.warnings, fmt.Sprintf("netdev %s is not used by any device", id))
		}
	}
	for id := range p.drives {
		p.warnings = append(p.warnings, fmt.Sprintf("drive %s (if=none) is not used by any device", id))
	}
	return nil
}

// parseDrive: -drive file=PATH[,if=virtio|none][,format=raw][,id=ID]
// [,readonly=on][,cache=writeback|none][,serial=ID]. if=virtio (the
// default here) attaches a virtio-blk device on the machine's transport;
// if=none waits for -device virtio-blk-*,drive=ID.
func parseDrive(p *parser, v string) error {
	o, err := qemuopt.Parse(v, "")
	if err != nil {
		return err
	}
	if err := o.Only("file", "if", "format", "id", "readonly", "cache", "serial"); err != nil {
		return err
	}
	d := vmm.DriveConfig{}
	var ok bool
	if d.Path, ok = o.Get("file"); !ok || d.Path == "" {
		return fmt.Errorf("drive needs file=")
	}
	if f, ok := o.Get("format"); ok && f != "raw" {
		return fmt.Errorf("format=%s: only raw images are supported", f)
	}
	if s, ok := o.Get("readonly"); ok {
		if d.ReadOnly, err = qemuopt.Bool(s); err != nil {
			return fmt.Errorf("readonly: %w", err)
		}
	}
	switch c, _ := o.Get("cache"); c {
	case "", "writeback":
	case "none":
		d.Direct = true
	default:
		return fmt.Errorf("cache=%s: writeback or none", c)
	}
	d.Serial, _ = o.Get("serial")
	if len(d.Serial) > 20 {
		return fmt.Errorf("serial=%s: at most 20 characters", d.Serial)
	}
	p.driveN++
	d.ID, ok = o.Get("id")
	if !ok {
		d.ID = fmt.Sprintf("drive%d", p.driveN-1)
	}
	switch iface, _ := o.Get("if"); iface {
	case "", "virtio":
		p.cfg.Drives = append(p.cfg.Drives, d)
	case "none":
		if _, ok := o.Get("id"); !ok {
			return fmt.Errorf("if=none needs id= for -device virtio-blk-*,drive=ID")
		}
		if _, dup := p.drives[d.ID]; dup {
			return fmt.Errorf("duplicate drive id %q", d.ID)
		}
		p.drives[d.ID] = &d
	default:
		return fmt.Errorf("if=%s: virtio or none", iface)
	}
	return nil
}
