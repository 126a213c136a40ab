// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel half of tailcall-logger.
 *
 * Two dispatchers on raw_tp/sys_enter share the handler code; userspace loads one:
 *  - dispatch_tail looks the syscall number up in the per-syscall table and tail calls
 *    the handler's program from a prog array (exec and timer calls), or logs the call
 *    itself when it has no program of its own (the Learning eBPF design);
 *  - dispatch_inline switches on the same per-syscall table and runs the handlers in place,
 *    for kernels that refuse tail calls from programs with BPF-to-BPF calls.
 * Both decide to ignore a syscall before any helper call but, where its number means
 * another call in the other ABI, the task fetch of the ia32 check: that path must cost no
 * more than an empty program.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "dispatch.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

_Static_assert(ARG_MAX_LEN == 256, "handle_exec detects a full argument with n >> 8");

/* Set by userspace before load (frozen rodata: the verifier prunes the dead branches). */
const volatile __u32 self_tgid = 0;          /* the logger itself; 0 = none */
/* The logger runs in a pid namespace of its own (a container): self_tgid is its pid there,
 * and the namespace (device, inode of /proc/self/ns/pid) is where to ask for it. */
const volatile bool self_in_pidns = false;
const volatile __u64 self_ns_dev = 0;
const volatile __u64 self_ns_ino = 0;
const volatile __u32 filter_tgid = 0;        /* 0 = every process */
const volatile bool filter_by_uid = false;
const volatile __u32 filter_uid = 0;
const volatile bool filter_by_comm = false;
const volatile char filter_comm[TASK_COMM_LEN] = {};
const volatile bool read_ppid = true;        /* false when BTF cannot vouch for task_struct */
const volatile bool capture_argv = true;     /* false: argv never leaves the kernel */
const volatile bool kernel_btf = false;      /* the BTF in use is the running kernel's own */
const volatile bool use_ringbuf = true;      /* else the perf event array */
const volatile bool wake_reader = true;      /* false: never wake the reader (tests) */
const volatile __u32 ring_cpus = 0;          /* CPUs per ring of events_rings; 0: events_rb only */
const volatile __s32 nr_execveat = -1;
const volatile __s32 nr_execveat_compat = -1; /* in the i386 table */
const volatile __u32 nr_syscalls = 0;        /* size of this architecture's table */
/* enum handler_kind per key: the native number, or compat_base + number for an ia32
 * syscall on x86_64 (the i386 table follows the native one). */
const volatile __u8 syscall_handler[MAX_SYSCALLS] = {};
/* 1: ignored whatever the ABI, so the ignore path needs no compat check. */
const volatile __u8 ignore_any_abi[MAX_SYSCALLS] = {};
const volatile bool detect_compat = false;   /* x86_64: tell ia32 syscalls apart */
const volatile __u32 compat_base = 0;        /* where the i386 part of the tables starts */
const volatile __u32 nr_keys = 0;            /* native table, then the i386 one if any */
const volatile bool capture_args = false;    /* --args */
const volatile __u32 string_size = 256;      /* --string-size, at most STRING_MAX_LEN */
const volatile __u16 arg_captures[MAX_SYSCALLS] = {}; /* per key; see enum arg_kind */
const volatile bool results = false;         /* --results or --count: pair entry and exit */
const volatile bool count_only = false;      /* --count: aggregate, no records */
const volatile bool failed_only = false;     /* --failed */
const volatile __u64 min_duration_ns = 0;    /* --min-duration */
const volatile __u8 key_traits[MAX_SYSCALLS] = {}; /* per key; see enum key_traits */
const volatile __u32 filter_cgroups = 0;     /* --cgroup/--container: slots used in cgroup_filter */

/* --count: which half of call_stats the programs fill; userspace flips it, then reads and
 * clears the other half, so an interval's figures are exact and none is lost. */
__u32 count_epoch = 0;

/* Set by the reader before a wait longer than a millisecond, cleared by the first record
 * that finds it set, which wakes the reader (see wake_flags). */
__u32 reader_asleep = 0;

/* Referenced once so the skeleton generates the record types for userspace (one definition). */
struct exec_record exec_record_layout = {};
struct args_record args_record_layout = {};
struct arg_capture arg_capture_layout = {};
enum arg_kind arg_kind_layout = ARG_VALUE;
struct counters counters_layout = {};
struct pending pending_layout = {};
struct call_stats call_stats_layout = {};
enum pending_state pending_state_layout = PENDING_IDLE;
enum key_traits key_traits_layout = TRAIT_NO_RETURN;
enum handler_kind handler_kind_layout = HANDLER_OTHER;
enum read_status read_status_layout = READ_OK;
enum record_flags record_flags_layout = (enum record_flags)0;

/* The handler programs, in the slots of their enum handler_kind: handle_exec_prog in
 * HANDLER_EXEC's, handle_timer_prog in HANDLER_TIMER's; HANDLER_OTHER's and HANDLER_IGNORE's
 * stay empty (dispatch_tail logs other calls itself; ignored calls stop before it). The
 * per-syscall choice is the syscall_handler table. The key is not a constant on purpose:
 * with constant keys (bpf_tail_call_static) the x86 JIT jumps straight to the handler, 9
 * to 18 ns less per tail call on the bench machine, but on 6.18 the prog array then
 * outlived a logger that was killed (SIGKILL, under load: one map and its BTF left in the
 * kernel per run). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, HANDLER_PROGS);
	__type(key, __u32);
	__type(value, __u32);
} handlers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized by userspace */
} events_rb SEC(".maps");

