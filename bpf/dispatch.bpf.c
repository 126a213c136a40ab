// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel half of tailcall-logger.
 *
 * Two dispatchers on raw_tp/sys_enter share the handler code; userspace loads one:
 *  - dispatch_tail looks the syscall number up in a prog array and tail calls a handler
 *    program (the Learning eBPF design);
 *  - dispatch_inline switches on the same per-syscall table and runs the handlers in place,
 *    for kernels that refuse tail calls from programs with BPF-to-BPF calls.
 * Both decide to ignore a syscall before any helper call: that path must cost no more
 * than an empty program.
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
const volatile __u32 filter_tgid = 0;        /* 0 = every process */
const volatile bool filter_by_uid = false;
const volatile __u32 filter_uid = 0;
const volatile bool filter_by_comm = false;
const volatile char filter_comm[TASK_COMM_LEN] = {};
const volatile bool read_ppid = true;        /* false when BTF cannot vouch for task_struct */
const volatile bool capture_argv = true;     /* false: argv never leaves the kernel */
const volatile bool kernel_btf = false;      /* the BTF in use is the running kernel's own */
const volatile bool use_ringbuf = true;      /* else the perf event array */
const volatile __u64 wakeup_bytes = 0;       /* 0: wake the reader for every record */
const volatile __s32 nr_execveat = -1;
const volatile __u32 nr_syscalls = 0;        /* size of this architecture's table */
const volatile __u8 syscall_handler[MAX_SYSCALLS] = {}; /* enum handler_kind per number */

/* Referenced once so the skeleton generates the record types for userspace (one definition). */
struct exec_record exec_record_layout = {};
struct counters counters_layout = {};
enum handler_kind handler_kind_layout = HANDLER_OTHER;
enum read_status read_status_layout = READ_OK;
enum record_flags record_flags_layout = (enum record_flags)0;

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, MAX_SYSCALLS); /* resized to nr_syscalls before load */
	__type(key, __u32);
	__type(value, __u32);
} handlers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized by userspace */
} events_rb SEC(".maps");

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

/* Exec records are too big for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_record);
} exec_scratch SEC(".maps");

static __always_inline struct counters *cpu_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

/*
 * The filters, as a subprogram both dispatchers call. Keeping it a real BPF-to-BPF call
 * is deliberate: it is what makes the tail-call dispatcher need "tail calls with
 * subprograms" support, which auto mode probes by a trial load (arm64 before 6.0 lacks it).
 */
static __noinline int wanted(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if (self_tgid && tgid == self_tgid)
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
	return 1;
}

