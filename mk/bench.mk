# `make bench`: tailcall-logger side by side with an empty BPF program, bpftrace and bcc:
# in-kernel cost per syscall, added cost seen by a traced program, delivery under a syscall
# storm, startup and memory. Writes BENCHMARKS.md and target/bench/results.json. Needs root
# and 2 CPUs; installs bpftrace, bcc and the other tools it uses. Not part of `make test`.
# BENCH_QUICK=1 makes a short smoke run (its figures are not for BENCHMARKS.md).

.PHONY: bench

bench: build
	BENCH_BIN=$(abspath $(BIN)) bench/bench.sh

# Rewrite BENCHMARKS.md from target/bench/results.json (after editing bench/analysis.md).
.PHONY: bench-report
bench-report:
	/usr/bin/python3 bench/bench.py --render
