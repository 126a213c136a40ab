# SPDX-License-Identifier: Apache-2.0
"""The two sides of every measurement: the traced program (Server, bench/syscall_loop.c in
"serve" mode) and a tracer filtered on it (Tracer: ours, a peer, or none), with snapshots
of the tracer's BPF program counters and the difference of two (delta)."""
import json
import os
import re
import signal
import statistics
import subprocess
import time

import peers
from context import PHASE_MAXSEC
from processes import fd_counters_map, fd_progs, read_counters, read_text, remove_files, rss_parts_kib, \
    set_stats, vm_hwm_kib


class Server:
    """The traced program, pinned to the load CPU (or to `cpu`): N calls of one syscall on
    request."""

    def __init__(self, ctx, cpu=None):
        self.ctx = ctx
        self.cpu = ctx.cfg.load_cpu if cpu is None else cpu
        self.p = ctx.spawn([ctx.cfg.loop, "serve"], cpu=self.cpu, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
        self.pid = self.p.pid

    def run(self, syscall, n, rate=0, maxsec=PHASE_MAXSEC):
        self.request(syscall, n, rate, maxsec)
        return self.answer()

    def request(self, syscall, n, rate=0, maxsec=PHASE_MAXSEC):
        """Starts a measurement without waiting for it: several traced programs then run at once."""
        self.p.stdin.write(f"{syscall} {n} {rate} {maxsec}\n")
        self.p.stdin.flush()

    def answer(self):
        """The answer to the last request (waits until the measurement is over)."""
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("the traced program died")
        return json.loads(line)

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
        except OSError:
            pass
        self.ctx.procs.stop(self.p, signal.SIGTERM, 5)


class Tracer:
    """One tracer process filtered on the traced pid (or nothing, for the baseline)."""

    def __init__(self, ctx, kind, label, extra=(), fmt="json", out_name=None):
        self.ctx, self.cfg = ctx, ctx.cfg
        self.kind, self.label, self.extra, self.fmt = kind, label, list(extra), fmt
        self.out = os.path.join(self.cfg.scratch, out_name or f"{label}.out")
        self.err = self.out + ".err"
        self.p = None
        self.pid = None
        self.attach_ms = None
        self.start_record_ms = None
        self.start_record = None
        self.summary = None
        self.hwm_kib = None
        self.counters_map = None
        self.rss = None
        self.cpu_s = None

    def argv(self, target_pid):
        if self.kind == "ours":
            # A --cgroup session selects the traced program by its cgroup alone.
            pid = [] if "--cgroup" in self.extra else ["--pid", str(target_pid)]
            a = [self.cfg.bin] + pid + ["--output", self.out] + self.extra
            return a + (["--json"] if self.fmt == "json" else [])
        return peers.argv(self.kind, self.cfg, target_pid, self.out, self.extra)

    def start(self, target_pid, timeout=60.0):
        """Starts and waits until attached: a program of the tracer has run (bpf_stats on)."""
        if self.kind == "none":
            return self
        remove_files(self.out, self.err)
        peers.before_start(self.kind, self.cfg)
        set_stats(True)
        env = dict(os.environ)
        t0 = time.perf_counter()
        with open(self.err, "wb") as errf:
            self.p = self.ctx.spawn(self.argv(target_pid), cpu=self.cfg.tracer_cpu, stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL if self.kind == "ours" else errf, stderr=errf,
                                    env=env)
        self.pid = self.p.pid
        deadline = t0 + timeout
        while True:
            now = time.perf_counter()
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.p.returncode}: "
                                   f"{read_text(self.err)[-2000:]}")
            if now > deadline:
                raise RuntimeError(f"{self.label} did not attach within {timeout}s")
            if self.attach_ms is None and any(v[1] > 0 for v in fd_progs(self.pid).values()):
                self.attach_ms = (time.perf_counter() - t0) * 1000
            if self.kind == "ours" and self.start_record_ms is None:
                rec = self._start_line()
                if rec:
                    self.start_record_ms = (time.perf_counter() - t0) * 1000
                    self.start_record = rec
            if self.attach_ms is not None and (self.kind != "ours" or self.start_record_ms is not None):
                break
            time.sleep(0.0005)
        if self.kind == "ours":
            self.counters_map = fd_counters_map(self.pid)
        return self

    def _start_line(self):
        if self.fmt == "json":
            try:
                with open(self.out, "rb") as f:
                    first = f.readline()
            except OSError:
                return None
            if first.endswith(b"\n") and b'"type":"start"' in first:
                return json.loads(first)
            return None
        m = re.search(r"attached in ([0-9.]+) ms", read_text(self.err))
        return {"startup_ms": float(m.group(1))} if m else None

    def snapshot(self):
        if self.kind == "none":
            return {"t": time.perf_counter(), "progs": {}, "counters": None}
        snap = {"t": time.perf_counter(), "progs": fd_progs(self.pid), "counters": None}
        if self.counters_map:
            snap["counters"] = read_counters(self.counters_map)
        return snap

    def stop(self):
        if self.kind == "none" or self.p is None:
            return
        self.hwm_kib = vm_hwm_kib(self.pid)
        self.rss = rss_parts_kib(self.pid)
        t0 = time.perf_counter()
        # Reaped with wait4 for its rusage: the CPU it used, drain included.
        self.cpu_s = None
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            deadline = time.time() + 60
            while True:
                pid_, status, ru = os.wait4(self.pid, os.WNOHANG)
                if pid_ == self.pid:
                    self.p.returncode = os.waitstatus_to_exitcode(status)
                    self.cpu_s = ru.ru_utime + ru.ru_stime
                    break
                if time.time() > deadline:
                    self.p.kill()
                    self.p.wait()
                    break
                time.sleep(0.002)
        self.ctx.procs.forget(self.p)
        self.stop_s = time.perf_counter() - t0
        self.rc = self.p.returncode
        if self.kind == "ours":
            self.summary = self._summary()

    def _summary(self):
        if self.fmt == "json":
            # The summary is the last line; read the tail only (the file can be large).
            with open(self.out, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - 8192))
                tail = f.read().splitlines()
            for line in reversed(tail):
                if b'"type":"summary"' in line:
                    return json.loads(line)
            return None
        m = re.search(r"(\d+) records delivered, (\d+) lost, (\d+) seen", read_text(self.err))
        return {"delivered": int(m.group(1)), "lost": int(m.group(2)), "seen": int(m.group(3))} if m else None


def delta(a, b):
    progs = {}
    for pid_, after in b["progs"].items():
        before = a["progs"].get(pid_, (0, 0, 0))
        progs[pid_] = (after[0] - before[0], after[1] - before[1])
    d = {"dt_s": b["t"] - a["t"], "progs": progs,
         "time_ns": sum(v[0] for v in progs.values()),
         "runs": max([v[1] for v in progs.values()] or [0])}
    if a.get("counters") and b.get("counters"):
        d["counters"] = {k: b["counters"][k] - a["counters"][k] for k in b["counters"]}
    return d


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
