# SPDX-License-Identifier: Apache-2.0
"""Section 3: delivery under a storm. The traced program makes the logged syscall as fast
as it can (or at a set rate); what each tracer delivers, what it reports lost, whether the
two add up, and what its reader costs. Also the highest rate at which ours loses nothing,
and the in-kernel cost of a logged syscall while the reader is behind, measured (bpf_stats)
and profiled (perf). Section 5: the same storm with --args, for the reader's CPU per record."""
import json
import os
import subprocess
import time

import peers
from context import ARGS_SYSCALLS, STRING_SIZE
from costs import enter_bench_cgroup, remove_bench_cgroup
from processes import count_lines, counters_by_cpu, cpu_ns, grep_lines, perf_report, remove_files, \
    rss_parts_kib, set_stats, vm_hwm_kib
from tracers import Server, Tracer, delta, med

# label, kind, extra args, output format (ours; the peers write text)
STORMS = (("ours", "ours", (), "json"),
          ("ours", "ours", (), "human"),
          ("ours", "ours", ("--transport", "perf"), "json"),
          ("ours", "ours", ("--dispatch", "inline"), "json"),
          ("bpftrace", "bpftrace", (), "text"),
          ("bcc", "bcc", (), "text"))
# Section 5: ours with --args, JSON; the traced program calls these instead of the logged one.
ARGS_STORMS = (ARGS_SYSCALLS["numeric"], ARGS_SYSCALLS["path"])
# The storm distribution: the JSON storm repeated (quick mode: fewer), short storms so that
# ten of them cost about as much as two of the main storms.
DISTRIBUTION_RUNS = 10
DISTRIBUTION_RUNS_QUICK = 3
DISTRIBUTION_SECONDS = 1
# Two producers: repetitions of each ring layout, and the cgroup both traced programs run in
# (ours alone: its name carries the driver's pid, so another bench on the machine, whose
# `--cgroup` sessions use BENCH_CGROUP, is never admitted by our filter nor we by its).
PAIR_REPS = 3
PAIR_REPS_QUICK = 1
PAIR_CGROUP = f"tailcall-logger-bench-pair-{os.getpid()}"


def measure(ctx, R):
    """Fills R["kernel_under_storm"], R["storm_profile"] and R["storms"]."""
    runs = []
    for label, kind, extra, fmt_ in STORMS:
        s = storm(ctx, label, kind, extra, fmt=fmt_ if kind == "ours" else "json")
        s["format"] = fmt_ + (" " + " ".join(extra) if extra else "")
        runs.append(s)
        ctx.log(f"  {label} {s['format']}: generated {s['generated_per_s'] / 1e6:.2f} M/s, delivered "
                f"{s['delivered_per_s'] / 1e6:.2f} M/s ({s['delivered_pct']:.1f}%), lost {s['lost_reported']}, "
                f"exact={s['accounted']}")
    # In-kernel cost of a logged syscall while the reader is behind: short storms with bpf_stats.
    R["kernel_under_storm"] = {}
    for lab, extra in (("tail", ["--dispatch", "tail"]), ("inline", ["--dispatch", "inline"])):
        k = storm(ctx, "ours", "ours", extra, fmt="json", seconds=1, stats=True)
        R["kernel_under_storm"][lab] = {"ns_per_event": k["kernel_ns_per_event"], "generated_per_s": k["generated_per_s"],
                                        "lost": k["lost_reported"]}
        ctx.log(f"  in-kernel under a storm, {lab}: {k['kernel_ns_per_event']:.0f} ns per logged syscall")
    # The reader's profile, in a separate storm so perf does not slow the measured ones.
    p = storm(ctx, "ours", "ours", [], fmt="json", perf_profile=True)
    p["format"] = "json (perf profile)"
    R["storm_profile"] = p
    js = runs[0]
    R["storms"] = {"runs": runs}
    ctx.log("3: highest lossless rate")
    R["storms"]["lossless"] = lossless_search(ctx, js)
    runs[0]["perf_profile"] = p.get("perf_profile")


