//! Unit tests: the parser on real format files (testdata/: Linux 7.2 from the VM dump,
//! 6.18 from a host without the 7.x __NAME_val fields), the kind rule, the embedded tables,
//! and this host's tracefs against the embedded table when it can be read.

use super::*;

const OPENAT_7_2: &str = include_str!("testdata/openat-7.2-x86_64.format");
const OPENAT_6_18: &str = include_str!("testdata/openat-6.18-x86_64.format");
const OPENAT_7_2_ARM64: &str = include_str!("testdata/openat-7.2-aarch64.format");
const CONNECT: &str = include_str!("testdata/connect-7.2-x86_64.format");
const WRITE: &str = include_str!("testdata/write-7.2-x86_64.format");
const EXECVE: &str = include_str!("testdata/execve-7.2-x86_64.format");
const GETPID: &str = include_str!("testdata/getpid-7.2-x86_64.format");

const S: Kind = Kind::Int { signed: true };
const U: Kind = Kind::Int { signed: false };

/// (C type, name, kind) of each parameter.
fn shape(sig: &Signature) -> Vec<(&str, &str, Kind)> {
    sig.params
        .iter()
        .map(|p| (p.c_type.as_str(), p.name.as_str(), p.kind))
        .collect()
}

#[test]
fn parses_openat_with_and_without_the_7x_string_fields() {
    let want = vec![
        ("int", "dfd", S),
        ("const char *", "filename", Kind::Path),
        ("int", "flags", S),
        ("umode_t", "mode", U),
    ];
    for text in [OPENAT_7_2, OPENAT_6_18, OPENAT_7_2_ARM64] {
        let sig = parse_format(text).unwrap();
        assert_eq!(sig.name, "openat");
        assert_eq!(shape(&sig), want);
        for p in &sig.params {
            assert_eq!((p.size, p.signed), (8, false), "{}", p.name);
        }
    }
}

#[test]
fn parses_connect_write_execve_getpid() {
    let connect = parse_format(CONNECT).unwrap();
    assert_eq!(connect.name, "connect");
    assert_eq!(
        shape(&connect),
        vec![
            ("int", "fd", S),
            ("struct sockaddr *", "uservaddr", Kind::SockAddr),
            ("int", "addrlen", S),
        ]
    );
    let write = parse_format(WRITE).unwrap();
    assert_eq!(
        shape(&write),
        vec![
            ("unsigned int", "fd", U),
            ("const char *", "buf", Kind::Pointer),
            ("size_t", "count", U),
        ]
    );
    let execve = parse_format(EXECVE).unwrap();
    assert_eq!(
        shape(&execve),
        vec![
            ("const char *", "filename", Kind::Path),
            ("const char *const *", "argv", Kind::Pointer),
            ("const char *const *", "envp", Kind::Pointer),
        ]
    );
    let getpid = parse_format(GETPID).unwrap();
    assert_eq!(getpid.name, "getpid");
    assert!(getpid.params.is_empty());
}

#[test]
fn rejects_what_is_not_a_syscall_entry_format() {
    assert!(parse_format("").is_err());
    assert!(parse_format("name: sys_exit_openat\nformat:\n").is_err());
    assert!(parse_format("name: sched_switch\n").is_err());
    let broken = OPENAT_6_18.replace("field:int dfd;", "field:;");
    assert!(parse_format(&broken).is_err());
    let no_size = OPENAT_6_18.replace("size:8;\tsigned:0;", "signed:0;");
    assert!(parse_format(&no_size).is_err());
    let unknown = OPENAT_6_18.replace("int dfd;", "int __dfd;");
    assert!(parse_format(&unknown).is_err());
}

