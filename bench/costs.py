# SPDX-License-Identifier: Apache-2.0
"""Sections 1 and 2: in-kernel cost per run (kernel.bpf_stats_enabled=1, run_time_ns/run_cnt
deltas of the tracer's programs) and added cost per call seen by the traced program
(bpf_stats off, ns per call), for an ignored syscall, the logged one and execve."""
import time

from context import EXEC_EXTRA_SYSCALLS, N_EXEC, N_IGNORED, N_LOGGED
from peers import logged_args
from processes import fd_progs, prog_names, remove_files, set_stats
from tracers import Server, Tracer, delta, med

SESSIONS = (
    # label, kind, extra args, what the non-execve syscalls of an exec iteration cost
    ("none", "none", (), None),
    ("empty", "empty", (), "ignored"),
    ("tail", "ours", ("--dispatch", "tail"), "logged"),
    ("inline", "ours", ("--dispatch", "inline"), "logged"),
    ("tail-skip-others", "ours", ("--dispatch", "tail", "--skip-others"), "ignored"),
    ("bpftrace", "bpftrace", (), "logged"),
    ("bcc", "bcc", (), "logged"),
)
PHASES = ("ignored", "logged", "execve")


def measure(ctx):
    """Every session of SESSIONS, ROUNDS times: (summary by label, the raw rounds)."""
    rounds = []
    for rnd in range(ctx.cfg.rounds):
        for label, kind, extra, _ in SESSIONS:
            r = cost_session(ctx, label, kind, extra, rnd)
            rounds.append(r)
            un = med([s["ns_per_call"] for s in r["stats_off"]["ignored"]])
            gp = med([s["ns_per_call"] for s in r["stats_off"]["logged"]])
            ctx.log(f"  round {rnd} {label}: uname {un:.0f} ns/call, {ctx.logged} {gp:.0f} ns/call")
    return summarize_costs(rounds), rounds


def syscall_of(phase, logged):
    return {"ignored": "uname", "logged": logged}.get(phase, phase)


def cost_session(ctx, label, kind, extra, rnd):
    srv = Server(ctx)
    tr = Tracer(ctx, kind, label, list(extra) + logged_args(kind, ctx.logged), out_name=f"cost-{label}-{rnd}.out")
    ctx.wait_quiet(f"cost {label}")
    tr.start(srv.pid)
    names = prog_names()
    res = {"label": label, "round": rnd, "stats_on": {}, "stats_off": {}}
    if kind != "none":
        res["progs"] = {str(k): {"name": names.get(k, {}).get("name"), "verified_insns": v[2],
                                 "bytes_jited": names.get(k, {}).get("bytes_jited")}
                        for k, v in fd_progs(tr.pid).items()}
        # Background: runs of the tracer's programs for other processes, nothing traced.
        set_stats(True)
        a = tr.snapshot()
        time.sleep(0.5)
        b = tr.snapshot()
        bg = delta(a, b)
        res["background"] = {"runs_per_s": bg["runs"] / bg["dt_s"],
                             "ns_per_run": bg["time_ns"] / bg["runs"] if bg["runs"] > 20 else None}
        modes = ("stats_on", "stats_off")
    else:
        modes = ("stats_off",)
    plan = [(mode, sc, n) for mode in modes for sc, n in zip(PHASES, (N_IGNORED, N_LOGGED, N_EXEC))]
    for mode, sc, n in plan:
        set_stats(mode == "stats_on")
        samples = []
        for _ in range(ctx.cfg.reps):
            a = tr.snapshot()
            r = srv.run(syscall_of(sc, ctx.logged), n)
            b = tr.snapshot()
            s = {"n": r["n"], "ns_per_call": r["ns_per_call"]}
            if mode == "stats_on":
                d = delta(a, b)
                s.update(runs=d["runs"], time_ns=d["time_ns"], dt_s=d["dt_s"],
                         progs={str(k): v for k, v in d["progs"].items()})
                if "counters" in d:
                    s["counters"] = d["counters"]
            samples.append(s)
            if kind == "ours" and sc != "ignored":
                time.sleep(0.25)  # let the reader drain the ring before the next sample
        res[mode][sc] = samples
    tr.stop()
    srv.close()
    res["hwm_kib"] = tr.hwm_kib
    remove_files(tr.out)
    set_stats(False)
    return res


