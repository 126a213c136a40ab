/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one definition of what crosses from the kernel to userspace. dispatch.bpf.c writes
 * these records; the Rust side gets the same layout from the generated skeleton types
 * (src/events.rs decodes them). Change a field here and both sides follow.
 *
 * Every record starts with struct record_header. Records of the "timer" and "other"
 * handlers are exactly a header, or with --args a struct args_record cut after the
 * captured bytes (data_len); exec records are a struct exec_record cut after the
 * argv bytes actually used (args_len), so the common case stays small.
 */
#ifndef __DISPATCH_H
#define __DISPATCH_H

#define TASK_COMM_LEN 16
/* Bound of the per-syscall handler table; larger than any architecture's table. */
#define MAX_SYSCALLS 1024
#define FILENAME_MAX_LEN 256
#define ARG_MAX_LEN 256
#define MAX_ARGS 32
#define ARGS_BUF_LEN 4096

/* --args: the six argument registers, and user memory behind some of them. */
#define SYSCALL_ARGS 6
#define STRING_MAX_LEN 4096  /* bound of --string-size */
#define SOCKADDR_MAX_LEN 128 /* sizeof(struct sockaddr_storage) */
#define ARG_CAPTURES 2       /* user-memory reads per syscall at most (renameat2: two paths) */
/* --cgroup and --container: cgroups in the filter at most (slots of cgroup_filter). */
#define MAX_CGROUP_FILTERS 16
/* A string capture reads one byte more than --string-size allows, to tell a string that
 * fits exactly from a longer one. */
#define ARGS_DATA_LEN (ARG_CAPTURES * (sizeof(struct arg_capture) + STRING_MAX_LEN + 1))

enum handler_kind {
	HANDLER_OTHER = 0,
	HANDLER_IGNORE = 1,
	HANDLER_EXEC = 2,
	HANDLER_TIMER = 3,
	/* --results: the outcome of a call whose record was sent at entry (it carries user
	 * memory read at entry); paired with it by (tid, ktime_ns) in userspace. */
	HANDLER_RESULT = 4,
};

/* Slots of the prog array `handlers`: one per handler kind before HANDLER_RESULT (see its
 * definition for which are filled). */
#define HANDLER_PROGS 4

/* How a user-memory read went; never an empty string without saying why. */
enum read_status {
	READ_OK = 0,
	READ_TRUNCATED = 1,
	READ_FAULT = 2,
	READ_NULL = 3,
	READ_OMITTED = 4, /* not captured on purpose (--no-argv) */
};

enum record_flags {
	/* ppid was read through CO-RE against BTF that describes this kernel. */
	RECORD_HAS_PPID = 1,
	/* raw_args (exec) or struct args_record (other, timer) carry the arguments. */
	RECORD_HAS_ARGS = 2,
	/* A 32-bit (ia32) syscall on x86_64: nr is in the i386 table. */
	RECORD_COMPAT = 4,
	/* --results: ret and duration_ns hold the call's outcome. */
	RECORD_RESULT = 8,
	/* --results: exit, exit_group, rt_sigreturn: they never return; sent at entry. */
	RECORD_NO_RETURN = 16,
	/* --results: sent at entry; a HANDLER_RESULT record with the outcome follows. */
	RECORD_AWAITS_RESULT = 32,
	/* On a HANDLER_RESULT record: --failed or --min-duration rejected the call. */
	RECORD_FILTERED = 64,
	/* --results: the thread exited (or the slot was reused) before the call returned;
	 * duration_ns is the time until then. */
	RECORD_UNFINISHED = 128,
};

/* What a key's syscall does to the entry/exit pairing (table key_traits). */
enum key_traits {
	TRAIT_NO_RETURN = 1, /* exit, exit_group, rt_sigreturn: no sys_exit to wait for */
	TRAIT_FORK = 2,      /* clone, fork, vfork: the child returns 0 without an entry */
};

/* A thread's slot in the pending map (--results). */
enum pending_state {
	PENDING_IDLE = 0,
	PENDING_HELD = 1, /* the record waits here and is sent at exit */
	PENDING_SENT = 2, /* the record was sent at entry; only the pairing data is here */
};

