package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.rounds != 15 || !cfg.raw || !cfg.govmm || len(cfg.cases) != len(allCases) || cfg.queueSize != 1024 {
		t.Fatalf("defaults %+v", cfg)
	}
	cfg, err = parseFlags([]string{"-cases", "rx_1500, tx_64,rx_1500", "-sides", "govmm", "-scale", "0.5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.cases) != 2 || cfg.cases[0].name != "rx_1500" || cfg.cases[1].name != "tx_64" || cfg.raw || !cfg.govmm {
		t.Fatalf("cases %+v raw %v govmm %v", cfg.cases, cfg.raw, cfg.govmm)
	}
	if n := cfg.cases[1].runFrames(cfg); n != 1<<15 {
		t.Fatalf("scaled frames %d", n)
	}
	for _, bad := range [][]string{
		{"-rounds", "0"}, {"-queue-size", "1000"}, {"-queue-size", "32"}, {"-cases", "tx_9000"},
		{"-sides", "qemu"}, {"-scale", "0"}, {"-driver", "spin"}, {"-rx-kick", "never"}, {"-raw-rx-layout", "x"}, {"extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestReport(t *testing.T) {
	cfg, err := parseFlags([]string{"-cases", "tx_1500,rx_1500", "-rounds", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	res := results{
		"tx_1500": {raw: []float64{1e6, 1e6}, govmm: []float64{9e5, 9e5}},
		"rx_1500": {raw: []float64{5e5, 5e5}, govmm: []float64{4e5, 4e5}},
	}
	var out bytes.Buffer
	report(&out, cfg, res)
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			t.Fatalf("line %q is not 'name value'", l)
		}
		lines[f[0]] = f[1]
	}
	for name, want := range map[string]string{
		"rounds":                            "2",
		"net_tx_1500_ratio":                 "0.9000",
		"net_rx_1500_ratio":                 "0.8000",
		"net_tx_1500_raw_fps":               "1000000",
		"net_tx_1500_govmm_gbps":            "10.901",
		"net_rx_1500_overhead_ns_per_frame": "500.0",
		"net_tx_1500_frame_bytes":           "1514",
		"target_net_ratio":                  "0.90",
	} {
		if lines[name] != want {
			t.Errorf("%s = %q, want %q", name, lines[name], want)
		}
	}
}
