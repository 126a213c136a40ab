# Coverage-guided fuzzing of the record decoder and both formatters (not part of make test).
# cargo-fuzz needs nightly features; the stable toolchain is allowed them with
# RUSTC_BOOTSTRAP=1, since no other toolchain can be installed here.
FUZZ_SECONDS ?= 60

.PHONY: fuzz
fuzz: deps
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decode_and_format -- \
		-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=512 -malloc_limit_mb=64
