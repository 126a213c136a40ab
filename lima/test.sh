#!/usr/bin/env bash
# make lima-test: checks lima/hello-ebpf.yaml without limactl (it cannot be installed here).
#  - the template parses, and validates against lima/lima-template.schema.json; typos
#    (memroy, mode: sytem, writeable, ...) must fail that validation;
#  - what Lima itself checks beyond a schema: param keys used, no Go template braces in the
#    scripts, an image with a digest for each arch whose URL names that arch, the message;
#  - its provisioning script is lima/provision.sh byte for byte (lima/embed.py --check);
#  - the template's own scripts run for real, as root, in a Debian 12 chroot (debootstrap
#    --variant=minbase, cached as a tarball in $LIMA_TEST_CACHE) that looks like the guest:
#    the checkout bind-mounted read-only where Lima mounts the home directory, Lima's
#    LIMA_CIDATA_* and PARAM_* variables set, /proc, /sys and /dev from the host (so the
#    logger's BPF probe runs against this kernel). Checked: the package from target/packages
#    installs and `tailcall-logger probe` passes; the readiness probe passes; a second boot
#    changes nothing; with no package the script builds one in a copy of the checkout
#    (`make package ARCH=...`, a stand-in make; LIMA_TEST_GUEST_BUILD=1 adds the real build
#    with this machine's Rust toolchain, about 1.5 min more); with no checkout it fails with
#    the hint.
# Prints PASS/FAIL per check and "N passed, M failed"; exits non-zero on any failure.
# Without root the chroot checks print SKIPPED (a failure with TAILCALL_LOGGER_REQUIRE_BPF=1).
# Time: about 1 min the first time (debootstrap; longer with a slow mirror), 5 to 15 s after.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
top=$PWD
cache=${LIMA_TEST_CACHE:-/var/cache/tailcall-logger/lima-chroot}
py=/usr/bin/python3 # Debian's, with python3-yaml and python3-jsonschema from apt
template=lima/hello-ebpf.yaml
pass=0 fail=0
tmp=$(mktemp -d /tmp/lima-test.XXXXXX)
chroot_dir=

check() { # check NAME COMMAND...: runs COMMAND, output to $tmp/NAME.log
  local name=$1; shift
  if "$@" >"$tmp/$name.log" 2>&1; then
    echo "PASS $name"; pass=$((pass + 1))
  else
    echo "FAIL $name (log: $tmp/$name.log)"; tail -n 20 "$tmp/$name.log" | sed 's/^/    /'
    fail=$((fail + 1))
  fi
}
skip() { # skip NAME REASON
  if [ "${TAILCALL_LOGGER_REQUIRE_BPF:-0}" = 1 ]; then
    echo "FAIL $1 ($2; TAILCALL_LOGGER_REQUIRE_BPF=1)"; fail=$((fail + 1))
  else
    echo "SKIPPED $1 ($2)"
  fi
}