#[test]
fn kind_rule() {
    assert_eq!(
        Kind::decide("openat", "const char *", "filename"),
        Kind::Path
    );
    assert_eq!(Kind::decide("write", "const char *", "buf"), Kind::Pointer);
    assert_eq!(Kind::decide("read", "char *", "buf"), Kind::Pointer);
    assert_eq!(Kind::decide("getcwd", "char *", "buf"), Kind::Pointer);
    assert_eq!(Kind::decide("mount", "char *", "type"), Kind::Path);
    assert_eq!(Kind::decide("syslog", "int", "type"), S);
    assert_eq!(Kind::decide("umount", "char *", "name"), Kind::Path);
    assert_eq!(Kind::decide("sethostname", "char *", "name"), Kind::Pointer);
    assert_eq!(Kind::decide("listxattr", "char *", "list"), Kind::Pointer);
    assert_eq!(
        Kind::decide("connect", "struct sockaddr *", "uservaddr"),
        Kind::SockAddr
    );
    assert_eq!(
        Kind::decide("bind", "struct sockaddr *", "umyaddr"),
        Kind::SockAddr
    );
    assert_eq!(
        Kind::decide("sendto", "struct sockaddr *", "addr"),
        Kind::SockAddr
    );
    for output in [
        "accept",
        "accept4",
        "recvfrom",
        "getsockname",
        "getpeername",
    ] {
        assert_eq!(
            Kind::decide(output, "struct sockaddr *", "addr"),
            Kind::Pointer
        );
    }
    assert_eq!(
        Kind::decide("capget", "cap_user_header_t", "header"),
        Kind::Pointer
    );
    assert_eq!(
        Kind::decide("capset", "const cap_user_data_t", "data"),
        Kind::Pointer
    );
    assert_eq!(Kind::decide("lseek", "off_t", "offset"), S);
    assert_eq!(Kind::decide("kill", "pid_t", "pid"), S);
    assert_eq!(Kind::decide("clock_gettime", "const clockid_t", "which"), S);
    assert_eq!(Kind::decide("chown", "uid_t", "user"), U);
    assert_eq!(Kind::decide("mmap", "unsigned long", "len"), U);
    assert_eq!(Kind::decide("x", "some_new_t", "y"), U);
    assert_eq!(Kind::Path.name(), "path");
    assert_eq!(S.name(), "int");
    assert_eq!(U.name(), "uint");
}

#[test]
fn embedded_kinds_follow_the_rule() {
    // scripts/gen-signatures.py decides the kinds of the embedded tables; Kind::decide
    // decides those read at run time: the two copies of the rule must agree.
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let sigs = Signatures::embedded(arch);
        for sig in sigs.iter() {
            for p in &sig.params {
                assert_eq!(
                    p.kind,
                    Kind::decide(&sig.name, &p.c_type, &p.name),
                    "{arch:?} {}({} {})",
                    sig.name,
                    p.c_type,
                    p.name
                );
            }
        }
    }
}

#[test]
fn embedded_x86_64() {
    let sigs = Signatures::embedded(Arch::X86_64);
    assert_eq!(sigs.source().name(), "embedded");
    assert!(sigs.len() > 350, "{}", sigs.len());
    let Source::Embedded { arch, kernel, why } = sigs.source() else {
        panic!("not embedded")
    };
    assert_eq!((*arch, why), (Arch::X86_64, &None));
    assert!(kernel.contains("amd64"), "{kernel}");
    assert_eq!(
        sigs.get("openat").unwrap(),
        &parse_format(OPENAT_7_2).unwrap()
    );
    assert_eq!(sigs.get("write").unwrap(), &parse_format(WRITE).unwrap());
    assert_eq!(
        sigs.get("connect").unwrap(),
        &parse_format(CONNECT).unwrap()
    );
    assert_eq!(sigs.get("execve").unwrap(), &parse_format(EXECVE).unwrap());
    assert!(sigs.get("getpid").unwrap().params.is_empty());
    assert_eq!(sigs.get("open").unwrap().params[0].kind, Kind::Path);
    // Syscall table names whose tracepoint has another name.
    assert_eq!(sigs.get("stat").unwrap().name, "newstat");
    assert_eq!(sigs.get("umount2").unwrap().name, "umount");
    assert_eq!(sigs.get("sendfile").unwrap().name, "sendfile64");
    assert_eq!(sigs.get("fadvise64").unwrap().name, "fadvise64");
    assert!(sigs.get("no_such_syscall").is_none());
    let sendto = sigs.get("sendto").unwrap();
    assert_eq!(sendto.params[4].kind, Kind::SockAddr);
    let recvfrom = sigs.get("recvfrom").unwrap();
    assert_eq!(recvfrom.params[4].kind, Kind::Pointer);
    assert_eq!(sigs.get("bind").unwrap().params[1].kind, Kind::SockAddr);
    assert_eq!(sigs.get("accept").unwrap().params[1].kind, Kind::Pointer);
    assert_eq!(sigs.get("getcwd").unwrap().params[0].kind, Kind::Pointer);
    let rename = sigs.get("renameat2").unwrap();
    let kinds: Vec<Kind> = rename.params.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [S, Kind::Path, S, Kind::Path, U]);
}

