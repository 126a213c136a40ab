#!/usr/bin/env python3
"""Generates src/decode/tables.rs: the named constants that src/decode prints syscall
arguments with, per architecture, from the kernel's UAPI headers.

    scripts/gen-flags.py [--arm64-deb FILE] > src/decode/tables.rs

Read from:
    x86_64, i386   Debian's linux-libc-dev as installed: /usr/include/linux,
                   /usr/include/asm-generic, /usr/include/x86_64-linux-gnu/asm (the x86 asm
                   headers serve both: they pick 32 or 64 bit by __x86_64__/__i386__)
    aarch64        linux-libc-dev:arm64's /usr/include/aarch64-linux-gnu/asm when that is
                   installed; otherwise --arm64-deb FILE, the package file itself (fetched
                   with e.g. `apt-get download linux-libc-dev:arm64`, which needs arm64 in
                   apt's architectures, or a private apt state dir: see the header of the
                   generated file), unpacked into a temporary directory. Its linux/ and
                   asm-generic/ are used too.
    socket         AF_* (bits/socket.h) and SOCK_* (bits/socket_type.h) come from glibc's
                   libc6-dev, as the kernel keeps them out of its UAPI; glibc uses the same
                   generic Linux files on x86_64, i386 and aarch64. F_OK.. from unistd.h.
    errno          names and numbers from each arch's asm/errno.h (x86 and arm64 both just
                   include asm-generic/errno.h, which includes errno-base.h: the generic
                   values, which the script checks by comparing the arches' tables), plus
                   the kernel-internal codes of the kernel's include/linux/errno.h that
                   strace names (not in the UAPI headers: listed below, KERNEL_ERRNOS).
                   Descriptions: glibc's strerror() in the C locale, from a small C program
                   built with cc and run at generation time (libc6's version is recorded);
                   the four ERESTART* codes get strace's own wording instead.

The headers are run through cpp (-nostdinc for the UAPI ones, with the arch's macros
defined), and each name's value is evaluated from the macro definitions or enum bodies.
For errno, strace's own rule (its maint/errnoent.sh) picks the name of each number: the
name #defined as a plain number, not the aliases defined as another name (EAGAIN, not
EWOULDBLOCK; EDEADLK, not EDEADLOCK; glibc's ENOTSUP, EOPNOTSUPP's alias, is not in the
kernel's headers at all).

Which names each table holds, and their order, follow strace's xlat lists (src/xlat/*.in
of strace 7.x): strace prints flag sets by walking such a list in order and taking every
entry whose bits are all set, so the order decides e.g. O_SYNC before O_DSYNC, and
O_CLOEXEC before O_DIRECTORY. Names a list has but these headers do not define are left
out of that arch's table and counted in a comment. Values always come from the headers.

The output depends only on the header contents, the package versions (from dpkg-query or
the .deb) and the command line, not on paths or time: running the same command on the same
packages reproduces the file byte for byte. Python 3 standard library, cpp, cc and dpkg.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

X86_ASM = "/usr/include/x86_64-linux-gnu/asm"
ARM64_ASM = "/usr/include/aarch64-linux-gnu/asm"
ARCHES = ("X86_64", "AARCH64", "I386")
RUST_ARCH = {"X86_64": "Arch::X86_64", "AARCH64": "Arch::Aarch64", "I386": "Arch::I386"}
ARCH_MACROS = {
    "X86_64": ["-D__x86_64__", "-D__LP64__"],
    "I386": ["-D__i386__"],
    "AARCH64": ["-D__aarch64__", "-D__LP64__"],
}

UAPI_HEADERS = [
    "linux/fcntl.h", "asm/fcntl.h", "linux/stat.h", "asm/mman.h", "linux/mman.h",
    "asm/signal.h", "linux/sched.h", "linux/futex.h", "linux/prctl.h", "linux/fs.h",
    "linux/in.h", "linux/in6.h", "linux/netlink.h",
]
LIBC_HEADERS = ["sys/socket.h", "unistd.h"]


def names(s):
    return s.split()


# (table, source, names in strace's order). source "uapi" or "libc".
TABLES = [
    ("OPEN_ACCESS_MODES", "uapi", names("O_RDONLY O_WRONLY O_RDWR O_ACCMODE")),
    ("OPEN_FLAGS", "uapi", names(
        "O_CREAT O_EXCL O_NOCTTY O_TRUNC O_APPEND O_NONBLOCK O_SYNC __O_SYNC O_DSYNC "
        "O_DIRECT O_LARGEFILE O_NOFOLLOW O_NOATIME O_CLOEXEC O_PATH O_TMPFILE __O_TMPFILE "
        "O_DIRECTORY O_EMPTYPATH FASYNC")),
    ("AT_FLAGS", "uapi", names(
        "AT_SYMLINK_NOFOLLOW AT_REMOVEDIR AT_SYMLINK_FOLLOW AT_NO_AUTOMOUNT AT_EMPTY_PATH "
        "AT_RECURSIVE")),
    ("FACCESSAT_FLAGS", "uapi", names("AT_SYMLINK_NOFOLLOW AT_EACCESS AT_EMPTY_PATH")),
    ("STATX_SYNC_TYPES", "uapi", names(
        "AT_STATX_SYNC_AS_STAT AT_STATX_FORCE_SYNC AT_STATX_DONT_SYNC AT_STATX_SYNC_TYPE")),
    ("ACCESS_MODES", "libc", names("F_OK R_OK W_OK X_OK")),
    ("RENAME_FLAGS", "uapi", names("RENAME_NOREPLACE RENAME_EXCHANGE RENAME_WHITEOUT")),
    ("FILE_TYPES", "uapi", names("S_IFREG S_IFSOCK S_IFIFO S_IFLNK S_IFDIR S_IFBLK S_IFCHR")),
    ("MMAP_PROT", "uapi", names(
        "PROT_NONE PROT_READ PROT_WRITE PROT_EXEC PROT_SEM PROT_GROWSDOWN PROT_GROWSUP "
        "PROT_SAO PROT_ADI")),
    ("MMAP_FLAGS", "uapi", names(
        "MAP_SHARED MAP_PRIVATE MAP_SHARED_VALIDATE MAP_DROPPABLE MAP_FIXED MAP_ANONYMOUS "
        "MAP_32BIT MAP_ABOVE4G MAP_RENAME MAP_NORESERVE MAP_POPULATE MAP_NONBLOCK _MAP_NEW "
        "MAP_GROWSDOWN MAP_GROWSUP MAP_DENYWRITE MAP_EXECUTABLE MAP_INHERIT _MAP_INHERIT "
        "MAP_FILE MAP_LOCKED _MAP_HASSEMAPHORE MAP_STACK MAP_HUGETLB MAP_SYNC "
        "MAP_UNINITIALIZED MAP_FIXED_NOREPLACE MAP_AUTOGROW MAP_AUTORSRV MAP_LOCAL "
        "_MAP_UNALIGNED")),
    ("CLONE_FLAGS", "uapi", names(
        "CLONE_VM CLONE_FS CLONE_FILES CLONE_SIGHAND CLONE_PIDFD CLONE_PTRACE CLONE_VFORK "
        "CLONE_PARENT CLONE_THREAD CLONE_NEWNS CLONE_SYSVSEM CLONE_SETTLS "
        "CLONE_PARENT_SETTID CLONE_CHILD_CLEARTID CLONE_UNTRACED CLONE_CHILD_SETTID "
        "CLONE_NEWCGROUP CLONE_NEWUTS CLONE_NEWIPC CLONE_NEWUSER CLONE_NEWPID CLONE_NEWNET "
        "CLONE_IO")),
    ("CLONE3_FLAGS", "uapi", names(
        "CLONE_NEWTIME CLONE_CLEAR_SIGHAND CLONE_INTO_CGROUP CLONE_AUTOREAP CLONE_NNP "
        "CLONE_PIDFD_AUTOKILL CLONE_EMPTY_MNTNS")),
    ("UNSHARE_FLAGS", "uapi", names(
        "CLONE_NEWTIME CLONE_VM CLONE_FS CLONE_FILES CLONE_SIGHAND CLONE_THREAD CLONE_NEWNS "
        "CLONE_SYSVSEM CLONE_NEWCGROUP CLONE_NEWUTS CLONE_NEWIPC CLONE_NEWUSER CLONE_NEWPID "
        "CLONE_NEWNET")),
    ("ADDRESS_FAMILIES", "libc", names(
        "AF_UNSPEC AF_UNIX AF_INET AF_AX25 AF_IPX AF_APPLETALK AF_NETROM AF_BRIDGE "
        "AF_ATMPVC AF_X25 AF_INET6 AF_ROSE AF_DECnet AF_NETBEUI AF_SECURITY AF_KEY "
        "AF_NETLINK AF_PACKET AF_ASH AF_ECONET AF_ATMSVC AF_RDS AF_SNA AF_IRDA AF_PPPOX "
        "AF_WANPIPE AF_LLC AF_IB AF_MPLS AF_CAN AF_TIPC AF_BLUETOOTH AF_IUCV AF_RXRPC "
        "AF_ISDN AF_PHONET AF_IEEE802154 AF_CAIF AF_ALG AF_NFC AF_VSOCK AF_KCM AF_QIPCRTR "
        "AF_SMC AF_XDP AF_MCTP")),
    ("SOCKET_TYPES", "libc", names(
        "SOCK_STREAM SOCK_DGRAM SOCK_RAW SOCK_RDM SOCK_SEQPACKET SOCK_DCCP SOCK_PACKET")),
    ("SOCKET_TYPE_FLAGS", "libc", names("SOCK_CLOEXEC SOCK_NONBLOCK")),
    ("INET_PROTOCOLS", "uapi", names(
        "IPPROTO_IP IPPROTO_ICMP IPPROTO_IGMP IPPROTO_IPIP IPPROTO_TCP IPPROTO_EGP "
        "IPPROTO_PUP IPPROTO_UDP IPPROTO_IDP IPPROTO_TP IPPROTO_DCCP IPPROTO_IPV6 "
        "IPPROTO_ROUTING IPPROTO_FRAGMENT IPPROTO_RSVP IPPROTO_GRE IPPROTO_ESP IPPROTO_AH "
        "IPPROTO_ICMPV6 IPPROTO_NONE IPPROTO_DSTOPTS IPPROTO_MTP IPPROTO_BEETPH "
        "IPPROTO_ENCAP IPPROTO_PIM IPPROTO_COMP IPPROTO_L2TP IPPROTO_SCTP IPPROTO_MH "
        "IPPROTO_UDPLITE IPPROTO_MPLS IPPROTO_ETHERNET IPPROTO_AGGFRAG IPPROTO_RAW "
        "IPPROTO_SMC IPPROTO_MPTCP")),
    ("NETLINK_PROTOCOLS", "uapi", names(
        "NETLINK_ROUTE NETLINK_UNUSED NETLINK_USERSOCK NETLINK_FIREWALL NETLINK_SOCK_DIAG "
        "NETLINK_NFLOG NETLINK_XFRM NETLINK_SELINUX NETLINK_ISCSI NETLINK_AUDIT "
        "NETLINK_FIB_LOOKUP NETLINK_CONNECTOR NETLINK_NETFILTER NETLINK_IP6_FW "
        "NETLINK_DNRTMSG NETLINK_KOBJECT_UEVENT NETLINK_GENERIC NETLINK_SCSITRANSPORT "
        "NETLINK_ECRYPTFS NETLINK_RDMA NETLINK_CRYPTO NETLINK_SMC")),
    # strace's signal names: the canonical one per number (SIGABRT not SIGIOT, SIGIO not
    # SIGPOLL, SIGSYS not SIGUNUSED); numbers past these are printed by the decoder.
    ("SIGNALS", "uapi", names(
        "SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGKILL SIGUSR1 SIGSEGV "
        "SIGUSR2 SIGPIPE SIGALRM SIGTERM SIGSTKFLT SIGCHLD SIGCONT SIGSTOP SIGTSTP SIGTTIN "
        "SIGTTOU SIGURG SIGXCPU SIGXFSZ SIGVTALRM SIGPROF SIGWINCH SIGIO SIGPWR SIGSYS "
        "SIGRTMIN")),
    ("SIGPROCMASK_HOW", "uapi", names("SIG_BLOCK SIG_UNBLOCK SIG_SETMASK")),
    ("FCNTL_CMDS", "uapi", names(
        "F_DUPFD F_GETFD F_SETFD F_GETFL F_SETFL F_GETLK F_SETLK F_SETLKW F_SETOWN F_GETOWN "
        "F_SETSIG F_GETSIG F_GETLK64 F_SETLK64 F_SETLKW64 F_SETOWN_EX F_GETOWN_EX "
        "F_GETOWNER_UIDS F_OFD_GETLK F_OFD_SETLK F_OFD_SETLKW F_SETLEASE F_GETLEASE "
        "F_NOTIFY F_DUPFD_QUERY F_CREATED_QUERY F_CANCELLK F_DUPFD_CLOEXEC F_SETPIPE_SZ "
        "F_GETPIPE_SZ F_ADD_SEALS F_GET_SEALS F_GET_RW_HINT F_SET_RW_HINT "
        "F_GET_FILE_RW_HINT F_SET_FILE_RW_HINT F_GETDELEG F_SETDELEG")),
    # Whole values, some named as A|B: a name is printed only for exactly its value.
    ("FUTEX_OPS", "uapi", names(
        "FUTEX_WAIT FUTEX_WAKE FUTEX_FD FUTEX_REQUEUE FUTEX_CMP_REQUEUE FUTEX_WAKE_OP "
        "FUTEX_LOCK_PI FUTEX_UNLOCK_PI FUTEX_TRYLOCK_PI FUTEX_WAIT_BITSET FUTEX_WAKE_BITSET "
        "FUTEX_WAIT_REQUEUE_PI FUTEX_CMP_REQUEUE_PI FUTEX_LOCK_PI2 FUTEX_WAIT_PRIVATE "
        "FUTEX_WAKE_PRIVATE FUTEX_FD|FUTEX_PRIVATE_FLAG FUTEX_REQUEUE_PRIVATE "
        "FUTEX_CMP_REQUEUE_PRIVATE FUTEX_WAKE_OP_PRIVATE FUTEX_LOCK_PI_PRIVATE "
        "FUTEX_UNLOCK_PI_PRIVATE FUTEX_TRYLOCK_PI_PRIVATE FUTEX_WAIT_BITSET_PRIVATE "
        "FUTEX_WAKE_BITSET_PRIVATE FUTEX_WAIT_REQUEUE_PI_PRIVATE "
        "FUTEX_CMP_REQUEUE_PI_PRIVATE FUTEX_LOCK_PI2_PRIVATE "
        "FUTEX_WAIT|FUTEX_CLOCK_REALTIME FUTEX_WAIT_PRIVATE|FUTEX_CLOCK_REALTIME "
        "FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME "
        "FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME "
        "FUTEX_WAIT_REQUEUE_PI|FUTEX_CLOCK_REALTIME "
        "FUTEX_WAIT_REQUEUE_PI_PRIVATE|FUTEX_CLOCK_REALTIME")),
    ("PRCTL_OPTIONS", "uapi", names(
        "PR_SET_PDEATHSIG PR_GET_PDEATHSIG PR_GET_DUMPABLE PR_SET_DUMPABLE PR_GET_UNALIGN "
        "PR_SET_UNALIGN PR_GET_KEEPCAPS PR_SET_KEEPCAPS PR_GET_FPEMU PR_SET_FPEMU "
        "PR_GET_FPEXC PR_SET_FPEXC PR_GET_TIMING PR_SET_TIMING PR_SET_NAME PR_GET_NAME "
        "PR_GET_ENDIAN PR_SET_ENDIAN PR_GET_SECCOMP PR_SET_SECCOMP PR_CAPBSET_READ "
        "PR_CAPBSET_DROP PR_GET_TSC PR_SET_TSC PR_GET_SECUREBITS PR_SET_SECUREBITS "
        "PR_SET_TIMERSLACK PR_GET_TIMERSLACK PR_TASK_PERF_EVENTS_DISABLE "
        "PR_TASK_PERF_EVENTS_ENABLE PR_MCE_KILL PR_MCE_KILL_GET PR_SET_MM "
        "PR_SET_CHILD_SUBREAPER PR_GET_CHILD_SUBREAPER PR_SET_NO_NEW_PRIVS "
        "PR_GET_NO_NEW_PRIVS PR_GET_TID_ADDRESS PR_SET_THP_DISABLE PR_GET_THP_DISABLE "
        "PR_MPX_ENABLE_MANAGEMENT PR_MPX_DISABLE_MANAGEMENT PR_SET_FP_MODE PR_GET_FP_MODE "
        "PR_CAP_AMBIENT PR_SVE_SET_VL PR_SVE_GET_VL PR_GET_SPECULATION_CTRL "
        "PR_SET_SPECULATION_CTRL PR_PAC_RESET_KEYS PR_SET_TAGGED_ADDR_CTRL "
        "PR_GET_TAGGED_ADDR_CTRL PR_SET_IO_FLUSHER PR_GET_IO_FLUSHER "
        "PR_SET_SYSCALL_USER_DISPATCH PR_PAC_SET_ENABLED_KEYS PR_PAC_GET_ENABLED_KEYS "
        "PR_SCHED_CORE PR_SME_SET_VL PR_SME_GET_VL PR_SET_MDWE PR_GET_MDWE "
        "PR_SET_MEMORY_MERGE PR_GET_MEMORY_MERGE PR_RISCV_V_SET_CONTROL "
        "PR_RISCV_V_GET_CONTROL PR_RISCV_SET_ICACHE_FLUSH_CTX PR_PPC_GET_DEXCR "
        "PR_PPC_SET_DEXCR PR_GET_SHADOW_STACK_STATUS PR_SET_SHADOW_STACK_STATUS "
        "PR_LOCK_SHADOW_STACK_STATUS PR_TIMER_CREATE_RESTORE_IDS PR_FUTEX_HASH "
        "PR_GET_AUXV PR_SET_VMA PR_SET_PTRACER")),
    ("SEEK_WHENCE", "uapi", names("SEEK_SET SEEK_CUR SEEK_END SEEK_DATA SEEK_HOLE")),
]

# Single constants the decoders compute with.
# Single constants the decoders compute with: (header name, Rust name, Rust type).
CONSTANTS = [
    ("AT_FDCWD", "AT_FDCWD", "i64"), ("O_ACCMODE", "O_ACCMODE", "u64"),
    ("O_CREAT", "O_CREAT", "u64"), ("__O_TMPFILE", "O_TMPFILE_BIT", "u64"),
    ("AT_STATX_SYNC_TYPE", "AT_STATX_SYNC_TYPE", "u64"), ("S_IFMT", "S_IFMT", "u64"),
    ("S_ISUID", "S_ISUID", "u64"), ("S_ISGID", "S_ISGID", "u64"),
    ("S_ISVTX", "S_ISVTX", "u64"), ("MAP_TYPE", "MAP_TYPE", "u64"),
    ("MAP_HUGE_SHIFT", "MAP_HUGE_SHIFT", "u64"), ("MAP_HUGE_MASK", "MAP_HUGE_MASK", "u64"),
    ("CSIGNAL", "CSIGNAL", "u64"), ("SIGRTMIN", "SIGRTMIN", "u64"),
    ("_NSIG", "SIGRTMAX", "u64"),
]

ERRNO_HEADER = "asm/errno.h"

# The kernel-internal error codes of the kernel's include/linux/errno.h (not part of its
# UAPI) that strace names (its src/linux/generic/errnoent.h): a tracer sees them at
# syscall exit (ERESTARTSYS when a signal interrupts a call...), although the program
# itself never does. include/linux/errno.h also has ENOPARAM 519 and ENOGRACE 531, which
# strace does not name (it prints "(errno 519)"): left out, so that they print as numbers.
KERNEL_ERRNOS = [
    ("ERESTARTSYS", 512), ("ERESTARTNOINTR", 513), ("ERESTARTNOHAND", 514),
    ("ENOIOCTLCMD", 515), ("ERESTART_RESTARTBLOCK", 516), ("EPROBE_DEFER", 517),
    ("EOPENSTALE", 518),
    # "Defined for the NFSv3 protocol"
    ("EBADHANDLE", 521), ("ENOTSYNC", 522), ("EBADCOOKIE", 523), ("ENOTSUPP", 524),
    ("ETOOSMALL", 525), ("ESERVERFAULT", 526), ("EBADTYPE", 527), ("EJUKEBOX", 528),
    ("EIOCBQUEUED", 529), ("ERECALLCONFLICT", 530),
]
# strace prints these four with its own words (src/syscall.c, print_erestart) and a "?"
# for the value; every other code with strerror()'s, which for the kernel-internal ones
# is "Unknown error 515" and so on.
STRACE_WORDING = {
    "ERESTARTSYS": "To be restarted if SA_RESTART is set",
    "ERESTARTNOINTR": "To be restarted",
    "ERESTARTNOHAND": "To be restarted if no handler",
    "ERESTART_RESTARTBLOCK": "Interrupted by signal",
}
# What the kernel can return as an error: -4095..-1 (include/linux/err.h, MAX_ERRNO).
MAX_ERRNO = 4095

STRERROR_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        printf("%s\n", strerror(atoi(argv[i])));
    return 0;
}
"""

