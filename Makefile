# tailcall-logger: build, run and test. `make run` and `make test` work on a fresh Debian 12
# machine as root: they install what they need first (scripts/install-deps.sh).

ARCH ?= x86_64
RUST_TARGET := $(ARCH)-unknown-linux-musl
BIN := target/$(RUST_TARGET)/release/tailcall-logger
# Test tooling from testkit/ (`make scenario`), next to the logger: the host tests and
# vm/run.sh look for it there. Never installed or packaged.
SCENARIO := target/$(RUST_TARGET)/release/tailcall-logger-scenario
CARGO ?= cargo
# Static musl build with vendored libbpf/libelf/zlib (see scripts/static-env.sh).
STATIC_ENV = eval "$$(scripts/static-env.sh $(ARCH))" &&
CARGO_TARGET_FLAGS := --release --target $(RUST_TARGET)
ARGS ?=

.PHONY: all deps test-deps build scenario run unit test-host lint fmt-check clippy workflow-check module-check test clean

all: build

deps:
	@scripts/install-deps.sh build $(ARCH)

test-deps:
	@scripts/install-deps.sh test $(ARCH)

# The logger alone (the workspace's default member): what `make run` and the packages use.
build: deps
	$(STATIC_ENV) $(CARGO) build $(CARGO_TARGET_FLAGS)
	@file $(BIN) | grep -q 'static' || { echo "build: $(BIN) is not statically linked" >&2; exit 1; }

# The scenario binary (testkit/, test tooling), for test-host and vm-test.
scenario: deps
	$(STATIC_ENV) $(CARGO) build $(CARGO_TARGET_FLAGS) -p tailcall-logger-testkit --bin tailcall-logger-scenario
	@file $(SCENARIO) | grep -q 'static' || { echo "scenario: $(SCENARIO) is not statically linked" >&2; exit 1; }

run: build
	$(BIN) $(ARGS)

# Unit tests: decoding, formatting, syscall tables, CLI, the testkit's own; no privileges.
unit: deps
	$(STATIC_ENV) $(CARGO) test $(CARGO_TARGET_FLAGS) --workspace --lib --bins

# End-to-end tests on the host kernel: the logger is loaded for real. As root in CI,
# TAILCALL_LOGGER_REQUIRE_BPF=1 turns every skip into a failure. The tests run the
# scenario binary from beside the logger: `scenario` builds it first. --no-fail-fast: a
# failure in one test file does not keep the others from running (and reporting).
test-host: test-deps scenario
	$(STATIC_ENV) $(CARGO) test $(CARGO_TARGET_FLAGS) --no-fail-fast --test '*' -- --test-threads=1

fmt-check:
	$(CARGO) fmt --all -- --check

clippy: deps
	$(STATIC_ENV) $(CARGO) clippy $(CARGO_TARGET_FLAGS) --workspace --all-targets -- -D warnings

workflow-check: test-deps
	/usr/bin/python3 scripts/check-workflow.py

# The crate's modules import each other one way only (no cycle).
module-check:
	/usr/bin/python3 scripts/check-modules.py

lint: fmt-check clippy workflow-check module-check

# Everything CI runs. Each mk/*.mk fragment whose targets belong here adds them to
# TEST_EXTRA (`TEST_EXTRA += ...`), in the order the fragments are included below; bench,
# fuzz and soak do not. A subset: make test TEST_EXTRA=lima-test.
TEST_EXTRA :=

test: test-deps lint unit test-host
	$(MAKE) $(TEST_EXTRA)

clean:
	$(CARGO) clean

# The fragments, in the order their test targets run. `include`: a missing one is an error,
# and so is one in mk/ that is not listed here.
MK_FRAGMENTS := mk/package.mk mk/lima.mk mk/fleet.mk mk/vm.mk mk/bench.mk mk/fuzz.mk mk/soak.mk
$(if $(filter-out $(MK_FRAGMENTS),$(wildcard mk/*.mk)),$(error mk/*.mk not listed in MK_FRAGMENTS: $(filter-out $(MK_FRAGMENTS),$(wildcard mk/*.mk))))
include $(MK_FRAGMENTS)
