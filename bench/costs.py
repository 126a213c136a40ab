# SPDX-License-Identifier: Apache-2.0
"""Sections 1 and 2: in-kernel cost per run (kernel.bpf_stats_enabled=1, run_time_ns/run_cnt
deltas of the tracer's programs) and added cost per call seen by the traced program
(bpf_stats off, ns per call), for an ignored syscall, the logged one and execve. Also the
cost sessions of section 5 (`--args`): a syscall with numeric arguments and openat of a
fixed path, with and without --args, next to the empty program and two reference programs
(the pt_regs copy alone, and with one bounded string read). The `tail-cgroup` session
filters with `--cgroup` instead of `--pid` (the traced program runs in a cgroup of its own):
its background runs are `--cgroup` rejections, to set beside the `--pid` rejections of
`tail`."""
import os
import time

from context import ARGS_PATH, ARGS_SYSCALLS, EXEC_EXTRA_SYSCALLS, N_ARGS, N_EXEC, N_IGNORED, N_LOGGED, \
    STRING_SIZE
from peers import logged_args
from processes import fd_progs, prog_names, remove_files, set_stats
from tracers import Server, Tracer, delta, med

PHASES = ("ignored", "logged", "execve")
# The cgroup (under the cgroup2 mount) the traced program runs in for `--cgroup` sessions.
BENCH_CGROUP = "tailcall-logger-bench"
ARGS_PHASES = ("numeric", "path")       # section 5: the syscalls of ARGS_SYSCALLS
# "timer": a call our tail dispatcher hands to another program (the timer handler), where
# "logged" (getppid) is logged by the dispatcher itself, as in the original example.
TIMER_PHASE = ("timer",)
CALLS = {"ignored": N_IGNORED, "logged": N_LOGGED, "timer": N_LOGGED, "execve": N_EXEC, "numeric": N_ARGS,
         "path": N_ARGS}
SESSIONS = (
    # label, kind, extra args, what the non-execve syscalls of an exec iteration cost, phases
    ("none", "none", (), None, PHASES + ARGS_PHASES + TIMER_PHASE),
    ("empty", "empty", (), "ignored", PHASES + ARGS_PHASES + TIMER_PHASE),
    # References for --args: one bpf_probe_read_kernel of pt_regs, and that plus one
    # bpf_probe_read_user_str of openat's path (bench/empty_rawtp.c).
    ("empty-regs", "empty", ("regs",), None, ARGS_PHASES),
    ("empty-str", "empty", ("str", str(STRING_SIZE)), None, ARGS_PHASES),
    ("tail", "ours", ("--dispatch", "tail"), "logged", PHASES + ARGS_PHASES + TIMER_PHASE),
    ("tail-args", "ours", ("--dispatch", "tail", "--args", "--string-size", str(STRING_SIZE)), None,
     ("ignored", "logged") + ARGS_PHASES),
    ("inline", "ours", ("--dispatch", "inline"), "logged", PHASES + TIMER_PHASE),
    ("tail-skip-others", "ours", ("--dispatch", "tail", "--skip-others"), "ignored", PHASES),
    ("tail-cgroup", "ours", ("--dispatch", "tail", "--cgroup", "/" + BENCH_CGROUP), None, ("ignored", "logged")),
    # Section 6 (--results, --count): two programs per syscall (enter and exit), next to the
    # empty program attached to both tracepoints.
    ("empty-pair", "empty", ("pair",), None, ("ignored", "logged")),
    ("tail-results", "ours", ("--dispatch", "tail", "--results"), None, ("ignored", "logged")),
    ("tail-count", "ours", ("--dispatch", "tail", "--count"), None, ("ignored", "logged")),
    ("bpftrace", "bpftrace", (), "logged", PHASES),
    ("bcc", "bcc", (), "logged", PHASES),
)


def measure(ctx):
    """Every session of SESSIONS, ROUNDS times: (summary by label, the raw rounds)."""
    rounds = []
    for rnd in range(ctx.cfg.rounds):
        for label, kind, extra, _, phases in SESSIONS:
            if kind == "empty" and extra and extra[0] != "pair" and os.uname().machine != "x86_64":
                continue  # the reference programs know x86_64's pt_regs only
            r = cost_session(ctx, label, kind, extra, rnd, phases)
            rounds.append(r)
            ctx.log(f"  round {rnd} {label}: " + ", ".join(
                f"{syscall_of(sc, ctx.logged)} {med([s['ns_per_call'] for s in r['stats_off'][sc]]):.0f} ns/call"
                for sc in phases if sc != "execve"))
    return summarize_costs(rounds), rounds


def syscall_of(phase, logged):
    return {"ignored": "uname", "logged": logged, "timer": "timer_gettime", **ARGS_SYSCALLS}.get(phase, phase)


