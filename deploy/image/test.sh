#!/usr/bin/env bash
# `make image-test` (in `make test`; as root): the OCI archive from `make image`, loaded
# into podman and run as the DaemonSet runs it: the capabilities and the seccomp profile of
# deploy/kubernetes/ (not --privileged), host PID namespace, /sys/kernel/btf, /sys/fs/cgroup
# and tracefs mounted read-only, read-only root, no network. Checks:
#   - the labels and the size (5 MiB at most, unpacked);
#   - the readinessProbe command (`tailcall-logger probe`) exits 0 in the container;
#   - an exec made on the host is logged with the host's pid and the exact filename, and the
#     summary on SIGTERM has nothing lost;
#   - under podman's default seccomp profile (bpf() answers EPERM) the logger and `probe`
#     exit 3 with the permission message, not a kernel-feature one.
# Installs podman, runc and jq if missing. Prints PASS/FAIL per check; not root, or a
# missing piece: SKIPPED, a failure with TAILCALL_LOGGER_REQUIRE_BPF=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. deploy/lib.sh
require_root
need_packages podman runc jq

version=$(cargo_version)
image=localhost/tailcall-logger:$version
archive=target/image/tailcall-logger-$version.oci.tar
[ -f "$archive" ] || { echo "image-test: $archive is missing (make image)" >&2; exit 2; }
manifest=deploy/kubernetes/daemonset.yaml
profile=deploy/kubernetes/tailcall-logger-seccomp.json

scratch=$(mktemp -d /tmp/tailcall-logger-imagetest.XXXXXX)
name=tailcall-logger-imagetest-$$
tracefs=
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  [ -n "$tracefs" ] && umount "$tracefs" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "kept $scratch" || rm -rf "$scratch"
}
trap cleanup EXIT
podman_conf "$scratch"

# The image under test is the archive's, not whatever podman had under that name.
podman rmi -f "$image" >/dev/null 2>&1 || true
podman load --quiet -i "$archive" >/dev/null
if podman image exists "$image"; then pass "archive loads as $image"; else fail "archive does not load as $image"; finish; exit 1; fi

labels=$(podman image inspect --format '{{json .Labels}}' "$image")
if jq -e --arg v "$version" '."org.opencontainers.image.version" == $v
    and (."org.opencontainers.image.source" | length > 0)
    and ."org.opencontainers.image.licenses" == "Apache-2.0"' <<<"$labels" >/dev/null; then
  pass "OCI labels: version $version, source, licenses"
else
  fail "OCI labels: $labels"
fi
size=$(podman image inspect --format '{{.Size}}' "$image")
if [ "$size" -le 5242880 ]; then pass "image size $size bytes (archive $(stat -c %s "$archive"))"; else fail "image size $size bytes > 5 MiB"; fi

