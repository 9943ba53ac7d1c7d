// Command net measures the data-plane throughput of govmm's virtio-net
// device through a fake driver, and in the same run the raw limit of the
// same tap, alternating the two. It is the tool behind `make bench-net`
// (mk/bench-net.mk).
//
// Usage:
//
//	net [-rounds 15] [-warmup 1] [-cases tx_64,...] [-sides raw,govmm]
//	    [-queue-size 1024] [-scale 1] [-driver irq|poll]
//	    [-rx-kick always|event] [-raw-rx-layout single|guest]
//	    [-cpuprofile FILE] [-v]
//
// Everything happens inside a private network namespace holding one tap
// (IFF_VNET_HDR, TUNSETOFFLOAD CSUM|TSO4|TSO6|TSO_ECN as the device sets
// them for a Linux guest, txqueuelen raised to hold a whole receive round).
// The tap is opened once; raw runs use it directly while the device is
// reset, govmm runs activate the device on it. Nothing outlives the
// process: the namespace is held only by this process's descriptors and
// the tap is not persistent, so even a killed run leaves nothing behind;
// SIGINT and SIGTERM stop between runs and clean up explicitly.
//
// Frame sizes. A case's size (64, 1500) is the length of the IPv4/UDP
// packet, IP header onwards; the Ethernet frame is 14 bytes longer (78,
// 1514: no VLAN tag, no FCS) and carries the 12-byte virtio_net_hdr_v1 on
// top through the tap. The TSO cases use one TCPv4 frame of 45 segments of
// gso_size 1448 (TCP header with timestamps, 65212-byte IP packet,
// 65226-byte Ethernet frame) with a header asking for NEEDS_CSUM and
// GSO_TCPV4. Frames per second count these frames (a TSO frame is one
// frame); Gbit/s count their Ethernet bytes, as the device's tx_bytes and
// rx_bytes do.
//
// Transmit. Raw: a loop of Tap.Writev of the same frame. govmm: the device,
// activated with every feature it offers (as Linux accepts them: EVENT_IDX,
// INDIRECT_DESC, MRG_RXBUF, offloads), and a driver whose descriptors are
// written once. It behaves as Linux's virtio-net under a saturating
// sender: it makes every free chain available with one avail index store,
// kicks when avail_event asks, asks for an interrupt once three quarters of
// the outstanding chains are used (virtqueue_enable_cb_delayed), sleeps,
// and refills with the chains used. Chains are shaped as Linux shapes them:
// one descriptor holding header and frame for 64 and 1500; for TSO, an
// indirect table with header plus protocol headers in the first buffer and
// the payload in 32 KiB fragments. Every chain points at the same frame, as
// the raw loop writes the same pieces over and over. In both, the stack
// behind the tap drops the frames (PACKET_OTHERHOST): the figure is the
// write path, syscall, skb and a short trip into the stack.
//
// Receive. The frames come from the network side: an AF_PACKET socket with
// PACKET_VNET_HDR and PACKET_QDISC_BYPASS sends them on the tap's interface
// (GSO frames stay whole because the tap has TSO4), filling the tap's queue
// with a round's frames before the clock starts, so the consumer is the only
// thing timed. Raw: Tap.Readv into one buffer large enough for any frame
// (12 + 65550 bytes) until the queue is empty; with -raw-rx-layout guest,
// into a window of that size moving through an area as large as the
// device's receive buffers, to separate the cost of the guest's memory
// footprint from the device's. govmm: every receive buffer posted
// (mergeable buffers as Linux sizes them: 1536 bytes, 4096 for TSO), the
// clock starts, the device is activated and delivers; the driver works as
// Linux's NAPI loop does on the ring: on an interrupt it takes the used
// buffers, re-posts them, re-arms the interrupt for the next used buffer
// and sleeps. After re-posting it kicks when avail_event asks (the
// default, Linux's rule: an early version of the device stalled under it,
// waiting for a kick the rule never sent) or, with -rx-kick always, after
// every re-post.
//
// -driver poll makes the driver spin on the used rings instead of sleeping
// (a guest that never lets the rings run dry); it costs a whole CPU, which
// on a 2-CPU machine slows the device down.
//
// Each round runs every case raw and govmm in alternating order. The report
// (stdout, one "name value" line each) gives medians and extremes of
// frames/s, the median of the per-round govmm/raw ratios (a round's two runs
// see the same machine state), ns/frame and the device's per-frame overhead
// (govmm ns/frame minus raw ns/frame), and Gbit/s. The target ratio, 0.9, is
// printed, never asserted: the machines this runs on are shared and noisy;
// compare ratios taken in one run only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// targetRatio is the goal for govmm/raw frames per second, printed with the
// results and never asserted.
const targetRatio = 0.9

