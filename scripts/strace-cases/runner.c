/* The syscall runner of scripts/strace-cases/gen.py: reads lines "NR A0 A1 A2 A3 A4 A5"
   from stdin (numbers in C syntax; P stands for a path that does not exist) and makes each
   raw syscall, so that strace prints how it decodes those arguments. "clone3 FLAGS SIG"
   makes a clone3 call with a struct clone_args of those flags and exit signal. A getpid()
   call before and after marks where the cases are. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/sched.h>
#include <stdint.h>
static char lines[1 << 20];
int main(void) {
    size_t n = fread(lines, 1, sizeof lines - 1, stdin);
    lines[n] = 0;
    syscall(SYS_getpid);
    for (char *l = strtok(lines, "\n"); l; l = strtok(NULL, "\n")) {
        if (!strncmp(l, "clone3 ", 7)) {
            struct clone_args a; memset(&a, 0, sizeof a);
            char *e;
            a.flags = strtoull(l + 7, &e, 0);
            a.exit_signal = strtoull(e, &e, 0);
            syscall(SYS_clone3, &a, sizeof a);
            continue;
        }
        char *p = l, *e;
        long nr = strtol(p, &e, 0); p = e;
        unsigned long a[6];
        for (int i = 0; i < 6; i++) {
            while (*p == ' ') p++;
            if (*p == 'P') { a[i] = (unsigned long)"/nonexistent-flags-test/x"; p++; continue; }
            a[i] = strtoull(p, &e, 0); p = e;
        }
        syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    syscall(SYS_getpid);
    return 0;
}
