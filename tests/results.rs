//! `--results` on the host kernel: the `--act-results` actor (testkit::results) makes calls
//! with known outcomes; every record must carry exactly the return value, errno and a
//! plausible duration; strace sees the same return values; the outcome filters and
//! `--count` keep exactly what they promise; the pending slots stay bounded and never
//! outlive their thread; a thread that execs while another is in a call pairs correctly.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use tailcall_logger_testkit::results::{
    expected_calls, MISSING, RESULTS_COMM, SLEEP_NS, THREADS_COMM,
};
use tailcall_logger_testkit::{bins, parse_lines, require_bpf, require_tool, tempdir, Bins};
use tailcall_logger_testkit::{one_at_a_time, ReportingActor};

const BINS: Bins = bins!();

/// What one traced run of an actor gave.
struct Run {
    /// The actor's first line (ready) and the rest of its stdout.
    ready: Value,
    rest: String,
    lines: Vec<String>,
    stderr: String,
}

impl Run {
    fn records(&self) -> Vec<Value> {
        parse_lines(&self.lines)
            .into_iter()
            .filter(|v| v["type"] == "syscall")
            .collect()
    }

    fn summary(&self) -> Value {
        parse_lines(&self.lines)
            .into_iter()
            .find(|v| v["type"] == "summary")
            .unwrap_or_else(|| panic!("no summary: {}", self.stderr))
    }

    fn report(&self) -> Value {
        serde_json::from_str(self.rest.lines().next().expect("a report line"))
            .expect("the report is JSON")
    }
}

/// Starts the logger with `logger_args` (JSON unless `--count` decides), lets the actor
/// act, then waits `settle` (for the blocker to block), stops the logger and kills
/// `kill_key` (a pid in the actor's report) if given.
fn trace(actor: &[&str], logger_args: &[&str], settle: Duration, kill_key: Option<&str>) -> Run {
    let mut cmd = Command::new(BINS.scenario());
    cmd.args(actor).stderr(Stdio::inherit());
    let mut actor = ReportingActor::start(cmd);
    let ready: Value = serde_json::from_str(&actor.ready).expect("ready line is JSON");
    let logger = BINS.start_logger(logger_args);
    logger.wait_for(Duration::from_secs(30), |l| {
        l.contains("\"type\":\"start\"")
    });
    actor.go();
    let rest = actor.finish();
    std::thread::sleep(settle);
    logger.signal(Signal::SIGINT);
    let (status, lines, stderr) = logger.finish(Duration::from_secs(20));
    if let Some(key) = kill_key {
        let report: Value = serde_json::from_str(rest.lines().next().unwrap()).unwrap();
        if let Some(pid) = report[key].as_i64().filter(|p| *p > 0) {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
    assert!(status.success(), "logger failed: {stderr}");
    Run {
        ready,
        rest,
        lines,
        stderr,
    }
}

fn results_run(extra: &[&str], blocker: bool) -> Run {
    let mut args = vec!["--json", "--results", "--comm", RESULTS_COMM];
    args.extend_from_slice(extra);
    let actor: &[&str] = if blocker {
        &["--act-results"]
    } else {
        &["--act-results", "--no-blocker"]
    };
    trace(actor, &args, Duration::from_millis(300), Some("blocker"))
}

/// The records of process `pid`, without the leading read of the go byte (it began before
/// the logger attached, so it has no record; a read logged here would be another one).
fn of_pid(records: &[Value], pid: i64) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r["pid"].as_i64() == Some(pid))
        .cloned()
        .collect()
}

fn outcome(r: &Value) -> (String, Option<i64>, Option<String>) {
    (
        r["syscall"].as_str().unwrap_or("?").to_string(),
        r["ret"].as_i64(),
        r["errno"].as_str().map(str::to_string),
    )
}

