#!/usr/bin/env bash
# `make rsyslog-test` (in `make test`; as root, about a minute): the shipping path of
# deploy/rsyslog/ end to end, on this machine.
#   logger --json --output FILE (as the systemd unit runs it)
#     -> edge rsyslog (edge.conf: imfile, omrelp, disk-assisted queue), network namespace A
#     -> veth -> central rsyslog (central.conf: imrelp, a file per host), network namespace B
# The configurations are the shipped files with only their paths and the collector's
# address rewritten (sed, below). Load: bursts of execs of a marker binary from parallel
# loops, on a small ring buffer (--ringbuf-bytes 65536), so the logger may lose records and
# write `lost` records. The central rsyslog is stopped after the first third of the load and
# started again after the second: the edge's queue holds what it cannot send. Then the
# logger is stopped (SIGTERM: its summary record) and the test waits for the central file.
# Checks: every line the logger wrote (start, syscall, lost, summary records) arrives
# byte for byte; no line arrives that the logger did not write; duplicates (RELP resends
# what was not acknowledged when the connection broke) are counted and reported, not
# failed; the summary's `lost` equals the sum of the `lost` records, at the central side.
# Environment: BIN (the static logger). Installs rsyslog, rsyslog-relp, iproute2, jq.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. deploy/lib.sh
require_root
bin=${BIN:-$top/target/x86_64-unknown-linux-musl/release/tailcall-logger}
[ -x "$bin" ] || { echo "rsyslog-test: $bin is missing (make build)" >&2; exit 2; }
need_packages rsyslog rsyslog-relp iproute2 jq
"$bin" probe >/dev/null 2>&1 || cannot_run "the logger cannot run here: $("$bin" probe 2>&1 | tail -n 1)"