# x86's asm/signal.h leaves _NSIG to the kernel's own headers (64, as in
# asm-generic/signal.h): where an arch's headers lack it, asm-generic's value is taken.
GENERIC_FALLBACK = {"_NSIG": "asm-generic/signal.h"}

# strace names these on 64-bit arches too, where asm-generic/fcntl.h defines them only
# for 32-bit ones (__BITS_PER_LONG == 32): their values come from the I386 evaluation.
FROM_32BIT = {"F_GETLK64", "F_SETLK64", "F_SETLKW64"}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def dpkg_version(pkg):
    try:
        return run(["dpkg-query", "-W", "-f", "${Version}", pkg]).strip() or None
    except subprocess.CalledProcessError:
        return None


class Macros:
    """Macro definitions and enum constants of one preprocessed set of headers."""

    def __init__(self, cpp_args, headers):
        src = "".join("#include <%s>\n" % h for h in headers)
        self.defs = {}
        for line in run(["cpp", "-dM"] + cpp_args + ["-"], input=src).splitlines():
            m = re.match(r"#define (\w+)(\([^)]*\))? ?(.*)$", line)
            if m and not m.group(2):
                self.defs[m.group(1)] = m.group(3)
        body = run(["cpp", "-P"] + cpp_args + ["-"], input=src)
        for enum in re.findall(r"\benum\b[^{;]*\{([^}]*)\}", body):
            nxt = 0
            for item in enum.split(","):
                item = item.strip()
                if not item:
                    continue
                m = re.match(r"(\w+)\s*(?:=\s*(.+))?$", item, re.S)
                if not m:
                    continue
                val = self.eval(m.group(2)) if m.group(2) else nxt
                if val is None:
                    break
                # An enum constant shadows the "#define X X" that names it.
                self.defs[m.group(1)] = str(val)
                nxt = val + 1

    def eval(self, expr, depth=0):
        if depth > 40:
            return None
        out = []
        for tok in re.findall(r"0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|\w+|<<|>>|[|&~+\-*()^]|\S",
                              expr):
            if re.match(r"0[xX]", tok):
                out.append(str(int(tok.rstrip("uUlL"), 16)))
            elif tok[0].isdigit():
                t = tok.rstrip("uUlL")
                out.append(str(int(t, 8) if len(t) > 1 and t[0] == "0" else int(t)))
            elif re.match(r"\w+$", tok):
                if tok not in self.defs or self.defs[tok] == tok:
                    return None
                v = self.eval(self.defs[tok], depth + 1)
                if v is None:
                    return None
                out.append("(%d)" % v)
            elif tok in ("|", "&", "~", "+", "-", "*", "(", ")", "<<", ">>", "^"):
                out.append(tok)
            else:
                return None
        if not out:
            return None
        try:
            return int(eval(" ".join(out), {"__builtins__": {}}))
        except Exception:
            return None

    def value(self, name):
        if "|" in name:
            parts = [self.value(p) for p in name.split("|")]
            return None if None in parts else _or(parts)
        if name not in self.defs:
            return None
        return self.eval(self.defs[name])


