#!/bin/busybox sh
# PID 1 inside each test VM (the initramfs's /init): mount what the logger needs, run
# /guest-scenario.sh, power off. Everything goes to the serial console, which vm/run.sh
# reads. Kernel command line words of the form NAME=VALUE that the kernel does not know
# (VM_CELL_TIMEOUT=..., set by vm/run.sh) arrive here as environment variables.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || echo "VM-WARN devtmpfs not mounted"
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
  mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null ||
  echo "VM-WARN neither tracefs nor debugfs mounted"
mount -t bpf bpf /sys/fs/bpf 2>/dev/null || echo "VM-WARN bpffs not mounted"
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
# shellcheck disable=SC3045 # busybox ash has ulimit -l
ulimit -l unlimited 2>/dev/null # kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK

read -r uptime _ </proc/uptime
echo
echo "VM-BOOTED $(uname -r) $(uname -m) uptime=$uptime"
sh /guest-scenario.sh
echo "VM-SCENARIO-EXIT $?"
sync
poweroff -f
# Not reached; if poweroff ever failed, a panic (panic=-1 and -no-reboot) still ends qemu.
exit 1
