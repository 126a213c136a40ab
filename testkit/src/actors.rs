//! The processes that make known syscalls, run by the scenario binary: its own child, and
//! the actors the reliability tests start (`tailcall-logger-scenario --act|--calls|
//! --hostile|--faults`). Every one waits for a byte on stdin (or the go pipe) before it
//! acts, then acts with raw syscalls only, so the records it causes are exactly known.

use std::ffi::CString;

use crate::fixtures::{hostile_argv, CHILD_COMM, EXEC_ARGV, FAULT_TARGET, HOSTILE_COMM};

fn wait_for_go(fd: i32) {
    let mut byte = 0u8;
    unsafe { libc::read(fd, &mut byte as *mut u8 as *mut libc::c_void, 1) };
}

/// PR_SET_NAME without allocating (the scenario's child runs it after fork); the kernel
/// keeps 15 bytes, as here.
fn set_comm(comm: &[u8]) {
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

/// The scenario's child (`--act` alone): sets its comm to [`CHILD_COMM`], waits for the go
/// byte on `go_read`, then makes exactly the syscalls the records must show: the timer
/// calls, getppid, and the execve of `exe` with `argv` (from [`exec_target`]).
pub fn act(go_read: i32, exe: &CString, argv: &[CString]) -> ! {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    set_comm(CHILD_COMM.as_bytes());
    wait_for_go(go_read);
    unsafe {
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

/// `--calls N [--phases P] [--pin CPU]`: P times, wait for a byte and make N getppid calls;
/// then exit_group. Nothing else (loss accounting).
pub fn calls(args: &[String]) -> ! {
    let n = arg_after(args, "--calls").unwrap_or(0);
    let phases = arg_after(args, "--phases").unwrap_or(1);
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
