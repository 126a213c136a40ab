#!/usr/bin/env bash
# `make pipelines-test` (in `make test`): the example configurations of deploy/pipelines/
# are NOT RUN (the OpenTelemetry Collector, Fluent Bit and Vector are not packaged in
# Debian 12); this checks they parse (YAML, TOML) and hang together: every pipeline,
# input or route names a component defined in the same file, and each reads the
# DaemonSet's container logs. Installs python3-yaml if missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. deploy/lib.sh
command -v dpkg-query >/dev/null && [ "$(id -u)" = 0 ] && need_packages python3-yaml
if out=$(/usr/bin/python3 - deploy/pipelines <<'PY' 2>&1
import os, sys, tomllib, yaml
d = sys.argv[1]
o = yaml.safe_load(open(os.path.join(d, "otelcol.yaml")))
p = o["service"]["pipelines"]["logs/tailcall-logger"]
for kind in ("receivers", "processors", "exporters"):
    for name in p[kind]:
        assert name in o[kind], f"otelcol: {kind} {name} not defined"
for name in o["service"]["extensions"]:
    assert name in o["extensions"], f"otelcol: extension {name} not defined"
ops = o["receivers"]["filelog/tailcall-logger"]["operators"]
ids = {op.get("id", op["type"]) for op in ops}
for op in ops:
    outs = [op["output"]] if "output" in op else []
    outs += [r["output"] for r in op.get("routes", [])] + ([op["default"]] if "default" in op else [])
    for out in outs:
        assert out in ids, f"otelcol: operator output {out} not defined"
assert "/var/log/pods/tailcall-logger_" in o["receivers"]["filelog/tailcall-logger"]["include"][0]
print("otelcol.yaml ok")
f = yaml.safe_load(open(os.path.join(d, "fluent-bit.yaml")))
tags = {i["tag"] for i in f["pipeline"]["inputs"]}
for section in ("filters", "outputs"):
    for x in f["pipeline"][section]:
        assert x["match"] in tags, f"fluent-bit: {section} match {x['match']} has no input"
assert "/var/log/pods/tailcall-logger_" in f["pipeline"]["inputs"][0]["path"]
print("fluent-bit.yaml ok")
v = tomllib.load(open(os.path.join(d, "vector.toml"), "rb"))
defined = set(v["sources"]) | set(v["transforms"])
for section in ("transforms", "sinks"):
    for name, c in v[section].items():
        for i in c["inputs"]:
            assert i in defined, f"vector: {section}.{name} input {i} not defined"
assert v["sources"]["tailcall_logger"]["extra_label_selector"] == "app.kubernetes.io/name=tailcall-logger"
print("vector.toml ok")
PY
); then
  pass "example pipelines parse and hang together (not run): $(tr '\n' ' ' <<<"$out")"
else
  fail "example pipelines: $out"
fi
finish
