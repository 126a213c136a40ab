//! `--results`: the actors whose calls have known outcomes, and the records they must
//! cause.
//!
//! - `--act-results [--no-blocker]`: as [`RESULTS_COMM`], after the go byte: an openat of a
//!   missing file (ENOENT), close(-1) (EBADF), getppid, a failed execve (ENOENT), a child
//!   that execs this program successfully, a 50 ms nanosleep, wait4 for that child, and
//!   (unless --no-blocker) a second child that blocks in read until it is killed; then a
//!   write of its report and exit_group.
//! - `--act-threads N`: N threads that each block in read (slot bounds).
//! - `--act-exec-thread`: a thread execs while another thread of the process is blocked
//!   in read.
//!
//! Every actor prints one JSON line when ready, waits for the go byte, then acts with raw
//! syscalls only.

use std::ffi::CString;
use std::io::Write;

use serde_json::{json, Value};

use crate::actors::{set_comm, wait_for_go};

/// The comm of the `--act-results` process and its children until they exec.
pub const RESULTS_COMM: &str = "tcl-results";
/// The missing file the actor opens and execs.
pub const MISSING: &str = "/nonexistent/tailcall-logger-results";
/// The actor's nanosleep, in ns.
pub const SLEEP_NS: u64 = 50_000_000;
/// The comm of the `--act-threads` and `--act-exec-thread` actors.
pub const THREADS_COMM: &str = "tcl-threads";

fn write_line(v: &Value) -> i64 {
    let line = format!("{v}\n");
    unsafe { libc::write(1, line.as_ptr() as *const libc::c_void, line.len()) as i64 }
}

/// A child by a raw clone (what fork does, without the C library's bookkeeping): the child
/// runs `then` with raw syscalls only and never returns.
fn raw_fork(then: impl FnOnce()) -> i64 {
    type L = libc::c_long;
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as L,
            0 as L,
            0 as L,
            0 as L,
            0 as L,
        )
    };
    if pid == 0 {
        then();
        unsafe { libc::_exit(127) };
    }
    pid
}

/// Blocks in read on a pipe nobody writes to (it holds the write end itself).
fn block_in_read() -> ! {
    let mut fds = [0 as libc::c_int; 2];
    let mut byte = 0u8;
    unsafe {
        libc::syscall(libc::SYS_pipe2, fds.as_mut_ptr(), 0 as libc::c_long);
        libc::syscall(
            libc::SYS_read,
            fds[0] as libc::c_long,
            &mut byte as *mut u8,
            1usize,
        );
        libc::_exit(0)
    }
}

