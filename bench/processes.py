# SPDX-License-Identifier: Apache-2.0
"""Processes of a run (spawned, recorded, stopped) and what the bench reads about them:
/proc (memory, CPU time, BPF programs and maps a process holds), bpftool, output files."""
import glob
import json
import os
import re
import signal
import subprocess

STATS = "/proc/sys/kernel/bpf_stats_enabled"
COUNTERS = ("seen", "emitted", "dropped", "dispatch_miss", "read_faults")


class Children:
    """The processes a run started. Each pid also goes to `pidfile`, so that bench.sh can
    stop what is left if this driver dies."""

    def __init__(self, pidfile):
        self.pidfile = pidfile
        self.live = []

    def spawn(self, argv, cpu=None, **kw):
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu)] + argv
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(argv, **kw)
        self.live.append(p)
        with open(self.pidfile, "a") as f:
            f.write(f"{p.pid}\n")
        return p

    def forget(self, p):
        """p has been reaped by its user."""
        if p in self.live:
            self.live.remove(p)

    def wait(self, p, timeout=None):
        p.wait(timeout)
        self.forget(p)

    def stop(self, p, sig=signal.SIGINT, timeout=30.0):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.forget(p)
        return p.returncode

    def stop_all(self):
        for p in list(self.live):
            try:
                self.stop(p, signal.SIGTERM, 5)
            except Exception:
                pass


def set_stats(on):
    with open(STATS, "w") as f:
        f.write("1" if on else "0")


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def remove_files(*paths):
    for path in paths:
        if os.path.exists(path):
            os.unlink(path)


def vm_hwm_kib(pid):
    m = re.search(r"VmHWM:\s+(\d+) kB", read_text(f"/proc/{pid}/status"))
    return int(m.group(1)) if m else None


