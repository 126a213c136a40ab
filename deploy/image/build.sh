#!/usr/bin/env bash
# `make image`: the OCI image tailcall-logger:VERSION from the static binary (FROM scratch),
# built offline with podman (buildah underneath; no registry is contacted), saved as an OCI
# archive: target/image/tailcall-logger-VERSION.oci.tar. Fails when the archive or the
# unpacked image exceeds IMAGE_MAX_BYTES (default 5 MiB).
# Usage: deploy/image/build.sh BINARY   (as root; installs podman and buildah if missing)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
bin=${1:?usage: deploy/image/build.sh BINARY}
max=${IMAGE_MAX_BYTES:-5242880}
[ -x "$bin" ] || { echo "image: $bin is not an executable (run make build)" >&2; exit 2; }
file "$bin" | grep -q 'static' || { echo "image: $bin is not statically linked" >&2; exit 2; }
missing=()
for tool in podman buildah; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
version=$(awk '/^\[/ { p = ($0 == "[package]"); next }
               p && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' Cargo.toml)
source=$(awk '/^\[/ { p = ($0 == "[package]"); next }
              p && $1 == "repository" { gsub(/"/, "", $3); print $3; exit }' Cargo.toml)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# Reproducible timestamps: the commit's time, else 0.
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
out=target/image
archive=$out/tailcall-logger-$version.oci.tar
mkdir -p "$out"
ctx=$(mktemp -d /tmp/tailcall-logger-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
install -m 0755 "$bin" "$ctx/tailcall-logger"
install -m 0644 LICENSE "$ctx/LICENSE"
cp deploy/image/Containerfile "$ctx/Containerfile"
podman build --quiet --pull=never --timestamp "$epoch" \
  --build-arg VERSION="$version" --build-arg SOURCE="$source" --build-arg REVISION="$revision" \
  -t "localhost/tailcall-logger:$version" -f "$ctx/Containerfile" "$ctx" >/dev/null
rm -f "$archive"
podman save --quiet --format oci-archive -o "$archive" "localhost/tailcall-logger:$version"
size=$(stat -c %s "$archive")
unpacked=$(podman image inspect --format '{{.Size}}' "localhost/tailcall-logger:$version")
echo "image: localhost/tailcall-logger:$version, $unpacked bytes unpacked; $archive ($size bytes)"
for n in "$size" "$unpacked"; do
  if [ "$n" -gt "$max" ]; then
    echo "image: $n bytes, over the limit of $max" >&2
    exit 1
  fi
done
