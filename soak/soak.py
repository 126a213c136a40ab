#!/usr/bin/python3
"""`make soak`: the logger under a mixed load for DURATION seconds, its output rotated
logrotate style every SOAK_ROTATE seconds; afterwards the accounting, the resources it held
and the reader's promptness are checked. See soak/README.md.

    soak.py --duration SECONDS      (make soak DURATION=...; needs root)

Exit status: 0 when every check passed, 1 when one failed, 2 when the soak could not run.
"""
import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import scan  # noqa: E402

RELEASE = os.path.join(TOP, "target", "x86_64-unknown-linux-musl", "release")
# The reader's wait schedule (src/reader.rs): after records, waits of 1, 2, 4, ... 64 ms,
# then POLL_INTERVAL (100 ms) waits; a full one that ends without a wakeup is an idle timeout.
POLL_INTERVAL_S = 0.1
BACKOFF_S = 0.127
LAG_PROBE_S = 0.25
SAMPLE_S = 1.0
STALL_LIMIT_S = 1.0
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20
REOPEN_TIMEOUT_S = 10


class Failure(Exception):
    """The soak cannot go on (not a failed check): exit 2."""


def env_num(name, default, kind=float):
    v = os.environ.get(name, "")
    return kind(v) if v.strip() else default


class Config:
    def __init__(self, duration):
        self.duration = float(duration)
        self.bin = os.environ.get("SOAK_BIN") or os.path.join(RELEASE, "tailcall-logger")
        self.scenario = os.environ.get("SOAK_SCENARIO") or os.path.join(RELEASE, "tailcall-logger-scenario")
        self.dir = os.path.abspath(os.environ.get("SOAK_DIR") or os.path.join(TOP, "target", "soak"))
        self.rotate = env_num("SOAK_ROTATE", 30.0)
        self.warmup = env_num("SOAK_WARMUP", min(60.0, max(10.0, self.duration / 10)))
        self.rss_margin_kb = env_num("SOAK_RSS_MARGIN_KB", 1024, int)
        self.pin = env_num("SOAK_PIN", (os.cpu_count() or 1) - 1, int)
        self.storm_calls = env_num("SOAK_STORM_CALLS", 500_000, int)
        self.keep = os.environ.get("SOAK_KEEP", "") not in ("", "0")


# ---------------------------------------------------------------------------------------
# The load: one thread runs the cycle until the deadline; every phase is a window of wall
# time (time.time(), the clock of the records' `ts`) with what it did.

CYCLE = [("storm", 4), ("execs", 6.0), ("threads", 6.0), ("mixed", 8.0), ("idle", 8.0)]
# Short threads in waves of 50, 5 ms apart: some thousands a second, each a few records.
THREAD_WAVE, THREAD_PAUSE_MS = 50, 5