cleanup() {
  # Every mount of the chroot lives in a private mount namespace that is gone once its
  # process has exited; refuse to delete anything that still has a mount under it.
  local d
  for d in "$chroot_dir" "${build_root:-}"; do
    [ -n "$d" ] && [ -d "$d" ] || continue
    if grep -q " $d/" /proc/self/mountinfo; then
      echo "lima-test: $d still has mounts; not deleting it" >&2
    else
      rm -rf --one-file-system "$d"
    fi
  done
  # Logs stay when something failed (the FAIL lines name them), or with LIMA_TEST_KEEP=1.
  if [ "$fail" = 0 ] && [ "${LIMA_TEST_KEEP:-0}" != 1 ]; then rm -rf "$tmp"; else echo "lima-test: logs in $tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Roots left by a run that was killed (no mounts survive it: they were in its namespaces).
find /var/tmp -maxdepth 1 -name 'lima-chroot.*' -mmin +180 2>/dev/null | while read -r d; do
  grep -q " $d/" /proc/self/mountinfo || rm -rf --one-file-system "$d"
done

deps=(python3-yaml python3-jsonschema)
[ "$(id -u)" = 0 ] && deps+=(debootstrap util-linux)
scripts/install-deps.sh packages "${deps[@]}" >/dev/null || echo "lima-test: could not install ${deps[*]}" >&2

# --- the template as data --------------------------------------------------------------

check yaml-parses $py -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$template"

validate() { # validate FILE: exit 0 iff FILE is YAML that validates against the schema
  $py - "$1" <<'PY'
import json, sys, yaml, jsonschema
schema = json.load(open("lima/lima-template.schema.json"))
jsonschema.Draft202012Validator.check_schema(schema)
doc = yaml.safe_load(open(sys.argv[1]))
errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
for e in errors:
    print(f"/{'/'.join(map(str, e.path))}: {e.message}")
print(f"{sys.argv[1]}: {'invalid' if errors else 'valid'}")
sys.exit(1 if errors else 0)
PY
}
check template-validates validate "$template"

typo() { # typo SED: the template with SED applied still parses, but must NOT validate
  local f; f="$tmp/typo.$RANDOM.yaml"
  sed "$1" "$template" >"$f"
  if cmp -s "$f" "$template"; then echo "the sed expression changed nothing: $1"; return 1; fi
  $py -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$f" || return 1
  if validate "$f"; then echo "a template with '$1' applied validates: the schema misses it"; return 1; fi
}
check typo-memroy-rejected typo 's/^memory:/memroy:/'
check typo-mode-sytem-rejected typo 's/^  - mode: system$/  - mode: sytem/'
check typo-writeable-rejected typo 's/^    writable: false$/    writeable: false/'
check typo-vmtype-case-rejected typo 's/^vmType:/vmtype:/'
check typo-arch-rejected typo '0,/arch: x86_64/s//arch: x86-64/'
check typo-digest-rejected typo '0,/digest: "sha512:/s//digest: "sha521:/'
check typo-cpus-string-rejected typo 's/^cpus: 2$/cpus: "2"/'
check typo-probe-mode-rejected typo 's/^  - mode: readiness$/  - mode: readyness/'

lima_rules() {
  $py - "$template" <<'PY'
import re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
bad = []
scripts = [p["script"] for p in doc["provision"]] + [p["script"] for p in doc["probes"]]
# Lima (pkg/limayaml/validate.go) rejects a param key that nothing uses.
for key in doc.get("param", {}):
    used = re.compile(r"{{[^}]*\.Param\." + key + r"[^}]*}}|\bPARAM_" + key + r"\b")
    places = scripts + [m["location"] for m in doc["mounts"]] + [m.get("mountPoint", "") for m in doc["mounts"]]
    if not any(used.search(p) for p in places):
        bad.append(f"param {key} is used nowhere (Lima refuses the template)")
# Lima runs provisioning and probe scripts through Go's text/template: they must have none.
for s in scripts:
    if "{{" in s:
        bad.append(f"a script contains '{{{{' (Lima would expand it): {s.splitlines()[0]}")
# Each arch: a dated image with a digest whose URL is that arch's, and an undated fallback.
debarch = {"x86_64": "amd64", "aarch64": "arm64"}
for arch, deb in debarch.items():
    imgs = [i for i in doc["images"] if i["arch"] == arch]
    if not any("digest" in i for i in imgs):
        bad.append(f"no {arch} image with a digest")
    if not any("digest" not in i and "/latest/" in i["location"] for i in imgs):
        bad.append(f"no undated {arch} fallback image")
    for i in imgs:
        if f"-{deb}" not in i["location"]:
            bad.append(f"{arch} image {i['location']} is not an {deb} image")
# The message, as Lima renders it for the instance started from lima/hello-ebpf.yaml.
msg = doc["message"].replace("{{.Name}}", "hello-ebpf")
if "limactl shell hello-ebpf sudo tailcall-logger --skip-others" not in msg:
    bad.append("the message does not give the next command")
if set(re.findall(r"{{[^}]*}}", msg)) - {"{{.Name}}"}:
    bad.append("the message uses a template variable other than {{.Name}}")
for b in bad:
    print(b)
print(f"{len(bad)} problem(s)")
sys.exit(1 if bad else 0)
PY
}
check lima-rules lima_rules

check provision-script-embedded $py lima/embed.py --check

shell_syntax() {
  $py -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["probes"][0]["script"], end="")' \
    "$template" >"$tmp/probe.sh" || return 1
  sh -n lima/provision.sh && sh -n "$tmp/probe.sh" || return 1
  if command -v shellcheck >/dev/null; then shellcheck -s sh lima/provision.sh "$tmp/probe.sh"; fi
}
check scripts-parse shell_syntax