// TSO frame shape: 45 full segments of a 1500-byte MTU.
const (
	tsoMSS  = 1448
	tsoSegs = 45
)

type direction int

const (
	dirTX direction = iota // guest to network: the device writes the tap
	dirRX                  // network to guest: the device reads the tap
)

func (d direction) String() string {
	if d == dirTX {
		return "tx"
	}
	return "rx"
}

// benchCase is one figure: a direction and a frame.
type benchCase struct {
	name   string
	dir    direction
	ipSize int  // IPv4 packet length (ignored for TSO)
	tso    bool // a 64 KiB TCPv4 GSO frame
	frames int  // frames per run at -scale 1
}

// frameBytes is the Ethernet frame length.
func (c benchCase) frameBytes() int {
	if c.tso {
		return ethHdrLen + ipHdrLen + tcpHdrLen + tsoMSS*tsoSegs
	}
	return ethHdrLen + c.ipSize
}

// allCases are measured in this order. Frame counts make one run last some
// tens of milliseconds here: long enough to amortize the per-batch driver
// round trip and timer granularity, short enough for many rounds.
var allCases = []benchCase{
	{name: "tx_64", dir: dirTX, ipSize: 64, frames: 1 << 16},
	{name: "tx_1500", dir: dirTX, ipSize: 1500, frames: 1 << 15},
	{name: "tx_tso", dir: dirTX, tso: true, frames: 1 << 13},
	{name: "rx_64", dir: dirRX, ipSize: 64, frames: 1 << 15},
	{name: "rx_1500", dir: dirRX, ipSize: 1500, frames: 1 << 15},
	{name: "rx_tso", dir: dirRX, tso: true, frames: 1 << 11},
}

// config is the parsed command line.
type config struct {
	rounds, warmup int
	cases          []benchCase
	raw, govmm     bool
	queueSize      int
	scale          float64
	tsoFrag        int // TX TSO payload fragment size
	rxBuf, rxBufTS int // mergeable receive buffer sizes (small frames, TSO)
	timeout        time.Duration
	driver         string // "irq" or "poll"
	rawRXLayout    string // "single" or "guest"
	rxKick         string // "event" or "always"
	cpuProfile     string
	verbose        bool
}

// rxBufFor is the receive buffer size the driver posts for c.
func (cfg *config) rxBufFor(c benchCase) int {
	if c.tso {
		return cfg.rxBufTS
	}
	return cfg.rxBuf
}

