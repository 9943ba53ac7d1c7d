//go:build linux

package tap_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/govmm/govmm/tap"
	"github.com/govmm/govmm/tap/taptest"
	"golang.org/x/sys/unix"
)

// frame returns a UDP frame of frameLen bytes (no vnet header) from src to dst.
func frame(t testing.TB, seq uint32, frameLen int, src, dst []byte) []byte {
	t.Helper()
	f, err := taptest.AppendUDPFrame(nil, taptest.UDPFrame{
		SrcMAC: src, DstMAC: dst,
		SrcIP: netip.MustParseAddr("10.1.0.1"), DstIP: netip.MustParseAddr("10.1.0.2"),
		SrcPort: 1000, DstPort: 2000,
		Payload: taptest.SeqPayload(seq, frameLen-taptest.UDPFrameOverhead),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// split cuts b into pieces at the given offsets, with an empty piece thrown in,
// so that Writev and Readv see scattered buffers.
func split(b []byte, at ...int) [][]byte {
	var out [][]byte
	prev := 0
	for _, a := range at {
		if a > len(b) {
			a = len(b)
		}
		out = append(out, b[prev:a])
		prev = a
	}
	return append(out, nil, b[prev:])
}

func vnetName(v bool) string {
	if v {
		return "vnet_hdr"
	}
	return "plain"
}

func TestFramesToPeer(t *testing.T) {
	for _, vnet := range []bool{false, true} {
		t.Run(vnetName(vnet), func(t *testing.T) {
			p := taptest.NewTapPeer(t, taptest.TapPeerOptions{})
			tp := p.Open(t, tap.Options{VnetHdr: vnet})
			hdr := tp.VnetHdrSize()
			for i, n := range []int{60, 64, 333, 1000, 1514} {
				want := frame(t, uint32(i), n, taptest.GuestMAC, taptest.PeerMAC)
				w := taptest.WithVnetHdr(want, hdr)
				got, err := tp.Writev(split(w, hdr, hdr+14, hdr+14+20))
				if err != nil || got != len(w) {
					t.Fatalf("Writev(%d bytes) = %d, %v", len(w), got, err)
				}
				rx, err := p.Peer.Recv(2 * time.Second)
				if err != nil {
					t.Fatalf("frame %d (%d bytes): %v", i, n, err)
				}
				if !bytes.Equal(rx, want) {
					t.Fatalf("frame %d: peer got %d bytes\n% x\nwant %d\n% x", i, len(rx), rx, len(want), want)
				}
				if _, err := taptest.ParseUDPFrame(rx); err != nil {
					t.Errorf("frame %d: %v", i, err)
				}
			}
		})
	}
}

func TestFramesFromPeer(t *testing.T) {
	for _, vnet := range []bool{false, true} {
		t.Run(vnetName(vnet), func(t *testing.T) {
			p := taptest.NewTapPeer(t, taptest.TapPeerOptions{})
			tp := p.Open(t, tap.Options{VnetHdr: vnet})
			hdr := tp.VnetHdrSize()
			buf := make([]byte, hdr+2000)
			for i, n := range []int{60, 500, 1514} {
				want := frame(t, uint32(i), n, taptest.PeerMAC, taptest.GuestMAC)
				if err := p.Peer.Send(want); err != nil {
					t.Fatal(err)
				}
				waitReadable(t, tp, 2*time.Second)
				for j := range buf {
					buf[j] = 0xa5
				}
				got, err := tp.Readv(split(buf, hdr, hdr+7))
				if err != nil {
					t.Fatalf("Readv: %v", err)
				}
				if got != hdr+len(want) {
					t.Fatalf("Readv = %d bytes, want %d", got, hdr+len(want))
				}
				// No offload negotiated (SetOffload never called): the
				// header says "nothing to do", all zeros.
				if vh := buf[:hdr]; !bytes.Equal(vh, make([]byte, hdr)) {
					t.Errorf("vnet header % x, want zeros", vh)
				}
				if !bytes.Equal(buf[hdr:got], want) {
					t.Fatalf("frame %d differs:\n% x\nwant\n% x", i, buf[hdr:got], want)
				}
			}
			if hdr > 0 {
				if _, err := tp.Readv([][]byte{buf[:hdr-1]}); err == nil || errors.Is(err, tap.ErrWouldBlock) {
					t.Errorf("Readv into less than the vnet header: %v, want a refusal", err)
				}
			}
			if _, err := tp.Readv([][]byte{buf}); !errors.Is(err, tap.ErrWouldBlock) || !errors.Is(err, unix.EAGAIN) {
				t.Errorf("Readv with nothing queued: %v, want ErrWouldBlock (EAGAIN)", err)
			}

			// A frame that exactly fills the buffers is not truncated.
			want := frame(t, 98, 1000, taptest.PeerMAC, taptest.GuestMAC)
			if err := p.Peer.Send(want); err != nil {
				t.Fatal(err)
			}
			waitReadable(t, tp, 2*time.Second)
			exact := make([]byte, hdr+len(want))
			if got, err := tp.Readv([][]byte{exact}); got != len(exact) || err != nil {
				t.Errorf("Readv into exactly %d bytes = %d, %v", len(exact), got, err)
			}

			// A frame longer than the buffers is cut, and the kernel
			// reports only the bytes it stored (tun_chr_read_iter clamps),
			// which Readv detects with its spare byte.
			want = frame(t, 99, 1000, taptest.PeerMAC, taptest.GuestMAC)
			if err := p.Peer.Send(want); err != nil {
				t.Fatal(err)
			}
			waitReadable(t, tp, 2*time.Second)
			small := make([]byte, hdr+100)
			got, err := tp.Readv([][]byte{small})
			if !errors.Is(err, tap.ErrTruncated) || got != len(small) {
				t.Errorf("Readv into %d bytes = %d, %v; want %d and ErrTruncated", len(small), got, err, len(small))
			}
			if !bytes.Equal(small[hdr:], want[:100]) {
				t.Errorf("truncated frame does not start like the frame")
			}
		})
	}
}

func waitReadable(t *testing.T, tp *tap.Tap, timeout time.Duration) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(tp.FD()), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		if n == 1 {
			return
		}
		if err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no frame at the tap within %v", timeout)
		}
	}
}

