#!/bin/sh
# Provisioning for lima/hello-ebpf.yaml (mode: system: root in the guest, on every boot).
# The template embeds this file byte for byte (make lima-embed writes it, make lima-test
# checks it and runs it in a Debian 12 chroot). Lima expands Go templates in it: use none.
#  1. finds the checkout: $TAILCALL_LOGGER_SRC, else $PARAM_CHECKOUT when it is an absolute
#     path, else a search of every Lima mount ($LIMA_CIDATA_MOUNTS_N_MOUNTPOINT)
#  2. installs target/packages/tailcall-logger_*_{amd64,arm64}.deb for this guest's
#     architecture from it; with none there (or with TAILCALL_LOGGER_REBUILD=1), builds the
#     packages in a copy of the checkout inside the guest (the mount stays read-only) with
#     `make package ARCH=...`
#  3. runs `tailcall-logger probe`; the outcome goes to /run/tailcall-logger-provision
#     (running, ok, or failed ...), which the template's readiness probe waits for.
set -eu
status=/run/tailcall-logger-provision
state=/var/lib/tailcall-logger-lima
say() { echo "provision: $*" >&2; }
mkdir -p "${status%/*}" "$state"
echo running >"$status"
trap 'rc=$?; [ "$rc" = 0 ] || echo "failed (exit $rc): see /var/log/cloud-init-output.log" >"$status"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -q -o DPkg::Lock::Timeout=600 "$@"; }

case "$(uname -m)" in
  x86_64) arch=x86_64 debarch=amd64 ;;
  aarch64) arch=aarch64 debarch=arm64 ;;
  *) say "unsupported architecture $(uname -m)"; exit 1 ;;
esac

# newest_deb DIR: the newest package for this architecture in DIR, or nothing.
newest_deb() {
  for f in "$1"/tailcall-logger_*_"$debarch".deb; do
    [ -f "$f" ] && printf '%s\n' "$f"
  done | sort -V | tail -n 1
}

# A checkout is a directory with lima/hello-ebpf.yaml and the project's Cargo.toml.
is_checkout() {
  [ -f "$1/lima/hello-ebpf.yaml" ] && grep -qs '^name = "tailcall-logger"' "$1/Cargo.toml"
}

# Lima mounts host directories at the same paths, listed in LIMA_CIDATA_MOUNTS_N_MOUNTPOINT.
mountpoints() {
  i=0
  while [ "$i" -lt "${LIMA_CIDATA_MOUNTS:-0}" ]; do
    eval "mp=\${LIMA_CIDATA_MOUNTS_${i}_MOUNTPOINT:-}"
    [ -z "$mp" ] || printf '%s\n' "$mp"
    i=$((i + 1))
  done
}

# reverse-sshfs mounts (the qemu fallback) may come up after this script starts.
wait_for_mounts() {
  [ "${LIMA_CIDATA_MOUNTTYPE:-}" = reverse-sshfs ] || return 0
  mountpoints | while IFS= read -r mp; do
    n=0
    until mountpoint -q "$mp" || [ "$n" -ge 60 ]; do sleep 3; n=$((n + 1)); done
    mountpoint -q "$mp" || say "$mp is not mounted after 180 s"
  done
}

# Prints the checkout's path, or nothing.
find_checkout() {
  want=${TAILCALL_LOGGER_SRC:-${PARAM_CHECKOUT:-}}
  case "$want" in
    /*)
      if is_checkout "$want"; then (cd "$want" && pwd); return 0; fi
      say "$want is not a tailcall-logger checkout: searching the mounts" ;;
  esac
  roots=$(mountpoints)
  [ -n "$roots" ] || roots=$(printf '/Users\n/home')
  # Depth 7 reaches ~/a/b/c/d/checkout; big trees that hold no checkout are skipped.
  printf '%s\n' "$roots" | while IFS= read -r root; do
    [ -d "$root" ] || continue
    timeout 300 find "$root" -maxdepth 7 \( -name Library -o -name .Trash -o -name node_modules \
      -o -name .git -o -name target -o -name .cargo -o -name .rustup -o -name .cache \) -prune \
      -o -path '*/lima/hello-ebpf.yaml' -print 2>/dev/null || true
  done | {
    first=
    while IFS= read -r f; do
      c=${f%/lima/hello-ebpf.yaml}
      is_checkout "$c" || continue
      say "found a checkout: $c"
      [ -n "$first" ] || first=$c
      # Prefer a checkout that holds a package for this architecture.
      if [ -n "$(newest_deb "$c/target/packages")" ]; then first=$c; break; fi
    done
    printf '%s' "$first"
  }
}

