use super::*;

/// How strace 6.1 printed each case on x86_64 (scripts/strace-cases/gen.py).
const STRACE_X86_64: &str = include_str!("testdata/strace-x86_64.tsv");

/// Where this module knowingly prints something else than strace 6.1:
/// (decoder, value, what strace printed, what we print).
const NOT_AS_STRACE_6_1: &[(Decoder, u64, &str, &str)] = &[
    // In linux/fcntl.h since 4.13; strace names them since 6.x.
    (
        Decoder::FcntlCmd,
        0x40b,
        "0x40b /* F_??? */",
        "F_GET_RW_HINT",
    ),
    (
        Decoder::FcntlCmd,
        0x40c,
        "0x40c /* F_??? */",
        "F_SET_RW_HINT",
    ),
    (
        Decoder::FcntlCmd,
        0x40d,
        "0x40d /* F_??? */",
        "F_GET_FILE_RW_HINT",
    ),
    (
        Decoder::FcntlCmd,
        0x40e,
        "0x40e /* F_??? */",
        "F_SET_FILE_RW_HINT",
    ),
];

fn by_name(name: &str) -> Decoder {
    *ALL.iter()
        .find(|d| format!("{d:?}") == name)
        .unwrap_or_else(|| panic!("no decoder {name}"))
}

fn x86(d: Decoder, v: u64) -> String {
    d.decode(v, Arch::X86_64)
}

fn arm(d: Decoder, v: u64) -> String {
    d.decode(v, Arch::Aarch64)
}

#[test]
fn every_case_strace_printed() {
    let mut cases = 0;
    let mut per_decoder = std::collections::BTreeMap::new();
    let mut wrong = Vec::new();
    for line in STRACE_X86_64.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 5, "bad line {line:?}");
        let (d, syscall, ctx, strace) = (by_name(f[0]), f[1], f[3], f[4]);
        let v = u64::from_str_radix(f[2].trim_start_matches("0x"), 16).unwrap();
        let ours = match ctx.strip_prefix("family=") {
            Some(fam) => {
                let mut s = String::new();
                socket_protocol(&mut s, fam.parse().unwrap(), v, Arch::X86_64);
                s
            }
            None => x86(d, v),
        };
        let expected = match NOT_AS_STRACE_6_1
            .iter()
            .find(|(ed, ev, es, _)| *ed == d && *ev == v && *es == strace)
        {
            Some((.., ours)) => *ours,
            None => strace,
        };
        if ours != expected {
            wrong.push(format!(
                "{syscall} {d:?} {v:#x} {ctx}: strace {strace:?}, ours {ours:?}"
            ));
        }
        cases += 1;
        *per_decoder.entry(format!("{d:?}")).or_insert(0) += 1;
    }
    assert!(
        wrong.is_empty(),
        "{} of {cases} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Every decoder but those strace cannot show (the protocol alone, ioctl as hex, the
    // protocol tables reached through socket_protocol) has cases.
    for d in ALL {
        let skip = [
            Decoder::SocketProtocol,
            Decoder::IoctlCmd,
            Decoder::InetProtocol,
            Decoder::NetlinkProtocol,
        ];
        if !skip.contains(&d) {
            assert!(
                per_decoder.contains_key(&format!("{d:?}")),
                "no strace case for {d:?}"
            );
        }
    }
    assert!(cases > 1000, "only {cases} cases");
}

