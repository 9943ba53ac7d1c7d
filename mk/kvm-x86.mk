# kvm-x86.mk: tests that need a hardware-style x86 KVM, run nested.
#
# This machine's /dev/kvm is PVM, which cannot boot x86 Linux, so tests that
# need a real KVM skip here. test-kvm-x86 builds those packages' test binaries
# and runs them inside an outer x86-64 guest of qemu-system-x86_64 under TCG,
# where kvm_amd (nested=1) gives a hardware-style /dev/kvm (cmd/nestedkvm).
#
#   make test-kvm-x86                           run KVM_X86_TEST_PKGS nested
#   make test-kvm-x86 KVM_X86_TEST_ARGS='-test.v -test.run TestRun'
#   make test-kvm-x86-selfcheck                 the harness must report a failing test
#   make kernel-x86                             fetch the outer kernel only
#
# To add a package, add it to KVM_X86_TEST_PKGS; patterns such as ./vmm/...
# work, and packages without tests are left out. Each package is built with
# `go test -c` into out/kvmx86/tests/<path with / as _>.test.
# Extra files and environment for the test binaries go in KVM_X86_FLAGS, which
# may use $$KVM_X86_KERNEL_DIR (the fetched kernel package), for example
#   KVM_X86_FLAGS = -file-env GOVMM_TEST_KERNEL=$$KVM_X86_KERNEL_DIR/boot/vmlinuz-6.1.0-56-amd64
# copies that file to /files/ in the guest and sets the variable to its path.

# Included before the main Makefile's own targets, this file must not make one
# of its targets the default goal; the saved goal is restored at the end.
kvm_x86_saved_goal := $(.DEFAULT_GOAL)

GO ?= go
KVM_X86_OUT ?= out/kvmx86
KVM_X86_TEST_PKGS ?= ./internal/nestedkvm/probe
KVM_X86_TEST_ARGS ?= -test.v
KVM_X86_FLAGS ?=
# Flags for cmd/nestedkvm itself (-smp, -mem, -timeout).
KVM_X86_NESTED_FLAGS ?=
KVM_X86_KERNEL_SCRIPT := guest/debian-x86-kernel.sh

.PHONY: test-kvm-x86 test-kvm-x86-selfcheck kvm-x86-tools kvm-x86-tests kernel-x86

kernel-x86:
	@$(KVM_X86_KERNEL_SCRIPT)

# The harness is /init of a guest with no libc: it must be static.
kvm-x86-tools:
	@mkdir -p $(KVM_X86_OUT)
	CGO_ENABLED=0 $(GO) build -o $(KVM_X86_OUT)/harness ./guest/harness
	$(GO) build -o $(KVM_X86_OUT)/nestedkvm ./cmd/nestedkvm

# The tests dir is emptied first so a package dropped from the list does not
# leave a stale binary that would still run.
kvm-x86-tests:
	@set -e; rm -rf $(KVM_X86_OUT)/tests; mkdir -p $(KVM_X86_OUT)/tests; \
	mod=$$($(GO) list -m); \
	pkgs=$$($(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' $(KVM_X86_TEST_PKGS)); \
	[ -n "$$pkgs" ] || { echo "kvm-x86: no test packages in: $(KVM_X86_TEST_PKGS)" >&2; exit 1; }; \
	for p in $$pkgs; do \
		name=$$(echo "$${p#$$mod/}" | tr / _); \
		echo "CGO_ENABLED=0 $(GO) test -c -o $(KVM_X86_OUT)/tests/$$name.test $$p"; \
		CGO_ENABLED=0 $(GO) test -c -o $(KVM_X86_OUT)/tests/$$name.test $$p; \
	done

# kvm_x86_run runs the built test binaries nested, each with $(1) as arguments.
define kvm_x86_run
	@set -e; export KVM_X86_KERNEL_DIR=$$($(KVM_X86_KERNEL_SCRIPT)); \
	set --; for t in $(KVM_X86_OUT)/tests/*.test; do set -- "$$@" -bin "$$t"; done; \
	$(KVM_X86_OUT)/nestedkvm -kernel-dir "$$KVM_X86_KERNEL_DIR" -harness $(KVM_X86_OUT)/harness \
		$(KVM_X86_NESTED_FLAGS) -test-args '$(1)' $(KVM_X86_FLAGS) "$$@"
endef

test-kvm-x86: kvm-x86-tools kvm-x86-tests
	$(call kvm_x86_run,$(KVM_X86_TEST_ARGS))

# The negative path: a test binary that fails must fail the run. The probe
# fails on purpose with -probe.fail; this target succeeds only if nestedkvm
# then exits non-zero.
test-kvm-x86-selfcheck: kvm-x86-tools
	@rm -rf $(KVM_X86_OUT)/selfcheck; mkdir -p $(KVM_X86_OUT)/selfcheck
	CGO_ENABLED=0 $(GO) test -c -o $(KVM_X86_OUT)/selfcheck/probe.test ./internal/nestedkvm/probe
	@set -e; kdir=$$($(KVM_X86_KERNEL_SCRIPT)); \
	if $(KVM_X86_OUT)/nestedkvm -kernel-dir "$$kdir" -harness $(KVM_X86_OUT)/harness \
		-bin $(KVM_X86_OUT)/selfcheck/probe.test -args '-test.v -probe.fail'; then \
		echo "kvm-x86 selfcheck: FAIL: a failing test binary did not fail the run" >&2; exit 1; \
	else \
		echo "kvm-x86 selfcheck: ok: the failing test binary failed the run" >&2; \
	fi

.DEFAULT_GOAL := $(kvm_x86_saved_goal)