#[test]
fn embedded_aarch64() {
    let sigs = Signatures::embedded(Arch::Aarch64);
    assert!(sigs.len() > 300, "{}", sigs.len());
    let Source::Embedded { arch, kernel, .. } = sigs.source() else {
        panic!("not embedded")
    };
    assert_eq!(*arch, Arch::Aarch64);
    assert!(kernel.contains("arm64"), "{kernel}");
    // arm64 has only the *at variants.
    for gone in [
        "open", "stat", "lstat", "rename", "unlink", "mkdir", "access",
    ] {
        assert!(sigs.get(gone).is_none(), "{gone}");
    }
    assert_eq!(
        sigs.get("openat").unwrap(),
        &parse_format(OPENAT_7_2_ARM64).unwrap()
    );
    assert_eq!(sigs.get("connect").unwrap().params[1].kind, Kind::SockAddr);
    assert_eq!(sigs.get("fstat").unwrap().name, "newfstat");
    assert_eq!(sigs.get("fadvise64").unwrap().name, "fadvise64_64");
    assert_eq!(sigs.get("personality").unwrap().name, "arm64_personality");
    assert_eq!(sigs.get("execve").unwrap().params[0].kind, Kind::Path);
}

/// Syscall table names (crate::syscalls) that have no entry tracepoint in the embedded
/// kernel: not implemented there (sys_ni_syscall), compiled out, or newer than its tracing.
const NO_TRACEPOINT_X86_64: &[&str] = &[
    "_sysctl",
    "afs_syscall",
    "create_module",
    "epoll_ctl_old",
    "epoll_wait_old",
    "get_kernel_syms",
    "get_thread_area",
    "getpmsg",
    "lookup_dcookie",
    "nfsservctl",
    "putpmsg",
    "query_module",
    "rseq_slice_yield",
    "security",
    "set_thread_area",
    "tuxcall",
    "uselib",
    "vserver",
];
const NO_TRACEPOINT_AARCH64: &[&str] = &[
    "kexec_file_load",
    "lookup_dcookie",
    "nfsservctl",
    "rseq_slice_yield",
];

fn table_names(arch: Arch) -> Vec<&'static str> {
    (0..4096)
        .filter_map(|nr| crate::syscalls::name(arch, nr))
        .collect()
}

#[test]
fn every_syscall_table_name_has_a_signature() {
    for (arch, none) in [
        (Arch::X86_64, NO_TRACEPOINT_X86_64),
        (Arch::Aarch64, NO_TRACEPOINT_AARCH64),
    ] {
        let sigs = Signatures::embedded(arch);
        let names = table_names(arch);
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| sigs.get(n).is_none() && !none.contains(n))
            .collect();
        assert!(missing.is_empty(), "{arch:?}: no signature for {missing:?}");
        for n in none {
            assert!(names.contains(n), "{arch:?}: {n} is not a syscall name");
            assert!(sigs.get(n).is_none(), "{arch:?}: {n} has a signature now");
        }
    }
}

#[test]
fn aliases_point_at_real_tracepoints() {
    let x86 = Signatures::embedded(Arch::X86_64);
    let arm = Signatures::embedded(Arch::Aarch64);
    for (table, tp) in TABLE_NAMES {
        assert!(
            x86.by_name.contains_key(*tp) || arm.by_name.contains_key(*tp),
            "{table} -> {tp}"
        );
    }
    let i386 = table_names(Arch::I386);
    for (ia32, tp) in IA32_NAMES {
        assert!(i386.contains(ia32), "{ia32} is not an i386 syscall");
        assert!(x86.by_name.contains_key(*tp), "{ia32} -> {tp}");
    }
    for n in IA32_DIFFERENT {
        assert!(i386.contains(n), "{n} is not an i386 syscall");
    }
}

