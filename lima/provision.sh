#!/bin/sh
# Provisioning for lima/hello-ebpf.yaml (mode: system, runs as root in the guest), kept as a
# file so lima/test.sh can run exactly this code in a Debian chroot. The template embeds it
# byte for byte (the test checks that).
# The checkout, as mounted in the guest: TAILCALL_LOGGER_SRC, else the template's param
# CHECKOUT (Lima passes it as PARAM_CHECKOUT), else found under the mounted home directory.
# Installs tailcall-logger from the .deb built in the checkout for this guest's
# architecture; when there is none, builds the packages inside the guest first.
set -eu
src=${TAILCALL_LOGGER_SRC:-${PARAM_CHECKOUT:-}}
if [ -z "$src" ]; then
  marker=$(find /Users /home -maxdepth 5 -path '*/lima/hello-ebpf.yaml' 2>/dev/null | head -n 1 || true)
  src=${marker%/lima/hello-ebpf.yaml}
fi
if [ -z "$src" ] || [ ! -f "$src/Cargo.toml" ]; then
  echo "provision: cannot find the tailcall-logger checkout; start with" >&2
  echo "  limactl start --set '.param.CHECKOUT=\"'\$PWD'\"' lima/hello-ebpf.yaml" >&2
  exit 1
fi
case "$(uname -m)" in
  x86_64) debarch=amd64 ;;
  aarch64) debarch=arm64 ;;
  *) echo "provision: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
export DEBIAN_FRONTEND=noninteractive
find_deb() {
  ls "$src"/target/packages/tailcall-logger_*_"$debarch".deb 2>/dev/null | sort -V | tail -n 1
}
deb=$(find_deb || true)
if [ -z "$deb" ]; then
  echo "provision: no $debarch package in $src/target/packages: building one in the guest" >&2
  apt-get update -qq
  apt-get install -y -qq ca-certificates curl git make gcc >/dev/null
  if ! command -v cargo >/dev/null && [ ! -x /root/.cargo/bin/cargo ]; then
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
  fi
  PATH=/root/.cargo/bin:$PATH make -C "$src" package
  deb=$(find_deb)
fi
echo "provision: installing $deb" >&2
apt-get install -y -qq "$deb" >/dev/null
tailcall-logger --version
tailcall-logger probe
