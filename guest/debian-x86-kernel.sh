#!/bin/sh
# debian-x86-kernel.sh: fetch Debian's stock x86-64 kernel into the govmm cache and
# print the directory that holds it.
#
# The kernel is whatever linux-image-amd64 currently depends on. The cache entry is
# keyed by that package's name and version, so a new Debian kernel lands in a new
# directory and an old one is never half-overwritten. The directory holds
# boot/vmlinuz-<release>, boot/vmlinux-<release> (the same kernel uncompressed,
# for a faster boot under TCG; see extract_vmlinux) and lib/modules/<release>/
# with a modules.dep (the .deb ships none: Debian's postinst runs depmod, and
# dpkg -x runs no scripts, so we run it).
#
# Usage: guest/debian-x86-kernel.sh          prints e.g.
#   /root/.cache/govmm/debian-x86/linux-image-6.1.0-56-amd64_6.1.192-2
# Progress goes to stderr; only the directory goes to stdout.
# Environment: GOVMM_CACHE (default ~/.cache/govmm).
set -eu

cache=${GOVMM_CACHE:-$HOME/.cache/govmm}/debian-x86
log() { echo "debian-x86-kernel: $*" >&2; }

# resolve prints "<package> <version>" for linux-image-amd64's kernel dependency,
# or nothing when apt knows no such package (empty or stale lists). This is what
# `apt-cache depends linux-image-amd64` names; `apt-cache show` also gives the pinned
# version ("Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)") in the same call,
# and each apt-cache call costs about 0.5 s.
resolve() {
	line=$(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null | awk '
		$1 == "Depends:" {
			for (i = 2; i <= NF; i++) if ($i ~ /^linux-image-/) {
				pkg = $i; sub(/,$/, "", pkg)
				if ($(i+1) == "(=") { ver = $(i+2); sub(/\)?,?$/, "", ver) }
				break
			}
		}
		END { if (pkg != "") print pkg, ver }') || true
	set -- $line
	[ $# -ge 1 ] || return 0
	if [ $# -eq 1 ]; then
		# An unpinned dependency: ask for the candidate version.
		set -- "$1" "$(apt-cache show --no-all-versions "$1" 2>/dev/null |
			awk '$1 == "Version:" { print $2; exit }')"
	fi
	[ -z "$2" ] || echo "$1 $2"
}

updated=
apt_update() {
	[ -z "$updated" ] || return 1
	log "running apt-get update"
	apt-get update -qq >&2
	updated=1
}

set -- $(resolve)
if [ $# -ne 2 ]; then
	apt_update
	set -- $(resolve)
fi
[ $# -eq 2 ] || { log "apt knows no linux-image-amd64 dependency"; exit 1; }
pkg=$1 ver=$2
# A version may carry an epoch ("1:2.3"); keep the directory name plain.
dest=$cache/${pkg}_$(echo "$ver" | tr ':/' '__')

if [ -d "$dest" ]; then
	echo "$dest"
	exit 0
fi

mkdir -p "$cache"
# The temp dir sits beside the destination so the final rename is atomic (same
# filesystem). An interrupted run leaves no entry: the trap removes the temp dir,
# and even a SIGKILLed run leaves only a .tmp-* dir, which never counts as a hit.
tmp=$(mktemp -d "$cache/.tmp-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

fetch() {
	# APT::Sandbox::User=root: apt otherwise downloads as _apt, which cannot write
	# into a private temp dir under root's home and warns about it.
	(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >&2)
}
log "downloading $pkg $ver"
if ! fetch; then
	# The lists may name a version the mirror no longer has: refresh once and retry.
	apt_update || exit 1
	set -- $(resolve)
	[ $# -eq 2 ] || { log "apt knows no linux-image-amd64 dependency"; exit 1; }
	if [ "$1 $2" != "$pkg $ver" ]; then
		# The dependency moved on; the new version gets its own directory.
		pkg=$1 ver=$2
		dest=$cache/${pkg}_$(echo "$ver" | tr ':/' '__')
		if [ -d "$dest" ]; then echo "$dest"; exit 0; fi
		log "downloading $pkg $ver"
	fi
	fetch
fi

deb=$(ls "$tmp"/*.deb)
log "extracting $(basename "$deb")"
dpkg -x "$deb" "$tmp/root"
rm -f "$deb"

set -- "$tmp"/root/lib/modules/*
[ $# -eq 1 ] && [ -d "$1" ] || { log "expected one lib/modules/<release> in $deb"; exit 1; }
release=$(basename "$1")
depmod=$(command -v depmod || echo /sbin/depmod)
log "running depmod for $release"
"$depmod" -b "$tmp/root" "$release"

# extract_vmlinux writes the uncompressed ELF kernel inside bzImage $1 to $2.
# QEMU boots such an ELF through its PVH entry (CONFIG_PVH=y), which skips the
# bzImage's own decompressor: under TCG, emulated xz takes 3 s or more of every
# boot, while the host does it once here in about 0.6 s. The payload's place is
# in the boot protocol header (2.08+): setup_sects at 0x1f1, payload_offset at
# 0x248 and payload_length at 0x24c, counted from the protected-mode code at
# (setup_sects+1)*512.
extract_vmlinux() {
	sects=$(od -An -tu1 -j 497 -N1 "$1" | tr -d ' ')
	[ "$sects" != 0 ] || sects=4
	off=$(od -An -tu4 -j 584 -N4 "$1" | tr -d ' ')
	len=$(od -An -tu4 -j 588 -N4 "$1" | tr -d ' ')
	start=$(( (sects + 1) * 512 + off ))
	magic=$(tail -c +$((start + 1)) "$1" | od -An -tx1 -N6 | tr -d ' ')
	case $magic in
	fd377a585a00) unpack="xz -dc --single-stream" ;;
	1f8b*) unpack="gzip -dc" ;;
	28b52ffd*) unpack="zstd -dcq" ;;
	*) log "bzImage payload format $magic unknown"; return 1 ;;
	esac
	# The payload ends with 4 bytes of uncompressed size; the decompressors
	# above stop at the end of their stream and ignore them, or only warn.
	tail -c +$((start + 1)) "$1" | head -c "$len" | $unpack > "$2" 2>/dev/null || true
	[ "$(od -An -tx1 -N4 "$2" | tr -d ' ')" = 7f454c46 ] || { log "payload did not unpack to an ELF"; return 1; }
}
vmlinuz=$tmp/root/boot/vmlinuz-$release
log "extracting boot/vmlinux-$release from the bzImage"
if ! extract_vmlinux "$vmlinuz" "$tmp/root/boot/vmlinux-$release"; then
	# Not fatal: the runner boots the bzImage when there is no vmlinux, slower.
	rm -f "$tmp/root/boot/vmlinux-$release"
	log "no vmlinux; QEMU will boot the bzImage"
fi

if ! mv -T "$tmp/root" "$dest" 2>/dev/null; then
	# Another run finished first; its copy is as good as ours.
	[ -d "$dest" ] || { log "cannot rename into $dest"; exit 1; }
fi
log "ready: $dest"
echo "$dest"