/* Sharded rings: CPU n writes ring n / ring_cpus, so a ring's lock is shared by a group of
 * CPUs, not by all of them. The rings are created by userspace (one per group, with
 * events_rb's size divided among them) and put in here before attach; userspace also
 * replaces this template with its first ring, so the definition only tells the skeleton
 * the inner map's type. Ring buffers work as inner maps from 5.8, with the ring buffer
 * itself (its selftest test_ringbuf_multi came with it); userspace still tries one
 * (plan::sharding_trial) and falls back to events_rb if the kernel refuses. */
struct ring_shard {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* resized to the number of rings */
	__type(key, __u32);
	__array(values, struct ring_shard);
} events_rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events_pb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counters SEC(".maps");

/* Who made the call, and the call's table key: what a handler needs of its dispatcher.
 * A tail call keeps only ctx, so dispatch_tail leaves them in this CPU's slot of
 * `callers` and the handler reads them there, instead of fetching the task again (a
 * helper call, 7 ns on the bench machine, and the verifier's trust lookups for the task's
 * pointers in every handler program, see fill_caller). Nothing else writes the slot in
 * between: the handler runs within the dispatcher's run, and the kernel does not start
 * the dispatcher again on this CPU before that run is over (it skips it and counts a
 * recursion miss). Calls logged by the dispatcher itself keep their caller on the stack. */
struct caller {
	long key;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	char comm[TASK_COMM_LEN]; /* 8-byte aligned: copied in two loads, not sixteen */
	__u8 flags; /* RECORD_HAS_PPID */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct caller);
} callers SEC(".maps");

/* Exec records are too big for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_record);
} exec_scratch SEC(".maps");

/* Records with arguments are too big for the stack too. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct args_record);
} args_scratch SEC(".maps");

/* --results: each thread's call in flight, by thread id. LRU: a full map evicts the
 * oldest slot (its exit then counts as unpaired) rather than refusing new threads. Slots
 * are freed when their thread exits. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240); /* resized by userspace */
	__type(key, __u32);
	__type(value, struct pending);
} pending SEC(".maps");

/* --cgroup and --container: the cgroup2 directories whose subtrees are logged, filled by
 * userspace before attach. bpf_current_task_under_cgroup tests the task against a slot in
 * constant time (the cgroup's ancestor table), works in tracing programs on every kernel
 * supported, and covers cgroups created below a slot after the filter was set up.
 * bpf_get_current_ancestor_cgroup_id would need no map, but raw_tp programs only get it
 * from 6.0 on. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, MAX_CGROUP_FILTERS); /* resized to the slots used before load */
	__type(key, __u32);
	__type(value, __u32);
} cgroup_filter SEC(".maps");

/* --count: two halves of MAX_SYSCALLS keys each (see count_epoch). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct call_stats);
} call_stats SEC(".maps");

static __always_inline struct counters *cpu_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

/* True when the current task is in the subtree of one of the filter's cgroups. */
static __always_inline bool in_filtered_cgroup(void)
{
	for (__u32 i = 0; i < MAX_CGROUP_FILTERS; i++) {
		if (i >= filter_cgroups)
			break;
		if (bpf_current_task_under_cgroup(&cgroup_filter, i) == 1)
			return true;
	}
	return false;
}

/*
 * The filters, as a subprogram both dispatchers call. Keeping it a real BPF-to-BPF call
 * is deliberate: it is what makes the tail-call dispatcher need "tail calls with
 * subprograms" support, which auto mode probes by a trial load (arm64 before 6.0 lacks it).
 */
/* Whether the current task is the logger itself. In a pid namespace of its own, the host
 * tgid of every task would never match the logger's own pid: ask for the task's pid in the
 * logger's namespace instead (an error for tasks outside it). */
static __always_inline bool is_self(__u32 tgid)
{
	if (self_in_pidns) {
		struct bpf_pidns_info ns = {};

		return bpf_get_ns_current_pid_tgid(self_ns_dev, self_ns_ino, &ns, sizeof(ns)) == 0 &&
		       ns.tgid == self_tgid;
	}
	return self_tgid && tgid == self_tgid;
}

static __noinline int wanted(void)
{
	__u64 id;
	__u32 tgid;

	/* --cgroup/--container without --pid: the cgroup test first, so that a rejection (most
	 * tasks) costs one helper call, as a --pid rejection does. */
	if (filter_cgroups && !filter_tgid && !in_filtered_cgroup())
		return 0;
	id = bpf_get_current_pid_tgid();
	tgid = id >> 32;
	if (is_self(tgid))
		return 0;
	if (filter_tgid && tgid != filter_tgid)
		return 0;
	if (filter_by_uid && (__u32)bpf_get_current_uid_gid() != filter_uid)
		return 0;
	if (filter_by_comm) {
		char comm[TASK_COMM_LEN];

		bpf_get_current_comm(comm, sizeof(comm));
		for (int i = 0; i < TASK_COMM_LEN; i++) {
			if (comm[i] != filter_comm[i])
				return 0;
			if (!comm[i])
				break;
		}
	}
	/* With --pid: after it, which rejects first at less cost. */
	if (filter_cgroups && filter_tgid && !in_filtered_cgroup())
		return 0;
	return 1;
}

/* Whether the task can be read through BTF pointers: the kernel's own BTF and
 * bpf_get_current_task_btf() (5.11+). */
#define TASK_BTF (kernel_btf && bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))

#define TS_COMPAT 0x0002 /* x86 thread_info.status: a 32-bit syscall is running */

