#!/usr/bin/env bash
# Installs what packaging needs, and nothing that is already there (safe to run again):
#   packaging/install-packagers.sh build   cargo-deb, cargo-generate-rpm (cargo install
#                                          --locked, cached in $CARGO_HOME/bin,
#                                          ~/.cargo/bin by default), gzip
#   packaging/install-packagers.sh test    the above plus lintian, rpm, rpmlint, apt-utils
#                                          (apt-ftparchive), man-db, systemd
#                                          (systemd-analyze), systemd-container
#                                          (systemd-nspawn), jq, logrotate
set -euo pipefail
what=${1:-build}

# Pinned: the versions this packaging was checked with. With `cargo install --locked`,
# cargo-deb 3.8.0 installs in about 1 min and cargo-generate-rpm 0.21.1 in about 3 min; both
# are then cached in $CARGO_HOME/bin (~/.cargo/bin by default) and not installed again.
CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

pkgs=(gzip)
if [ "$what" = test ]; then
  pkgs+=(lintian rpm rpmlint apt-utils man-db systemd systemd-container jq logrotate)
fi
"$(dirname "$0")/../scripts/install-deps.sh" packages "${pkgs[@]}"

cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin
export PATH="$cargo_bin:$PATH"
if ! command -v cargo >/dev/null; then
  echo "packaging/install-packagers.sh: cargo is missing; install Rust with rustup first" >&2
  exit 1
fi
# cargo-deb prints "cargo-deb 3.8.0"; cargo-generate-rpm prints "cargo-generate-rpm 0.21.1".
if ! cargo deb --version >/dev/null 2>&1; then
  echo "packaging/install-packagers.sh: installing cargo-deb $CARGO_DEB_VERSION (about 1 min)" >&2
  cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION" >&2
fi
if ! cargo generate-rpm --version >/dev/null 2>&1; then
  echo "packaging/install-packagers.sh: installing cargo-generate-rpm $CARGO_GENERATE_RPM_VERSION (about 3 min)" >&2
  cargo install --locked --quiet cargo-generate-rpm --version "$CARGO_GENERATE_RPM_VERSION" >&2
fi
