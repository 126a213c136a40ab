# `make soak`: the logger for DURATION seconds (default 600) under a mixed load (storm bursts,
# exec churn, thousands of short threads, idle stretches), its --output file rotated
# logrotate style (rename, SIGHUP) every 30 s; checks that RSS, open fds and BPF objects stay
# flat, that the accounting is exact across rotations (records in all files + lost == seen)
# and that the reader never stalls over 1 s. Writes target/soak/report.json; exits non-zero
# on a failed check. Needs root; compiles its load helper with gcc (installed if missing).
# Knobs (SOAK_ROTATE, SOAK_WARMUP, SOAK_KEEP, ...): soak/README.md. Not part of `make test`.
DURATION ?= 600

.PHONY: soak

soak: build scenario
	@scripts/install-deps.sh packages gcc libc6-dev
	SOAK_BIN=$(abspath $(BIN)) SOAK_SCENARIO=$(abspath $(SCENARIO)) \
		/usr/bin/python3 soak/soak.py --duration $(DURATION)
