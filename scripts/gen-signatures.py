#!/usr/bin/env python3
"""Syscall signatures from the kernel's own tracepoint formats, for src/signatures/.

    scripts/gen-signatures.py [tables] [--check]
        Reads src/signatures/data/ARCH.formats (ARCH: x86_64, aarch64) and writes
        src/signatures/ARCH.rs, the embedded tables. --check writes nothing and exits 1 if
        a table is not what the snapshot gives (the checked-in files are stale or edited).

    scripts/gen-signatures.py snapshot --arch ARCH --package PKG --release REL
                                       [--expect N] FORMATS
        FORMATS is the concatenation of a kernel's tracefs
        events/syscalls/sys_enter_*/format files (scripts/dump-syscall-formats.sh makes it
        in a VM); prints the compact snapshot (ARCH.formats) on stdout.

The snapshot keeps only what a signature needs: per syscall its name, then per parameter
the declaration ("TYPE NAME"), the size and the signed flag exactly as the kernel prints
them, and whether the kernel's own tracepoint reads the parameter's user memory (Linux
7.x adds a `__data_loc char[] __NAME_val` field for those: str or array); the common_*
fields, __syscall_nr and the __NAME_val fields are left out (the offsets follow: 8 bytes
per parameter from offset 16). Syscalls are sorted by name, so two kernels' snapshots
diff cleanly.

Each parameter's kind (Path, SockAddr, Pointer, Int signed/unsigned) is decided here, when
the table is built, by kind() below; src/signatures/mod.rs applies the same rule
(Kind::decide) to formats read at run time, and a unit test checks that the two agree on
every embedded parameter. The rule and its lists are documented in src/signatures/mod.rs;
change both places together. The generator also compares the rule's Path parameters with
the strings the kernel reads itself and stops on a disagreement that is not listed below
(NOT_PATH_ALTHOUGH_KERNEL_READS_STR, PATH_ALTHOUGH_KERNEL_DOES_NOT_READ), and on an
integer type it does not know.

Both outputs depend only on their inputs (no dates, no paths of the machine), so running
the same command twice gives the same bytes. Python 3 standard library only.
"""
import argparse
import hashlib
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHES = ("x86_64", "aarch64")

# --- the kind rule (mirrors Kind::decide in src/signatures/mod.rs) -----------------------

# `const char *` / `char *` parameters with these names are NUL-terminated input strings
# that name a path or a name: Path.
PATH_NAMES = frozenset("""
    filename pathname path oldname newname from_pathname to_pathname new_root put_old
    name specialfile special library dev_name dir_name type _fs_name _key _type
    _description u_name uname name_user
""".split())
STRING_TYPES = frozenset(("const char *", "char *"))
# (syscall, parameter) pairs that the name rule would take for a string but are not
# NUL-terminated: sethostname and setdomainname get `len` bytes.
NOT_PATHS = frozenset((("sethostname", "name"), ("setdomainname", "name")))
# Syscalls whose `struct sockaddr *` parameter is an address the caller passes in.
SOCKADDR_SYSCALLS = frozenset(("connect", "bind", "sendto"))
# Typedefs that are pointers although their type has no `*`.
POINTER_TYPEDEFS = frozenset(("cap_user_header_t", "cap_user_data_t"))
# Integer types that are signed; every other integer type is unsigned.
SIGNED_TYPES = frozenset("""
    int long short __s8 __s16 __s32 __s64 s8 s16 s32 s64 loff_t off_t pid_t clockid_t
    timer_t mqd_t key_t key_serial_t rwf_t
""".split()) | {"long long", "signed char", "long int", "short int", "long long int"}
# The unsigned integer types seen so far; the generator stops on a type in neither list so
# that a new typedef gets looked at (the run-time rule treats unknown types as unsigned).
UNSIGNED_TYPES = frozenset("""
    unsigned size_t umode_t uid_t gid_t qid_t aio_context_t u8 u16 u32 u64 __u8 __u16 __u32
    __u64 old_uid_t old_gid_t
""".split()) | {"unsigned int", "unsigned long", "unsigned char", "unsigned short",
                "unsigned long long", "enum landlock_rule_type"}


