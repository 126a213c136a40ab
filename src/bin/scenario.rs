//! tailcall-logger-scenario: runs the logger, makes known syscalls from a child process and
//! checks the exact JSON records. Used by the host tests and inside the QEMU VMs, where it
//! prints one `CELL <label> PASS|FAIL <detail>` line and exits 0 only on PASS.
//!
//!   tailcall-logger-scenario --logger PATH --label NAME [--expect KEY=VALUE]... \
//!       [--only-child] [-- LOGGER_ARGS...]
//!
//! --expect checks a field of the start record's plan (dispatch, transport, btf);
//! --only-child asserts that every syscall record came from the child (for --comm/--pid
//! filters). With --skip-others among the logger's arguments, the child's "other" syscall
//! must not appear. --dump FILE writes the child's records without the fields that differ
//! from run to run (times, cpu, ids), to compare dispatchers and transports.
//!
//!   tailcall-logger-scenario --act
//!
//! is the child alone, for tests that run the logger themselves: it waits for one byte on
//! stdin, then makes the same syscalls and execs the same program. Other actors, each
//! waiting for a byte on stdin before it acts:
//!
//!   --calls N [--phases P] [--pin CPU]   P times: wait for a byte, make N getppid calls;
//!                                        then exit_group. Nothing else (loss accounting).
//!   --hostile PATH                       sets a hostile comm, then execs PATH with hostile argv
//!   --faults                             execs with unreadable or oversized arguments

use std::ffi::CString;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const CHILD_COMM: &str = "tcl-child";
const EXEC_MARK: &str = "--exec-target";
const EXEC_ARGV: [&str; 4] = ["tcl-exec-target", EXEC_MARK, "two words", "x=1"];
const START_TIMEOUT: Duration = Duration::from_secs(90);
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

struct Options {
    logger: String,
    label: String,
    expect: Vec<(String, String)>,
    only_child: bool,
    dump: Option<String>,
    logger_args: Vec<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        logger: String::new(),
        label: "scenario".into(),
        expect: Vec::new(),
        only_child: false,
        dump: None,
        logger_args: Vec::new(),
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--logger" => o.logger = args.next().ok_or("--logger needs a path")?,
            "--label" => o.label = args.next().ok_or("--label needs a name")?,
            "--expect" => {
                let kv = args.next().ok_or("--expect needs KEY=VALUE")?;
                let (k, v) = kv.split_once('=').ok_or("--expect needs KEY=VALUE")?;
                o.expect.push((k.into(), v.into()));
            }
            "--only-child" => o.only_child = true,
            "--dump" => o.dump = Some(args.next().ok_or("--dump needs a path")?),
            "--" => {
                o.logger_args = args.by_ref().collect();
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.logger.is_empty() {
        return Err("--logger PATH is required".into());
    }
    Ok(o)
}

/// The child: waits for the go byte, then makes exactly the syscalls the records must show.
fn child(go_read: i32, exe: &CString, argv: &[CString]) -> ! {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    unsafe {
        let name = b"tcl-child\0";
        libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0);
        let mut byte = 0u8;
        libc::read(go_read, &mut byte as *mut u8 as *mut libc::c_void, 1);
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

fn exec_target() -> Result<(String, CString, Vec<CString>), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let exe_str = exe.to_string_lossy().into_owned();
    let exe_c = CString::new(exe_str.clone()).map_err(|e| e.to_string())?;
    let argv_c: Vec<CString> = EXEC_ARGV
        .iter()
        .map(|a| CString::new(*a).unwrap())
        .collect();
    Ok((exe_str, exe_c, argv_c))
}

fn run(o: &Options) -> Result<String, String> {
    let (exe_str, exe_c, argv_c) = exec_target()?;

    let mut logger = Command::new(&o.logger)
        .arg("--json")
        .args(&o.logger_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", o.logger))?;
    let stdout = logger.stdout.take().unwrap();
    let stderr = logger.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    let stderr_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });

