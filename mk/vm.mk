# The multi-kernel test matrix in QEMU under TCG (vm/README.md, vm/run.sh).
#   make vm-test                        build the static logger and scenario binaries (`build`,
#                                       `scenario`), boot every x86_64 kernel
#   make vm-test KERNELS="5.10 6.1"     a subset (labels: X.Y or newest; vm/arch/ARCH.sh)
#   make vm-test ARCH=aarch64           arm64 kernels (cross-builds first)
#   make vm-test VM_BIN_DIR=DIR         binaries from DIR, no build (stubs, prebuilt)
#   make vm-kernels [ARCH=..] [KERNELS=..]  only resolve and download the kernels
# Results: target/vm-test/ARCH/results.md and results.json, console logs in logs/.
# Other knobs (environment): VM_CACHE, VM_JOBS, VM_TIMEOUT, VM_CELL_TIMEOUT, VM_APPEND.
# Uses ARCH, RUST_TARGET, `build` and `scenario` from the main Makefile.
KERNELS ?=
VM_BIN_DIR ?=
VM_RUN = ARCH=$(ARCH) KERNELS="$(KERNELS)" \
	VM_BIN_DIR="$(or $(VM_BIN_DIR),target/$(or $(RUST_TARGET),$(ARCH)-unknown-linux-musl)/release)" \
	vm/run.sh

.PHONY: vm-test vm-test-aarch64 vm-kernels
TEST_EXTRA += vm-test vm-test-aarch64

vm-test: $(if $(VM_BIN_DIR),,build scenario)
	$(VM_RUN)

# make test covers both architectures; the aarch64 half cross-builds first.
vm-test-aarch64:
	$(MAKE) vm-test ARCH=aarch64

vm-kernels:
	$(VM_RUN) --fetch-only
