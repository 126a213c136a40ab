// SPDX-License-Identifier: Apache-2.0
/*
 * The traced program of `make bench`: makes a known number of one syscall and says how
 * long each took. Built static (musl) so that an exec costs few syscalls besides execve.
 *
 *   syscall_loop run SYSCALL N [RATE [MAXSEC]]   one measurement, then exit
 *   syscall_loop serve                           measurements on request: reads lines
 *                                                "SYSCALL N RATE MAXSEC" on stdin and
 *                                                answers each with one JSON line on stdout
 *
 * SYSCALL is uname (ignored by the logger by default), getppid (logged as "other"),
 * timer_gettime (logged by the timer handler, a tail call: timer_gettime(INT_MAX, NULL)
 * on a timer that does not exist, which fails at once with EINVAL),
 * getgroups (in the default ignore lists too: logged only when a tracer is told so),
 * lseek (logged, numeric arguments: lseek(SEEK_FD, 0, SEEK_SET) on /dev/null, opened on
 * SEEK_FD when "serve" or "run" starts, before any tracer is attached, and inherited across
 * execve), openat (logged, a path argument: openat(AT_FDCWD, BENCH_PATH, O_RDONLY), which
 * fails at once with ENOENT; the string is touched before the loop so that it is paged in
 * and a tracer can read it), execve (the process re-executes itself N times, keeping its
 * pid, so an in-kernel pid filter still selects it) or none (the bare loop). RATE is calls per second, paced by
 * spinning on the vDSO clock (no syscall); 0 means as fast as possible. MAXSEC stops a
 * slow run early; the answer says how many calls were actually made ("n").
 *
 * Nothing but the measured syscall is made between the start and the end of a run, except
 * execve's own few (arch_prctl, set_tid_address of the static start-up code), so a tracer
 * filtered on this pid sees exactly n records of SYSCALL (plus those for execve).
 * The reply is written with write(2) and the next command read with read(2): a benchmark
 * that wants an exact count ignores read and write in the tracer.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

extern char **environ;

/* lseek's fd: /dev/null (its llseek does nothing), a number out of the way of stdio. */
#define SEEK_FD 63
/* openat's path: must not exist (one syscall per iteration, nothing to close). */
static const char bench_path[] = "/nonexistent-tailcall-bench/path";

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put(const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t n = write(1, s, len);

		if (n <= 0)
			_exit(3);
		s += n;
		len -= (size_t)n;
	}
}

static void reply(const char *name, uint64_t n, uint64_t elapsed, uint64_t rate)
{
	char buf[256];

	snprintf(buf, sizeof(buf),
		 "{\"syscall\":\"%s\",\"n\":%llu,\"elapsed_ns\":%llu,\"ns_per_call\":%.3f,"
		 "\"rate\":%llu}\n",
		 name, (unsigned long long)n, (unsigned long long)elapsed,
		 n ? (double)elapsed / (double)n : 0.0, (unsigned long long)rate);
	put(buf);
}

enum kind { K_NONE, K_UNAME, K_GETPPID, K_TIMER, K_GETGROUPS, K_LSEEK, K_OPENAT, K_EXECVE };

static int kind_of(const char *s, enum kind *k)
{
	if (!strcmp(s, "none"))
		*k = K_NONE;
	else if (!strcmp(s, "uname"))
		*k = K_UNAME;
	else if (!strcmp(s, "getppid"))
		*k = K_GETPPID;
	else if (!strcmp(s, "timer_gettime"))
		*k = K_TIMER;
	else if (!strcmp(s, "getgroups"))
		*k = K_GETGROUPS;
	else if (!strcmp(s, "lseek"))
		*k = K_LSEEK;
	else if (!strcmp(s, "openat"))
		*k = K_OPENAT;
	else if (!strcmp(s, "execve"))
		*k = K_EXECVE;
	else
		return -1;
	return 0;
}

static const char *self_path = "/proc/self/exe";
static int serving;

/* Before any measurement (and before the driver attaches a tracer): lseek's fd. */
static void prepare(void)
{
	int fd = open("/dev/null", O_RDONLY);

	if (fd < 0 || (fd != SEEK_FD && (dup2(fd, SEEK_FD) != SEEK_FD || close(fd)))) {
		perror("syscall_loop: /dev/null");
		_exit(2);
	}
}

/* Reads every byte of the path (no syscall), so its page is mapped when the loop starts. */
static void touch_path(void)
{
	const volatile char *p = bench_path;
	unsigned sum = 0;

	while (*p)
		sum += (unsigned char)*p++;
	__asm__ volatile("" : : "r"(sum));
}