/* The current task's BTF pointer where TASK_BTF holds, else NULL. */
static __always_inline struct task_struct *current_task_btf(void)
{
	return TASK_BTF ? bpf_get_current_task_btf() : NULL;
}

/* True while the current task runs an ia32 syscall (the kernel's in_ia32_syscall()): a
 * plain load through `task` (current_task_btf()), else one probe read. */
static __always_inline bool in_compat_syscall(struct task_struct *task)
{
#if defined(__TARGET_ARCH_x86)
	if (task)
		return task->thread_info.status & TS_COMPAT;
	task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, thread_info.status) & TS_COMPAT;
#else
	return false;
#endif
}

/* The current thread group id: a load through `task` when the caller already has it (the
 * compat check fetched it), else one helper call. */
static __always_inline __u32 current_tgid(struct task_struct *task)
{
	return task ? task->tgid : bpf_get_current_pid_tgid() >> 32;
}

#define STOP (-1) /* no record: not a syscall, ignored or filtered out */
#define MISS (-2) /* no handler for this number: counted in dispatch_miss */

/* The filters, with no subprogram call when none is set but the logger's own exclusion and
 * --pid (the common cases; the subprogram and its helper call for the tgid cost 15-20 ns
 * on the bench machine). The call to wanted() stays in the program either way, so a
 * kernel that refuses tail calls with subprograms refuses this dispatcher whatever the
 * options. */
static __always_inline int admitted(struct task_struct *task)
{
	if (!filter_by_uid && !filter_by_comm && !filter_cgroups) {
		__u32 tgid = current_tgid(task);

		return !is_self(tgid) && (!filter_tgid || tgid == filter_tgid);
	}
	return wanted();
}

/* Common head of both dispatchers and of the exit side: returns the table key of the
 * syscall to handle (the number, or compat_base + number for an ia32 syscall), or STOP or
 * MISS. *task is the current task's BTF pointer if it was needed (for the ia32 check),
 * else left NULL: an ignored call is not worth a helper call. */
static __always_inline long admit(long nr, struct task_struct **task_out)
{
	struct task_struct *task = NULL;
	long key = nr;

	/* -1: no syscall (ptrace or seccomp skipped it); never a record. */
	if (nr < 0)
		return STOP;
	if (nr < MAX_SYSCALLS && ignore_any_abi[nr])
		return STOP;
	if (detect_compat)
		task = current_task_btf();
	if (detect_compat && in_compat_syscall(task))
		key = compat_base + nr;
	else if (nr >= nr_syscalls)
		key = MAX_SYSCALLS; /* beyond the native table: no handler */
	if (key >= nr_keys)
		key = MAX_SYSCALLS;
	if (key < MAX_SYSCALLS && syscall_handler[key] == HANDLER_IGNORE)
		return STOP;
	if (!admitted(task))
		return STOP;
	*task_out = task;
	return key < MAX_SYSCALLS ? key : MISS;
}

/* The syscall number in its own table, and whether that is the i386 one. */
static __always_inline long number_of(long key, bool *compat)
{
	*compat = detect_compat && compat_base && key >= compat_base;
	return *compat ? key - compat_base : key;
}

/* "seen" is counted together with the outcome (emitted, dropped or missed): one per-CPU
 * lookup per record instead of two. */
static __always_inline void count_miss(void)
{
	struct counters *c = cpu_counters();

	if (c) {
		c->seen++;
		c->dispatch_miss++;
	}
}

/* The call's key and who made it, for the handler. With TASK_BTF the task's fields are
 * plain loads through its BTF pointer (`task`, from admit(), or fetched here): the ids and
 * the parent, the uid as stored in its cred (the global uid, which
 * bpf_get_current_uid_gid() maps through init_user_ns, an identity, for 26 ns more per
 * call on the bench machine), and the cgroup id through the pointers
 * bpf_get_current_cgroup_id() follows (cgroups, dfl_cgrp, kn), without its call and its
 * RCU calls: 30 ns a call there, where every return pays the CPU's return-thunk
 * mitigation. The price is at startup: from 6.2 on the verifier looks up the trust rules
 * of every pointer loaded through a trusted one by name in the kernel's BTF, a scan of
 * the whole BTF, about a millisecond per load per program on 6.18; hence these loads are
 * made in the dispatchers only (struct caller). A read-only cast (bpf_rdonly_cast) would
 * avoid the lookups, but a kfunc needs the kernel's own BTF even to be found missing, and
 * the logger also loads with embedded BTF. Without TASK_BTF: the helpers, and probe reads
 * for the parent. */
static __always_inline void fill_caller(struct caller *c, long key, struct task_struct *task)
{
	__u64 id;

	c->key = key;
	c->flags = 0;
	if (TASK_BTF) {
		if (!task)
			task = bpf_get_current_task_btf();
		c->pid = task->tgid;
		c->tid = task->pid;
		c->uid = task->cred->uid.val;
		c->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
		c->ppid = task->real_parent->tgid;
		c->flags = RECORD_HAS_PPID;
		__builtin_memcpy(c->comm, task->comm, sizeof(c->comm));
		return;
	}
	id = bpf_get_current_pid_tgid();
	c->pid = id >> 32;
	c->tid = (__u32)id;
	c->uid = (__u32)bpf_get_current_uid_gid();
	c->cgroup_id = bpf_get_current_cgroup_id();
	c->ppid = 0;
	if (read_ppid) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();

		c->ppid = BPF_CORE_READ(t, real_parent, tgid);
		c->flags = RECORD_HAS_PPID;
	}
	bpf_get_current_comm(c->comm, sizeof(c->comm));
}