# --- the scripts, run in a Debian 12 chroot ----------------------------------------------

chroot_checks=(provision-installs-package readiness-probe-passes provision-second-boot
               provision-builds-without-package provision-fails-without-checkout)
if [ "$(id -u)" != 0 ]; then
  for c in "${chroot_checks[@]}"; do skip "$c" "needs root: debootstrap, chroot, BPF"; done
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ]; exit
fi

t0=$(date +%s)
packages_ready() { # the checkout's amd64 package; `make package` when there is none
  if ! ls target/packages/tailcall-logger_*_amd64.deb >/dev/null 2>&1; then
    if ! make -n package >/dev/null 2>&1; then
      echo "no target/packages/tailcall-logger_*_amd64.deb and no 'make package' target to build one"
      return 1
    fi
    echo "no package in target/packages: make package"
    make package || return 1
  fi
  ls -l target/packages/tailcall-logger_*_amd64.deb
}

# The chroot: debootstrap once, cached as a tarball named after what it holds. The build
# branch's apt packages are preinstalled, so reruns do not download them again.
suite=bookworm
include=ca-certificates,curl,git,make,gcc,libc6-dev
tarball=$cache/$suite-minbase-$(echo "$include" | md5sum | cut -c1-8).tar
make_tarball() {
  mkdir -p "$cache"
  (
    flock 9
    [ -s "$tarball" ] && exit 0
    d=$(mktemp -d /var/tmp/lima-debootstrap.XXXXXX)
    for try in 1 2; do
      debootstrap --variant=minbase --include="$include" "$suite" "$d" http://deb.debian.org/debian &&
        break
      [ "$try" = 2 ] && { rm -rf --one-file-system "$d"; exit 1; }
      rm -rf --one-file-system "$d"; mkdir -p "$d"
    done
    chroot "$d" apt-get clean
    tar -C "$d" -cf "$tarball.new" . && mv "$tarball.new" "$tarball"
    rc=$?
    rm -rf --one-file-system "$d"
    find "$cache" -maxdepth 1 -name "$suite-minbase-*.tar" ! -path "$tarball" -delete
    exit $rc
  ) 9>"$cache/.lock"
}
new_chroot() { # new_chroot VAR: a fresh root from the tarball, with the template's scripts in it
  local d; d=$(mktemp -d /var/tmp/lima-chroot.XXXXXX) || return 1
  printf -v "$1" '%s' "$d" # set first, so that cleanup removes it even when this fails
  tar -C "$d" -xf "$tarball" || return 1
  cp /etc/resolv.conf "$d/etc/resolv.conf"
  mkdir -p "$d/var/lib/lima-test"
  # Exactly the bytes Lima would run: the scripts as the template carries them.
  $py - "$top/$template" "$d/var/lib/lima-test" <<'PY' || return 1
import os, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for name, script in (("provision.system", doc["provision"][0]["script"]),
                     ("probe.readiness", doc["probes"][0]["script"])):
    path = os.path.join(sys.argv[2], name)
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o755)
PY
  # The readiness probe runs as the Lima user with passwordless sudo; here we are root.
  printf '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n' >"$d/usr/local/bin/sudo"
  chmod 755 "$d/usr/local/bin/sudo"
}