def per_event(samples, bg_ns, extra_per_event_ns=0.0, extra_per_call=0):
    """In-kernel ns per traced syscall: the window's program time minus the background runs
    (other processes, filtered out) at their own cost, minus the traced program's other
    syscalls (extra_per_call per call: execve's start-up syscalls) at theirs, over the calls.
    Where our counters say how many runs were admitted (passed the filters), that count
    replaces the assumed number of the traced program's syscalls."""
    vals = []
    for s in samples:
        if not s.get("n"):
            continue
        own = s["n"] * (1 + extra_per_call)
        extra = s["n"] * extra_per_call
        c = s.get("counters")
        if c and extra_per_call and c.get("seen", 0) >= s["n"]:
            own = c["seen"]
            extra = own - s["n"]
        bg_runs = max(0, s["runs"] - own)
        t = s["time_ns"] - bg_runs * (bg_ns or 0) - extra * extra_per_event_ns
        vals.append(t / s["n"])
    return med(vals)


def summarize_costs(rounds):
    by = {}
    for r in rounds:
        by.setdefault(r["label"], []).append(r)
    out = {}
    for label, kind, extra, exec_extra in SESSIONS:
        rs = by.get(label, [])
        if not rs:
            continue
        row = {}
        for sc in PHASES:
            row[f"{sc}_ns_per_call"] = med([s["ns_per_call"] for r in rs for s in r["stats_off"].get(sc, [])])
        if kind != "none":
            bg = med([r["background"]["ns_per_run"] for r in rs])
            row["background_ns_per_run"] = bg
            row["background_runs_per_s"] = med([r["background"]["runs_per_s"] for r in rs])
            row["ignored_ns_per_event"] = per_event([s for r in rs for s in r["stats_on"]["ignored"]], bg)
            row["logged_ns_per_event"] = per_event([s for r in rs for s in r["stats_on"]["logged"]], bg)
            extra_cost = row[f"{exec_extra}_ns_per_event"]
            row["execve_ns_per_event"] = per_event([s for r in rs for s in r["stats_on"]["execve"]], bg,
                                                   extra_cost, EXEC_EXTRA_SYSCALLS)
            row["ignored_ns_per_run_raw"] = med([s["time_ns"] / s["runs"] for r in rs
                                               for s in r["stats_on"]["ignored"] if s["runs"]])
            seen = [s["counters"]["seen"] / s["n"] for r in rs for s in r["stats_on"]["execve"]
                    if s.get("counters") and s["n"]]
            if seen:
                row["execve_admitted_per_iteration"] = med(seen)
            drops = [s["counters"]["dropped"] for r in rs for ph in r["stats_on"].values() for s in ph
                     if s.get("counters")]
            if drops:
                row["dropped_during_cost_phases"] = sum(drops)
            progs = {}
            for r in rs:
                for pid_, p in r.get("progs", {}).items():
                    progs[p["name"]] = {"verified_insns": p["verified_insns"], "bytes_jited": p["bytes_jited"]}
            row["progs"] = progs
            # Tail-called programs: does the kernel count their runs separately?
            hc = 0
            for r in rs:
                for s in r["stats_on"]["logged"]:
                    runs = sorted((v[1] for v in s["progs"].values()), reverse=True)
                    hc = max(hc, runs[1] if len(runs) > 1 else 0)
            row["tail_called_progs_counted"] = hc > 0
        row["hwm_kib"] = max([r.get("hwm_kib") or 0 for r in rs]) or None
        out[label] = row
    none = out.get("none", {})
    empty = out.get("empty", {})
    for label, row in out.items():
        for sc in PHASES:
            base = none.get(f"{sc}_ns_per_call")
            v = row.get(f"{sc}_ns_per_call")
            if base and v:
                row[f"{sc}_added_ns_per_call"] = v - base
                row[f"{sc}_call_ratio"] = v / base
            e = empty.get(f"{sc}_ns_per_event")
            k = row.get(f"{sc}_ns_per_event")
            if e and k:
                row[f"{sc}_ratio_to_empty"] = k / e
    return out
