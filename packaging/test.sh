#!/usr/bin/env bash
# Package tests (`make package-test`; as root, on Debian 12): builds the .deb and the .rpm,
# lints both, installs the .deb with `apt-get install -y tailcall-logger` from a local
# repository, runs the installed logger, checks the man page, completions and the systemd
# unit (verify, security score, and a real start inside a systemd container), then removes
# and purges it and checks what is left. Prints PASS/FAIL/SKIP per check and ends with
# "N passed, M failed"; exits non-zero if any check failed.
# Environment: ARCH (default: this machine's), PACKAGE_DIR (default target/packages),
# KEEP=1 keeps the scratch directory.
# It installs what it needs (packaging/install-packagers.sh test). It leaves the machine's
# apt configuration alone: apt-get runs with APT_CONFIG pointing at a private configuration
# (its own sources list, lists and cache); dpkg's database is the real one, and the package
# is purged again at the end.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
host_arch=$(uname -m)
arch=${ARCH:-$host_arch}
out=${PACKAGE_DIR:-target/packages}
case "$arch" in
  x86_64) debarch=amd64 ;;
  aarch64) debarch=arm64 ;;
  *) echo "unsupported ARCH $arch" >&2; exit 2 ;;
esac
version=$(awk '/^\[/ { p = ($0 == "[package]"); next }
               p && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' Cargo.toml)
deb=$out/tailcall-logger_${version}-1_${debarch}.deb
rpm=$out/tailcall-logger-${version}-1.${arch}.rpm
bin_dest=/usr/bin/tailcall-logger
unit=/usr/lib/systemd/system/tailcall-logger.service
logdir=/var/log/tailcall-logger

passed=0
failed=0
scratch=$(mktemp -d /tmp/tailcall-logger-pkgtest.XXXXXX)
chmod 755 "$scratch"
we_installed=0
fake_logs=0

cleanup() {
  if [ "$we_installed" = 1 ] && dpkg-query -W -f='${Status}' tailcall-logger 2>/dev/null | grep -q 'installed\|config-files'; then
    APT_CONFIG=$scratch/apt.conf DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq tailcall-logger >/dev/null 2>&1
  fi
  [ "$fake_logs" = 1 ] && rm -rf "$logdir"
  # deb-systemd-helper's state directories, when this test made them and they are empty again
  for d in /var/lib/systemd/deb-systemd-helper-masked /var/lib/systemd/deb-systemd-helper-enabled; do
    grep -qx "$d" "$scratch/before" 2>/dev/null || rmdir "$d" 2>/dev/null
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
# check NAME COMMAND...: runs the command (a function below, usually), output into a log;
# PASS or FAIL with the time taken; on failure the log's tail is shown.
check() {
  local name=$1; shift
  local log=$scratch/log.$((passed + failed)) t0 t1 rc
  t0=$(now)
  "$@" > "$log" 2>&1
  rc=$?
  t1=$(now)
  local dt
  dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  if [ $rc = 0 ]; then
    passed=$((passed + 1))
    echo "PASS $name (${dt}s)"
    # a check may print "NOTE: ..." lines worth seeing even on success
    grep '^NOTE: ' "$log" | sed 's/^/     /'
  else
    failed=$((failed + 1))
    echo "FAIL $name (${dt}s)"
    tail -n 40 "$log" | sed 's/^/     | /'
  fi
  return $rc
}
skip() { echo "SKIP $1: $2"; }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit
}

# ---------------------------------------------------------------------------------------
# Tools and build

if ! packaging/install-packagers.sh test > "$scratch/tools.log" 2>&1; then
  echo "FAIL install test tools (packaging/install-packagers.sh test)"
  tail -n 20 "$scratch/tools.log" | sed 's/^/     | /'
  failed=$((failed + 1))
  finish
fi
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

build_packages() {
  rm -f "$deb" "$rpm"
  make --no-print-directory package ARCH="$arch" PACKAGE_DIR="$out" || return 1
  ls -l "$deb" "$rpm"
}
check "make package builds $(basename "$deb") and $(basename "$rpm")" build_packages || finish

bin_src=target/$arch-unknown-linux-musl/release/tailcall-logger
bin_md5=$(md5sum < "$bin_src" | cut -d' ' -f1)

# ---------------------------------------------------------------------------------------
# Package contents and linters

expected_deb_files="\
-rw-r--r-- /etc/logrotate.d/tailcall-logger
-rwxr-xr-x /usr/bin/tailcall-logger
-rw-r--r-- /usr/lib/systemd/system/tailcall-logger.service
-rw-r--r-- /usr/share/bash-completion/completions/tailcall-logger
-rw-r--r-- /usr/share/doc/tailcall-logger/README.md
-rw-r--r-- /usr/share/doc/tailcall-logger/changelog.Debian.gz
-rw-r--r-- /usr/share/doc/tailcall-logger/copyright
-rw-r--r-- /usr/share/fish/vendor_completions.d/tailcall-logger.fish
-rw-r--r-- /usr/share/lintian/overrides/tailcall-logger
-rw-r--r-- /usr/share/man/man1/tailcall-logger.1.gz
-rw-r--r-- /usr/share/zsh/vendor-completions/_tailcall-logger"

deb_contents() {
  local got ok=0
  got=$(dpkg-deb --fsys-tarfile "$deb" | tar -tvf - | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $1, $6 }' | LC_ALL=C sort -k2)
  echo "$got"
  [ "$got" = "$expected_deb_files" ] || { echo "expected:"; echo "$expected_deb_files"; ok=1; }
  dpkg-deb --fsys-tarfile "$deb" | tar -tvf - | awk '{ print $2 }' | sort -u | grep -qvx 'root/root' &&
    { echo "files not owned by root/root"; ok=1; }
  dpkg-deb -f "$deb" Package Version Architecture
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$debarch" ] || { echo "wrong Architecture"; ok=1; }
  [ -z "$(dpkg-deb -f "$deb" Depends)" ] || { echo "unexpected Depends"; ok=1; }
  dpkg-deb -I "$deb" md5sums >/dev/null || { echo "no md5sums"; ok=1; }
  [ "$(dpkg-deb -I "$deb" conffiles)" = /etc/logrotate.d/tailcall-logger ] || { echo "conffiles wrong"; ok=1; }
  for s in postinst prerm postrm; do
    dpkg-deb -I "$deb" "$s" | grep -q deb-systemd || { echo "$s has no systemd handling"; ok=1; }
  done
  # the packaged binary is the one `make build` made
  local x
  x=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/bin/tailcall-logger | md5sum | cut -d' ' -f1)
  [ "$x" = "$bin_md5" ] || { echo "packaged binary differs from $bin_src"; ok=1; }
  return $ok
}
check ".deb: files, modes, owners, control fields, md5sums, maintainer scripts" deb_contents

