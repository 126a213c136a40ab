// SPDX-License-Identifier: Apache-2.0
/*
 * The floor of `make bench`: an empty raw_tp/sys_enter program ("r0 = 0; exit"), loaded
 * and attached with the bpf(2) syscall alone (no libbpf, no object file, nothing to go
 * stale). Prints "attached prog_id=N" once it is attached, then waits for SIGINT/SIGTERM
 * or for stdin to close, and exits (closing the link detaches it).
 *
 *   empty_rawtp              the empty program
 *   empty_rawtp regs         one bpf_probe_read_kernel of pt_regs per syscall: what
 *                            `tailcall-logger --args` does to get the argument registers
 *   empty_rawtp str SIZE     the same, and for openat one bpf_probe_read_user_str of its
 *                            path (at most SIZE bytes, 2..256): the reference for the cost
 *                            of one bounded string read (x86_64 only, like `regs`)
 *   empty_rawtp pair         the empty program on sys_enter and on sys_exit: the floor of
 *                            `tailcall-logger --results` (two programs per syscall)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <stddef.h>
#include <linux/bpf.h>
#if defined(__x86_64__)
#include <asm/ptrace.h>
#endif

static long bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define STR_MAX 256

/* The program of a mode into insns; returns the instruction count, 0 for a bad mode. */
static int program(int argc, char **argv, struct bpf_insn *insns, const char **name)
{
	int n = 0;

	*name = "bench_empty";
	if (argc > 1 && !strcmp(argv[1], "pair")) {
		insns[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
		insns[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
		return n;
	}
	if (argc > 1) {
#if defined(__x86_64__)
		const int regs_off = -(int)sizeof(struct pt_regs);
		const int buf_off = regs_off - STR_MAX;
		int str = !strcmp(argv[1], "str");
		long size = str && argc > 2 ? strtol(argv[2], NULL, 10) : 0;

		if (!str && strcmp(argv[1], "regs"))
			return 0;
		if (str && (size < 2 || size > STR_MAX))
			return 0;
		*name = str ? "bench_regs_str" : "bench_regs";
		/* r6 = ctx; r3 = ctx->args[0] (pt_regs *); copy it to the stack. */
		insns[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
		insns[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_3, BPF_REG_6, 0, 0);
		insns[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_10, 0, 0);
		insns[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_1, 0, 0, regs_off);
		insns[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, (int)sizeof(struct pt_regs));
		insns[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_probe_read_kernel);
		if (str) {
			/* if ctx->args[1] == openat: read the string its rsi points to. */
			insns[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_2, BPF_REG_6, 8, 0);
			insns[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 5, __NR_openat);
			insns[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_3, BPF_REG_10,
					  regs_off + (int)offsetof(struct pt_regs, rsi), 0);
			insns[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_10, 0, 0);
			insns[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_1, 0, 0, buf_off);
			insns[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, (int)size);
			insns[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_probe_read_user_str);
		}
#else
		(void)argv;
		return 0;
#endif
	}
	insns[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
	insns[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return n;
}

int main(int argc, char **argv)
{
	struct bpf_insn insns[32];
	const char *name;
	int insn_cnt = program(argc, argv, insns, &name);
	char log[4096] = "";
	union bpf_attr load, open, info_attr;
	struct bpf_prog_info info;
	struct sigaction sa;
	int prog_fd, link_fd, exit_fd = -1;
	char c;

	if (!insn_cnt) {
		fprintf(stderr, "usage: empty_rawtp [regs | str SIZE | pair]   (SIZE 2..%d; regs and str: x86_64)\n",
			STR_MAX);
		return 2;
	}
	memset(&load, 0, sizeof(load));
	load.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
	load.insns = (uint64_t)(uintptr_t)insns;
	load.insn_cnt = (uint32_t)insn_cnt;
	load.license = (uint64_t)(uintptr_t)"GPL";
	load.log_buf = (uint64_t)(uintptr_t)log;
	load.log_size = sizeof(log);
	load.log_level = 1;
	strncpy(load.prog_name, name, sizeof(load.prog_name) - 1);
	prog_fd = (int)bpf(BPF_PROG_LOAD, &load);
	if (prog_fd < 0) {
		fprintf(stderr, "empty_rawtp: BPF_PROG_LOAD: %s\n%s\n", strerror(errno), log);
		return 1;
	}

	memset(&open, 0, sizeof(open));
	open.raw_tracepoint.name = (uint64_t)(uintptr_t)"sys_enter";
	open.raw_tracepoint.prog_fd = (uint32_t)prog_fd;
	link_fd = (int)bpf(BPF_RAW_TRACEPOINT_OPEN, &open);
	if (link_fd < 0) {
		fprintf(stderr, "empty_rawtp: BPF_RAW_TRACEPOINT_OPEN: %s\n", strerror(errno));
		return 1;
	}

	if (argc > 1 && !strcmp(argv[1], "pair")) {
		memset(&open, 0, sizeof(open));
		open.raw_tracepoint.name = (uint64_t)(uintptr_t)"sys_exit";
		open.raw_tracepoint.prog_fd = (uint32_t)prog_fd;
		exit_fd = (int)bpf(BPF_RAW_TRACEPOINT_OPEN, &open);
		if (exit_fd < 0) {
			fprintf(stderr, "empty_rawtp: BPF_RAW_TRACEPOINT_OPEN sys_exit: %s\n", strerror(errno));
			return 1;
		}
	}

	memset(&info, 0, sizeof(info));
	memset(&info_attr, 0, sizeof(info_attr));
	info_attr.info.bpf_fd = (uint32_t)prog_fd;
	info_attr.info.info_len = sizeof(info);
	info_attr.info.info = (uint64_t)(uintptr_t)&info;
	if (bpf(BPF_OBJ_GET_INFO_BY_FD, &info_attr) < 0) {
		fprintf(stderr, "empty_rawtp: BPF_OBJ_GET_INFO_BY_FD: %s\n", strerror(errno));
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("attached prog_id=%u\n", info.id);
	fflush(stdout);
	/* Until a signal, or until the driver closes our stdin. */
	while (!stop) {
		ssize_t n = read(0, &c, 1);

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	if (exit_fd >= 0)
		close(exit_fd);
	close(link_fd);
	close(prog_fd);
	return 0;
}
