#!/usr/bin/env python3
"""Records how strace decodes chosen syscall arguments, as expected values for the unit
tests of src/decode (x86_64 only: the host's strace and kernel).

    scripts/strace-cases/gen.py > src/decode/testdata/strace-x86_64.tsv

Builds runner.c (gcc -static, into a temporary directory), feeds it one raw syscall per
case and runs it under strace. Calls that could act (clone, kill, prctl, socket, futex...)
are faulted by strace's own injection (-e inject=...:error=ENOSYS), which still decodes
their arguments; the rest fail harmlessly (a path that does not exist, fd -1, length 0).
Output lines: decoder, syscall, value, context (another argument the rendering depends
on, or -), then strace's rendering of the argument. Needs gcc, glibc's static libc and
strace; the header records strace's version.
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
NR = {}
for line in open("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"):
    m = re.match(r"#define __NR_(\w+)\s+(\d+)", line)
    if m:
        NR[m.group(1)] = int(m.group(2))

bits32 = [1 << i for i in range(32)]
bits64 = [1 << i for i in range(64)]
HIGH = [0x100000000, 0x100000001, 0x8000000000000000]


def flags(extra=(), b=bits32):
    return [0] + b + list(extra) + HIGH


CASES = []  # (decoder, syscall, args with V for the value, index printed, values, context)


def case(dec, sc, args, idx, values, context="-"):
    CASES.append((dec, sc, args, idx, list(dict.fromkeys(values)), context))


AT = "-100"
case("AtFd", "openat", ["V", "P", "0", "0"], 0,
     [0xffffff9c, 0xffffffffffffff9c, 0, 3, 0xffffffff, 0x7fffffff, 0x100000003, 0xffffff9b])
case("OpenFlags", "openat", [AT, "P", "V", "0"], 2,
     flags([1, 2, 3, 0x80241, 0x88000, 0x90800, 0x98800, 0x101001, 0x410000, 0x410002,
            0x200002, 0x40080000, 0x40000001, 0xffffffff, 0xfffffffc], bits32[2:]))
case("Mode", "openat", [AT, "P", "0x40", "V"], 3,
     [0, 1, 0o644, 0o755, 0o777, 0o1777, 0o4755, 0o2755, 0o7777, 0o10000, 0o100644, 0o170000,
      0xffff, 0x10000, 0xffffffff, 0o600, 0o20, 0o10])
case("Mode", "mkdirat", [AT, "P", "V"], 2, [0, 0o755, 0o700, 0o41777, 0xffffffff])
case("Mode", "fchmodat", [AT, "P", "V"], 2, [0, 0o644, 0o4755, 0o100644])
case("Mode", "umask", ["V"], 0, [0, 0o22, 0o77, 0o777])
case("MknodMode", "mknodat", [AT, "P", "V", "0"], 2,
     [0, 0o644, 0o100644, 0o20600, 0o60660, 0o10644, 0o140777, 0o170000, 0o120777, 0o40755,
      0o4000, 0o104755, 0o27777, 0o7, 0x10000, 0x100000, 0x181a4] + HIGH)
case("AccessMode", "access", ["P", "V"], 1, flags([3, 5, 6, 7, 15, 0xffffffff]))
case("AccessMode", "faccessat", [AT, "P", "V"], 2, [0, 1, 4, 6, 7, 8])
case("AccessMode", "faccessat2", [AT, "P", "V", "0"], 2, [0, 4, 7])
case("FaccessatFlags", "faccessat2", [AT, "P", "0", "V"], 3, flags([0x1100, 0x1300]))
case("AtFlags", "unlinkat", [AT, "P", "V"], 2, flags([0x300, 0x1100, 0xffffffff]))
case("AtFlags", "newfstatat", [AT, "P", "0", "V"], 3, [0, 0x100, 0x800, 0x1000, 0x1100, 0x1800])
case("AtFlags", "linkat", [AT, "P", AT, "P", "V"], 4, [0, 0x400, 0x1000, 0x1400, 0x2000])
case("AtFlags", "fchownat", [AT, "P", "0", "0", "V"], 4, [0, 0x100, 0x1000, 0x1100])
case("AtFlags", "utimensat", [AT, "P", "0", "V"], 3, [0, 0x100, 0x1000])
case("StatxFlags", "statx", [AT, "P", "V", "0", "0"], 2, flags([0x6000, 0x2100, 0x4800, 0x6100]))
case("RenameFlags", "renameat2", [AT, "P", AT, "P", "V"], 4, flags([3, 5, 0xffffffff]))
case("Prot", "mprotect", ["1", "0", "V"], 2,
     flags([3, 5, 7, 0x1000003, 0x3000000, 0xffffffff], bits32))
case("Prot", "mmap", ["0", "0", "V", "0x22", "-1", "0"], 2, [0, 1, 3, 7, 0x10, 0x20, 0x40])
case("MmapFlags", "mmap", ["0", "0", "3", "V", "-1", "0"], 3,
     flags([0x22, 0x21, 0x23, 0x12, 0x32, 0x4, 0x5, 0xf, 0x8, 0x20022, 0x40022, 0x54040022,
            0x58040022, 0x8000022, 0xfc000000, 0x100022, 0x80000000, 0xffffffff,
            0x100000002, 0x8000000000000002, 0x4000004], bits64))
case("CloneFlags", "clone", ["V", "0", "0", "0", "0"], 1,
     flags([0x11, 0x1200011, 0x3d0f00, 0x3d0f11, 0x100, 0x13, 0x3f, 0x7f, 0x80, 0x81, 0xff,
            0x40, 0x41, 0x20, 0x21, 0x22, 0x10000011, 0x100000011, 0xffffffff, 0x4111],
           bits64))
case("Clone3Flags", "clone3", ["V", "17"], 0,
     flags([0x300000000, 0x80, 0x400000000, 0x200000100, 0xffffffffffffffff], bits64))
case("UnshareFlags", "unshare", ["V"], 0,
     flags([0x10000, 0x20000000, 0x7e020000, 0x80, 0xffffffff]))
case("SocketFamily", "socket", ["V", "1", "0"], 0,
     list(range(0, 50)) + [0xffff, 0x10000, 0xffffffff] + HIGH)
case("SocketType", "socket", ["2", "V", "0"], 1,
     flags(list(range(1, 16)) + [0x80001, 0x800, 0x801, 0x80801, 0x80002, 0x10, 0x100001,
                                 0x40000001, 0xffffffff, 0x80000]))
for fam, types, values in [
        (2, 1, list(range(0, 300)) + [0xffff, 0xffffffff] + HIGH),
        (10, 1, [0, 6, 17, 41, 43, 58, 135, 255, 256, 262]),
        (1, 1, [0, 1, 6, 17, 0xffffffff]),
        (16, 3, list(range(0, 25)) + [0xffffffff])]:
    case("SocketProtocol", "socket", [str(fam), str(types), "V"], 2, values,
         "family=%d" % fam)
case("Signal", "kill", ["0x7ffffff0", "V"], 1, list(range(0, 70)) + [0xff, 0x100, 0xffffffff] + HIGH)
case("Signal", "tgkill", ["0x7ffffff0", "0x7ffffff0", "V"], 2, [0, 9, 15, 33])
case("Signal", "rt_sigaction", ["V", "0", "0", "8"], 0,
     [1, 9, 17, 31, 32, 34, 64, 65, 0, 0xffffffff])
case("SigprocmaskHow", "rt_sigprocmask", ["V", "0", "0", "8"], 0,
     [0, 1, 2, 3, 4, 0xffffffff] + HIGH)
case("FcntlCmd", "fcntl", ["-1", "V", "0"], 1,
     list(range(0, 50)) + list(range(1024, 1050)) + [0xffffffff] + HIGH)
case("FutexOp", "futex", ["0", "V", "0", "0", "0", "0"], 1,
     list(range(0, 20)) + [0x80 + i for i in range(20)] + [0x100 + i for i in range(20)]
     + [0x180 + i for i in range(20)] + [0x200, 0x40, 0x7f, 0xffffffff, 0x10000, 0x10080]
     + HIGH)
case("PrctlOption", "prctl", ["V", "0", "0", "0", "0"], 0,
     list(range(0, 80)) + [0x59616d61, 0x41555856, 0x53564d41, 1000, 0xffffffff] + HIGH)
case("Whence", "lseek", ["-1", "0", "V"], 2, list(range(0, 8)) + [0xffffffff] + HIGH)

INJECT = ["clone", "clone3", "kill", "tgkill", "prctl", "unshare", "socket", "futex", "umask"]


def split_args(s):
    """The top-level arguments of strace's "name(a, b, {c, d}, ...) = r" after "name("."""
    depth, quoted, cur, res = 0, False, "", []
    i = 0
    while i < len(s):
        c = s[i]
        if quoted:
            cur += c
            if c == "\\":
                cur += s[i + 1]
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
            cur += c
        elif c in "([{":
            depth += 1
            cur += c
        elif c in ")]}":
            if depth == 0:
                res.append(cur.strip())
                return res
            depth -= 1
            cur += c
        elif c == "," and depth == 0:
            res.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    res.append(cur.strip())
    return res


