//go:build linux

package tap_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/tap/taptest"
	"golang.org/x/sys/unix"
)

const (
	seedFrames  = 3000
	seedPayload = 1000
	// seedDeadline bounds a run that should take about 2.5 s (3000 frames of
	// 1042 bytes at 10 Mbit/s): the test fails rather than hangs if
	// backpressure stops making progress.
	seedDeadline = 60 * time.Second
)

type seedResult struct {
	eagain    int
	written   time.Duration // until the last frame was taken
	delivered int
	qdisc     taptest.QdiscStats
}

// sendSeed writes the seed's frames into the bottleneck the way virtio-net
// does: a frame refused with ErrWouldBlock is held and retried after
// WaitWritable, never dropped.
func sendSeed(t *testing.T, b *taptest.Bottleneck, tp *tap.Tap) seedResult {
	t.Helper()
	var r seedResult
	hdr := tp.VnetHdrSize()
	start := time.Now()
	deadline := start.Add(seedDeadline)
	for seq := uint32(0); seq < seedFrames; seq++ {
		f := taptest.WithVnetHdr(b.Frame(seq, seedPayload), hdr)
		for {
			_, err := tp.Writev([][]byte{f})
			if err == nil {
				break
			}
			if !errors.Is(err, tap.ErrWouldBlock) {
				t.Fatalf("frame %d: %v", seq, err)
			}
			r.eagain++
			// Short waits, so that a wakeup that never comes shows up
			// as a failure at the deadline, not as a hang.
			for {
				if time.Now().After(deadline) {
					t.Fatalf("frame %d still not written after %v (%d EAGAINs, %d delivered): write-space wakeups stopped", seq, seedDeadline, r.eagain, b.Receiver.Received())
				}
				w, err := tp.WaitWritable(time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if w {
					break
				}
			}
		}
	}
	r.written = time.Since(start)
	qs, err := b.WaitDrained(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r.qdisc = qs
	r.delivered = b.Receiver.WaitQuiet(200*time.Millisecond, 10*time.Second)
	if d, c := b.Receiver.Duplicates(), b.Receiver.Corrupt(); d != 0 || c != 0 {
		t.Errorf("receiver saw %d duplicates and %d corrupt datagrams", d, c)
	}
	return r
}

// TestSeedBackpressure is the seed scenario at tap level: with a 64 KiB send
// buffer the bottleneck pushes back (EAGAIN) instead of dropping, and holding
// and retrying each refused frame delivers all of them at the bottleneck's
// rate. It is also the netpoller-trap test: waiting for write space must keep
// working for the whole run.
func TestSeedBackpressure(t *testing.T) {
	for _, vnet := range []bool{false, true} {
		t.Run(vnetName(vnet), func(t *testing.T) {
			b := taptest.NewBottleneck(t, taptest.BottleneckOptions{})
			tp := b.Open(t, tap.Options{SndBuf: 65536, VnetHdr: vnet})
			r := sendSeed(t, b, tp)
			t.Logf("sndbuf 65536: %d EAGAINs, %d frames taken in %v, %d/%d delivered, qdisc sent %d dropped %d",
				r.eagain, seedFrames, r.written.Round(time.Millisecond), r.delivered, seedFrames, r.qdisc.Packets, r.qdisc.Drops)
			if r.delivered != seedFrames {
				t.Errorf("%d of %d datagrams delivered, want all", r.delivered, seedFrames)
			}
			if r.eagain == 0 {
				t.Error("no EAGAIN: the bottleneck never pushed back")
			}
			if r.qdisc.Drops != 0 {
				t.Errorf("qdisc dropped %d frames despite backpressure", r.qdisc.Drops)
			}
			// 3000 x 1042 bytes at 10 Mbit/s is 2.5 s; much faster
			// means the bottleneck was not in the path.
			if r.written < 2*time.Second {
				t.Errorf("all frames taken in %v: faster than the 10 Mbit/s bottleneck allows", r.written)
			}
		})
	}
}

// TestSeedDefaultSndBufDrops: with the default (unlimited) send buffer the tap
// never pushes back, and the bottleneck drops what it cannot queue.
func TestSeedDefaultSndBufDrops(t *testing.T) {
	b := taptest.NewBottleneck(t, taptest.BottleneckOptions{})
	tp := b.Open(t, tap.Options{})
	r := sendSeed(t, b, tp)
	t.Logf("default sndbuf: %d EAGAINs, %d frames taken in %v, %d/%d delivered, qdisc sent %d dropped %d",
		r.eagain, seedFrames, r.written.Round(time.Millisecond), r.delivered, seedFrames, r.qdisc.Packets, r.qdisc.Drops)
	if r.eagain != 0 {
		t.Errorf("%d EAGAINs with an unlimited send buffer", r.eagain)
	}
	if r.delivered >= seedFrames || r.qdisc.Drops == 0 {
		t.Errorf("%d delivered, %d dropped by the qdisc: want losses in the qdisc", r.delivered, r.qdisc.Drops)
	}
	// Every frame is accounted for: delivered or dropped by the qdisc.
	if r.delivered+int(r.qdisc.Drops) != seedFrames {
		t.Errorf("%d delivered + %d dropped != %d sent", r.delivered, r.qdisc.Drops, seedFrames)
	}
}

// TestNetpollerTrap shows why Tap does not use os.File: on an os.File over the
// same non-blocking tap fd, a write that meets a full send buffer parks in Go's
// netpoller waiting for an edge that the tap never sends (see the package
// comment), even after the bottleneck has drained. A write deadline turns the
// hang into a timeout. Tap's WaitWritable, whose poll(2) arms the wakeup, then
// finds the tap writable at once. If a future kernel or Go signals the edge,
// the os.File loop finishes and the test only logs it.
func TestNetpollerTrap(t *testing.T) {
	b := taptest.NewBottleneck(t, taptest.BottleneckOptions{})
	tp := b.Open(t, tap.Options{SndBuf: 65536})
	fd, err := unix.Dup(tp.FD())
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "tap") // non-blocking fd: goes to the netpoller
	defer f.Close()
	for seq := uint32(0); seq < 1000; seq++ {
		// 64 KiB drains through 10 Mbit/s in about 50 ms; a second is
		// twenty times what a working wakeup needs.
		f.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := f.Write(b.Frame(seq, seedPayload)); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("os.File write %d: %v", seq, err)
			}
			qs, err := b.QdiscStats()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			w, err := tp.WaitWritable(time.Second)
			if !w || err != nil {
				t.Fatalf("WaitWritable after the os.File stall = %v, %v", w, err)
			}
			t.Logf("os.File write of frame %d stalled for 1 s with the qdisc holding %d packets; poll(2) found the tap writable in %v", seq, qs.Qlen, time.Since(start))
			if _, err := tp.Writev([][]byte{b.Frame(seq, seedPayload)}); err != nil {
				t.Fatalf("Writev after WaitWritable: %v", err)
			}
			return
		}
	}
	t.Log("os.File writes did not stall on this kernel and Go")
}
