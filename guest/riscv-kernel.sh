#!/usr/bin/env bash
# Builds govmm's riscv64 guest kernel (an Image) from Debian's
# linux-source-6.1 with the cross compiler, once, into
#   $GOVMM_CACHE/riscv-kernel/<key>/Image
# where <key> hashes this script, the config fragment, the kernel source
# package and the compiler version: change any of them and it rebuilds.
# Prints the Image's path on stdout; progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${GOVMM_CACHE:-$HOME/.cache/govmm}
src=/usr/src/linux-source-6.1.tar.xz
frag=$here/riscv/kernel.config
cross=riscv64-linux-gnu-
for need in "$src:linux-source-6.1" "$(command -v ${cross}gcc || echo /missing):gcc-riscv64-linux-gnu"; do
	[ -e "${need%%:*}" ] || { echo "riscv-kernel: missing ${need#*:} (make deps installs it)" >&2; exit 1; }
done
key=$( { cat "$0" "$frag"; dpkg-query -W -f='${Version}' linux-source-6.1; ${cross}gcc --version | head -1; } | sha256sum | cut -c1-16)
out=$cache/riscv-kernel/$key
if [ -f "$out/Image" ]; then
	echo "$out/Image"
	exit 0
fi
mkdir -p "$cache/riscv-kernel"
work=$(mktemp -d "$cache/riscv-kernel/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "riscv-kernel: extracting $src (once per config change)" >&2
tar -xJf "$src" -C "$work"
cd "$work"/linux-source-6.1
mk() { make -s ARCH=riscv CROSS_COMPILE=$cross "$@"; }
mk tinyconfig >&2
scripts/kconfig/merge_config.sh -m .config "$frag" >/dev/null
mk olddefconfig >&2
# Every option the fragment sets must have survived olddefconfig, and
# every one it turns off must not have come back (selected by another).
missing=$(grep '^CONFIG_.*=y' "$frag" | while read -r l; do grep -qx "$l" .config || echo "$l"; done
	sed -n 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1/p' "$frag" | while read -r o; do grep -q "^$o=" .config && echo "$o (wanted off)"; done || true)
if [ -n "$missing" ]; then
	echo "riscv-kernel: these options did not stick (unmet dependencies?):" >&2
	echo "$missing" >&2
	exit 1
fi
echo "riscv-kernel: building Image with -j$(nproc) (about 2-3 minutes)" >&2
start=$(date +%s)
mk -j"$(nproc)" Image >&2
echo "riscv-kernel: built in $(( $(date +%s) - start )) s" >&2
mkdir -p "$work/out"
cp arch/riscv/boot/Image .config "$work/out/"
mv "$work/out" "$out"
echo "$out/Image"