run_lintian() {
  # lintian warns about running as root on stderr; the tags go to stdout.
  local o rc
  o=$(lintian --fail-on error,warning --display-info "$deb" 2>"$scratch/lintian.err"); rc=$?
  echo "$o"
  echo "$o" | grep -E '^(I|P|X|C|O): ' | sed 's/^/NOTE: lintian /'
  echo "$o" | grep -qE '^(E|W): ' && return 1
  return $rc
}
check ".deb: lintian, no errors or warnings" run_lintian

run_rpmlint() {
  local o
  o=$(rpmlint -c packaging/rpm/rpmlint.toml "$rpm" 2>&1) || { echo "$o"; return 1; }
  echo "$o"
  echo "$o" | grep -q ' 0 errors, 0 warnings' || return 1
  echo "$o" | grep -E 'errors,' | sed 's/^ */NOTE: rpmlint: /'
}
check ".rpm: rpmlint (packaging/rpm/rpmlint.toml), no errors or warnings" run_rpmlint

expected_rpm_files="\
-rw-r--r-- root root /etc/logrotate.d/tailcall-logger
-rwxr-xr-x root root /usr/bin/tailcall-logger
-rw-r--r-- root root /usr/lib/systemd/system/tailcall-logger.service
-rw-r--r-- root root /usr/share/bash-completion/completions/tailcall-logger
-rw-r--r-- root root /usr/share/doc/tailcall-logger/README.md
-rw-r--r-- root root /usr/share/fish/vendor_completions.d/tailcall-logger.fish
-rw-r--r-- root root /usr/share/licenses/tailcall-logger/LICENSE
-rw-r--r-- root root /usr/share/man/man1/tailcall-logger.1.gz
-rw-r--r-- root root /usr/share/zsh/site-functions/_tailcall-logger"

