#!/usr/bin/env bash
# Builds the .deb and the .rpm from the static musl binary that `make build` made:
#   packaging/build.sh [ARCH]        (x86_64 or aarch64; `make package ARCH=...` calls this)
# Output: target/packages/tailcall-logger_VERSION-1_DEBARCH.deb and
#         target/packages/tailcall-logger-VERSION-1.ARCH.rpm
# Environment: BIN (the binary to package; default target/ARCH-unknown-linux-musl/release/
# tailcall-logger), ASSETS_BIN (a binary that runs on this machine, to write the man page and
# completions from the clap definition; default BIN), PACKAGE_DIR (default target/packages),
# SOURCE_DATE_EPOCH (default: the last commit's time, for reproducible timestamps).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
arch=${1:-x86_64}
die() { echo "packaging/build.sh: $*" >&2; exit 1; }

case "$arch" in
  x86_64) debarch=amd64 ;;
  aarch64) debarch=arm64 ;;
  *) die "unsupported ARCH $arch (x86_64 or aarch64)" ;;
esac
rust_target=$arch-unknown-linux-musl
bin=${BIN:-target/$rust_target/release/tailcall-logger}
assets_bin=${ASSETS_BIN:-$bin}
out=${PACKAGE_DIR:-target/packages}
release=1
# The .deb synopsis when Cargo.toml's description is longer than Debian's 80 characters.
deb_synopsis="syscall logger built on an eBPF tail-call dispatcher (static binary)"

# A key of a Cargo.toml section (first match), e.g. toml_key package version.
toml_key() {
  awk -v sect="[$1]" -v key="$2" '
    /^\[/ { in_sect = ($0 == sect); next }
    in_sect && $1 == key && $2 == "=" { sub(/^[^=]*= *"/, ""); sub(/".*$/, ""); print; exit }
  ' Cargo.toml
}
version=$(toml_key package version)
maintainer=$(toml_key package.metadata.deb maintainer)
[ -n "$version" ] || die "no version in Cargo.toml"
[ -n "$maintainer" ] || die "no maintainer in [package.metadata.deb]"

packaging/install-packagers.sh build
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

[ -x "$bin" ] || die "$bin is missing: run make build ARCH=$arch first"
file -L "$bin" | grep -q 'statically linked\|static-pie linked' || die "$bin is not static"
case "$arch" in x86_64) elf='x86-64' ;; aarch64) elf='ARM aarch64' ;; esac
file -L "$bin" | grep -q "$elf" || die "$bin is not an $arch binary"
got=$("$assets_bin" --version) || die "$assets_bin does not run here"
[ "$got" = "tailcall-logger $version" ] ||
  die "$assets_bin says '$got', Cargo.toml says $version: rebuild (make build)"

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# Generated assets, shared by both packages (arch-independent).
assets=target/package-assets
rm -rf "$assets"
mkdir -p "$assets"
"$assets_bin" assets "$assets/gen"
for f in tailcall-logger.1 completions/tailcall-logger.bash completions/_tailcall-logger \
         completions/tailcall-logger.fish; do
  [ -s "$assets/gen/$f" ] || die "'$assets_bin assets' did not write $f"
done
gzip -9n < "$assets/gen/tailcall-logger.1" > "$assets/tailcall-logger.1.gz"
mv "$assets/gen/completions" "$assets/completions"
rm -rf "$assets/gen"

# The license text for the rpm (%license). Debian gets packaging/deb/copyright, which points
# at /usr/share/common-licenses/Apache-2.0.
if [ -f LICENSE ]; then
  cp LICENSE "$assets/LICENSE"
else
  echo "packaging/build.sh: no top-level LICENSE; using /usr/share/common-licenses/Apache-2.0" >&2
  cp /usr/share/common-licenses/Apache-2.0 "$assets/LICENSE"
fi

# Debian changelog (required by policy), one entry for this version.
cat > "$assets/changelog" <<EOF
tailcall-logger ($version-$release) unstable; urgency=medium

  * Release $version, packaged from the static musl binary.

 -- $maintainer  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF

mkdir -p "$out"
deb=$out/tailcall-logger_${version}-${release}_${debarch}.deb
rpm=$out/tailcall-logger-${version}-${release}.${arch}.rpm
rm -f "$deb" "$rpm"

# --no-build: the binary comes from `make build` (static musl, vendored C libraries);
# --target maps target/release/ in the asset list to target/TRIPLE/release/ and sets the
# Debian architecture.
cargo deb --no-build --no-strip --target "$rust_target" --deb-revision "$release" \
  --output "$deb" >&2

# cargo-deb writes no DEBIAN/md5sums (lintian: no-md5sums-control-file; dpkg --verify and
# debsums need it): unpack, add it, pack again with the same owner (root) and compression.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -R "$deb" "$work/root"
(cd "$work/root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
   LC_ALL=C sort -z | xargs -0 md5sum) > "$work/root/DEBIAN/md5sums"
chmod 0644 "$work/root/DEBIAN/md5sums"
# cargo-deb also writes "Depends:" with nothing after it (the binary is static); an empty
# field is a lintian warning (empty-field) and means nothing to dpkg: drop it.
sed -i -E '/^(Depends|Pre-Depends|Recommends|Suggests):[[:space:]]*$/d' "$work/root/DEBIAN/control"
# A Debian synopsis is one line of at most 80 characters; cargo-deb wraps a longer Cargo
# description over two, so the tail would read as the first line of the long description.
# Then use the short one below (or shorten `description` in Cargo.toml).
description=$(toml_key package description)
if [ ${#description} -gt 79 ]; then
  awk -v desc="$description" -v syn="$deb_synopsis" '
    /^Description:/ { acc = substr($0, 14); in_syn = (acc != desc); print "Description: " syn; next }
    in_syn && /^ / { acc = acc " " substr($0, 2); in_syn = (acc != desc); next }
    in_syn { exit 1 }
    { print }
    END { if (in_syn) exit 1 }
  ' "$work/root/DEBIAN/control" > "$work/control" ||
    die "could not find the wrapped synopsis in the control file"
  cat "$work/control" > "$work/root/DEBIAN/control"
fi
dpkg-deb --root-owner-group -Zxz -b "$work/root" "$work/new.deb" >/dev/null
mv "$work/new.deb" "$deb"

cargo generate-rpm --target "$rust_target" --arch "$arch" --output "$rpm" >&2

echo "$deb"
echo "$rpm"
