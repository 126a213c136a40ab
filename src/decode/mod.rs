//! Symbolic decoding of integer syscall arguments, printed as strace prints them:
//! `AT_FDCWD`, `O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC`, `0644`, `PROT_READ|PROT_WRITE`,
//! `MAP_PRIVATE|MAP_ANONYMOUS`, `CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD`,
//! `SIGTERM`, `FUTEX_WAKE_PRIVATE`, `0x5401`...
//!
//! [`decoder_for`] says which [`Decoder`] applies to a parameter, by syscall name and the
//! kernel's own parameter name (as in tracefs `events/syscalls/sys_enter_*/format`);
//! [`Decoder::write`] appends a value's rendering to a buffer. [`decode_arg`] does both and
//! also covers the one decoder that needs another argument (a socket's protocol is named
//! by its family).
//!
//! [`errno_name`] and [`errno_description`] name a syscall's error return as strace does
//! (`-1 ENOENT (No such file or directory)`).
//!
//! The named constants live in tables.rs, generated from the kernel's UAPI headers by
//! scripts/gen-flags.py (its header says which package and how to regenerate it), per
//! architecture where values differ (open flags between x86 and arm64, for one).
//!
//! strace's rules, followed here: a flag set is printed by walking its table in order and
//! taking every entry whose bits are all set (so `O_SYNC` wins over `O_DSYNC`); bits left
//! over are appended in hex (`O_RDONLY|0x40000000`); a set with no known bit at all is
//! `0x40 /* MAP_??? */`, and an empty one `0`. An unknown single value is printed in hex
//! with the same comment (`0x63 /* F_??? */`), unknown signals in decimal. Arguments the
//! kernel declares `int` are cut to 32 bits first, as strace does.
//!
//! Known differences from strace (6.1, checked in the tests): a socket protocol is named
//! only for AF_INET, AF_INET6 and AF_NETLINK (strace also names AF_PACKET's, AF_CAN's...;
//! here those are numbers); ioctl requests are always hex (strace names many, TCGETS...);
//! and names newer than strace 6.1 but in the headers (F_GET_RW_HINT...) are printed.

#[rustfmt::skip]
mod tables;

use crate::syscalls::Arch;
use tables::Table;

/// How one integer argument is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoder {
    /// A directory fd of the *at family: `AT_FDCWD`, else the fd as a signed int.
    AtFd,
    /// AT_* flags (unlinkat, newfstatat, linkat, fchownat, utimensat, execveat...).
    AtFlags,
    /// faccessat2's flags, where 0x200 is AT_EACCESS (not AT_REMOVEDIR).
    FaccessatFlags,
    /// statx's flags: the AT_STATX_* sync type, then AT_* flags.
    StatxFlags,
    /// open's flags: the access mode (`O_RDONLY`...) first, then `O_CREAT|O_CLOEXEC|...`.
    OpenFlags,
    /// A permission mode in octal, `0644` (strace's `%#03o` of the low 16 bits: the
    /// kernel's umode_t).
    Mode,
    /// mknod's mode (low 16 bits too): file type and set-id bits by name, `S_IFCHR|0600`.
    MknodMode,
    /// access's mode: `F_OK`, or `R_OK|W_OK|X_OK`.
    AccessMode,
    /// renameat2's flags: `RENAME_NOREPLACE`...
    RenameFlags,
    /// mmap/mprotect protection: `PROT_READ|PROT_WRITE`, `PROT_NONE`.
    Prot,
    /// mmap's flags: the mapping type first (`MAP_PRIVATE`), then flags, then the huge
    /// page size as `21<<MAP_HUGE_SHIFT`.
    MmapFlags,
    /// clone's flags: CLONE_* then the exit signal in the low byte (`...|SIGCHLD`).
    CloneFlags,
    /// clone3's `clone_args.flags` (64 bits, no signal byte).
    Clone3Flags,
    /// unshare's flags.
    UnshareFlags,
    /// A socket address family: `AF_INET`...
    SocketFamily,
    /// A socket type: `SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK`.
    SocketType,
    /// A socket protocol; its names depend on the family, which [`decode_arg`] looks up.
    /// On its own (family unknown) it is a plain number.
    SocketProtocol,
    /// An IP protocol number: `IPPROTO_TCP`...
    InetProtocol,
    /// A netlink protocol number: `NETLINK_ROUTE`...
    NetlinkProtocol,
    /// A signal number: `SIGTERM`, `SIGRTMIN`, `SIGRT_2`, else decimal.
    Signal,
    /// rt_sigprocmask's how: `SIG_BLOCK`...
    SigprocmaskHow,
    /// fcntl's command: `F_GETFL`, `F_DUPFD_CLOEXEC`...
    FcntlCmd,
    /// futex's op: `FUTEX_WAIT_PRIVATE`, `FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME`...
    FutexOp,
    /// prctl's option: `PR_SET_NAME`...
    PrctlOption,
    /// lseek's whence: `SEEK_SET`...
    Whence,
    /// ioctl's request, in hex: `0x5401`.
    IoctlCmd,
}

