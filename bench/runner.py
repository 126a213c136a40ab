# SPDX-License-Identifier: Apache-2.0
"""One whole run, section after section: the run's metadata (machine, commit), which
syscall to log, then costs, storms, startup, the --args figures and the kernel profile;
writes results.json and BENCHMARKS.md."""
import json
import os
import subprocess
import time

import costs
import report
import startup
import storms
from processes import read_text


def machine():
    cpu_model = ""
    for line in read_text("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    ps = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu", "--no-headers"], capture_output=True, text=True)
    busy = []
    for line in ps.stdout.splitlines()[:8]:
        parts = line.split(None, 2)
        if len(parts) == 3 and int(parts[0]) != os.getpid():
            busy.append({"pid": int(parts[0]), "pcpu": float(parts[1]), "args": parts[2]})
    return {"kernel": os.uname().release, "cpus": os.cpu_count(), "cpu_model": cpu_model,
            "loadavg": read_text("/proc/loadavg").split()[:3], "busy_processes": busy}


def git(root, *args):
    try:
        return subprocess.run(["git", "-C", root] + list(args), capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def run(ctx):
    cfg = ctx.cfg
    os.makedirs(cfg.scratch, exist_ok=True)
    os.makedirs(os.path.dirname(cfg.results), exist_ok=True)
    try:
        os.sched_setaffinity(0, {cfg.load_cpu})
    except OSError:
        pass
    R = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": git(cfg.root, "rev-parse", "--short", "HEAD"),
         "dirty": bool(git(cfg.root, "status", "--porcelain", "--", "src", "bpf", "Cargo.toml", "build.rs")),
         "rounds": cfg.rounds, "reps": cfg.reps, "machine": machine(), "storm_seconds": cfg.storm_seconds,
         "cpus": {"tracer": cfg.tracer_cpu, "load": cfg.load_cpu}, "scratch_parent": os.path.dirname(cfg.scratch)}
    if ctx.logged == "auto":
        found = ctx.wait_quiet("start")
        ctx.logged = "getgroups" if found else "getppid"
        if found:
            ctx.log("another tracer is attached to sys_enter: the logged syscall is getgroups, which it ignores")
    R["logged_syscall"] = ctx.logged
    R["foreign_at_start"] = ctx.foreign_seen[:1]
    ctx.log(f"tracers on CPU {cfg.tracer_cpu}, traced program on CPU {cfg.load_cpu}; "
            f"{cfg.rounds} rounds x {cfg.reps} samples")

    ctx.log("1+2: in-kernel cost and added cost per call")
    R["costs"], R["cost_samples"] = costs.measure(ctx)
    R["args"] = costs.args_summary(R["costs"], ctx.logged)
    R["results"] = costs.results_summary(R["costs"], ctx.logged)
    res = R["results"]
    ctx.log(f"  --results: ignored {report.fmt(res['ignored']['results_ns'])} ns vs two empty programs "
            f"{report.fmt(res['ignored']['empty_pair_ns'])} ns ({report.fmt(res['ignored']['ratio'], '.2f')}x)")
    for row in R["args"]["rows"]:
        ctx.log(f"  --args, {costs.syscall_of(row['phase'], ctx.logged)}: {report.fmt(row['without_ns'])} -> "
                f"{report.fmt(row['with_ns'])} ns in the kernel ({report.fmt(row['ratio'], '.2f')}x)")

    ctx.log("3: storms")
    storms.measure(ctx, R)
    ctx.log("3: storm distribution (the JSON storm repeated)")
    R["storm_distribution"] = storms.distribution(ctx)
    ctx.log("3: two producers, one ring vs a ring per CPU")
    R["two_producers"] = storms.two_producers(ctx)
    ctx.log("5: --args, the reader under a storm")
    R["args"]["storms"] = storms.args_storms(ctx)

    ctx.log("4: startup")
    R["startup"] = startup.startups(ctx)
    R["load_times"] = startup.bpf_load_times(ctx)
    ctx.log("kernel profile of a logged syscall")
    R["kernel_profile"] = storms.kernel_profile(ctx)
    st = os.stat(cfg.bin)
    R["binary"] = {"path": os.path.relpath(cfg.bin, cfg.root), "bytes": st.st_size,
                   "file": subprocess.run(["file", "-b", cfg.bin], capture_output=True, text=True).stdout.strip().split(", BuildID")[0]}
    R["foreign"] = ctx.foreign_seen
    R["duration_s"] = time.time() - ctx.t_start
    R["targets"] = report.targets(R)
    with open(cfg.results, "w") as f:
        json.dump(R, f, indent=1)
    write_report(cfg, R)
    ctx.log(f"wrote {os.path.relpath(cfg.results, cfg.root)} and {os.path.relpath(cfg.report, cfg.root)}")
    for t in R["targets"]:
        ctx.log(f"  {'met   ' if t['ok'] else 'MISSED'} {t['target']}: {t['measured']}")


def write_report(cfg, R):
    with open(cfg.report, "w") as f:
        f.write(report.render(R, cfg.analysis))


def rerender(cfg):
    """BENCHMARKS.md again from results.json (after editing bench/analysis.md or the
    report): the verdicts are judged again from the figures."""
    with open(cfg.results) as f:
        R = json.load(f)
    R["targets"] = report.targets(R)
    write_report(cfg, R)
