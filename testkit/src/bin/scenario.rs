//! tailcall-logger-scenario: runs the logger, makes known syscalls from a child process and
//! checks the exact JSON records. Used by the host tests and inside the QEMU VMs, where it
//! prints one `CELL <label> PASS|FAIL <detail>` line and exits 0 only on PASS.
//!
//!   tailcall-logger-scenario --logger PATH --label NAME [--expect KEY=VALUE]... \
//!       [--only-child] [-- LOGGER_ARGS...]
//!
//! --expect checks a field of the start record's plan (dispatch, transport, btf);
//! with --args among the logger's arguments, the child's records carry their arguments,
//! and its openat of a known path and its anonymous mmap are asserted exactly;
//! --only-child asserts that every syscall record came from the child (for --comm/--pid
//! filters). With --skip-others among the logger's arguments, the child's "other" syscall
//! must not appear. --dump FILE writes the child's records without the fields that differ
//! from run to run (times, cpu, ids), to compare dispatchers and transports.
//! --in-cgroup DIR creates the cgroup2 directory DIR and DIR/leaf, moves the child into
//! DIR/leaf before it acts, checks that its records carry that cgroup's id and path, and
//! with --only-child that the kernel counted nothing but the child's records (`seen`), as a
//! `--cgroup DIR` filter must; DIR is removed afterwards.
//! --expect-wakeup lets the logger fall asleep (300 ms without a word from this side) before
//! the child acts, and checks that a record woke its reader (the summary's reader.wakeups).
//!
//!   tailcall-logger-scenario --act
//!
//! is the child alone, for tests that run the logger themselves: it waits for one byte on
//! stdin, then makes the same syscalls and execs the same program. Other actors, each
//! waiting for a byte on stdin before it acts:
//!
//!   --calls N [--phases P] [--pin CPU]   P times: wait for a byte, make N getppid calls;
//!                                        then exit_group. Nothing else (loss accounting).
//!   --calls N ... --comm NAME            the same, under the comm NAME
//!
//!   tailcall-logger-scenario --rings --logger PATH --label NAME --producers P --calls N \
//!       [--expect-rings R] [-- LOGGER_ARGS...]
//!
//! is a storm on several CPUs at once (testkit::rings): P actors pinned to CPUs 0..P, N
//! calls each, every record in order per thread, delivered + lost == generated, and the
//! plan has R rings.
//!
//!   --hostile PATH                       sets a hostile comm, then execs PATH with hostile argv
//!   --faults                             execs with unreadable or oversized arguments
//!   --act-args DIR [--probes]            known calls whose arguments `--args` must show
//!                                        exactly; reports on stdout (testkit::args)
//!   --act-results [--no-blocker]         calls with known outcomes (testkit::results)
//!   --act-threads N                      N threads blocked in read (slot bounds)
//!   --act-exec-thread                    a thread execs while another is in a call
//!
//! The actors, the fixtures and the logger spawner are in the testkit library (../lib.rs),
//! which the tests share. Test tooling: not installed or packaged with the logger.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use tailcall_logger_testkit::fixtures::{CHILD_COMM, EXEC_ARGV, EXEC_MARK};
use tailcall_logger_testkit::Logger;
use tailcall_logger_testkit::{actors, args, cgroups, results, rings};

const START_TIMEOUT: Duration = Duration::from_secs(90);
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

struct Options {
    logger: String,
    label: String,
    expect: Vec<(String, String)>,
    only_child: bool,
    dump: Option<String>,
    in_cgroup: Option<String>,
    expect_wakeup: bool,
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
        in_cgroup: None,
        expect_wakeup: false,
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
            "--expect-wakeup" => o.expect_wakeup = true,
            "--dump" => o.dump = Some(args.next().ok_or("--dump needs a path")?),
            "--in-cgroup" => o.in_cgroup = Some(args.next().ok_or("--in-cgroup needs a path")?),
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

fn is_start(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|v| v["type"] == "start")
}

fn run(o: &Options) -> Result<String, String> {
    let cgroup = match &o.in_cgroup {
        Some(dir) => Some(cgroups::TestCgroup::create(dir)?),
        None => None,
    };
    let result = run_in(o, cgroup.as_ref());
    if let Some(cgroup) = cgroup {
        cgroup.remove();
    }
    result
}

