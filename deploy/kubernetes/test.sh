#!/usr/bin/env bash
# `make kube-test` (in `make test`; as root): deploy/kubernetes/ checked two ways.
# 1. Schemas: every manifest against the Kubernetes schemas of KUBE_VERSION (default from
#    mk/fleet.mk) with kubernetes-validate --strict (unknown fields fail; a mutated copy with
#    a misspelt field must fail too); the kustomization lists every manifest; the seccomp
#    profile parses, allows bpf and perf_event_open, and is the file the DaemonSet names.
# 2. podman kube play (podman 4.3, Debian 12) of a Pod made from the DaemonSet's pod
#    template (restartPolicy Never, so the first exit is kept), with the image from
#    `make image`. What podman 4.3 does not support is
#    asserted as such, so a newer podman that does shows up here:
#    - securityContext.seccompProfile is ignored (the default profile applies); the
#      deprecated annotation seccomp.security.alpha.kubernetes.io/pod: localhost/FILE (FILE
#      directly under --seccomp-profile-root) is honoured, so a second play adds it and
#      checks that runc gets the shipped profile;
#    - hostPID is ignored: the pod has a private pid namespace, where the logger refuses to
#      run (exit 3, "hostPID: true"; it could not leave its own pid out and would log its
#      own writes without end). So kube play cannot run the logger itself; image-test runs
#      the same image with the same capabilities, profile and mounts plus --pid=host;
#    - readinessProbe is not turned into a health check (image-test runs its command);
#    - tolerations, the service account and AppArmor have no podman equivalent.
#    Capabilities, read-only root, memory request/limit, no-new-privileges and the three
#    read-only mounts are applied, and checked.
# kubernetes-validate (pinned) goes into a venv under target/; podman, runc, jq and
# python3-venv are installed if missing. Not root, or a missing piece: SKIPPED, a failure
# with TAILCALL_LOGGER_REQUIRE_BPF=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. deploy/lib.sh
kube_version=${KUBE_VERSION:-1.37.0}
validate_version=1.37.0
require_root
need_packages python3-venv podman runc jq
dir=deploy/kubernetes
venv=target/kube-venv
if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$validate_version"; then
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q "kubernetes-validate==$validate_version" \
    || cannot_run "pip install kubernetes-validate==$validate_version failed"
fi
py=$venv/bin/python

scratch=$(mktemp -d /tmp/tailcall-logger-kubetest.XXXXXX)
cleanup() {
  for p in "$scratch"/pod*.yaml; do
    [ -f "$p" ] && podman kube down "$p" >/dev/null 2>&1 || true
  done
  [ "${KEEP:-0}" = 1 ] && echo "kept $scratch" || rm -rf "$scratch"
}
trap cleanup EXIT
podman_conf "$scratch"

# 1. Schemas.
manifests=("$dir"/namespace.yaml "$dir"/serviceaccount.yaml "$dir"/daemonset.yaml)
if "$venv/bin/kubernetes-validate" --strict --quiet -k "$kube_version" "${manifests[@]}" >"$scratch/kv" 2>&1; then
  pass "kubernetes-validate --strict -k $kube_version: ${manifests[*]##*/}"
else
  fail "kubernetes-validate: $(cat "$scratch/kv")"
fi
sed 's/readOnlyRootFilesystem: true/readOnlyRootFilesytem: true/' "$dir/daemonset.yaml" >"$scratch/misspelt.yaml"
if "$venv/bin/kubernetes-validate" --strict --quiet -k "$kube_version" "$scratch/misspelt.yaml" >/dev/null 2>&1; then
  fail "strict validation accepted a misspelt field (readOnlyRootFilesytem)"
else
  pass "strict validation rejects a misspelt field"
