//! The processes that make known syscalls, run by the scenario binary: its own child, and
//! the actors the tests start (`tailcall-logger-scenario --act|--calls|--hostile|--faults|
//! --act-args`). Every one waits for a byte on stdin (or the go pipe) before it acts, then
//! acts with raw syscalls only, so the records it causes are exactly known.

use std::ffi::CString;
use std::fmt::Write;

use crate::fixtures::{
    hostile_argv, path_of_len, ARGS_COMM, ARGS_PROBE_PATH, CHILD_COMM, DEFAULT_STRING_SIZE,
    EXEC_ARGV, FAULT_TARGET, HOSTILE_COMM, LONG_PATH_LEN, NOT_UTF8_NAME,
};

pub(crate) fn wait_for_go(fd: i32) {
    let mut byte = 0u8;
    unsafe { libc::read(fd, &mut byte as *mut u8 as *mut libc::c_void, 1) };
}

/// PR_SET_NAME without allocating (the scenario's child runs it after fork); the kernel
/// keeps 15 bytes, as here.
pub(crate) fn set_comm(comm: &[u8]) {
    let mut name = [0u8; 16];
    let n = comm.len().min(15);
    name[..n].copy_from_slice(&comm[..n]);
    unsafe {
        libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0);
    }
}

/// What the child execs: this program with [`EXEC_ARGV`]; its path as a string, and both as
/// C strings.
pub fn exec_target() -> Result<(String, CString, Vec<CString>), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let exe_str = exe.to_string_lossy().into_owned();
    let exe_c = CString::new(exe_str.clone()).map_err(|e| e.to_string())?;
    let argv_c: Vec<CString> = EXEC_ARGV
        .iter()
        .map(|a| CString::new(*a).unwrap())
        .collect();
    Ok((exe_str, exe_c, argv_c))
}

/// Reads every byte of `bytes`: BPF cannot fault pages in, so a string in a page this
/// process has not touched yet (rodata after fork, say) could read as a fault.
fn touch(bytes: &[u8]) {
    let mut sum = 0u8;
    for b in bytes {
        sum = sum.wrapping_add(unsafe { std::ptr::read_volatile(b) });
    }
    std::hint::black_box(sum);
}

/// The anonymous mapping every `--args` check knows by heart (all six registers known):
/// `mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)`.
fn mmap_page() -> libc::c_long {
    unsafe {
        type L = libc::c_long;
        libc::syscall(
            libc::SYS_mmap,
            0 as L,
            4096 as L,
            (libc::PROT_READ | libc::PROT_WRITE) as L,
            (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as L,
            -1 as L,
            0 as L,
        )
    }
}

/// The scenario's child (`--act` alone): sets its comm to [`CHILD_COMM`], waits for the go
/// byte on `go_read`, then makes exactly the syscalls the records must show: an `openat`
/// of [`ARGS_PROBE_PATH`] (read-only; it does not exist) and an anonymous `mmap` of one
/// page (what `--args` cells assert), the timer calls, getppid, and the execve of `exe`
/// with `argv` (from [`exec_target`]).
pub fn act(go_read: i32, exe: &CString, argv: &[CString]) -> ! {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    touch(ARGS_PROBE_PATH.to_bytes_with_nul());
    set_comm(CHILD_COMM.as_bytes());
    wait_for_go(go_read);
    unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD as libc::c_long,
            ARGS_PROBE_PATH.as_ptr(),
            (libc::O_RDONLY | libc::O_CLOEXEC) as libc::c_long,
            0 as libc::c_long,
        );
        mmap_page();
        let mut timer: libc::c_int = 0;
        libc::syscall(
            libc::SYS_timer_create,
            libc::CLOCK_MONOTONIC,
            std::ptr::null::<u8>(),
            &mut timer,
        );
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: 100,
                tv_nsec: 0,
            },
        };
        let mut old: libc::itimerspec = std::mem::zeroed();
        libc::syscall(
            libc::SYS_timer_settime,
            timer,
            0,
            &spec,
            std::ptr::null::<u8>(),
        );
        libc::syscall(libc::SYS_timer_gettime, timer, &mut old);
        libc::syscall(libc::SYS_timer_getoverrun, timer);
        libc::syscall(libc::SYS_timer_delete, timer);
        libc::syscall(libc::SYS_getppid);
        libc::execve(exe.as_ptr(), argv_ptrs.as_ptr(), envp.as_ptr());
        libc::_exit(127);
    }
}

