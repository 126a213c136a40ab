/* The failing calls of scripts/strace-cases/errno.py: "errno-runner CASE" makes one call
   that fails (harmlessly: nothing is created, written or sent) and prints the errno the
   program saw, in decimal. The restart cases interrupt a blocking call with a SIGALRM
   whose handler has no SA_RESTART: the kernel's ERESTART* code is what strace sees at
   the syscall's exit, the program sees EINTR. With no argument, "errno-runner" only calls
   getppid(), for strace's error injection. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static void on_alarm(int sig) { (void)sig; }

static void alarm_soon(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static char long_path[5000];

int main(int argc, char **argv) {
    if (argc < 2) {
        syscall(SYS_getppid);
        return 0;
    }
    const char *c = argv[1];
    int p[2];
    long r;
    errno = 0;
    if (!strcmp(c, "ENOENT")) {
        r = open("/nonexistent/errno-runner", O_RDONLY);
    } else if (!strcmp(c, "EBADF")) {
        r = close(-1);
    } else if (!strcmp(c, "EAGAIN")) {
        if (pipe2(p, O_NONBLOCK)) return 2;
        char b;
        r = read(p[0], &b, 1);
    } else if (!strcmp(c, "EEXIST")) {
        r = mkdir("/", 0700);
    } else if (!strcmp(c, "ENOTDIR")) {
        r = open("/etc/passwd/x", O_RDONLY);
    } else if (!strcmp(c, "EISDIR")) {
        r = open("/", O_WRONLY);
    } else if (!strcmp(c, "EINVAL")) {
        r = (long)mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    } else if (!strcmp(c, "ENOTTY")) {
        int fd = open("/dev/null", O_RDONLY);
        struct termios t;
        r = ioctl(fd, TCGETS, &t);
    } else if (!strcmp(c, "ESPIPE")) {
        if (pipe(p)) return 2;
        r = lseek(p[0], 0, SEEK_SET);
    } else if (!strcmp(c, "EPIPE")) {
        if (pipe(p)) return 2;
        signal(SIGPIPE, SIG_IGN);
        close(p[0]);
        r = write(p[1], "x", 1);
    } else if (!strcmp(c, "ENAMETOOLONG")) {
        memset(long_path, 'a', sizeof long_path - 1);
        r = open(long_path, O_RDONLY);
    } else if (!strcmp(c, "EFAULT")) {
        r = syscall(SYS_openat, AT_FDCWD, (char *)1, O_RDONLY, 0);
    } else if (!strcmp(c, "EACCES")) {
        char *args[] = {"/etc/passwd", NULL};
        r = execve("/etc/passwd", args, args + 1);
    } else if (!strcmp(c, "ECHILD")) {
        r = wait4(-1, NULL, 0, NULL);
    } else if (!strcmp(c, "ESRCH")) {
        r = kill(0x3fffffff, 0);
    } else if (!strcmp(c, "EAFNOSUPPORT")) {
        r = socket(12345, SOCK_STREAM, 0);
    } else if (!strcmp(c, "EPROTONOSUPPORT")) {
        r = socket(AF_INET, SOCK_STREAM, IPPROTO_UDP);
    } else if (!strcmp(c, "ENOTSOCK")) {
        if (pipe(p)) return 2;
        r = listen(p[0], 1);
    } else if (!strcmp(c, "EOPNOTSUPP")) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        r = listen(s, 1);
    } else if (!strcmp(c, "ERESTARTSYS")) {
        if (pipe(p)) return 2;
        alarm_soon();
        char b;
        r = read(p[0], &b, 1);
    } else if (!strcmp(c, "ERESTARTNOHAND")) {
        alarm_soon();
        r = syscall(SYS_pause);
    } else if (!strcmp(c, "ERESTART_RESTARTBLOCK")) {
        alarm_soon();
        struct timespec ts = {10, 0};
        r = syscall(SYS_nanosleep, &ts, NULL);
    } else {
        fprintf(stderr, "errno-runner: no case %s\n", c);
        return 2;
    }
    if (r != -1) {
        fprintf(stderr, "errno-runner: %s did not fail\n", c);
        return 1;
    }
    printf("%d\n", errno);
    return 0;
}
