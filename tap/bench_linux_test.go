//go:build linux

package tap_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/tap/taptest"
	"golang.org/x/sys/unix"
)

// BenchmarkWritev measures the raw write path: 1514-byte frames into a tap that
// is up, alone in a namespace, with nothing reading. Where the frames go: the
// write runs the receive path synchronously (tun_get_user -> netif_receive_skb),
// finds no bridge and no matching MAC, and ip_rcv drops the frame as
// PACKET_OTHERHOST; the benchmark logs the interface's counters to show it. So
// the cost is the syscall, the copy into an skb and a short trip into the
// stack, with no queueing and no EAGAIN.
//
// "default" uses the unlimited send buffer, for which tun_can_build_skb picks
// the page-fragment build_skb path (uncharged); "sndbuf" sets one, which forces
// the charged sock_alloc_send_pskb path that backpressure depends on.
func BenchmarkWritev(b *testing.B) {
	ns := taptest.NewNS(b)
	for _, c := range []struct {
		name   string
		opts   tap.Options
		xsys   bool // x/sys unix.Writev instead of Tap.Writev, for comparison
		pieces int
	}{
		{"default", tap.Options{}, false, 1},
		{"default/vnet_hdr", tap.Options{VnetHdr: true}, false, 2},
		{"sndbuf", tap.Options{SndBuf: 1 << 20}, false, 1},
		{"sndbuf/vnet_hdr", tap.Options{SndBuf: 1 << 20, VnetHdr: true}, false, 2},
		// A scattered frame (a virtio chain of many descriptors): x/sys's
		// unix.Writev allocates its []Iovec beyond 8 buffers, Tap reuses
		// its own.
		{"vnet_hdr/16iov", tap.Options{VnetHdr: true}, false, 16},
		{"x-sys-unix.Writev/vnet_hdr/16iov", tap.Options{VnetHdr: true}, true, 16},
	} {
		b.Run(c.name, func(b *testing.B) {
			var tp *tap.Tap
			err := ns.Do(func() error {
				var err error
				tp, err = tap.Open("bench0", c.opts)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			defer tp.Close()
			l, err := ns.Netlink().LinkByName("bench0")
			if err == nil {
				err = ns.Netlink().LinkSetUp(l)
			}
			if err != nil {
				b.Fatal(err)
			}
			f := taptest.WithVnetHdr(frame(b, 1, 1514, taptest.GuestMAC, taptest.PeerMAC), tp.VnetHdrSize())
			iov := [][]byte{f}
			if c.pieces > 1 {
				h := tp.VnetHdrSize()
				iov = [][]byte{f[:h]}
				for body, step := f[h:], (len(f)-h)/(c.pieces-1)+1; len(body) > 0; body = body[min(step, len(body)):] {
					iov = append(iov, body[:min(step, len(body))])
				}
			}
			b.SetBytes(int64(len(f)))
			b.ReportAllocs()
			for b.Loop() {
				if c.xsys {
					if _, err := unix.Writev(tp.FD(), iov); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if _, err := tp.Writev(iov); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if b.N > 1000 {
				b.Logf("%d writes in %d buffers; bench0 %s", b.N, len(iov), rxCounters(ns, "bench0"))
			}
		})
	}
}

// rxCounters summarizes the receive counters of ifname from `ip -s -s link`,
// whose "otherhost" column counts frames ip_rcv dropped for not being addressed
// to the host.
func rxCounters(ns *taptest.NS, ifname string) string {
	var out []byte
	ns.Do(func() error {
		out, _ = exec.Command("ip", "-s", "-s", "link", "show", "dev", ifname).CombinedOutput()
		return nil
	})
	lines := strings.Split(string(out), "\n")
	var packets, otherhost string
	for i := 0; i+1 < len(lines); i++ {
		head, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(head) > 2 && head[0] == "RX:" && len(vals) > 1 {
			packets = vals[1] // RX: bytes packets ...
		}
		if len(head) > 2 && head[0] == "RX" && head[len(head)-1] == "otherhost" && len(vals) > 0 {
			otherhost = vals[len(vals)-1]
		}
	}
	return fmt.Sprintf("rx packets %s, dropped as otherhost %s", packets, otherhost)
}