rpm_query() {
  local ok=0 info got
  info=$(rpm -qip "$rpm") || return 1
  echo "$info"
  for kv in "Name *: tailcall-logger" "Version *: $version" "Release *: 1" \
            "Architecture: $arch" "License *: Apache-2.0"; do
    echo "$info" | grep -qx "$kv" || { echo "rpm -qip: no line '$kv'"; ok=1; }
  done
  rpm -qlp "$rpm"
  got=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm" | LC_ALL=C sort -k4)
  echo "$got"
  [ "$got" = "$expected_rpm_files" ] || { echo "expected:"; echo "$expected_rpm_files"; ok=1; }
  [ "$(rpm -qlp "$rpm" | LC_ALL=C sort)" = "$(echo "$expected_rpm_files" | awk '{ print $4 }')" ] ||
    { echo "rpm -qlp differs"; ok=1; }
  rpm -qp --configfiles "$rpm" | grep -qx /etc/logrotate.d/tailcall-logger || { echo "logrotate not %config"; ok=1; }
  rpm -qp --scripts "$rpm" | grep -q 'systemctl --no-reload disable --now' || { echo "no preun"; ok=1; }
  return $ok
}
check ".rpm: rpm -qip / -qlp show name, version, arch, license, files and modes" rpm_query

rpm_scratch_root() {
  local root=$scratch/rpmroot got
  mkdir -p "$root"
  rpm --root "$root" --initdb || return 1
  # --noscripts: the scratch root has no /bin/sh for the (erase-time) scriptlets anyway
  rpm -i --root "$root" --nodeps --noscripts "$rpm" || return 1
  rpm --root "$root" -V --nodeps tailcall-logger || return 1
  got=$("$root/usr/bin/tailcall-logger" --version) || return 1
  echo "$got"
  [ "$got" = "tailcall-logger $version" ]
}
if [ "$arch" = "$host_arch" ]; then
  check ".rpm: rpm -i --root SCRATCH --nodeps, rpm -V, the binary there runs --version" rpm_scratch_root
else
  skip ".rpm scratch-root install" "ARCH=$arch is not this machine's ($host_arch)"
fi

if [ "$arch" != "$host_arch" ]; then
  skip "install and run" "ARCH=$arch packages cannot be installed on $host_arch"
  finish
fi

# ---------------------------------------------------------------------------------------
# apt-get install from a local repository

# Paths that are allowed to differ between "before install" and "after purge" without being
# the package's files: apt/dpkg state, caches, the test's own scratch directory.
snapshot() {
  find /etc /usr /var /opt -xdev \
    \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache -o -path /var/log \
       -o -path /var/tmp -o -path /var/lib/logrotate -o -path /var/lib/systemd/timers \
       -o -path /var/lib/systemd/catalog -o -name __pycache__ \) -prune -o -print 2>/dev/null |
    LC_ALL=C sort
}

if dpkg-query -W -f='${Status}' tailcall-logger 2>/dev/null | grep -q 'installed\|config-files'; then
  echo "note: tailcall-logger is already installed here; purging it first" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 purge -y -qq tailcall-logger >/dev/null 2>&1
fi
[ -e "$logdir" ] || [ -e /var/log/private/tailcall-logger ] && had_logs=1 || had_logs=0
snapshot > "$scratch/before"

