# bench-blk.mk: virtio-blk against plain pread/pwrite on the same file.
#
#   make bench-blk                                   page cache, then O_DIRECT
#   make bench-blk BENCH_BLK_FLAGS='-rounds 9 -v'    more rounds, one line each
#   make bench-blk BENCH_BLK_DIR=/var/tmp            where the file goes
#   make bench-blk BENCH_BLK_DIRECT=                 skip the O_DIRECT pass
#   make bench-blk BENCH_BLK_FLAGS='-cpuprofile out/bench-blk/cpu.prof'
#
# bench/blk runs the real device (virtio/blk on a blk.Image) under a fake
# guest driver in the same process, and plain pread/pwrite on its own
# descriptor of the same file, alternately, and prints "name value" lines:
# blk_randread_ratio, blk_randwrite_ratio, blk_seq_ratio (1 MiB sequential
# reads) and blk_seqwrite_ratio, each govmm/plain, with the IOPS or MiB/s
# behind them, the host's CPU count and load average, and the device's
# counters. The O_DIRECT pass prints the same names with blk_direct_. The
# target (each ratio >= 0.8) is printed, not asserted. How both sides are
# made comparable (same file, same access pattern, page cache warmed or
# O_DIRECT for both, writes synced between measurements): bench/blk/main.go.
#
# Variables (all ?=):
#   BENCH_BLK_DIR     directory for the 512 MiB benchmark file; it must be a
#                     local disk, not tmpfs (the tool refuses tmpfs and prints
#                     the filesystem it used). Default: $TMPDIR or /tmp.
#   BENCH_BLK_FLAGS   more flags for bench/blk (-rounds, -duration, -qd,
#                     -seq-qd, -jobs, -size, -poll, -driver-spin, -only, -v)
#   BENCH_BLK_DIRECT  flags of the second pass; empty skips it

# Included before the main Makefile's own targets, this file must not make
# one of its targets the default goal; the saved goal is restored at the end.
bench_blk_saved_goal := $(.DEFAULT_GOAL)

GO ?= go
BENCH_BLK_OUT ?= out/bench-blk
BENCH_BLK_TOOL := $(BENCH_BLK_OUT)/blk
BENCH_BLK_DIR ?= $(or $(TMPDIR),/tmp)
BENCH_BLK_FLAGS ?=
BENCH_BLK_DIRECT ?= -direct

.PHONY: bench-blk bench-blk-tool

bench-blk-tool:
	@mkdir -p $(BENCH_BLK_OUT)
	$(GO) build -o $(BENCH_BLK_TOOL) ./bench/blk

bench-blk: bench-blk-tool
	$(BENCH_BLK_TOOL) -dir $(BENCH_BLK_DIR) $(BENCH_BLK_FLAGS)
	$(if $(strip $(BENCH_BLK_DIRECT)),$(BENCH_BLK_TOOL) -dir $(BENCH_BLK_DIR) $(BENCH_BLK_DIRECT) $(BENCH_BLK_FLAGS))

.DEFAULT_GOAL := $(bench_blk_saved_goal)