#[test]
fn ia32_uses_the_x86_64_signatures() {
    let sigs = Signatures::embedded(Arch::I386);
    let Source::Embedded { arch, .. } = sigs.source() else {
        panic!("not embedded")
    };
    assert_eq!(*arch, Arch::X86_64);
    let open = sigs.get_for(Arch::I386, "open").unwrap();
    assert_eq!(open, sigs.get("open").unwrap());
    assert_eq!(sigs.get_for(Arch::I386, "stat64").unwrap().name, "newstat");
    assert_eq!(sigs.get_for(Arch::I386, "stat").unwrap().name, "newstat");
    assert_eq!(sigs.get_for(Arch::I386, "chown32").unwrap().name, "chown");
    let cg = sigs.get_for(Arch::I386, "clock_gettime64").unwrap();
    assert_eq!(cg.name, "clock_gettime");
    assert_eq!(
        sigs.get_for(Arch::I386, "connect").unwrap().params[1].kind,
        Kind::SockAddr
    );
    for different in [
        "pread64",
        "mmap",
        "select",
        "umount",
        "clone",
        "fanotify_mark",
    ] {
        assert!(sigs.get_for(Arch::I386, different).is_none(), "{different}");
        assert!(sigs.get(different).is_some(), "{different}");
    }
    assert!(sigs.get_for(Arch::I386, "socketcall").is_none());
    assert_eq!(sigs.get_for(Arch::X86_64, "pread64"), sigs.get("pread64"));
    // How many ia32 syscalls get a signature (for the record; most of them).
    let i386 = table_names(Arch::I386);
    let typed = i386
        .iter()
        .filter(|n| sigs.get_for(Arch::I386, n).is_some())
        .count();
    println!("ia32: {typed} of {} syscalls have a signature", i386.len());
    assert!(typed > 300, "{typed}");
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tailcall-logger-signatures-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn load_reads_a_tracefs_tree_or_falls_back() {
    let root = temp_dir("load");
    let missing = root.join("not-mounted");
    let s = Signatures::load_from(std::slice::from_ref(&missing), Arch::Aarch64);
    assert_eq!(s.source().name(), "embedded");
    let report = s.report();
    assert_eq!(report["source"], "embedded");
    assert_eq!(report["arch"], "aarch64");
    assert!(report["why"].as_str().unwrap().contains("not-mounted"));

    let tracing = root.join("tracing");
    for (event, text) in [
        ("sys_enter_openat", OPENAT_6_18),
        ("sys_enter_getpid", GETPID),
    ] {
        let d = tracing.join("events/syscalls").join(event);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("format"), text).unwrap();
    }
    std::fs::create_dir_all(tracing.join("events/syscalls/sys_exit_openat")).unwrap();
    let s = Signatures::load_from(&[missing.clone(), tracing.clone()], Arch::X86_64);
    assert_eq!(s.source().name(), "tracefs");
    assert_eq!(s.len(), 2);
    assert_eq!(s.get("openat").unwrap().params[1].kind, Kind::Path);
    assert_eq!(
        s.report()["dir"],
        tracing.join("events/syscalls").to_str().unwrap()
    );

    // A format that does not parse: the embedded table, and why.
    let bad = tracing.join("events/syscalls/sys_enter_bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("format"), "garbage\n").unwrap();
    let s = Signatures::load_from(&[tracing], Arch::X86_64);
    assert_eq!(s.source().name(), "embedded");
    let why = s.report()["why"].as_str().unwrap().to_string();
    assert!(why.contains("sys_enter_bad"), "{why}");
    let _ = std::fs::remove_dir_all(&root);
}

/// The syscalls whose signatures should not change between kernels: the running kernel's
/// must match the embedded table's.
const COMMON: &[&str] = &[
    "read",
    "write",
    "openat",
    "open",
    "close",
    "execve",
    "execveat",
    "connect",
    "bind",
    "accept",
    "accept4",
    "sendto",
    "recvfrom",
    "socket",
    "mmap",
    "munmap",
    "mprotect",
    "newstat",
    "newfstatat",
    "newlstat",
    "statx",
    "unlinkat",
    "renameat2",
    "mkdirat",
    "readlinkat",
    "chdir",
    "getcwd",
    "clone",
    "clone3",
    "wait4",
    "kill",
    "exit_group",
    "getpid",
    "pread64",
    "pwrite64",
    "ioctl",
    "fcntl",
    "dup3",
    "pipe2",
    "nanosleep",
    "clock_nanosleep",
    "setitimer",
    "timer_create",
    "mount",
    "umount",
    "truncate",
];

#[test]
fn host_tracefs_agrees_with_the_embedded_table() {
    let host = Signatures::load();
    let Source::Tracefs { dir } = host.source() else {
        let why = host.report()["why"].to_string();
        println!(
            "SKIPPED host_tracefs_agrees_with_the_embedded_table: tracefs not readable ({why})"
        );
        return;
    };
    let arch = Arch::host();
    let embedded = Signatures::embedded(arch);
    println!(
        "host tracefs {}: {} syscalls; embedded {arch:?}: {}",
        dir.display(),
        host.len(),
        embedded.len()
    );
    // Every difference, for the record.
    for sig in embedded.iter() {
        match host.by_name.get(&sig.name) {
            None => println!("  only in the embedded table: {}", sig.name),
            Some(h) if shape(h) != shape(sig) => {
                println!("  differs: {}", sig.name);
                println!("    host     {:?}", shape(h));
                println!("    embedded {:?}", shape(sig));
            }
            Some(_) => {}
        }
    }
    for sig in host.iter() {
        if !embedded.by_name.contains_key(&sig.name) {
            println!("  only on this host: {}", sig.name);
        }
    }
    let mut bad = Vec::new();
    for name in COMMON {
        let (Some(h), Some(e)) = (host.by_name.get(*name), embedded.by_name.get(*name)) else {
            if arch == Arch::X86_64 {
                bad.push(format!("{name}: missing on one side"));
            }
            continue;
        };
        if shape(h) != shape(e) {
            bad.push(format!(
                "{name}: host {:?} embedded {:?}",
                shape(h),
                shape(e)
            ));
        }
    }
    assert!(bad.is_empty(), "host and embedded differ: {bad:#?}");
}
