# Fleets (deploy/, README "Fleets"): the container image, the Kubernetes DaemonSet, shipping
# with rsyslog, and the example configurations of other log pipelines.
#   make image           the OCI image tailcall-logger:VERSION from the static binary
#                        (FROM scratch, offline), saved as target/image/tailcall-logger-VERSION.oci.tar
#   make image-test      runs that archive with podman as the DaemonSet does: a host exec logged
#                        with its host pid; exit 3 under the default seccomp profile
#   make kube-test       deploy/kubernetes/ against the Kubernetes schemas (kubernetes-validate
#                        --strict, KUBE_VERSION) and its pod played by `podman kube play`
#   make rsyslog-test    the logger's JSON file through rsyslog (imfile, RELP, disk-assisted
#                        queue) to a central rsyslog in another network namespace, restarted
#                        mid-run: every delivered event arrives
#   make pipelines-test  the example OpenTelemetry Collector, Fluent Bit and Vector
#                        configurations parse (not run: none is packaged in Debian 12)
# As root; each test installs its Debian packages (and kubernetes-validate from PyPI) if
# missing, and fails instead of skipping under TAILCALL_LOGGER_REQUIRE_BPF=1.
# Uses ARCH, BIN and `build` from the main Makefile.
KUBE_VERSION ?= 1.37.0

.PHONY: image image-test kube-test rsyslog-test pipelines-test
TEST_EXTRA += image-test kube-test rsyslog-test pipelines-test

image: build
	deploy/image/build.sh $(BIN)

image-test: image
	deploy/image/test.sh

kube-test: image
	KUBE_VERSION=$(KUBE_VERSION) deploy/kubernetes/test.sh

rsyslog-test: build
	BIN=$(abspath $(BIN)) deploy/rsyslog/test.sh

pipelines-test:
	deploy/pipelines/test.sh