func TestWriteWhileDown(t *testing.T) {
	p := taptest.NewTapPeer(t, taptest.TapPeerOptions{})
	tp := p.Open(t, tap.Options{})
	l, err := p.NS.Netlink().LinkByName(tp.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.NS.Netlink().LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	// tun_get_user drops the frame with EIO on a down interface: not a
	// condition to wait out frame by frame.
	f := frame(t, 0, 100, taptest.GuestMAC, taptest.PeerMAC)
	if _, err := tp.Writev([][]byte{f}); !errors.Is(err, unix.EIO) {
		t.Errorf("Writev while down: %v, want EIO", err)
	}
	// tun_sock_writeable requires IFF_UP, so a down tap is never writable.
	start := time.Now()
	w, err := tp.WaitWritable(50 * time.Millisecond)
	if w || err != nil || time.Since(start) < 50*time.Millisecond {
		t.Errorf("WaitWritable on a down tap = %v, %v after %v; want false, nil after the timeout", w, err, time.Since(start))
	}
	if err := p.NS.Netlink().LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	if w, err := tp.WaitWritable(time.Second); !w || err != nil {
		t.Errorf("WaitWritable after up = %v, %v", w, err)
	}
}

func TestInterfaceDeleted(t *testing.T) {
	ns := taptest.NewNS(t)
	tp := mustOpenIn(t, ns, "gone", tap.Options{})
	l, err := ns.Netlink().LinkByName("gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Netlink().LinkDel(l); err != nil {
		t.Fatal(err)
	}
	// The fd outlives the interface: tun_chr_poll then returns EPOLLERR and
	// writes fail with EBADFD (tun_get returns NULL).
	if w, err := tp.WaitWritable(time.Second); w || !errors.Is(err, unix.ENODEV) {
		t.Errorf("WaitWritable after delete = %v, %v; want an error", w, err)
	}
	if _, err := tp.Writev([][]byte{make([]byte, 60)}); !errors.Is(err, unix.EBADFD) {
		t.Errorf("Writev after delete: %v, want EBADFD", err)
	}
}

// TestWaitCancel: a device reset must be able to interrupt a worker waiting
// for write space. The tap is down, so it cannot become writable.
func TestWaitCancel(t *testing.T) {
	p := taptest.NewTapPeer(t, taptest.TapPeerOptions{})
	tp := p.Open(t, tap.Options{})
	l, _ := p.NS.Netlink().LinkByName(tp.Name())
	if err := p.NS.Netlink().LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)

	type result struct {
		w, other bool
		err      error
		at       time.Time
	}
	done := make(chan result, 1)
	go func() {
		w, o, err := tp.WaitWritableOr(efd, -1) // no timeout
		done <- result{w, o, err, time.Now()}
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("WaitWritableOr returned before the cancel: %+v", r)
	default:
	}
	signalled := time.Now()
	if _, err := unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.w || !r.other || r.err != nil {
			t.Errorf("WaitWritableOr = writable %v, other %v, %v; want false, true, nil", r.w, r.other, r.err)
		}
		t.Logf("woke %v after the eventfd write", r.at.Sub(signalled))
	case <-time.After(5 * time.Second):
		t.Fatal("WaitWritableOr did not return after the eventfd was signalled")
	}

	// Timeouts are honoured across EINTR (Go preempts with SIGURG).
	for _, d := range []time.Duration{0, 30 * time.Millisecond} {
		start := time.Now()
		w, o, err := tp.WaitWritableOr(efd, d)
		// The eventfd is still signalled (nobody drained it).
		if w || !o || err != nil {
			t.Errorf("WaitWritableOr(signalled, %v) = %v, %v, %v", d, w, o, err)
		}
		if el := time.Since(start); el > d+time.Second {
			t.Errorf("WaitWritableOr(signalled, %v) took %v", d, el)
		}
	}
	var b [8]byte
	unix.Read(efd, b[:])
	start := time.Now()
	if w, o, err := tp.WaitWritableOr(efd, 30*time.Millisecond); w || o || err != nil {
		t.Errorf("WaitWritableOr(quiet, 30ms) = %v, %v, %v", w, o, err)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("30 ms timeout returned after %v", el)
	}
	if _, _, err := tp.WaitWritableOr(-1, 0); err == nil {
		t.Error("WaitWritableOr(-1) accepted a negative fd")
	}
}