/// Every decoder, for tests and listings.
pub const ALL: [Decoder; 26] = [
    Decoder::AtFd,
    Decoder::AtFlags,
    Decoder::FaccessatFlags,
    Decoder::StatxFlags,
    Decoder::OpenFlags,
    Decoder::Mode,
    Decoder::MknodMode,
    Decoder::AccessMode,
    Decoder::RenameFlags,
    Decoder::Prot,
    Decoder::MmapFlags,
    Decoder::CloneFlags,
    Decoder::Clone3Flags,
    Decoder::UnshareFlags,
    Decoder::SocketFamily,
    Decoder::SocketType,
    Decoder::SocketProtocol,
    Decoder::InetProtocol,
    Decoder::NetlinkProtocol,
    Decoder::Signal,
    Decoder::SigprocmaskHow,
    Decoder::FcntlCmd,
    Decoder::FutexOp,
    Decoder::PrctlOption,
    Decoder::Whence,
    Decoder::IoctlCmd,
];

/// (syscall, parameter) -> decoder. Syscall names as in src/syscalls (x86_64, aarch64 and
/// i386 names alike); parameter names as the kernel's SYSCALL_DEFINE declares them.
const PARAMS: &[(&str, &str, Decoder)] = &[
    // Directory fds of the *at family.
    ("openat", "dfd", Decoder::AtFd),
    ("openat2", "dfd", Decoder::AtFd),
    ("mkdirat", "dfd", Decoder::AtFd),
    ("mknodat", "dfd", Decoder::AtFd),
    ("fchownat", "dfd", Decoder::AtFd),
    ("futimesat", "dfd", Decoder::AtFd),
    ("newfstatat", "dfd", Decoder::AtFd),
    ("fstatat64", "dfd", Decoder::AtFd),
    ("unlinkat", "dfd", Decoder::AtFd),
    ("renameat", "olddfd", Decoder::AtFd),
    ("renameat", "newdfd", Decoder::AtFd),
    ("renameat2", "olddfd", Decoder::AtFd),
    ("renameat2", "newdfd", Decoder::AtFd),
    ("linkat", "olddfd", Decoder::AtFd),
    ("linkat", "newdfd", Decoder::AtFd),
    ("symlinkat", "newdfd", Decoder::AtFd),
    ("readlinkat", "dfd", Decoder::AtFd),
    ("fchmodat", "dfd", Decoder::AtFd),
    ("fchmodat2", "dfd", Decoder::AtFd),
    ("faccessat", "dfd", Decoder::AtFd),
    ("faccessat2", "dfd", Decoder::AtFd),
    ("utimensat", "dfd", Decoder::AtFd),
    ("statx", "dfd", Decoder::AtFd),
    ("name_to_handle_at", "dfd", Decoder::AtFd),
    ("execveat", "fd", Decoder::AtFd),
    ("open_tree", "dfd", Decoder::AtFd),
    ("move_mount", "from_dfd", Decoder::AtFd),
    ("move_mount", "to_dfd", Decoder::AtFd),
    ("fspick", "dfd", Decoder::AtFd),
    ("mount_setattr", "dfd", Decoder::AtFd),
    ("fanotify_mark", "dfd", Decoder::AtFd),
    // AT_* flags.
    ("unlinkat", "flag", Decoder::AtFlags),
    ("newfstatat", "flag", Decoder::AtFlags),
    ("fstatat64", "flag", Decoder::AtFlags),
    ("linkat", "flags", Decoder::AtFlags),
    ("fchownat", "flag", Decoder::AtFlags),
    ("utimensat", "flags", Decoder::AtFlags),
    ("execveat", "flags", Decoder::AtFlags),
    ("name_to_handle_at", "flag", Decoder::AtFlags),
    ("fchmodat2", "flags", Decoder::AtFlags),
    ("faccessat2", "flags", Decoder::FaccessatFlags),
    ("statx", "flags", Decoder::StatxFlags),
    // open.
    ("open", "flags", Decoder::OpenFlags),
    ("openat", "flags", Decoder::OpenFlags),
    ("open_by_handle_at", "flags", Decoder::OpenFlags),
    // Modes.
    ("open", "mode", Decoder::Mode),
    ("openat", "mode", Decoder::Mode),
    ("creat", "mode", Decoder::Mode),
    ("mkdir", "mode", Decoder::Mode),
    ("mkdirat", "mode", Decoder::Mode),
    ("chmod", "mode", Decoder::Mode),
    ("fchmod", "mode", Decoder::Mode),
    ("fchmodat", "mode", Decoder::Mode),
    ("fchmodat2", "mode", Decoder::Mode),
    ("umask", "mask", Decoder::Mode),
    ("mknod", "mode", Decoder::MknodMode),
    ("mknodat", "mode", Decoder::MknodMode),
    ("access", "mode", Decoder::AccessMode),
    ("faccessat", "mode", Decoder::AccessMode),
    ("faccessat2", "mode", Decoder::AccessMode),
    ("renameat2", "flags", Decoder::RenameFlags),
    // Memory.
    ("mmap", "prot", Decoder::Prot),
    ("mmap2", "prot", Decoder::Prot),
    ("mprotect", "prot", Decoder::Prot),
    ("pkey_mprotect", "prot", Decoder::Prot),
    ("mmap", "flags", Decoder::MmapFlags),
    ("mmap2", "flags", Decoder::MmapFlags),
    // Processes.
    ("clone", "clone_flags", Decoder::CloneFlags),
    ("unshare", "unshare_flags", Decoder::UnshareFlags),
    // Sockets.
    ("socket", "family", Decoder::SocketFamily),
    ("socketpair", "family", Decoder::SocketFamily),
    ("socket", "type", Decoder::SocketType),
    ("socketpair", "type", Decoder::SocketType),
    ("socket", "protocol", Decoder::SocketProtocol),
    ("socketpair", "protocol", Decoder::SocketProtocol),
    // Signals.
    ("kill", "sig", Decoder::Signal),
    ("tkill", "sig", Decoder::Signal),
    ("tgkill", "sig", Decoder::Signal),
    ("rt_sigaction", "sig", Decoder::Signal),
    ("sigaction", "sig", Decoder::Signal),
    ("rt_sigqueueinfo", "sig", Decoder::Signal),
    ("rt_tgsigqueueinfo", "sig", Decoder::Signal),
    ("pidfd_send_signal", "sig", Decoder::Signal),
    ("rt_sigprocmask", "how", Decoder::SigprocmaskHow),
    ("sigprocmask", "how", Decoder::SigprocmaskHow),
    // Files.
    ("fcntl", "cmd", Decoder::FcntlCmd),
    ("fcntl64", "cmd", Decoder::FcntlCmd),
    ("lseek", "whence", Decoder::Whence),
    ("_llseek", "whence", Decoder::Whence),
    ("ioctl", "cmd", Decoder::IoctlCmd),
    // Everything else.
    ("futex", "op", Decoder::FutexOp),
    ("futex_time64", "op", Decoder::FutexOp),
    ("prctl", "option", Decoder::PrctlOption),
];