export APT_CONFIG=$scratch/apt.conf
export DEBIAN_FRONTEND=noninteractive
local_repo() {
  packaging/apt-repo.sh "$scratch/repo" "$deb" || return 1
  mkdir -p "$scratch/apt/lists/partial" "$scratch/apt/cache/archives/partial" "$scratch/apt/sources.list.d"
  echo "deb [trusted=yes] file:$scratch/repo ./" > "$scratch/apt/sources.list"
  cat > "$scratch/apt.conf" <<EOF
Dir::Etc::sourcelist "$scratch/apt/sources.list";
Dir::Etc::sourceparts "$scratch/apt/sources.list.d";
Dir::State::lists "$scratch/apt/lists";
Dir::Cache "$scratch/apt/cache";
DPkg::Lock::Timeout "600";
EOF
  cat "$scratch/apt.conf" "$scratch/apt/sources.list"
  apt-get update 2>&1 | tee "$scratch/update.log"
  ! grep -q '^[WE]:' "$scratch/update.log"
}
check "local apt repository (apt-ftparchive packages + release, [trusted=yes], private APT_CONFIG)" local_repo || finish

apt_install() {
  we_installed=1
  apt-get install -y tailcall-logger || return 1
  dpkg-query -W -f='${Status} ${Version}\n' tailcall-logger
  [ "$(dpkg-query -W -f='${Status} ${Version}' tailcall-logger)" = "install ok installed $version-1" ] || return 1
  # md5sums shipped: dpkg can verify every file
  dpkg --verify tailcall-logger || return 1
  [ "$(stat -c '%a %U' $bin_dest)" = "755 root" ] || return 1
  # no setuid/setgid, no file capabilities
  [ -z "$(find $bin_dest -perm /6000)" ] || return 1
  if command -v getcap >/dev/null; then [ -z "$(getcap $bin_dest)" ] || return 1; fi
  apt-cache policy tailcall-logger
}
check "apt-get install -y tailcall-logger (from the local repository), dpkg --verify" apt_install || finish

