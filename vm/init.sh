#!/bin/busybox sh
# PID 1 inside the test VM: mount what the logger needs, run the scenario, power off.
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
echo "VM-BOOTED $(uname -r) $(uname -m)"
sh /guest-scenario.sh
echo VM-SCENARIO-DONE
poweroff -f