/// The decoder for parameter `param` of syscall `syscall`, None where the value is printed
/// as a plain number (or is not an integer).
pub fn decoder_for(syscall: &str, param: &str) -> Option<Decoder> {
    PARAMS
        .iter()
        .find(|(s, p, _)| *s == syscall && *p == param)
        .map(|&(_, _, d)| d)
}

/// Every (syscall, parameter, decoder) this module knows.
pub fn params() -> impl Iterator<Item = (&'static str, &'static str, Decoder)> {
    PARAMS.iter().copied()
}

/// Decodes parameter `param` of `syscall` with value `value`, or None if it has no
/// decoder. `arg` gives the call's other arguments by parameter name: a socket's protocol
/// is named by its family.
pub fn decode_arg(
    syscall: &str,
    param: &str,
    value: u64,
    arch: Arch,
    arg: &dyn Fn(&str) -> Option<u64>,
) -> Option<String> {
    let d = decoder_for(syscall, param)?;
    let mut s = String::new();
    if d == Decoder::SocketProtocol {
        match arg("family") {
            Some(family) => socket_protocol(&mut s, family, value, arch),
            None => d.write(&mut s, value, arch),
        }
    } else {
        d.write(&mut s, value, arch);
    }
    Some(s)
}

/// Whether strace prints open's mode at all: only when the flags create a file.
pub fn open_mode_used(flags: u64) -> bool {
    flags & (tables::O_CREAT | tables::O_TMPFILE_BIT) != 0
}

