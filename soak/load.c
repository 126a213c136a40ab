/* soak-load: the exec churn and the short threads of `make soak` (soak/soak.py compiles it
 * with gcc into target/soak/ at run time). Both modes run for SECONDS, then print one line,
 * "execs N" or "threads N", and exit 0.
 *
 *   soak-load execs SECONDS PATH       posix_spawn PATH (no arguments) and wait for it, in a loop
 *   soak-load threads SECONDS [WAVE [PAUSE_MS]]
 *       waves of WAVE (default 64) threads on 64 KiB stacks; each makes a few syscalls
 *       (gettid, getuid, uname, sched_yield) and returns; the wave is joined, PAUSE_MS
 *       (default 0) pass, then the next wave
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int execs(double seconds, const char *path) {
    char *argv[] = {(char *)path, NULL};
    double end = now() + seconds;
    unsigned long n = 0;
    while (now() < end) {
        pid_t pid;
        int status;
        if (posix_spawn(&pid, path, NULL, NULL, argv, environ) != 0) {
            perror("soak-load: posix_spawn");
            return 1;
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "soak-load: %s failed (status %d)\n", path, status);
            return 1;
        }
        n++;
    }
    printf("execs %lu\n", n);
    return 0;
}

static void *short_thread(void *arg) {
    struct utsname u;
    (void)arg;
    syscall(SYS_gettid);
    syscall(SYS_getuid);
    uname(&u);
    sched_yield();
    return NULL;
}

static int threads(double seconds, int wave, int pause_ms) {
    struct timespec pause = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
    pthread_t *t = calloc(wave, sizeof *t);
    pthread_attr_t attr;
    double end = now() + seconds;
    unsigned long n = 0;
    if (!t)
        return 1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    while (now() < end) {
        int started = 0, e = 0;
        for (; started < wave; started++)
            if ((e = pthread_create(&t[started], &attr, short_thread, NULL)) != 0)
                break;
        for (int i = 0; i < started; i++)
            pthread_join(t[i], NULL);
        n += started;
        if (e != 0) {
            fprintf(stderr, "soak-load: pthread_create: %s\n", strerror(e));
            return 1;
        }
        if (pause_ms > 0)
            nanosleep(&pause, NULL);
    }
    printf("threads %lu\n", n);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && strcmp(argv[1], "execs") == 0)
        return execs(atof(argv[2]), argv[3]);
    if (argc >= 3 && strcmp(argv[1], "threads") == 0)
        return threads(atof(argv[2]), argc >= 4 ? atoi(argv[3]) : 64, argc >= 5 ? atoi(argv[4]) : 0);
    fprintf(stderr, "usage: soak-load execs SECONDS PATH | threads SECONDS [WAVE [PAUSE_MS]]\n");
    return 2;
}
