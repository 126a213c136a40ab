# shellcheck shell=bash disable=SC2034,SC2054
# Per-architecture data for vm/run.sh and vm/kernels.sh (sourced, bash); see x86_64.sh.

DEB_ARCH=arm64
KERNEL_FLAVOUR=cloud-arm64
ELF_MACHINE=183   # EM_AARCH64

DEFAULT_KERNELS="5.10 6.1 newest"

# pauth-impdef=on: plain -cpu max emulates pointer authentication with QARMA, about 3x slower.
QEMU=qemu-system-aarch64
QEMU_PACKAGE=qemu-system-arm
QEMU_ARGS=(-accel tcg -M virt -cpu max,pauth-impdef=on -smp 1 -m 1024)
CONSOLE=ttyAMA0