/// The errno name of a syscall's return value `ret`, as strace prints it after `= -1`:
/// `ENOENT` for -2. Only -4095..=-1 are errors (the kernel's MAX_ERRNO); a value there
/// with no name (-41, -519...) is None, like every value outside it. Where names share a
/// number, strace's is the one: EAGAIN (not EWOULDBLOCK), EDEADLK (not EDEADLOCK),
/// EOPNOTSUPP (not ENOTSUP). The kernel-internal codes a tracer sees at syscall exit
/// (ERESTARTSYS 512...) are named too; strace prints the value of the four ERESTART*
/// ones as `?` (the program sees EINTR or a restart instead).
pub fn errno_name(ret: i64, arch: Arch) -> Option<&'static str> {
    errno_entry(ret, arch).map(|&(_, name, _)| name)
}

/// The description strace prints in parentheses after the name: glibc's strerror()
/// (`No such file or directory` for -2, `Unknown error 515` for ENOIOCTLCMD), or strace's
/// own words for the ERESTART* codes (`To be restarted if SA_RESTART is set`). None
/// exactly where [`errno_name`] is None.
pub fn errno_description(ret: i64, arch: Arch) -> Option<&'static str> {
    errno_entry(ret, arch).map(|&(_, _, description)| description)
}

fn errno_entry(ret: i64, arch: Arch) -> Option<&'static (u16, &'static str, &'static str)> {
    if !(-4095..=-1).contains(&ret) {
        return None;
    }
    let errno = u16::try_from(-ret).ok()?;
    let table = tables::errnos(arch);
    table
        .binary_search_by_key(&errno, |&(n, _, _)| n)
        .ok()
        .map(|i| &table[i])
}

/// Appends the protocol of a socket of `family`: `IPPROTO_TCP` for AF_INET and AF_INET6,
/// `NETLINK_ROUTE` for AF_NETLINK, else the number.
pub fn socket_protocol(out: &mut String, family: u64, protocol: u64, arch: Arch) {
    let family = family & 0xffff_ffff;
    let named = |name| {
        tables::address_families(arch)
            .iter()
            .any(|&(v, n)| v == family && n == name)
    };
    if named("AF_INET") || named("AF_INET6") {
        Decoder::InetProtocol.write(out, protocol, arch)
    } else if named("AF_NETLINK") {
        Decoder::NetlinkProtocol.write(out, protocol, arch)
    } else {
        push_u64(out, protocol)
    }
}

impl Decoder {
    /// `value`'s rendering, as a new String.
    pub fn decode(self, value: u64, arch: Arch) -> String {
        let mut s = String::new();
        self.write(&mut s, value, arch);
        s
    }