def cgroup2_mount():
    """The cgroup2 mount point from /proc/self/mountinfo, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            before, _, after = line.partition(" - ")
            if after.startswith("cgroup2 "):
                return before.split()[4]
    return None


def enter_bench_cgroup(pid, name=BENCH_CGROUP):
    """Moves `pid` into the cgroup `name` under the cgroup2 mount (made now); returns its directory."""
    mount = cgroup2_mount()
    if mount is None:
        raise RuntimeError("--cgroup sessions need a cgroup2 mount")
    path = os.path.join(mount, name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    return path


def remove_bench_cgroup(path):
    """rmdir once the traced program has gone (it may take a moment to be reaped)."""
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.1)


def cost_session(ctx, label, kind, extra, rnd, phases=PHASES):
    srv = Server(ctx)
    cgroup = enter_bench_cgroup(srv.pid) if "--cgroup" in extra else None
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
    plan = [(mode, sc, CALLS[sc]) for mode in modes for sc in phases]
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
    if cgroup:
        remove_bench_cgroup(cgroup)
    res["hwm_kib"] = tr.hwm_kib
    remove_files(tr.out)
    set_stats(False)
    return res


def runs_per_call(label):
    """Programs run per syscall of the traced program: two where enter and exit are both
    watched."""
    return 2 if label in ("empty-pair", "tail-results", "tail-count") else 1


def per_event(samples, bg_ns, extra_per_event_ns=0.0, extra_per_call=0, runs=1):
    """In-kernel ns per traced syscall: the window's program time minus the background runs
    (other processes, filtered out) at their own cost, minus the traced program's other
    syscalls (extra_per_call per call: execve's start-up syscalls) at theirs, over the calls.
    Where our counters say how many runs were admitted (passed the filters), that count
    replaces the assumed number of the traced program's syscalls."""
    vals = []
    for s in samples:
        if not s.get("n"):
            continue
        own = s["n"] * (1 + extra_per_call) * runs
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
    for label, kind, extra, exec_extra, phases in SESSIONS:
        rs = by.get(label, [])
        if not rs:
            continue
        row = {}
        for sc in phases:
            row[f"{sc}_ns_per_call"] = med([s["ns_per_call"] for r in rs for s in r["stats_off"].get(sc, [])])
        if kind != "none":
            bg = med([r["background"]["ns_per_run"] for r in rs])
            row["background_ns_per_run"] = bg
            row["background_runs_per_s"] = med([r["background"]["runs_per_s"] for r in rs])
            for sc in phases:
                if sc != "execve":
                    row[f"{sc}_ns_per_event"] = per_event([s for r in rs for s in r["stats_on"][sc]], bg,
                                                          runs=runs_per_call(label))
            if "execve" in phases:
                extra_cost = row[f"{exec_extra}_ns_per_event"]
                row["execve_ns_per_event"] = per_event([s for r in rs for s in r["stats_on"]["execve"]], bg,
                                                       extra_cost, EXEC_EXTRA_SYSCALLS)
            if "ignored" in phases:
                row["ignored_ns_per_run_raw"] = med([s["time_ns"] / s["runs"] for r in rs
                                                   for s in r["stats_on"]["ignored"] if s["runs"]])
            seen = [s["counters"]["seen"] / s["n"] for r in rs for s in r["stats_on"].get("execve", [])
                    if s.get("counters") and s["n"]]
            if seen:
                row["execve_admitted_per_iteration"] = med(seen)
            drops = [s["counters"]["dropped"] for r in rs for ph in r["stats_on"].values() for s in ph
                     if s.get("counters")]
            if drops:
                row["dropped_during_cost_phases"] = sum(drops)
            faults = [s["counters"]["read_faults"] for r in rs for ph in r["stats_on"].values() for s in ph
                      if s.get("counters")]
            if faults:
                row["read_faults_during_cost_phases"] = sum(faults)
            progs = {}
            for r in rs:
                for pid_, p in r.get("progs", {}).items():
                    progs[p["name"]] = {"verified_insns": p["verified_insns"], "bytes_jited": p["bytes_jited"]}
            row["progs"] = progs
            # Tail-called programs: does the kernel count their runs separately?
            hc = 0
            for r in rs:
                for s in r["stats_on"].get("timer", []):
                    runs = sorted((v[1] for v in s["progs"].values()), reverse=True)
                    hc = max(hc, runs[1] if len(runs) > 1 else 0)
            row["tail_called_progs_counted"] = hc > 0
        row["hwm_kib"] = max([r.get("hwm_kib") or 0 for r in rs]) or None
        out[label] = row
    none = out.get("none", {})
    empty = out.get("empty", {})
    for label, row in out.items():
        for sc in CALLS:
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


def args_summary(costs, logged):
    """Section 5 from the cost sessions: per logged syscall (no arguments, numeric ones, a
    path), our tail dispatcher's in-kernel ns per call without and with --args, their ratio
    and their ratios to the empty program; the estimate of the string read (openat minus
    lseek, both with --args; and that minus the same difference without --args, which is
    the syscalls' own doing) and the reference programs' costs, all from the same run."""
    tail, targs = costs.get("tail", {}), costs.get("tail-args", {})
    empty, regs, strp = costs.get("empty", {}), costs.get("empty-regs", {}), costs.get("empty-str", {})
    none = costs.get("none", {})

    def sub(a, b):
        return a - b if a is not None and b is not None else None

    def div(a, b):
        return a / b if a is not None and b else None

    rows = []
    for phase, what in (("logged", "no arguments: the registers are copied all the same"),
                        ("numeric", "numeric arguments: the registers are copied"),
                        ("path", "a path: the registers, and one bounded bpf_probe_read_user_str")):
        without, with_ = tail.get(f"{phase}_ns_per_event"), targs.get(f"{phase}_ns_per_event")
        floor = empty.get(f"{phase}_ns_per_event")
        rows.append({"phase": phase, "what": what,
                     "without_ns": without, "with_ns": with_, "added_ns": sub(with_, without),
                     "ratio": div(with_, without), "empty_ns": floor,
                     "without_x_empty": div(without, floor), "with_x_empty": div(with_, floor),
                     "none_ns_per_call": none.get(f"{phase}_ns_per_call"),
                     "without_ns_per_call": tail.get(f"{phase}_ns_per_call"),
                     "with_ns_per_call": targs.get(f"{phase}_ns_per_call")})
    by = {r["phase"]: r for r in rows}
    return {
        "syscalls": {"logged": logged, **ARGS_SYSCALLS}, "path": ARGS_PATH, "path_bytes": len(ARGS_PATH) + 1,
        "string_size": STRING_SIZE, "rows": rows,
        # What a path adds over numeric arguments, both with --args: the string read, the
        # capture's bookkeeping and the longer record.
        "string_read_ns": sub(by["path"]["with_ns"], by["numeric"]["with_ns"]),
        # The same without --args: the syscalls' own effect on the same program (presumably
        # caches left colder by openat's path walk than by lseek), not the string read.
        "path_minus_numeric_without_ns": sub(by["path"]["without_ns"], by["numeric"]["without_ns"]),
        # What --args adds to openat beyond what it adds to lseek: the path's own share.
        "string_read_net_ns": sub(by["path"]["added_ns"], by["numeric"]["added_ns"]),
        "reference": {"empty_ns": empty.get("numeric_ns_per_event"),
                      "regs_ns": regs.get("numeric_ns_per_event"),
                      "regs_copy_ns": sub(regs.get("numeric_ns_per_event"), empty.get("numeric_ns_per_event")),
                      "regs_openat_ns": regs.get("path_ns_per_event"),
                      "str_openat_ns": strp.get("path_ns_per_event"),
                      "one_string_read_ns": sub(strp.get("path_ns_per_event"), regs.get("path_ns_per_event"))},
        # An ignored syscall (uname) is not touched by --args: the same cost either way.
        "ignored_without_ns": tail.get("ignored_ns_per_event"), "ignored_with_ns": targs.get("ignored_ns_per_event"),
        "read_faults": targs.get("read_faults_during_cost_phases"),
        "dropped": targs.get("dropped_during_cost_phases"),
    }


def results_summary(costs, logged):
    """Section 6 from the cost sessions: an ignored syscall with --results (two programs)
    against the empty program on both tracepoints; a logged one without --results, with it,
    and with --count."""
    g = lambda lab, k: costs.get(lab, {}).get(k)
    div = lambda a, b: a / b if a and b else None
    ign_res, ign_pair = g("tail-results", "ignored_ns_per_event"), g("empty-pair", "ignored_ns_per_event")
    return {
        "ignored": {"empty_pair_ns": ign_pair, "results_ns": ign_res, "ratio": div(ign_res, ign_pair),
                    "without_ns": g("tail", "ignored_ns_per_event")},
        "logged": {"without_ns": g("tail", "logged_ns_per_event"), "results_ns": g("tail-results", "logged_ns_per_event"),
                   "count_ns": g("tail-count", "logged_ns_per_event"),
                   "empty_pair_ns": g("empty-pair", "logged_ns_per_event"),
                   "results_ratio": div(g("tail-results", "logged_ns_per_event"), g("tail", "logged_ns_per_event")),
                   "count_ratio": div(g("tail-count", "logged_ns_per_event"), g("tail", "logged_ns_per_event"))},
        "calls_per_s": {lab: div(1e9, g(lab, "logged_ns_per_call"))
                        for lab in ("none", "tail", "tail-results", "tail-count")},
        "logged_syscall": logged,
    }
