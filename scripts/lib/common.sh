# SPDX-License-Identifier: GPL-2.0
# Shared settings for the scripts: where things live, how steps are reported.

# The repository's top directory.
KAME_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Build products too big or too slow to keep in a clone live here, shared by
# every clone on the machine (CI runs in a fresh clone and reuses them).
# Not under /var/cache: virtme-ng hides /var/cache from the guest behind a
# tmpfs, and the guest needs the kernel tree (modules, kselftest helpers).
KAME_CACHE=${KAME_CACHE:-/var/lib/kame-ipsec}

# Tools installed with `cargo install` for the build.
KAME_TOOLS=${KAME_TOOLS:-$KAME_CACHE/tools}

# The pinned test kernel.
KAME_KVER=7.3.4
KAME_KSRC_TAR=/usr/src/linux-source-7.3.tar.xz

# Make variables every kernel and module build uses.
KAME_RUSTC=/usr/bin/rustc
KAME_LLVM=-22

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# bindgen_bin: prints the path of the bindgen the project uses, fails if missing.
bindgen_bin() {
	local b=$KAME_TOOLS/bin/bindgen
	[ -x "$b" ] && printf '%s\n' "$b"
}

# kernel_flavour_dir FLAVOUR: the cache directory of a kernel flavour's build,
# keyed by kernel version and the hash of the config fragments that make it.
kernel_flavour_dir() {
	local flavour=$1 hash
	hash=$(kernel_config_hash "$flavour")
	printf '%s/kernel/%s-%s-%s\n' "$KAME_CACHE" "$KAME_KVER" "$flavour" "$hash"
}

# kernel_fragments FLAVOUR: the config fragments of a flavour, in order.
kernel_fragments() {
	local vm=$KAME_TOP/selftests/vm
	case $1 in
	normal) printf '%s\n' "$vm/kernel.config" ;;
	debug) printf '%s\n' "$vm/kernel.config" "$vm/debug.config" ;;
	*) die "unknown kernel flavour '$1' (normal or debug)" ;;
	esac
}

kernel_config_hash() {
	local f
	{
		printf '%s\n' "$KAME_KVER"
		# A new compiler needs a new build, as a new fragment does.
		printf 'LLVM=%s\n' "$KAME_LLVM"
		for f in $(kernel_fragments "$1"); do cat "$f"; done
	} | sha256sum | cut -c1-16
}
