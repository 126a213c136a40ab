#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`make bench`: tailcall-logger side by side with an empty program, bpftrace and bcc.

Run by bench/bench.sh (which installs the tools, builds the helpers and restores the
machine afterwards); see BENCHMARKS.md for what is measured and how, and bench/README.md
for which module does what. Every comparison is a ratio to a baseline measured in the same
run: absolute times drift on a shared machine.

Layout of a run:
  the traced program   bench/syscall_loop.c in "serve" mode, pinned to LOAD_CPU; it makes
                       N calls of one syscall on request and answers with the time taken
  the tracers          pinned to TRACER_CPU, filtered in the kernel to the traced pid
  in-kernel cost       kernel.bpf_stats_enabled=1; run_time_ns/run_cnt deltas of the
                       tracer's programs, read from /proc/PID/fdinfo of the tracer
  added cost           bpf_stats off; ns per call of the traced program

  bench.py             a whole run: writes target/bench/results.json and BENCHMARKS.md
  bench.py --render    BENCHMARKS.md again from results.json (after editing bench/analysis.md)
"""
import signal
import sys

import runner
from context import Config, Run
from processes import set_stats


def on_term(sig, _frame):
    raise KeyboardInterrupt(f"signal {sig}")


def main(argv):
    cfg = Config.from_env()
    if argv == ["--render"]:
        runner.rerender(cfg)
        return 0
    ctx = Run(cfg)
    signal.signal(signal.SIGTERM, on_term)
    try:
        runner.run(ctx)
    except KeyboardInterrupt as e:
        ctx.log(f"interrupted ({e or 'SIGINT'}): stopping the tracers")
        return 130
    finally:
        ctx.procs.stop_all()
        try:
            set_stats(False)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
