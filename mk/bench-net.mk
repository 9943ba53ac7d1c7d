# bench-net.mk: govmm's virtio-net data plane against the raw tap it sits on.
#
#   make bench-net                                   15 rounds, medians on stdout
#   make bench-net BENCH_NET_ROUNDS=21 BENCH_NET_FLAGS=-v
#   make bench-net BENCH_NET_FLAGS='-cases rx_64 -sides govmm -cpuprofile out/bench-net/cpu.prof'
#
# bench/net runs, in one private network namespace with one tap, transmit
# and receive of 64-byte, 1500-byte and 64 KiB TSO frames, once through
# Tap.Writev/Readv directly ("raw") and once through a virtio-net device
# driven by a fake guest driver ("govmm"), alternating the two in every
# round. It prints "name value" lines: per case net_<case>_{raw,govmm}_fps
# (median, _min, _max), _ns_per_frame, _gbps, the median per-round ratio
# net_<case>_ratio (govmm/raw frames per second; net_tx_1500_ratio and
# net_rx_1500_ratio are the headline figures) with _ratio_min/_max, the
# device's _overhead_ns_per_frame, and target_net_ratio (0.9), which is
# printed, not asserted. What each size counts and how each side is driven:
# bench/net/main.go.
#
# Needs root (a network namespace and a tap); without it the tool says so
# and exits 0. It cleans up after itself, also when interrupted: the
# namespace and the tap die with the process.
#
# Variables (all ?=, so the command line, the environment or the including
# Makefile can set them):
#   BENCH_NET_ROUNDS  measured rounds (each runs every case raw and govmm)
#   BENCH_NET_WARMUP  unmeasured rounds before them
#   BENCH_NET_FLAGS   more flags for bench/net: -cases tx_64,rx_1500,...,
#                     -sides raw|govmm, -queue-size N (default 1024; govmm's
#                     own default is 256), -scale F (frames per run),
#                     -driver irq|poll, -rx-kick always|event,
#                     -raw-rx-layout single|guest, -v,
#                     -cpuprofile FILE (samples labelled side= and case=;
#                     go tool pprof -tagfocus side=govmm ...)

# Included before the main Makefile's own targets, this file must not make
# one of its targets the default goal; the saved goal is restored at the end.
bench_net_saved_goal := $(.DEFAULT_GOAL)

GO ?= go
BENCH_NET_OUT ?= out/bench-net
BENCH_NET_TOOL := $(BENCH_NET_OUT)/net
BENCH_NET_ROUNDS ?= 15
BENCH_NET_WARMUP ?= 1
BENCH_NET_FLAGS ?=

.PHONY: bench-net bench-net-tool

bench-net-tool:
	@mkdir -p $(BENCH_NET_OUT)
	$(GO) build -o $(BENCH_NET_TOOL) ./bench/net

bench-net: bench-net-tool
	$(BENCH_NET_TOOL) -rounds $(BENCH_NET_ROUNDS) -warmup $(BENCH_NET_WARMUP) $(BENCH_NET_FLAGS)

.DEFAULT_GOAL := $(bench_net_saved_goal)