def main():
    tmp = tempfile.TemporaryDirectory()
    runner = os.path.join(tmp.name, "runner")
    subprocess.run(["gcc", "-O1", "-static", "-o", runner, os.path.join(HERE, "runner.c")],
                   check=True)
    lines, want = [], []
    for dec, sc, args, idx, values, ctx in CASES:
        for v in values:
            if sc == "clone3":
                lines.append("clone3 %#x %s" % (v, args[1]))
            else:
                a = [("%#x" % v) if x == "V" else x for x in args]
                a += ["0"] * (6 - len(a))
                lines.append("%d %s" % (NR[sc], " ".join(a)))
            want.append((dec, sc, idx, v, ctx))
    scs = sorted({c[1] for c in CASES})
    strace = ["strace", "-qq", "-o", "/dev/stdout", "-e", "trace=getpid," + ",".join(scs),
              "-e", "inject=%s:error=ENOSYS" % ",".join(i for i in INJECT if i in scs),
              runner]
    out = subprocess.run(strace, input="\n".join(lines) + "\n", capture_output=True,
                         text=True, check=True).stdout.splitlines()
    marks = [i for i, l in enumerate(out) if l.startswith("getpid(")]
    assert len(marks) == 2, marks
    out = out[marks[0] + 1:marks[1]]
    assert len(out) == len(want), (len(out), len(want))
    version = subprocess.run(["strace", "-V"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    print("# How %s on x86_64 prints these arguments: written by" % version)
    print("# scripts/strace-cases/gen.py; do not edit by hand.")
    print("# decoder\tsyscall\tvalue\tcontext\tstrace")
    for (dec, sc, idx, v, ctx), line in zip(want, out):
        assert line.startswith(sc + "("), (sc, line)
        args = split_args(line[len(sc) + 1:])
        s = split_args(args[0][1:])[0] if sc == "clone3" else args[idx]
        if sc in ("clone", "clone3"):
            s = re.sub(r"^\w+=", "", s)
        print("%s\t%s\t%#x\t%s\t%s" % (dec, sc, v, ctx, s))


if __name__ == "__main__":
    main()
