#!/usr/bin/env bash
# The multi-kernel test matrix (make vm-test): boots each Debian cloud kernel in QEMU under
# TCG (never KVM: /dev/kvm exists on the build machines but hangs) with an initramfs of our
# own (static busybox, the static logger and scenario binaries, vm/init.sh,
# vm/guest-scenario.sh), and reads the verdicts from the serial console. No 9p, no agent.
#
#   vm/run.sh                   ARCH=x86_64 and its default kernels (vm/arch/ARCH.sh)
#   vm/run.sh --fetch-only      only resolve and download the kernels (fills the cache)
#
# Environment:
#   ARCH             x86_64 (default) or aarch64: reads vm/arch/$ARCH.sh
#   KERNELS          labels, e.g. "5.10 6.1" (default: DEFAULT_KERNELS of the arch)
#   VM_BIN_DIR       where tailcall-logger and tailcall-logger-scenario are
#                    (default target/$ARCH-unknown-linux-musl/release, where `make build`
#                    and `make scenario` put them; the scenario's source is testkit/)
#   VM_OUT           results and logs (default target/vm-test/$ARCH)
#   VM_CACHE         kernel cache (default /var/cache/tailcall-logger/vm; see vm/kernels.sh)
#   VM_JOBS          VMs at once (default 2)
#   VM_TIMEOUT       seconds before a VM counts as hung and is killed (default 120)
#   VM_CELL_TIMEOUT  seconds before one cell's binary is stopped inside the VM (default 60)
#   VM_SMP           CPUs of each VM (default 8; the rings cells want 8)
#   VM_APPEND        extra kernel command line words (NAME=VALUE ones reach the scenario's
#                    environment)
# Writes $VM_OUT/results.md (the kernel x cell table), $VM_OUT/results.json and the
# console logs $VM_OUT/logs/KERNEL.log; exits 1 if any cell failed, a kernel could not be
# fetched, or a VM hung, crashed or did not finish the scenario.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
die() { echo "vm/run.sh: $*" >&2; exit 2; }

fetch_only=0
case "${1:-}" in
  "") ;;
  --fetch-only) fetch_only=1 ;;
  *) die "usage: [ARCH=..] [KERNELS=..] vm/run.sh [--fetch-only]" ;;
esac

arch=${ARCH:-x86_64}
[ -f "vm/arch/$arch.sh" ] || die "unsupported ARCH '$arch' (have: $(cd vm/arch && ls | sed 's/\.sh$//' | tr '\n' ' '))"
# shellcheck source=vm/arch/x86_64.sh
. "vm/arch/$arch.sh"
read -r -a kernels <<<"${KERNELS:-$DEFAULT_KERNELS}"
[ ${#kernels[@]} -gt 0 ] || read -r -a kernels <<<"$DEFAULT_KERNELS"
bin_dir=${VM_BIN_DIR:-target/$arch-unknown-linux-musl/release}
out=${VM_OUT:-target/vm-test/$arch}
jobs_max=${VM_JOBS:-2}
vm_timeout=${VM_TIMEOUT:-120}
cell_timeout=${VM_CELL_TIMEOUT:-60}
# The verdicts every kernel must give, in table order (vm/guest-scenario.sh prints them).
cells=(probe auto forced-tail skip-others inline perf wakeup args results cgroup cgroup-v1 embedded-btf results-rawtp rings rings-uneven lockdown)

# Tools: installed with apt when missing (CI starts from a bare Debian 12).
apt_updated=0
need() { # need COMMAND PACKAGE
  command -v "$1" >/dev/null && return 0
  echo "vm/run.sh: installing $2 (for $1)" >&2
  if [ "$(id -u)" != 0 ]; then die "$1 is missing and installing $2 needs root"; fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; then
    [ $apt_updated = 1 ] || { apt-get update -qq >&2 || true; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null ||
      die "could not install $2"
  fi
  command -v "$1" >/dev/null || die "$2 is installed but $1 is still missing"
}
need "$QEMU" "$QEMU_PACKAGE"
need cpio cpio
need gzip gzip
need jq jq
need timeout coreutils
need flock util-linux
need dpkg-deb dpkg

t_start=$(date +%s%N)
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
secs() { printf '%d.%d' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); } # ms -> s, one decimal

if [ $fetch_only = 1 ]; then
  vm/kernels.sh "$arch" busybox >/dev/null
  for k in "${kernels[@]}"; do
    img=$(vm/kernels.sh "$arch" "$k")
    echo "$k: $(cat "$(dirname "$img")/package") -> $img"
  done
  exit 0
fi

# The binaries: present, and built for ARCH (an ELF of the wrong machine would only show up
# as a puzzling exec failure inside the VM). Scripts (#!) are accepted, for stubs.
for b in tailcall-logger tailcall-logger-scenario; do
  f=$bin_dir/$b
  [ -x "$f" ] || die "$f is missing or not executable: run 'make build scenario ARCH=$arch' (or set VM_BIN_DIR)"
  magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
  if [ "$magic" = 7f454c46 ]; then
    machine=$(od -An -j 18 -N 2 -tu2 "$f" | tr -d ' ')
    [ "$machine" = "$ELF_MACHINE" ] || die "$f is an ELF for machine $machine, not $arch ($ELF_MACHINE)"
    if grep -aq -e '/ld-linux' -e '/ld-musl' < <(head -c 8192 "$f"); then
      echo "vm/run.sh: warning: $f looks dynamically linked; the initramfs has no libc" >&2
    fi
  elif [ "${magic:0:4}" != 2321 ]; then
    die "$f is neither an ELF nor a script"
  fi
done

case "$(realpath -m "$out")" in /|"$top"|"$HOME") die "VM_OUT=$out would delete too much" ;; esac
rm -rf "$out"
mkdir -p "$out/logs" "$out/state"
echo "vm-test ($arch): kernels ${kernels[*]}; $jobs_max VM(s) at a time under TCG; logs in $out/logs/"

# The initramfs, the same for every kernel.
root=$out/initramfs
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run}
busybox=$(vm/kernels.sh "$arch" busybox) || die "no static busybox for $arch (see the message above)"
cp "$busybox" "$root/bin/busybox"
cp "$bin_dir/tailcall-logger" "$bin_dir/tailcall-logger-scenario" "$root/bin/"
cp vm/init.sh "$root/init"
cp vm/guest-scenario.sh "$root/guest-scenario.sh"
chmod 755 "$root/init" "$root/guest-scenario.sh" "$root/bin/"*
# Without /dev/console the kernel starts init with no stdout: nothing would be printed.
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$out/initramfs.cpio.gz"