static __always_inline void fill_header(struct record_header *h, long key, __u8 kind,
					const struct caller *who)
{
	bool compat;
	long nr = number_of(key, &compat);

	h->ktime_ns = bpf_ktime_get_ns();
	h->nr = nr;
	h->cpu = bpf_get_smp_processor_id();
	h->kind = kind;
	h->flags = compat ? RECORD_COMPAT : 0;
	h->ret = 0;
	h->duration_ns = 0;
	if (results)
		h->flags |= key >= 0 && key < MAX_SYSCALLS &&
				    (key_traits[key & (MAX_SYSCALLS - 1)] & TRAIT_NO_RETURN) ?
				    RECORD_NO_RETURN :
				    RECORD_AWAITS_RESULT;
	h->pid = who->pid;
	h->tid = who->tid;
	h->uid = who->uid;
	h->cgroup_id = who->cgroup_id;
	h->ppid = who->ppid;
	h->flags |= who->flags;
	__builtin_memcpy(h->comm, who->comm, sizeof(h->comm));
}

/* The ring buffer's wakeup for a record: only when the reader sleeps, and then once. A
 * wakeup is a self-IPI (irq_work), whose cost depends on the machine: about 10 us under
 * this VM's hypervisor, where it exits to the host. A reader that is reading, or napping
 * for a millisecond after records came (src/reader.rs), needs none: it reads again while a
 * ring holds records, and the ring holds more than a millisecond of a storm. So records
 * cost no wakeup while records flow, and the first record after a quiet spell wakes the
 * reader at once. Asking the ring for its backlog (bpf_ringbuf_query) on every record, or
 * waking every N records, cost more. Call it only for a record that will be written: the
 * flag is cleared here. */
static __always_inline long wake_flags(void)
{
	if (!wake_reader || !*(volatile __u32 *)&reader_asleep)
		return BPF_RB_NO_WAKEUP;
	*(volatile __u32 *)&reader_asleep = 0;
	return BPF_RB_FORCE_WAKEUP;
}

/* The ring this CPU writes: events_rb, or its group's ring (NULL only if userspace left
 * the slot empty: the record then counts as dropped). Records of one CPU always go to the
 * same ring, in order; rings are read one after the other, so only ktime_ns orders records
 * of different rings. */
static __always_inline void *cpu_ring(void)
{
	__u32 group;

	if (!ring_cpus)
		return &events_rb;
	group = bpf_get_smp_processor_id() / ring_cpus;
	return bpf_map_lookup_elem(&events_rings, &group);
}

static __always_inline long output_to(void *ctx, void *data, __u64 size)
{
	if (use_ringbuf) {
		void *ring = cpu_ring();

		if (!ring)
			return -2; /* -ENOENT */
		return bpf_ringbuf_output(ring, data, size, wake_flags());
	}
	return bpf_perf_event_output(ctx, &events_pb, BPF_F_CURRENT_CPU, data, size);
}

static __always_inline void output(void *ctx, void *data, __u64 size)
{
	struct counters *c = cpu_counters();
	long err = output_to(ctx, data, size);

	if (!c)
		return;
	c->seen++;
	if (err)
		c->dropped++;
	else
		c->emitted++;
}

/* Sends a record whose last `room` bytes are a buffer of which `used` are filled: the
 * record is cut after them, so the common case stays small. */
static __always_inline void output_used(void *ctx, void *rec, __u64 full, __u64 room, __u64 used)
{
	__u64 size = full - room + used;

	if (size > full)
		size = full;
	output(ctx, rec, size);
}

static __always_inline void count_fault(void)
{
	struct counters *c = cpu_counters();

	if (c)
		c->read_faults++;
}

/* The six argument registers, from one copy of pt_regs (one helper call, not six). */
static __always_inline void read_raw_args(struct bpf_raw_tracepoint_args *ctx, bool compat,
					  __u64 *raw)
{
	struct pt_regs regs = {};

	bpf_probe_read_kernel(&regs, sizeof(regs), (void *)ctx->args[0]);
#if defined(__TARGET_ARCH_x86)
	if (compat) {
		/* ia32: ebx, ecx, edx, esi, edi, ebp; 32-bit values. */
		raw[0] = (__u32)regs.bx;
		raw[1] = (__u32)regs.cx;
		raw[2] = (__u32)regs.dx;
		raw[3] = (__u32)regs.si;
		raw[4] = (__u32)regs.di;
		raw[5] = (__u32)regs.bp;
		return;
	}
	raw[0] = regs.di;
	raw[1] = regs.si;
	raw[2] = regs.dx;
	raw[3] = regs.r10; /* the syscall ABI's fourth register, not rcx */
	raw[4] = regs.r8;
	raw[5] = regs.r9;
#else
	/* x0 is overwritten by the return value; orig_x0 keeps the first argument. */
	raw[0] = regs.orig_x0;
	raw[1] = regs.user_regs.regs[1];
	raw[2] = regs.user_regs.regs[2];
	raw[3] = regs.user_regs.regs[3];
	raw[4] = regs.user_regs.regs[4];
	raw[5] = regs.user_regs.regs[5];
#endif
}

#define CAPTURE_MAX (sizeof(struct arg_capture) + STRING_MAX_LEN + 1)
_Static_assert(ARGS_DATA_LEN == ARG_CAPTURES * CAPTURE_MAX, "two captures fit in data");

