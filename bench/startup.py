# SPDX-License-Identifier: Apache-2.0
"""Section 4: startup and memory. exec -> attached for each tracer (and, for ours, exec ->
start record), peak RSS split into own memory and mapped BPF maps, and what our startup is
made of (each BPF_PROG_LOAD under strace -T)."""
import os
import re
import shutil
import subprocess
import time

from processes import read_text, remove_files, rss_parts_kib, set_stats, vm_hwm_kib
from tracers import Server, Tracer, med

# label, kind, extra args
STARTUPS = (("ours (tail, ringbuf)", "ours", ("--dispatch", "tail")),
            ("ours (auto)", "ours", ()),
            ("ours (inline)", "ours", ("--dispatch", "inline")),
            ("empty program", "empty", ()),
            ("bpftrace", "bpftrace", ()),
            ("bcc", "bcc", ()))


def startups(ctx):
    res = {}
    srv = Server(ctx)
    n_runs = ctx.cfg.startup_runs
    for label, kind, extra in STARTUPS:
        runs = []
        for i in range(n_runs if kind in ("ours", "empty") else max(2, n_runs - 2)):
            ctx.wait_quiet(f"startup {label}")
            tr = Tracer(ctx, kind, re.sub(r"\W+", "-", label), extra, out_name=f"startup-{kind}-{i}.out")
            tr.start(srv.pid)
            time.sleep(0.2)
            rss = vm_hwm_kib(tr.pid)
            parts = rss_parts_kib(tr.pid)
            tr.stop()
            runs.append({"attach_ms": tr.attach_ms, "start_record_ms": tr.start_record_ms,
                         "startup_ms": (tr.start_record or {}).get("startup_ms"), "hwm_kib": rss, "rss": parts,
                         "plan": (tr.start_record or {}).get("plan")})
            remove_files(tr.out, tr.err)
        res[label] = {"runs": runs,
                      "attach_ms": med([r["attach_ms"] for r in runs]),
                      "start_record_ms": med([r["start_record_ms"] for r in runs]),
                      "startup_ms": med([r["startup_ms"] for r in runs]),
                      "hwm_kib": max([r["hwm_kib"] or 0 for r in runs]) or None,
                      "rss": runs[-1]["rss"]}
        ctx.log(f"  {label}: exec->attached {res[label]['attach_ms']:.1f} ms")
    srv.close()
    set_stats(False)
    return res


def bpf_load_times(ctx):
    """Wall time of each BPF_PROG_LOAD of one logger start (strace -T): what startup is made of."""
    if not shutil.which("strace"):
        return None
    cfg = ctx.cfg
    srv = Server(ctx)
    trace = os.path.join(cfg.scratch, "strace.txt")
    out = os.path.join(cfg.scratch, "strace.out")
    p = ctx.spawn(["strace", "-f", "-T", "-e", "trace=bpf", "-s", "64", "-o", trace,
                   cfg.bin, "--json", "--pid", str(srv.pid), "--output", out, "--duration", "1", "--dispatch", "tail"],
                  cpu=cfg.tracer_cpu, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx.procs.wait(p, 60)
    srv.close()
    loads = []
    total = 0.0
    for line in read_text(trace).splitlines():
        t = re.search(r"<([0-9.]+)>\s*$", line)
        if not t:
            continue
        total += float(t.group(1))
        if "BPF_PROG_LOAD" in line:
            name = re.search(r'prog_name="([^"]*)"', line)
            loads.append({"prog": name.group(1) if name else "?", "ms": float(t.group(1)) * 1000})
    remove_files(trace, out)
    return {"prog_loads": loads, "bpf_syscalls_ms": total * 1000}