func (c benchCase) runFrames(cfg *config) int {
	return max(1, int(float64(c.frames)*cfg.scale))
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bench/net", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var names []string
	for _, c := range allCases {
		names = append(names, c.name)
	}
	cfg := &config{}
	fs.IntVar(&cfg.rounds, "rounds", 15, "measured rounds; each runs every case raw and govmm once")
	fs.IntVar(&cfg.warmup, "warmup", 1, "unmeasured rounds first")
	cases := fs.String("cases", strings.Join(names, ","), "comma-separated cases to run")
	sides := fs.String("sides", "raw,govmm", "which sides to run: raw, govmm or both (ratios need both)")
	fs.IntVar(&cfg.queueSize, "queue-size", 1024, "size of both virtqueues (a power of two; govmm's own default is 256)")
	fs.Float64Var(&cfg.scale, "scale", 1, "multiplies every case's frames per run")
	fs.IntVar(&cfg.tsoFrag, "tso-frag", 32<<10, "TX TSO chains: payload fragment size in bytes (Linux: 32 KiB page frags)")
	fs.IntVar(&cfg.rxBuf, "rx-buf", 1536, "mergeable receive buffer size for 64 and 1500 (Linux: 1518+12 rounded to 64)")
	fs.IntVar(&cfg.rxBufTS, "rx-buf-tso", 4096, "mergeable receive buffer size for TSO (Linux's EWMA reaches a page)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "fail a run that makes no progress for this long")
	fs.StringVar(&cfg.driver, "driver", "irq", "irq: the driver sleeps until interrupts as Linux does; poll: it spins on the used rings")
	fs.StringVar(&cfg.rawRXLayout, "raw-rx-layout", "single", "raw receive: into one buffer (single), or through a window moving over the guest's receive buffer footprint (guest)")
	fs.StringVar(&cfg.rxKick, "rx-kick", "event", "after re-posting receive buffers, kick always, or when avail_event asks (event, Linux's rule)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run, samples labelled side=raw|govmm and case=NAME")
	fs.BoolVar(&cfg.verbose, "v", false, "print every run and the device counters on stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.rounds < 1 || cfg.warmup < 0 {
		return nil, errors.New("-rounds must be at least 1 and -warmup at least 0")
	}
	if q := cfg.queueSize; q < 64 || q > 32768 || q&(q-1) != 0 {
		return nil, fmt.Errorf("-queue-size %d: want a power of two from 64 to 32768", q)
	}
	if !(cfg.scale > 0) {
		return nil, errors.New("-scale must be positive")
	}
	if cfg.tsoFrag < 1 || cfg.rxBuf < vnetHdrLen || cfg.rxBufTS < vnetHdrLen {
		return nil, errors.New("-tso-frag must be positive, -rx-buf and -rx-buf-tso at least 12")
	}
	if cfg.driver != "irq" && cfg.driver != "poll" {
		return nil, fmt.Errorf("-driver %q: want irq or poll", cfg.driver)
	}
	if cfg.rawRXLayout != "single" && cfg.rawRXLayout != "guest" {
		return nil, fmt.Errorf("-raw-rx-layout %q: want single or guest", cfg.rawRXLayout)
	}
	if cfg.rxKick != "event" && cfg.rxKick != "always" {
		return nil, fmt.Errorf("-rx-kick %q: want event or always", cfg.rxKick)
	}
	for _, n := range strings.Split(*cases, ",") {
		n = strings.TrimSpace(n)
		i := slices.IndexFunc(allCases, func(c benchCase) bool { return c.name == n })
		if i < 0 {
			return nil, fmt.Errorf("-cases: unknown case %q (have %s)", n, strings.Join(names, ", "))
		}
		if !slices.ContainsFunc(cfg.cases, func(c benchCase) bool { return c.name == n }) {
			cfg.cases = append(cfg.cases, allCases[i])
		}
	}
	for _, s := range strings.Split(*sides, ",") {
		switch strings.TrimSpace(s) {
		case "raw":
			cfg.raw = true
		case "govmm":
			cfg.govmm = true
		default:
			return nil, fmt.Errorf("-sides: unknown side %q (raw, govmm)", s)
		}
	}
	return cfg, nil
}

// results are the measured rates per case name.
type results map[string]*pairs

// interrupted is set by the first SIGINT or SIGTERM; runs stop at the next
// check.
var interrupted atomic.Bool

var errInterrupted = errors.New("interrupted")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench/net: %v\n", err)
		return 2
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; !ok {
			return
		}
		interrupted.Store(true)
		fmt.Fprintln(stderr, "bench/net: interrupted; stopping after this run and cleaning up (again to quit now)")
		select {
		case <-sig:
		case <-time.After(15 * time.Second):
		}
		// The kernel deletes the namespace and the tap with our fds.
		os.Exit(130)
	}()
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "bench/net: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "bench/net: cpu profile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	res, err := measure(cfg, stderr)
	switch {
	case errors.Is(err, errSkipped):
		fmt.Fprintf(stderr, "bench/net: %v\n", err)
		return 0
	case errors.Is(err, errInterrupted):
		return 130
	case err != nil:
		fmt.Fprintf(stderr, "bench/net: %v\n", err)
		return 1
	}
	report(stdout, cfg, res)
	return 0
}

// report prints one "name value" line per figure.
func report(w io.Writer, cfg *config, res results) {
	line := func(name string, v float64, prec int) {
		fmt.Fprintf(w, "%s %s\n", name, strconv.FormatFloat(v, 'f', prec, 64))
	}
	line("rounds", float64(cfg.rounds), 0)
	line("net_queue_size", float64(cfg.queueSize), 0)
	for _, c := range cfg.cases {
		p := res[c.name]
		if p == nil {
			continue
		}
		s := summarize(*p, c.frameBytes())
		pre := "net_" + c.name
		line(pre+"_frame_bytes", float64(c.frameBytes()), 0)
		line(pre+"_frames_per_run", float64(c.runFrames(cfg)), 0)
		if cfg.raw {
			line(pre+"_raw_fps", s.rawFPS, 0)
			line(pre+"_raw_fps_min", s.rawMin, 0)
			line(pre+"_raw_fps_max", s.rawMax, 0)
			line(pre+"_raw_ns_per_frame", s.rawNs, 1)
			line(pre+"_raw_gbps", s.rawGbps, 3)
		}
		if cfg.govmm {
			line(pre+"_govmm_fps", s.govmmFPS, 0)
			line(pre+"_govmm_fps_min", s.govmmMin, 0)
			line(pre+"_govmm_fps_max", s.govmmMax, 0)
			line(pre+"_govmm_ns_per_frame", s.govmmNs, 1)
			line(pre+"_govmm_gbps", s.govmmGbps, 3)
		}
		if cfg.raw && cfg.govmm {
			line(pre+"_ratio", s.ratio, 4)
			line(pre+"_ratio_min", s.ratioMin, 4)
			line(pre+"_ratio_max", s.ratioMax, 4)
			line(pre+"_overhead_ns_per_frame", s.overheadNs, 1)
		}
	}
	line("target_net_ratio", targetRatio, 2)
}