# guest ROOT CHECKOUT [hide-packages] -- CMD...: runs CMD in ROOT as Lima runs a provisioning
# script, with CHECKOUT mounted read-only at /Users/lima-test/src/tailcall-logger in a
# reverse-sshfs-like home mount. All mounts are in a private namespace: they go when CMD ends.
guest() {
  local root=$1 checkout=$2 hide=no
  shift 2
  [ "$1" = hide-packages ] && { hide=yes; shift; }
  [ "$1" = -- ] && shift
  unshare --mount --propagation private -- /bin/sh -ec '
    root=$1 checkout=$2 hide=$3; shift 3
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    home=$root/Users/lima-test
    mkdir -p "$home"
    mount -t tmpfs -o mode=755 lima-home "$home"
    mkdir -p "$home/src/tailcall-logger"
    mount --bind "$checkout" "$home/src/tailcall-logger"
    mount -o remount,bind,ro "$home/src/tailcall-logger"
    if [ "$hide" = yes ] && [ -d "$home/src/tailcall-logger/target/packages" ]; then
      mount -t tmpfs -o ro,mode=755 no-packages "$home/src/tailcall-logger/target/packages"
    fi
    exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      LIMA_CIDATA_NAME=hello-ebpf LIMA_CIDATA_USER=lima-test LIMA_CIDATA_MOUNTTYPE=reverse-sshfs \
      LIMA_CIDATA_MOUNTS=1 LIMA_CIDATA_MOUNTS_0_MOUNTPOINT=/Users/lima-test \
      LIMA_CIDATA_HOSTHOME_MOUNTPOINT=/Users/lima-test "PARAM_CHECKOUT=~" "$@"
  ' guest "$root" "$checkout" "$hide" "$@"
}
in_root() { chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
status_is() { # status_is WORD: /run/tailcall-logger-provision starts with WORD
  local s; s=$(cat "$chroot_dir/run/tailcall-logger-provision" 2>/dev/null)
  echo "provision status: ${s:-<none>}"
  case "$s" in "$1"*) return 0 ;; *) return 1 ;; esac
}

provision_installs_package() {
  packages_ready || return 1
  make_tarball || { echo "debootstrap failed"; return 1; }
  new_chroot chroot_dir || return 1
  echo "== provision (first boot)"
  guest "$chroot_dir" "$top" -- /var/lib/lima-test/provision.system || return 1
  status_is ok || return 1
  test -x "$chroot_dir/usr/bin/tailcall-logger" || { echo "no /usr/bin/tailcall-logger"; return 1; }
  in_root tailcall-logger --version || return 1
  # The readiness result: probe's own exit code, as root with /proc and /sys of this host.
  local rc=0
  guest "$chroot_dir" "$top" -- tailcall-logger probe || rc=$?
  echo "tailcall-logger probe exit code: $rc"
  [ "$rc" = 0 ]
}
check provision-installs-package provision_installs_package

ready() { # the steps after the first need its chroot
  [ -n "$chroot_dir" ] && [ -x "$chroot_dir/usr/bin/tailcall-logger" ] ||
    { echo "provision-installs-package failed: nothing to check"; return 1; }
}

readiness_probe() {
  ready || return 1
  guest "$chroot_dir" "$top" -- /var/lib/lima-test/probe.readiness
}
check readiness-probe-passes readiness_probe

# A second boot, this time as with --set '.param.CHECKOUT="..."': only the checkout is
# mounted, and the script takes it from PARAM_CHECKOUT without searching.
second_boot() {
  ready || return 1
  rm -f "$chroot_dir/run/tailcall-logger-provision"
  local co=/Users/lima-test/src/tailcall-logger
  guest "$chroot_dir" "$top" -- env PARAM_CHECKOUT=$co LIMA_CIDATA_MOUNTS_0_MOUNTPOINT=$co \
    /var/lib/lima-test/provision.system 2>&1 | tee "$tmp/boot2.out" || return 1
  status_is ok || return 1
  grep -q "^provision: checkout: $co\$" "$tmp/boot2.out" || { echo "not the checkout given"; return 1; }
  ! grep -q 'found a checkout' "$tmp/boot2.out" || { echo "it searched despite PARAM_CHECKOUT"; return 1; }
  grep -q 'is installed already' "$tmp/boot2.out" || { echo "it reinstalled the same package"; return 1; }
}
check provision-second-boot second_boot

