#!/bin/sh
# The scenario inside each VM (busybox sh, run by vm/init.sh). vm/run.sh reads the serial
# console; the contract with it:
#   PROBE-BEGIN / PROBE-END         around the stdout of `tailcall-logger probe --json`
#   CELL <label> PASS|FAIL|N/A <detail>
#                                   one verdict per cell; the runner takes the last line for
#                                   each label, and a label with no line is a FAIL
#   VM-SCENARIO-DONE                the scenario ran to its end
# The contract with the binaries (static, in /bin): `tailcall-logger-scenario --logger L
# --label NAME [--expect KEY=VALUE] -- LOGGER_ARGS...` runs the logger end to end, prints
# `CELL NAME PASS|FAIL detail` and exits 0 iff the cell passed. A cell whose binary hangs is
# stopped after VM_CELL_TIMEOUT seconds (from the kernel command line) and is a FAIL; a
# binary that exits non-zero after printing PASS is a FAIL too.
L=/bin/tailcall-logger
S=/bin/tailcall-logger-scenario
T=${VM_CELL_TIMEOUT:-60}
out=/tmp/cell.out

timed_out() { [ "$1" = 124 ] || [ "$1" = 143 ] || [ "$1" = 137 ]; }

# cell LABEL [SCENARIO-OPTIONS...] -- [LOGGER-ARGS...]
cell() {
  label=$1
  shift
  echo "VM-CELL-START $label"
  timeout "$T" "$S" --logger "$L" --label "$label" "$@" >"$out" 2>&1
  rc=$?
  # Everything but the verdict as it came; the verdict is checked against the exit code.
  grep -v "^CELL " "$out"
  verdict=$(grep "^CELL $label " "$out" | tail -n 1)
  if timed_out "$rc"; then
    echo "CELL $label FAIL timed out after ${T}s (exit $rc)"
  elif [ -z "$verdict" ]; then
    echo "CELL $label FAIL exit $rc without a CELL line"
  elif [ "$rc" = 0 ]; then
    case "$verdict" in
      "CELL $label PASS"*) echo "$verdict" ;;
      *) echo "CELL $label FAIL exit 0 but: ${verdict#"CELL $label "}" ;;
    esac
  else
    case "$verdict" in
      "CELL $label PASS"*) echo "CELL $label FAIL exit $rc after: ${verdict#"CELL $label "}" ;;
      *) echo "$verdict" ;;
    esac
  fi
}

# 1. What the logger finds on this kernel; the runner puts .plan.{dispatch,transport,btf}
#    in the table.
echo "VM-CELL-START probe"
timeout "$T" "$L" probe --json >/tmp/probe.json 2>/tmp/probe.err
rc=$?
echo PROBE-BEGIN
cat /tmp/probe.json
echo
echo PROBE-END
sed 's/^/probe stderr: /' /tmp/probe.err
if [ "$rc" = 0 ]; then
  echo "CELL probe PASS"
elif timed_out "$rc"; then
  echo "CELL probe FAIL timed out after ${T}s"
else
  echo "CELL probe FAIL exit $rc: $(head -n 1 /tmp/probe.err)"
fi

# 2. End to end, one cell per way of running.
cell auto --

# --dispatch tail: where the trial load says tail calls load, it must work; where it says
# they do not (arm64 before 6.0 refuses tail calls next to BPF-to-BPF calls), it must fail
# with one clear line and exit 4.
if ! grep -q '"plan"' /tmp/probe.json; then
  echo "CELL forced-tail FAIL probe gave no plan: cannot tell whether tail calls should load"
elif grep -q '"tail":{"error":null,"loads":true}' /tmp/probe.json; then
  cell forced-tail --expect dispatch=tail -- --dispatch tail
else
  echo "VM-CELL-START forced-tail"
  timeout "$T" "$L" --json --dispatch tail >/dev/null 2>"$out"
  rc=$?
  msg=$(head -n 1 "$out")
  case "$rc:$msg" in
    "4:tailcall-logger: loading the tail dispatcher"*) echo "CELL forced-tail PASS refused as expected: $msg" ;;
    *) echo "CELL forced-tail FAIL exit $rc: $msg" ;;
  esac
fi

cell skip-others -- --skip-others
cell inline --expect dispatch=inline -- --dispatch inline
cell perf --expect transport=perf -- --transport perf
# The reader, asleep after 300 ms without records from the child, is woken by the first
# (the programs raise the ring's wakeup only when the reader said it sleeps).
cell wakeup --expect-wakeup --
# --args: the child's openat of a known path and its anonymous mmap (all six argument
# registers: arm64 reads them from orig_x0 and x1-x5, x86_64 from di, si, dx, r10, r8, r9)
# are asserted exactly, typed by this kernel's own tracefs formats (init.sh mounts tracefs;
# without them the logger falls back to its embedded signatures, and this says so).
[ -r /sys/kernel/tracing/events/syscalls/sys_enter_openat/format ] ||
  echo "VM-WARN no tracefs syscall formats: --args runs on the embedded signatures"
