# tailcall-logger: build, run and test. `make run` and `make test` work on a fresh Debian 12
# machine as root: they install what they need first (scripts/install-deps.sh).

ARCH ?= x86_64
RUST_TARGET := $(ARCH)-unknown-linux-musl
BIN := target/$(RUST_TARGET)/release/tailcall-logger
SCENARIO := target/$(RUST_TARGET)/release/tailcall-logger-scenario
CARGO ?= cargo
# Static musl build with vendored libbpf/libelf/zlib (see scripts/static-env.sh).
STATIC_ENV = eval "$$(scripts/static-env.sh $(ARCH))" &&
CARGO_TARGET_FLAGS := --release --target $(RUST_TARGET)
ARGS ?=

.PHONY: all deps test-deps build run unit test-host lint fmt-check clippy workflow-check test clean

all: build

deps:
	@scripts/install-deps.sh build $(ARCH)

test-deps:
	@scripts/install-deps.sh test $(ARCH)

build: deps
	$(STATIC_ENV) $(CARGO) build $(CARGO_TARGET_FLAGS)
	@file $(BIN) | grep -q 'static' || { echo "build: $(BIN) is not statically linked" >&2; exit 1; }

run: build
	$(BIN) $(ARGS)

# Unit tests: decoding, formatting, syscall tables, CLI; no privileges needed.
unit: deps
	$(STATIC_ENV) $(CARGO) test $(CARGO_TARGET_FLAGS) --lib --bins

# End-to-end tests on the host kernel: the logger is loaded for real. As root in CI,
# TAILCALL_LOGGER_REQUIRE_BPF=1 turns every skip into a failure.
test-host: test-deps
	$(STATIC_ENV) $(CARGO) test $(CARGO_TARGET_FLAGS) --test '*' -- --test-threads=1

fmt-check:
	$(CARGO) fmt --all -- --check

clippy: deps
	$(STATIC_ENV) $(CARGO) clippy $(CARGO_TARGET_FLAGS) --all-targets -- -D warnings

workflow-check: test-deps
	/usr/bin/python3 scripts/check-workflow.py

lint: fmt-check clippy workflow-check

# Everything CI runs. Each mk/*.mk fragment whose targets belong here adds them to
# TEST_EXTRA (`TEST_EXTRA += ...`), in the order the fragments are included below; bench and
# fuzz do not. A subset: make test TEST_EXTRA=lima-test.
TEST_EXTRA :=

test: test-deps lint unit test-host
	$(MAKE) $(TEST_EXTRA)

clean:
	$(CARGO) clean

# The fragments, in the order their test targets run. `include`: a missing one is an error,
# and so is one in mk/ that is not listed here.
MK_FRAGMENTS := mk/package.mk mk/lima.mk mk/vm.mk mk/bench.mk mk/fuzz.mk
$(if $(filter-out $(MK_FRAGMENTS),$(wildcard mk/*.mk)),$(error mk/*.mk not listed in MK_FRAGMENTS: $(filter-out $(MK_FRAGMENTS),$(wildcard mk/*.mk))))
include $(MK_FRAGMENTS)
