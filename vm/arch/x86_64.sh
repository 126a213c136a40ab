# shellcheck shell=bash disable=SC2034,SC2054
# Per-architecture data for vm/run.sh and vm/kernels.sh (sourced, bash). To add an
# architecture, copy this file to vm/arch/ARCH.sh (ARCH as in `uname -m` and the Makefile's
# ARCH) and fill in the same variables.

# Debian's name for the architecture and the kernel flavour without UEFI/Xen/firmware
# baggage: linux-image-*-cloud-amd64-unsigned, linux-binary-*-cloud-amd64 (7.x and later).
DEB_ARCH=amd64
KERNEL_FLAVOUR=cloud-amd64
# ELF e_machine of the binaries that go into the initramfs (62 = EM_X86_64).
ELF_MACHINE=62

# `make vm-test` without KERNELS: labels understood by vm/kernels.sh.
DEFAULT_KERNELS="5.10 6.1 6.12 newest"

# QEMU under TCG, always: /dev/kvm exists on the build machines but hangs.
QEMU=qemu-system-x86_64
QEMU_PACKAGE=qemu-system-x86
# VM_SMP CPUs (default 8): the sharded-ring cells need several groups of CPUs. One TCG
# thread runs them all in turn (thread=single): with a host thread per vCPU, the newest
# kernel sometimes died early in boot on an int3 left by its own code patching (the other
# vCPUs ran the half-patched code), and the VMs no longer take more host cores than one.
QEMU_ARGS=(-accel tcg,thread=single -cpu max -smp "${VM_SMP:-8}" -m 768)
CONSOLE=ttyS0