/* Reads what argument `index` points to (a string or a sockaddr, by `kind`) into
 * a->data at `off`, behind a struct arg_capture. Returns the bytes used. */
static __always_inline __u32 capture_one(struct args_record *a, __u32 off, __u32 index,
					 __u32 kind)
{
	struct arg_capture *c;
	const void *ptr;
	__u32 size = string_size;
	__u64 want;
	long got;

	if (kind == ARG_VALUE || index >= SYSCALL_ARGS || off > CAPTURE_MAX)
		return 0;
	c = (struct arg_capture *)&a->data[off];
	c->index = index;
	c->len = 0;
	ptr = (const void *)a->raw_args[index];
	if (!ptr) {
		c->status = READ_NULL;
		return sizeof(*c);
	}
	if (kind == ARG_PATH) {
		/* --string-size counts the NUL: at most size - 1 characters are kept. One byte
		 * more is read, so a string of exactly size - 1 is not called truncated. */
		if (size > STRING_MAX_LEN)
			size = STRING_MAX_LEN;
		if (size < 2)
			size = 2;
		got = bpf_probe_read_user_str(&a->data[off + sizeof(*c)], size + 1, ptr);
		if (got < 0) {
			c->status = READ_FAULT;
			count_fault();
			return sizeof(*c);
		}
		c->status = got > size ? READ_TRUNCATED : READ_OK;
		c->len = got > size ? size - 1 : (got > 0 ? got - 1 : 0);
		return sizeof(*c) + (c->len & (STRING_MAX_LEN - 1));
	}
	/* ARG_SOCKADDR: the length is the next argument. */
	want = index + 1 < SYSCALL_ARGS ? a->raw_args[(index + 1) & 7] : 0;
	c->status = READ_OK;
	if (want > SOCKADDR_MAX_LEN) {
		want = SOCKADDR_MAX_LEN;
		c->status = READ_TRUNCATED;
	}
	if (bpf_probe_read_user(&a->data[off + sizeof(*c)], want & (2 * SOCKADDR_MAX_LEN - 1),
				ptr)) {
		c->status = READ_FAULT;
		count_fault();
		return sizeof(*c);
	}
	c->len = want;
	return sizeof(*c) + want;
}

/*
 * --results: a call is reported once, when it returns. At entry its record waits in the
 * thread's pending slot (held), or, when it carries user memory read at entry (exec, and
 * paths or addresses with --args), it is sent at once and only the pairing data waits
 * (sent); the exit side then sends a small HANDLER_RESULT record instead. The outcome
 * filters (--failed, --min-duration) are decided at exit, here in the kernel.
 */

static __always_inline void count_unpaired(void)
{
	struct counters *c = cpu_counters();

	if (c)
		c->unpaired++;
}

/* A slot takes a call (held) or gives one up (settled). */
static __always_inline void count_slot(bool taken)
{
	struct counters *c = cpu_counters();

	if (!c)
		return;
	if (taken)
		c->held++;
	else
		c->settled++;
}

/* The thread's slot, created on its first logged call. */
static __always_inline struct pending *pending_slot(__u32 tid)
{
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	struct pending fresh = {};

	if (p)
		return p;
	bpf_map_update_elem(&pending, &tid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&pending, &tid);
}

static __always_inline bool is_error(long ret)
{
	return ret < 0 && ret >= -4095;
}

/* Whether --failed and --min-duration let a call through; an unfinished call has no
 * outcome, so --failed drops it. */
static __always_inline bool outcome_wanted(long ret, __u64 duration, bool finished)
{
	if (failed_only && !(finished && is_error(ret)))
		return false;
	return duration >= min_duration_ns;
}

/* --count: one more call of `key`. */
static __always_inline void count_call(__u32 key, __u64 duration, bool failed)
{
	__u32 idx = (key & (MAX_SYSCALLS - 1)) + (*(volatile __u32 *)&count_epoch & 1) * MAX_SYSCALLS;
	struct call_stats *s = bpf_map_lookup_elem(&call_stats, &idx);

	if (!s)
		return;
	s->calls++;
	s->errors += failed;
	s->total_ns += duration;
	if (duration > s->max_ns)
		s->max_ns = duration;
}

/* The outcome of a call whose record was sent at entry. */
static __always_inline void send_result(void *ctx, struct pending *p, long ret, __u64 duration,
					__u8 flags)
{
	struct counters *c = cpu_counters();
	struct record_header r = {};

	r.ktime_ns = p->hdr.ktime_ns;
	r.ret = ret;
	r.duration_ns = duration;
	r.pid = p->hdr.pid;
	r.tid = p->hdr.tid;
	r.nr = p->hdr.nr;
	r.kind = HANDLER_RESULT;
	r.flags = flags | (p->hdr.flags & RECORD_COMPAT);
	if (output_to(ctx, &r, sizeof(r)) && c)
		c->results_dropped++;
}

/* A held record leaves its slot: the slot's first bytes are the record. */
static __always_inline void send_held(void *ctx, struct pending *p, long ret, __u64 duration,
				      __u8 flags)
{
	p->hdr.ret = ret;
	p->hdr.duration_ns = duration;
	p->hdr.flags = (p->hdr.flags & ~RECORD_AWAITS_RESULT) | flags;
	if (p->hdr.flags & RECORD_HAS_ARGS)
		output(ctx, p, offsetof(struct pending, key));
	else
		output(ctx, p, sizeof(p->hdr));
}

