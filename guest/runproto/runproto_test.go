package runproto

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestCmdRoundTrip(t *testing.T) {
	args := []string{"sh", "-c", `echo "a b" 'c' $HOME`, "naïve ✓", "", "--x=1,2"}
	p, err := EncodeCmd(args)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny([]byte(p), " \t\n\"'") {
		t.Fatalf("parameter %q would be split by the kernel", p)
	}
	got, ok, err := DecodeCmd("console=ttyS0 quiet " + p + " panic=-1")
	if err != nil || !ok || len(got) != len(args) {
		t.Fatalf("DecodeCmd = %q, %v, %v", got, ok, err)
	}
	for i := range args {
		if got[i] != args[i] {
			t.Fatalf("arg %d = %q, want %q", i, got[i], args[i])
		}
	}
	if _, ok, _ := DecodeCmd("console=ttyS0"); ok {
		t.Fatal("found a command in a command line without one")
	}
	if _, _, err := DecodeCmd(CmdParam + "=!!!"); err == nil {
		t.Fatal("garbage decoded")
	}
	if _, err := EncodeCmd(nil); err == nil {
		t.Fatal("empty command encoded")
	}
}

// TestDemuxPieces sends records through in random-sized pieces.
func TestDemuxPieces(t *testing.T) {
	var stream bytes.Buffer
	w := Writer{&stream}
	var wantOut, wantErr bytes.Buffer
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		data := make([]byte, r.IntN(3000))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		if i%3 == 0 {
			w.Write(Stderr, data)
			wantErr.Write(data)
		} else {
			w.Write(Stdout, data)
			wantOut.Write(data)
		}
	}
	w.WriteExit(-3)
	var out, errb bytes.Buffer
	status := 99
	d := &Demux{Stdout: &out, Stderr: &errb, OnExit: func(s int) { status = s }}
	b := stream.Bytes()
	for len(b) > 0 {
		n := min(len(b), 1+r.IntN(700))
		if _, err := d.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if !bytes.Equal(out.Bytes(), wantOut.Bytes()) || !bytes.Equal(errb.Bytes(), wantErr.Bytes()) {
		t.Fatal("streams differ")
	}
	if status != -3 {
		t.Fatalf("exit status %d", status)
	}
}

func TestDemuxGarbage(t *testing.T) {
	d := &Demux{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	if _, err := d.Write([]byte{9, 1, 0, 0, 0, 'x'}); err == nil {
		t.Fatal("unknown record type accepted")
	}
	if _, err := d.Write([]byte{1}); err == nil {
		t.Fatal("a broken stream accepted more")
	}
	d = &Demux{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	if _, err := d.Write([]byte{1, 0xff, 0xff, 0xff, 0xff}); err == nil {
		t.Fatal("huge record accepted")
	}
}

func FuzzDemux(f *testing.F) {
	f.Add([]byte{1, 2, 0, 0, 0, 'h', 'i', 3, 4, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := &Demux{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, OnExit: func(int) {}}
		d.Write(b)
	})
}