class Load:
    def __init__(self, cfg, load_bin, deadline):
        self.cfg = cfg
        self.load_bin = load_bin
        self.deadline = deadline  # time.monotonic()
        self.windows = []
        self.totals = {"cycles": 0, "storm_bursts": 0, "storm_calls": 0, "execs": 0, "threads": 0, "idle_s": 0.0}
        self.procs = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, name="load", daemon=True)

    def left(self):
        return self.deadline - time.monotonic()

    def _spawn(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        with self.lock:
            self.procs.add(p)
        return p

    def _reap(self, p, timeout):
        try:
            out, _ = p.communicate(timeout=timeout)
        finally:
            with self.lock:
                self.procs.discard(p)
        if p.returncode != 0:
            raise Failure(f"load process {p.args[:2]} exited with {p.returncode}")
        return out

    def _helper(self, mode, seconds):
        argv = [self.load_bin, mode, f"{seconds:.3f}"]
        argv += ["/bin/true"] if mode == "execs" else [str(THREAD_WAVE), str(THREAD_PAUSE_MS)]
        return self._spawn(argv, stdout=subprocess.PIPE)

    def _count(self, p, seconds):
        out = self._reap(p, seconds + 30).decode().split()
        self.totals[out[0]] += int(out[1])
        return int(out[1])

    def storm(self, bursts):
        """The scenario's --calls actor pinned to a CPU: `bursts` bursts of getppid calls,
        a byte on its stdin each, 0.25 s apart (a byte sent while a burst runs waits)."""
        n = self.cfg.storm_calls
        p = self._spawn([self.cfg.scenario, "--calls", str(n), "--phases", str(bursts), "--pin", str(self.cfg.pin)],
                        stdin=subprocess.PIPE)
        t0 = time.time()
        for i in range(bursts):
            p.stdin.write(b"g")
            p.stdin.flush()
            if i + 1 < bursts:
                time.sleep(0.25)
        self._reap(p, 120)  # closes its stdin
        self.totals["storm_bursts"] += bursts
        self.totals["storm_calls"] += bursts * n
        return t0, {"bursts": bursts, "calls": bursts * n}

    def phase(self, name, arg):
        """One phase; one that no longer fits in the time left becomes the last idle stretch."""
        left = self.left()
        if left <= 0:
            return
        if (name in ("storm", "mixed") and left < 3) or (name in ("execs", "threads") and left < 1):
            name, arg = "idle", left
        t0 = time.time()
        if name == "storm":
            t0, detail = self.storm(arg)
        elif name in ("execs", "threads"):
            s = min(arg, left)
            detail = {name: self._count(self._helper(name, s), s)}
        elif name == "mixed":
            s = min(arg, left)
            e, t = self._helper("execs", s), self._helper("threads", s)
            time.sleep(s / 3)
            _, storm = self.storm(2)
            detail = {"execs": self._count(e, s), "threads": self._count(t, s), "calls": storm["calls"]}
        else:  # idle: nothing of ours runs but the sampler
            self.stop.wait(min(arg, left))
            self.totals["idle_s"] = round(self.totals["idle_s"] + time.time() - t0, 3)
            detail = {}
        self.windows.append({"phase": name, "t0": t0, "t1": time.time(), **detail})

    def _run(self):
        try:
            while self.left() > 0 and not self.stop.is_set():
                self.totals["cycles"] += 1
                for name, arg in CYCLE:
                    if self.stop.is_set():
                        break
                    self.phase(name, arg)
        except Exception as e:  # reported by the main thread
            self.error = f"{type(e).__name__}: {e}"

    def kill(self):
        self.stop.set()
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            if p.poll() is None:
                p.kill()


# ---------------------------------------------------------------------------------------
# What the logger holds, read from /proc every second.

BPF_KINDS = {"anon_inode:bpf-prog": "prog", "anon_inode:bpf-map": "map", "anon_inode:bpf_link": "link",
             "anon_inode:btf": "btf"}
ID_KEYS = {"prog": "prog_id", "map": "map_id", "link": "link_id", "btf": "btf_id"}


def proc_sample(pid):
    s = {"rss_kb": None, "fds": 0, "prog": 0, "map": 0, "link": 0, "btf": 0, "ids": [], "files": []}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                s["rss_kb" if line.startswith("VmRSS") else "hwm_kb"] = int(line.split()[1])
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        s["fds"] += 1
        kind = BPF_KINDS.get(target)
        if kind:
            s[kind] += 1
            try:
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    for line in f:
                        if line.startswith(ID_KEYS[kind] + ":"):
                            s["ids"].append(f"{kind}:{line.split()[1]}")
            except FileNotFoundError:
                pass
        elif target.startswith("/"):
            s["files"].append(target)
    s["ids"].sort()
    return s


def newest_ts(path):
    """The `ts` of the last complete line of `path`, in s, or None."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - 65536))
            buf = f.read()
    except FileNotFoundError:
        return None
    for line in reversed(buf.split(b"\n")[:-1]):
        i = line.find(b'"ts":"')
        if i >= 0:
            try:
                return scan.ts_ns(line[i + 6:i + 6 + scan.TS_LEN]) / 1e9
            except ValueError:
                return None
    return None


# ---------------------------------------------------------------------------------------
# The run.

class Soak:
    def __init__(self, cfg):
        self.cfg = cfg
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.run_dir = os.path.join(cfg.dir, f"run-{stamp}")
        self.out = os.path.join(self.run_dir, "soak.jsonl")
        self.logger = None
        self.load = None
        self.samples = []
        self.lags = []
        self.rotations = []
        self.scans = {}
        self.scan_pool = ThreadPoolExecutor(max_workers=1)
        self.files = []

    # -- preparation

    def prepare(self):
        if os.geteuid() != 0:
            raise Failure("needs root (BPF)")
        for p in (self.cfg.bin, self.cfg.scenario):
            if not os.access(p, os.X_OK):
                raise Failure(f"{p} is missing: make build scenario")
        gcc = shutil.which("gcc")
        if not gcc:
            raise Failure("gcc is missing (scripts/install-deps.sh packages gcc libc6-dev)")
        os.makedirs(self.run_dir)
        load_bin = os.path.join(self.cfg.dir, "soak-load")
        subprocess.run([gcc, "-O2", "-Wall", "-Werror", "-pthread", "-o", load_bin, os.path.join(HERE, "load.c")],
                       check=True)
        return load_bin

    def start_logger(self):
        self.stderr = open(os.path.join(self.run_dir, "logger.stderr"), "wb")
        self.logger = subprocess.Popen([self.cfg.bin, "--json", "--output", self.out],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr)
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self.logger.poll() is not None:
                raise Failure(f"the logger exited with {self.logger.returncode}: {self.stderr_text()}")
            try:
                with open(self.out, "rb") as f:
                    first = f.readline()
                if first.endswith(b"\n") and json.loads(first).get("type") == "start":
                    self.start_record = json.loads(first)
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise Failure("no start record")

    def stderr_text(self):
        self.stderr.flush()
        with open(self.stderr.name, "rb") as f:
            return f.read().decode("utf-8", "replace").strip()

    # -- during the run

    def sample(self, t):
        s = proc_sample(self.logger.pid)
        s["t"] = round(t, 3)
        self.samples.append(s)

    def probe_lag(self, t):
        ts = newest_ts(self.out)
        if ts is not None:
            now = time.time()
            self.lags.append((round(t, 3), now, round(now - ts, 4)))

    def rotate(self, t):
        """logrotate's way: rename, then SIGHUP; the logger reopens the path (a new file).
        The renamed file is scanned once no fd of the logger points to it any more."""
        n = len(self.rotations) + 1
        rotated = f"{self.out}.{n}"
        os.rename(self.out, rotated)
        t0 = time.monotonic()
        os.kill(self.logger.pid, signal.SIGHUP)
        while not os.path.exists(self.out):
            if time.monotonic() - t0 > REOPEN_TIMEOUT_S or self.logger.poll() is not None:
                raise Failure(f"rotation {n}: the logger did not reopen {self.out}")
            time.sleep(0.002)
        reopened = time.monotonic() - t0
        while rotated in proc_sample(self.logger.pid)["files"]:
            if time.monotonic() - t0 > REOPEN_TIMEOUT_S:
                raise Failure(f"rotation {n}: the logger still holds {rotated}")
            time.sleep(0.002)
        self.rotations.append({"n": n, "t": round(t, 3), "reopen_ms": round(reopened * 1000, 2)})
        self.files.append(rotated)
        self.scans[rotated] = self.scan_pool.submit(self.scan_file, rotated, True)

    def scan_file(self, path, niced):
        argv = ([shutil.which("nice") or "nice", "-n", "19"] if niced else []) + \
            [sys.executable, os.path.join(HERE, "scan.py"), path] + ([] if self.cfg.keep else ["--delete"])
        p = subprocess.run(argv, stdout=subprocess.PIPE, check=True)
        return json.loads(p.stdout)

    def run(self):
        cfg = self.cfg
        load_bin = self.prepare()
        print(f"soak: {cfg.duration:.0f} s in {self.run_dir}; rotation every {cfg.rotate:.0f} s", flush=True)
        self.start_logger()
        t_start = time.monotonic()
        deadline = t_start + cfg.duration
        self.wall_start = time.time()
        self.load = Load(cfg, load_bin, deadline)
        self.load.thread.start()
        next_sample = next_probe = t_start
        next_rot = t_start + cfg.rotate
        next_note = t_start + 60
        try:
            while time.monotonic() < deadline or self.load.thread.is_alive():
                now = time.monotonic()
                if self.logger.poll() is not None:
                    raise Failure(f"the logger exited with {self.logger.returncode} during the soak: {self.stderr_text()}")
                if self.load.error:
                    raise Failure(f"the load failed: {self.load.error}")
                if now >= next_probe:
                    self.probe_lag(now - t_start)
                    next_probe += LAG_PROBE_S
                if now >= next_sample:
                    self.sample(now - t_start)
                    next_sample += SAMPLE_S
                if now >= next_rot and next_rot < deadline - 1:
                    self.rotate(now - t_start)
                    next_rot += cfg.rotate
                if now >= next_note:
                    s = self.samples[-1]
                    print(f"soak: {now - t_start:.0f} s, {len(self.rotations)} rotations, RSS {s['rss_kb']} kB, "
                          f"{s['fds']} fds, " + ", ".join(f"{k} {v:.0f}" for k, v in self.load.totals.items()),
                          flush=True)
                    next_note += 60
                time.sleep(max(0.0, min(next_probe, next_sample) - time.monotonic()))
        finally:
            self.load.kill()
        self.sample(time.monotonic() - t_start)
        self.elapsed = time.monotonic() - t_start
        self.stop_logger()
        self.files.append(self.out)
        self.scans[self.out] = self.scan_pool.submit(self.scan_file, self.out, False)
        self.scan_pool.shutdown(wait=True)
        try:
            self.scans = {p: f.result() for p, f in self.scans.items()}
        except (subprocess.CalledProcessError, ValueError) as e:
            raise Failure(f"scanning the output failed: {e}")

    def stop_logger(self):
        held = self.samples[-1]["ids"]
        t0 = time.monotonic()
        self.logger.send_signal(signal.SIGINT)
        try:
            self.logger.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.logger.kill()
            self.logger.wait()
        self.stop_s = time.monotonic() - t0
        self.exit_code = self.logger.returncode
        self.logger_stderr = self.stderr_text()
        self.leftover = bpf_leftovers(held)

    def cleanup(self):
        if self.load:
            self.load.kill()
        if self.logger and self.logger.poll() is None:
            self.logger.send_signal(signal.SIGINT)
            try:
                self.logger.wait(5)
            except subprocess.TimeoutExpired:
                self.logger.kill()
                self.logger.wait()
        self.scan_pool.shutdown(wait=False, cancel_futures=True)


def bpf_leftovers(ids):
    """The BPF objects the logger held that still exist a few seconds after it exited
    (bpftool; freeing is deferred, so it is asked again for up to 5 s). None without bpftool."""
    bpftool = shutil.which("bpftool")
    if not bpftool:
        return None
    left = list(ids)
    end = time.monotonic() + 5
    while left:
        left = [i for i in left
                if subprocess.run([bpftool, i.split(":")[0], "show", "id", i.split(":")[1]],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0]
        if not left or time.monotonic() > end:
            break
        time.sleep(0.25)
    return left


# ---------------------------------------------------------------------------------------
# The checks.

def spread(values):
    return {"min": min(values), "max": max(values)} if values else {"min": None, "max": None}


def overlap(a0, a1, windows):
    return sum(max(0.0, min(a1, w["t1"]) - max(a0, w["t0"])) for w in windows)


def evaluate(soak):
    cfg = soak.cfg
    checks = []

    def check(name, ok, detail):
        checks.append({"name": name, "ok": bool(ok), "detail": detail})

    scans = [soak.scans[p] for p in soak.files]
    last = scans[-1]
    loads = [w for w in soak.load.windows if w["phase"] != "idle"]
    idles = [w for w in soak.load.windows if w["phase"] == "idle"]

    # The logger and the stream.
    summaries = [s for sc in scans for s in sc["summary"]]
    starts = [s for sc in scans for s in sc["start"]]
    summary = summaries[-1] if summaries else {}
    check("logger stops cleanly", soak.exit_code == 0 and soak.stop_s < STOP_TIMEOUT_S,
          f"exit {soak.exit_code} {soak.stop_s:.2f} s after SIGINT")
    bad = sum(sc["bad"] for sc in scans)
    partial = [sc["path"] for sc in scans if sc["partial_last_line"]]
    check("stream well formed",
          len(starts) == 1 and scans[0]["start"] and len(summaries) == 1 and last["summary"]
          and summary.get("line") == last["lines"] and bad == 0 and not partial
          and not any(sc["other_types"] for sc in scans),
          f"{len(starts)} start record (first file), {len(summaries)} summary (last line of the last file), "
          f"{bad} bad lines, {len(partial)} files cut mid-line, {sum(sc['validated'] for sc in scans)} lines parsed in full")
    expected_rot = max(0, math.ceil((soak.elapsed - 1) / cfg.rotate) - 1)
    check("rotations", len(soak.rotations) >= expected_rot and len(soak.files) == len(soak.rotations) + 1,
          f"{len(soak.rotations)} rotations (expected {expected_rot}), {len(soak.files)} files, "
          f"reopen after SIGHUP max {max([r['reopen_ms'] for r in soak.rotations] or [0]):.1f} ms")

    # Accounting.
    delivered_files = sum(sc["syscall"] for sc in scans)
    lost_records = [lr for sc in scans for lr in sc["lost"]]
    lost_sum = sum(lr["count"] for lr in lost_records)
    running, totals_ok = 0, True
    for lr in lost_records:
        running += lr["count"]
        totals_ok &= lr["total"] == running and lr["count"] > 0
    seen, lost = summary.get("seen"), summary.get("lost")
    acct = {"delivered_in_files": delivered_files, "summary_delivered": summary.get("delivered"),
            "summary_emitted": summary.get("emitted"), "summary_lost": lost, "summary_seen": seen,
            "lost_records": len(lost_records), "lost_in_band": lost_sum,
            "malformed": summary.get("malformed"), "per_file": [sc["syscall"] for sc in scans]}
    check("accounting exact",
          seen is not None and delivered_files + lost == seen and delivered_files == summary.get("delivered")
          == summary.get("emitted") and summary.get("malformed") == 0,
          f"{delivered_files:,} delivered in {len(scans)} files + {lost:,} lost == {seen:,} seen"
          if seen is not None else "no summary")
    check("lost records add up", lost_sum == lost and totals_ok,
          f"{len(lost_records)} lost records, counts sum to {lost_sum:,} (summary {lost}), running totals "
          + ("consistent" if totals_ok else "inconsistent"))

    # Resources: flat after the warm-up.
    warm = [s for s in soak.samples if s["t"] >= cfg.warmup]
    res = {"samples": len(soak.samples), "warm_samples": len(warm), "warmup_s": cfg.warmup}
    for key in ("rss_kb", "fds", "prog", "map", "link", "btf"):
        res[key] = {"all": spread([s[key] for s in soak.samples]), "after_warmup": spread([s[key] for s in warm])}
    res["hwm_kb"] = soak.samples[-1].get("hwm_kb")
    rss = res["rss_kb"]["after_warmup"]
    check("RSS flat", warm and rss["max"] - rss["min"] <= cfg.rss_margin_kb,
          f"{rss['min']}..{rss['max']} kB after {cfg.warmup:.0f} s warm-up (margin {cfg.rss_margin_kb} kB); "
          f"{res['rss_kb']['all']['min']}..{res['rss_kb']['all']['max']} kB in all, peak {res['hwm_kb']} kB")
    fds = res["fds"]["all"]
    check("fds flat", fds["max"] == fds["min"], f"{fds['min']}..{fds['max']} open fds in every sample")
    id_sets = {tuple(s["ids"]) for s in soak.samples}
    objs = {k: res[k]["all"] for k in ("prog", "map", "link", "btf")}
    check("BPF objects flat", len(id_sets) == 1 and all(v["min"] == v["max"] for v in objs.values()),
          ", ".join(f"{k} {v['min']}..{v['max']}" for k, v in objs.items())
          + f"; {len(id_sets)} distinct id set(s) over {len(soak.samples)} samples")
    if soak.leftover is not None:
        check("BPF objects released", not soak.leftover,
              f"{len(soak.samples[-1]['ids'])} held, {len(soak.leftover)} still there after exit {soak.leftover}")

    # Promptness: the reader's lag and the gaps in the records.
    in_load = [lag for t, now, lag in soak.lags if any(w["t0"] + 0.5 <= now <= w["t1"] for w in loads)]
    max_lag_load = max(in_load, default=None)
    max_lag = max((lag for _, _, lag in soak.lags), default=None)
    check("no reader stall", max_lag_load is not None and max_lag_load <= STALL_LIMIT_S,
          f"newest record in the file at most {max_lag_load:.3f} s old during load ({len(in_load)} probes every "
          f"{LAG_PROBE_S} s; {max_lag:.3f} s at any time)" if max_lag_load is not None else "no probe during load")
    gaps = [g for sc in scans for g in sc["gaps"]]
    for a, b in zip(scans, scans[1:]):  # across the rotation boundaries
        if a["hi_ns"] and b["first_ns"] and b["first_ns"] - a["hi_ns"] > scan.GAP_MIN_S * 1e9:
            gaps.append([a["hi_ns"], b["first_ns"]])
    gaps = sorted(((a / 1e9, b / 1e9) for a, b in gaps))
    long_gaps = [(a, b) for a, b in gaps if b - a > STALL_LIMIT_S]
    load_gaps = [(a, b) for a, b in long_gaps if overlap(a, b, loads) > 0]
    longest = max((b - a for a, b in gaps), default=0.0)
    longest_load = max((b - a for a, b in gaps if overlap(a, b, loads) > 0), default=0.0)
    def gap_text(g):
        return f"{g:.3f} s" if g else f"none over {scan.GAP_MIN_S} s"
    check("no gap in the records during load", not load_gaps,
          f"longest gap between consecutive records: {gap_text(longest)} overall, {gap_text(longest_load)} "
          f"touching load; {len(long_gaps)} over {STALL_LIMIT_S} s, {len(load_gaps)} of them during load")

    # The reader's idle timeouts against the gaps (every gap of g s leaves about
    # ceil((g - 0.127) / 0.1) full-interval waits, within one either way).
    reader = summary.get("reader", {})
    idle_to = reader.get("idle_timeouts")
    start_ns = scan.ts_ns(starts[0]["ts"]) / 1e9 if starts else None
    edge = []
    if start_ns and scans[0]["first_ns"]:
        edge.append((start_ns, scans[0]["first_ns"] / 1e9))
    if summary.get("ts") and last["hi_ns"]:
        edge.append((max(sc["hi_ns"] or 0 for sc in scans) / 1e9, scan.ts_ns(summary["ts"]) / 1e9))
    ks = [max(0, math.ceil((b - a - BACKOFF_S) / POLL_INTERVAL_S)) for a, b in gaps + edge]
    lo = max(0, math.floor(0.8 * sum(max(0, k - 1) for k in ks)) - 2)
    hi = sum(k + 1 for k in ks) + 2
    idle_s = sum(w["t1"] - w["t0"] for w in idles)
    in_load_k = sum(max(0, math.ceil((min(b, w["t1"]) - max(a, w["t0"]) - BACKOFF_S) / POLL_INTERVAL_S))
                    for a, b in gaps for w in loads if min(b, w["t1"]) > max(a, w["t0"]))
    check("idle timeouts match the idle stretches", idle_to is not None and lo <= idle_to <= hi,
          f"reader.idle_timeouts {idle_to} ({(idle_to or 0) * POLL_INTERVAL_S:.1f} s of full waits); "
          f"the record gaps predict {lo}..{hi} ({len([k for k in ks if k])} gaps long enough, {in_load_k} "
          f"during load); idle stretches {idle_s:.0f} s")

    # The load itself.
    t = soak.load.totals
    check("load ran", t["execs"] > 0 and t["threads"] >= 1000 and t["idle_s"] > 0
          and (t["storm_bursts"] > 0 or soak.elapsed < 10),
          f"{t['cycles']} cycles: {t['storm_bursts']} storm bursts ({t['storm_calls']:,} getppid calls), "
          f"{t['execs']:,} execs, {t['threads']:,} threads, {t['idle_s']:.0f} s idle")

    report = {
        "ok": all(c["ok"] for c in checks),
        "checks": checks,
        "duration_s": round(soak.elapsed, 3),
        "run_dir": soak.run_dir,
        "start": soak.start_record,
        "summary": summary,
        "logger": {"exit_code": soak.exit_code, "stop_s": round(soak.stop_s, 3),
                   "stderr": soak.logger_stderr, "bpf_leftovers": soak.leftover},
        "accounting": acct,
        "rotations": soak.rotations,
        "files": [{k: sc[k] for k in ("path", "bytes", "lines", "syscall", "bad", "partial_last_line")}
                  | {"lost": len(sc["lost"]), "gaps_over_0.1s": len(sc["gaps"])} for sc in scans],
        "resources": res,
        "stall": {"max_lag_load_s": max_lag_load, "max_lag_s": max_lag, "lag_probes": len(soak.lags),
                  "longest_gap_s": round(longest, 6) or None, "longest_gap_in_load_s": round(longest_load, 6) or None,
                  "gaps_over_1s": [[round(a, 3), round(b, 3)] for a, b in long_gaps],
                  "gaps_over_0.1s": len(gaps)},  # the longest gaps are null when none was over 0.1 s
        "idle": {"idle_timeouts": idle_to, "predicted": [lo, hi], "reader": reader, "idle_stretch_s": round(idle_s, 3)},
        "load": {"totals": t, "phases": [{k: (round(v - soak.wall_start, 3) if k in ("t0", "t1") else v)
                                          for k, v in w.items()} for w in soak.load.windows]},
        "config": {k: getattr(cfg, k) for k in ("duration", "rotate", "warmup", "rss_margin_kb", "pin",
                                                 "storm_calls", "keep")},
    }
    return report


def print_report(r):
    print()
    print(f"soak: {r['duration_s']:.0f} s, {len(r['rotations'])} rotations, {len(r['files'])} files ({r['run_dir']})")
    for c in r["checks"]:
        print(f"  {'PASS' if c['ok'] else 'FAIL'}  {c['name']}: {c['detail']}")
    print(f"soak: {'PASS' if r['ok'] else 'FAIL'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=600)
    args = ap.parse_args()
    cfg = Config(args.duration)
    soak = Soak(cfg)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        soak.run()
    except Failure as e:
        print(f"soak: {e}", file=sys.stderr)
        return 2
    finally:
        soak.cleanup()
    with open(os.path.join(soak.run_dir, "samples.jsonl"), "w") as f:
        for s in soak.samples:
            f.write(json.dumps(s) + "\n")
    report = evaluate(soak)
    for path in (os.path.join(soak.run_dir, "report.json"), os.path.join(cfg.dir, "report.json")):
        with open(path, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    print_report(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