    /// Appends `value`'s rendering to `out`.
    pub fn write(self, out: &mut String, value: u64, arch: Arch) {
        let int = value & 0xffff_ffff;
        match self {
            Decoder::AtFd => {
                let fd = int as u32 as i32;
                if i64::from(fd) == tables::AT_FDCWD {
                    out.push_str("AT_FDCWD");
                } else {
                    push_i64(out, fd.into());
                }
            }
            Decoder::AtFlags => flags(out, int, &[tables::at_flags(arch)], Some("AT_???")),
            Decoder::FaccessatFlags => {
                flags(out, int, &[tables::faccessat_flags(arch)], Some("AT_???"))
            }
            Decoder::StatxFlags => {
                let sync = int & tables::AT_STATX_SYNC_TYPE;
                flags(out, sync, &[tables::statx_sync_types(arch)], None);
                let rest = int & !tables::AT_STATX_SYNC_TYPE;
                if rest != 0 {
                    out.push('|');
                    flags(out, rest, &[tables::at_flags(arch)], None);
                }
            }
            Decoder::OpenFlags => {
                let mode = int & tables::O_ACCMODE;
                match lookup(tables::open_access_modes(arch), mode) {
                    Some(name) => out.push_str(name),
                    None => push_hex(out, mode),
                }
                let rest = int & !tables::O_ACCMODE;
                if rest != 0 {
                    out.push('|');
                    flags(out, rest, &[tables::open_flags(arch)], None);
                }
            }
            Decoder::Mode => push_oct03(out, value & 0xffff),
            Decoder::MknodMode => mknod_mode(out, value & 0xffff, arch),
            Decoder::AccessMode => flags(out, int, &[tables::access_modes(arch)], Some("?_OK")),
            Decoder::RenameFlags => {
                flags(out, int, &[tables::rename_flags(arch)], Some("RENAME_??"))
            }
            Decoder::Prot => flags(out, value, &[tables::mmap_prot(arch)], Some("PROT_???")),
            Decoder::MmapFlags => mmap_flags(out, int, arch),
            Decoder::CloneFlags => {
                let sig = value & tables::CSIGNAL;
                let rest = value & !tables::CSIGNAL;
                if rest != 0 {
                    flags(out, rest, &[tables::clone_flags(arch)], Some("CLONE_???"));
                    if sig != 0 {
                        out.push('|');
                        signal(out, sig as i32, arch);
                    }
                } else {
                    signal(out, sig as i32, arch);
                }
            }
            Decoder::Clone3Flags => flags(
                out,
                value,
                &[tables::clone_flags(arch), tables::clone3_flags(arch)],
                Some("CLONE_???"),
            ),
            Decoder::UnshareFlags => flags(
                out,
                value,
                &[tables::unshare_flags(arch)],
                Some("CLONE_???"),
            ),
            Decoder::SocketFamily => {
                value_name(out, int, tables::address_families(arch), Some("AF_???"))
            }
            Decoder::SocketType => {
                // The kernel's SOCK_TYPE_MASK (include/linux/net.h, not UAPI).
                const SOCK_TYPE_MASK: u64 = 0xf;
                let mut rest = int;
                if let Some(name) = lookup(tables::socket_types(arch), int & SOCK_TYPE_MASK) {
                    out.push_str(name);
                    rest &= !SOCK_TYPE_MASK;
                    if rest == 0 {
                        return;
                    }
                    out.push('|');
                }
                flags(
                    out,
                    rest,
                    &[tables::socket_type_flags(arch)],
                    Some("SOCK_???"),
                );
            }
            Decoder::SocketProtocol => push_u64(out, value),
            Decoder::InetProtocol => {
                value_name(out, int, tables::inet_protocols(arch), Some("IPPROTO_???"))
            }
            Decoder::NetlinkProtocol => value_name(
                out,
                int,
                tables::netlink_protocols(arch),
                Some("NETLINK_???"),
            ),
            Decoder::Signal => signal(out, int as u32 as i32, arch),
            Decoder::SigprocmaskHow => {
                value_name(out, int, tables::sigprocmask_how(arch), Some("SIG_???"))
            }
            Decoder::FcntlCmd => value_name(out, int, tables::fcntl_cmds(arch), Some("F_???")),
            Decoder::FutexOp => value_name(out, int, tables::futex_ops(arch), Some("FUTEX_???")),
            Decoder::PrctlOption => {
                value_name(out, int, tables::prctl_options(arch), Some("PR_???"))
            }
            Decoder::Whence => value_name(out, int, tables::seek_whence(arch), Some("SEEK_???")),
            Decoder::IoctlCmd => push_hex(out, int),
        }
    }
}

/// The first name in `table` with value `v`.
fn lookup(table: Table, v: u64) -> Option<&'static str> {
    table.iter().find(|(tv, _)| *tv == v).map(|&(_, n)| n)
}

/// strace's printxval: the name of `v`, else hex with `dflt` as a comment.
fn value_name(out: &mut String, v: u64, table: Table, dflt: Option<&str>) {
    match lookup(table, v) {
        Some(name) => out.push_str(name),
        None => {
            push_hex(out, v);
            push_comment(out, dflt);
        }
    }
}

