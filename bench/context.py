# SPDX-License-Identifier: Apache-2.0
"""What a bench run is told (Config, from the environment bench.sh sets) and what it
accumulates while it runs (Run: its processes, the logged syscall, foreign tracers seen).

Constants of the method live here too. Nothing here is changed after start-up except
through a Run object, which the measuring code is handed explicitly."""
import dataclasses
import os
import sys
import time

from processes import Children, foreign_tracers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYS_PYTHON = "/usr/bin/python3"  # Debian's python3-bpfcc lives there, not in a pyenv

N_IGNORED = 400_000      # uname calls per sample
# Logged calls per sample: 50k x 56 B = 2.8 MB stays below the backlog at which our logger
# starts forcing reader wakeups (a quarter of its 16 MiB ring), so a sample measures one
# regime: the reader keeping up. The other regime (reader behind) is measured in a storm.
N_LOGGED = 50_000
# The logged syscall: getppid ("Another syscall" in every tracer here). When another
# tracer is attached to sys_enter system-wide (say a tailcall-logger left running by a test)
# it logs getppid too, and its cost lands on the traced program. getgroups is in the
# original example's ignore list, so such a tracer ignores it; we then log it by telling our
# logger --no-default-ignore --ignore uname, and bcc --log 115. BENCH_LOGGED forces a choice.
NR = {"getppid": 110, "getgroups": 115}
# `--args` (section 5): the logged syscalls whose arguments are captured, as the traced
# program names them. lseek(fd, 0, SEEK_SET) on /dev/null: numeric arguments only, the
# registers are copied; openat(AT_FDCWD, ARGS_PATH, O_RDONLY): registers and one bounded
# bpf_probe_read_user_str of the path (ARGS_PATH must match bench/syscall_loop.c).
ARGS_SYSCALLS = {"numeric": "lseek", "path": "openat"}
ARGS_PATH = "/nonexistent-tailcall-bench/path"
# Calls per sample: a record is 112 B with the registers, 148 B with the path too (+8 B of
# ring header): 25k x 156 B = 3.9 MB stays below a quarter of the 16 MiB ring, as N_LOGGED
# does without arguments.
N_ARGS = 25_000
# Bound of a string read: the logger's default --string-size, passed explicitly, and the
# bound of the reference program's read (bench/empty_rawtp.c `str`).
STRING_SIZE = 256
N_EXEC = 1000            # self re-executions per sample
PHASE_MAXSEC = 2         # a slow tracer (bpftrace) stops a sample early
# Syscalls of one execve iteration of the static traced program besides execve itself:
# arch_prctl and set_tid_address of musl's start-up code (checked against our counters).
EXEC_EXTRA_SYSCALLS = 2


@dataclasses.dataclass(frozen=True)
class Config:
    root: str
    bin: str            # the logger
    work: str           # target/bench: the helpers, results.json
    scratch: str        # tracers' output files (tmpfs when bench.sh found room)
    results: str
    report: str
    analysis: str       # bench/analysis.md, pasted at the end of the report
    loop: str           # the traced program (bench/syscall_loop.c)
    empty: str          # the empty raw_tp program (bench/empty_rawtp.c)
    bcc_peer: str       # bench/bcc_tailcall.py
    tracefs: str
    tracer_cpu: int
    load_cpu: int
    rounds: int
    reps: int
    quick: bool
    storm_seconds: int
    search_seconds: int
    startup_runs: int
    foreign_wait_s: float
    logged: str         # "auto", or the syscall to log

    @property
    def pidfile(self):
        return os.path.join(self.scratch, "pids")

    @classmethod
    def from_env(cls, env=None):
        env = os.environ if env is None else env
        work = env.get("BENCH_WORK", os.path.join(ROOT, "target/bench"))
        scratch = env.get("BENCH_SCRATCH") or os.path.join(work, "scratch")
        quick = env.get("BENCH_QUICK") == "1"
        return cls(
            root=ROOT,
            bin=env.get("BENCH_BIN", os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/tailcall-logger")),
            work=work,
            scratch=scratch,
            results=env.get("BENCH_RESULTS", os.path.join(work, "results.json")),
            report=env.get("BENCH_REPORT", os.path.join(ROOT, "BENCHMARKS.md")),
            analysis=os.path.join(ROOT, "bench/analysis.md"),
            loop=os.path.join(work, "syscall_loop"),
            empty=os.path.join(work, "empty_rawtp"),
            bcc_peer=os.path.join(ROOT, "bench/bcc_tailcall.py"),
            tracefs=env.get("BENCH_TRACEFS", "/sys/kernel/tracing"),
            tracer_cpu=int(env.get("BENCH_TRACER_CPU", "0")),
            load_cpu=int(env.get("BENCH_LOAD_CPU", "1")),
            rounds=1 if quick else int(env.get("BENCH_ROUNDS", "3")),
            reps=1 if quick else int(env.get("BENCH_REPS", "3")),
            quick=quick,
            storm_seconds=1 if quick else 2,
            search_seconds=1 if quick else 2,
            startup_runs=2 if quick else 5,
            foreign_wait_s=float(env.get("BENCH_FOREIGN_WAIT", "60")),
            logged=env.get("BENCH_LOGGED", "auto"),
        )


class Run:
    """The state of one run: the processes it started (to stop them however it ends), the
    syscall it logs, and the budget for and sightings of other tracers."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.t_start = time.time()
        self.procs = Children(cfg.pidfile)
        self.logged = cfg.logged
        self.foreign_budget = cfg.foreign_wait_s
        self.foreign_seen = []

    def log(self, msg):
        print(f"bench [{time.time() - self.t_start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    def spawn(self, argv, cpu=None, **kw):
        return self.procs.spawn(argv, cpu=cpu, **kw)

    def wait_quiet(self, what, own_pids=()):
        """Waits (within a budget for the whole run) until no foreign tracer is attached."""
        own = set(own_pids)
        t0 = time.time()
        found = foreign_tracers(own)
        while found and self.foreign_budget > 0:
            time.sleep(1)
            self.foreign_budget -= 1
            found = foreign_tracers(own)
        waited = time.time() - t0
        if waited > 1:
            self.log(f"{what}: waited {waited:.0f}s for other tracers to go away")
        if found:
            self.log(f"{what}: WARNING other tracers attached: {found}")
            self.foreign_seen.append({"during": what, "tracers": found})
        return found
