# SPDX-License-Identifier: Apache-2.0
"""The baselines run next to tailcall-logger: the empty raw_tp program (the floor; with an
argument, the reference programs of section 5), a bpftrace printf one-liner and bcc's
tail-call example (bench/bcc_tailcall.py). How each is started, told what to log, and how
its output is counted after a storm."""
import os
import re

from context import NR, SYS_PYTHON
from processes import count_lines, grep_lines


def argv(kind, cfg, target_pid, out, extra):
    """Command line of a peer tracer filtered on target_pid, writing to out."""
    if kind == "empty":
        return [cfg.empty] + list(extra)  # () the empty program; ("regs",), ("str", SIZE) references
    if kind == "bpftrace":
        prog = ("tracepoint:raw_syscalls:sys_enter /pid == %d/ "
                "{ printf(\"%%s-%%d %%d\\n\", comm, pid, args->id); }" % target_pid)
        return ["bpftrace", "-o", out, "-e", prog]
    if kind == "bcc":
        return [SYS_PYTHON, cfg.bcc_peer, "--pid", str(target_pid), "--output", out, "--tracefs", cfg.tracefs] + extra
    raise ValueError(kind)


def before_start(kind, cfg):
    """bcc reads the kernel's trace buffer: empty it so that a previous run's lines are not counted."""
    if kind == "bcc":
        with open(os.path.join(cfg.tracefs, "trace"), "w") as f:
            f.write("")


def logged_args(kind, logged):
    """What a tracer needs to be told so that `logged` is logged (and uname still ignored)."""
    if logged == "getppid":
        return []
    if kind == "ours":
        return ["--no-default-ignore", "--ignore", "uname"]
    if kind == "bcc":
        return ["--log", str(NR[logged])]
    return []


def storm_delivery(kind, out, err, pid, logged):
    """(delivered, lost reported) of a peer's storm: its lines for the traced pid and the
    losses it printed (bpftrace: `Lost N events`; bcc: ftrace's `[LOST N EVENTS]`)."""
    if kind == "bpftrace":
        delivered = count_lines(out, f"-{pid} {NR[logged]}")
        lost_lines = grep_lines(out, "Lost") + grep_lines(err, "Lost")
        return delivered, sum(int(m) for l in lost_lines for m in re.findall(r"Lost (\d+) events", l))
    if kind == "bcc":
        delivered = count_lines(out, f"-{pid} ", f"Another syscall: {NR[logged]}")
        return delivered, sum(int(m) for l in grep_lines(out, "LOST") for m in re.findall(r"LOST (\d+) EVENTS", l))
    raise ValueError(kind)
