/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal vmlinux.h: only the kernel types dispatch.bpf.c uses, hand-picked from the
 * kernel's BTF (`bpftool btf dump file /sys/kernel/btf/vmlinux format c`).
 *
 * Why not the full 3 MB dump: every struct that is read from the kernel is declared with
 * preserve_access_index, so libbpf relocates each field access against the running
 * kernel's BTF (CO-RE); the layouts written here only have to name the fields. That keeps
 * one header valid for x86_64 and arm64 and for every kernel from 5.10 on, and keeps the
 * embedded minimal BTF (bpftool gen min_core_btf) small. The enum values below are kernel
 * UAPI and never change.
 *
 * x86_64 types: from the build machine's /sys/kernel/btf/vmlinux. arm64 types: from the
 * BTF of Debian's arm64 cloud kernel, cut out of its Image with scripts/kernel-btf.py and
 * dumped with `bpftool btf dump file arm64.btf format c` (identical to what an arm64 guest
 * shows in /sys/kernel/btf/vmlinux). libbpf-cargo passes -D__TARGET_ARCH_x86 or _arm64.
 */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };

enum bpf_map_type {
	BPF_MAP_TYPE_PROG_ARRAY = 3,
	BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_CGROUP_ARRAY = 8,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_ARRAY_OF_MAPS = 12,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
};

enum {
	BPF_F_CURRENT_CPU = 0xffffffffULL,
};

/* Only for a CO-RE existence check: does the running kernel have this helper? */
enum bpf_func_id {
	BPF_FUNC_get_current_task_btf = 158,
};

enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};

enum {
	BPF_RB_AVAIL_DATA = 0,
};

struct bpf_pidns_info {
	__u32 pid;
	__u32 tgid;
};

/* The context of a raw tracepoint: for sys_enter, args[0] is the task's struct pt_regs *
 * and args[1] the syscall number. */
struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

struct thread_info {
	__u32 status; /* x86: TS_COMPAT while an ia32 syscall runs */
} __attribute__((preserve_access_index));

typedef struct {
	__u32 val;
} kuid_t;

struct cred {
	kuid_t uid; /* the global uid: what bpf_get_current_uid_gid() maps from init_user_ns */
} __attribute__((preserve_access_index));

struct kernfs_node {
	__u64 id; /* a u64 since 5.5: the cgroup id */
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup *dfl_cgrp; /* the task's cgroup in the v2 hierarchy */
} __attribute__((preserve_access_index));

struct task_struct {
	struct thread_info thread_info; /* first member with CONFIG_THREAD_INFO_IN_TASK */
	int pid;
	int tgid;
	struct task_struct *real_parent;
	const struct cred *cred;
	struct css_set *cgroups;
	char comm[16];
} __attribute__((preserve_access_index));

#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bp;
	unsigned long bx;
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
	unsigned long ip;
	unsigned long cs;
	unsigned long flags;
	unsigned long sp;
	unsigned long ss;
} __attribute__((preserve_access_index));
#elif defined(__TARGET_ARCH_arm64)
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
} __attribute__((preserve_access_index));

struct pt_regs {
	struct user_pt_regs user_regs;
	__u64 orig_x0;
	__s32 syscallno; /* the syscall number; ~0 when none (after rt_sigreturn) */
} __attribute__((preserve_access_index));
#else
#error "tailcall-logger supports x86_64 and arm64 (define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64)"
#endif

#endif /* __VMLINUX_H__ */
