#!/usr/bin/env bash
# Resolves and downloads a Debian cloud kernel (and a static busybox) for the VM matrix,
# through a private apt configuration: the machine's own sources and lists are untouched.
#   vm/kernels.sh ARCH KERNEL     prints the path of the cached kernel image
#   vm/kernels.sh ARCH busybox    prints the path of the cached static busybox
# KERNEL is 5.10 (bullseye), 6.1 (bookworm), 6.12 (bookworm-security or trixie) or newest
# (sid). Package names carry an ABI number that changes: they are resolved at run time.
set -euo pipefail
arch=$1 what=$2
cache=${VM_CACHE:-/var/cache/tailcall-logger/vm}
case "$arch" in
  x86_64) debarch=amd64 flavour=cloud-amd64 ;;
  aarch64) debarch=arm64 flavour=cloud-arm64 ;;
  *) echo "kernels.sh: unsupported ARCH $arch" >&2; exit 2 ;;
esac
apt_root=$cache/apt-$debarch
mkdir -p "$apt_root/lists/partial" "$apt_root/cache/archives/partial" "$cache/debs" "$cache/kernels"
touch "$apt_root/status"
mirror=http://deb.debian.org
key=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$apt_root/sources.list.new" <<SRC
deb [arch=$debarch signed-by=$key] $mirror/debian bullseye main
deb [arch=$debarch signed-by=$key] $mirror/debian bookworm main
deb [arch=$debarch signed-by=$key] $mirror/debian-security bookworm-security main
deb [arch=$debarch signed-by=$key] $mirror/debian trixie main
deb [arch=$debarch signed-by=$key] $mirror/debian sid main
SRC
mv "$apt_root/sources.list.new" "$apt_root/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$apt_root/sources.list" -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$apt_root/lists" -o "Dir::Cache=$apt_root/cache"
  -o "Dir::State::status=$apt_root/status" -o "APT::Architecture=$debarch"
  -o "APT::Architectures::=$debarch" -o "Debug::NoLocking=1" -o "Acquire::Retries=3"
  -o "APT::Sandbox::User=root")

# One lock for the whole cache: parallel callers wait instead of corrupting the lists.
exec 9>"$cache/.lock-$debarch"
flock 9

# Lists are refreshed at most once every 12 hours.
stamp=$apt_root/updated
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720)" ]; then
  apt-get "${apt_opts[@]}" -qq update >&2
  touch "$stamp"
fi

# Highest version among the packages whose names match a regex.
best() {
  apt-cache "${apt_opts[@]}" search --names-only "$1" 2>/dev/null | awk '{print $1}' | sort -V | tail -n 1
}

fetch_deb() { # fetch_deb PACKAGE -> path of the .deb in the cache
  local pkg=$1 deb
  deb=$(ls "$cache/debs/${pkg}_"*"_$debarch.deb" "$cache/debs/${pkg}_"*"_all.deb" 2>/dev/null | head -n 1 || true)
  if [ -z "$deb" ]; then
    (cd "$cache/debs" && apt-get "${apt_opts[@]}" -qq download "$pkg" >&2)
    deb=$(ls "$cache/debs/${pkg}_"*"_$debarch.deb" "$cache/debs/${pkg}_"*"_all.deb" 2>/dev/null | head -n 1)
  fi
  echo "$deb"
}

if [ "$what" = busybox ]; then
  out=$cache/busybox-$debarch
  if [ ! -x "$out" ]; then
    deb=$(fetch_deb busybox-static)
    tmp=$(mktemp -d); dpkg-deb -x "$deb" "$tmp"
    cp "$(ls "$tmp/bin/busybox" "$tmp/usr/bin/busybox" 2>/dev/null | head -n 1)" "$out"; rm -rf "$tmp"
  fi
  echo "$out"; exit 0
fi

case "$what" in
  5.10) pkg=$(best "^linux-image-5\.10\.0-[0-9]+-$flavour-unsigned\$") ;;
  6.1) pkg=$(best "^linux-image-6\.1\.0-[0-9]+-$flavour-unsigned\$") ;;
  6.12) pkg=$(best "^linux-image-6\.12\.[0-9]+.*-$flavour-unsigned\$") ;;
  newest)
    # sid's meta package names the newest kernel. Since 7.x, linux-image-VERSION is itself
    # a meta package and the image is in linux-binary-VERSION (before: -unsigned).
    dep=$(apt-cache "${apt_opts[@]}" depends "linux-image-$flavour/sid" 2>/dev/null |
      awk '/Depends: linux-image-/{print $2}' | head -n 1 || true)
    [ -n "$dep" ] || { echo "kernels.sh: sid has no linux-image-$flavour" >&2; exit 1; }
    ver=${dep#linux-image-}
    pkg=
    for cand in "linux-binary-$ver" "linux-image-$ver-unsigned" "linux-image-$ver"; do
      if apt-cache "${apt_opts[@]}" show "$cand" >/dev/null 2>&1; then pkg=$cand; break; fi
    done
    ;;
  *) echo "kernels.sh: unknown kernel $what (5.10, 6.1, 6.12, newest)" >&2; exit 2 ;;
esac
[ -n "$pkg" ] || { echo "kernels.sh: no package found for kernel $what ($debarch)" >&2; exit 1; }
out=$cache/kernels/$pkg
if [ ! -f "$out/vmlinuz" ]; then
  deb=$(fetch_deb "$pkg")
  tmp=$(mktemp -d)
  dpkg-deb -x "$deb" "$tmp"
  # /boot/vmlinuz-VERSION, or usr/lib/modules/VERSION/vmlinuz(.unsigned) in newer packages.
  img=$(find "$tmp/boot" "$tmp/usr/lib/modules" "$tmp/lib/modules" -maxdepth 2 \
          \( -name 'vmlinuz*' -o -name 'vmlinux*' -o -name 'Image*' \) -type f 2>/dev/null | head -n 1 || true)
  [ -n "$img" ] || { echo "kernels.sh: no kernel image in $deb" >&2; rm -rf "$tmp"; exit 1; }
  mkdir -p "$out"
  cp "$img" "$out/vmlinuz"
  echo "$pkg" > "$out/package"
  rm -rf "$tmp" "$deb"   # keep the image, not the modules
fi
echo "$out/vmlinuz"