# boot KERNEL IMAGE: runs one VM; writes state/KERNEL.{rc,ms}. The console goes to the log.
boot() {
  local k=$1 img=$2 log=$out/logs/$1.log t0 rc=0
  t0=$(date +%s%N)
  timeout --kill-after=5 "$vm_timeout" "$QEMU" "${QEMU_ARGS[@]}" \
      -nographic -monitor none -nic none -no-reboot \
      -kernel "$img" -initrd "$out/initramfs.cpio.gz" \
      -append "console=$CONSOLE panic=-1 quiet VM_CELL_TIMEOUT=$cell_timeout ${VM_APPEND:-}" \
      </dev/null >"$log" 2>&1 || rc=$?
  echo "$rc" >"$out/state/$k.rc"
  ms_since "$t0" >"$out/state/$k.ms"
}

# Kernels are resolved and downloaded one at a time (apt, one lock), and each boots as soon
# as it is there, up to VM_JOBS at once.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT INT TERM
declare -A image package
for k in "${kernels[@]}"; do
  if img=$(vm/kernels.sh "$arch" "$k" 2>"$out/logs/$k.fetch.log"); then
    image[$k]=$img
    package[$k]=$(cat "$(dirname "$img")/package")
    [ -s "$out/logs/$k.fetch.log" ] || rm -f "$out/logs/$k.fetch.log"
  else
    cat "$out/logs/$k.fetch.log" >&2
    echo "vm-test: $k: FAIL: no kernel (see $out/logs/$k.fetch.log)" >&2
    image[$k]=
    package[$k]=-
    continue
  fi
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  echo "vm-test: $k: booting ${package[$k]}"
  boot "$k" "$img" &
done
wait
trap - EXIT INT TERM