def distribution(ctx):
    """Section 3's JSON storm repeated DISTRIBUTION_RUNS times: min, median and max of the
    delivered share and rate, so that a run where delivery collapses shows (one storm, or a
    median, would hide it), and whether each run still adds up."""
    cfg = ctx.cfg
    n = DISTRIBUTION_RUNS_QUICK if cfg.quick else DISTRIBUTION_RUNS
    runs = []
    for i in range(n):
        s = storm(ctx, "ours", "ours", (), fmt="json", seconds=DISTRIBUTION_SECONDS)
        runs.append({k: s[k] for k in ("generated", "generated_per_s", "delivered", "delivered_pct",
                                       "delivered_per_s", "lost_reported", "accounted", "drain_s")})
        ctx.log(f"  run {i + 1}/{n}: delivered {s['delivered_pct']:.1f}% ({s['delivered_per_s'] / 1e6:.2f} M/s), "
                f"lost {s['lost_reported']}, exact={s['accounted']}")
    return {"runs": runs, "seconds": DISTRIBUTION_SECONDS, "format": "json",
            "delivered_pct": spread([r["delivered_pct"] for r in runs]),
            "delivered_per_s": spread([r["delivered_per_s"] for r in runs]),
            "generated_per_s": spread([r["generated_per_s"] for r in runs]),
            "all_exact": all(r["accounted"] for r in runs)}


def spread(xs):
    """min, median and max of xs."""
    return {"min": min(xs), "median": med(xs), "max": max(xs)} if xs else None


def two_producers(ctx):
    """Two traced programs, one pinned to each CPU, storm at once and the logger logs both:
    with one ring shared by every CPU, then with a ring per CPU (`--ring-cpus 1`). What the
    rings' layout changes when both producers write at the same time: delivery, and where the
    losses are (per CPU, from our BPF counters; per ring when the rings are per CPU)."""
    cfg = ctx.cfg
    reps = PAIR_REPS_QUICK if cfg.quick else PAIR_REPS
    cpus = os.cpu_count() or 2
    layouts = (("one ring", cpus), ("ring per CPU", 1))
    out = {"cpus": sorted({cfg.tracer_cpu, cfg.load_cpu}), "reader_cpu": cfg.tracer_cpu, "seconds": cfg.storm_seconds,
           "layouts": []}
    for label, ring_cpus in layouts:
        runs = []
        for i in range(reps):
            r = pair_storm(ctx, label, ring_cpus, cfg.storm_seconds)
            runs.append(r)
            ctx.log(f"  {label} (--ring-cpus {ring_cpus}, {r['rings']} ring(s)) {i + 1}/{reps}: generated "
                    f"{r['generated_per_s'] / 1e6:.2f} M/s, delivered {r['delivered_per_s'] / 1e6:.2f} M/s "
                    f"({r['delivered_pct']:.1f}%), lost {r['lost_reported']} (by CPU {r['lost_by_cpu']}), "
                    f"exact={r['accounted']}")
        out["layouts"].append({"label": label, "ring_cpus": ring_cpus, "rings": runs[0]["rings"], "runs": runs,
                               "generated_per_s": med([r["generated_per_s"] for r in runs]),
                               "delivered_per_s": med([r["delivered_per_s"] for r in runs]),
                               "delivered_pct": spread([r["delivered_pct"] for r in runs]),
                               "lost": spread([r["lost_reported"] or 0 for r in runs]),
                               "all_exact": all(r["accounted"] for r in runs)})
    return out


