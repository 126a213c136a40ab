#!/usr/bin/env bash
# Checks lima/hello-ebpf.yaml without limactl (not installable here):
#  1. it parses, and validates against lima/lima-template.schema.json;
#  2. typos (memroy, mode sytem, arch x86-64) fail that validation;
#  3. its provisioning script is lima/provision.sh byte for byte;
#  4. lima/provision.sh runs for real in a Debian 12 chroot (debootstrap, cached) with the
#     packages from the checkout: the logger ends up installed and its probe passes.
# Prints PASS/FAIL per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
cache=${LIMA_TEST_CACHE:-/var/cache/tailcall-logger/lima}
pass=0 fail=0
check() { # check NAME COMMAND...
  local name=$1; shift
  if "$@" >"$tmp/$name.log" 2>&1; then echo "PASS $name"; pass=$((pass + 1))
  else echo "FAIL $name (log: $tmp/$name.log)"; sed 's/^/    /' "$tmp/$name.log" | tail -n 15; fail=$((fail + 1)); fi
}
tmp=$(mktemp -d /tmp/lima-test.XXXXXX)
chroot_dir=
cleanup() {
  if [ -n "$chroot_dir" ]; then
    for m in sys/kernel/btf sys proc dev/pts dev work; do umount -l "$chroot_dir/$m" 2>/dev/null; done
    rm -rf --one-file-system "$chroot_dir"
  fi
}
trap cleanup EXIT

scripts/install-deps.sh packages debootstrap python3-yaml python3-jsonschema >/dev/null

validate() { # validate FILE: exit 0 iff FILE validates
  /usr/bin/python3 - "$1" <<'PY'
import json, sys, yaml, jsonschema
schema = json.load(open("lima/lima-template.schema.json"))
doc = yaml.safe_load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
for e in errors:
    print(f"{'/'.join(map(str, e.path))}: {e.message}")
sys.exit(1 if errors else 0)
PY
}
check template-validates validate lima/hello-ebpf.yaml

typo() { # typo NAME SED: the template with SED applied must NOT validate
  sed "$2" lima/hello-ebpf.yaml >"$tmp/$1.yaml"
  cmp -s "$tmp/$1.yaml" lima/hello-ebpf.yaml && { echo "sed changed nothing"; return 1; }
  ! validate "$tmp/$1.yaml"
}
check typo-memroy-rejected typo memroy 's/^memory:/memroy:/'
check typo-sytem-rejected typo sytem 's/- mode: system/- mode: sytem/'
check typo-arch-rejected typo arch '0,/arch: x86_64/s//arch: x86-64/'
check typo-digest-rejected typo digest '0,/digest: "sha512:/s//digest: "sha521:/'

same_script() {
  /usr/bin/python3 -c 'import sys, yaml; d = yaml.safe_load(open("lima/hello-ebpf.yaml")); sys.exit(d["provision"][0]["script"] != open("lima/provision.sh").read())'
}
check provision-script-embedded same_script

# A minimal Debian 12 root, made once and cached as a tarball.
make_chroot() {
  mkdir -p "$cache"
  if [ ! -s "$cache/bookworm-minbase.tar" ]; then
    local d; d=$(mktemp -d /tmp/lima-debootstrap.XXXXXX)
    debootstrap --variant=minbase bookworm "$d" http://deb.debian.org/debian || return 1
    tar -C "$d" -cf "$cache/bookworm-minbase.tar.new" . && mv "$cache/bookworm-minbase.tar.new" "$cache/bookworm-minbase.tar"
    rm -rf --one-file-system "$d"
  fi
  chroot_dir=$(mktemp -d /tmp/lima-chroot.XXXXXX)
  tar -C "$chroot_dir" -xf "$cache/bookworm-minbase.tar"
}

provision_in_chroot() {
  ls target/packages/tailcall-logger_*_amd64.deb >/dev/null 2>&1 || make package || return 1
  make_chroot || return 1
  mkdir -p "$chroot_dir/work"
  mount --bind "$PWD" "$chroot_dir/work"
  mount -t proc proc "$chroot_dir/proc"
  mount --rbind /sys "$chroot_dir/sys"
  mount --bind /dev "$chroot_dir/dev"
  cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
  # Exactly the template's script, with the checkout where a Lima guest would see it.
  chroot "$chroot_dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TAILCALL_LOGGER_SRC=/work \
    sh /work/lima/provision.sh || return 1
  chroot "$chroot_dir" /usr/bin/tailcall-logger --version || return 1
  # The readiness probe's check.
  chroot "$chroot_dir" /usr/bin/tailcall-logger probe >/dev/null
}
t0=$(date +%s)
check provision-in-debian-chroot provision_in_chroot
echo "lima-test: chroot provisioning took $(( $(date +%s) - t0 )) s"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