# The table: one row per kernel, one column per cell, plus the plan probe chose.
fail=0
failed_lines=()
md=$out/results.md
{
  echo "| kernel | release | package | dispatch | transport | btf | $(IFS='|'; echo "${cells[*]}" | sed 's/|/ | /g') | vm | boot s | wall s |"
  echo "|---|---|---|---|---|---|$(for _ in "${cells[@]}"; do printf -- '---|'; done)---|---|---|"
} >"$md"
json_rows=()
for k in "${kernels[@]}"; do
  log=$out/logs/$k.log
  txt=$out/logs/$k.txt
  if [ -z "${image[$k]}" ]; then
    : >"$txt"
    vm="FAIL: no kernel"
    log=$out/logs/$k.fetch.log
  else
    # Carriage returns and terminal escapes (SeaBIOS clears the screen) out.
    sed -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' "$log" >"$txt"
    rc=$(cat "$out/state/$k.rc")
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
      vm="FAIL: hung, killed after ${vm_timeout}s"
    elif [ "$rc" != 0 ]; then
      vm="FAIL: qemu exit $rc"
    elif grep -q 'Kernel panic' "$txt"; then
      vm="FAIL: kernel panic"
    elif ! grep -q 'VM-BOOTED' "$txt"; then
      vm="FAIL: init never ran"
    elif ! grep -q '^VM-SCENARIO-DONE' "$txt"; then
      vm="FAIL: scenario did not finish"
    else
      vm=ok
    fi
    # Where it stopped: the cell that was running when the VM hung or crashed (none when
    # it crashed before the first cell: the pipeline fails, and must not end the runner).
    last=$(grep -o 'VM-CELL-START .*' "$txt" | tail -n 1 | cut -d' ' -f2 || true)
    if [ "$vm" != ok ] && [ -n "$last" ]; then vm="$vm (in cell $last)"; fi
  fi
  [ "$vm" = ok ] || { fail=1; failed_lines+=("$k: VM $vm: $log"); }
  missing=()

  probe=$(sed -n '/^PROBE-BEGIN$/,/^PROBE-END$/{/^PROBE-\(BEGIN\|END\)$/!p}' "$txt")
  plan() { jq -r "$1 // \"-\"" <<<"$probe" 2>/dev/null | head -n 1 | grep . || echo -; }
  dispatch=$(plan .plan.dispatch) transport=$(plan .plan.transport) btf=$(plan .plan.btf)
  release=$(grep -m1 -o 'VM-BOOTED [^ ]*' "$txt" | cut -d' ' -f2 || true)
  [ -n "$release" ] || release=$(cat "$(dirname "${image[$k]:-/nonexistent/x}")/release" 2>/dev/null || echo -)
  boot_s=$(grep -m1 -o 'VM-BOOTED .* uptime=[0-9.]*' "$txt" | sed 's/.*uptime=//' || true)
  wall_ms=$(cat "$out/state/$k.ms" 2>/dev/null || echo 0)

  row="| $k | $release | ${package[$k]} | $dispatch | $transport | $btf |"
  cells_json="{}"
  for c in "${cells[@]}"; do
    line=$(grep "^CELL $c " "$txt" | tail -n 1 || true)
    v=$(awk '{ print $3 }' <<<"$line")
    case "$v" in
      PASS|N/A) ;;
      "") v=FAIL; line="CELL $c FAIL no verdict on the console"; missing+=("$c") ;;
      *) v=FAIL; failed_lines+=("$k: $line: $log") ;;
    esac
    [ "$v" != FAIL ] || fail=1
    row="$row $v |"
    cells_json=$(jq -c --arg c "$c" --arg v "$v" --arg d "$(cut -d' ' -f4- <<<"$line")" \
      '. + {($c): {verdict: $v, detail: $d}}' <<<"$cells_json")
  done
  [ ${#missing[@]} = 0 ] || failed_lines+=("$k: no verdict for ${missing[*]}: $log")
  # Verdicts for cells the table does not know yet (a newer guest-scenario.sh).
  for c in $(grep -o '^CELL [^ ]*' "$txt" | cut -d' ' -f2 | sort -u); do
    [[ " ${cells[*]} " == *" $c "* ]] || echo "vm-test: $k: note: cell '$c' is not in the table: $(grep "^CELL $c " "$txt" | tail -n 1)"
  done
  row="$row ${vm%%:*} | ${boot_s:--} | $(secs "$wall_ms") |"
  echo "$row" >>"$md"
  json_rows+=("$(jq -cn --arg kernel "$k" --arg release "$release" --arg package "${package[$k]}" \
    --arg dispatch "$dispatch" --arg transport "$transport" --arg btf "$btf" --arg vm "$vm" \
    --arg boot "${boot_s:-}" --argjson wall_ms "$wall_ms" --arg log "$log" --argjson cells "$cells_json" \
    '{kernel: $kernel, release: $release, package: $package,
      plan: {dispatch: $dispatch, transport: $transport, btf: $btf},
      cells: $cells, vm: $vm, guest_uptime_s: $boot, wall_ms: $wall_ms, log: $log}')")
done
total_ms=$(ms_since "$t_start")
{
  echo
  echo "ARCH $arch, QEMU $($QEMU --version | head -n 1 | awk '{ print $4 }') under TCG, $(date -u '+%F %R UTC')," \
    "$(secs "$total_ms") s in all. boot s: guest uptime when init started; wall s: qemu start to exit."
} >>"$md"
printf '%s\n' "${json_rows[@]}" | jq -s --arg arch "$arch" --argjson total_ms "$total_ms" --argjson pass "$((1 - fail))" \
  '{arch: $arch, pass: ($pass == 1), total_ms: $total_ms, kernels: .}' >"$out/results.json"

echo
cat "$md"
echo
if [ ${#failed_lines[@]} -gt 0 ]; then
  echo "Failures (kernel: verdict: console log):"
  printf '  %s\n' "${failed_lines[@]}"
fi
echo "vm-test ($arch): ${#kernels[@]} kernel(s), $(secs "$total_ms") s in all; table $md; console logs $out/logs/"
if [ $fail = 0 ]; then echo "vm-test: PASS"; else echo "vm-test: FAIL"; fi
exit $fail
