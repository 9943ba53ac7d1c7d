# bench-launch.mk: govmm against QEMU microvm, from execve to the first KVM_RUN.
#
#   make bench-launch                              10 rounds, medians on stdout
#   make bench-launch BENCH_LAUNCH_ROUNDS=30 BENCH_LAUNCH_FLAGS=-v
#   make bench-launch GOVMM_LAUNCH_CMD=            QEMU only
#
# bench/launch alternates the two commands, both launching the same kernel and
# initrd, and prints "name value" lines: qemu_launch_ms, govmm_launch_ms,
# launch_ratio_vs_qemu, qemu_rss_mib, govmm_rss_mib, qemu_rss_overhead_mib,
# rss_overhead_mib (govmm's resident memory beyond guest RAM) and the targets
# (launch ratio <= 0.1, overhead <= 5 MiB), which are printed, not asserted.
# How it measures without the VMMs' cooperation: bench/launch/main.go.
#
# Variables (all ?=, so the command line, the environment or the including
# Makefile can set them):
#   KERNEL               the guest kernel; default: boot/vmlinuz-* from
#                        guest/debian-x86-kernel.sh (run only when needed)
#   INITRD               the initrd; default: an empty newc archive built here.
#                        Both VMMs read it before their first KVM_RUN, so a
#                        bigger one adds the same I/O to both.
#   GOVMM_LAUNCH_CMD     govmm's command line; empty skips govmm
#   QEMU_LAUNCH_CMD      QEMU's command line; empty skips QEMU
#   BENCH_LAUNCH_ROUNDS  measured rounds (each launches both once)
#   BENCH_LAUNCH_FLAGS   more flags for bench/launch (-v, -warmup N, -timeout D,
#                        -show-output, -guest-ram SIZE)
#   BENCH_LAUNCH_DEPS    prerequisites of bench-launch; default: build (bin/govmm)
# The commands are split by bench/launch with shell quoting rules; they may
# contain any quotes (the recipe escapes single quotes for the shell).
#
# QEMU's machine options, chosen so that QEMU sets up what govmm sets up and
# no more: govmm's microvm has the in-kernel PIC/IOAPIC and PIT, an RTC and
# ACPI tables by default, no UART with -serial none, and no firmware. So QEMU
# keeps pit, pic, rtc and acpi at their defaults (on), drops its ISA serial
# port (isa-serial=off) and the linuxboot option ROM (x-option-roms=off; its
# qboot firmware still loads the kernel, from fw_cfg, after the first
# KVM_RUN), and gets no default devices or config files (-nodefaults
# -no-user-config). Measured here: also turning off pit, pic and rtc (the
# minimal example in QEMU's docs/system/i386/microvm.rst) made QEMU about 10%
# faster and 0.5 MiB smaller; acpi=off saves another 4.7 MiB of RSS. -cpu host
# cannot be used on this PVM host (QEMU aborts setting MSR 0x10a).

# Included before the main Makefile's own targets, this file must not make
# one of its targets the default goal; the saved goal is restored at the end.
bench_launch_saved_goal := $(.DEFAULT_GOAL)

GO ?= go
BENCH_LAUNCH_OUT ?= out/bench-launch
BENCH_LAUNCH_TOOL := $(BENCH_LAUNCH_OUT)/launch
BENCH_LAUNCH_ROUNDS ?= 10
BENCH_LAUNCH_FLAGS ?=
BENCH_LAUNCH_DEPS ?= build

# The kernel script may download; this runs it at most once, and only when
# KERNEL is expanded (in the bench-launch recipe).
bench_launch_kernel_dir = $(eval bench_launch_kernel_dir := $$(shell guest/debian-x86-kernel.sh))$(bench_launch_kernel_dir)
KERNEL ?= $(firstword $(wildcard $(bench_launch_kernel_dir)/boot/vmlinuz-*))
INITRD ?= $(BENCH_LAUNCH_OUT)/initrd.cpio

# The options both commands share, as functions of the VMM binary, the
# kernel and the initrd, so bench-launch-nested runs the same commands
# with the guest's paths.
bench_launch_guest = -m 256M -kernel $(1) -initrd $(2) -append 'console=ttyS0 quiet'
bench_launch_govmm = $(1) -M microvm $(call bench_launch_guest,$(2),$(3)) -serial none
bench_launch_qemu = $(1) -M microvm,x-option-roms=off,isa-serial=off -accel kvm \
	-nodefaults -no-user-config -nographic -serial none $(call bench_launch_guest,$(2),$(3))