    let mut lines: Vec<String> = Vec::new();
    let deadline = Instant::now() + START_TIMEOUT;
    let start: Value = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let v: Value =
                    serde_json::from_str(&l).map_err(|e| format!("bad JSON line {l:?}: {e}"))?;
                lines.push(l);
                if v["type"] == "start" {
                    break v;
                }
            }
            Err(_) => {
                let _ = logger.kill();
                let _ = logger.wait();
                let err = stderr_thread.join().unwrap_or_default();
                return Err(format!(
                    "no start record: {}",
                    err.trim().replace('\n', " | ")
                ));
            }
        }
    };

    let mut fds = [0i32; 2];
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err("pipe failed".into());
    }
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child(fds[0], &exe_c, &argv_c);
    }
    if pid < 0 {
        return Err("fork failed".into());
    }
    unsafe {
        libc::close(fds[0]);
        libc::write(fds[1], b"g".as_ptr() as *const libc::c_void, 1);
        libc::close(fds[1]);
    }
    let child_deadline = Instant::now() + CHILD_TIMEOUT;
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if Instant::now() > child_deadline {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return Err("child did not finish".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("child failed: status {status}"));
    }

    unsafe { libc::kill(logger.id() as i32, libc::SIGINT) };
    let stop_deadline = Instant::now() + STOP_TIMEOUT;
    let code = loop {
        if let Some(st) = logger.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if Instant::now() > stop_deadline {
            let _ = logger.kill();
            return Err("logger did not stop after SIGINT".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    lines.extend(rx.iter());
    let stderr_text = stderr_thread.join().unwrap_or_default();
    if !code.success() {
        return Err(format!(
            "logger exited with {code}: {}",
            stderr_text.trim().replace('\n', " | ")
        ));
    }
    check(o, &start, &lines, pid as u32, &exe_str)
}

fn field<'a>(v: &'a Value, k: &str) -> Result<&'a Value, String> {
    v.get(k).ok_or_else(|| format!("record without {k}: {v}"))
}