/* Common head of both dispatchers: returns the syscall number to handle, or -1 to stop. */
static __always_inline long admit(struct bpf_raw_tracepoint_args *ctx)
{
	long nr = (long)ctx->args[1];

	/* -1: no syscall (ptrace or seccomp skipped it); never a record. */
	if (nr < 0)
		return -1;
	if (nr < MAX_SYSCALLS && syscall_handler[nr] == HANDLER_IGNORE)
		return -1;
	if (!wanted())
		return -1;
	return nr;
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

static __always_inline void fill_header(struct record_header *h, long nr, __u8 kind)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->ktime_ns = bpf_ktime_get_ns();
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->uid = (__u32)bpf_get_current_uid_gid();
	h->nr = nr;
	h->cpu = bpf_get_smp_processor_id();
	h->kind = kind;
	h->flags = 0;
	h->ppid = 0;
	/* With the kernel's own BTF and bpf_get_current_task_btf() (5.11+): plain loads
	 * through BTF pointers. Otherwise helpers that copy (probe_read twice, get_comm). */
	if (kernel_btf && bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		struct task_struct *task = bpf_get_current_task_btf();

		h->ppid = task->real_parent->tgid;
		h->flags |= RECORD_HAS_PPID;
		__builtin_memcpy(h->comm, task->comm, sizeof(h->comm));
		return;
	}
	if (read_ppid) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		h->ppid = BPF_CORE_READ(task, real_parent, tgid);
		h->flags |= RECORD_HAS_PPID;
	}
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* What a record of `size` bytes takes in the ring: an 8-byte header, then the data
 * rounded up to 8 bytes (BPF_RINGBUF_HDR_SZ and the kernel's round_up in ringbuf). */
#define RINGBUF_FOOTPRINT(size) ((((size) + 8) + 7) & ~7ULL)

static __always_inline long ringbuf_flags(__u64 size)
{
	__u64 avail;

	if (!wakeup_bytes)
		return 0;
	/* Wake the reader once, when this record takes the backlog over the threshold. A
	 * reader that is behind is awake anyway (its poll returns while data is pending), and
	 * an idle one polls with a short timeout: waking it per record would cost every
	 * logged syscall an irq_work. The step is the record's footprint, not its size: with
	 * the size, a backlog growing in 64-byte steps could jump over the 56-byte window
	 * below the threshold and never wake the reader, which then read one batch per poll
	 * timeout while the ring stayed full. Asked before the record is reserved. */
	avail = bpf_ringbuf_query(&events_rb, BPF_RB_AVAIL_DATA);
	return avail < wakeup_bytes && avail + RINGBUF_FOOTPRINT(size) >= wakeup_bytes ?
		       BPF_RB_FORCE_WAKEUP :
		       BPF_RB_NO_WAKEUP;
}

static __always_inline void output(void *ctx, void *data, __u64 size)
{
	struct counters *c = cpu_counters();
	long err;

	if (use_ringbuf)
		err = bpf_ringbuf_output(&events_rb, data, size, ringbuf_flags(size));
	else
		err = bpf_perf_event_output(ctx, &events_pb, BPF_F_CURRENT_CPU, data, size);
	if (!c)
		return;
	c->seen++;
	if (err)
		c->dropped++;
	else
		c->emitted++;
}

static __always_inline int handle_simple(struct bpf_raw_tracepoint_args *ctx, long nr, __u8 kind)
{
	struct record_header h;

	if (use_ringbuf) {
		/* Filled in place in the ring: no copy from the stack. */
		struct counters *c = cpu_counters();
		long flags = ringbuf_flags(sizeof(h));
		struct record_header *r = bpf_ringbuf_reserve(&events_rb, sizeof(*r), 0);

		if (c) {
			c->seen++;
			if (r)
				c->emitted++;
			else
				c->dropped++;
		}
		if (!r)
			return 0;
		fill_header(r, nr, kind);
		bpf_ringbuf_submit(r, flags);
		return 0;
	}
	fill_header(&h, nr, kind);
	output(ctx, &h, sizeof(h));
	return 0;
}

static __always_inline void count_fault(void)
{
	struct counters *c = cpu_counters();

	if (c)
		c->read_faults++;
}

static __always_inline int handle_exec(struct bpf_raw_tracepoint_args *ctx, long nr)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	const char *const *argv;
	const char *filename;
	struct exec_record *e;
	__u32 zero = 0, off = 0;
	long n, long_arg = 0;
	__u64 size;

	e = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!e)
		return 0;
	fill_header(&e->hdr, nr, HANDLER_EXEC);
	if (nr == nr_execveat) {
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
	size = sizeof(*e) - ARGS_BUF_LEN + off;
	if (size > sizeof(*e))
		size = sizeof(*e);
	output(ctx, e, size);
	return 0;
}

static __always_inline int handle(struct bpf_raw_tracepoint_args *ctx, long nr, __u8 kind)
{
	switch (kind) {
	case HANDLER_IGNORE:
		return 0;
	case HANDLER_EXEC:
		return handle_exec(ctx, nr);
	default:
		return handle_simple(ctx, nr, kind);
	}
}

SEC("raw_tp/sys_enter")
int dispatch_tail(struct bpf_raw_tracepoint_args *ctx)
{
	long nr = admit(ctx);

	if (nr < 0)
		return 0;
	bpf_tail_call(ctx, &handlers, nr);
	/* Only reached when the slot is empty or nr is beyond the array. */
	count_miss();
	return 0;
}

SEC("raw_tp/sys_enter")
int dispatch_inline(struct bpf_raw_tracepoint_args *ctx)
{
	long nr = admit(ctx);

	if (nr < 0)
		return 0;
	if (nr >= nr_syscalls || nr >= MAX_SYSCALLS) {
		count_miss();
		return 0;
	}
	return handle(ctx, nr, syscall_handler[nr]);
}

/* Tail-call targets: one program per handler kind; every slot of `handlers` holds one. */
SEC("raw_tp")
int handle_exec_prog(struct bpf_raw_tracepoint_args *ctx)
{
	return handle_exec(ctx, (long)ctx->args[1]);
}

SEC("raw_tp")
int handle_timer_prog(struct bpf_raw_tracepoint_args *ctx)
{
	return handle_simple(ctx, (long)ctx->args[1], HANDLER_TIMER);
}

SEC("raw_tp")
int handle_other_prog(struct bpf_raw_tracepoint_args *ctx)
{
	return handle_simple(ctx, (long)ctx->args[1], HANDLER_OTHER);
}

SEC("raw_tp")
int handle_ignore_prog(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}