# build_in_guest CHECKOUT: builds the packages in $state/build/src, a copy of CHECKOUT's
# sources (its target/ is kept between boots, so a rebuild is incremental); prints the package.
build_in_guest() {
  src=$state/build/src
  say "building the $debarch package in the guest from $1 (several minutes; to skip this,"
  say "build it on a Linux machine first: make package ARCH=$arch, into $1/target/packages)"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends ca-certificates curl git make gcc libc6-dev >&2
  export HOME=/root CARGO_HOME=/root/.cargo RUSTUP_HOME=/root/.rustup
  export PATH="/root/.cargo/bin:$PATH"
  if ! command -v cargo >/dev/null; then
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
      sh -s -- -y --profile minimal --no-modify-path >&2
  fi
  mkdir -p "$src"
  find "$src" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
  # What git sees (tracked, and untracked but not ignored) plus .git: not the build trees.
  if git -c safe.directory='*' -C "$1" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$1" && { git -c safe.directory='*' ls-files -z --cached --others --exclude-standard
      printf '.git\0'; } | tar --null --ignore-failed-read -T - -cf -) | tar -C "$src" -xf -
  else
    (cd "$1" && tar --exclude=./target --exclude=./fuzz/target --exclude=./fuzz/corpus -cf - .) |
      tar -C "$src" -xf -
  fi
  make -C "$src" package ARCH="$arch" >&2
  newest_deb "$src/target/packages"
}

wait_for_mounts
checkout=$(find_checkout)
[ -z "$checkout" ] || say "checkout: $checkout"
deb=
if [ "${TAILCALL_LOGGER_REBUILD:-0}" != 1 ]; then
  [ -z "$checkout" ] || deb=$(newest_deb "$checkout/target/packages")
  # Else a package built in the guest on an earlier boot.
  [ -n "$deb" ] || deb=$(newest_deb "$state/build/src/target/packages")
fi
if [ -z "$deb" ]; then
  if [ -z "$checkout" ]; then
    say "cannot find the tailcall-logger checkout in the guest's mounts: $(mountpoints | tr '\n' ' ')"
    say "Recreate the VM from the checkout, giving its path:"
    say "  limactl delete -f hello-ebpf"
    say "  limactl start --set \".param.CHECKOUT=\\\"\$PWD\\\"\" lima/hello-ebpf.yaml"
    exit 1
  fi
  deb=$(build_in_guest "$checkout")
  [ -n "$deb" ] || { say "make package left no $debarch package"; exit 1; }
fi

# The package last installed from here is kept in $state: the same bytes again are not
# reinstalled, a rebuilt package of the same version is.
copy=$state/tailcall-logger_$debarch.deb
version=$(dpkg-deb -f "$deb" Version)
installed=$(dpkg-query -W -f='${Status} ${Version}' tailcall-logger 2>/dev/null || true)
if [ "$installed" = "install ok installed $version" ] && cmp -s "$deb" "$copy"; then
  say "tailcall-logger $version ($deb) is installed already"
else
  say "installing $deb"
  # From a local copy: apt's sandbox user may not be able to read the mount.
  cp "$deb" "$copy.new" && mv "$copy.new" "$copy"
  apt_get install --reinstall -y -qq "$copy" >&2
fi
tailcall-logger --version
rc=0
tailcall-logger probe >&2 || rc=$?
if [ "$rc" != 0 ]; then
  say "tailcall-logger probe exited $rc: this kernel cannot run the logger (see above)"
  exit "$rc"
fi
echo ok >"$status"
say "ready: sudo tailcall-logger --skip-others"