/* The call in the slot returned `ret`: report it (or count it) and free the slot. */
static __always_inline void finish(void *ctx, struct pending *p, long ret)
{
	__u64 duration = bpf_ktime_get_ns() - p->hdr.ktime_ns;
	__u8 state = p->state;

	p->state = PENDING_IDLE;
	count_slot(false);
	if (count_only) {
		count_call(p->key, duration, is_error(ret));
		return;
	}
	if (state == PENDING_SENT) {
		send_result(ctx, p, ret, duration,
			    RECORD_RESULT | (outcome_wanted(ret, duration, true) ? 0 : RECORD_FILTERED));
		return;
	}
	if (outcome_wanted(ret, duration, true))
		send_held(ctx, p, ret, duration, RECORD_RESULT);
}

/* The call in the slot will never return (its thread exited, or the slot is needed for a
 * new call): counted as unpaired and reported unfinished, so the last call of a killed
 * process is visible. */
static __always_inline void abandon(void *ctx, struct pending *p)
{
	__u64 duration = bpf_ktime_get_ns() - p->hdr.ktime_ns;
	__u8 state = p->state;

	p->state = PENDING_IDLE;
	count_slot(false);
	count_unpaired();
	if (count_only)
		return;
	if (state == PENDING_SENT)
		send_result(ctx, p, 0, duration,
			    RECORD_UNFINISHED | (outcome_wanted(0, duration, false) ? 0 : RECORD_FILTERED));
	else if (outcome_wanted(0, duration, false))
		send_held(ctx, p, 0, duration, RECORD_UNFINISHED);
}

/* The slot of the current thread, free for a new call. */
static __always_inline struct pending *claim_slot(void *ctx, __u32 tid)
{
	struct pending *p = pending_slot(tid);

	if (!p) {
		count_unpaired();
		return 0;
	}
	if (p->state != PENDING_IDLE)
		abandon(ctx, p);
	return p;
}

/* Entry: the record waits in the slot until the call returns. */
static __always_inline void hold(struct bpf_raw_tracepoint_args *ctx, long key, __u8 kind,
				 const struct caller *who)
{
	struct pending *p = claim_slot(ctx, who->tid);
	bool compat;

	if (!p)
		return;
	if (count_only) {
		p->hdr.ktime_ns = bpf_ktime_get_ns();
	} else {
		fill_header(&p->hdr, key, kind, who);
		if (capture_args) {
			number_of(key, &compat);
			p->hdr.flags |= RECORD_HAS_ARGS;
			read_raw_args(ctx, compat, p->raw_args);
		}
	}
	p->key = key;
	p->state = PENDING_HELD;
	count_slot(true);
}

/* Entry: the record `h` was sent now; its outcome follows as a HANDLER_RESULT record. */
static __always_inline void mark_sent(void *ctx, struct record_header *h, long key)
{
	struct pending *p;

	if (!(h->flags & RECORD_AWAITS_RESULT))
		return;
	p = claim_slot(ctx, h->tid);
	if (!p)
		return;
	p->hdr.ktime_ns = h->ktime_ns;
	p->hdr.pid = h->pid;
	p->hdr.tid = h->tid;
	p->hdr.nr = h->nr;
	p->hdr.flags = h->flags;
	p->key = key;
	p->state = PENDING_SENT;
	count_slot(true);
}

/* Entry with --results: true when the call is taken care of here (held in its slot,
 * counted, or dropped by an outcome filter), false when its record is to be sent now. */
static __always_inline bool results_at_entry(struct bpf_raw_tracepoint_args *ctx, long key,
					     __u8 kind, const struct caller *who)
{
	__u32 k = key & (MAX_SYSCALLS - 1);
	bool no_return = key >= 0 && key < MAX_SYSCALLS && (key_traits[k] & TRAIT_NO_RETURN);

	if (count_only) {
		if (no_return)
			count_call(k, 0, false);
		else
			hold(ctx, key, kind, who);
		return true;
	}
	if (no_return)
		return failed_only || min_duration_ns; /* no outcome to filter on */
	if (capture_args && kind != HANDLER_EXEC && arg_captures[k])
		return false; /* user memory is read at entry: sent now */
	if (kind == HANDLER_EXEC)
		return false;
	hold(ctx, key, kind, who);
	return true;
}

/* An args record's size when nothing was read from user memory. */
#define ARGS_NO_DATA offsetof(struct args_record, data)

/* A record with the argument registers and no user memory, filled in place in the ring
 * (no scratch map, no copy): most syscalls have no path or address to read. */
static __always_inline int args_in_place(struct bpf_raw_tracepoint_args *ctx, long key,
					 __u8 kind, bool compat, const struct caller *who)
{
	struct counters *c = cpu_counters();
	void *ring = cpu_ring();
	struct args_record *r = ring ? bpf_ringbuf_reserve(ring, ARGS_NO_DATA, 0) : NULL;

	if (c) {
		c->seen++;
		if (r)
			c->emitted++;
		else
			c->dropped++;
	}
	if (!r)
		return 0;
	fill_header(&r->hdr, key, kind, who);
	r->hdr.flags |= RECORD_HAS_ARGS;
	read_raw_args(ctx, compat, r->raw_args);
	r->data_len = 0;
	r->captures = 0;
	bpf_ringbuf_submit(r, wake_flags());
	return 0;
}

