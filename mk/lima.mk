# The Lima template for macOS users (lima/, README "On macOS").
#   make lima-test    checks it without limactl: schema, typos, Lima's own rules, and its
#                     scripts run in a Debian 12 chroot (lima/test.sh; LIMA_TEST_GUEST_BUILD=1
#                     adds the real in-guest build of the package, about 1.5 min)
#   make lima-embed   copies lima/provision.sh into the template (run after editing it)
.PHONY: lima-test lima-embed
TEST_EXTRA += lima-test
lima-test:
	lima/test.sh

lima-embed:
	/usr/bin/python3 lima/embed.py --write
