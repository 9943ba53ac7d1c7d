# bench-tcg.mk: govmm's riscv64 translator against QEMU's TCG (qemu-riscv64)
# on the same CPU-bound programs, in one run.
#
#   make bench-tcg                                  3 rounds, best times on stdout
#   make bench-tcg BENCH_TCG_FLAGS="-rounds 5 -v"
#   make bench-tcg BENCH_TCG_FLAGS="-only matmul,sort -cpuprofile out/bench-tcg/cpu.prof"
#
# bench/tcg builds the C programs in bench/tcg/programs with
# riscv64-linux-gnu-gcc -O2 -static (an integer mix: crc32, a 32x32 matrix
# multiply, a linked-list walk, a sort; a floating-point kernel, nbody; and
# samepage, a loop storing to data on its own code page), runs each under
# govmm's translator and under qemu-riscv64, checks that the outputs
# match, and prints "name value" lines: per-program seconds and ratios,
# tcg_int_insn_per_s, tcg_int_ratio_vs_qemu (geometric mean),
# tcg_fp_ratio_vs_qemu and tcg_code_data_same_page_slowdown. Targets
# (int ratio >= 1.0, same-page slowdown <= 2) are printed, not asserted.
#
# Variables (all ?=):
#   BENCH_TCG_FLAGS   more flags for bench/tcg (-rounds N, -only LIST, -v,
#                     -no-qemu, -cpuprofile FILE)
#   BENCH_TCG_DEPS    prerequisites (default: deps, for the cross compiler
#                     and qemu-user)

bench_tcg_saved_goal := $(.DEFAULT_GOAL)

GO ?= go
BENCH_TCG_OUT ?= out/bench-tcg
BENCH_TCG_TOOL := $(BENCH_TCG_OUT)/tcgbench
BENCH_TCG_FLAGS ?=
BENCH_TCG_DEPS ?= deps

.PHONY: bench-tcg bench-tcg-tool

bench-tcg-tool:
	@mkdir -p $(BENCH_TCG_OUT)
	CGO_ENABLED=0 $(GO) build -o $(BENCH_TCG_TOOL) ./bench/tcg

bench-tcg: $(BENCH_TCG_DEPS) bench-tcg-tool
	$(BENCH_TCG_TOOL) -programs bench/tcg/programs -out $(BENCH_TCG_OUT) $(BENCH_TCG_FLAGS)

.DEFAULT_GOAL := $(bench_tcg_saved_goal)