/* An "other" or "timer" record with the arguments (--args). */
static __always_inline int handle_with_args(struct bpf_raw_tracepoint_args *ctx, long key,
					    __u8 kind, const struct caller *who)
{
	struct args_record *a;
	__u32 zero = 0, off, captures;
	__u16 plan;
	bool compat;

	number_of(key, &compat);
	plan = key >= 0 && key < MAX_SYSCALLS ? arg_captures[key & (MAX_SYSCALLS - 1)] : 0;
	if (use_ringbuf && !plan)
		return args_in_place(ctx, key, kind, compat, who);
	a = bpf_map_lookup_elem(&args_scratch, &zero);
	if (!a)
		return 0;
	fill_header(&a->hdr, key, kind, who);
	a->hdr.flags |= RECORD_HAS_ARGS;
	read_raw_args(ctx, compat, a->raw_args);
	off = capture_one(a, 0, plan & 7, (plan >> 3) & 3);
	captures = off ? 1 : 0;
	if (off) {
		__u32 more = capture_one(a, off, (plan >> 5) & 7, (plan >> 8) & 3);

		captures += more ? 1 : 0;
		off += more;
	}
	a->captures = captures;
	a->data_len = off;
	output_used(ctx, a, sizeof(*a), ARGS_DATA_LEN, off);
	if (results)
		mark_sent(ctx, &a->hdr, key);
	return 0;
}

static __always_inline int handle_simple(struct bpf_raw_tracepoint_args *ctx, long nr, __u8 kind,
					 const struct caller *who)
{
	struct record_header h;

	if (results && results_at_entry(ctx, nr, kind, who))
		return 0;
	if (capture_args)
		return handle_with_args(ctx, nr, kind, who);

	if (use_ringbuf) {
		/* Filled in place in the ring: no copy from the stack. */
		struct counters *c = cpu_counters();
		void *ring = cpu_ring();
		struct record_header *r = ring ? bpf_ringbuf_reserve(ring, sizeof(*r), 0) : NULL;

		if (c) {
			c->seen++;
			if (r)
				c->emitted++;
			else
				c->dropped++;
		}
		if (!r)
			return 0;
		fill_header(r, nr, kind, who);
		bpf_ringbuf_submit(r, wake_flags());
		return 0;
	}
	fill_header(&h, nr, kind, who);
	output(ctx, &h, sizeof(h));
	return 0;
}

static __always_inline int handle_exec(struct bpf_raw_tracepoint_args *ctx, long nr,
				       const struct caller *who)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	const char *const *argv;
	const char *filename;
	struct exec_record *e;
	__u32 zero = 0, off = 0;
	long n, long_arg = 0;

	if (results && results_at_entry(ctx, nr, HANDLER_EXEC, who))
		return 0;
	e = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!e)
		return 0;
	fill_header(&e->hdr, nr, HANDLER_EXEC, who);
	if (capture_args || detect_compat) {
		bool compat;
		long num = number_of(nr, &compat);

		/* The registers by this ABI's convention (ia32 differs from x86_64). */
		read_raw_args(ctx, compat, e->raw_args);
		if (capture_args)
			e->hdr.flags |= RECORD_HAS_ARGS;
		if (num == (compat ? nr_execveat_compat : nr_execveat)) {
			filename = (const char *)e->raw_args[1];
			argv = (const char *const *)e->raw_args[2];
		} else {
			filename = (const char *)e->raw_args[0];
			argv = (const char *const *)e->raw_args[1];
		}
	} else if (nr == nr_execveat) {
		filename = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
		argv = (const char *const *)PT_REGS_PARM3_CORE_SYSCALL(regs);
	} else {
		filename = (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
		argv = (const char *const *)PT_REGS_PARM2_CORE_SYSCALL(regs);
	}

	e->filename_len = 0;
	e->filename[0] = 0;
	if (!filename) {
		e->filename_status = READ_NULL;
	} else {
		n = bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename);
		if (n < 0) {
			e->filename_status = READ_FAULT;
			count_fault();
		} else {
			e->filename_len = n > 0 ? n - 1 : 0;
			e->filename_status = n == sizeof(e->filename) ? READ_TRUNCATED : READ_OK;
		}
	}

	e->argc = 0;
	e->argv_status = READ_OK;
	if (!capture_argv) {
		e->argv_status = READ_OMITTED;
		goto send;
	}
	if (!argv) {
		e->argv_status = READ_NULL;
		goto send;
	}
	for (int i = 0; i < MAX_ARGS; i++) {
		const char *arg = 0;

		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i])) {
			e->argv_status = READ_FAULT;
			count_fault();
			goto send;
		}
		if (!arg)
			goto send;
		if (off > ARGS_BUF_LEN - ARG_MAX_LEN) {
			e->argv_status = READ_TRUNCATED;
			goto send;
		}
		n = bpf_probe_read_user_str(&e->args[off], ARG_MAX_LEN, arg);
		if (n < 0) {
			e->argv_status = READ_FAULT;
			count_fault();
			goto send;
		}
		/* Branch-free on purpose: a branch here would double the verifier's states on
		 * every iteration (2^MAX_ARGS paths); n >> 8 is 1 only for n == ARG_MAX_LEN. */
		long_arg |= n >> 8;
		off += n;
		e->argc++;
	}
	/* MAX_ARGS captured: truncated if the vector goes on. */
	{
		const char *arg = 0;

		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[MAX_ARGS]) == 0 && arg)
			e->argv_status = READ_TRUNCATED;
	}
send:
	if (long_arg && e->argv_status == READ_OK)
		e->argv_status = READ_TRUNCATED;
	e->args_len = off;
	output_used(ctx, e, sizeof(*e), ARGS_BUF_LEN, off);
	if (results)
		mark_sent(ctx, &e->hdr, nr);
	return 0;
}

