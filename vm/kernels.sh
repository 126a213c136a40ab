#!/usr/bin/env bash
# Resolves, downloads and caches Debian kernels (and a static busybox) for the VM matrix,
# through a private apt configuration: the machine's own sources, lists and cache are
# never read or written.
#
#   vm/kernels.sh ARCH LABEL      prints the path of the cached kernel image; next to it:
#                                 `package` (the Debian package) and `release` (uname -r)
#   vm/kernels.sh ARCH busybox    prints the path of a cached static busybox for ARCH
#   vm/kernels.sh ARCH update     refreshes the private package lists now
#
# LABEL: X.Y (5.10 from bullseye, 6.1 from bookworm, 6.12 from bookworm-security or trixie,
# any other X.Y the suites below carry) or newest (what sid's linux-image-FLAVOUR meta
# package depends on: 7.x at the time of writing). Package names carry an ABI number that
# changes over time, so they are resolved on every run; the newest match whose file can be
# downloaded wins (bullseye-security lists kernels whose files are gone: it is left out).
#
# Only the kernel image path goes to stdout; progress and errors go to stderr.
# Environment: VM_CACHE (default /var/cache/tailcall-logger/vm), VM_KEEP_DEBS=0 to delete
# each .deb once its kernel image is extracted, VM_LISTS_MAX_AGE (minutes, default 720),
# VM_DEBIAN_MIRROR (default http://deb.debian.org).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "vm/kernels.sh: $*" >&2; exit 1; }
[ $# = 2 ] || { echo "usage: vm/kernels.sh ARCH {X.Y|newest|busybox|update}" >&2; exit 2; }
arch=$1 what=$2
[ -f "$here/arch/$arch.sh" ] || die "unsupported ARCH '$arch' (have: $(cd "$here/arch" && ls | sed 's/\.sh$//' | tr '\n' ' '))"
# shellcheck source=vm/arch/x86_64.sh
. "$here/arch/$arch.sh"

cache=${VM_CACHE:-/var/cache/tailcall-logger/vm}
mirror=${VM_DEBIAN_MIRROR:-http://deb.debian.org}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
apt_root=$cache/apt-$DEB_ARCH
mkdir -p "$apt_root/lists/partial" "$apt_root/cache/archives/partial" "$cache/debs" "$cache/kernels" ||
  die "cannot create the cache in $cache (set VM_CACHE to a writable directory)"

for tool in apt-get apt-cache dpkg-deb flock; do
  command -v "$tool" >/dev/null || die "$tool is missing: this runner needs a Debian (or derived) machine"
done
if [ ! -f "$keyring" ]; then
  echo "vm/kernels.sh: installing debian-archive-keyring" >&2
  apt-get install -y -qq debian-archive-keyring >&2 ||
    { apt-get update -qq >&2 && apt-get install -y -qq debian-archive-keyring >&2; } ||
    die "cannot install debian-archive-keyring"
fi

# One lock per architecture for the whole cache: parallel callers wait, lists stay whole.
exec 9>"$cache/.lock-$DEB_ARCH"
flock 9

# The private apt configuration. The machine's apt.conf.d still applies (proxies, retries),
# its sources and lists do not.
sources=$apt_root/sources.list
cat >"$sources.new" <<SRC
deb [arch=$DEB_ARCH signed-by=$keyring] $mirror/debian bullseye main
deb [arch=$DEB_ARCH signed-by=$keyring] $mirror/debian bookworm main
deb [arch=$DEB_ARCH signed-by=$keyring] $mirror/debian-security bookworm-security main
deb [arch=$DEB_ARCH signed-by=$keyring] $mirror/debian trixie main
deb [arch=$DEB_ARCH signed-by=$keyring] $mirror/debian sid main
SRC
changed=0
cmp -s "$sources.new" "$sources" || changed=1
mv "$sources.new" "$sources"
[ -f "$apt_root/status" ] || : >"$apt_root/status"
apt_opts=(
  -o "Dir::Etc::sourcelist=$sources" -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$apt_root/lists" -o "Dir::State::status=$apt_root/status"
  -o "Dir::Cache=$apt_root/cache" -o "Dir::Cache::pkgcache=pkgcache.bin"
  -o "Dir::Cache::srcpkgcache=srcpkgcache.bin" -o "Dir::Cache::archives=$apt_root/cache/archives"
  -o "APT::Architecture=$DEB_ARCH" -o "APT::Architectures::=$DEB_ARCH"
  -o "Acquire::Languages=none" -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
  -o "Acquire::Retries=3" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root"
)

update_lists() {
  echo "vm/kernels.sh: updating the private package lists for $DEB_ARCH (bullseye, bookworm, bookworm-security, trixie, sid)" >&2
  if apt-get "${apt_opts[@]}" -qq update >&2; then
    touch "$apt_root/updated"
  elif ls "$apt_root/lists/"*_Packages* >/dev/null 2>&1; then
    echo "vm/kernels.sh: warning: apt-get update failed; going on with the lists from $(date -r "$apt_root/lists" '+%F %R')" >&2
  else
    die "apt-get update failed and there are no older lists in $apt_root/lists (no network to $mirror?)"
  fi
}
max_age=${VM_LISTS_MAX_AGE:-720}
if [ "$what" = update ] || [ "$changed" = 1 ] || [ ! -f "$apt_root/updated" ] ||
   [ -n "$(find "$apt_root/updated" -mmin +"$max_age")" ]; then
  update_lists
fi
[ "$what" = update ] && exit 0

# fetch_deb PACKAGE[/SUITE]: prints the path of the cached .deb; fails if apt cannot get it.
fetch_deb() {
  local spec=$1 pkg=${1%%/*} deb
  deb=$(ls "$cache/debs/${pkg}_"*"_$DEB_ARCH.deb" 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$deb" ]; then
    echo "vm/kernels.sh: downloading $spec ($DEB_ARCH)" >&2
    (cd "$cache/debs" && apt-get "${apt_opts[@]}" -qq download "$spec" >&2) || return 1
    deb=$(ls "$cache/debs/${pkg}_"*"_$DEB_ARCH.deb" 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$deb" ] || return 1
  fi
  echo "$deb"
}

if [ "$what" = busybox ]; then
  out=$cache/busybox-$DEB_ARCH
  if [ ! -x "$out" ]; then
    # Debian 12's own busybox-static, whatever the machine has installed.
    deb=$(fetch_deb busybox-static/bookworm) || die "cannot download busybox-static ($DEB_ARCH) from bookworm"
    tmp=$(mktemp -d)
    dpkg-deb -x "$deb" "$tmp"
    bb=$(ls "$tmp/bin/busybox" "$tmp/usr/bin/busybox" 2>/dev/null | head -n 1 || true)
    [ -n "$bb" ] || { rm -rf "$tmp"; die "no bin/busybox in $deb"; }
    cp "$bb" "$out.new" && chmod 755 "$out.new" && mv "$out.new" "$out"
    rm -rf "$tmp"
  fi
  echo "$out"
  exit 0
fi

# Candidate packages for a label, best first, one per line.
candidates() {
  local label=$1
  case "$label" in
    newest|sid|7.x)
      local dep ver
      dep=$(apt-cache "${apt_opts[@]}" depends "linux-image-$KERNEL_FLAVOUR/sid" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }' || true)
      [ -n "$dep" ] || die "sid has no linux-image-$KERNEL_FLAVOUR meta package (lists in $apt_root/lists)"
      ver=${dep#linux-image-}
      # 7.x: linux-image-VERSION is a meta package too, the image is in linux-binary-VERSION;
      # before that the image was in linux-image-VERSION-unsigned (or the signed one).
      for cand in "linux-binary-$ver" "linux-image-$ver-unsigned" "linux-image-$ver"; do
        apt-cache "${apt_opts[@]}" show "$cand" >/dev/null 2>&1 && echo "$cand"
      done
      ;;
    [0-9]*.[0-9]*)
      [[ $label =~ ^[0-9]+\.[0-9]+$ ]] || die "bad kernel label '$label' (X.Y or newest)"
      local re=${label//./\\.}
      # linux-image-X.Y[.Z]-ABI-FLAVOUR-unsigned (up to 6.x) or linux-binary-X.Y.Z+debNN-FLAVOUR.
      apt-cache "${apt_opts[@]}" search --names-only \
          "^linux-(image-${re}[.-][^ ]*-$KERNEL_FLAVOUR-unsigned|binary-${re}[.-][^ ]*-$KERNEL_FLAVOUR)\$" 2>/dev/null |
        awk '{ print $1 }' | sed -E 's/^linux-(image|binary)-(.*)$/\2 &/' | sort -V -r -k1,1 | awk '{ print $2 }'
      ;;
    *) die "unknown kernel label '$label' (X.Y such as 5.10, 6.1, 6.12, or newest)" ;;
  esac
}

mapfile -t cands < <(candidates "$what")
[ ${#cands[@]} -gt 0 ] || die "no $KERNEL_FLAVOUR kernel package for '$what' in bullseye, bookworm, bookworm-security, trixie or sid"

for pkg in "${cands[@]}"; do
  dir=$cache/kernels/$pkg
  if [ -f "$dir/vmlinuz" ] && [ -f "$dir/package" ]; then
    echo "$dir/vmlinuz"
    exit 0
  fi
  if ! deb=$(fetch_deb "$pkg"); then
    echo "vm/kernels.sh: $pkg is listed but could not be downloaded; trying the next candidate" >&2
    continue
  fi
  tmp=$(mktemp -d)
  dpkg-deb -x "$deb" "$tmp"
  # /boot/vmlinuz-RELEASE (up to 6.x) or usr/lib/modules/RELEASE/vmlinuz[.unsigned] (7.x).
  img=$(find "$tmp/boot" "$tmp/usr/lib/modules" "$tmp/lib/modules" -maxdepth 2 -type f \
          \( -name 'vmlinuz*' -o -name 'vmlinux-*' -o -name 'Image*' \) 2>/dev/null | sort | head -n 1 || true)
  if [ -z "$img" ]; then
    rm -rf "$tmp"
    echo "vm/kernels.sh: no kernel image in $deb (looked in boot/ and usr/lib/modules/*/); trying the next candidate" >&2
    continue
  fi
  case "$img" in
    */boot/*) release=${img##*/}; release=${release#vmlinu[zx]-} ;;
    *) release=$(basename "$(dirname "$img")") ;;
  esac
  mkdir -p "$dir"
  cp "$img" "$dir/vmlinuz.new" && mv "$dir/vmlinuz.new" "$dir/vmlinuz"
  echo "$release" >"$dir/release"
  echo "$pkg" >"$dir/package"
  rm -rf "$tmp"
  [ "${VM_KEEP_DEBS:-1}" = 1 ] || rm -f "$deb"
  echo "$dir/vmlinuz"
  exit 0
done
die "none of the candidates for '$what' could be fetched: ${cands[*]}"