def cpu_ns(pid):
    """CPU time the process has used (all threads), ns: /proc/PID/schedstat."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            total += int(read_text(path).split()[0])
        except (IndexError, ValueError):
            pass
    return total


def rss_parts_kib(pid):
    """VmRSS split: RssAnon (the process's own heap and stacks), RssFile (binary, libraries and
    mapped BPF maps such as a ring buffer, which the kernel owns), RssShmem."""
    text = read_text(f"/proc/{pid}/status")
    out = {}
    for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
        m = re.search(k + r":\s+(\d+) kB", text)
        out[k] = int(m.group(1)) if m else None
    maps = 0
    for line in read_text(f"/proc/{pid}/smaps").splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            cur = line.rstrip().endswith("anon_inode:bpf-map")
        elif line.startswith("Rss:") and cur:
            maps += int(line.split()[1])
    out["bpf_maps"] = maps
    return out


def fd_progs(pid):
    """prog_id -> (run_time_ns, run_cnt, verified_insns) of the BPF programs pid holds."""
    progs = {}
    for path in glob.glob(f"/proc/{pid}/fdinfo/*"):
        text = read_text(path)
        if "run_time_ns:" not in text:
            continue
        d = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        try:
            progs[int(d["prog_id"])] = (int(d["run_time_ns"]), int(d["run_cnt"]),
                                        int(d.get("verified_insns", "0") or 0))
        except (KeyError, ValueError):
            pass
    return progs


def fd_counters_map(pid):
    """The id of our per-CPU `counters` map among the maps pid holds, found by its name (its
    value has grown over time; the first five u64 are COUNTERS), or None."""
    for path in glob.glob(f"/proc/{pid}/fdinfo/*"):
        text = read_text(path)
        m = re.search(r"map_id:\s+(\d+)", text)
        if "map_type:\t6\n" not in text or not m:
            continue
        show = subprocess.run(["bpftool", "map", "show", "id", m.group(1), "--json"], capture_output=True, text=True)
        try:
            if json.loads(show.stdout or "{}").get("name") == "counters":
                return int(m.group(1))
        except ValueError:
            continue
    return None


def read_counters_by_cpu(map_id):
    """{cpu: {counter: value}} of the counters map `map_id`, or None."""
    out = subprocess.run(["bpftool", "map", "lookup", "id", str(map_id), "key", "0", "0", "0", "0", "--json"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    by_cpu = {}
    for v in json.loads(out.stdout).get("values", []):
        raw = v.get("value")
        if isinstance(raw, dict):
            by_cpu[v["cpu"]] = {k: raw.get(k, 0) for k in COUNTERS}
            continue
        b = bytes(int(x, 16) for x in raw)
        by_cpu[v["cpu"]] = {k: int.from_bytes(b[i * 8:i * 8 + 8], "little") for i, k in enumerate(COUNTERS)}
    return by_cpu


def read_counters(map_id):
    """The counters map summed over CPUs, or None."""
    by_cpu = read_counters_by_cpu(map_id)
    if by_cpu is None:
        return None
    return {k: sum(c[k] for c in by_cpu.values()) for k in COUNTERS}


def counters_by_cpu(pid):
    """Our per-CPU counters, CPU by CPU ({cpu: {seen, emitted, dropped, ...}}), or None. Where
    records of a CPU go is fixed (one ring, or its group's ring), so `dropped` per CPU is the
    loss per producer, and per ring when every CPU has a ring of its own."""
    map_id = fd_counters_map(pid)
    return read_counters_by_cpu(map_id) if map_id is not None else None


def prog_names():
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True)
    try:
        return {p["id"]: p for p in json.loads(out.stdout or "[]")}
    except ValueError:
        return {}


def foreign_tracers(own_pids):
    """Programs on the syscall tracepoints that this run did not start (others' tests)."""
    out = subprocess.run(["bpftool", "perf", "show", "--json"], capture_output=True, text=True)
    try:
        entries = json.loads(out.stdout or "[]")
    except ValueError:
        return []
    found = []
    for e in entries:
        if e.get("pid") in own_pids:
            continue
        tp = e.get("tracepoint", "") or ""
        if "sys_enter" in tp or "sys_exit" in tp or e.get("fd_type") in ("raw_tracepoint", "tracepoint"):
            comm = read_text(f"/proc/{e.get('pid')}/comm").strip()
            found.append({"pid": e.get("pid"), "comm": comm, "prog_id": e.get("prog_id"), "tracepoint": tp})
    return found


def _grep_env():
    return {"LC_ALL": "C", "PATH": os.environ["PATH"]}


def count_lines(path, *patterns):
    """Lines of path holding every pattern (fixed strings), counted by grep."""
    if not os.path.exists(path):
        return 0
    cmd = ["grep", "-a", "-F", "--", patterns[0], path]
    p1 = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=_grep_env())
    src = p1.stdout
    procs = [p1]
    for pat in patterns[1:]:
        p = subprocess.Popen(["grep", "-a", "-F", "--", pat], stdin=src, stdout=subprocess.PIPE, env=_grep_env())
        src.close()
        src = p.stdout
        procs.append(p)
    p = subprocess.Popen(["wc", "-l"], stdin=src, stdout=subprocess.PIPE)
    src.close()
    n = int(p.communicate()[0].split()[0])
    for q in procs:
        q.wait()
    return n


def grep_lines(path, pat):
    if not os.path.exists(path):
        return []
    out = subprocess.run(["grep", "-a", "-F", "--", pat, path], capture_output=True, text=True,
                         errors="replace", env=_grep_env())
    return out.stdout.splitlines()


def perf_report(data, lines=25, sort="dso,sym", percent_limit=1, extra=("-g", "none")):
    """The non-comment rows of `perf report --stdio` on a `perf record` file."""
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", *extra,
                          "--sort", sort, "--percent-limit", str(percent_limit)],
                         capture_output=True, text=True, errors="replace")
    rows = [l for l in out.stdout.splitlines() if l.strip() and not l.startswith("#")]
    return rows[:lines]