/// strace's printflags: walks `tables` in order, printing every entry whose bits are all
/// in `v` (an entry of value 0 only when `v` is 0 and it comes first) and clearing them;
/// then the leftover bits in hex. A value with no known bit is hex with `dflt` as a
/// comment; 0 with no entry for it is `0` (nothing when `dflt` is None).
fn flags(out: &mut String, mut v: u64, tables: &[Table], dflt: Option<&str>) {
    let mut n = 0;
    for table in tables {
        for &(tv, name) in table.iter() {
            if v == 0 && n != 0 {
                break;
            }
            if v == tv || (tv != 0 && v & tv == tv) {
                if n != 0 {
                    out.push('|');
                }
                out.push_str(name);
                n += 1;
                v &= !tv;
            }
            if v == 0 {
                break;
            }
        }
    }
    if n != 0 {
        if v != 0 {
            out.push('|');
            push_hex(out, v);
        }
    } else if v != 0 {
        push_hex(out, v);
        push_comment(out, dflt);
    } else if dflt.is_some() {
        out.push('0');
    }
}

fn mmap_flags(out: &mut String, v: u64, arch: Arch) {
    let table = tables::mmap_flags(arch);
    let kind = v & tables::MAP_TYPE;
    value_name(out, kind, table, Some("MAP_???"));
    let huge_mask = tables::MAP_HUGE_MASK << tables::MAP_HUGE_SHIFT;
    let rest = v & !tables::MAP_TYPE & !huge_mask;
    if rest != 0 {
        out.push('|');
        flags(out, rest, &[table], None);
    }
    let huge = v & huge_mask;
    if huge != 0 {
        out.push('|');
        push_u64(out, huge >> tables::MAP_HUGE_SHIFT);
        out.push_str("<<MAP_HUGE_SHIFT");
    }
}

fn mknod_mode(out: &mut String, mode: u64, arch: Arch) {
    let kind = mode & tables::S_IFMT;
    let name = if kind != 0 {
        match lookup(tables::file_types(arch), kind) {
            Some(n) => Some(n),
            None => return push_oct03(out, mode),
        }
    } else {
        None
    };
    if let Some(name) = name {
        out.push_str(name);
        out.push('|');
    }
    for (bit, name) in [
        (tables::S_ISUID, "S_ISUID|"),
        (tables::S_ISGID, "S_ISGID|"),
        (tables::S_ISVTX, "S_ISVTX|"),
    ] {
        if mode & bit != 0 {
            out.push_str(name);
        }
    }
    push_oct03(
        out,
        mode & !(tables::S_IFMT | tables::S_ISUID | tables::S_ISGID | tables::S_ISVTX),
    );
}

/// strace's signame: the name, `SIGRT_n` above SIGRTMIN, else the number.
fn signal(out: &mut String, sig: i32, arch: Arch) {
    if sig > 0 {
        let s = sig as u64;
        if let Some(name) = lookup(tables::signals(arch), s) {
            return out.push_str(name);
        }
        if s > tables::SIGRTMIN && s <= tables::SIGRTMAX {
            out.push_str("SIGRT_");
            return push_u64(out, s - tables::SIGRTMIN);
        }
    }
    push_i64(out, sig.into())
}

fn push_comment(out: &mut String, dflt: Option<&str>) {
    if let Some(d) = dflt {
        out.push_str(" /* ");
        out.push_str(d);
        out.push_str(" */");
    }
}

/// C's `%#x`: `0x1f`, and `0` for zero.
fn push_hex(out: &mut String, v: u64) {
    if v == 0 {
        return out.push('0');
    }
    out.push_str("0x");
    push_digits(out, v, 16);
}

/// C's `%#03o`: a leading 0, at least three digits: `000`, `001`, `0644`.
fn push_oct03(out: &mut String, v: u64) {
    if v < 0o10 {
        out.push_str("00");
    } else {
        out.push('0');
    }
    push_digits(out, v, 8);
}

fn push_digits(out: &mut String, mut v: u64, base: u64) {
    let mut buf = [0u8; 22];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[(v % base) as usize];
        v /= base;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

fn push_u64(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

fn push_i64(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

#[cfg(test)]
mod tests;