fn run_in(o: &Options, cgroup: Option<&cgroups::TestCgroup>) -> Result<String, String> {
    let (exe_str, exe_c, argv_c) = actors::exec_target()?;

    let mut args = vec!["--json"];
    args.extend(o.logger_args.iter().map(String::as_str));
    let logger =
        Logger::spawn(&o.logger, &args).map_err(|e| format!("starting {}: {e}", o.logger))?;
    let mut lines = match logger.try_wait_for(START_TIMEOUT, is_start) {
        Ok(lines) => lines,
        Err(_) => {
            let err = logger.abort();
            return Err(format!(
                "no start record: {}",
                err.trim().replace('\n', " | ")
            ));
        }
    };
    let start: Value = serde_json::from_str(lines.last().unwrap()).map_err(|e| e.to_string())?;

    let mut fds = [0i32; 2];
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err("pipe failed".into());
    }
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        actors::act(fds[0], &exe_c, &argv_c);
    }
    if pid < 0 {
        return Err("fork failed".into());
    }
    if let Some(cgroup) = cgroup {
        cgroup.enter(pid as u32)?;
    }
    if o.expect_wakeup {
        // Long enough for the reader's waits to back off to the poll interval, when it
        // asks the programs for a wakeup.
        std::thread::sleep(Duration::from_millis(300));
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

    logger.signal(Signal::SIGINT);
    let (code, rest, stderr_text) = logger
        .try_finish(STOP_TIMEOUT)
        .map_err(|_| "logger did not stop after SIGINT".to_string())?;
    lines.extend(rest);
    if !code.success() {
        return Err(format!(
            "logger exited with {code}: {}",
            stderr_text.trim().replace('\n', " | ")
        ));
    }
    let detail = check(o, &start, &lines, pid as u32, &exe_str)?;
    match cgroup {
        Some(cgroup) => cgroup.check(o.only_child, &start, &lines, pid as u32, detail),
        None => Ok(detail),
    }
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
    let with_args = o.logger_args.iter().any(|a| a == "--args");
    let mut records = Vec::new();
    let mut record_lines = Vec::new();
    let mut summary = None;
    for l in lines {
        let v: Value = serde_json::from_str(l).map_err(|e| format!("bad JSON line {l:?}: {e}"))?;
        if v["v"] != 3 {
            return Err(format!("schema version missing: {l}"));
        }
        match v["type"].as_str() {
            Some("syscall") => {
                for k in [
                    "ts",
                    "ktime_ns",
                    "cpu",
                    "pid",
                    "tid",
                    "ppid",
                    "uid",
                    "comm",
                    "cgroup_id",
                    "nr",
                    "syscall",
                    "handler",
                    "message",
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
                record_lines.push(l.as_str());
            }
            Some("summary") => summary = Some(v),
            Some("start") | Some("lost") => {}
            _ => return Err(format!("unknown record type: {l}")),
        }
    }
    let summary = summary.ok_or("no summary record")?;
    if o.expect_wakeup && summary["reader"]["wakeups"].as_u64().unwrap_or(0) == 0 {
        return Err(format!(
            "the sleeping reader was never woken: {}",
            summary["reader"]
        ));
    }
    let (mine, mine_lines): (Vec<&Value>, Vec<&str>) = records
        .iter()
        .zip(&record_lines)
        .filter(|(r, _)| r["pid"] == child)
        .unzip();
    let first = mine
        .iter()
        .position(|r| r["syscall"] == "timer_create")
        .ok_or("no timer_create record from the child")?;
    if with_args {
        check_args(&mine, &mine_lines, first)?;
    }
    if o.logger_args.iter().any(|a| a == "--results") {
        check_results(&mine, first)?;
    }
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
            for k in [
                "ts",
                "ktime_ns",
                "cpu",
                "pid",
                "tid",
                "ppid",
                "cgroup_id",
                "cgroup",
            ] {
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
        "dispatch={} transport={} btf={} records={} lost={}{}",
        plan["dispatch"].as_str().unwrap_or("?"),
        plan["transport"].as_str().unwrap_or("?"),
        plan["btf"].as_str().unwrap_or("?"),
        records.len(),
        summary["lost"],
        if with_args { " args=exact" } else { "" }
    ))
}