/// `--act-results [--no-blocker]`.
pub fn act_results(blocker: bool) -> ! {
    let exe = std::env::current_exe().expect("current_exe");
    let exe = CString::new(exe.to_string_lossy().into_owned()).expect("no NUL");
    let mark = CString::new(crate::fixtures::EXEC_MARK).expect("no NUL");
    let missing = CString::new(MISSING).expect("no NUL");
    let argv = [exe.as_ptr(), mark.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    set_comm(RESULTS_COMM.as_bytes());
    // SIGCHLD blocked: under strace the child's exit would interrupt the nanosleep
    // (ERESTART_RESTARTBLOCK, then restart_syscall) instead of being ignored.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    write_line(&json!({"pid": std::process::id(), "exe": exe.to_string_lossy()}));
    wait_for_go(0);
    type L = libc::c_long;
    let mut status: libc::c_int = 0;
    let sleep = libc::timespec {
        tv_sec: 0,
        tv_nsec: SLEEP_NS as libc::c_long,
    };
    let (ppid, child, waited, blocked);
    unsafe {
        use libc::syscall as sys;
        sys(
            libc::SYS_openat,
            libc::AT_FDCWD as L,
            missing.as_ptr(),
            libc::O_RDONLY as L,
            0 as L,
        );
        sys(libc::SYS_close, -1 as L);
        ppid = sys(libc::SYS_getppid);
        sys(
            libc::SYS_execve,
            missing.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
        );
        child = raw_fork(|| {
            libc::syscall(libc::SYS_execve, exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(127)
        });
        sys(
            libc::SYS_nanosleep,
            &sleep as *const libc::timespec,
            std::ptr::null::<u8>(),
        );
        waited = sys(
            libc::SYS_wait4,
            child,
            &mut status as *mut libc::c_int,
            0 as L,
            std::ptr::null::<u8>(),
        );
        // The blocker closes its copy of stdout first: the test reads it to the end.
        blocked = if blocker {
            raw_fork(|| {
                libc::syscall(libc::SYS_close, 1 as L);
                block_in_read()
            })
        } else {
            0
        };
    }
    // Formatted on the stack: an allocation here could add a brk or mmap to the calls.
    let mut line = [0u8; 160];
    let mut at = &mut line[..];
    let _ = writeln!(
        at,
        r#"{{"ppid":{ppid},"child":{child},"waited":{waited},"status":{status},"blocker":{blocked}}}"#
    );
    let len = 160 - at.len();
    unsafe { libc::write(1, line.as_ptr() as *const libc::c_void, len) };
    unsafe { libc::_exit(0) }
}

/// (syscall, ret, errno) of every call of the `--act-results` process itself after the go
/// byte, in order, from its report line (the write of that line returned its length, the
/// newline included); `exit_group` never returns (ret null).
pub fn expected_calls(report_line: &str) -> Vec<(String, Option<i64>, Option<String>)> {
    let report: Value = serde_json::from_str(report_line).expect("the actor's report");
    let n = |k: &str| report[k].as_i64().expect("a number in the report");
    let calls = vec![
        ("openat", Some(-2), Some("ENOENT")),
        ("close", Some(-9), Some("EBADF")),
        ("getppid", Some(n("ppid")), None),
        ("execve", Some(-2), Some("ENOENT")),
        // (clone is among the syscalls ignored by default)
        ("nanosleep", Some(0), None),
        ("wait4", Some(n("waited")), None),
    ];
    calls
        .into_iter()
        .chain([
            ("write", Some(report_line.len() as i64 + 1), None),
            ("exit_group", None, None),
        ])
        .map(|(s, r, e)| (s.to_string(), r, e.map(str::to_string)))
        .collect()
}

/// `--act-threads N`: N threads that each block in read on one pipe nobody writes to;
/// the process is then killed. Raw clone threads on slices of one stack mapping: a thread
/// of the C library costs two mappings or more, and the kernel's map count limit
/// (vm.max_map_count, 65530 by default) would stop far short of 20,000 of them; musl's
/// clone() refuses CLONE_THREAD, hence the few instructions of [`blocked_thread`].
pub fn act_threads(n: usize) -> ! {
    const STACK: usize = 4096;
    set_comm(THREADS_COMM.as_bytes());
    write_line(&json!({"pid": std::process::id()}));
    let stacks = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK * n,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    } as *mut u8;
    let mut fds = [0 as libc::c_int; 2];
    unsafe { libc::pipe(fds.as_mut_ptr()) };
    wait_for_go(0);
    let mut started = 0usize;
    for i in 0..n {
        let top = unsafe { stacks.add(STACK * (i + 1)) };
        if unsafe { blocked_thread(top, fds[0]) } < 0 {
            break;
        }
        started += 1;
    }
    write_line(&json!({"threads": started}));
    loop {
        unsafe { libc::pause() };
    }
}

/// Starts a thread on `stack_top` that reads one byte from `fd` and exits: a raw clone
/// whose child never returns into Rust. Returns the thread id or -errno.
#[cfg(target_arch = "x86_64")]
unsafe fn blocked_thread(stack_top: *mut u8, fd: libc::c_int) -> i64 {
    let flags = thread_flags();
    let ret: i64;
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            // The child, on its own stack: read(fd, sp - 16, 1), then exit(0).
            "mov eax, 0",
            "mov rdi, r12",
            "lea rsi, [rsp - 16]",
            "mov edx, 1",
            "syscall",
            "mov eax, 60",
            "xor edi, edi",
            "syscall",
            "2:",
            inlateout("rax") libc::SYS_clone => ret,
            in("rdi") flags,
            in("rsi") stack_top,
            in("rdx") 0,
            in("r10") 0,
            in("r8") 0,
            in("r12") fd as i64,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

#[cfg(target_arch = "aarch64")]
unsafe fn blocked_thread(stack_top: *mut u8, fd: libc::c_int) -> i64 {
    let flags = thread_flags();
    let ret: i64;
    unsafe {
        std::arch::asm!(
            "svc #0",
            "cbnz x0, 2f",
            // The child, on its own stack: read(fd, sp - 16, 1), then exit(0).
            "mov x8, #63",
            "mov x0, x9",
            "sub x1, sp, #16",
            "mov x2, #1",
            "svc #0",
            "mov x8, #93",
            "mov x0, #0",
            "svc #0",
            "2:",
            in("x8") libc::SYS_clone,
            inlateout("x0") flags => ret,
            in("x1") stack_top,
            in("x2") 0,
            in("x3") 0,
            in("x4") 0,
            in("x9") fd as i64,
        );
    }
    ret
}

fn thread_flags() -> i64 {
    (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM) as i64
}

/// `--act-exec-thread`: thread B blocks in read, then thread A execs this program (the
/// kernel kills B and the leader, and A takes the leader's id); A's tid is reported first.
pub fn act_exec_thread() -> ! {
    set_comm(THREADS_COMM.as_bytes());
    write_line(&json!({"pid": std::process::id()}));
    wait_for_go(0);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tid_tx
            .send(unsafe { libc::syscall(libc::SYS_gettid) })
            .expect("main waits");
        block_in_read()
    });
    let blocked_tid = tid_rx.recv().expect("thread B started");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let exec_thread = std::thread::spawn(move || {
        let exe = std::env::current_exe().expect("current_exe");
        let exe = CString::new(exe.to_string_lossy().into_owned()).expect("no NUL");
        let mark = CString::new(crate::fixtures::EXEC_MARK).expect("no NUL");
        let argv = [exe.as_ptr(), mark.as_ptr(), std::ptr::null()];
        let envp: [*const libc::c_char; 1] = [std::ptr::null()];
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        write_line(&json!({"exec_tid": tid, "blocked_tid": blocked_tid}));
        unsafe { libc::syscall(libc::SYS_execve, exe.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        unsafe { libc::_exit(127) }
    });
    let _ = exec_thread.join();
    unsafe { libc::_exit(126) }
}