def base_type(c_type):
    t = c_type
    for q in ("const ", "volatile "):
        if t.startswith(q):
            t = t[len(q):]
    return t


def kind(syscall, c_type, name):
    """'path', 'sockaddr', 'pointer', 'int' (signed) or 'uint'."""
    if "*" in c_type or base_type(c_type) in POINTER_TYPEDEFS:
        if c_type in STRING_TYPES and name in PATH_NAMES and (syscall, name) not in NOT_PATHS:
            return "path"
        if c_type == "struct sockaddr *" and syscall in SOCKADDR_SYSCALLS:
            return "sockaddr"
        return "pointer"
    return "int" if base_type(c_type) in SIGNED_TYPES else "uint"


def check_known(syscall, c_type):
    if "*" in c_type:
        return
    t = base_type(c_type)
    if t not in SIGNED_TYPES and t not in UNSIGNED_TYPES and t not in POINTER_TYPEDEFS:
        raise GenError(f"{syscall}: integer type {c_type!r} is in neither SIGNED_TYPES nor "
                       "UNSIGNED_TYPES (scripts/gen-signatures.py, and SIGNED_TYPES in "
                       "src/signatures/mod.rs if it is signed)")


class GenError(Exception):
    pass


# Where the rule and the 7.x kernel's own tracepoints (which read some parameters as
# strings themselves) disagree, and why: any other disagreement stops the generator, so a
# new kernel's choices get looked at. Keys: (syscall, parameter).
NOT_PATH_ALTHOUGH_KERNEL_READS_STR = {
    ("syslog", "buf"): "output buffer (SYSLOG_ACTION_READ*)",
    ("listxattr", "list"): "output buffer",
    ("llistxattr", "list"): "output buffer",
    ("flistxattr", "list"): "output buffer",
    ("listxattrat", "list"): "output buffer",
    ("shmdt", "shmaddr"): "an address, not a string",
    ("init_module", "uargs"): "module parameters: a string, but neither a path nor a name",
    ("finit_module", "uargs"): "module parameters: a string, but neither a path nor a name",
    ("kexec_file_load", "flags"): "an unsigned long (7.2 names its __flags_val oddly)",
    ("sethostname", "name"): "len bytes, not NUL-terminated",
    ("setdomainname", "name"): "len bytes, not NUL-terminated",
}
# Path parameters the kernel's tracepoint does not read itself (it reads only some).
PATH_ALTHOUGH_KERNEL_DOES_NOT_READ = {
    ("newstat", "filename"): "a path",
    ("newlstat", "filename"): "a path",
    ("file_getattr", "filename"): "a path",
    ("file_setattr", "filename"): "a path",
}


def check_kernel_reads(arch, syscall, pname, k, reads):
    key = (syscall, pname)
    if (k == "PATH") == (reads == "str"):
        return
    if k != "PATH" and key in NOT_PATH_ALTHOUGH_KERNEL_READS_STR:
        return
    if k == "PATH" and reads == "-" and key in PATH_ALTHOUGH_KERNEL_DOES_NOT_READ:
        return
    raise GenError(f"{arch}: {syscall}({pname}): the rule says {k}, the kernel's tracepoint "
                   f"reads {reads}: decide, and list it in gen-signatures.py")


# --- tracefs format text -> snapshot ------------------------------------------------------