#[test]
fn the_issue_examples() {
    // openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC)
    assert_eq!(x86(Decoder::AtFd, (-100i64) as u64), "AT_FDCWD");
    assert_eq!(x86(Decoder::AtFd, 0xffff_ff9c), "AT_FDCWD");
    assert_eq!(x86(Decoder::AtFd, 3), "3");
    assert_eq!(x86(Decoder::OpenFlags, 0o2000000), "O_RDONLY|O_CLOEXEC");
    assert_eq!(
        x86(Decoder::OpenFlags, 0o2001101),
        "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"
    );
    assert_eq!(
        x86(Decoder::OpenFlags, 0o2204000),
        "O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY"
    );
    assert_eq!(x86(Decoder::OpenFlags, 0x4000_0000), "O_RDONLY|0x40000000");
    assert_eq!(x86(Decoder::Mode, 0o644), "0644");
    assert_eq!(x86(Decoder::Mode, 0), "000");
    assert_eq!(x86(Decoder::Prot, 3), "PROT_READ|PROT_WRITE");
    assert_eq!(x86(Decoder::Prot, 0), "PROT_NONE");
    assert_eq!(x86(Decoder::MmapFlags, 0x22), "MAP_PRIVATE|MAP_ANONYMOUS");
    assert_eq!(
        x86(Decoder::CloneFlags, 0x0120_0011),
        "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
    );
    assert_eq!(x86(Decoder::Signal, 15), "SIGTERM");
    assert_eq!(x86(Decoder::Signal, 9), "SIGKILL");
    assert_eq!(x86(Decoder::SocketFamily, 2), "AF_INET");
    assert_eq!(
        x86(Decoder::SocketType, 0x80001),
        "SOCK_STREAM|SOCK_CLOEXEC"
    );
    assert_eq!(x86(Decoder::SigprocmaskHow, 0), "SIG_BLOCK");
    assert_eq!(x86(Decoder::FcntlCmd, 3), "F_GETFL");
    assert_eq!(x86(Decoder::FcntlCmd, 1030), "F_DUPFD_CLOEXEC");
    assert_eq!(x86(Decoder::FutexOp, 0x81), "FUTEX_WAKE_PRIVATE");
    assert_eq!(x86(Decoder::FutexOp, 0x80), "FUTEX_WAIT_PRIVATE");
    assert_eq!(x86(Decoder::PrctlOption, 15), "PR_SET_NAME");
    assert_eq!(x86(Decoder::AccessMode, 0), "F_OK");
    assert_eq!(x86(Decoder::AccessMode, 6), "R_OK|W_OK");
    assert_eq!(x86(Decoder::AtFlags, 0x200), "AT_REMOVEDIR");
    assert_eq!(x86(Decoder::AtFlags, 0), "0");
    assert_eq!(x86(Decoder::IoctlCmd, 0x5401), "0x5401");
    assert_eq!(x86(Decoder::IoctlCmd, 0xc018_6201), "0xc0186201");
}

#[test]
fn open_flags_differ_between_x86_and_arm64() {
    // O_DIRECTORY, O_NOFOLLOW, O_DIRECT and O_LARGEFILE are arm64's own (asm/fcntl.h).
    for (v, x, a) in [
        (0o200000, "O_DIRECTORY", "O_DIRECT"),
        (0o40000, "O_DIRECT", "O_DIRECTORY"),
        (0o400000, "O_NOFOLLOW", "O_LARGEFILE"),
        (0o100000, "O_LARGEFILE", "O_NOFOLLOW"),
    ] {
        assert_eq!(x86(Decoder::OpenFlags, v), format!("O_RDONLY|{x}"));
        assert_eq!(arm(Decoder::OpenFlags, v), format!("O_RDONLY|{a}"));
    }
    // ls's opendir: O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY on either.
    assert_eq!(
        arm(Decoder::OpenFlags, 0o2000000 | 0o4000 | 0o40000),
        "O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY"
    );
    // O_TMPFILE is __O_TMPFILE|O_DIRECTORY, whichever O_DIRECTORY is.
    assert_eq!(
        arm(Decoder::OpenFlags, 0o20000000 | 0o40000 | 2),
        "O_RDWR|O_TMPFILE"
    );
    assert_eq!(
        x86(Decoder::OpenFlags, 0o20000000 | 0o200000 | 2),
        "O_RDWR|O_TMPFILE"
    );
    // i386 shares x86_64's values.
    assert_eq!(
        Decoder::OpenFlags.decode(0o100000, Arch::I386),
        "O_RDONLY|O_LARGEFILE"
    );
}

#[test]
fn the_same_on_every_arch_where_the_headers_agree() {
    for arch in [Arch::X86_64, Arch::Aarch64, Arch::I386] {
        assert_eq!(Decoder::Signal.decode(17, arch), "SIGCHLD");
        assert_eq!(Decoder::Signal.decode(34, arch), "SIGRT_2");
        assert_eq!(Decoder::Signal.decode(32, arch), "SIGRTMIN");
        assert_eq!(Decoder::Signal.decode(65, arch), "65");
        assert_eq!(Decoder::Prot.decode(5, arch), "PROT_READ|PROT_EXEC");
        assert_eq!(
            Decoder::MmapFlags.decode(0x20022, arch),
            "MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK"
        );
        assert_eq!(Decoder::SocketFamily.decode(10, arch), "AF_INET6");
        assert_eq!(Decoder::FcntlCmd.decode(12, arch), "F_GETLK64");
    }
    // MAP_32BIT is x86's alone.
    assert_eq!(x86(Decoder::MmapFlags, 0x42), "MAP_PRIVATE|MAP_32BIT");
    assert_eq!(
        Decoder::MmapFlags.decode(0x42, Arch::I386),
        "MAP_PRIVATE|MAP_32BIT"
    );
    assert_eq!(arm(Decoder::MmapFlags, 0x42), "MAP_PRIVATE|0x40");
}

