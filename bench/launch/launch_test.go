package main

import (
	"bytes"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// The integration test re-executes this test binary as the wrapper.
	runWrapperIfRequested()
	os.Exit(m.Run())
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{``, nil},
		{`  a  b	c `, []string{"a", "b", "c"}},
		{`bin/govmm -append "console=ttyS0 quiet" -serial none`, []string{"bin/govmm", "-append", "console=ttyS0 quiet", "-serial", "none"}},
		{`a 'b "c" d' e`, []string{"a", `b "c" d`, "e"}},
		{`a "x \"y\" \\ \n"`, []string{"a", `x "y" \ \n`}},
		{`a\ b ''`, []string{"a b", ""}},
		{`-M microvm,rtc=off"x"'y'`, []string{"-M", "microvm,rtc=offxy"}},
	} {
		got, err := splitCommand(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`a "b`, `a 'b`, `a\`} {
		if got, err := splitCommand(bad); err == nil {
			t.Errorf("splitCommand(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParseMemSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"256M", 256 << 20},
		{"256m", 256 << 20},
		{"256", 256 << 20},
		{"1G", 1 << 30},
		{"4K", 4 << 10},
		{"4096B", 4096},
		{"size=512M,slots=2,maxmem=4G", 512 << 20},
		{"128M,slots=2", 128 << 20},
	} {
		got, err := parseMemSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseMemSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "M", "0", "-1M", "1X", "slots=2", "99999999999999999T"} {
		if got, err := parseMemSize(bad); err == nil {
			t.Errorf("parseMemSize(%q) = %d, want an error", bad, got)
		}
	}
}

func TestGuestRAMFromArgs(t *testing.T) {
	n, ok, err := guestRAMFromArgs([]string{"qemu", "-M", "microvm", "-m", "256M", "-kernel", "k"})
	if err != nil || !ok || n != 256<<20 {
		t.Errorf("-m 256M: got %d, %v, %v", n, ok, err)
	}
	if _, ok, err := guestRAMFromArgs([]string{"qemu", "-M", "microvm"}); ok || err != nil {
		t.Errorf("no -m: got ok=%v err=%v", ok, err)
	}
	if _, _, err := guestRAMFromArgs([]string{"qemu", "-m", "lots"}); err == nil {
		t.Error("-m lots: want an error")
	}
}

func TestMedianAndRatio(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	if got := median(xs); got != 3 {
		t.Errorf("median odd = %v, want 3", got)
	}
	if !slices.Equal(xs, []float64{5, 1, 4, 2, 3}) {
		t.Errorf("median modified its input: %v", xs)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median even = %v, want 2.5", got)
	}
	if got := median([]float64{7}); got != 7 {
		t.Errorf("median single = %v, want 7", got)
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median empty = %v, want NaN", got)
	}
	if got := ratio(3, 60); math.Abs(got-0.05) > 1e-12 {
		t.Errorf("ratio(3, 60) = %v, want 0.05", got)
	}
	for _, b := range []float64{0, -1, math.NaN()} {
		if got := ratio(1, b); !math.IsNaN(got) {
			t.Errorf("ratio(1, %v) = %v, want NaN", b, got)
		}
	}
}

// sampleSmaps is trimmed /proc/<pid>/smaps text: a file mapping, the heap, a
// PROT_NONE guard, a 256 MiB private anonymous mapping (QEMU's guest RAM) with
// its guard page, a shared anonymous mapping, a memfd and a named anonymous
// mapping.
const sampleSmaps = `5601d5c9e000-5601d5ca0000 r--p 00000000 fe:00 247026                     /usr/bin/qemu-system-x86_64
Size:                  8 kB
KernelPageSize:        4 kB
Rss:                   8 kB
Pss:                   8 kB
THPeligible:           0
VmFlags: rd mr mw me 
5601d6000000-5601d6400000 rw-p 00000000 00:00 0                          [heap]
Size:               4096 kB
Rss:                3000 kB
VmFlags: rd wr mr mw me ac 
7f0000000000-7f0000200000 ---p 00000000 00:00 0 
Size:               2048 kB
Rss:                   0 kB
VmFlags: mr mw me 
7f0000200000-7f0010200000 rw-p 00000000 00:00 0 
Size:             262144 kB
KernelPageSize:        4 kB
Rss:                 128 kB
AnonHugePages:         0 kB
VmFlags: rd wr mr mw me ac hg mg 
7f0010200000-7f0010201000 ---p 00000000 00:00 0 
Size:                  4 kB
Rss:                   0 kB
VmFlags: mr mw me 
7f0020000000-7f0020800000 rw-s 00000000 00:01 1234                       /dev/zero (deleted)
Size:               8192 kB
Rss:                  16 kB
VmFlags: rd wr sh mr mw me ms 
7f0030000000-7f0030400000 rw-s 00000000 00:01 99                         /memfd:guest-ram (deleted)
Size:               4096 kB
Rss:                  64 kB
VmFlags: rd wr sh mr mw me ms 
7f0040000000-7f0040100000 rw-p 00000000 00:00 0                          [anon:go heap]
Size:               1024 kB
Rss:                  12 kB
VmFlags: rd wr mr mw me ac 
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
Rss:                  20 kB
VmFlags: rd wr mr mw me gd ac 
`

func TestParseSmaps(t *testing.T) {
	maps, err := parseSmaps(strings.NewReader(sampleSmaps))
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 9 {
		t.Fatalf("parsed %d mappings, want 9: %+v", len(maps), maps)
	}
	want := []mapping{
		{Start: 0x5601d5c9e000, End: 0x5601d5ca0000, Perms: "r--p", Path: "/usr/bin/qemu-system-x86_64", SizeKiB: 8, RssKiB: 8},
		{Start: 0x5601d6000000, End: 0x5601d6400000, Perms: "rw-p", Path: "[heap]", SizeKiB: 4096, RssKiB: 3000},
		{Start: 0x7f0000000000, End: 0x7f0000200000, Perms: "---p", Path: "", SizeKiB: 2048, RssKiB: 0},
		{Start: 0x7f0000200000, End: 0x7f0010200000, Perms: "rw-p", Path: "", SizeKiB: 262144, RssKiB: 128},
	}
	for i, w := range want {
		if maps[i] != w {
			t.Errorf("mapping %d = %+v, want %+v", i, maps[i], w)
		}
	}
	if got := maps[5].Path; got != "/dev/zero (deleted)" {
		t.Errorf("path with a blank = %q", got)
	}
	if got := maps[7].Path; got != "[anon:go heap]" {
		t.Errorf("named anonymous path = %q", got)
	}

	for _, bad := range []string{
		"Rss: 4 kB\n",                // field before any header
		"zzzz-1000 rw-p 0 00:00 0\n", // bad address
		"1000-2000 rw-p 0 00:00 0\nRss: four kB\n",
		"1000-2000 rw-p\n",           // short header
		"2000-1000 rw-p 0 00:00 0\n", // end before start
		"1000-2000 rw-p 0 00:00 0\nSize: 4 MB\n",
	} {
		if _, err := parseSmaps(strings.NewReader(bad)); err == nil {
			t.Errorf("parseSmaps(%q): want an error", bad)
		}
	}
}

func TestFindGuestRAM(t *testing.T) {
	maps, err := parseSmaps(strings.NewReader(sampleSmaps))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		ram       uint64
		wantStart uint64
		wantExact int
	}{
		// Exactly -m: the private anonymous mapping, not the guards.
		{"exact private", 256 << 20, 0x7f0000200000, 1},
		// Shared anonymous memory is a candidate too.
		{"exact shared", 8 << 20, 0x7f0020000000, 1},
		// [heap] is 4 MiB too, but brk memory is not a candidate.
		{"exact memfd", 4 << 20, 0x7f0030000000, 1},
		// No exact match: the largest candidate at least that large.
		{"larger", 5 << 20, 0x7f0000200000, 0},
		// Anonymous memory named with PR_SET_VMA_ANON_NAME.
		{"named anon", 1 << 20, 0x7f0040000000, 1},
	} {
		m, exact, err := findGuestRAM(maps, tc.ram)
		if err != nil || m.Start != tc.wantStart || exact != tc.wantExact {
			t.Errorf("%s: findGuestRAM(%d) = %#x (exact %d), %v; want %#x (exact %d)", tc.name, tc.ram, m.Start, exact, err, tc.wantStart, tc.wantExact)
		}
	}
	if _, _, err := findGuestRAM(maps, 1<<30); !errors.Is(err, errNoGuestRAM) {
		t.Errorf("1 GiB: err = %v, want errNoGuestRAM", err)
	}

	// A tie goes to the more resident mapping, and is reported.
	tie := []mapping{
		{Start: 0x1000, Perms: "rw-p", SizeKiB: 1024, RssKiB: 4},
		{Start: 0x2000, Perms: "rw-p", SizeKiB: 1024, RssKiB: 400},
		{Start: 0x3000, Perms: "rw-p", SizeKiB: 1024, RssKiB: 40},
	}
	if m, exact, err := findGuestRAM(tie, 1<<20); err != nil || m.Start != 0x2000 || exact != 3 {
		t.Errorf("tie: got %#x (exact %d), %v; want 0x2000 (exact 3)", m.Start, exact, err)
	}
}

func TestVmRSS(t *testing.T) {
	status := "Name:\tqemu-system-x86\nVmPeak:\t  500000 kB\nVmRSS:\t   45116 kB\nRssAnon:\t   20000 kB\n"
	if got, err := vmRSSKiB(strings.NewReader(status)); err != nil || got != 45116 {
		t.Errorf("vmRSSKiB = %d, %v; want 45116", got, err)
	}
	for _, bad := range []string{"Name:\tzombie\n", "VmRSS:\t12 MB\n", "VmRSS:\tx kB\n"} {
		if got, err := vmRSSKiB(strings.NewReader(bad)); err == nil {
			t.Errorf("vmRSSKiB(%q) = %d, want an error", bad, got)
		}
	}
}

func TestReport(t *testing.T) {
	mk := func(launchMs, rssKiB, guestKiB uint64) sample {
		return sample{Launch: time.Duration(launchMs) * time.Millisecond, VmRSSKiB: rssKiB, GuestRAM: mapping{RssKiB: guestKiB}}
	}
	vmms := []*vmm{
		{name: "govmm", samples: []sample{mk(4, 14336, 10240), mk(2, 13312, 10240), mk(3, 14336, 10240)}},
		{name: "qemu", samples: []sample{mk(60, 46080, 0), mk(40, 46080, 0), mk(50, 46080, 0)}},
	}
	var buf bytes.Buffer
	report(&buf, vmms, 3)
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		name, value, ok := strings.Cut(l, " ")
		if !ok {
			t.Fatalf("line %q is not \"name value\"", l)
		}
		got[name] = value
	}
	for name, want := range map[string]string{
		"rounds":                      "3",
		"govmm_launch_ms":             "3.000",
		"govmm_launch_ms_min":         "2.000",
		"govmm_launch_ms_max":         "4.000",
		"qemu_launch_ms":              "50.000",
		"launch_ratio_vs_qemu":        "0.0600",
		"govmm_rss_mib":               "14.00",
		"qemu_rss_mib":                "45.00",
		"rss_overhead_mib":            "4.00",
		"qemu_rss_overhead_mib":       "45.00",
		"target_launch_ratio_vs_qemu": "0.10",
		"target_rss_overhead_mib":     "5.00",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
}
