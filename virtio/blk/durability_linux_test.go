package blk

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govmm/govmm/virtio/virtiotest"
)

// The durability test: a child process runs the device on an image; a
// fake driver writes 4 KiB blocks at random offsets, waits for them, and
// FLUSHes; after each FLUSH completes the child says so through a pipe
// and goes on writing. The parent SIGKILLs the child as soon as it reads
// that round's line, reopens the image (which also shows the kernel
// dropped the child's lock) and checks that every block written before
// the flush holds its last flushed version or a later one, never an
// older one or a torn mix.
//
// SIGKILL does not drop the host page cache, so this test alone cannot
// tell fdatasync from no fdatasync; TestFlushIsDurableBeforeStatus holds
// fdatasync and shows the status byte and used entry wait for it. What
// this test catches is a completion sent before the data reached the
// kernel: data kept in the VMM, a write not issued, or a FLUSH completed
// ahead of writes before it.

const (
	durBlock      = 4096
	durBlocks     = 4096 // a 16 MiB image
	durPerRound   = 32
	durChildEnv   = "GOVMM_BLK_DURABILITY"
	durMagic      = "govmmblk"
	durMaxRounds  = 2000
	durChildLimit = 60 * time.Second
)

// durWrite is one block write of the sequence both processes generate.
type durWrite struct {
	seq   uint64
	block uint64
}

// durRounds returns the writes of rounds 1..n for seed: distinct blocks
// within a round (concurrent writes to one block have no order), any
// blocks across rounds.
func durRounds(seed uint64, n int) [][]durWrite {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var out [][]durWrite
	seq := uint64(0)
	for r := 0; r < n; r++ {
		seen := map[uint64]bool{}
		var ws []durWrite
		for len(ws) < durPerRound {
			b := rng.Uint64N(durBlocks)
			if seen[b] {
				continue
			}
			seen[b] = true
			seq++
			ws = append(ws, durWrite{seq, b})
		}
		out = append(out, ws)
	}
	return out
}

// durContent is the self-describing contents of a block write.
func durContent(seed uint64, w durWrite) []byte {
	b := make([]byte, durBlock)
	copy(b, durMagic)
	binary.LittleEndian.PutUint64(b[8:], seed)
	binary.LittleEndian.PutUint64(b[16:], w.seq)
	binary.LittleEndian.PutUint64(b[24:], w.block)
	rng := rand.New(rand.NewPCG(seed^w.seq, w.block))
	for i := 32; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b
}

func TestDurabilityAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	for _, c := range []struct {
		seed   uint64
		direct bool
		killAt int
	}{
		{1, false, 1}, {2, true, 2}, {3, false, 3}, {4, true, 5}, {5, false, 8}, {6, true, 13},
	} {
		t.Run(fmt.Sprintf("seed=%d,direct=%v", c.seed, c.direct), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "disk.img")
			if err := os.WriteFile(path, make([]byte, durBlock*durBlocks), 0o644); err != nil {
				t.Fatal(err)
			}
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			cmd := exec.Command(os.Args[0], "-test.run=^TestDurabilityChild$")
			cmd.Env = append(os.Environ(), durChildEnv+"="+path,
				fmt.Sprintf("%s_SEED=%d", durChildEnv, c.seed), fmt.Sprintf("%s_DIRECT=%v", durChildEnv, c.direct))
			cmd.ExtraFiles = []*os.File{pw} // fd 3 in the child
			var stderr bytes.Buffer
			cmd.Stderr, cmd.Stdout = &stderr, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			lines := bufio.NewReader(pr)
			flushed := 0
			for flushed < c.killAt {
				line, err := lines.ReadString('\n')
				if err != nil {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("child ended before round %d was flushed: %v\n%s", c.killAt, err, stderr.String())
				}
				n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "flushed "))
				if err != nil || n != flushed+1 {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("child said %q after round %d", line, flushed)
				}
				flushed = n
			}
			// Right after the FLUSH completed: the child is writing the
			// next round.
			cmd.Process.Signal(syscall.SIGKILL)
			err = cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, not SIGKILL\n%s", err, stderr.String())
			}

			im, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("reopen after the kill: %v", err)
			}
			defer im.Close()
			want := map[uint64]uint64{} // block -> last flushed seq
			for _, round := range durRounds(c.seed, flushed) {
				for _, w := range round {
					want[w.block] = w.seq
				}
			}
			buf := make([]byte, durBlock)
			later := 0
			for block, seq := range want {
				if err := im.ReadV([][]byte{buf}, int64(block*durBlock)); err != nil {
					t.Fatal(err)
				}
				if string(buf[:8]) != durMagic {
					t.Fatalf("block %d (flushed at seq %d) lost: reads %q...", block, seq, buf[:8])
				}
				got := durWrite{seq: binary.LittleEndian.Uint64(buf[16:]), block: binary.LittleEndian.Uint64(buf[24:])}
				if got.block != block || binary.LittleEndian.Uint64(buf[8:]) != c.seed || !bytes.Equal(buf, durContent(c.seed, got)) {
					t.Fatalf("block %d holds a torn or foreign write (claims seq %d block %d)", block, got.seq, got.block)
				}
				if got.seq < seq {
					t.Fatalf("block %d holds seq %d, older than its flushed seq %d", block, got.seq, seq)
				}
				if got.seq > seq {
					later++
				}
			}
			t.Logf("%d rounds flushed, %d blocks checked, %d already overwritten by unflushed writes", flushed, len(want), later)
		})
	}
}

// TestDurabilityChild is the child of TestDurabilityAfterSIGKILL.
func TestDurabilityChild(t *testing.T) {
	path := os.Getenv(durChildEnv)
	if path == "" {
		t.Skip("child process of TestDurabilityAfterSIGKILL")
	}
	seed, _ := strconv.ParseUint(os.Getenv(durChildEnv+"_SEED"), 10, 64)
	im, err := Open(path, Options{Direct: os.Getenv(durChildEnv+"_DIRECT") == "true"})
	if err != nil {
		t.Fatal(err)
	}
	notify := os.NewFile(3, "notify")
	h := newHarness(t, Config{ID: "dur", Backend: im}, allFeatures)
	deadline := time.Now().Add(durChildLimit)
	for round, writes := range durRounds(seed, durMaxRounds) {
		var ps []pending
		for _, w := range writes {
			ps = append(ps, h.offer(w.seq%2 == 0, buffers(layout(w.seq%uint64(numLayouts)), header(TypeOut, w.block*durBlock/SectorSize), durContent(seed, w), 0)))
		}
		h.kick()
		for _, u := range h.waitUsed(len(writes)) {
			if u.Len != 1 {
				t.Fatalf("write used length %d", u.Len)
			}
		}
		for _, p := range ps {
			if st := h.writable(p); st[0] != StatusOK {
				t.Fatalf("write status %d", st[0])
			}
		}
		if _, _, st := h.do(false, []virtiotest.Buffer{virtiotest.R(header(TypeFlush, 0)), virtiotest.W(1)}); st != StatusOK {
			t.Fatalf("FLUSH status %d", st)
		}
		if _, err := fmt.Fprintf(notify, "flushed %d\n", round+1); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("never killed")
		}
	}
}
