# The multi-kernel matrix in QEMU (vm/run.sh): make vm-test [ARCH=aarch64] [KERNELS="5.10 6.1"]
KERNELS ?=

.PHONY: vm-test
vm-test: build
	ARCH=$(ARCH) KERNELS="$(KERNELS)" vm/run.sh

# make test covers both architectures; the aarch64 half cross-builds first.
.PHONY: vm-test-aarch64
vm-test-aarch64:
	$(MAKE) vm-test ARCH=aarch64
