#!/usr/bin/env python3
"""Records how strace names syscall errors, as expected values for the unit tests of
src/decode's errno_name and errno_description (x86_64 only: the host's strace and kernel).

    scripts/strace-cases/errno.py > src/decode/testdata/strace-errno-x86_64.tsv

Builds errno-runner.c (gcc -static, into a temporary directory) and runs it under strace:
first once per real failing call (a path that does not exist, fd -1, an empty pipe...;
the runner prints the errno it saw, which gives the number, and strace's line for the
traced syscall gives the name and description), then once for every number from 1 to
4095 (the kernel's MAX_ERRNO) that strace injects as getppid's error
(-e inject=getppid:error=N): strace prints its name and strerror() for the numbers it
knows and "(errno N)" for the others, which are not listed. The restart cases see EINTR
in the program; the number strace saw is the kernel's ERESTART* code of that call
(include/linux/errno.h), given below.

Output lines: number, how (the syscall of a real call, or "inject"), the value strace
printed (-1, or ? for the ERESTART* codes), name, description. Needs gcc, glibc's static
libc and strace; the header records strace's version.
"""
import os
import re
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_ERRNO = 4095

# (the runner's case, the syscall strace traces for it)
CALLS = [
    ("ENOENT", "openat"), ("EBADF", "close"), ("EAGAIN", "read"), ("EEXIST", "mkdir"),
    ("ENOTDIR", "openat"), ("EISDIR", "openat"), ("EINVAL", "mmap"), ("ENOTTY", "ioctl"),
    ("ESPIPE", "lseek"), ("EPIPE", "write"), ("ENAMETOOLONG", "openat"),
    ("EFAULT", "openat"), ("EACCES", "execve"), ("ECHILD", "wait4"), ("ESRCH", "kill"),
    ("EAFNOSUPPORT", "socket"), ("EPROTONOSUPPORT", "socket"), ("ENOTSOCK", "listen"),
    ("EOPNOTSUPP", "listen"), ("ERESTARTSYS", "read"), ("ERESTARTNOHAND", "pause"),
    ("ERESTART_RESTARTBLOCK", "nanosleep"),
]
# What the kernel returns in the restart cases (pipe_read, sys_pause, hrtimer_nanosleep),
# from the kernel's include/linux/errno.h; the program itself sees EINTR.
RESTART = {"ERESTARTSYS": 512, "ERESTARTNOHAND": 514, "ERESTART_RESTARTBLOCK": 516}
EINTR = 4

# "name(args) = -1 ENOENT (No such file or directory)", "= ? ERESTARTSYS (...)", with
# " (INJECTED)" after injected ones; unknown numbers are "= -1 (errno 600)".
NAMED = re.compile(r"^(\w+)\(.*\)\s+= (-1|\?) (E\w+) \((.*?)\)(?: \(INJECTED\))?$")
UNNAMED = re.compile(r"^(\w+)\(.*\)\s+= -1 \(errno (\d+)\)(?: \(INJECTED\))?$")


def strace(args, runner):
    cmd = ["strace", "-qq", "-e", "signal=none", "-o", "/dev/stderr"] + args + runner
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return p.stdout, p.stderr.splitlines()


def main():
    tmp = tempfile.TemporaryDirectory()
    runner = os.path.join(tmp.name, "errno-runner")
    subprocess.run(["gcc", "-O1", "-static", "-o", runner,
                    os.path.join(HERE, "errno-runner.c")], check=True)
    rows = []
    for case, sc in CALLS:
        out, lines = strace(["-e", "trace=" + sc], [runner, case])
        seen = int(out)
        failed = [m for m in map(NAMED.match, lines) if m and m.group(1) == sc]
        assert len(failed) == 1, (case, lines)
        m = failed[0]
        if case in RESTART:
            assert seen == EINTR, (case, seen)
            number = RESTART[case]
        else:
            number = seen
        rows.append((number, sc, m.group(2), m.group(3), m.group(4)))
    for n in range(1, MAX_ERRNO + 1):
        _, lines = strace(["-e", "trace=getppid", "-e", "inject=getppid:error=%d" % n],
                          [runner])
        assert len(lines) == 1, (n, lines)
        m = NAMED.match(lines[0])
        if m:
            rows.append((n, "inject", m.group(2), m.group(3), m.group(4)))
        else:
            m = UNNAMED.match(lines[0])
            assert m and int(m.group(2)) == n, (n, lines)
    version = subprocess.run(["strace", "-V"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    print("# How %s on x86_64 names syscall errors: written by" % version)
    print("# scripts/strace-cases/errno.py; do not edit by hand. Real failing calls, then")
    print("# every number in 1..=%d injected; the injected numbers not listed were printed" %
          MAX_ERRNO)
    print("# as \"(errno N)\", without a name.")
    print("# number\thow\tvalue\tname\tdescription")
    for r in rows:
        print("%d\t%s\t%s\t%s\t%s" % r)


if __name__ == "__main__":
    main()