#[test]
fn lookup_by_syscall_and_tracefs_parameter_name() {
    let cases = [
        ("openat", "dfd", Some(Decoder::AtFd)),
        ("openat", "filename", None),
        ("openat", "flags", Some(Decoder::OpenFlags)),
        ("openat", "mode", Some(Decoder::Mode)),
        ("mmap", "prot", Some(Decoder::Prot)),
        ("mmap", "flags", Some(Decoder::MmapFlags)),
        ("mmap", "fd", None),
        ("mprotect", "prot", Some(Decoder::Prot)),
        ("kill", "sig", Some(Decoder::Signal)),
        ("kill", "pid", None),
        ("tgkill", "sig", Some(Decoder::Signal)),
        ("rt_sigaction", "sig", Some(Decoder::Signal)),
        ("rt_sigprocmask", "how", Some(Decoder::SigprocmaskHow)),
        ("socket", "family", Some(Decoder::SocketFamily)),
        ("socket", "type", Some(Decoder::SocketType)),
        ("socket", "protocol", Some(Decoder::SocketProtocol)),
        ("fcntl", "cmd", Some(Decoder::FcntlCmd)),
        ("fcntl", "arg", None),
        ("futex", "op", Some(Decoder::FutexOp)),
        ("prctl", "option", Some(Decoder::PrctlOption)),
        ("clone", "clone_flags", Some(Decoder::CloneFlags)),
        ("unlinkat", "dfd", Some(Decoder::AtFd)),
        ("unlinkat", "flag", Some(Decoder::AtFlags)),
        ("renameat2", "olddfd", Some(Decoder::AtFd)),
        ("renameat2", "newdfd", Some(Decoder::AtFd)),
        ("renameat2", "flags", Some(Decoder::RenameFlags)),
        ("mkdirat", "mode", Some(Decoder::Mode)),
        ("faccessat", "mode", Some(Decoder::AccessMode)),
        ("access", "mode", Some(Decoder::AccessMode)),
        ("ioctl", "cmd", Some(Decoder::IoctlCmd)),
        ("ioctl", "fd", None),
        ("statx", "flags", Some(Decoder::StatxFlags)),
        ("faccessat2", "flags", Some(Decoder::FaccessatFlags)),
    ];
    for (s, p, d) in cases {
        assert_eq!(decoder_for(s, p), d, "{s} {p}");
    }
}

#[test]
fn every_mapped_syscall_exists_somewhere() {
    let arches = [Arch::X86_64, Arch::Aarch64, Arch::I386];
    let mut seen = std::collections::HashSet::new();
    for (s, p, _) in params() {
        assert!(seen.insert((s, p)), "{s} {p} mapped twice");
        assert!(
            arches
                .iter()
                .any(|&a| crate::syscalls::number(a, s).is_some()),
            "no syscall {s}"
        );
    }
}

#[test]
fn socket_protocol_by_family() {
    let args = |fam: u64| move |p: &str| (p == "family").then_some(fam);
    let d = |fam, v| decode_arg("socket", "protocol", v, Arch::X86_64, &args(fam)).unwrap();
    assert_eq!(d(2, 0), "IPPROTO_IP");
    assert_eq!(d(10, 6), "IPPROTO_TCP");
    assert_eq!(d(1, 0), "0");
    assert_eq!(d(16, 15), "NETLINK_KOBJECT_UEVENT");
    assert_eq!(d(17, 0x300), "768");
    // Without the family: the number.
    let none = |_: &str| None;
    assert_eq!(
        decode_arg("socket", "protocol", 6, Arch::X86_64, &none).as_deref(),
        Some("6")
    );
    assert_eq!(
        decode_arg("socket", "type", 2, Arch::X86_64, &none).as_deref(),
        Some("SOCK_DGRAM")
    );
    assert_eq!(decode_arg("read", "fd", 2, Arch::X86_64, &none), None);
}

#[test]
fn open_mode_only_with_creating_flags() {
    assert!(!open_mode_used(0o2000000));
    assert!(open_mode_used(0o101));
    assert!(open_mode_used(0o20200002));
}