/* What is read behind an argument. The per-syscall table arg_captures (filled from the
 * kernel's signatures by userspace) names at most two arguments to read: bits 0-2 the
 * first one's index, bits 3-4 its kind, bits 5-7 and 8-9 the second's; kind ARG_VALUE
 * means no capture. */
enum arg_kind {
	ARG_VALUE = 0,    /* the register is the value */
	ARG_PATH = 1,     /* a NUL-terminated user string (a path or a name) */
	ARG_SOCKADDR = 2, /* a struct sockaddr; its length is the next argument */
};

/* Precedes the bytes of one captured argument in args_record.data. */
struct arg_capture {
	__u8 index;  /* which argument, 0..5 */
	__u8 status; /* enum read_status */
	__u16 len;   /* bytes that follow: a string without its NUL, or a sockaddr */
};

struct record_header {
	__u64 ktime_ns;    /* at entry */
	__s64 ret;         /* with RECORD_RESULT */
	__u64 duration_ns; /* with RECORD_RESULT or RECORD_UNFINISHED: since entry */
	__u64 cgroup_id;   /* the task's cgroup v2 id (0 in HANDLER_RESULT records) */
	__u32 pid; /* thread group id, what ps calls the pid */
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__s32 nr;
	__u16 cpu;
	__u8 kind;  /* enum handler_kind */
	__u8 flags; /* enum record_flags */
	char comm[TASK_COMM_LEN];
};

struct exec_record {
	struct record_header hdr;
	__u64 raw_args[SYSCALL_ARGS]; /* with RECORD_HAS_ARGS */
	__u8 filename_status; /* enum read_status */
	__u8 argv_status;     /* enum read_status */
	__u16 argc;           /* arguments captured in args */
	__u32 filename_len;   /* bytes in filename, without the NUL */
	__u32 args_len;       /* bytes used in args: argc NUL-terminated strings */
	__u32 _pad;
	char filename[FILENAME_MAX_LEN];
	char args[ARGS_BUF_LEN];
};

/* "other" and "timer" records with --args. */
struct args_record {
	struct record_header hdr;
	__u64 raw_args[SYSCALL_ARGS];
	__u16 data_len; /* bytes used in data */
	__u8 captures;  /* struct arg_capture entries in data, in argument order */
	__u8 _pad[5];
	char data[ARGS_DATA_LEN];
};

/* --results: the call a thread is in, from entry to exit. Its first bytes are laid out
 * as a struct args_record without data, so a held record is sent straight from here. */
struct pending {
	struct record_header hdr;
	__u64 raw_args[SYSCALL_ARGS];
	__u16 data_len; /* 0 */
	__u8 captures;  /* 0 */
	__u8 _pad[5];
	__u32 key;      /* the table key at entry */
	__u8 state;     /* enum pending_state */
	__u8 _pad2[3];
};

/* --count: per table key and CPU, in one of two halves chosen by count_epoch. */
struct call_stats {
	__u64 calls;
	__u64 errors;   /* returned -4095..-1 */
	__u64 total_ns; /* entry to exit, summed */
	__u64 max_ns;
};

/* Per-CPU; userspace sums them over all possible CPUs. */
struct counters {
	__u64 seen;          /* passed the filters and not ignored: counted before output */
	__u64 emitted;       /* records handed to the ring/perf buffer */
	__u64 dropped;       /* records lost because the buffer was full */
	__u64 dispatch_miss; /* no handler: tail call missed or number beyond the table */
	__u64 read_faults;   /* user-memory reads that failed */
	/* --results: calls whose entry and exit could not be paired (an exit without a
	 * pending entry, a slot reused or freed before its exit, the map full). */
	__u64 unpaired;
	/* --results: HANDLER_RESULT records lost because the buffer was full (their entry
	 * records are reported unfinished at shutdown). */
	__u64 results_dropped;
	/* --results: calls put into a pending slot, and calls taken out of one (returned or
	 * abandoned). At shutdown, held - settled - still in the map = slots the LRU evicted. */
	__u64 held;
	__u64 settled;
};

#endif /* __DISPATCH_H */