fn check(
    o: &Options,
    start: &Value,
    lines: &[String],
    child: u32,
    exe: &str,
) -> Result<String, String> {
    let plan = &start["plan"];
    for (k, want) in &o.expect {
        if plan[k] != *want.as_str() {
            return Err(format!("plan.{k} is {} (want {want})", plan[k]));
        }
    }
    let skip_others = o.logger_args.iter().any(|a| a == "--skip-others");
    let mut records = Vec::new();
    let mut summary = None;
    for l in lines {
        let v: Value = serde_json::from_str(l).map_err(|e| format!("bad JSON line {l:?}: {e}"))?;
        if v["v"] != 1 {
            return Err(format!("schema version missing: {l}"));
        }
        match v["type"].as_str() {
            Some("syscall") => {
                for k in [
                    "ts", "ktime_ns", "cpu", "pid", "tid", "ppid", "uid", "comm", "nr", "syscall",
                    "handler", "message",
                ] {
                    field(&v, k)?;
                }
                if skip_others && v["handler"] == "other" {
                    return Err(format!("--skip-others but an other record: {l}"));
                }
                if o.only_child && v["pid"] != child {
                    return Err(format!(
                        "record from another process despite the filter: {l}"
                    ));
                }
                records.push(v);
            }
            Some("summary") => summary = Some(v),
            Some("start") | Some("lost") => {}
            _ => return Err(format!("unknown record type: {l}")),
        }
    }
    let summary = summary.ok_or("no summary record")?;
    let mine: Vec<&Value> = records.iter().filter(|r| r["pid"] == child).collect();
    let first = mine
        .iter()
        .position(|r| r["syscall"] == "timer_create")
        .ok_or("no timer_create record from the child")?;
    let mut want: Vec<(&str, &str, &str)> = vec![
        ("timer_create", "timer", "Creating a timer"),
        ("timer_settime", "timer", "Some other timer operation"),
        ("timer_gettime", "timer", "Some other timer operation"),
        ("timer_getoverrun", "timer", "Some other timer operation"),
        ("timer_delete", "timer", "Deleting a timer"),
        ("getppid", "other", "Another syscall: getppid"),
        ("execve", "exec", "Executing a program"),
    ];
    if skip_others {
        want.retain(|w| w.1 != "other");
    }
    let got = &mine[first..(first + want.len()).min(mine.len())];
    let got_names: Vec<String> = got
        .iter()
        .map(|r| r["syscall"].as_str().unwrap_or("?").to_string())
        .collect();
    if got.len() != want.len()
        || got
            .iter()
            .zip(&want)
            .any(|(r, w)| r["syscall"] != w.0 || r["handler"] != w.1 || r["message"] != w.2)
    {
        return Err(format!(
            "child records {got_names:?}, want {:?}",
            want.iter().map(|w| w.0).collect::<Vec<_>>()
        ));
    }
    for r in got {
        if r["tid"] != child || r["comm"] != CHILD_COMM || r["uid"] != unsafe { libc::getuid() } {
            return Err(format!("wrong pid/comm/uid in {r}"));
        }
        if !(r["ppid"].is_null() || r["ppid"] == std::process::id()) {
            return Err(format!("wrong ppid in {r}"));
        }
    }
    let exec = got.last().unwrap();
    let argv: Vec<&str> = exec["argv"]
        .as_array()
        .ok_or("argv missing")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if exec["filename"] != exe
        || argv != EXEC_ARGV
        || exec["argv_status"] != "ok"
        || exec["argv_truncated"] != false
        || exec["filename_status"] != "ok"
    {
        return Err(format!("exec record wrong: {exec}"));
    }
    if let Some(path) = &o.dump {
        let mut out = String::new();
        for r in got {
            let mut r = (*r).clone();
            for k in ["ts", "ktime_ns", "cpu", "pid", "tid", "ppid"] {
                r.as_object_mut().map(|m| m.remove(k));
            }
            out.push_str(&r.to_string());
            out.push('\n');
        }
        std::fs::write(path, out).map_err(|e| format!("writing {path}: {e}"))?;
    }
    let delivered = summary["delivered"].as_u64().unwrap_or(0);
    if delivered != records.len() as u64 {
        return Err(format!(
            "summary says {delivered} delivered, stream has {}",
            records.len()
        ));
    }
    Ok(format!(
        "dispatch={} transport={} btf={} records={} lost={}",
        plan["dispatch"].as_str().unwrap_or("?"),
        plan["transport"].as_str().unwrap_or("?"),
        plan["btf"].as_str().unwrap_or("?"),
        records.len(),
        summary["lost"]
    ))
}

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some(EXEC_MARK) => return ExitCode::SUCCESS,
        Some("--act") => match exec_target() {
            Ok((_, exe, argv)) => child(0, &exe, &argv),
            Err(e) => {
                eprintln!("tailcall-logger-scenario: {e}");
                return ExitCode::FAILURE;
            }
        },
        Some("--calls") => actors::calls(&std::env::args().collect::<Vec<_>>()),
        Some("--hostile") => actors::hostile(std::env::args_os().nth(2).unwrap_or_default()),
        Some("--faults") => actors::faults(),
        _ => {}
    }
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tailcall-logger-scenario: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(detail) => {
            println!("CELL {} PASS {detail}", o.label);
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("CELL {} FAIL {}", o.label, e.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// Actors for the reliability tests: every one waits for a byte on stdin, then acts with raw
/// syscalls only, so the records it causes are exactly known.
mod actors {
    use std::ffi::CString;

    fn wait_for_go() {
        let mut byte = 0u8;
        unsafe { libc::read(0, &mut byte as *mut u8 as *mut libc::c_void, 1) };
    }

    fn arg_after(args: &[String], flag: &str) -> Option<u64> {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
    }

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
            wait_for_go();
            for _ in 0..n {
                unsafe { libc::syscall(libc::SYS_getppid) };
            }
        }
        unsafe { libc::_exit(0) }
    }

    /// Bytes a terminal would act on, and text that hides or reorders what follows.
    pub const HOSTILE_COMM: &[u8] = b"\x1b[2Jev\rl\x07\xc2\x9b\xff";
    pub fn hostile_argv() -> Vec<Vec<u8>> {
        vec![
            b"hostile".to_vec(),
            b"\x1b]0;owned\x07".to_vec(),
            b"line1\nline2\r".to_vec(),
            "\u{9b}31m\u{202e}txt.exe".as_bytes().to_vec(),
            b"quote\" and 'single' and space".to_vec(),
            b"".to_vec(),
            b"bad\xff\xfeutf8".to_vec(),
            b"back\\slash".to_vec(),
        ]
    }

    pub fn hostile(path: std::ffi::OsString) -> ! {
        let path = CString::new(std::os::unix::ffi::OsStringExt::into_vec(path)).unwrap();
        let argv: Vec<CString> = hostile_argv()
            .into_iter()
            .map(|a| CString::new(a).unwrap())
            .collect();
        let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        let envp: [*const libc::c_char; 1] = [std::ptr::null()];
        let mut comm = HOSTILE_COMM.to_vec();
        comm.push(0);
        unsafe {
            libc::prctl(libc::PR_SET_NAME, comm.as_ptr() as libc::c_ulong, 0, 0, 0);
        }
        wait_for_go();
        unsafe {
            libc::execve(path.as_ptr(), ptrs.as_ptr(), envp.as_ptr());
            libc::_exit(127)
        }
    }

    /// Each execve fails (the path does not exist, or cannot be read), but its sys_enter is
    /// logged first: a filename in an unmapped page, a NULL argv, 10,000 arguments, one
    /// 128 KiB argument, an argv pointer into an unmapped page.
    pub fn faults() -> ! {
        let missing = CString::new("/nonexistent/tcl-fault-target").unwrap();
        let envp: [*const libc::c_char; 1] = [std::ptr::null()];
        let page = 4096;
        wait_for_go();
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
}