fn arg_after(args: &[String], flag: &str) -> Option<u64> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// `--calls N [--phases P] [--pin CPU] [--comm NAME]`: P times, wait for a byte and make N
/// getppid calls; then exit_group. Nothing else (loss accounting). NAME lets a logger's
/// --comm filter select several of these actors at once.
pub fn calls(args: &[String]) -> ! {
    let n = arg_after(args, "--calls").unwrap_or(0);
    let phases = arg_after(args, "--phases").unwrap_or(1);
    if let Some(i) = args.iter().position(|a| a == "--comm") {
        set_comm(args.get(i + 1).map_or(&b""[..], |c| c.as_bytes()));
    }
    if let Some(cpu) = arg_after(args, "--pin") {
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu as usize, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    for _ in 0..phases {
        wait_for_go(0);
        for _ in 0..n {
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
    }
    unsafe { libc::_exit(0) }
}

/// `--hostile PATH`: sets [`HOSTILE_COMM`], then execs PATH with [`hostile_argv`].
pub fn hostile(path: std::ffi::OsString) -> ! {
    let path = CString::new(std::os::unix::ffi::OsStringExt::into_vec(path)).unwrap();
    let argv: Vec<CString> = hostile_argv()
        .into_iter()
        .map(|a| CString::new(a).unwrap())
        .collect();
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    set_comm(HOSTILE_COMM);
    wait_for_go(0);
    unsafe {
        libc::execve(path.as_ptr(), ptrs.as_ptr(), envp.as_ptr());
        libc::_exit(127)
    }
}

/// `--faults`: each execve fails (the path does not exist, or cannot be read), but its
/// sys_enter is logged first: a filename in an unmapped page, a NULL argv, 10,000
/// arguments, one 128 KiB argument, an argv pointer into an unmapped page.
pub fn faults() -> ! {
    let missing = CString::new(FAULT_TARGET).unwrap();
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let page = 4096;
    wait_for_go(0);
    unsafe {
        let unmapped = libc::mmap(
            std::ptr::null_mut(),
            page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        libc::munmap(unmapped, page);
        let one = [missing.as_ptr(), std::ptr::null()];
        // 1: filename in an unmapped page
        libc::execve(unmapped as *const libc::c_char, one.as_ptr(), envp.as_ptr());
        // 2: NULL argv
        libc::execve(missing.as_ptr(), std::ptr::null(), envp.as_ptr());
        // 3: 10,000 arguments
        let many: Vec<CString> = (0..10_000)
            .map(|i| CString::new(format!("a{i}")).unwrap())
            .collect();
        let mut many_ptrs: Vec<*const libc::c_char> = many.iter().map(|a| a.as_ptr()).collect();
        many_ptrs.push(std::ptr::null());
        libc::execve(missing.as_ptr(), many_ptrs.as_ptr(), envp.as_ptr());
        // 4: one 128 KiB argument
        let big = CString::new(vec![b'x'; 128 * 1024]).unwrap();
        let big_ptrs = [missing.as_ptr(), big.as_ptr(), std::ptr::null()];
        libc::execve(missing.as_ptr(), big_ptrs.as_ptr(), envp.as_ptr());
        // 5: argv itself in an unmapped page
        libc::execve(
            missing.as_ptr(),
            unmapped as *const *const libc::c_char,
            envp.as_ptr(),
        );
        libc::_exit(0)
    }
}

/// The paths and addresses the `--act-args` actor uses, all made before it waits, so that
/// nothing is allocated or faulted in between its calls.
struct ArgsSetup {
    file: CString,
    created: CString,
    renamed: CString,
    subdir: CString,
    long: CString,
    edge: CString,
    not_utf8: CString,
    unix_path: CString,
    inet: libc::sockaddr_in,
    unix: libc::sockaddr_un,
    /// Mapped by args_setup, unmapped by act_args before it waits.
    unmapped: usize,
}

/// `--act-args DIR [--probes]`: the calls whose arguments `--args` must show exactly (see
/// crate::args for the records they cause). Sets [`ARGS_COMM`]; makes `DIR/file`, a TCP
/// listener on 127.0.0.1 and a unix socket listening at `DIR/sock`; maps a page, touches
/// every string, unmaps the page (a path pointer into it cannot be read); prints one JSON line
/// (crate::args::Ready); waits for a byte on stdin; then, with raw syscalls only:
///
/// openat(file, O_RDONLY|O_CLOEXEC), close; openat(created, O_WRONLY|O_CREAT|O_TRUNC,
/// 0644), close; mkdirat(subdir, 0755); renameat2(created, renamed, RENAME_NOREPLACE);
/// unlinkat(renamed, 0); unlinkat(subdir, AT_REMOVEDIR); socket(AF_INET,
/// SOCK_STREAM|SOCK_CLOEXEC, 0), connect to the listener, close; socket(AF_UNIX,
/// SOCK_STREAM, 0), connect to DIR/sock, close; mmap of one anonymous page, munmap;
/// clone(SIGCHLD) of a child that pauses, kill(child, SIGTERM), wait4(child); openat of the
/// unmapped page; openat of a path of [`LONG_PATH_LEN`] bytes; openat of `DIR/` then
/// [`NOT_UTF8_NAME`]; openat of NULL. With `--probes` then:
/// openat of a path of exactly [`DEFAULT_STRING_SIZE`] - 1 bytes (it fits the default
/// string size with its NUL), and openat(file, O_RDONLY|O_CLOEXEC) with a stray 0600 in
/// the mode register (close). Last, one JSON line with what the calls returned
/// (crate::args::Done), and exit 0.
pub fn act_args(dir: &str, probes: bool) -> ! {
    let s = args_setup(dir);
    let ready = serde_json::json!({
        "pid": std::process::id(),
        "dir": dir,
        "port": u16::from_be(s.inet.sin_port),
        "unmapped": s.unmapped,
    });
    set_comm(ARGS_COMM.as_bytes());
    for c in [
        &s.file,
        &s.created,
        &s.renamed,
        &s.subdir,
        &s.long,
        &s.edge,
        &s.not_utf8,
        &s.unix_path,
    ] {
        touch(c.as_bytes_with_nul());
    }
    // The page is unmapped last, and nothing is allocated after that (the line is written
    // raw): no allocation can map something else at its address before the call.
    let line = format!("{ready}\n");
    let mut report = String::with_capacity(4096);
    unsafe {
        libc::munmap(s.unmapped as *mut libc::c_void, 4096);
        libc::write(1, line.as_ptr() as *const libc::c_void, line.len());
    }
    wait_for_go(0);
    let mut status: libc::c_int = 0;
    let status_addr = &mut status as *mut libc::c_int;
    // Every argument as a long, as a C library passes them: the registers are exact.
    type L = libc::c_long;
    let at = libc::AT_FDCWD as L;
    let rdonly_cloexec = (libc::O_RDONLY | libc::O_CLOEXEC) as L;
    let rdonly = libc::O_RDONLY as L;
    let mut done = [0 as L; 8];
    unsafe {
        use libc::syscall as sys;
        done[0] = sys(
            libc::SYS_openat,
            at,
            s.file.as_ptr(),
            rdonly_cloexec,
            0 as L,
        );
        sys(libc::SYS_close, done[0]);
        let creat = (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as L;
        done[1] = sys(libc::SYS_openat, at, s.created.as_ptr(), creat, 0o644 as L);
        sys(libc::SYS_close, done[1]);
        sys(libc::SYS_mkdirat, at, s.subdir.as_ptr(), 0o755 as L);
        let (old, new) = (s.created.as_ptr(), s.renamed.as_ptr());
        let noreplace = libc::RENAME_NOREPLACE as L;
        sys(libc::SYS_renameat2, at, old, at, new, noreplace);
        sys(libc::SYS_unlinkat, at, s.renamed.as_ptr(), 0 as L);
        sys(
            libc::SYS_unlinkat,
            at,
            s.subdir.as_ptr(),
            libc::AT_REMOVEDIR as L,
        );
        let stream_cloexec = (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as L;
        done[2] = sys(libc::SYS_socket, libc::AF_INET as L, stream_cloexec, 0 as L);
        let inet_len = std::mem::size_of::<libc::sockaddr_in>() as L;
        sys(libc::SYS_connect, done[2], &s.inet as *const _, inet_len);
        sys(libc::SYS_close, done[2]);
        let stream = libc::SOCK_STREAM as L;
        done[3] = sys(libc::SYS_socket, libc::AF_UNIX as L, stream, 0 as L);
        let unix_len = std::mem::size_of::<libc::sockaddr_un>() as L;
        sys(libc::SYS_connect, done[3], &s.unix as *const _, unix_len);
        sys(libc::SYS_close, done[3]);
        done[4] = mmap_page();
        sys(libc::SYS_munmap, done[4], 4096 as L);
        // A fork by raw clone: no CLONE_VM, so the child has its own copy and may run on.
        done[5] = sys(
            libc::SYS_clone,
            libc::SIGCHLD as L,
            0 as L,
            0 as L,
            0 as L,
            0 as L,
        );
        if done[5] == 0 {
            loop {
                libc::pause();
            }
        }
        sys(libc::SYS_kill, done[5], libc::SIGTERM as L);
        sys(libc::SYS_wait4, done[5], status_addr, 0 as L, 0 as L);
        sys(libc::SYS_openat, at, s.unmapped, rdonly, 0 as L);
        sys(libc::SYS_openat, at, s.long.as_ptr(), rdonly, 0 as L);
        sys(libc::SYS_openat, at, s.not_utf8.as_ptr(), rdonly, 0 as L);
        sys(libc::SYS_openat, at, 0 as L, rdonly, 0 as L);
        if probes {
            sys(libc::SYS_openat, at, s.edge.as_ptr(), rdonly, 0 as L);
            done[6] = sys(
                libc::SYS_openat,
                at,
                s.file.as_ptr(),
                rdonly_cloexec,
                0o600 as L,
            );
            sys(libc::SYS_close, done[6]);
        }
    }
    // Formatted into room made before the calls, and written raw: no allocation (no mmap
    // record) between the last call and the write of the report.
    let _ = writeln!(
        report,
        "{{\"file_fd\":{},\"created_fd\":{},\"inet_fd\":{},\"unix_fd\":{},\"mmap\":{},\
         \"child\":{},\"status_addr\":{},\"stray_mode_fd\":{}}}",
        done[0], done[1], done[2], done[3], done[4], done[5], status_addr as usize, done[6]
    );
    unsafe { libc::write(1, report.as_ptr() as *const libc::c_void, report.len()) };
    unsafe { libc::_exit(0) }
}

fn args_setup(dir: &str) -> ArgsSetup {
    let c = |name: &str| CString::new(format!("{dir}/{name}")).unwrap();
    std::fs::write(format!("{dir}/file"), b"x").expect("writing DIR/file");
    // Listening sockets that live until the actor exits: connect succeeds from the backlog.
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("TCP listener");
    let port = tcp.local_addr().unwrap().port();
    std::mem::forget(tcp);
    let unix_path = c("sock");
    let unix_listener =
        std::os::unix::net::UnixListener::bind(format!("{dir}/sock")).expect("unix listener");
    std::mem::forget(unix_listener);
    let mut inet: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    inet.sin_family = libc::AF_INET as libc::sa_family_t;
    inet.sin_port = port.to_be();
    inet.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    let mut unix: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    unix.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, b) in unix.sun_path.iter_mut().zip(unix_path.as_bytes()) {
        *d = *b as libc::c_char;
    }
    // Unmapped by the caller, once it no longer allocates.
    let unmapped = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        ) as usize
    };
    ArgsSetup {
        file: c("file"),
        created: c("created"),
        renamed: c("renamed"),
        subdir: c("subdir"),
        long: CString::new(path_of_len(dir, LONG_PATH_LEN)).unwrap(),
        edge: CString::new(path_of_len(dir, DEFAULT_STRING_SIZE - 1)).unwrap(),
        not_utf8: CString::new([format!("{dir}/").as_bytes(), NOT_UTF8_NAME].concat()).unwrap(),
        unix_path,
        inet,
        unix,
        unmapped,
    }
}