#[test]
fn known_outcomes_are_exact() {
    require_bpf!();
    let _serial = one_at_a_time();
    let run = results_run(&[], true);
    let records = run.records();
    let report = run.report();
    let pid = run.ready["pid"].as_i64().unwrap();
    let mine = of_pid(&records, pid);
    let got: Vec<_> = mine.iter().map(outcome).collect();
    assert_eq!(
        got,
        expected_calls(run.rest.lines().next().unwrap()),
        "{mine:#?}"
    );

    for r in &mine {
        assert_eq!(r["comm"], RESULTS_COMM);
        if r["syscall"] == "exit_group" {
            assert!(r["ret"].is_null() && r["duration_ns"].is_null(), "{r}");
        } else {
            assert!(r["duration_ns"].as_u64().is_some(), "{r}");
        }
    }
    let sleep = mine.iter().find(|r| r["syscall"] == "nanosleep").unwrap();
    let slept = sleep["duration_ns"].as_u64().unwrap();
    assert!((SLEEP_NS..SLEEP_NS * 20).contains(&slept), "{sleep}");
    let failed_exec = mine.iter().find(|r| r["syscall"] == "execve").unwrap();
    assert_eq!(failed_exec["filename"], MISSING);

    // The child's successful execve: one record, ret 0, from sched_process_exec.
    let child = of_pid(&records, report["child"].as_i64().unwrap());
    assert_eq!(child.len(), 1, "{child:#?}");
    assert_eq!(outcome(&child[0]), ("execve".into(), Some(0), None));
    assert_eq!(child[0]["filename"], run.ready["exe"]);

    // The blocker: pipe2 returned, read never did: unfinished at shutdown.
    let blocker = of_pid(&records, report["blocker"].as_i64().unwrap());
    let got: Vec<_> = blocker.iter().map(outcome).collect();
    assert_eq!(
        got,
        vec![
            ("close".into(), Some(0), None),
            ("pipe2".into(), Some(0), None),
            ("read".into(), None, None)
        ],
        "{blocker:#?}"
    );
    assert_eq!(blocker[2]["unfinished"], true);
    assert!(blocker[2]["duration_ns"].as_u64().unwrap() >= 100_000_000);

    let summary = run.summary();
    let results = &summary["results"];
    // The go byte's read began before the logger attached: its exit has no entry.
    assert_eq!(results["unpaired"], 1, "{summary}");
    assert_eq!(results["unfinished_held"], 1, "{summary}");
    assert_eq!(results["evicted"], 0, "{summary}");
    let seen = summary["seen"].as_u64().unwrap();
    let delivered = summary["delivered"].as_u64().unwrap();
    let filtered = results["filtered"].as_u64().unwrap();
    assert_eq!(
        delivered + summary["lost"].as_u64().unwrap() + filtered,
        seen
    );
    assert_eq!(delivered as usize, records.len());
}

#[test]
fn human_lines_end_like_strace_t() {
    require_bpf!();
    let _serial = one_at_a_time();
    let args = ["--results", "--args", "--comm", RESULTS_COMM];
    let mut cmd = Command::new(BINS.scenario());
    cmd.args(["--act-results", "--no-blocker"]);
    let mut actor = ReportingActor::start(cmd);
    let logger = BINS.start_logger(&args);
    logger.wait_for_stderr(Duration::from_secs(30), |l| l.contains("dispatch="));
    actor.go();
    actor.finish();
    logger.signal(Signal::SIGINT);
    let (status, lines, stderr) = logger.finish(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    let find = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}: {lines:#?}"))
    };
    let open = find(&format!("openat(AT_FDCWD, \"{MISSING}\""));
    let (before, tail) = open.rsplit_once(" = -1 ENOENT <").expect(open);
    assert!(before.ends_with(')'), "{open}");
    assert_eq!(tail.len(), "0.000012>".len(), "{open}");
    assert!(find("close(-1)").contains(") = -1 EBADF <"));
    assert!(find("Another syscall: exit_group(").ends_with(") = ?"));
    let sleep = find("nanosleep(");
    assert!(sleep.contains(" = 0 <0.0"), "{sleep}");
}