cell args -- --args
# --results: the child's calls with their outcomes (an openat of a missing file fails with
# ENOENT, the timer calls return 0, getppid our pid); its successful execve returns 0 from
# sched_process_exec on every kernel (arm64 before 5.18 has no sys_exit for it); the exec'd
# program's exit_group never returns.
cell results -- --results

# Cgroups, with cgroup2 alone: the child runs in a cgroup made here (DIR/leaf); its records
# carry that cgroup's id and path, and --cgroup DIR keeps only the subtree, in the kernel
# (the summary's `seen` counts the child's records and nothing else).
if mount -t cgroup2 none /sys/fs/cgroup; then
  cell cgroup --in-cgroup /sys/fs/cgroup/tcl --only-child -- --cgroup /tcl
  umount /sys/fs/cgroup || echo "VM-WARN cannot unmount cgroup2"
else
  echo "CELL cgroup FAIL cannot mount cgroup2 on /sys/fs/cgroup"
fi

# A v1-only host: a v1 hierarchy (name=systemd, no controller) and no cgroup2 mount. The
# logger still logs (cgroup_id in every record; the names are null), and --cgroup is a
# usage error in one line (exit 2). The last CELL line of a label is its verdict.
echo "VM-CELL-START cgroup-v1"
if mount -t tmpfs none /sys/fs/cgroup && mkdir /sys/fs/cgroup/systemd &&
  mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd; then
  timeout "$T" "$L" --json --cgroup /tcl >/dev/null 2>"$out"
  v1rc=$? # cell sets rc and msg
  v1msg=$(head -n 1 "$out")
  cell cgroup-v1 --
  case "$v1rc:$v1msg" in
    "2:tailcall-logger: --cgroup needs the cgroup v2 hierarchy"*) echo "VM-NOTE cgroup-v1: $v1msg" ;;
    *) echo "CELL cgroup-v1 FAIL --cgroup on a v1-only host: exit $v1rc: $v1msg" ;;
  esac
  umount /sys/fs/cgroup/systemd && umount /sys/fs/cgroup || echo "VM-WARN cannot unmount the v1 hierarchy"
else
  echo "CELL cgroup-v1 FAIL cannot mount a v1 name=systemd hierarchy"
fi

# No kernel BTF: an empty tmpfs over /sys/kernel/btf; the embedded minimal BTF takes over.
if mount -t tmpfs none /sys/kernel/btf; then
  cell embedded-btf --expect btf=embedded --
  # Without the kernel's BTF, --results sees calls end on raw_tp/sys_exit (tp_btf needs it).
  cell results-rawtp --expect btf=embedded --expect exit=raw_tp -- --results
  umount /sys/kernel/btf || echo "VM-WARN cannot unmount the tmpfs over /sys/kernel/btf"
else
  echo "CELL embedded-btf FAIL cannot mount a tmpfs over /sys/kernel/btf"
fi

# Sharded rings (the VM has VM_SMP CPUs, 8 by default): 8 producers, one pinned to each
# CPU, write their groups' rings at once. Each thread's records arrive in order, on its
# CPU, and delivered + lost == seen == every call made. The default plan for 8 CPUs is 4
# rings of 2 CPUs; --ring-cpus 3 makes 3 rings, the last one of 2 CPUs. Where the kernel
# refuses ring buffers inside a map of maps, the plan says 1 ring and a fallback: the
# --expect-rings check then fails and shows it.
cpus=$(grep -c '^processor' /proc/cpuinfo)
if [ "$cpus" = 8 ]; then
  cell rings --rings --producers 8 --calls 20000 --expect-rings 4 --
  cell rings-uneven --rings --producers 8 --calls 20000 --expect-rings 3 -- --ring-cpus 3
else
  echo "CELL rings N/A $cpus CPUs, the cell needs 8 (VM_SMP=8)"
  echo "CELL rings-uneven N/A $cpus CPUs, the cell needs 8 (VM_SMP=8)"
fi

# Last, because it cannot be undone: lockdown raised to confidentiality at run time must
# give the clear error (exit 4), not a libbpf dump.
echo "VM-CELL-START lockdown"
if [ -w /sys/kernel/security/lockdown ] && echo confidentiality >/sys/kernel/security/lockdown 2>/dev/null; then
  timeout "$T" "$L" --json >/dev/null 2>"$out"
  rc=$?
  msg=$(head -n 1 "$out")
  case "$rc:$msg" in
    4:*lockdown*) echo "CELL lockdown PASS exit 4: $msg" ;;
    *) echo "CELL lockdown FAIL exit $rc: $msg" ;;
  esac
else
  echo "CELL lockdown N/A this kernel has no lockdown LSM"
fi

read -r uptime _ </proc/uptime
echo "VM-UPTIME $uptime"
echo VM-SCENARIO-DONE