func TestTooManyBuffers(t *testing.T) {
	ns := taptest.NewNS(t)
	tp := mustOpenIn(t, ns, "", tap.Options{})
	iov := make([][]byte, 1025)
	for i := range iov {
		iov[i] = []byte{0}
	}
	if _, err := tp.Writev(iov); err == nil {
		t.Error("Writev accepted 1025 buffers (UIO_MAXIOV is 1024)")
	}
}

// TestNoAllocs: the per-frame path must not allocate, in success and in
// ErrWouldBlock alike.
func TestNoAllocs(t *testing.T) {
	p := taptest.NewTapPeer(t, taptest.TapPeerOptions{})
	tp := p.Open(t, tap.Options{VnetHdr: true})
	f := taptest.WithVnetHdr(frame(t, 1, 1514, taptest.GuestMAC, taptest.PeerMAC), tp.VnetHdrSize())
	iov := split(f, 12, 100)
	check := func(name string, fn func()) {
		if a := testing.AllocsPerRun(200, fn); a != 0 {
			t.Errorf("%s: %v allocs per call, want 0", name, a)
		}
	}
	check("Writev", func() {
		if _, err := tp.Writev(iov); err != nil {
			t.Fatal(err)
		}
	})
	buf := make([]byte, 2048)
	rx := [][]byte{buf[:12], buf[12:]}
	check("Readv (would block)", func() {
		if _, err := tp.Readv(rx); !errors.Is(err, tap.ErrWouldBlock) {
			t.Fatal(err)
		}
	})
	for i := 0; i < 300; i++ {
		if err := p.Peer.Send(frame(t, uint32(i), 200, taptest.PeerMAC, taptest.GuestMAC)); err != nil {
			t.Fatal(err)
		}
	}
	waitReadable(t, tp, 2*time.Second)
	time.Sleep(20 * time.Millisecond)
	check("Readv", func() {
		if _, err := tp.Readv(rx); err != nil {
			t.Fatal(err)
		}
	})

	// A full send buffer: a slow bottleneck and a tiny sndbuf.
	b := taptest.NewBottleneck(t, taptest.BottleneckOptions{RateBitsPerSec: 100_000})
	bt := b.Open(t, tap.Options{SndBuf: 4096})
	bf := b.Frame(0, 1000)
	for i := 0; ; i++ {
		_, err := bt.Writev([][]byte{bf})
		if errors.Is(err, tap.ErrWouldBlock) {
			break
		}
		if err != nil || i > 1000 {
			t.Fatalf("filling the send buffer: %v after %d frames", err, i)
		}
	}
	check("Writev (would block)", func() {
		if _, err := bt.Writev([][]byte{bf}); !errors.Is(err, tap.ErrWouldBlock) {
			t.Fatal(fmt.Errorf("want ErrWouldBlock: %w", err))
		}
	})
}