#[test]
fn write_appends() {
    let mut s = String::from("openat(");
    Decoder::AtFd.write(&mut s, (-100i64) as u64, Arch::X86_64);
    s.push_str(", \"/x\", ");
    Decoder::OpenFlags.write(&mut s, 0o1101, Arch::X86_64);
    s.push_str(", ");
    Decoder::Mode.write(&mut s, 0o644, Arch::X86_64);
    s.push(')');
    assert_eq!(
        s,
        "openat(AT_FDCWD, \"/x\", O_WRONLY|O_CREAT|O_TRUNC, 0644)"
    );
}

/// How strace 6.1 named syscall errors on x86_64 (scripts/strace-cases/errno.py): real
/// failing calls, and every number in 1..=4095 injected.
const STRACE_ERRNO_X86_64: &str = include_str!("testdata/strace-errno-x86_64.tsv");

const ALL_ARCHES: [Arch; 3] = [Arch::X86_64, Arch::Aarch64, Arch::I386];

#[test]
fn errno_names() {
    for arch in ALL_ARCHES {
        let name = |ret| errno_name(ret, arch);
        assert_eq!(name(-1), Some("EPERM"));
        assert_eq!(name(-2), Some("ENOENT"));
        assert_eq!(name(-9), Some("EBADF"));
        assert_eq!(name(-11), Some("EAGAIN"));
        assert_eq!(name(-35), Some("EDEADLK"));
        assert_eq!(name(-95), Some("EOPNOTSUPP"));
        assert_eq!(name(-133), Some("EHWPOISON"));
        assert_eq!(name(-512), Some("ERESTARTSYS"));
        assert_eq!(name(-513), Some("ERESTARTNOINTR"));
        assert_eq!(name(-514), Some("ERESTARTNOHAND"));
        assert_eq!(name(-515), Some("ENOIOCTLCMD"));
        assert_eq!(name(-516), Some("ERESTART_RESTARTBLOCK"));
        assert_eq!(name(-530), Some("ERECALLCONFLICT"));
        // Not errors, or no name: 41 and 58 are unused, 519 (ENOPARAM) and 531 (ENOGRACE)
        // strace does not name.
        for ret in [
            0,
            5,
            -41,
            -58,
            -134,
            -519,
            -520,
            -531,
            -4095,
            -4096,
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(name(ret), None, "{ret}");
            assert_eq!(errno_description(ret, arch), None, "{ret}");
        }
    }
}

#[test]
fn errno_descriptions() {
    let d = |ret| errno_description(ret, Arch::X86_64);
    assert_eq!(d(-2), Some("No such file or directory"));
    assert_eq!(d(-11), Some("Resource temporarily unavailable"));
    assert_eq!(d(-512), Some("To be restarted if SA_RESTART is set"));
    assert_eq!(d(-513), Some("To be restarted"));
    assert_eq!(d(-514), Some("To be restarted if no handler"));
    assert_eq!(d(-516), Some("Interrupted by signal"));
    assert_eq!(d(-515), Some("Unknown error 515"));
}

#[test]
fn errno_the_same_on_every_arch() {
    for n in 1..=4096 {
        let x86 = (
            errno_name(-n, Arch::X86_64),
            errno_description(-n, Arch::X86_64),
        );
        for arch in [Arch::Aarch64, Arch::I386] {
            assert_eq!((errno_name(-n, arch), errno_description(-n, arch)), x86);
        }
    }
}

#[test]
fn errno_as_strace_printed() {
    let mut injected = std::collections::BTreeSet::new();
    let mut calls = 0;
    for line in STRACE_ERRNO_X86_64.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 5, "bad line {line:?}");
        let (n, how, value, name, description) =
            (f[0].parse::<i64>().unwrap(), f[1], f[2], f[3], f[4]);
        assert_eq!(errno_name(-n, Arch::X86_64), Some(name), "{line}");
        assert_eq!(
            errno_description(-n, Arch::X86_64),
            Some(description),
            "{line}"
        );
        // strace prints ? for the value of the four ERESTART* codes only.
        let restart = [
            "ERESTARTSYS",
            "ERESTARTNOINTR",
            "ERESTARTNOHAND",
            "ERESTART_RESTARTBLOCK",
        ];
        assert_eq!(value == "?", restart.contains(&name), "{line}");
        if how == "inject" {
            injected.insert(n);
        } else {
            calls += 1;
        }
    }
    assert!(calls >= 20, "{calls} real calls");
    // Every number strace left unnamed is unnamed here too.
    for n in 1..=4095 {
        assert_eq!(
            errno_name(-n, Arch::X86_64).is_some(),
            injected.contains(&n),
            "errno {n}"
        );
    }
    assert_eq!(injected.len(), 148);
}
