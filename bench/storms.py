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
from processes import count_lines, cpu_ns, grep_lines, perf_report, remove_files, rss_parts_kib, set_stats, \
    vm_hwm_kib
from tracers import Server, Tracer, delta

# label, kind, extra args, output format (ours; the peers write text)
STORMS = (("ours", "ours", (), "json"),
          ("ours", "ours", (), "human"),
          ("ours", "ours", ("--transport", "perf"), "json"),
          ("ours", "ours", ("--dispatch", "inline"), "json"),
          ("bpftrace", "bpftrace", (), "text"),
          ("bcc", "bcc", (), "text"))
# Section 5: ours with --args, JSON; the traced program calls these instead of the logged one.
ARGS_STORMS = (ARGS_SYSCALLS["numeric"], ARGS_SYSCALLS["path"])


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