/// strace's return values for the same actor, call by call, match ours.
#[test]
fn return_values_agree_with_strace() {
    require_bpf!();
    let _serial = one_at_a_time();
    require_tool!("strace");
    let out = tempdir().join("strace.out");
    // clone left out: the logger ignores it by default.
    let calls = "openat,close,getppid,execve,nanosleep,wait4,write,exit_group,read";
    let mut cmd = Command::new("strace");
    cmd.args(["-qq", "-o"])
        .arg(&out)
        .args(["-e", &format!("trace={calls}"), &BINS.scenario()])
        .args(["--act-results", "--no-blocker"]);
    let logger_args = ["--json", "--results", "--comm", RESULTS_COMM];
    let mut actor = ReportingActor::start(cmd);
    let logger = BINS.start_logger(&logger_args);
    logger.wait_for(Duration::from_secs(30), |l| {
        l.contains("\"type\":\"start\"")
    });
    actor.go();
    actor.finish();
    logger.signal(Signal::SIGINT);
    let (status, lines, stderr) = logger.finish(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");

    // strace: every call after the read of the go byte, as (name, ret, errno).
    let text = std::fs::read_to_string(&out).unwrap();
    let traced: Vec<(String, Option<i64>, Option<String>)> = text
        .lines()
        .filter_map(strace_outcome)
        .skip_while(|(name, _, _)| name != "read")
        .skip(1)
        .collect();
    let ours: Vec<_> = parse_lines(&lines)
        .into_iter()
        .filter(|v| v["type"] == "syscall" && v["comm"] == RESULTS_COMM)
        .filter(|v| v["syscall"] != "execve" || v["ret"] != 0)
        .map(|v| outcome(&v))
        .collect();
    assert_eq!(traced.len(), 8, "{text}");
    assert_eq!(ours, traced, "strace:\n{text}");
}

/// `name(...) = RET [ERRNO (text)]` of a strace line; `= ?` is no return.
fn strace_outcome(line: &str) -> Option<(String, Option<i64>, Option<String>)> {
    let name = line.split('(').next()?.trim().to_string();
    // strace pads the result into a column: `getppid()       = 4242`.
    let (call, result) = line.rsplit_once(" = ")?;
    if !call.trim_end().ends_with(')') {
        return None;
    }
    let mut words = result.split_whitespace();
    let ret = words.next()?;
    if ret == "?" {
        return Some((name, None, None));
    }
    let ret: i64 = ret.parse().ok()?;
    match words.next().filter(|w| w.starts_with('E')) {
        Some(errno) => {
            let code = errno_code(errno)?;
            Some((name, Some(-code), Some(errno.to_string())))
        }
        None => Some((name, Some(ret), None)),
    }
}

fn errno_code(name: &str) -> Option<i64> {
    Some(match name {
        "ENOENT" => 2,
        "EBADF" => 9,
        "ECHILD" => 10,
        "EINTR" => 4,
        _ => return None,
    })
}

#[test]
fn failed_keeps_only_errors() {
    require_bpf!();
    let _serial = one_at_a_time();
    let run = results_run(&["--failed"], true);
    let records = run.records();
    let report = run.report();
    let pid = run.ready["pid"].as_i64().unwrap();
    let got: Vec<_> = of_pid(&records, pid).iter().map(outcome).collect();
    let errors: Vec<_> = expected_calls(run.rest.lines().next().unwrap())
        .into_iter()
        .filter(|(_, _, errno)| errno.is_some())
        .collect();
    assert_eq!(got, errors);
    assert_eq!(got.len(), 3);
    for key in ["child", "blocker"] {
        let other = of_pid(&records, report[key].as_i64().unwrap());
        assert!(other.is_empty(), "{key}: {other:#?}");
    }
    // The child's successful execve crossed at entry; the kernel's verdict dropped it.
    assert!(run.summary()["results"]["filtered"].as_u64().unwrap() >= 1);
}

#[test]
fn min_duration_keeps_only_slow_calls() {
    require_bpf!();
    let _serial = one_at_a_time();
    let run = results_run(&["--min-duration", "20ms"], true);
    let records = run.records();
    let report = run.report();
    let pid = run.ready["pid"].as_i64().unwrap();
    let got: Vec<_> = of_pid(&records, pid).iter().map(outcome).collect();
    assert_eq!(
        got,
        vec![("nanosleep".into(), Some(0), None)],
        "{records:#?}"
    );
    // The blocker's read has taken longer than 20 ms when the logger stops.
    let blocker = of_pid(&records, report["blocker"].as_i64().unwrap());
    assert_eq!(blocker.len(), 1, "{blocker:#?}");
    assert_eq!(blocker[0]["syscall"], "read");
    assert_eq!(blocker[0]["unfinished"], true);
}

#[test]
fn count_totals_match_the_calls_made() {
    require_bpf!();
    let _serial = one_at_a_time();
    let args = ["--json", "--count", "--comm", RESULTS_COMM];
    let run = trace(
        &["--act-results"],
        &args,
        Duration::from_millis(300),
        Some("blocker"),
    );
    assert!(run.records().is_empty(), "--count makes no records");
    let counts: Vec<Value> = parse_lines(&run.lines)
        .into_iter()
        .filter(|v| v["type"] == "count")
        .collect();
    let last = counts.last().expect("a count record at exit");
    assert_eq!(last["final"], true);
    let got: BTreeMap<String, (u64, u64)> = last["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let n = |k: &str| s[k].as_u64().unwrap();
            (
                s["syscall"].as_str().unwrap().to_string(),
                (n("calls"), n("errors")),
            )
        })
        .collect();
    // The actor's calls (clone is ignored by default), its child's successful execve, the
    // blocker's close and pipe2; the
    // blocker's read never returned, the go byte's read began before the logger.
    let want: BTreeMap<String, (u64, u64)> = [
        ("openat", (1, 1)),
        ("close", (2, 1)),
        ("getppid", (1, 0)),
        ("execve", (2, 1)),
        ("nanosleep", (1, 0)),
        ("wait4", (1, 0)),
        ("pipe2", (1, 0)),
        ("write", (1, 0)),
        ("exit_group", (1, 0)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got, want, "{last}");
    let sleep = last["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["syscall"] == "nanosleep")
        .unwrap();
    assert!(sleep["total_ns"].as_u64().unwrap() >= SLEEP_NS);
    assert_eq!(last["total"]["calls"], 11);
}

/// 20,000 threads each block in read, with room for 1,024 calls in flight; then the
/// process is killed. The map never grows past its bound, every call is unpaired (its
/// slot evicted or abandoned when its thread died), and no slot outlives its thread.
#[test]
fn slots_stay_bounded_and_die_with_their_threads() {
    require_bpf!();
    let _serial = one_at_a_time();
    const THREADS: usize = 20_000;
    let n = THREADS.to_string();
    let mut cmd = Command::new(BINS.scenario());
    cmd.args(["--act-threads", &n]);
    let mut actor = ReportingActor::start(cmd);
    let events = tempdir().join("events.jsonl");
    let events_arg = events.to_string_lossy().into_owned();
    let args = [
        "--json",
        "--results",
        "--comm",
        THREADS_COMM,
        "--max-pending",
        "1024",
        "--output",
        &events_arg,
    ];
    let logger = BINS.start_logger(&args);
    wait_for_start(&events);
    actor.go();
    let started: Value = serde_json::from_str(&actor.read_line()).expect("threads report");
    assert_eq!(
        started["threads"], THREADS as u64,
        "the host refused threads"
    );
    std::thread::sleep(Duration::from_millis(500));
    actor.child.kill().unwrap();
    actor.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    logger.signal(Signal::SIGINT);
    let (status, _, stderr) = logger.finish(Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    let text = std::fs::read_to_string(&events).unwrap();
    let summary: Value = text
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(|v| v["type"] == "summary")
        })
        .unwrap_or_else(|| panic!("no summary: {stderr}"));
    let results = &summary["results"];
    assert_eq!(results["pending_capacity"], 1024, "{summary}");
    assert_eq!(
        results["pending_slots"], 0,
        "a slot outlived its thread: {summary}"
    );
    // A killed thread still passes sys_exit (its read ends with ERESTARTSYS): the reads
    // that kept their slot are reported, those whose slot was evicted are unpaired.
    let pid = actor.child.id() as i64;
    let reads = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["syscall"] == "read" && v["pid"] == pid && v["tid"] != pid)
        .count() as u64;
    let unpaired = results["unpaired"].as_u64().unwrap();
    // ... and the go byte's read began before the logger attached.
    assert_eq!(
        reads + unpaired,
        THREADS as u64 + 1,
        "{reads} reads, {summary}"
    );
    assert!(reads <= 1024, "{reads} reads with 1024 slots");
    assert!(results["evicted"].as_u64().unwrap() >= (THREADS - 1024) as u64);
}