def pair_storm(ctx, label, ring_cpus, seconds):
    """One storm of two traced programs (one per CPU of the run) under one logger with
    `--ring-cpus ring_cpus`. Both are in a cgroup of their own, which the logger filters
    on (one `--pid` admits one process). Per producer: generated, delivered (its records in
    the output) and the drops counted on its CPU, read once both have stopped (drops happen
    at reserve time, so they are final then)."""
    cfg, logged = ctx.cfg, ctx.logged
    srvs = [Server(ctx, cpu=c) for c in (cfg.tracer_cpu, cfg.load_cpu)]
    cgroup = None
    for srv in srvs:
        cgroup = enter_bench_cgroup(srv.pid, PAIR_CGROUP)
    extra = ["--cgroup", "/" + PAIR_CGROUP, "--ring-cpus", str(ring_cpus), "--ignore", "read,write"] + \
        peers.logged_args("ours", logged)
    tr = Tracer(ctx, "ours", f"pair-{ring_cpus}", extra, fmt="json", out_name=f"pair-{ring_cpus}.out")
    try:
        ctx.wait_quiet(f"two producers, {label}", ())
        tr.start(srvs[0].pid)
        set_stats(False)
        t0 = time.perf_counter()
        for srv in srvs:
            srv.request(logged, 10 ** 12, 0, seconds)
        answers = [srv.answer() for srv in srvs]
        t_gen = time.perf_counter()
        by_cpu = counters_by_cpu(tr.pid)
        tr.stop()
        t_end = time.perf_counter()
    finally:
        for srv in srvs:
            srv.close()
        if cgroup:
            remove_bench_cgroup(cgroup)
    producers = []
    for srv, a in zip(srvs, answers):
        producers.append({"cpu": srv.cpu, "generated": a["n"], "generation_s": a["elapsed_ns"] / 1e9,
                          "generated_per_s": a["n"] / (a["elapsed_ns"] / 1e9),
                          "delivered": count_lines(tr.out, f'"pid":{srv.pid},"tid"'),
                          "delivered_logged": count_lines(tr.out, f'"pid":{srv.pid},"tid"', f'"syscall":"{logged}"'),
                          "dropped_on_cpu": (by_cpu or {}).get(srv.cpu, {}).get("dropped")})
    s = tr.summary or {}
    gen = sum(p["generated"] for p in producers)
    delivered = sum(p["delivered"] for p in producers)
    lost = s.get("lost")
    all_records = count_lines(tr.out, '"type":"syscall"')
    res = {"label": label, "ring_cpus": ring_cpus, "rings": ((tr.start_record or {}).get("plan") or {}).get("rings"),
           "producers": producers, "generated": gen, "delivered": delivered, "lost_reported": lost,
           "lost_by_cpu": {str(c): v.get("dropped") for c, v in sorted((by_cpu or {}).items())},
           "other_records": all_records - delivered,
           # From the first request to the end of the slower producer (they start together).
           "generation_s": t_gen - t0, "drain_s": t_end - t_gen,
           "generated_per_s": sum(p["generated_per_s"] for p in producers),
           # The reader's CPU (its rusage, drain included): how much of the CPU it shares it got.
           "reader_cpu_s": tr.cpu_s,
           "summary": s,
           "accounted": (lost is not None and delivered + lost == gen and all_records == delivered
                         and all(p["delivered_logged"] == p["delivered"] for p in producers))}
    res["delivered_pct"] = 100.0 * delivered / gen if gen else None
    res["delivered_per_s"] = delivered / (t_end - t0)
    res["output_bytes"] = os.path.getsize(tr.out) if os.path.exists(tr.out) else 0
    remove_files(tr.out)
    return res


def args_storms(ctx):
    """Section 5: a JSON storm of ours with --args for each syscall of ARGS_STORMS (numeric
    arguments; a path): delivery, losses and the reader's CPU per record."""
    runs = []
    for sc in ARGS_STORMS:
        extra = ("--args", "--string-size", str(STRING_SIZE))
        s = storm(ctx, "ours", "ours", extra, fmt="json", syscall=sc)
        s["format"] = "json " + " ".join(extra)
        s["syscall"] = sc
        runs.append(s)
        ctx.log(f"  ours json --args, {sc}: generated {s['generated_per_s'] / 1e6:.2f} M/s, delivered "
                f"{s['delivered_per_s'] / 1e6:.2f} M/s ({s['delivered_pct']:.1f}%), lost {s['lost_reported']}, "
                f"exact={s['accounted']}, reader {s.get('reader_cpu_ns_per_record') or 0:.0f} ns CPU/record")
    return runs


