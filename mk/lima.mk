# The Lima template for macOS users (lima/): make lima-test checks it without limactl.
.PHONY: lima-test
lima-test:
	lima/test.sh
