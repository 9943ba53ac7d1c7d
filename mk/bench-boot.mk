# bench-boot.mk: riscv64 guests end to end, govmm's translator against
# qemu-system-riscv64 -M virt with the same kernel and initramfs, alternated
# in one run (bench/boot).
#
#   make bench-boot-riscv     launch to the init's marker: riscv_boot_s,
#                             qemu_riscv_boot_s, riscv_boot_ratio_vs_qemu
#   make bench-run            `govmm run -- true` against QEMU booting the same
#                             default guest with the same command: run_true_s,
#                             qemu_run_true_s, run_true_ratio_vs_qemu
#   make bench-boot-riscv BENCH_BOOT_FLAGS="-rounds 15 -v"
#
# Ratios are govmm's time over QEMU's (targets: <= 1.0; printed, not
# asserted). QEMU runs its bundled OpenSBI (-bios default); govmm serves SBI
# itself. The boot guest's init is bench/boot/guest/markerinit.c; the run
# guest is make guest-riscv's.

bench_boot_saved_goal := $(.DEFAULT_GOAL)

BENCH_BOOT_OUT ?= out/bench-boot
BENCH_BOOT_FLAGS ?=

.PHONY: bench-boot-riscv bench-run bench-boot-tool

bench-boot-tool:
	@mkdir -p $(BENCH_BOOT_OUT)
	CGO_ENABLED=0 $(GO) build -o $(BENCH_BOOT_OUT)/bootbench ./bench/boot

bench-boot-riscv: deps build guest-riscv bench-boot-tool
	$(BENCH_BOOT_OUT)/bootbench -govmm $(BIN) -only boot -out $(BENCH_BOOT_OUT) $(BENCH_BOOT_FLAGS)

bench-run: deps build guest-riscv bench-boot-tool
	$(BENCH_BOOT_OUT)/bootbench -govmm $(BIN) -only run -out $(BENCH_BOOT_OUT) $(BENCH_BOOT_FLAGS)

.DEFAULT_GOAL := $(bench_boot_saved_goal)