not_enabled() {
  local s
  s=$(systemctl is-enabled tailcall-logger.service 2>&1)
  echo "is-enabled: $s"
  [ "$s" = disabled ] || return 1
  ! ls /etc/systemd/system/*.wants/tailcall-logger.service 2>/dev/null
}
check "the unit is installed but not enabled" not_enabled

e2e() {
  local f=$scratch/e2e/events.jsonl pid rc
  mkdir -p "$scratch/e2e"
  # --skip-others: execve and timer records only, so a busy machine's other syscalls do not
  # make this slow
  $bin_dest --json --skip-others --duration 2 --output "$f" 2> "$scratch/e2e/stderr" &
  pid=$!
  for _ in $(seq 100); do
    [ -s "$f" ] && grep -q '"type":"start"' "$f" && break
    sleep 0.05
  done
  for _ in 1 2 3 4 5; do /bin/true; sleep 0.1; done
  wait $pid; rc=$?
  echo "exit $rc"; cat "$scratch/e2e/stderr"
  [ $rc = 0 ] || return 1
  stat -c '%a %n' "$f"
  [ "$(stat -c %a "$f")" = 600 ] || return 1
  jq -c 'select(.type == "start")' "$f"
  jq -c 'select(.type == "syscall" and .syscall == "execve" and .filename == "/bin/true")' "$f" \
    > "$scratch/e2e/true" || return 1
  head -n 2 "$scratch/e2e/true"
  [ -s "$scratch/e2e/true" ] || { echo "no execve record with filename /bin/true"; return 1; }
  jq -c 'select(.type == "summary")' "$f" | grep -q . || { echo "no summary record"; return 1; }
  echo "NOTE: $(jq -r 'select(.type == "start") | "startup \(.startup_ms) ms, plan \(.plan | tostring)"' "$f")"
}
check "installed $bin_dest --json --skip-others --duration 2 --output F logs execve of /bin/true (jq)" e2e

man_page() {
  local page
  if [ ! -e /usr/share/man/man1/tailcall-logger.1.gz ]; then
    echo "the man page was not installed"
    grep -rs 'path-exclude.*man' /etc/dpkg/dpkg.cfg.d/ && echo "(dpkg excludes man pages here)"
    return 1
  fi
  man -w tailcall-logger || return 1
  [ "$(man -w tailcall-logger)" = /usr/share/man/man1/tailcall-logger.1.gz ] || return 1
  page=$(MANWIDTH=80 man -P cat tailcall-logger 2>&1) || return 1
  echo "$page" | head -n 20
  echo "$page" | grep -q '^NAME' && echo "$page" | grep -q -- '--json' &&
    echo "$page" | grep -q -- '--output'
}
check "man tailcall-logger renders (man -P cat)" man_page

completions() {
  bash -c 'source /usr/share/bash-completion/completions/tailcall-logger && complete -p tailcall-logger' || return 1
  grep -q '^#compdef tailcall-logger' /usr/share/zsh/vendor-completions/_tailcall-logger || return 1
  grep -q '^complete -c tailcall-logger' /usr/share/fish/vendor_completions.d/tailcall-logger.fish
}
check "bash completion loads; zsh and fish completions in their vendor directories" completions

unit_verify() {
  local o
  o=$(systemd-analyze verify "$unit" 2>&1); local rc=$?
  echo "$o"
  [ $rc = 0 ] && [ -z "$o" ]
}
check "systemd-analyze verify $unit" unit_verify

unit_security() {
  local o score
  o=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1) || { echo "$o"; return 1; }
  echo "$o"
  score=$(echo "$o" | sed -n 's/.*Overall exposure level for tailcall-logger.service: \([0-9.]*\).*/\1/p')
  echo "NOTE: overall exposure level $score (must be <= 2.0)"
  [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
}
check "systemd-analyze security --offline=true: exposure <= 2.0" unit_security

logrotate_syntax() {
  logrotate -d /etc/logrotate.d/tailcall-logger
}
check "logrotate -d /etc/logrotate.d/tailcall-logger parses" logrotate_syntax

# ---------------------------------------------------------------------------------------
# The unit for real: boot systemd in a container (systemd-nspawn, the host's /usr read-only,
# everything else on tmpfs), start tailcall-logger.service under its full sandbox, trace
# /bin/true, rotate with the logrotate snippet, stop. Works whether or not systemd is PID 1
# here (CI machines and containers often have no systemd running).

live_dir=$scratch/live
mkdir -p "$live_dir/in" "$live_dir/out" "$live_dir/dropin"
cat > "$live_dir/in/tl-probe.service" <<'EOF'
[Unit]
Description=tailcall-logger package test probe
[Service]
Type=oneshot
ExecStart=/bin/sh /run/in/probe.sh
ExecStopPost=systemctl poweroff
EOF
# The shipped ExecStart logs every syscall of every process; on a busy machine that is
# hundreds of MB a second into the container's tmpfs. --skip-others (execve and timers
# only) keeps the test small; the sandbox is the shipped unit's, unchanged.
cat > "$live_dir/dropin/test.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/usr/bin/tailcall-logger --json --skip-others --output /var/log/tailcall-logger/events.jsonl
EOF
cat > "$live_dir/in/probe.sh" <<'EOF'
r=/run/out/result
exec 2> /run/out/probe.log
set -x
echo "booted=1" > $r
f=/var/log/tailcall-logger/events.jsonl
systemctl start tailcall-logger.service && echo "started=1" >> $r
for i in $(seq 100); do grep -q '"type":"start"' $f 2>/dev/null && break; sleep 0.1; done
for i in 1 2 3; do /bin/true; sleep 0.1; done
sleep 0.5
echo "active=$(systemctl is-active tailcall-logger.service)" >> $r
echo "execs=$(grep -c '"filename":"/bin/true"' $f)" >> $r
pid=$(systemctl show -p MainPID --value tailcall-logger.service)
# (no awk: it is an alternatives link in /etc, which is empty in the container)
st() { sed -n "s/^$1:[[:space:]]*\([^[:space:]]*\).*/\1/p" /proc/$pid/status; }
echo "uid=$(st Uid)" >> $r
echo "capeff=$(st CapEff)" >> $r
echo "capbnd=$(st CapBnd)" >> $r
echo "nonewprivs=$(st NoNewPrivs)" >> $r
echo "seccomp=$(st Seccomp)" >> $r
echo "filemode=$(stat -c %a $f)" >> $r
echo "dirmode=$(stat -L -c %a /var/log/tailcall-logger)" >> $r
echo "dirlink=$(readlink /var/log/tailcall-logger)" >> $r
logrotate -s /run/logrotate.status -f /etc/logrotate.d/tailcall-logger && echo "rotated=1" >> $r
sleep 0.5; /bin/true; sleep 0.5
echo "rotated_files=$(ls /var/log/tailcall-logger | tr '\n' ' ')" >> $r
echo "execs_after_rotate=$(grep -c '"filename":"/bin/true"' $f)" >> $r
echo "samepid=$([ "$(systemctl show -p MainPID --value tailcall-logger.service)" = "$pid" ] && echo 1)" >> $r
systemctl stop tailcall-logger.service
echo "summary=$(grep -c '"type":"summary"' $f)" >> $r
echo "result=$(systemctl show -p Result --value tailcall-logger.service)" >> $r
journalctl --no-pager -u tailcall-logger.service > /run/out/journal 2>&1
echo "done=1" >> $r
EOF

live_service() {
  local extra=() r=$live_dir/out/result
  # Without systemd as PID 1 here there is no bus to register a scope with.
  [ -d /run/systemd/system ] || extra=(--keep-unit)
  timeout 180 systemd-nspawn -D / --volatile=yes --register=no "${extra[@]}" -q --console=pipe \
    --capability=CAP_BPF,CAP_PERFMON --system-call-filter='bpf perf_event_open' \
    --bind="$live_dir/out:/run/out" --bind-ro="$live_dir/in:/run/in" \
    --bind-ro="$live_dir/in/tl-probe.service:/etc/systemd/system/tl-probe.service" \
    --bind-ro="$live_dir/dropin:/etc/systemd/system/tailcall-logger.service.d" \
    --bind-ro=/etc/logrotate.d/tailcall-logger:/etc/logrotate.d/tailcall-logger \
    -b systemd.unit=tl-probe.service systemd.firstboot=off \
    < /dev/null > "$live_dir/boot.log" 2>&1
  echo "nspawn exit $?"
  if ! grep -q '^booted=1' "$r" 2>/dev/null; then
    tail -n 20 "$live_dir/boot.log"
    return 77
  fi
  cat "$r"; cat "$live_dir/out/journal"
  local ok=0 want
  for want in started=1 active=active capeff=000000c000000000 capbnd=000000c000000000 \
              nonewprivs=1 seccomp=2 filemode=600 dirmode=700 \
              dirlink=private/tailcall-logger rotated=1 samepid=1 summary=1 result=success done=1; do
    grep -qx "$want" "$r" || { echo "expected $want"; ok=1; }
  done
  grep -q '^uid=0$' "$r" && { echo "runs as root"; ok=1; }
  grep -qE '^execs=[1-9]' "$r" || { echo "no execve of /bin/true logged"; ok=1; }
  grep -qE '^execs_after_rotate=[1-9]' "$r" || { echo "nothing logged after rotation"; ok=1; }
  grep -q '^rotated_files=.*events.jsonl.1' "$r" || { echo "no events.jsonl.1 after logrotate"; ok=1; }
  echo "NOTE: $(grep -E '^(uid|capeff|execs|rotated_files)=' "$r" | tr '\n' ' ')"
  return $ok
}
if command -v systemd-nspawn >/dev/null; then
  t0=$(now)
  live_service > "$scratch/live.log" 2>&1; rc=$?
  dt=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
  name="tailcall-logger.service runs in its sandbox (DynamicUser, CAP_BPF+CAP_PERFMON only, seccomp): logs execve, 0600 file in 0700 dir, logrotate + reload reopen, clean stop"
  if [ $rc = 77 ]; then
    skip "$name" "could not boot systemd in a container here (see $scratch/live/boot.log)"
  elif [ $rc = 0 ]; then
    passed=$((passed + 1)); echo "PASS $name (${dt}s)"
    grep '^NOTE: ' "$scratch/live.log" | sed 's/^/     /'
  else
    failed=$((failed + 1)); echo "FAIL $name (${dt}s)"
    tail -n 60 "$scratch/live.log" | sed 's/^/     | /'
  fi
else
  skip "live service" "systemd-nspawn missing"
fi

# ---------------------------------------------------------------------------------------
# Remove and purge: only the documented leftovers may remain.

# What the service would have written; must survive remove and purge.
if [ "$had_logs" = 0 ]; then
  fake_logs=1
  install -d -m 0700 "$logdir"
  echo '{"v":1,"type":"summary"}' > "$logdir/events.jsonl"
  chmod 0600 "$logdir/events.jsonl"
fi

leftovers() { # new paths since the first snapshot, minus the log directory
  snapshot > "$scratch/now"
  LC_ALL=C comm -13 "$scratch/before" "$scratch/now" | grep -v "^$logdir\(/\|$\)"
}

remove_pkg() {
  dpkg -L tailcall-logger > "$scratch/files"
  # as an admin would: enable the unit, so that remove/purge must clean up after it too
  systemctl enable tailcall-logger.service || return 1
  apt-get remove -y tailcall-logger || return 1
  local left bad
  left=$(leftovers)
  echo "left after remove:"; echo "$left"
  # dpkg keeps conffiles until purge; deb-systemd-helper keeps the enablement (and masks
  # the unit) until purge; its state directories are shared by all packages.
  bad=$(echo "$left" | grep -v -x -e '' -e /etc/logrotate.d/tailcall-logger \
        -e /etc/systemd/system/tailcall-logger.service \
        -e '/etc/systemd/system/multi-user.target.wants\(/tailcall-logger.service\)\?' \
        -e '/var/lib/systemd/deb-systemd-helper-[a-z]*\(/tailcall-logger.service\(.dsh-also\)\?\)\?')
  [ -z "$bad" ] || { echo "unexpected:"; echo "$bad"; return 1; }
  [ -f "$logdir/events.jsonl" ] || { echo "log removed"; return 1; }
  [ ! -e $bin_dest ]
}
check "apt-get remove: only the conffile, systemd enablement state and the log directory remain" remove_pkg

purge_pkg() {
  apt-get purge -y tailcall-logger || return 1
  local left bad f
  left=$(leftovers)
  echo "left after purge:"; echo "$left"
  # deb-systemd-helper's (empty) state directories, if it had to create them
  bad=$(echo "$left" | grep -v -x -e '' -e '/var/lib/systemd/deb-systemd-helper-[a-z]*' \
        -e /etc/systemd/system/multi-user.target.wants)
  [ -z "$bad" ] || { echo "unexpected:"; echo "$bad"; return 1; }
  while read -r f; do
    [ -d "$f" ] && continue
    [ -e "$f" ] || [ -L "$f" ] && { echo "still there: $f"; return 1; }
  done < "$scratch/files"
  dpkg-query -W tailcall-logger 2>/dev/null && { echo "dpkg still knows it"; return 1; }
  [ -f "$logdir/events.jsonl" ] || { echo "log removed"; return 1; }
  echo "NOTE: kept by design: $logdir/ (and /var/log/private/tailcall-logger when the service ran)"
}
check "apt-get purge: nothing left but the log directory's contents" purge_pkg

finish
