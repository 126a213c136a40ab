// SPDX-License-Identifier: Apache-2.0
/*
 * The floor of `make bench`: an empty raw_tp/sys_enter program ("r0 = 0; exit"), loaded
 * and attached with the bpf(2) syscall alone (no libbpf, no object file, nothing to go
 * stale). Prints "attached prog_id=N" once it is attached, then waits for SIGINT/SIGTERM
 * or for stdin to close, and exits (closing the link detaches it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

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

int main(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	char log[4096] = "";
	union bpf_attr load, open, info_attr;
	struct bpf_prog_info info;
	struct sigaction sa;
	int prog_fd, link_fd;
	char c;

	memset(&load, 0, sizeof(load));
	load.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
	load.insns = (uint64_t)(uintptr_t)insns;
	load.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	load.license = (uint64_t)(uintptr_t)"GPL";
	load.log_buf = (uint64_t)(uintptr_t)log;
	load.log_size = sizeof(log);
	load.log_level = 1;
	strncpy(load.prog_name, "bench_empty", sizeof(load.prog_name) - 1);
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
	close(link_fd);
	close(prog_fd);
	return 0;
}