static __always_inline int handle(struct bpf_raw_tracepoint_args *ctx, long nr, __u8 kind,
				  const struct caller *who)
{
	switch (kind) {
	case HANDLER_IGNORE:
		return 0;
	case HANDLER_EXEC:
		return handle_exec(ctx, nr, who);
	default:
		return handle_simple(ctx, nr, kind, who);
	}
}

/* This CPU's slot of `callers`: dispatch_tail copies its caller there before a tail call,
 * the handler reads it. */
static __always_inline struct caller *caller_slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&callers, &zero);
}

SEC("raw_tp/sys_enter")
int dispatch_tail(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = NULL;
	long key = admit((long)ctx->args[1], &task);
	struct caller who, *slot;
	__u8 kind;

	if (key == STOP)
		return 0;
	if (key >= 0 && key < MAX_SYSCALLS) {
		fill_caller(&who, key, task);
		kind = syscall_handler[key];
		/* As in the original example, a call with no program of its own is logged by the
		 * dispatcher ("Another syscall"): the most common record costs no tail call. */
		if (kind == HANDLER_OTHER)
			return handle_simple(ctx, key, kind, &who);
		slot = caller_slot();
		if (slot) {
			*slot = who;
			bpf_tail_call(ctx, &handlers, kind);
		}
	}
	/* Only reached for MISS, or when the handler's slot is empty (or `callers` is gone). */
	count_miss();
	return 0;
}

SEC("raw_tp/sys_enter")
int dispatch_inline(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = NULL;
	long key = admit((long)ctx->args[1], &task);
	struct caller who;

	if (key == STOP)
		return 0;
	if (key < 0 || key >= MAX_SYSCALLS) {
		count_miss();
		return 0;
	}
	fill_caller(&who, key, task);
	return handle(ctx, key, syscall_handler[key], &who);
}

/* Tail-call targets, in their slots of `handlers`. */
SEC("raw_tp")
int handle_exec_prog(struct bpf_raw_tracepoint_args *ctx)
{
	const struct caller *who = caller_slot();

	return who ? handle_exec(ctx, who->key, who) : 0;
}

SEC("raw_tp")
int handle_timer_prog(struct bpf_raw_tracepoint_args *ctx)
{
	const struct caller *who = caller_slot();

	return who ? handle_simple(ctx, who->key, HANDLER_TIMER, who) : 0;
}

/*
 * --results: the exit side. sys_exit gives the return value; the syscall number is read
 * from the registers (orig_ax on x86_64, syscallno on arm64): a plain load through the
 * BTF-typed pointer on tp_btf, one probe read on raw_tp (kernels without their own BTF).
 */
static __always_inline int at_exit(void *ctx, __u64 raw_nr, long ret)
{
	/* The number as 32 bits, -1 (no syscall) kept: a sign-extended 32-bit load (arm64's
	 * syscallno) has no bounds the 5.10 verifier can follow into the table lookups. */
	__u32 low = (__u32)raw_nr;
	long nr = low > 0x7fffffff ? -1 : (long)low;
	struct task_struct *task = NULL;
	long key = admit(nr, &task);
	__u32 tid;
	struct pending *p;

	if (key < 0)
		return 0;
	tid = (__u32)bpf_get_current_pid_tgid();
	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p || p->state == PENDING_IDLE) {
		/* A successful exec was reported by sched_process_exec; a fork's child returns
		 * 0 without having entered. Anything else began before we attached, or its
		 * slot was evicted. */
		if (!(ret == 0 && (syscall_handler[key & (MAX_SYSCALLS - 1)] == HANDLER_EXEC ||
				   (key_traits[key & (MAX_SYSCALLS - 1)] & TRAIT_FORK))))
			count_unpaired();
		return 0;
	}
	if (p->key != key) {
		abandon(ctx, p);
		count_unpaired();
		return 0;
	}
	finish(ctx, p, ret);
	return 0;
}

#if defined(__TARGET_ARCH_x86)
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#else
#define SYSCALL_NR(regs) ((regs)->syscallno)
#endif

SEC("tp_btf/sys_exit")
int BPF_PROG(exit_btf, struct pt_regs *regs, long ret)
{
	return at_exit(ctx, (__u64)SYSCALL_NR(regs), ret);
}

SEC("raw_tp/sys_exit")
int exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

#if defined(__TARGET_ARCH_x86)
	return at_exit(ctx, (__u64)BPF_CORE_READ(regs, orig_ax), (long)ctx->args[1]);
#else
	return at_exit(ctx, (__u64)BPF_CORE_READ(regs, syscallno), (long)ctx->args[1]);
#endif
}

/* A successful execve or execveat: on arm64 before 5.18 no sys_exit follows, and the
 * thread may have taken its thread group leader's id, so the slot is found by the id the
 * tracepoint gives (old_pid) and freed: nothing of it survives the exec. */
SEC("raw_tp/sched_process_exec")
int exec_done(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 old_tid = (__u32)ctx->args[1];
	struct pending *p = bpf_map_lookup_elem(&pending, &old_tid);

	if (!p)
		return 0;
	if (p->state != PENDING_IDLE &&
	    syscall_handler[p->key & (MAX_SYSCALLS - 1)] == HANDLER_EXEC)
		finish(ctx, p, 0);
	bpf_map_delete_elem(&pending, &old_tid);
	return 0;
}

/* A thread exits: a call still in its slot never returned; the slot is freed. */
SEC("raw_tp/sched_process_exit")
int thread_gone(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);

	if (!p)
		return 0;
	if (p->state != PENDING_IDLE)
		abandon(ctx, p);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}