fi
if "$py" - "$dir" <<'PY' >"$scratch/k" 2>&1; then
import json, os, sys, yaml
d = sys.argv[1]
k = yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))
assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and k["kind"] == "Kustomization", k
listed = set(k["resources"])
present = {f for f in os.listdir(d) if f.endswith(".yaml") and f != "kustomization.yaml"}
assert listed == present, f"kustomization lists {sorted(listed)}, directory has {sorted(present)}"
ds = yaml.safe_load(open(os.path.join(d, "daemonset.yaml")))
sc = ds["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]
assert sc["type"] == "Localhost", sc
name = os.path.basename(sc["localhostProfile"])
prof = json.load(open(os.path.join(d, name)))
allowed = {n for r in prof["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
assert {"bpf", "perf_event_open"} <= allowed, "the profile must allow bpf and perf_event_open"
assert prof["defaultAction"] == "SCMP_ACT_ERRNO", prof["defaultAction"]
c = ds["spec"]["template"]["spec"]["containers"][0]
assert c["securityContext"]["privileged"] is False
assert c["readinessProbe"]["exec"]["command"][-1] == "probe"
print(f"{len(allowed)} system calls allowed")
PY
  pass "kustomization lists every manifest; seccomp profile $(cat "$scratch/k")"
else
  fail "kustomization/seccomp profile: $(cat "$scratch/k")"
fi

# 2. podman kube play.
version=$(cargo_version)
image=localhost/tailcall-logger:$version
podman rmi -f "$image" >/dev/null 2>&1 || true
podman load --quiet -i "target/image/tailcall-logger-$version.oci.tar" >/dev/null
grep -q "image: $image\$" "$dir/daemonset.yaml" || fail "daemonset.yaml does not use $image"
mkdir -p "$scratch/seccomp"
cp "$dir/tailcall-logger-seccomp.json" "$scratch/seccomp/"
# pod.yaml: the pod template as a Pod; pod-annotated.yaml: plus the annotation podman reads.
"$py" - "$dir/daemonset.yaml" "$scratch" <<'PY'
import sys, yaml
ds = yaml.safe_load(open(sys.argv[1]))
t = ds["spec"]["template"]
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "tailcall-logger-kubetest", "labels": t["metadata"]["labels"]},
       "spec": t["spec"]}
# A DaemonSet's pods restart always; here the first exit is what is checked.
pod["spec"]["restartPolicy"] = "Never"
yaml.safe_dump(pod, open(sys.argv[2] + "/pod.yaml", "w"), sort_keys=False)
pod["metadata"]["annotations"] = {
    "seccomp.security.alpha.kubernetes.io/pod": "localhost/tailcall-logger-seccomp.json"}
yaml.safe_dump(pod, open(sys.argv[2] + "/pod-annotated.yaml", "w"), sort_keys=False)
PY
ctr=tailcall-logger-kubetest-logger
play() { podman kube play --seccomp-profile-root "$scratch/seccomp" "$1" >"$scratch/play.log" 2>&1; }
said() { [ "$(podman inspect --format '{{.State.Status}}' "$ctr" 2>/dev/null)" = exited ]; }
# The runtime configuration podman handed to runc for the container.
runtime_config() {
  jq "$1" "/var/lib/containers/storage/overlay-containers/$(podman inspect --format '{{.Id}}' "$ctr")/userdata/config.json"
}
# seccomp_is_ours: the container's seccomp filter is the shipped profile (6 rules).
seccomp_is_ours() {
  [ "$(runtime_config '[.linux.seccomp.syscalls[] | select(.action == "SCMP_ACT_ALLOW") | .names] | length')" = \
    "$(jq '.syscalls | length' "$dir/tailcall-logger-seccomp.json")" ]
}
pidns_refusal='running in a pid namespace other than the host.s.*hostPID: true'

for variant in pod pod-annotated; do
  if ! play "$scratch/$variant.yaml"; then
    fail "kube play $variant.yaml: $(cat "$scratch/play.log")"
    continue
  fi
  wait_for 20 said || true
  code=$(podman inspect --format '{{.State.ExitCode}}' "$ctr")
  msg=$(podman logs "$ctr" 2>&1 | grep -m 1 '^tailcall-logger:' | cut -c1-300 || true)
  if [ "$variant" = pod ]; then
    if seccomp_is_ours; then
      pass "kube play as written: securityContext.seccompProfile applied"
    else
      pass "kube play as written: podman $(podman version --format '{{.Client.Version}}') ignores securityContext.seccompProfile (default profile; asserted)"
    fi
  else
    if seccomp_is_ours; then
      pass "kube play with the seccomp annotation: the shipped profile is the container's filter"
    else
      fail "kube play with the seccomp annotation: the shipped profile is not applied"
    fi
    got=$(podman inspect --format '{{json .HostConfig.CapAdd}} ro={{.HostConfig.ReadonlyRootfs}} mem={{.HostConfig.Memory}}/{{.HostConfig.MemoryReservation}} {{json .HostConfig.SecurityOpt}}' "$ctr")
    if grep -q '"CAP_BPF","CAP_PERFMON"' <<<"$got" && grep -q 'ro=true' <<<"$got" \
        && grep -q 'mem=134217728/67108864' <<<"$got" && grep -q no-new-privileges <<<"$got"; then
      pass "kube play applies capabilities, read-only root, memory limit/request, no-new-privileges: $got"
    else
      fail "kube play settings: $got"
    fi
    binds=$(podman inspect --format '{{json .HostConfig.Binds}}' "$ctr")
    if [ "$(jq '[.[] | select(test("^/sys/(kernel/btf|kernel/tracing|fs/cgroup):.*\\bro\\b"))] | length' <<<"$binds")" = 3 ]; then
      pass "kube play mounts btf, tracefs and cgroup read-only"
    else
      fail "kube play mounts: $binds"
    fi
  fi
  # podman 4.3 gives the pod a private pid namespace whatever hostPID says; the logger
  # refuses to run there (exit 3, one line) instead of logging itself without end.
  if [ "$(runtime_config '[.linux.namespaces[] | select(.type == "pid")] | length')" = 0 ]; then
    pass "kube play $variant: hostPID honoured"
  elif [ "$code" = 3 ] && grep -q "$pidns_refusal" <<<"$msg"; then
    pass "kube play $variant: podman ignores hostPID; the logger refuses the private pid namespace: exit 3, \"$msg\""
  else
    fail "kube play $variant: exit $code, \"$msg\""
  fi
  podman kube down "$scratch/$variant.yaml" >/dev/null 2>&1 || true
done
finish