# No package in the checkout: provisioning must build one, in a copy inside the guest, for
# the guest's arch. A stand-in make "builds" by copying the checkout's real package.
builds_without_package() {
  ready || return 1
  in_root dpkg --purge tailcall-logger || return 1
  local fake=$tmp/checkout-without-packages
  mkdir -p "$fake/lima" "$chroot_dir/var/lib/lima-test/packages"
  cp Cargo.toml Makefile "$fake/" && cp lima/hello-ebpf.yaml lima/provision.sh "$fake/lima/"
  cp target/packages/tailcall-logger_*_amd64.deb "$chroot_dir/var/lib/lima-test/packages/"
  cat >"$chroot_dir/usr/local/bin/make" <<'SH'
#!/bin/sh
# lima/test.sh's stand-in for `make -C DIR package ARCH=...`
echo "make $*" >>/var/lib/lima-test/make.args
if [ $# != 4 ] || [ "$1" != -C ] || [ "$3" != package ] || [ "$4" != "ARCH=$(uname -m)" ]; then
  echo "stand-in make: expected -C DIR package ARCH=$(uname -m), got: $*" >&2; exit 2
fi
[ -f "$2/Cargo.toml" ] && [ ! -e "$2/target/packages" ] || { echo "stand-in make: $2 is no fresh copy" >&2; exit 2; }
case "$2" in /Users/*) echo "stand-in make: building in the mount" >&2; exit 2 ;; esac
mkdir -p "$2/target/packages" && cp /var/lib/lima-test/packages/*.deb "$2/target/packages/"
SH
  printf '#!/bin/sh\nexit 0\n' >"$chroot_dir/usr/local/bin/cargo"
  chmod 755 "$chroot_dir/usr/local/bin/make" "$chroot_dir/usr/local/bin/cargo"
  guest "$chroot_dir" "$fake" -- /var/lib/lima-test/provision.system || return 1
  rm -f "$chroot_dir/usr/local/bin/make" "$chroot_dir/usr/local/bin/cargo"
  cat "$chroot_dir/var/lib/lima-test/make.args"
  status_is ok || return 1
  ls "$chroot_dir"/var/lib/tailcall-logger-lima/build/src/target/packages/tailcall-logger_*_amd64.deb || return 1
  in_root dpkg-query -W tailcall-logger
}
check provision-builds-without-package builds_without_package

fails_without_checkout() {
  ready || return 1
  in_root dpkg --purge tailcall-logger >/dev/null || return 1
  rm -rf "$chroot_dir/var/lib/tailcall-logger-lima/build"
  local empty=$tmp/not-a-checkout
  mkdir -p "$empty"
  if guest "$chroot_dir" "$empty" -- /var/lib/lima-test/provision.system 2>&1 | tee "$tmp/nock.out"; then
    echo "it succeeded without a checkout"; return 1
  fi
  status_is failed || return 1
  grep -q 'limactl start --set ".param.CHECKOUT=' "$tmp/nock.out" || { echo "no hint"; return 1; }
  if guest "$chroot_dir" "$empty" -- /var/lib/lima-test/probe.readiness; then
    echo "the readiness probe passed after a failed provisioning"; return 1
  fi
}
check provision-fails-without-checkout fails_without_checkout

# Opt-in: the real build in the guest, with this machine's Rust toolchain (rustup's download
# site is out of reach here) and a fresh chroot: the path an Intel Mac takes with no packages.
build_root=
guest_build() {
  make_tarball || return 1
  new_chroot build_root || return 1
  local cargo_bin rustup_home
  cargo_bin=$(dirname "$(command -v cargo)") rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
  mkdir -p "$build_root/root/.cargo/bin" "$build_root/root/.rustup"
  unshare --mount --propagation private -- /bin/sh -ec '
    mount --bind "$2" "$1/root/.cargo/bin"; mount -o remount,bind,ro "$1/root/.cargo/bin"
    mount --bind "$3" "$1/root/.rustup"
    # The host trust store: this machine may reach crates.io through a TLS proxy.
    mount --bind /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"
    shift 3; "$@"' guest "$build_root" "$cargo_bin" "$rustup_home" \
    bash -c "$(declare -f guest); guest \"\$@\"" guest "$build_root" "$top" hide-packages -- \
    /var/lib/lima-test/provision.system || return 1
  grep -q '^ok' "$build_root/run/tailcall-logger-provision" || return 1
  ls -l "$build_root"/var/lib/tailcall-logger-lima/build/src/target/packages/
  chroot "$build_root" tailcall-logger --version
}
if [ "${LIMA_TEST_GUEST_BUILD:-0}" = 1 ]; then
  check provision-builds-for-real guest_build
fi

echo "lima-test: chroot checks took $(( $(date +%s) - t0 )) s (chroot cache: $tarball)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