scratch=$(mktemp -d /tmp/tailcall-logger-rsyslogtest.XXXXXX)
chmod 755 "$scratch"
tag=$$
edge_ns=tl-edge-$tag central_ns=tl-central-$tag
net=10.213.$((tag % 250))
logger_pid=
cleanup() {
  [ -n "$logger_pid" ] && kill "$logger_pid" 2>/dev/null || true
  for p in "$scratch"/*.pid; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
  done
  sleep 0.3
  ip netns del "$edge_ns" 2>/dev/null || true
  ip netns del "$central_ns" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "kept $scratch" || rm -rf "$scratch"
}
trap cleanup EXIT

# Two network namespaces joined by a veth pair: the edge at .1, the central side at .2.
ip netns add "$edge_ns"
ip netns add "$central_ns"
ip link add "tle$tag" type veth peer name "tlc$tag"
ip link set "tle$tag" netns "$edge_ns"
ip link set "tlc$tag" netns "$central_ns"
ip -n "$edge_ns" addr add "$net.1/24" dev "tle$tag"
ip -n "$central_ns" addr add "$net.2/24" dev "tlc$tag"
for ns in "$edge_ns" "$central_ns"; do ip -n "$ns" link set lo up; done
ip -n "$edge_ns" link set "tle$tag" up
ip -n "$central_ns" link set "tlc$tag" up

mkdir -p "$scratch"/{log,central,edge-spool,central-spool}
events=$scratch/log/events.jsonl
{ echo "global(workDirectory=\"$scratch/edge-spool\")"
  sed -e "s|/var/log/tailcall-logger/events.jsonl|$events|" -e "s|central.example|$net.2|" \
    deploy/rsyslog/edge.conf; } >"$scratch/edge.conf"
{ echo "global(workDirectory=\"$scratch/central-spool\")"
  sed -e "s|/var/log/tailcall-logger-central|$scratch/central|" deploy/rsyslog/central.conf
} >"$scratch/central.conf"
for c in edge central; do
  rsyslogd -N1 -f "$scratch/$c.conf" >"$scratch/$c.check" 2>&1 \
    && pass "rsyslogd -N1 accepts $c.conf" || fail "rsyslogd -N1 $c.conf: $(tail -n 3 "$scratch/$c.check")"
done

# rsyslogd in the foreground (-n) as our child, so stopping it can wait for its exit.
start_rsyslog() { # NAME NETNS
  ip netns exec "$2" rsyslogd -n -f "$scratch/$1.conf" -i "$scratch/$1.rspid" >>"$scratch/$1.out" 2>&1 &
  echo $! >"$scratch/$1.pid"
}
stop_rsyslog() { # NAME: SIGTERM, and its exit
  local pid
  pid=$(cat "$scratch/$1.pid")
  kill "$pid"
  wait "$pid" || true
  rm -f "$scratch/$1.pid"
}
listening() { ip netns exec "$central_ns" ss -Hltn 'sport = :2514' | grep -q 2514; }
start_rsyslog central "$central_ns"
wait_for 10 listening || { fail "central rsyslog does not listen on 2514: $(cat "$scratch/central.out")"; finish; exit 1; }
start_rsyslog edge "$edge_ns"

"$bin" --json --skip-others --ringbuf-bytes 65536 --output "$events" 2>"$scratch/logger.err" &
logger_pid=$!
wait_for 10 grep -q '"type":"start"' "$events" || { fail "logger did not start: $(cat "$scratch/logger.err")"; finish; exit 1; }

cp /bin/true "$scratch/tl-ship-mark"
# burst PHASE: 4 parallel loops of 250 execs each, argv naming phase, loop and index.
burst() {
  local k pids=()
  for k in 1 2 3 4; do
    ( for i in $(seq 250); do "$scratch/tl-ship-mark" "$1-$k-$i"; done ) &
    pids+=($!)
  done
  wait "${pids[@]}"
}
central_file() { find "$scratch/central" -name events.jsonl -print -quit; }
has_central_file() { [ -n "$(central_file)" ]; }
t0=$(date +%s)
burst one
wait_for 20 has_central_file || true
stop_rsyslog central
burst two
sleep 2
held=$(( $(wc -l <"$events") - $(wc -l <"$(central_file)") ))
start_rsyslog central "$central_ns"
burst three
kill -TERM "$logger_pid"
rc=0; wait "$logger_pid" || rc=$?
logger_pid=
[ "$rc" = 0 ] && pass "logger exits 0 on SIGTERM" || fail "logger exit $rc: $(cat "$scratch/logger.err")"

local_lines=$(wc -l <"$events")
arrived() { f=$(central_file); [ -n "$f" ] && [ "$(sort -u "$f" | wc -l)" -ge "$(sort -u "$events" | wc -l)" ]; }
wait_for 90 arrived || true
f=$(central_file)
[ -n "$f" ] || { fail "nothing arrived under $scratch/central"; finish; exit 1; }
central_lines=$(wc -l <"$f")
note "per-host file: ${f#"$scratch"/central/}; $((${EPOCHSECONDS:-$(date +%s)} - t0)) s from the first burst to the last line"
missing=$(comm -23 <(sort -u "$events") <(sort -u "$f") | wc -l)
extra=$(comm -13 <(sort -u "$events") <(sort -u "$f") | wc -l)
dups=$(sort "$f" | uniq -d | wc -l)
dup_lines=$((central_lines - $(sort -u "$f" | wc -l)))
local_dups=$(sort "$events" | uniq -d | wc -l)
summary=$(grep '"type":"summary"' "$events" | tail -n 1)
delivered=$(jq -r .delivered <<<"$summary")
lost=$(jq -r .lost <<<"$summary")
marks=$(grep -c "\"filename\":\"$scratch/tl-ship-mark\"" "$events" || true)
if [ "$held" -ge 1000 ]; then
  pass "while the central rsyslog was down, $held lines waited in the edge's queue"
else
  fail "only $held lines waited while the central rsyslog was down (expected the 1000 of the second burst)"
fi
note "logger: $local_lines lines ($marks marker execs of 3000, delivered $delivered, lost $lost); central: $central_lines lines, $dup_lines duplicate lines ($dups distinct)"
if [ "$missing" = 0 ] && [ "$local_dups" = 0 ]; then
  pass "every one of the $local_lines lines the logger wrote arrived byte for byte through the central restart"
else
  fail "$missing of $local_lines lines missing at the central side: $(comm -23 <(sort -u "$events") <(sort -u "$f") | head -n 2 | cut -c1-300)"
fi
if [ "$extra" = 0 ]; then
  pass "no line arrived that the logger did not write (duplicates from RELP resends: $dup_lines)"
else
  fail "$extra lines arrived that the logger did not write: $(comm -13 <(sort -u "$events") <(sort -u "$f") | head -n 2 | cut -c1-300)"
fi
central_summary=$(grep '"type":"summary"' "$f" | tail -n 1)
lost_records=$({ grep '"type":"lost"' "$f" || true; } | sort -u | jq -s 'map(.count) | add // 0')
if [ "$central_summary" = "$summary" ] && [ "$(jq .lost <<<"$central_summary")" = "$lost_records" ] \
    && [ "$marks" -ge 1 ]; then
  pass "central side: the summary (delivered $delivered, lost $lost) arrived, and its lost equals the lost records' sum ($lost_records)"
else
  fail "central summary $central_summary vs local $summary; lost records sum $lost_records"
fi
finish
