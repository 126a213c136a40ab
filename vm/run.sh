#!/usr/bin/env bash
# The multi-kernel matrix: boots each Debian cloud kernel in QEMU under TCG (never KVM: it
# hangs on these machines) with a small initramfs (static busybox, the static logger and
# scenario binaries, vm/init.sh), and reads the verdicts from the serial console.
#   ARCH=x86_64|aarch64 KERNELS="5.10 6.1 6.12 newest" vm/run.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
arch=${ARCH:-x86_64}
case "$arch" in
  x86_64) default_kernels="5.10 6.1 6.12 newest" ;;
  aarch64) default_kernels="5.10 6.1 newest" ;;
  *) echo "vm/run.sh: unsupported ARCH $arch" >&2; exit 2 ;;
esac
kernels=${KERNELS:-$default_kernels}
jobs=${VM_JOBS:-2}
timeout_s=${VM_TIMEOUT:-300}
bin_dir=target/$arch-unknown-linux-musl/release
out=target/vm-test/$arch
cells="probe auto forced-tail skip-others inline perf embedded-btf lockdown"

need() { command -v "$1" >/dev/null || { echo "vm/run.sh: installing $2" >&2; apt-get install -y -qq "$2" >/dev/null; }; }
case "$arch" in
  x86_64) qemu=qemu-system-x86_64; need "$qemu" qemu-system-x86 ;;
  aarch64) qemu=qemu-system-aarch64; need "$qemu" qemu-system-arm ;;
esac
need cpio cpio
need jq jq
for b in tailcall-logger tailcall-logger-scenario; do
  [ -x "$bin_dir/$b" ] || { echo "vm/run.sh: $bin_dir/$b missing: make build ARCH=$arch" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/logs"
started=$(date +%s)

# The initramfs, the same for every kernel.
root=$out/initramfs
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp "$(vm/kernels.sh "$arch" busybox)" "$root/bin/busybox"
cp "$bin_dir/tailcall-logger" "$bin_dir/tailcall-logger-scenario" "$root/bin/"
cp vm/init.sh "$root/init"
cp vm/guest-scenario.sh "$root/guest-scenario.sh"
chmod +x "$root/init" "$root/bin/"*
mknod -m 600 "$root/dev/console" c 5 1
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initramfs.cpio.gz"

# Kernels are resolved and downloaded one after the other (apt), then booted in parallel.
declare -A image
for k in $kernels; do
  image[$k]=$(vm/kernels.sh "$arch" "$k")
done

boot() { # boot KERNEL: writes logs/KERNEL.log
  local k=$1 log=$out/logs/$1.log args
  case "$arch" in
    x86_64) args=(-accel tcg -cpu max -m 768 -append "console=ttyS0 panic=-1 quiet") ;;
    aarch64) args=(-accel tcg -M virt -cpu max,pauth-impdef=on -m 1024 -append "console=ttyAMA0 panic=-1 quiet") ;;
  esac
  local t0; t0=$(date +%s)
  if ! timeout "$timeout_s" "$qemu" "${args[@]}" -nographic -no-reboot -monitor none \
      -kernel "${image[$k]}" -initrd "$out/initramfs.cpio.gz" </dev/null >"$log" 2>&1; then
    echo "VM-TIMEOUT after ${timeout_s}s or qemu failed" >>"$log"
  fi
  echo "VM-WALL $(( $(date +%s) - t0 ))" >>"$log"
}
export -f boot
pids=()
for k in $kernels; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 0.5; done
  boot "$k" &
  pids+=($!)
done
wait "${pids[@]}"

# The table: one row per kernel, one column per cell, plus the plan probe chose.
fail=0
{
  echo "| kernel | package | dispatch | transport | btf | $(echo $cells | sed 's/ / | /g') | wall s |"
  echo "|---|---|---|---|---|$(for c in $cells; do printf -- '---|'; done)---|"
} >"$out/results.md"
for k in $kernels; do
  log=$out/logs/$k.log
  tr -d '\r' <"$log" >"$log.txt"
  plan=$(sed -n '/^PROBE-BEGIN/,/^PROBE-END/p' "$log.txt" | grep '^{' | head -n 1 || true)
  d=$(echo "${plan:-{\}}" | jq -r '.plan.dispatch // "-"' 2>/dev/null || echo -)
  t=$(echo "${plan:-{\}}" | jq -r '.plan.transport // "-"' 2>/dev/null || echo -)
  b=$(echo "${plan:-{\}}" | jq -r '.plan.btf // "-"' 2>/dev/null || echo -)
  row="| $(grep -m1 -o 'VM-BOOTED [^ ]*' "$log.txt" | cut -d' ' -f2 || echo "$k") | $(cat "$(dirname "${image[$k]}")/package") | $d | $t | $b |"
  for c in $cells; do
    v=$(grep -m1 "^CELL $c " "$log.txt" | awk '{print $3}' || true)
    v=${v:-FAIL}
    [ "$v" = FAIL ] && fail=1
    row="$row $v |"
  done
  grep -q '^VM-SCENARIO-DONE' "$log.txt" || fail=1
  row="$row $(grep -m1 -o 'VM-WALL [0-9]*' "$log.txt" | cut -d' ' -f2) |"
  echo "$row" >>"$out/results.md"
done
echo
cat "$out/results.md"
echo
grep -h '^CELL .* FAIL' "$out"/logs/*.log.txt 2>/dev/null | sed 's/^/  /' || true
echo "vm-test ($arch): $(( $(date +%s) - started )) s in all; console logs in $out/logs/"
if [ $fail = 0 ]; then echo "vm-test: PASS"; else echo "vm-test: FAIL"; fi
exit $fail