/// Waits until the logger wrote its start record to `path`.
fn wait_for_start(path: &std::path::Path) {
    for _ in 0..300 {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains("\"type\":\"start\"")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the logger never started");
}

/// A thread execs while another thread of the process is blocked in read: the exec's
/// result pairs with the exec'ing thread's entry; the blocked call ends unfinished when
/// the kernel kills its thread.
#[test]
fn exec_while_another_call_is_pending() {
    require_bpf!();
    let _serial = one_at_a_time();
    let args = ["--json", "--results", "--comm", THREADS_COMM];
    let run = trace(
        &["--act-exec-thread"],
        &args,
        Duration::from_millis(200),
        None,
    );
    let report = run.report();
    let records = run.records();
    let exec_tid = report["exec_tid"].as_i64().unwrap();
    let blocked_tid = report["blocked_tid"].as_i64().unwrap();
    let exec = records
        .iter()
        .find(|r| r["syscall"] == "execve" && r["tid"].as_i64() == Some(exec_tid))
        .unwrap_or_else(|| panic!("no execve of tid {exec_tid}: {records:#?}"));
    assert_eq!(outcome(exec), ("execve".into(), Some(0), None));
    let read = records
        .iter()
        .find(|r| r["syscall"] == "read" && r["tid"].as_i64() == Some(blocked_tid))
        .unwrap_or_else(|| panic!("no read of tid {blocked_tid}: {records:#?}"));
    // The kernel ends the other threads' calls for the exec: the read returns the
    // kernel-internal ERESTARTSYS on its way out (its thread never sees it).
    assert_eq!(read["errno"], "ERESTARTSYS", "{read}");
}
