# Packages: a .deb and an .rpm of the static binary (packaging/, README "Packages").
#   make package        target/packages/tailcall-logger_VERSION-1_amd64.deb (arm64 with
#                       ARCH=aarch64) and target/packages/tailcall-logger-VERSION-1.x86_64.rpm
#   make package-repo   also a local apt repository of the .deb in target/packages/apt
#   make package-test   builds both, lints them, installs the .deb with apt-get from a local
#                       repository, runs it, removes it (as root; see packaging/test.sh)
# Uses ARCH, RUST_TARGET, BIN and `build` from the main Makefile. cargo-deb and
# cargo-generate-rpm are installed into ~/.cargo/bin on first use
# (packaging/install-packagers.sh).

PACKAGE_DIR ?= target/packages
HOST_ARCH := $(shell uname -m)
HOST_BIN := target/$(HOST_ARCH)-unknown-linux-musl/release/tailcall-logger

.PHONY: package package-repo package-test
TEST_EXTRA += package-test

# The man page and completions are written by running the binary; when ARCH is not this
# machine's, the host build writes them (they do not depend on the architecture).
package: build
ifneq ($(ARCH),$(HOST_ARCH))
	$(MAKE) build ARCH=$(HOST_ARCH)
	BIN=$(BIN) ASSETS_BIN=$(HOST_BIN) PACKAGE_DIR=$(PACKAGE_DIR) packaging/build.sh $(ARCH)
else
	BIN=$(BIN) PACKAGE_DIR=$(PACKAGE_DIR) packaging/build.sh $(ARCH)
endif

package-repo: package
	packaging/apt-repo.sh $(PACKAGE_DIR)/apt $(PACKAGE_DIR)/tailcall-logger_*_$(if $(filter aarch64,$(ARCH)),arm64,amd64).deb

package-test:
	ARCH=$(ARCH) PACKAGE_DIR=$(PACKAGE_DIR) packaging/test.sh