def storm(ctx, label, kind, extra=(), fmt="json", rate=0, seconds=None, perf_profile=False, stats=False,
          syscall=None):
    """The traced program makes the logged syscall (or `syscall`, which the tracer must log)
    as fast as it can (or at `rate`) for `seconds`; every call is logged. read and write (the
    traced program's request/answer) are ignored so that the calls made while the tracer is
    attached are exactly the n logged."""
    cfg, logged = ctx.cfg, ctx.logged
    traced = syscall or logged
    seconds = cfg.storm_seconds if seconds is None else seconds
    srv = Server(ctx)
    extra = list(extra) + peers.logged_args(kind, logged)
    if kind == "ours":
        extra = extra + ["--ignore", "read,write"]
    tr = Tracer(ctx, kind, label, extra, fmt=fmt, out_name=f"storm-{label}.out")
    ctx.wait_quiet(f"storm {label}", ())
    set_stats(False)
    tr.start(srv.pid)
    set_stats(False)
    prof = None
    if perf_profile:
        prof_data = os.path.join(cfg.scratch, f"perf-{label}.data")
        prof = ctx.spawn(["perf", "record", "-q", "-g", "-p", str(tr.pid), "-o", prof_data, "--", "sleep",
                          str(max(1, seconds - 0.5))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    n = int(rate * seconds) if rate else 10 ** 12
    cpu0 = cpu_ns(tr.pid)
    if stats:
        set_stats(True)
        snap0 = tr.snapshot()
    r = srv.run(traced, n, rate, seconds)
    t_gen = time.perf_counter()
    if stats:
        d = delta(snap0, tr.snapshot())
        set_stats(False)
    if prof:
        ctx.procs.wait(prof)
    hwm_during = vm_hwm_kib(tr.pid)
    rss_during = rss_parts_kib(tr.pid)
    tr.stop()
    t_end = time.perf_counter()
    srv.close()
    gen = r["n"]
    res = {"label": label, "format": fmt, "rate_target": rate, "generated": gen,
           "generation_s": r["elapsed_ns"] / 1e9, "generated_per_s": gen / (r["elapsed_ns"] / 1e9),
           "drain_s": t_end - t_gen, "hwm_kib": max(filter(None, [hwm_during, tr.hwm_kib]), default=None),
           "rss": rss_during,
           "reader_cpu_s": tr.cpu_s - cpu0 / 1e9 if tr.cpu_s is not None else None}
    if stats:
        # Runs for other processes are a few hundred a second here: negligible next to the storm.
        res["kernel_ns_per_event"] = d["time_ns"] / r["n"] if r["n"] else None
        res["kernel_runs"] = d["runs"]
    pid = srv.pid
    if kind == "ours":
        s = tr.summary or {}
        if fmt == "json":
            delivered = count_lines(tr.out, f'"pid":{pid},"tid"')
            getppid = count_lines(tr.out, f'"pid":{pid},"tid"', f'"syscall":"{traced}"')
        else:
            delivered = count_lines(tr.out, f"syscall_loop-{pid} ")
            getppid = count_lines(tr.out, f"syscall_loop-{pid} ", f"Another syscall: {traced}")
        lost = s.get("lost")
        res.update(delivered=delivered, delivered_logged=getppid, lost_reported=lost,
                   summary=s, accounted=(lost is not None and delivered + lost == gen and getppid == delivered))
        if fmt == "json":
            res["lost_records_sum"] = sum(json.loads(l).get("count", 0) for l in grep_lines(tr.out, '"type":"lost"'))
    else:
        delivered, lost = peers.storm_delivery(kind, tr.out, tr.err, pid, logged)
        res.update(delivered=delivered, lost_reported=lost, accounted=(delivered + lost == gen))
    res["delivered_pct"] = 100.0 * res["delivered"] / gen if gen else None
    # Throughput of the reader: what it wrote, over the time from the storm's start until
    # it had written everything (generation + drain after the stop).
    res["delivered_per_s"] = res["delivered"] / (res["generation_s"] + res["drain_s"])
    res["output_bytes"] = os.path.getsize(tr.out) if os.path.exists(tr.out) else 0
    # CPU the reader spent per record it wrote, from the storm's start to its exit (drain
    # included): what it can sustain with a core of its own.
    if res["delivered"] and res["reader_cpu_s"] and res["reader_cpu_s"] > 0:
        res["reader_cpu_ns_per_record"] = res["reader_cpu_s"] * 1e9 / res["delivered"]
        res["reader_capacity_per_s"] = 1e9 / res["reader_cpu_ns_per_record"]
    if prof:
        res["perf_profile"] = perf_report(prof_data, 8, sort="dso") + [""] + perf_report(prof_data, 14, sort="sym")
        os.unlink(prof_data)
    remove_files(tr.out)
    return res


def lossless_search(ctx, full):
    """Highest rate (logged calls/s) at which a SEARCH_SECONDS run loses nothing (JSON, ring),
    by bisection on a log scale below the full-speed storm `full`. If the full-speed storm
    lost nothing, the answer is bounded by what the traced program could generate."""
    cfg = ctx.cfg
    trials = []
    storm_rate = full["generated_per_s"]
    if full["lost_reported"] == 0 and full["delivered"] == full["generated"]:
        return {"highest_lossless_per_s": storm_rate, "lowest_lossy_per_s": None, "seconds": cfg.storm_seconds,
                "producer_bound": True, "trials": []}
    lo, hi = 0.0, float(storm_rate)
    rate = min(2_000_000.0, hi * 0.7)
    for _ in range(3 if cfg.quick else 6):
        r = storm(ctx, f"search-{int(rate)}", "ours", fmt="json", rate=int(rate), seconds=cfg.search_seconds)
        ok = r["lost_reported"] == 0 and r["delivered"] == r["generated"]
        achieved = r["generated_per_s"]
        trials.append({"rate": int(rate), "achieved_per_s": achieved, "generated": r["generated"],
                       "delivered": r["delivered"], "lost": r["lost_reported"], "ok": ok,
                       "accounted": r["accounted"]})
        ctx.log(f"  rate {rate / 1e6:.3f} M/s (achieved {achieved / 1e6:.3f}): " +
                ("no loss" if ok else "lost %d" % r["lost_reported"]))
        if ok:
            lo = max(lo, achieved)
        else:
            hi = min(hi, achieved)
        rate = hi / 2 if lo <= 0 else (lo * hi) ** 0.5
        if lo > 0 and hi / lo < 1.1:
            break
    return {"highest_lossless_per_s": lo, "lowest_lossy_per_s": hi, "seconds": cfg.search_seconds,
            "producer_bound": False, "trials": trials}


def kernel_profile(ctx):
    """perf on the traced CPU while a logged syscall runs under our tracer: where the
    in-kernel time of a logged syscall goes (helpers, ring buffer, syscall entry)."""
    srv = Server(ctx)
    tr = Tracer(ctx, "ours", "kprof", ["--dispatch", "tail"] + peers.logged_args("ours", ctx.logged),
                out_name="kprof.out")
    ctx.wait_quiet("kernel profile")
    tr.start(srv.pid)
    set_stats(False)
    data = os.path.join(ctx.cfg.scratch, "perf-kernel.data")
    prof = ctx.spawn(["perf", "record", "-q", "-g", "-p", str(srv.pid), "-o", data, "--", "sleep", "1"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.05)
    srv.run(ctx.logged, 10 ** 9, 0, 1)
    ctx.procs.wait(prof)
    tr.stop()
    srv.close()
    rows = perf_report(data, 30, sort="sym")
    callers = perf_report(data, 40, sort="sym", percent_limit=10, extra=("-G",))
    os.unlink(data)
    remove_files(tr.out)
    return {"flat": rows, "callers": callers}
