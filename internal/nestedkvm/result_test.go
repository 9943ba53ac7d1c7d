package nestedkvm

import (
	"strings"
	"testing"

	"github.com/govmm/govmm/internal/nestedkvm/proto"
)

const nonce = "abc123"

func testManifest(commands ...string) *proto.Manifest {
	m := &proto.Manifest{
		Nonce:   nonce,
		Modules: []proto.Module{{Name: "kvm", Path: "/m/kvm.ko"}, {Name: "kvm_amd", Path: "/m/kvm-amd.ko", Params: "nested=1"}},
	}
	for _, c := range commands {
		m.Commands = append(m.Commands, proto.Command{Name: c, Path: "/bin/" + c, Timeout: 1})
	}
	return m
}

func mk(kind string, args ...string) string { return proto.Format(nonce, kind, args...) + "\r\n" }

// goodRun is the console of a healthy run of a.test and b.test, as the guest's
// tty sends it (\r\n line ends), with kernel noise around the markers.
func goodRun() string {
	return "[    0.000000] Linux version 6.1.0\r\n" +
		mk("READY", "uptime=2.01") +
		"harness: loaded kvm in 300ms\r\n" +
		mk("MODULE", "kvm", "status=ok") +
		mk("MODULE", "kvm_amd", "status=ok") +
		mk("FACT", "dev_kvm=present") +
		mk("FACT", "kvm_amd_nested=1") +
		mk("BEGIN", "a.test") +
		"=== RUN   TestA\r\n--- PASS: TestA (0.00s)\r\nPASS\r\n" +
		mk("END", "a.test", "status=0", "elapsed=0.10s") +
		mk("BEGIN", "b.test") +
		"PASS\r\n" +
		mk("END", "b.test", "status=0", "elapsed=0.20s") +
		mk("SUMMARY", "commands=2", "passed=2", "failed=0") +
		"[    3.0] reboot: Power down\r\n"
}

func parse(t *testing.T, console string, chunk int, commands ...string) *Result {
	t.Helper()
	p := NewParser(testManifest(commands...), nil)
	b := []byte(console)
	for len(b) > 0 {
		n := min(chunk, len(b))
		if w, err := p.Write(b[:n]); w != n || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", w, err, n)
		}
		b = b[n:]
	}
	p.Flush()
	return p.Result()
}

func TestParserGoodRun(t *testing.T) {
	// Chunk sizes from one byte to all at once: markers split across writes must
	// parse the same.
	for _, chunk := range []int{1, 3, 17, 1 << 20} {
		r := parse(t, goodRun(), chunk, "a.test", "b.test")
		if err := r.Err(); err != nil {
			t.Fatalf("chunk %d: Err = %v, want nil", chunk, err)
		}
		if !r.Ready || r.Uptime != "2.01" || r.Facts["kvm_amd_nested"] != "1" {
			t.Errorf("chunk %d: Ready=%v Uptime=%q facts=%v", chunk, r.Ready, r.Uptime, r.Facts)
		}
		want := []CommandResult{
			{Name: "a.test", Began: true, Ended: true, Status: "0", Elapsed: "0.10s"},
			{Name: "b.test", Began: true, Ended: true, Status: "0", Elapsed: "0.20s"},
		}
		for i, c := range r.Commands {
			if c != want[i] {
				t.Errorf("chunk %d: command %d = %+v, want %+v", chunk, i, c, want[i])
			}
		}
	}
}

