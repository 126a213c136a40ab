#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# `make bench`: installs what the benchmark needs (bpftrace, bcc, bpftool, perf, strace,
# musl-gcc, kernel headers for bcc), builds the helpers in target/bench/, runs
# bench/bench.py and restores the machine afterwards: tracers it started are stopped,
# kernel.bpf_stats_enabled gets its old value back, tracefs is unmounted if it mounted it.
#
# Environment: BENCH_BIN (the logger), BENCH_ROUNDS, BENCH_REPS, BENCH_QUICK=1 (a smoke run),
# BENCH_TRACER_CPU / BENCH_LOAD_CPU, BENCH_FOREIGN_WAIT (seconds to wait, in all, for
# other tracers on the syscall tracepoints to go away).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/target/bench
export BENCH_BIN=${BENCH_BIN:-$ROOT/target/x86_64-unknown-linux-musl/release/tailcall-logger}
export BENCH_WORK=$WORK
export DEBIAN_FRONTEND=noninteractive

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

[ "$(id -u)" = 0 ] || die "run as root (BPF, bpf_stats, perf)"
[ -x "$BENCH_BIN" ] || die "$BENCH_BIN missing: make build first"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (tracer and traced program on separate cores)"

# --- tools --------------------------------------------------------------------------------
need=()
command -v bpftrace >/dev/null || need+=(bpftrace)
command -v bpftool >/dev/null || need+=(bpftool)
command -v perf >/dev/null || need+=(linux-perf)
command -v strace >/dev/null || need+=(strace)
command -v taskset >/dev/null || need+=(util-linux)
command -v musl-gcc >/dev/null || need+=(musl-tools)
command -v gcc >/dev/null || need+=(gcc)
command -v file >/dev/null || need+=(file)
[ -f /usr/include/linux/bpf.h ] || need+=(linux-libc-dev)
/usr/bin/python3 -c 'import bcc' 2>/dev/null || need+=(python3-bpfcc bpfcc-tools)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get install -y "${need[@]}" >/dev/null 2>&1 || {
        apt-get update >/dev/null
        apt-get install -y "${need[@]}" >/dev/null
    }
fi

# bcc compiles its C with the kernel's headers. This kernel ships none (no
# /lib/modules/$(uname -r)/build, no CONFIG_IKHEADERS): use Debian's cloud kernel headers,
# merged (common + arch) into one tree, as bcc wants. The programs used here only need
# struct bpf_raw_tracepoint_args and helper declarations, which do not differ.
if [ -z "${BCC_KERNEL_SOURCE:-}" ] && [ ! -e "/lib/modules/$(uname -r)/build" ]; then
    arch_dir=$(ls -d /usr/src/linux-headers-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$arch_dir" ]; then
        say "installing kernel headers for bcc (linux-headers-cloud-amd64)"
        apt-get install -y linux-headers-cloud-amd64 >/dev/null
        arch_dir=$(ls -d /usr/src/linux-headers-*-cloud-amd64 | sort -V | tail -n 1)
    fi
    common_dir=${arch_dir%-cloud-amd64}-common
    khdr=$WORK/kheaders
    if [ "$(cat "$khdr/.from" 2>/dev/null || true)" != "$arch_dir" ]; then
        rm -rf "$khdr"
        mkdir -p "$khdr"
        cp -as "$common_dir/." "$khdr/"
        cp -as --remove-destination "$arch_dir/." "$khdr/"
        echo "$arch_dir" >"$khdr/.from"
    fi
    export BCC_KERNEL_SOURCE=$khdr
fi

# --- helpers ------------------------------------------------------------------------------
mkdir -p "$WORK"
musl-gcc -O2 -static -Wall -Wextra -o "$WORK/syscall_loop" bench/syscall_loop.c
gcc -O2 -Wall -Wextra -o "$WORK/empty_rawtp" bench/empty_rawtp.c

# --- state to restore ---------------------------------------------------------------------
stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled)
TRACEFS=/sys/kernel/tracing
mounted_tracefs=0
if [ ! -e $TRACEFS/trace_pipe ]; then
    if [ -e /sys/kernel/debug/tracing/trace_pipe ]; then
        TRACEFS=/sys/kernel/debug/tracing
    else
        mount -t tracefs tracefs $TRACEFS
        mounted_tracefs=1
    fi
fi
export BENCH_TRACEFS=$TRACEFS
# Output files of the storms are large: tmpfs when there is room, so the disk is not measured.
if [ -d /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt $((4 * 1024 * 1024)) ]; then
    SCRATCH=$(mktemp -d /dev/shm/tailcall-bench.XXXXXX)
else
    SCRATCH=$(mktemp -d "$WORK/scratch.XXXXXX")
fi
export BENCH_SCRATCH=$SCRATCH

py_pid=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # The driver first: it stops its tracers itself (SIGTERM -> its finally), give it time.
    if [ -n "$py_pid" ] && kill -0 "$py_pid" 2>/dev/null; then
        kill -TERM "$py_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$py_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$py_pid" 2>/dev/null || true
    fi
    # Processes bench.py started (it records each pid as it spawns it), if still there.
    if [ -f "$SCRATCH/pids" ]; then
        local pid
        while read -r pid; do
            [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
        done <"$SCRATCH/pids"
        sleep 0.5
        while read -r pid; do
            [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        done <"$SCRATCH/pids"
    fi
    echo "$stats_before" >/proc/sys/kernel/bpf_stats_enabled || true
    if [ "$mounted_tracefs" = 1 ]; then
        umount $TRACEFS 2>/dev/null || say "tracefs still busy; left mounted at $TRACEFS"
    fi
    rm -rf "$SCRATCH"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "logger $BENCH_BIN; scratch $SCRATCH; bcc headers ${BCC_KERNEL_SOURCE:-/lib/modules}"
# In the background and waited for, so that a signal to this script runs the trap at once
# (bash defers traps until a foreground child exits).
/usr/bin/python3 bench/bench.py &
py_pid=$!
wait "$py_pid"