FIELD = re.compile(r"^\s*field:(?P<decl>[^;]*);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                   r"\s*signed:(?P<signed>[01]);\s*$")
DECL = re.compile(r"^(?P<type>.*?[\s*])(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")


def split_decl(decl, where):
    m = DECL.match(decl.strip())
    if not m:
        raise GenError(f"{where}: cannot split {decl!r} into type and name")
    return m.group("type").strip(), m.group("name")


def parse_formats(text):
    """{syscall: [(c_type, name, size, signed, reads)]} from concatenated format files.

    reads is what the kernel's own tracepoint does with the parameter (Linux 7.x reads some
    user memory itself and adds a `__data_loc char[] __NAME_val` field for it): "str" (a
    string, __get_str in the print fmt), "array" (bytes, __print_dynamic_array) or "-".
    """
    out, vals = {}, {}
    cur = None
    for lineno, line in enumerate(text.splitlines(), 1):
        where = f"line {lineno}"
        if line.startswith("name: "):
            event = line[len("name: "):].strip()
            if not event.startswith("sys_enter_"):
                raise GenError(f"{where}: not a syscall entry event: {event}")
            cur = event[len("sys_enter_"):]
            if cur in out:
                raise GenError(f"{where}: {cur} twice")
            out[cur], vals[cur] = [], {}
            continue
        if cur is not None and line.startswith("print fmt: "):
            for how, val in re.findall(r"(__get_str|__print_dynamic_array)\((\w+)", line):
                vals[cur][val] = "str" if how == "__get_str" else "array"
            continue
        if not line.lstrip().startswith("field:"):
            continue
        if cur is None:
            raise GenError(f"{where}: field before any name line")
        m = FIELD.match(line)
        if not m:
            raise GenError(f"{where}: cannot parse {line!r}")
        if m.group("decl").startswith("__data_loc "):
            vals[cur].setdefault(split_decl(m.group("decl"), where)[1], None)
            continue
        c_type, name = split_decl(m.group("decl"), where)
        if name.startswith("common_") or name == "__syscall_nr":
            continue
        if name.startswith("__"):
            raise GenError(f"{where}: {cur}: unexpected field {m.group('decl')!r}")
        out[cur].append([c_type, name, int(m.group("size")), int(m.group("signed")), "-"])
    for sc, params in out.items():
        names = {p[1] for p in params}
        for val, how in vals[sc].items():
            pname = val[2:-4] if val.startswith("__") and val.endswith("_val") else None
            if pname not in names or how is None:
                raise GenError(f"{sc}: cannot place the kernel's field {val} ({how})")
            for p in params:
                if p[1] == pname:
                    p[4] = how
    return {sc: [tuple(p) for p in params] for sc, params in out.items()}


def snapshot(args):
    with open(args.formats, encoding="utf-8") as f:
        sigs = parse_formats(f.read())
    if args.expect is not None and len(sigs) != args.expect:
        raise GenError(f"{len(sigs)} syscalls parsed, the guest listed {args.expect}")
    lines = [
        "# Syscall entry tracepoint formats (tracefs events/syscalls/sys_enter_*/format) of",
        f"# Debian {args.package}, uname -r {args.release}, {args.arch}: {len(sigs)} syscalls.",
        f"# Dumped in QEMU (TCG) by scripts/dump-syscall-formats.sh {args.arch}; read by",
        "# scripts/gen-signatures.py. A syscall name (the tracepoint's, without sys_enter_)",
        "# starts a line; each parameter follows on its own line: TAB, the declaration",
        "# (TYPE NAME), TAB, size, TAB, signed, as the kernel prints them, TAB, what the",
        "# kernel's own tracepoint reads from user memory for it (Linux 7.x: a __data_loc",
        "# __NAME_val field): str (a string), array (bytes) or -. The common_* fields,",
        "# __syscall_nr and the __NAME_val fields are left out.",
        f"#@ arch {args.arch}",
        f"#@ package {args.package}",
        f"#@ release {args.release}",
    ]
    for name in sorted(sigs):
        lines.append(name)
        for c_type, pname, size, signed, reads in sigs[name]:
            lines.append(f"\t{c_type} {pname}\t{size}\t{signed}\t{reads}")
    sys.stdout.write("\n".join(lines) + "\n")


# --- snapshot -> Rust table -----------------------------------------------------------------

def read_snapshot(path):
    meta, sigs, cur = {}, {}, None
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for lineno, line in enumerate(text.splitlines(), 1):
        where = f"{os.path.relpath(path, TOP)}:{lineno}"
        if line.startswith("#@ "):
            key, _, value = line[3:].partition(" ")
            meta[key] = value
        elif line.startswith("#") or not line:
            continue
        elif line.startswith("\t"):
            parts = line[1:].split("\t")
            if cur is None or len(parts) != 4 or parts[3] not in ("str", "array", "-"):
                raise GenError(f"{where}: bad parameter line {line!r}")
            c_type, name = split_decl(parts[0], where)
            sigs[cur].append((c_type, name, int(parts[1]), int(parts[2]), parts[3]))
        else:
            if not re.match(r"^[a-z_][a-z0-9_]*$", line) or line in sigs:
                raise GenError(f"{where}: bad or repeated syscall name {line!r}")
            cur = line
            sigs[cur] = []
    for key in ("arch", "package", "release"):
        if key not in meta:
            raise GenError(f"{os.path.relpath(path, TOP)}: no '#@ {key}' line")
    return meta, sigs, hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


KIND_RUST = {"path": "PATH", "sockaddr": "SOCKADDR", "pointer": "POINTER", "int": "INT",
             "uint": "UINT"}


def rust_table(arch):
    rel = f"src/signatures/data/{arch}.formats"
    meta, sigs, digest = read_snapshot(os.path.join(TOP, rel))
    if meta["arch"] != arch:
        raise GenError(f"{rel} says arch {meta['arch']}")
    out = [
        f"// @generated by scripts/gen-signatures.py from {rel} (sha256 {digest}):",
        f"// the syscall entry tracepoint formats of Debian {meta['package']}",
        f"// (uname -r {meta['release']}), {len(sigs)} syscalls, dumped from that kernel booted in",
        f"// QEMU by scripts/dump-syscall-formats.sh {arch}. Do not edit by hand; to regenerate:",
        f"//   scripts/dump-syscall-formats.sh {arch}   (the snapshot, from the kernel)",
        "//   scripts/gen-signatures.py                (this file, from the snapshot)",
        "// Each parameter: C type, name, size, the kernel's signed flag, and the kind decided by",
        "// kind() in scripts/gen-signatures.py (the same rule as Kind::decide).",
        "",
        "use super::{EmbeddedParam as P, INT, PATH, POINTER, SOCKADDR, UINT};",
        "",
        f"pub(super) const KERNEL: &str = \"Debian {meta['package']} {meta['release']}\";",
        "",
        "pub(super) static SYSCALLS: &[(&str, &[P])] = &[",
    ]
    used = set()
    problems = []
    for name in sorted(sigs):
        params = sigs[name]
        if not params:
            out.append(f"    (\"{name}\", &[]),")
            continue
        out.append(f"    (\"{name}\", &[")
        for c_type, pname, size, signed, reads in params:
            check_known(name, c_type)
            k = KIND_RUST[kind(name, c_type, pname)]
            try:
                check_kernel_reads(arch, name, pname, k, reads)
            except GenError as e:
                problems.append(str(e))
            used.add(k)
            out.append(f"        P(\"{c_type}\", \"{pname}\", {size}, {'true' if signed else 'false'}, {k}),")
        out.append("    ]),")
    out.append("];")
    if problems:
        raise GenError("\n  ".join(["the rule and the kernel disagree:"] + problems))
    if used != set(KIND_RUST.values()):
        raise GenError(f"{arch}: kinds {sorted(set(KIND_RUST.values()) - used)} never used "
                       "(the use line would warn)")
    return "\n".join(out) + "\n"


def tables(args):
    stale = []
    for arch in ARCHES:
        text = rust_table(arch)
        path = os.path.join(TOP, "src", "signatures", f"{arch}.rs")
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = f.read()
        if args.check:
            if old != text:
                stale.append(os.path.relpath(path, TOP))
        elif old != text:
            with open(path + ".new", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(path + ".new", path)
            print(f"gen-signatures: wrote {os.path.relpath(path, TOP)}", file=sys.stderr)
    if stale:
        print("gen-signatures: stale (run scripts/gen-signatures.py): " + " ".join(stale),
              file=sys.stderr)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd")
    t = sub.add_parser("tables", help="write src/signatures/ARCH.rs from the snapshots")
    t.add_argument("--check", action="store_true")
    s = sub.add_parser("snapshot", help="tracefs format text -> compact snapshot on stdout")
    s.add_argument("--arch", required=True, choices=ARCHES)
    s.add_argument("--package", required=True)
    s.add_argument("--release", required=True)
    s.add_argument("--expect", type=int)
    s.add_argument("formats")
    args = p.parse_args()
    try:
        if args.cmd == "snapshot":
            snapshot(args)
            return 0
        if args.cmd is None:
            args.check = False
        return tables(args)
    except GenError as e:
        print(f"gen-signatures: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
