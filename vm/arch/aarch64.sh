# shellcheck shell=bash disable=SC2034,SC2054
# Per-architecture data for vm/run.sh and vm/kernels.sh (sourced, bash); see x86_64.sh.

DEB_ARCH=arm64
KERNEL_FLAVOUR=cloud-arm64
ELF_MACHINE=183   # EM_AARCH64

DEFAULT_KERNELS="5.10 6.1 newest"

# pauth-impdef=on: plain -cpu max emulates pointer authentication with QARMA, about 3x slower.
QEMU=qemu-system-aarch64
QEMU_PACKAGE=qemu-system-arm
# VM_SMP CPUs (default 8): the sharded-ring cells need several groups of CPUs; one TCG
# thread runs them in turn, as on x86_64 (see there).
QEMU_ARGS=(-accel tcg,thread=single -M virt -cpu max,pauth-impdef=on -smp "${VM_SMP:-8}" -m 1024)
CONSOLE=ttyAMA0
