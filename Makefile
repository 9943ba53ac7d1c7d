# govmm: two commands set up everything on a fresh machine.
#
#   make run     build what is missing and boot the default guest
#   make test    unit tests, race detector, and the KVM suite (nested here)
#
# Other targets: build, vet, bench, bench-launch, bench-net, bench-blk,
# bench-tcg, bench-boot-riscv, bench-run, test-kvm-x86, kernel-x86,
# kernel-riscv, guest-x86, guest-riscv,
# deps, clean. Slow artifacts (guest kernels) are cached under
# $(GOVMM_CACHE), keyed by their inputs.

GO          ?= go
GOVMM_CACHE ?= $(HOME)/.cache/govmm
export GOVMM_CACHE
OUT         := out
BIN         := bin/govmm

# Tests that need hardware-style KVM run nested (mk/kvm-x86.mk); the test
# kernel images travel prebuilt because the outer guest has no binutils.
KVM_X86_TEST_PKGS = ./internal/nestedkvm/probe ./kvm ./vmm/x86 ./cmd/govmm
# Guest kernel modules the tests load (found next to the kernel, in /files).
KVM_X86_GUEST_MODULES = virtio/virtio_ring.ko virtio/virtio.ko virtio/virtio_pci_legacy_dev.ko \
	virtio/virtio_pci_modern_dev.ko virtio/virtio_pci.ko char/hw_random/virtio-rng.ko \
	net/net_failover.ko net/virtio_net.ko block/virtio_blk.ko
KVM_X86_FLAGS = -file-env GOVMM_TEST_KERNEL=$$KVM_X86_KERNEL_DIR/boot/$$(cd $$KVM_X86_KERNEL_DIR/boot && ls vmlinuz-* | head -1) \
	$(foreach f,bzImage bzImage32 pvh.elf elf64.elf,-file $(OUT)/testkernel/$(f):/files/testkernel/$(f)) \
	-env GOVMM_TESTKERNEL_DIR=/files/testkernel \
	$(foreach m,$(KVM_X86_GUEST_MODULES),-file $$(ls $$KVM_X86_KERNEL_DIR/lib/modules/*/kernel/drivers/$(m))) \
	-file $$(ls $$KVM_X86_KERNEL_DIR/lib/modules/*/kernel/net/core/failover.ko) \
	-file $$(readlink -f $(GUEST_DIR)/x86_64/kernel):/files/cache/guest/x86_64/kernel \
	-file $(GUEST_DIR)/x86_64/initramfs.cpio:/files/cache/guest/x86_64/initramfs.cpio \
	-env GOVMM_CACHE=/files/cache

include mk/kvm-x86.mk
include mk/bench-launch.mk
include mk/bench-net.mk
include mk/bench-blk.mk
include mk/bench-tcg.mk
include mk/bench-boot.mk

.DEFAULT_GOAL := build

# The riscv64 guest kernel, built once per config change into the cache.
.PHONY: kernel-riscv
kernel-riscv: deps
	@guest/riscv-kernel.sh
.PHONY: build run test test-unit vet deps bench bench-launch clean testkernel-images

# Debian packages the build and tests use. Installed once (as root) when
# a tool is missing; CI starts from a fresh machine.
APT_PACKAGES = qemu-system-x86 qemu-system-misc qemu-user gcc-riscv64-linux-gnu opensbi \
	iproute2 iperf3 binutils gcc bc flex bison libssl-dev libelf-dev cpio kmod linux-source-6.1
deps:
	@missing=""; \
	for t in qemu-system-x86_64:qemu-system-x86 as:binutils gcc:gcc depmod:kmod ip:iproute2; do \
		command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; \
	done; \
	for f in /usr/src/linux-source-6.1.tar.xz:linux-source-6.1; do \
		[ -e $${f%%:*} ] || missing="$$missing $${f#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $(APT_PACKAGES)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(APT_PACKAGES); \
	fi

build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/govmm

vet:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

testkernel-images:
	$(GO) run ./internal/testkernel/mktestkernel -o $(OUT)/testkernel

# make test: formatting and vet, the unit tests with the race detector
# (the riscv64 machine's included: they boot the recipe's kernel and the
# default riscv64 guest, built first), then the hardware-KVM x86 suite
# (nested under QEMU TCG on this PVM host).
test: deps vet guest-riscv test-unit testkernel-images guest-x86 test-kvm-x86 test-kvm-x86-selfcheck

# GOVMM_RISCV_KERNEL points vmm/riscv's Linux tests at the kernel;
# GOVMM_REQUIRE_GUESTS makes a missing default guest a failure, not a skip.
test-unit: kernel-riscv
	GOVMM_RISCV_KERNEL=$$(guest/riscv-kernel.sh) GOVMM_REQUIRE_GUESTS=1 $(GO) test -race -count=1 ./...

bench: bench-launch bench-net bench-blk bench-tcg bench-boot-riscv bench-run

# The default guests `govmm run` boots, in $(GOVMM_CACHE)/guest/<arch>:
# a kernel and an initramfs with guest/init (and, for Debian's x86 kernel,
# the virtio modules it needs).
GUEST_DIR     = $(GOVMM_CACHE)/guest
X86_MODULES   = virtio_pci,virtio_console,virtio_net,virtio_blk,virtio_rng
.PHONY: guest-x86 guest-riscv
guest-x86: build kernel-x86
	@set -e; mkdir -p $(OUT)/guest/amd64 $(GUEST_DIR)/x86_64; \
	kdir=$$($(KVM_X86_KERNEL_SCRIPT)); rel=$$(ls $$kdir/lib/modules | head -1); \
	CGO_ENABLED=0 GOARCH=amd64 $(GO) build -o $(OUT)/guest/amd64/init ./guest/init; \
	$(BIN) initramfs -o $(GUEST_DIR)/x86_64/initramfs.cpio -init $(OUT)/guest/amd64/init -applets \
		-modules-dir $$kdir/lib/modules/$$rel -modules $(X86_MODULES); \
	ln -sf $$kdir/boot/vmlinuz-$$rel $(GUEST_DIR)/x86_64/kernel; \
	echo "guest-x86: $(GUEST_DIR)/x86_64" >&2
guest-riscv: build kernel-riscv
	@set -e; mkdir -p $(OUT)/guest/riscv64 $(GUEST_DIR)/riscv64; \
	CGO_ENABLED=0 GOARCH=riscv64 $(GO) build -o $(OUT)/guest/riscv64/init ./guest/init; \
	$(BIN) initramfs -o $(GUEST_DIR)/riscv64/initramfs.cpio -init $(OUT)/guest/riscv64/init -applets; \
	ln -sf $$(guest/riscv-kernel.sh) $(GUEST_DIR)/riscv64/kernel; \
	echo "guest-riscv: $(GUEST_DIR)/riscv64" >&2

# make run boots the default guest with `govmm run`, which prints a report
# of the machine: x86-64 on a hardware-style /dev/kvm, otherwise (no
# /dev/kvm, or kvm_pvm, which cannot boot x86 Linux) riscv64 on govmm's
# translator.
run: deps build
	@set -e; if [ -e /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ]; then \
		$(MAKE) --no-print-directory guest-x86; \
	else \
		$(MAKE) --no-print-directory guest-riscv; \
	fi; \
	$(BIN) run -v

clean:
	rm -rf bin $(OUT)
