# Shared by the deploy/ tests (sourced, not run): PASS/FAIL per check, the skip policy, the
# private podman configuration, package installs.
# A test that cannot run says SKIPPED and why; with TAILCALL_LOGGER_REQUIRE_BPF=1 (CI) that
# is a failure instead.

passed=0
failed=0

pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
note() { echo "NOTE: $*"; }

# finish: the tally; the exit status says whether every check passed.
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}

# cannot_run WHY: the test cannot run here. Exit 0 with a SKIPPED line, or 1 in CI.
cannot_run() {
  if [ "${TAILCALL_LOGGER_REQUIRE_BPF:-0}" = 1 ]; then
    echo "FAIL: $* (TAILCALL_LOGGER_REQUIRE_BPF=1: a skip is a failure)" >&2
    exit 1
  fi
  echo "SKIPPED: $*"
  exit 0
}

require_root() {
  [ "$(id -u)" = 0 ] || cannot_run "needs root (podman, network namespaces, BPF)"
}

# need_packages PKG...: apt-get install the Debian packages not installed yet (CI starts
# from a fresh Debian 12 machine).
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return 0
  echo "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || cannot_run "apt-get install ${missing[*]} failed"
}

# podman_conf DIR: a private containers.conf in DIR, exported as CONTAINERS_CONF.
# runc: crun refuses hybrid cgroup hierarchies (cgroup v1 controllers next to a v2 mount),
# which some CI hosts have. The ulimits: podman's defaults copy the caller's limits, which
# fails where the caller lacks CAP_SYS_RESOURCE (nested sandboxes); fixed values do not.
podman_conf() {
  cat > "$1/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=1000:1000"]

[engine]
runtime = "runc"
CONF
  export CONTAINERS_CONF=$1/containers.conf
}

# The version in Cargo.toml.
cargo_version() {
  awk '/^\[/ { p = ($0 == "[package]"); next }
       p && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' "$top/Cargo.toml"
}

# wait_for SECONDS COMMAND...: polls every 0.2 s until the command succeeds.
wait_for() {
  local n=$(($1 * 5)); shift
  while ! "$@" >/dev/null 2>&1; do
    n=$((n - 1))
    [ "$n" -gt 0 ] || return 1
    sleep 0.2
  done
}