def errno_names(m):
    """{number: name} of one arch's errno headers by strace's rule, and the aliases."""
    by_num, aliases = {}, []
    for name, body in sorted(m.defs.items()):
        if not re.match(r"E[A-Z0-9_]+$", name):
            continue
        if re.match(r"[0-9]+$", body.strip()):
            v = int(body)
            if v in by_num:
                sys.exit("gen-flags: errno %d is both %s and %s" % (v, by_num[v], name))
            by_num[v] = name
        else:
            aliases.append((name, m.value(name)))
    for name, v in aliases:
        if v not in by_num:
            sys.exit("gen-flags: errno alias %s is no known number" % name)
    return by_num, sorted((n, by_num[v]) for n, v in aliases)


def strerror(numbers, tmpdir):
    """glibc's strerror() of each number, in the C locale (the program sets none)."""
    src = os.path.join(tmpdir, "strerror.c")
    exe = os.path.join(tmpdir, "strerror")
    with open(src, "w") as f:
        f.write(STRERROR_C)
    run(["cc", "-O0", "-o", exe, src])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    out = run([exe] + [str(n) for n in numbers], env=env).split("\n")
    return dict(zip(numbers, out[:len(numbers)]))


def rust_str(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def _or(parts):
    v = 0
    for p in parts:
        v |= p
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arm64-deb", help="linux-libc-dev_*_arm64.deb, when "
                    "linux-libc-dev:arm64 is not installed")
    args = ap.parse_args()

    host_ver = dpkg_version("linux-libc-dev:amd64") or dpkg_version("linux-libc-dev")
    libc_ver = dpkg_version("libc6-dev:amd64") or dpkg_version("libc6-dev")
    if not host_ver or not libc_ver:
        sys.exit("gen-flags: linux-libc-dev and libc6-dev must be installed")

    tmp = tempfile.TemporaryDirectory()
    inc = {}
    # The x86 headers: /usr/include with its multiarch asm directory.
    x86 = os.path.join(tmp.name, "x86")
    os.mkdir(x86)
    os.symlink(X86_ASM, os.path.join(x86, "asm"))
    inc["X86_64"] = inc["I386"] = [x86, "/usr/include"]
    arm_ver = dpkg_version("linux-libc-dev:arm64")
    if arm_ver and os.path.isdir(ARM64_ASM):
        arm_src = "linux-libc-dev:arm64 %s (installed)" % arm_ver
        arm = os.path.join(tmp.name, "arm64")
        os.mkdir(arm)
        os.symlink(ARM64_ASM, os.path.join(arm, "asm"))
        inc["AARCH64"] = [arm, "/usr/include"]
    elif args.arm64_deb:
        fields = run(["dpkg-deb", "-f", args.arm64_deb, "Package", "Version", "Architecture"])
        f = dict(l.split(": ", 1) for l in fields.splitlines())
        if f["Package"] != "linux-libc-dev" or f["Architecture"] != "arm64":
            sys.exit("gen-flags: %s is not linux-libc-dev for arm64" % args.arm64_deb)
        arm_ver = f["Version"]
        arm_src = "linux-libc-dev:arm64 %s (.deb)" % arm_ver
        root = os.path.join(tmp.name, "arm64deb")
        run(["dpkg-deb", "-x", args.arm64_deb, root])
        arm = os.path.join(tmp.name, "arm64")
        os.mkdir(arm)
        os.symlink(os.path.join(root, "usr/include/aarch64-linux-gnu/asm"),
                   os.path.join(arm, "asm"))
        inc["AARCH64"] = [arm, os.path.join(root, "usr/include")]
    else:
        sys.exit("gen-flags: no arm64 headers: install linux-libc-dev:arm64 or pass "
                 "--arm64-deb FILE")

    uapi, libc = {}, {}
    for arch in ARCHES:
        cpp = ["-undef", "-nostdinc", "-D__linux__"] + ARCH_MACROS[arch]
        for d in inc[arch]:
            cpp += ["-I", d]
        uapi[arch] = Macros(cpp, UAPI_HEADERS)
    generic = {}
    for arch in ARCHES:
        cpp = ["-undef", "-nostdinc", "-D__linux__"] + ARCH_MACROS[arch]
        for d in inc[arch]:
            cpp += ["-I", d]
        generic[arch] = Macros(cpp, sorted(set(GENERIC_FALLBACK.values())))
    # glibc: the host's, for every arch (see the docstring).
    host_libc = Macros([], LIBC_HEADERS)

    # errno: {arch: [(number, name)]} from the headers plus the kernel-internal ones.
    errnos, errno_aliases = {}, {}
    for arch in ARCHES:
        cpp = ["-undef", "-nostdinc", "-D__linux__"] + ARCH_MACROS[arch]
        for d in inc[arch]:
            cpp += ["-I", d]
        by_num, errno_aliases[arch] = errno_names(Macros(cpp, [ERRNO_HEADER]))
        for name, v in KERNEL_ERRNOS:
            if v in by_num:
                sys.exit("gen-flags: kernel-internal %s %d is %s in the headers" % (
                    name, v, by_num[v]))
            by_num[v] = name
        if not by_num or max(by_num) > MAX_ERRNO or min(by_num) < 1:
            sys.exit("gen-flags: errno numbers of %s out of 1..%d" % (arch, MAX_ERRNO))
        errnos[arch] = sorted(by_num.items())
    all_numbers = sorted({v for rows in errnos.values() for v, _ in rows})
    descr = strerror(all_numbers, tmp.name)
    libc6_ver = dpkg_version("libc6:amd64") or dpkg_version("libc6")

    def lookup(source, arch, name):
        if source == "libc":
            return host_libc.value(name)
        if name in FROM_32BIT:
            return uapi["I386"].value(name)
        v = uapi[arch].value(name)
        if v is None and name in GENERIC_FALLBACK:
            v = generic[arch].value(name)
        return v

    out = []
    w = out.append
    cmd = "scripts/gen-flags.py"
    if args.arm64_deb:
        cmd += " --arm64-deb " + shlex.quote(os.path.basename(args.arm64_deb))
    w("// @generated by scripts/gen-flags.py from Debian's kernel and C library headers:")
    w("//   X86_64, I386: linux-libc-dev:amd64 %s: /usr/include/{linux,asm-generic}," % host_ver)
    w("//     /usr/include/x86_64-linux-gnu/asm")
    w("//   AARCH64: %s: its linux, asm-generic and" % arm_src)
    w("//     aarch64-linux-gnu/asm")
    w("//   all: libc6-dev:amd64 %s: sys/socket.h (AF_*, SOCK_*), unistd.h (F_OK..)" % libc_ver)
    w("// UAPI headers read (with what they include): %s" % " ".join(UAPI_HEADERS))
    w("// errno: asm/errno.h (asm-generic/errno.h, errno-base.h) of each arch above, and the")
    w("//   kernel-internal codes strace names (include/linux/errno.h, listed in the script);")
    w("//   descriptions: strerror() of libc6:amd64 %s in the C locale, but strace's" % libc6_ver)
    w("//   own words for ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK")
    w("// Names and their order follow strace's xlat lists; a name the headers lack is left")
    w("// out (see the count under each table). Do not edit by hand; regenerate with:")
    w("//   %s > src/decode/tables.rs" % cmd)
    if args.arm64_deb:
        w("// where the .deb came from: apt-get download linux-libc-dev:arm64=%s, e.g. with a" % arm_ver)
        w("// private apt state: apt-get -o APT::Architectures::=arm64 -o Dir::State::Lists=D/lists")
        w("// -o Dir::Cache=D/cache -o Dir::State::status=/dev/null update, then download with the same -o.")
    w("")
    w("use crate::syscalls::Arch;")
    w("")
    w("pub(super) type Table = &'static [(u64, &'static str)];")
    w("")

    for name, source, wanted in TABLES:
        per_arch = {}
        missing = {}
        for arch in ARCHES:
            rows, seen = [], set()
            miss = []
            for n in wanted:
                if n in seen:
                    continue
                v = lookup(source, arch, n)
                if v is None:
                    miss.append(n)
                    continue
                seen.add(n)
                rows.append((v & 0xFFFFFFFFFFFFFFFF, n))
            per_arch[arch] = rows
            missing[arch] = miss
        groups = []  # [(arches, rows)]
        for arch in ARCHES:
            for g in groups:
                if g[1] == per_arch[arch]:
                    g[0].append(arch)
                    break
            else:
                groups.append(([arch], per_arch[arch]))
        fn = name.lower()
        for arches, rows in groups:
            static = name if len(groups) == 1 else name + "_" + "_".join(arches)
            miss = missing[arches[0]]
            w("// %s: %d names%s" % (", ".join(arches), len(rows),
                                      "; not in these headers: " + " ".join(miss) if miss else ""))
            w("static %s: [(u64, &str); %d] = [" % (static, len(rows)))
            for v, n in rows:
                w("    (%#x, %s)," % (v, '"%s"' % n))
            w("];")
        w("pub(super) fn %s(arch: Arch) -> Table {" % fn)
        if len(groups) == 1:
            w("    let _ = arch;")
            w("    &%s" % name)
        else:
            w("    match arch {")
            for arches, _ in groups:
                static = name + "_" + "_".join(arches)
                w("        %s => &%s," % (" | ".join(RUST_ARCH[a] for a in arches), static))
            w("    }")
        w("}")
        w("")

    for cname, rust, ty in CONSTANTS:
        vals = {a: lookup("uapi", a, cname) for a in ARCHES}
        if None in vals.values():
            sys.exit("gen-flags: %s is not defined for %s" % (
                cname, [a for a in ARCHES if vals[a] is None]))
        if len(set(vals.values())) == 1:
            v = vals["X86_64"]
            w("pub(super) const %s: %s = %s; // %s" % (
                rust, ty, v if ty == "i64" else "%#x" % v, cname))
        else:
            sys.exit("gen-flags: %s differs between arches; not supported" % cname)

    # errno: one table per group of arches with the same numbers (on Linux, x86 and arm64
    # use the generic values: one table for all, which is how the script shows it).
    w("")
    w("pub(super) type ErrnoTable = &'static [(u16, &'static str, &'static str)];")
    w("")
    groups = []
    for arch in ARCHES:
        key = (errnos[arch], errno_aliases[arch])
        for g in groups:
            if g[1] == key:
                g[0].append(arch)
                break
        else:
            groups.append(([arch], key))
    for arches, (rows, aliases) in groups:
        static = "ERRNOS" if len(groups) == 1 else "ERRNOS_" + "_".join(arches)
        kernel = {n for n, _ in KERNEL_ERRNOS}
        w("// %s: %d names (%d from the headers, %d kernel-internal)" % (
            ", ".join(arches), len(rows), len([1 for _, n in rows if n not in kernel]),
            len([1 for _, n in rows if n in kernel])))
        w("// (number, name, description), by number; aliases left out: %s" % " ".join(
            "%s=%s" % a for a in aliases))
        w("static %s: [(u16, &str, &str); %d] = [" % (static, len(rows)))
        for v, n in rows:
            w("    (%d, %s, %s)," % (v, rust_str(n), rust_str(STRACE_WORDING.get(n, descr[v]))))
        w("];")
    w("pub(super) fn errnos(arch: Arch) -> ErrnoTable {")
    if len(groups) == 1:
        w("    let _ = arch;")
        w("    &ERRNOS")
    else:
        w("    match arch {")
        for arches, _ in groups:
            w("        %s => &ERRNOS_%s," % (" | ".join(RUST_ARCH[a] for a in arches),
                                            "_".join(arches)))
        w("    }")
    w("}")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