/* Re-executes itself; the image that finds remain == 0 replies and carries on. */
static void exec_next(uint64_t remain, uint64_t total, uint64_t start, uint64_t maxsec)
{
	char a_remain[24], a_total[24], a_start[24], a_max[24];
	char *argv[] = { "syscall_loop", "execloop", a_remain, a_total, a_start, a_max,
			 serving ? "serve" : "run", NULL };

	snprintf(a_remain, sizeof(a_remain), "%llu", (unsigned long long)remain);
	snprintf(a_total, sizeof(a_total), "%llu", (unsigned long long)total);
	snprintf(a_start, sizeof(a_start), "%llu", (unsigned long long)start);
	snprintf(a_max, sizeof(a_max), "%llu", (unsigned long long)maxsec);
	execve(self_path, argv, environ);
	perror("execve");
	_exit(4);
}

static void measure(enum kind k, const char *name, uint64_t n, uint64_t rate, uint64_t maxsec)
{
	struct utsname u;
	uint64_t start, deadline, period, i, t = 0;

	if (k == K_EXECVE) {
		start = now_ns();
		exec_next(n, n, start, maxsec);
	}
	if (k == K_OPENAT)
		touch_path();
	period = rate ? 1000000000ull / rate : 0;
	start = now_ns();
	deadline = maxsec ? start + maxsec * 1000000000ull : UINT64_MAX;
	for (i = 0; i < n; i++) {
		if (period) {
			uint64_t due = start + i * period;

			while ((t = now_ns()) < due)
				;
			if (t > deadline)
				break;
		} else if ((i & 1023) == 0 && i && now_ns() > deadline) {
			break;
		}
		switch (k) {
		case K_UNAME:
			syscall(SYS_uname, &u);
			break;
		case K_GETPPID:
			syscall(SYS_getppid);
			break;
		case K_TIMER:
			syscall(SYS_timer_gettime, INT_MAX, NULL);
			break;
		case K_GETGROUPS:
			syscall(SYS_getgroups, 0, NULL);
			break;
		case K_LSEEK:
			syscall(SYS_lseek, SEEK_FD, 0, SEEK_SET);
			break;
		case K_OPENAT:
			/* The path must not exist: an fd would need a close, a second syscall. */
			if (syscall(SYS_openat, AT_FDCWD, bench_path, O_RDONLY) >= 0)
				_exit(5);
			break;
		default:
			__asm__ volatile("" ::: "memory");
			break;
		}
	}
	reply(name, i, now_ns() - start, rate);
}

static void serve(void)
{
	char line[256];

	serving = 1;
	for (;;) {
		ssize_t got = 0, n;
		char name[32];
		unsigned long long cnt, rate, maxsec;
		enum kind k;

		/* One command at a time: the driver waits for the answer before the next. */
		while (got < (ssize_t)sizeof(line) - 1) {
			n = read(0, line + got, sizeof(line) - 1 - (size_t)got);
			if (n <= 0)
				_exit(0);
			got += n;
			if (line[got - 1] == '\n')
				break;
		}
		line[got] = 0;
		if (!strncmp(line, "quit", 4))
			_exit(0);
		if (sscanf(line, "%31s %llu %llu %llu", name, &cnt, &rate, &maxsec) != 4 ||
		    kind_of(name, &k)) {
			put("{\"error\":\"bad command\"}\n");
			continue;
		}
		measure(k, name, cnt, rate, maxsec);
	}
}

int main(int argc, char **argv)
{
	enum kind k;

	if (argc >= 7 && !strcmp(argv[1], "execloop")) {
		uint64_t remain = strtoull(argv[2], NULL, 10);
		uint64_t total = strtoull(argv[3], NULL, 10);
		uint64_t start = strtoull(argv[4], NULL, 10);
		uint64_t maxsec = strtoull(argv[5], NULL, 10);

		serving = !strcmp(argv[6], "serve");
		if (remain > 1 && (!maxsec || now_ns() - start < maxsec * 1000000000ull))
			exec_next(remain - 1, total, start, maxsec);
		reply("execve", total - remain + 1, now_ns() - start, 0);
		if (serving)
			serve();
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "serve")) {
		prepare();
		serve();
		return 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "run") && !kind_of(argv[2], &k)) {
		prepare();
		measure(k, argv[2], strtoull(argv[3], NULL, 10),
			argc > 4 ? strtoull(argv[4], NULL, 10) : 0,
			argc > 5 ? strtoull(argv[5], NULL, 10) : 0);
		return 0;
	}
	fprintf(stderr,
		"usage: syscall_loop run uname|getppid|getgroups|lseek|openat|execve|none N [RATE [MAXSEC]]\n"
		"       syscall_loop serve   (commands \"SYSCALL N RATE MAXSEC\" on stdin)\n");
	return 2;
}
