#!/usr/bin/env bash
# Prints the environment for a fully static musl build of tailcall-logger with vendored
# libbpf, libelf and zlib (eval "$(scripts/static-env.sh ARCH)"). What it works around:
# - musl-gcc does not search /usr/include, so libbpf's build cannot find asm/unistd.h and
#   the other kernel UAPI headers: target/musl-include/ARCH holds links to /usr/include's
#   linux, asm (the architecture's) and asm-generic, passed with -idirafter.
# - musl has no argp, fts or obstack, which elfutils' configure looks for: the autoconf
#   cache variables at the end say "none required", and scripts/musl-include/argp.h gives
#   the declarations configure insists on. Nothing of them is ever linked: only libelf.a
#   is used, not the elfutils programs.
# - aarch64: Debian's cross gcc emits outline atomics (__aarch64_ldadd4_sync and the like)
#   that rustc's musl link does not provide, hence -mno-outline-atomics.
# - libbpf-sys builds the vendored elfutils inside its unpacked crate, in
#   $CARGO_HOME/registry/src, not in target/: two builds sharing a CARGO_HOME race there,
#   and a failed build leaves its objects behind, which the next build (even after a change
#   of CFLAGS) takes as up to date. To start clean, delete
#   $CARGO_HOME/registry/src/*/libbpf-sys-* (cargo unpacks it again from its cache).
set -euo pipefail
arch=${1:-x86_64}
top=$(cd "$(dirname "$0")/.." && pwd)
inc="$top/target/musl-include/$arch"
mkdir -p "$inc"
cp "$top/scripts/musl-include/argp.h" "$inc/argp.h"
# musl-gcc does not search /usr/include: give it the kernel UAPI headers libbpf needs,
# after its own (-idirafter), so musl's libc headers still win.
case "$arch" in
  x86_64) asm=/usr/include/x86_64-linux-gnu/asm ;;
  aarch64) asm=/usr/include/aarch64-linux-gnu/asm ;;
  *) echo "unsupported ARCH $arch" >&2; exit 2 ;;
esac
ln -sfn /usr/include/linux "$inc/linux"
ln -sfn /usr/include/asm-generic "$inc/asm-generic"
ln -sfn "$asm" "$inc/asm"
t=${arch}_unknown_linux_musl
T=$(echo "$t" | tr a-z A-Z)
case "$arch" in
  x86_64)
    echo "export CC_$t=musl-gcc"
    echo "export CFLAGS_$t='-idirafter $inc'"
    ;;
  aarch64)
    echo "export CC_$t=aarch64-linux-musl-gcc"
    echo "export AR_$t=aarch64-linux-gnu-ar"
    # Debian's cross gcc emits outline atomics that rustc's musl link does not provide.
    echo "export CFLAGS_$t='-idirafter $inc -mno-outline-atomics'"
    echo "export CARGO_TARGET_${T}_LINKER=aarch64-linux-gnu-gcc"
    # The embedded minimal BTF must describe an arm64 kernel: cut it from the BTF of the
    # newest Debian arm64 cloud kernel (downloaded and cached by vm/kernels.sh).
    btf=$top/target/btf/arm64.btf
    if [ ! -s "$btf" ]; then
      mkdir -p "$(dirname "$btf")"
      "$top/scripts/kernel-btf.py" "$("$top/vm/kernels.sh" aarch64 newest)" "$btf" >&2
    fi
    echo "export TAILCALL_LOGGER_BTF_SOURCE=$btf"
    ;;
esac
# musl has no argp, fts or obstack; libelf needs none of them.
echo "export ac_cv_search_argp_parse='none required'"
echo "export ac_cv_search_fts_close='none required'"
echo "export ac_cv_search__obstack_free='none required'"