/// With `--args`: every record of the child carries `args` and `call`; the two calls
/// before its timer calls, an openat of ARGS_PROBE_PATH and an anonymous mmap (all six
/// registers known), are exact; getppid has no arguments.
fn check_args(mine: &[&Value], lines: &[&str], first: usize) -> Result<(), String> {
    for r in mine {
        if !r["args"].is_object() || !r["call"].is_string() {
            return Err(format!("--args but a record without args or call: {r}"));
        }
    }
    let wanted = [args::probe_openat(), args::mmap_page()];
    let at = first
        .checked_sub(wanted.len())
        .ok_or("no openat and mmap records before timer_create")?;
    for (i, want) in wanted.iter().enumerate() {
        want.check(lines[at + i], mine[at + i])?;
    }
    let getppid = mine[first..]
        .iter()
        .find(|r| r["syscall"] == "getppid")
        .ok_or("no getppid record")?;
    if getppid["args"] != serde_json::json!({}) || getppid["call"] != "getppid()" {
        return Err(format!("getppid record wrong: {getppid}"));
    }
    Ok(())
}

/// With `--results`: every record of the child carries its outcome. The openat of
/// ARGS_PROBE_PATH (missing) failed with ENOENT, the timer calls and the execve returned 0
/// (a successful execve's result comes from sched_process_exec: on arm64 before 5.18 no
/// sys_exit follows it), getppid returned our pid, and the exec'd program's exit_group
/// never returned.
fn check_results(mine: &[&Value], first: usize) -> Result<(), String> {
    let outcome = |r: &Value| (r["ret"].as_i64(), r["errno"].as_str().map(str::to_string));
    for r in mine {
        if r.get("ret").is_none() || r.get("duration_ns").is_none() {
            return Err(format!(
                "--results but a record without ret/duration_ns: {r}"
            ));
        }
    }
    let open = first
        .checked_sub(2)
        .map(|i| mine[i])
        .ok_or("no openat before timer_create")?;
    if open["syscall"] != "openat" || outcome(open) != (Some(-2), Some("ENOENT".into())) {
        return Err(format!("openat of a missing file: {open}"));
    }
    let me = i64::from(std::process::id());
    for r in &mine[first..] {
        let want = match r["syscall"].as_str() {
            Some("getppid") => Some(me),
            Some("exit_group") => None,
            Some(name) if name.starts_with("timer_") || name == "execve" => Some(0),
            _ => continue,
        };
        if outcome(r) != (want, None) {
            return Err(format!(
                "{} returned {} (want {want:?}): {r}",
                r["syscall"], r["ret"]
            ));
        }
    }
    let exec = mine[first..]
        .iter()
        .find(|r| r["syscall"] == "execve")
        .ok_or("no execve record")?;
    if exec["duration_ns"].as_u64().is_none_or(|d| d == 0) {
        return Err(format!("execve without a duration: {exec}"));
    }
    if !mine[first..].iter().any(|r| r["syscall"] == "exit_group") {
        return Err("no exit_group record of the exec'd program".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some(EXEC_MARK) => return ExitCode::SUCCESS,
        Some("--act") => match actors::exec_target() {
            Ok((_, exe, argv)) => actors::act(0, &exe, &argv),
            Err(e) => {
                eprintln!("tailcall-logger-scenario: {e}");
                return ExitCode::FAILURE;
            }
        },
        Some("--calls") => actors::calls(&std::env::args().collect::<Vec<_>>()),
        Some("--hostile") => actors::hostile(std::env::args_os().nth(2).unwrap_or_default()),
        Some("--faults") => actors::faults(),
        Some("--act-results") => {
            results::act_results(!std::env::args().any(|a| a == "--no-blocker"))
        }
        Some("--act-threads") => {
            let n = std::env::args().nth(2).and_then(|n| n.parse().ok());
            results::act_threads(n.unwrap_or(1))
        }
        Some("--act-exec-thread") => results::act_exec_thread(),
        Some("--act-args") => {
            let args: Vec<String> = std::env::args().collect();
            let Some(dir) = args.get(2) else {
                eprintln!("tailcall-logger-scenario: --act-args needs a directory");
                return ExitCode::from(2);
            };
            actors::act_args(dir, args.iter().any(|a| a == "--probes"))
        }
        // Looked for among every argument, as OS strings: an actor's argument may not be
        // UTF-8 (--hostile's path), and std::env::args() would panic on it.
        _ if std::env::args_os()
            .take_while(|a| a != "--")
            .any(|a| a == "--rings") =>
        {
            return rings::cell(&std::env::args().skip(1).collect::<Vec<_>>());
        }
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
