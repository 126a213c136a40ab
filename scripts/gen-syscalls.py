#!/usr/bin/env python3
"""Generates src/syscalls/tables.rs from the syscall tables of a Linux source tree.

    scripts/gen-syscalls.py [--label TEXT] KSRC > src/syscalls/tables.rs

KSRC is the top of a kernel source tree (the directory holding its Makefile). Read from it:

    X86_64   arch/x86/entry/syscalls/syscall_64.tbl, abi common and 64 (the x32 entries,
             512 and up, are skipped)
    I386     arch/x86/entry/syscalls/syscall_32.tbl, abi i386 (the compat numbers that
             32-bit programs use on an x86_64 kernel)
    AARCH64  scripts/syscall.tbl (Linux 6.11+), abi common and 64 plus the extra abis
             listed by syscall_abis_64 in arch/arm64/kernel/Makefile.syscalls
             (renameat rlimit memfd_secret); on older trees instead
             include/uapi/asm-generic/unistd.h, evaluated for a 64-bit arm64 build with the
             __ARCH_WANT_* macros of arch/arm64/include/uapi/asm/unistd.h

The kernel version comes from KSRC/Makefile; --label says where the tree came from (a git
tag such as v7.3, or a package version). Both go into the header of the output, with a
sha256 prefix of each table file read and the command that regenerates it. The output
depends only on those files, the Makefile version and the label (not on KSRC's path), so
rerunning that command on the same tree reproduces the checked-in file byte for byte.
A tree is a kernel git checkout, or e.g. Debian's linux-source-X.Y package:
`apt-get download linux-source-X.Y`, `dpkg-deb -x linux-source-X.Y_*.deb x`,
`tar -xf x/usr/src/linux-source-X.Y.tar.xz`; KSRC is then linux-source-X.Y.

Python 3 standard library only.
"""
import argparse
import hashlib
import os
import re
import shlex
import sys

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
PER_LINE = 4
NOT_SYSCALLS = ("__NR_syscalls", "__NR_arch_specific_syscall")


class GenError(Exception):
    pass


def read(ksrc, rel):
    path = os.path.join(ksrc, rel)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise GenError(f"{path}: {e.strerror}") from e
    return data.decode("utf-8")


def digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def add(table, nr, name, where):
    if not NAME.match(name):
        raise GenError(f"{where}: odd syscall name {name!r}")
    if nr in table:
        raise GenError(f"{where}: number {nr} is both {table[nr]} and {name}")
    if name in table.values():
        raise GenError(f"{where}: {name} has two numbers")
    table[nr] = name


def parse_tbl(text, rel, abis, below=None):
    """`<number> <abi> <name> [<entry point> [<compat entry point>]]` lines."""
    table = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 3 or not fields[0].isdigit():
            raise GenError(f"{rel}:{lineno}: cannot parse {line!r}")
        nr, abi, name = int(fields[0]), fields[1], fields[2]
        if abi in abis and (below is None or nr < below):
            add(table, nr, name, f"{rel}:{lineno}")
    return table


def arm64_abis(ksrc):
    rel = "arch/arm64/kernel/Makefile.syscalls"
    abis = ["common", "64"]
    for line in read(ksrc, rel).splitlines():
        m = re.match(r"^\s*syscall_abis_64\s*\+?=(.*)$", line)
        if m:
            abis += [a for a in re.split(r"[\s,]+", m.group(1)) if a and a not in abis]
    return abis


def c_condition(expr, defined, macros):
    """Evaluates the #if expressions of asm-generic/unistd.h (defined(), ==, !=, &&, ||, !)."""
    expr = re.sub(r"/\*.*?\*/", "", expr)
    expr = re.sub(
        r"defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)",
        lambda m: "1" if (m.group(1) or m.group(2)) in defined else "0",
        expr,
    )
    expr = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: macros.get(m.group(0), "0"), expr)
    expr = expr.replace("&&", " and ").replace("||", " or ")
    expr = re.sub(r"!(?!=)", " not ", expr)
    if not re.match(r"^[\d\s()=!<>andotr]*$", expr):
        raise GenError(f"cannot evaluate #if {expr!r}")
    return bool(eval(expr, {"__builtins__": {}}))  # digits and operators only, checked above


