package net

import (
	"bytes"
	"testing"
	"time"

	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/tap/taptest"
	"github.com/govmm/govmm/virtio/virtiotest"
)

// tapHarness is newHarness over a real tap.
func tapHarness(t *testing.T, tp *tap.Tap) *harness {
	t.Helper()
	return activate(t, Config{ID: "n0", Backend: tp, VnetHdr: true, MAC: taptest.GuestMAC, QueueSize: 1024}, allFeatures, 256<<20)
}

// TestTapBothWays: frames the device transmits arrive at a veth peer, and
// frames the peer sends land in the guest's receive buffers.
func TestTapBothWays(t *testing.T) {
	taptest.SkipIfNotRoot(t)
	tp := taptest.NewTapPeer(t, taptest.TapPeerOptions{})
	tt := tp.Open(t, tap.Options{VnetHdr: true})
	if err := tp.WaitForwarding(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	h := tapHarness(t, tt)
	out, err := taptest.AppendUDPFrame(nil, taptest.UDPFrame{
		SrcMAC: taptest.GuestMAC, DstMAC: taptest.PeerMAC, SrcIP: taptest.GuestIP, DstIP: taptest.ReceiverIP,
		SrcPort: 1, DstPort: 2, Payload: []byte("from the guest"),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.tx.Offer(false, virtiotest.R(hdr()), virtiotest.R(out))
	kick(t, h.tx)
	got, err := tp.Peer.RecvMatching(5*time.Second, func(f []byte) bool { return bytes.Equal(f, out) })
	if err != nil {
		t.Fatalf("peer did not get the guest's frame: %v", err)
	}
	_ = got

	// With guest TSO negotiated, frames may be 64 KiB: the device waits
	// until the posted buffers can hold one, as Linux's ring always can.
	for i := 0; i < 64; i++ {
		h.rx.Offer(false, virtiotest.W(2048))
	}
	kick(t, h.rx)
	in, err := taptest.AppendUDPFrame(nil, taptest.UDPFrame{
		SrcMAC: taptest.PeerMAC, DstMAC: taptest.GuestMAC, SrcIP: taptest.ReceiverIP, DstIP: taptest.GuestIP,
		SrcPort: 2, DstPort: 1, Payload: []byte("from the network"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Peer.Send(in); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, u := range h.rx.Collect() {
			if int(u.Len) == HdrSize+len(in) {
				return // the frame (the only one of its size) arrived
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the peer's frame never reached the guest's buffers")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSeedBottleneck is the seed at device level: a fake driver floods
// 3000 UDP datagrams of 1000 bytes through virtio-net into a tap bridged
// with a veth whose egress is a 10 Mbit/s tbf. With sndbuf=65536 every
// datagram arrives and EAGAINs occurred; with the default sndbuf, datagrams
// are lost in the qdisc. The bounded wait also proves the writer never
// hangs after EAGAIN (the netpoller trap).
func TestSeedBottleneck(t *testing.T) {
	taptest.SkipIfNotRoot(t)
	if testing.Short() {
		t.Skip("takes about 3 s per case")
	}
	for _, c := range []struct {
		name   string
		sndbuf int
	}{{"sndbuf=65536", 65536}, {"default sndbuf", 0}} {
		t.Run(c.name, func(t *testing.T) {
			const n, payload = 3000, 1000
			b := taptest.NewBottleneck(t, taptest.BottleneckOptions{})
			tt := b.Open(t, tap.Options{VnetHdr: true, SndBuf: c.sndbuf})
			if err := b.WaitForwarding(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			h := tapHarness(t, tt)
			start := time.Now()
			offered, completed := 0, 0
			// The driver keeps the ring full, as a guest's sending
			// application would, and refills as buffers are used.
			for completed < n {
				for offered < n && offered-completed < 1000 {
					h.tx.Offer(false, virtiotest.R(append(hdr(), b.Frame(uint32(offered), payload)...)))
					offered++
				}
				kick(t, h.tx)
				u := h.tx.Collect()
				completed += len(u)
				if len(u) == 0 {
					select {
					case <-h.irq.kick:
					case <-time.After(10 * time.Millisecond):
					}
				}
				if time.Since(start) > 60*time.Second {
					t.Fatalf("transmit stalled: %d of %d completed after %v (eagain %d)", completed, n, time.Since(start), h.dev.Metrics.TapWriteEagain.Load())
				}
			}
			sent := time.Since(start)
			got := b.Receiver.WaitQuiet(500*time.Millisecond, 30*time.Second)
			stats, _ := b.QdiscStats()
			m := &h.dev.Metrics
			t.Logf("%s: %d/%d received, sent in %v, eagain %d, parked %v, qdisc drops %d",
				c.name, got, n, sent.Round(time.Millisecond), m.TapWriteEagain.Load(),
				time.Duration(m.TxParkedNs.Load()).Round(time.Millisecond), stats.Drops)
			if m.TxFrames.Load() != n || m.TxDropped.Load() != 0 {
				t.Fatalf("device wrote %d frames, dropped %d", m.TxFrames.Load(), m.TxDropped.Load())
			}
			if b.Receiver.Duplicates() != 0 || b.Receiver.Corrupt() != 0 {
				t.Fatalf("duplicates %d corrupt %d", b.Receiver.Duplicates(), b.Receiver.Corrupt())
			}
			if c.sndbuf > 0 {
				if got != n {
					t.Fatalf("with sndbuf %d: %d of %d datagrams arrived", c.sndbuf, got, n)
				}
				if m.TapWriteEagain.Load() == 0 {
					t.Fatal("no EAGAIN: the bottleneck never pushed back")
				}
			} else if got >= n || stats.Drops == 0 {
				t.Fatalf("without sndbuf: %d of %d arrived, qdisc dropped %d; expected losses", got, n, stats.Drops)
			}
		})
	}
}