GOVMM_LAUNCH_CMD ?= $(call bench_launch_govmm,bin/govmm,$(KERNEL),$(INITRD))
QEMU_LAUNCH_CMD ?= $(call bench_launch_qemu,qemu-system-x86_64,$(KERNEL),$(INITRD))

# bench_launch_quote makes $(1) one single-quoted shell word.
bench_launch_quote = '$(subst ','\'',$(1))'

.PHONY: bench-launch bench-launch-tool

bench-launch-tool:
	@mkdir -p $(BENCH_LAUNCH_OUT)
	$(GO) build -o $(BENCH_LAUNCH_TOOL) ./bench/launch

$(BENCH_LAUNCH_OUT)/initrd.cpio:
	@mkdir -p $(@D)
	cpio -o -H newc --quiet < /dev/null > $@

bench-launch: $(BENCH_LAUNCH_DEPS) bench-launch-tool $(if $(filter $(BENCH_LAUNCH_OUT)/initrd.cpio,$(INITRD)),$(INITRD))
	@test -n "$(KERNEL)" || { echo "bench-launch: no kernel: set KERNEL= or check guest/debian-x86-kernel.sh" >&2; exit 1; }
	$(BENCH_LAUNCH_TOOL) -rounds $(BENCH_LAUNCH_ROUNDS) $(BENCH_LAUNCH_FLAGS) \
		-govmm $(call bench_launch_quote,$(GOVMM_LAUNCH_CMD)) \
		-qemu $(call bench_launch_quote,$(QEMU_LAUNCH_CMD))

# bench-launch-nested: the same comparison inside the outer guest of the
# nested KVM harness (mk/kvm-x86.mk), for hosts without a hardware-style
# /dev/kvm (this project's machines have none, or PVM's). QEMU goes in with
# the shared libraries ldd lists, at their own paths, and the microvm
# firmware; the commands reach the tool through $$BENCH_LAUNCH_GOVMM and
# $$BENCH_LAUNCH_QEMU, because the harness splits -args on white space.
# Emulated SVM has no decode assists: absolute times inside are slower
# than hardware, so read the ratio (../shared/PLATFORM.md).
.PHONY: bench-launch-nested
bench-launch-nested: build kvm-x86-tools $(BENCH_LAUNCH_OUT)/initrd.cpio
	CGO_ENABLED=0 $(GO) build -o $(BENCH_LAUNCH_OUT)/launch-static ./bench/launch
	@set -e; kdir=$$($(KVM_X86_KERNEL_SCRIPT)); \
	kernel=$$(ls $$kdir/boot/vmlinuz-* | head -n 1); kbase=$$(basename $$kernel); \
	qemu=$$(command -v qemu-system-x86_64); \
	set -- -file "$$(readlink -f $$qemu):/usr/bin/qemu-system-x86_64" \
		-file "$$(readlink -f /usr/share/qemu/bios-microvm.bin):/usr/share/qemu/bios-microvm.bin" \
		-file "$$kernel" -file $(BENCH_LAUNCH_OUT)/initrd.cpio -file bin/govmm; \
	for lib in $$(ldd $$qemu | awk '$$2 == "=>" && $$3 ~ /^\// {print $$3} $$1 ~ /^\// {print $$1}'); do \
		set -- "$$@" -file "$$(readlink -f $$lib):$$lib"; done; \
	$(KVM_X86_OUT)/nestedkvm -kernel-dir "$$kdir" -harness $(KVM_X86_OUT)/harness $(KVM_X86_NESTED_FLAGS) \
		-env LD_LIBRARY_PATH=/lib/x86_64-linux-gnu \
		-env "BENCH_LAUNCH_GOVMM=$(call bench_launch_govmm,/files/govmm $(BENCH_LAUNCH_GOVMM_FLAGS),/files/$$kbase,/files/initrd.cpio)" \
		-env "BENCH_LAUNCH_QEMU=$(call bench_launch_qemu,/usr/bin/qemu-system-x86_64,/files/$$kbase,/files/initrd.cpio)" \
		"$$@" -bin $(BENCH_LAUNCH_OUT)/launch-static -args "-rounds $(BENCH_LAUNCH_ROUNDS) $(BENCH_LAUNCH_FLAGS)"

.DEFAULT_GOAL := $(bench_launch_saved_goal)
