#!/usr/bin/env bash
# Boots a Debian cloud kernel in QEMU (TCG) and writes the compact snapshot of its syscall
# tracepoint formats (tracefs events/syscalls/sys_enter_*/format) that
# scripts/gen-signatures.py turns into the embedded tables of src/signatures/.
#
#   scripts/dump-syscall-formats.sh ARCH [LABEL]
#
# ARCH: x86_64 or aarch64 (as in vm/arch/); LABEL: a vm/kernels.sh label (default newest).
# Writes src/signatures/data/ARCH.formats (through `gen-signatures.py snapshot`); the raw
# console log and the raw format files are left in target/signatures/ARCH/.
#
# The kernel and a static busybox come from vm/kernels.sh (cached under
# /var/cache/tailcall-logger/vm; it takes a lock, and a failed call, such as a download
# colliding with another one, is retried). The guest is our own: an initramfs holding
# busybox, /dev/console and an init that mounts tracefs, prints every sys_enter_*/format
# file, gzipped and base64-encoded, between FORMATS-BEGIN and FORMATS-END lines on the
# serial console, and powers off. Nothing in vm/ is changed; vm/arch/ARCH.sh gives the QEMU
# command and console (always -accel tcg: /dev/kvm hangs on the build machines).
# Environment: VM_TIMEOUT (seconds, default 600).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
die() { echo "dump-syscall-formats: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: scripts/dump-syscall-formats.sh ARCH [LABEL]" >&2; exit 2; }
arch=$1 label=${2:-newest}
[ -f "vm/arch/$arch.sh" ] || die "unsupported ARCH '$arch'"
# shellcheck source=vm/arch/x86_64.sh
. "vm/arch/$arch.sh"
for tool in "$QEMU" cpio gzip base64 timeout python3; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done

# vm/kernels.sh with retries: another process may be downloading into the same cache.
kernels() {
  local try out
  for try in 1 2 3 4 5; do
    if out=$(vm/kernels.sh "$@"); then echo "$out"; return 0; fi
    echo "dump-syscall-formats: vm/kernels.sh $* failed (try $try); retrying in $((try * 20)) s" >&2
    sleep $((try * 20))
  done
  return 1
}
img=$(kernels "$arch" "$label") || die "no kernel for $arch $label"
busybox=$(kernels "$arch" busybox) || die "no busybox for $arch"
package=$(cat "$(dirname "$img")/package")
release=$(cat "$(dirname "$img")/release")
echo "dump-syscall-formats: $arch: booting $package ($release) under TCG" >&2

out=target/signatures/$arch
rm -rf "$out"
mkdir -p "$out/initramfs"/{bin,dev,proc,sys,tmp} "$out/formats"
root=$out/initramfs
cp "$busybox" "$root/bin/busybox"
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
t=/sys/kernel/tracing
mount -t tracefs nodev $t 2>/dev/null || {
  mount -t debugfs nodev /sys/kernel/debug && t=/sys/kernel/debug/tracing
}
cd $t/events/syscalls || echo "FORMATS-ERROR no $t/events/syscalls"
# tracefs files have st_size 0 (tar would store them empty): cat them instead. Each file
# starts with its "name: sys_enter_X" line, so the stream splits back into files.
cat sys_enter_*/format >/tmp/all
echo
echo "FORMATS-RELEASE $(uname -r) $(uname -m) $(ls -d sys_enter_* | wc -l) $(md5sum </tmp/all | cut -d' ' -f1)"
echo FORMATS-BEGIN
gzip -9 </tmp/all | base64
echo FORMATS-END
poweroff -f
INIT
chmod 755 "$root/init" "$root/bin/busybox"
mknod -m 600 "$root/dev/console" c 5 1
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$out/initramfs.cpio.gz"

log=$out/console.log
rc=0
timeout --kill-after=5 "${VM_TIMEOUT:-600}" "$QEMU" "${QEMU_ARGS[@]}" \
    -nographic -monitor none -nic none -no-reboot \
    -kernel "$img" -initrd "$out/initramfs.cpio.gz" \
    -append "console=$CONSOLE panic=-1 quiet loglevel=0" </dev/null >"$log" 2>&1 || rc=$?
[ $rc = 0 ] || die "qemu exited with $rc (124/137: hung, killed); console log: $log"
tr -d '\r' <"$log" >"$out/console.txt"
grep -q '^FORMATS-END$' "$out/console.txt" || die "no FORMATS-END on the console: $out/console.txt"
read -r _ guest_release guest_machine count md5 < <(grep -m1 '^FORMATS-RELEASE ' "$out/console.txt")
[ "$guest_release" = "$release" ] || die "the guest runs $guest_release, expected $release"
sed -n '/^FORMATS-BEGIN$/,/^FORMATS-END$/{/^FORMATS-\(BEGIN\|END\)$/!p}' "$out/console.txt" |
  base64 -d | gunzip >"$out/formats.txt"
[ "$(md5sum <"$out/formats.txt" | cut -d' ' -f1)" = "$md5" ] || die "the formats arrived damaged (md5 differs)"
echo "dump-syscall-formats: $arch: $count sys_enter formats from $guest_release ($guest_machine)" >&2

python3 scripts/gen-signatures.py snapshot --arch "$arch" --package "$package" --release "$release" \
  --expect "$count" "$out/formats.txt" >"src/signatures/data/$arch.formats.new"
mv "src/signatures/data/$arch.formats.new" "src/signatures/data/$arch.formats"
echo "dump-syscall-formats: wrote src/signatures/data/$arch.formats; now run scripts/gen-signatures.py" >&2