# The DaemonSet's capabilities, read from the manifest. CAP_SYS_RESOURCE only when this
# machine's bounding set has it (podman cannot grant what it does not hold).
caps=$(sed -n 's/^ *add: \[\(.*\)\].*/\1/p' "$manifest" | tr -d '" ')
[ -n "$caps" ] || { fail "no capabilities found in $manifest"; finish; exit 1; }
bnd=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
if [ $(( (16#$bnd >> 24) & 1 )) = 0 ]; then
  caps=$(tr ',' '\n' <<<"$caps" | grep -vx SYS_RESOURCE | paste -sd, -)
  note "CAP_SYS_RESOURCE is not in this machine's bounding set: running with $caps"
fi

# tracefs read-only: the host's, else a private mount of it (the host's mounts unchanged).
if mountpoint -q /sys/kernel/tracing; then
  tracing=/sys/kernel/tracing
else
  mkdir "$scratch/tracefs"
  mount -t tracefs tracefs "$scratch/tracefs" || cannot_run "cannot mount tracefs"
  tracefs=$scratch/tracefs tracing=$tracefs
fi
[ -e /sys/kernel/btf/vmlinux ] || cannot_run "no /sys/kernel/btf/vmlinux on this kernel"

run_opts=(--cap-drop=all --cap-add="$caps" --security-opt no-new-privileges
  --pid=host --network=none --read-only
  -v /sys/kernel/btf:/sys/kernel/btf:ro -v /sys/fs/cgroup:/sys/fs/cgroup:ro
  -v "$tracing":/sys/kernel/tracing:ro)

# 1. The DaemonSet's way: its seccomp profile; an exec on the host, logged with host pids.
podman run --name "$name" "${run_opts[@]}" --security-opt seccomp="$profile" \
  "$image" --json --skip-others >"$scratch/out.jsonl" 2>"$scratch/err" &
runner=$!
# q FILTER [jq options]: the complete records of out.jsonl through FILTER (the line being
# written may be partial: it is skipped, not a parse error).
q() { local f=$1; shift; jq -c -R "$@" "fromjson? | $f" "$scratch/out.jsonl"; }
has_start() { [ -n "$(q 'select(.type == "start")')" ]; }
if wait_for 30 has_start; then
  pass "starts under the DaemonSet's capabilities and seccomp profile ($(q 'select(.type == "start") | .plan | "\(.dispatch) \(.transport) \(.btf)"' -r))"
else
  fail "no start record in 30 s: $(tail -c 400 "$scratch/err")"
fi
cpid=$(podman inspect --format '{{.State.Pid}}' "$name" 2>/dev/null || echo none)
if [ "$(q 'select(.type == "start") | .pid')" = "$cpid" ]; then
  pass "start record's pid $cpid is the container's host pid"
else
  fail "start record's pid is not the host pid $cpid"
fi
cp /bin/true "$scratch/tl-image-mark"
"$scratch/tl-image-mark" marker-arg &
mark=$!
wait "$mark"
match() { q 'select(.type == "syscall" and .filename == $f)' --arg f "$scratch/tl-image-mark"; }
matched() { [ -n "$(match)" ]; }
if wait_for 10 matched; then
  rec=$(match | head -n 1)
  if jq -e --argjson p "$mark" --arg f "$scratch/tl-image-mark" \
      '.pid == $p and .filename == $f and .argv == [$f, "marker-arg"] and .handler == "exec"' \
      <<<"$rec" >/dev/null; then
    pass "host exec logged: pid $mark, filename $scratch/tl-image-mark"
  else
    fail "host exec record differs (expected pid $mark): $rec"
  fi
else
  fail "no record of the host exec of $scratch/tl-image-mark (pid $mark)"
fi
# The DaemonSet's readinessProbe command, in the running container (same profile, caps).
rc=0
podman exec "$name" /usr/bin/tailcall-logger probe >"$scratch/ready" 2>&1 || rc=$?
if [ "$rc" = 0 ]; then
  pass "readiness command (tailcall-logger probe) exits 0 in the running container"
else
  fail "readiness command exit $rc: $(tail -n 2 "$scratch/ready")"
fi
mem=$(podman stats --no-stream --format '{{.MemUsage}}' "$name" 2>/dev/null | head -n 1 || true)
[ -n "$mem" ] && note "container memory (cgroup, maps included on 5.11+): $mem"
podman stop -t 10 "$name" >/dev/null
rc=0; wait "$runner" || rc=$?
if [ "$rc" = 0 ] && [ "$(q 'select(.type == "summary") | .lost == 0 and .delivered > 0')" = true ]; then
  pass "SIGTERM: exit 0, summary with delivered > 0 and lost 0"
else
  fail "SIGTERM: exit $rc, summary: $(grep '"summary"' "$scratch/out.jsonl" || echo none)"
fi
podman rm -f -t 0 "$name" >/dev/null 2>&1 || true

# 2. podman's default seccomp profile: a permission problem, exit 3, one line that says so.
rc=0
podman run --rm "${run_opts[@]}" "$image" --json >"$scratch/out2" 2>"$scratch/err2" || rc=$?
msg=$(cat "$scratch/err2")
if [ "$rc" = 3 ] && grep -q '^tailcall-logger: bpf() is not permitted (EPERM' <<<"$msg" \
    && grep -q 'seccomp profile must allow bpf and perf_event_open' <<<"$msg" \
    && ! grep -qi 'ring buffer\|perf buffer' <<<"$msg" && [ "$(wc -l <<<"$msg")" = 1 ]; then
  pass "default seccomp profile: exit 3, \"$msg\""
else
  fail "default seccomp profile: exit $rc, stderr: $msg"
fi
rc=0
podman run --rm "${run_opts[@]}" "$image" probe --json >"$scratch/probe.json" 2>/dev/null || rc=$?
if [ "$rc" = 3 ] && jq -e '.can_run == false and .privileges.bpf_call == "EPERM"
    and (.reason | startswith("bpf() is not permitted")) and .fallbacks == []
    and .features.ringbuf == null' "$scratch/probe.json" >/dev/null; then
  pass "default seccomp profile: probe exits 3, bpf_call EPERM, no fallback taken"
else
  fail "default seccomp profile: probe exit $rc: $(head -c 600 "$scratch/probe.json")"
fi
finish