func TestParserFailures(t *testing.T) {
	good := goodRun()
	cut := func(s, marker string) string { return s[:strings.Index(s, marker)] }
	cases := []struct {
		name    string
		console string
		want    []string // substrings of Err
	}{
		{"empty", "", []string{"never reported READY"}},
		{"kernel only", "[ 0.0] Linux\r\nKernel panic - not syncing\r\n", []string{"never reported READY"}},
		{
			"truncated inside a command",
			cut(good, proto.Format(nonce, "END", "a.test")) + "--- PASS: Test",
			[]string{"a.test: no END marker", "b.test: never started", "no SUMMARY"},
		},
		{
			"truncated marker line",
			cut(good, proto.Format(nonce, "END", "b.test")) + "=== HARNESS " + nonce + " EN",
			[]string{"b.test: no END marker"},
		},
		{
			"missing END, next command began",
			strings.Replace(good, mk("END", "a.test", "status=0", "elapsed=0.10s"), "", 1),
			[]string{"a.test: no END marker", "SUMMARY says"},
		},
		{
			"test failed",
			strings.Replace(strings.Replace(good, "b.test status=0", "b.test status=1", 1), "passed=2", "passed=1", 1),
			[]string{"b.test: failed (status=1)"},
		},
		{
			"timeout",
			strings.Replace(strings.Replace(good, "a.test status=0", "a.test status=timeout", 1), "passed=2", "passed=1", 1),
			[]string{"a.test: killed at its timeout"},
		},
		{
			"summary disagrees",
			strings.Replace(good, "passed=2", "passed=7", 1),
			[]string{"SUMMARY says commands=2 passed=7"},
		},
		{
			"module failed",
			strings.Replace(good, "kvm_amd status=ok", "kvm_amd status=error", 1),
			[]string{"module kvm_amd failed to load"},
		},
		{
			"module missing",
			strings.Replace(good, mk("MODULE", "kvm", "status=ok"), "", 1),
			[]string{"module kvm: no MODULE marker"},
		},
		{
			"no kvm device",
			strings.Replace(good, "dev_kvm=present", "dev_kvm=absent", 1),
			[]string{"/dev/kvm is not present"},
		},
		{
			"fatal",
			cut(good, proto.Format(nonce, "FACT")) + "harness: 1 of 2 modules failed\r\n" + mk("FATAL"),
			[]string{"gave up (FATAL)", "a.test: never started"},
		},
		{
			"END without BEGIN",
			strings.Replace(good, mk("BEGIN", "b.test"), "", 1),
			[]string{"END b.test without a matching BEGIN", "b.test: never started"},
		},
		{
			"unknown command and kind",
			good + mk("BEGIN", "zzz.test") + mk("WHAT"),
			[]string{"manifest does not have: \"zzz.test\"", "unknown marker kind \"WHAT\""},
		},
		{
			"rebooted",
			good + mk("READY", "uptime=1.0"),
			[]string{"READY twice"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := parse(t, c.console, 7, "a.test", "b.test").Err()
			if err == nil {
				t.Fatal("Err = nil, want a failure")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Err = %q\nwant it to mention %q", err, w)
				}
			}
		})
	}
}

func TestParserIgnoresForgeriesAndGarbage(t *testing.T) {
	good := goodRun()
	// A test binary printing marker-like lines with another nonce, or none, must
	// not change the result; nor must binary junk or a huge line with no newline.
	forged := proto.Format("other", "END", "a.test", "status=0") + "\n" +
		"=== HARNESS BEGIN a.test\n" +
		"=== HARNESS  END a.test status=0\n" +
		"\x00\xff\xfe garbage \x1b[31m\r\n" +
		strings.Repeat("x", 3*maxLine) + "\n"
	at := strings.Index(good, proto.Format(nonce, "BEGIN", "a.test"))
	// Insert the forgery inside a.test's output, so that if it counted,
	// a.test would have ended twice.
	at = strings.Index(good[at:], "\n") + at + 1
	r := parse(t, good[:at]+forged+good[at:], 4096, "a.test", "b.test")
	if err := r.Err(); err != nil {
		t.Fatalf("Err = %v, want nil", err)
	}

	// Forgery alone: nothing counts.
	r = parse(t, forged, 5, "a.test")
	if r.Ready || r.Commands[0].Began || len(r.Problems) > 0 {
		t.Errorf("forged markers counted: %+v", r)
	}
}

func TestParserMarkerAfterTextOnSameLine(t *testing.T) {
	// A kernel message or output with no trailing newline can precede a marker
	// on its line; the marker must still count.
	good := goodRun()
	s := strings.Replace(good, mk("END", "a.test", "status=0", "elapsed=0.10s"),
		"[   2.5] kvm: something"+mk("END", "a.test", "status=0", "elapsed=0.10s"), 1)
	if err := parse(t, s, 64, "a.test", "b.test").Err(); err != nil {
		t.Fatalf("Err = %v, want nil", err)
	}
}

func TestParserLastLineWithoutNewline(t *testing.T) {
	s := strings.TrimSuffix(goodRun(), "[    3.0] reboot: Power down\r\n")
	s = strings.TrimSuffix(s, "\r\n")
	if err := parse(t, s, 1<<20, "a.test", "b.test").Err(); err != nil {
		t.Fatalf("Err = %v, want nil (Flush must parse the last line)", err)
	}
}

func TestParserCallback(t *testing.T) {
	var kinds []string
	p := NewParser(testManifest("a.test", "b.test"), func(m proto.Marker) { kinds = append(kinds, m.Kind) })
	_, _ = p.Write([]byte(goodRun()))
	want := "READY MODULE MODULE FACT FACT BEGIN END BEGIN END SUMMARY"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("callback saw %q, want %q", got, want)
	}
}