def parse_generic_unistd(ksrc):
    """Pre-6.11 trees: the arm64 numbers as asm-generic/unistd.h defines them."""
    rel = "include/uapi/asm-generic/unistd.h"
    arch = "arch/arm64/include/uapi/asm/unistd.h"
    defined = set(re.findall(r"^#define\s+(__ARCH_WANT_\w+)", read(ksrc, arch), re.M))
    macros = {"__BITS_PER_LONG": "64"}
    values = {}
    stack = []  # (this branch taken, some branch of this #if taken)
    for lineno, line in enumerate(read(ksrc, rel).splitlines(), 1):
        m = re.match(r"^\s*#\s*(\w+)\s*(.*)$", line)
        if not m:
            continue
        directive, rest = m.group(1), m.group(2).strip()
        if directive in ("elif", "else", "endif") and not stack:
            raise GenError(f"{rel}:{lineno}: #{directive} without #if")
        live = all(taken for taken, _ in stack)
        if directive in ("if", "ifdef", "ifndef"):
            word = rest.split()[0] if rest else ""
            if directive == "if":
                cond = live and c_condition(rest, defined | set(values), macros)
            elif directive == "ifdef":
                cond = live and (word in defined or word in values)
            else:
                cond = live and not (word in defined or word in values)
            stack.append((cond, cond))
        elif directive == "elif":
            _, done = stack.pop()
            outer = all(t for t, _ in stack)
            cond = outer and not done and c_condition(rest, defined | set(values), macros)
            stack.append((cond, done or cond))
        elif directive == "else":
            _, done = stack.pop()
            stack.append((not done, True))
        elif directive == "endif":
            stack.pop()
        elif directive == "define" and live:
            d = re.match(r"^(__NR\w*)\s+(\w+)", rest)
            if d:
                values[d.group(1)] = d.group(2)
        elif directive == "undef" and live:
            values.pop(rest.split()[0], None)
    if stack:
        raise GenError(f"{rel}: unbalanced #if")
    table = {}
    for macro, value in values.items():
        if not macro.startswith("__NR_") or macro in NOT_SYSCALLS:
            continue
        seen = set()
        while not value.isdigit():
            if value in seen or value not in values:
                raise GenError(f"{rel}: cannot resolve {macro}")
            seen.add(value)
            value = values[value]
        add(table, int(value), macro[len("__NR_"):], rel)
    return table


def kernel_version(ksrc):
    fields = r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(\S*)"
    mk = dict(re.findall(fields, read(ksrc, "Makefile"), re.M))
    if not mk.get("VERSION"):
        raise GenError(f"{ksrc}/Makefile: no VERSION; is this a kernel source tree?")
    version = f"{mk['VERSION']}.{mk.get('PATCHLEVEL', '0')}.{mk.get('SUBLEVEL', '0')}"
    return version + mk.get("EXTRAVERSION", "")


def generate(ksrc, label):
    origin = f"Linux {kernel_version(ksrc)}" + (f" ({label})" if label else "")
    x86_64_rel = "arch/x86/entry/syscalls/syscall_64.tbl"
    i386_rel = "arch/x86/entry/syscalls/syscall_32.tbl"
    generic_rel = "scripts/syscall.tbl"
    x86_64_text = read(ksrc, x86_64_rel)
    i386_text = read(ksrc, i386_rel)
    tables = [
        (
            "X86_64",
            parse_tbl(x86_64_text, x86_64_rel, ("common", "64"), below=512),
            f"{x86_64_rel} (sha256 {digest(x86_64_text)}), abi common,64",
        ),
    ]
    if os.path.exists(os.path.join(ksrc, generic_rel)):
        abis = arm64_abis(ksrc)
        generic_text = read(ksrc, generic_rel)
        tables.append(
            (
                "AARCH64",
                parse_tbl(generic_text, generic_rel, abis),
                f"{generic_rel} (sha256 {digest(generic_text)}), abi {','.join(abis)}",
            )
        )
    else:
        rel = "include/uapi/asm-generic/unistd.h"
        tables.append(
            (
                "AARCH64",
                parse_generic_unistd(ksrc),
                f"{rel} (sha256 {digest(read(ksrc, rel))}), as arm64 includes it",
            )
        )
    tables.append(
        (
            "I386",
            parse_tbl(i386_text, i386_rel, ("i386",)),
            f"{i386_rel} (sha256 {digest(i386_text)}), abi i386",
        )
    )

    command = "scripts/gen-syscalls.py"
    if label:
        command += " --label " + shlex.quote(label)
    command += " KSRC > src/syscalls/tables.rs"
    out = [
        f"// @generated by scripts/gen-syscalls.py from the syscall tables of {origin}:",
    ]
    for name, _, source in tables:
        out.append(f"//   {name}: {source}")
    out += [
        "// Do not edit by hand; to regenerate, with KSRC the top of that kernel source tree:",
        f"//   {command}",
        "// Index = syscall number; None = no syscall with that number. Each line starts with the",
        "// number of its first entry.",
    ]
    for name, table, _ in tables:
        if not table:
            raise GenError(f"{name}: no syscalls found")
        size = max(table) + 1
        out.append("")
        out.append(f"pub(super) static {name}: [Option<&str>; {size}] = [")
        for start in range(0, size, PER_LINE):
            cells = []
            for nr in range(start, min(start + PER_LINE, size)):
                cells.append(f'Some("{table[nr]}")' if nr in table else "None")
            out.append(f"    /* {start} */ " + ", ".join(cells) + ",")
        out.append("];")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("ksrc", metavar="KSRC", help="top of a kernel source tree")
    ap.add_argument(
        "--label", default="", help="where the tree came from, e.g. a tag or a package version"
    )
    args = ap.parse_args()
    try:
        sys.stdout.write(generate(args.ksrc, args.label))
    except GenError as e:
        print(f"gen-syscalls: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
