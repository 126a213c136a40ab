//! `--args` on the host kernel: the `--act-args` actor (testkit::actors::act_args) makes
//! known raw syscalls, and every record must carry exactly the arguments it passed
//! (testkit::args has the expected records); its calls agree with strace's; a 32-bit
//! program's syscalls are named by the i386 table.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{json, Value};
use tailcall_logger_testkit::args::{self, Done, Expected, Ready};
use tailcall_logger_testkit::fixtures::{ARGS_COMM, CHILD_COMM, DEFAULT_STRING_SIZE};
use tailcall_logger_testkit::{bins, require_bpf, require_tool, tempdir, Bins, ReportingActor};

const BINS: Bins = bins!();

/// Lets `actor` (process `pid`) act while a logger with `logger_args` and `--pid PID`
/// traces it; returns the logger's stdout lines and the rest of the actor's stdout.
fn trace(
    mut actor: ReportingActor,
    pid: u32,
    json: bool,
    logger_args: &[&str],
) -> (Vec<String>, String) {
    let pid = pid.to_string();
    let mut all = vec!["--pid", pid.as_str()];
    if json {
        all.push("--json");
    }
    all.extend_from_slice(logger_args);
    let logger = BINS.start_logger(&all);
    let mut lines = if json {
        logger.wait_for(Duration::from_secs(30), |l| {
            l.contains("\"type\":\"start\"")
        })
    } else {
        // Human mode announces the plan on stderr once attached.
        logger.wait_for_stderr(Duration::from_secs(30), |l| l.contains("dispatch="));
        Vec::new()
    };
    actor.go();
    let rest = actor.finish();
    logger.signal(Signal::SIGINT);
    let (status, more, stderr) = logger.finish(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    lines.extend(more);
    (lines, rest)
}

/// The syscall records of process `pid`, each with its line, from the first one that is
/// not the `read` of the go byte (logged only if the logger attached before the actor
/// blocked in it).
fn records_of(lines: &[String], pid: u32) -> Vec<(String, Value)> {
    let mut recs: Vec<(String, Value)> = lines
        .iter()
        .map(|l| {
            (
                l.clone(),
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")),
            )
        })
        .filter(|(_, v): &(String, Value)| v["type"] == "syscall" && v["pid"] == pid)
        .collect();
    // The perf transport hands records over per CPU: a thread that moved between CPUs has
    // its records out of order across buffers. Each carries its entry time (README: sort by
    // ktime_ns).
    recs.sort_by_key(|(_, v)| v["ktime_ns"].as_u64().unwrap_or(0));
    let first = recs
        .iter()
        .position(|(_, v)| v["syscall"] != "read")
        .unwrap_or(recs.len());
    recs.drain(..first);
    recs
}

/// One run of `--act-args --probes` under `--args --json`, shared by the tests that assert
/// parts of it.
struct JsonRun {
    ready: Ready,
    done: Done,
    records: Vec<(String, Value)>,
}

/// `--act-args` (with `--probes` or not) traced by `--args --json --no-default-ignore` and
/// `logger_args`.
fn json_traced(probes: bool, logger_args: &[&str]) -> JsonRun {
    let actor = ReportingActor::start(BINS.args_actor(&tempdir(), probes));
    let ready = Ready::parse(&actor.ready).unwrap();
    let mut all = vec!["--args", "--no-default-ignore"];
    all.extend_from_slice(logger_args);
    let (lines, rest) = trace(actor, ready.pid, true, &all);
    let done = Done::parse(rest.trim()).unwrap();
    let records = records_of(&lines, ready.pid);
    JsonRun {
        ready,
        done,
        records,
    }
}

fn json_run() -> &'static JsonRun {
    static RUN: OnceLock<JsonRun> = OnceLock::new();
    RUN.get_or_init(|| json_traced(true, &[]))
}

/// The shared run, and the records its main calls and its probes must cause.
fn json_expectations() -> (&'static JsonRun, Vec<Expected>, Vec<Expected>) {
    let run = json_run();
    let main = args::main_calls(&run.ready, &run.done, DEFAULT_STRING_SIZE);
    let probes = args::probe_calls(&run.ready, &run.done, DEFAULT_STRING_SIZE);
    (run, main, probes)
}

fn assert_records(records: &[(String, Value)], want: &[Expected]) {
    assert!(
        records.len() >= want.len(),
        "{} records: {records:#?}",
        records.len()
    );
    for (i, (w, (line, rec))) in want.iter().zip(records).enumerate() {
        if let Err(e) = w.check(line, rec) {
            panic!("record {i}: {e}");
        }
    }
}

#[test]
fn args_json_records_are_exact() {
    require_bpf!();
    let (run, main, probes) = json_expectations();
    assert_records(&run.records, &main);
    // Then the probes (asserted by the tests below), then the write of the actor's report.
    let after = &run.records[main.len() + probes.len()].1;
    assert_eq!(after["syscall"], "write", "{after}");
    for (_, r) in &run.records {
        assert_eq!(r["comm"], ARGS_COMM, "{r}");
        assert_eq!(r["handler"], "other", "{r}");
        assert_eq!(
            r["message"],
            format!("Another syscall: {}", r["syscall"].as_str().unwrap())
        );
        assert!(
            r.get("compat").is_none(),
            "a native call marked compat: {r}"
        );
    }
}

/// The same records whichever dispatcher and transport carry them (records with arguments
/// are up to 8 KiB).
#[test]
fn args_records_are_exact_on_every_dispatcher_and_transport() {
    require_bpf!();
    for (dispatch, transport) in [("inline", "ringbuf"), ("tail", "perf"), ("inline", "perf")] {
        let run = json_traced(false, &["--dispatch", dispatch, "--transport", transport]);
        let main = args::main_calls(&run.ready, &run.done, DEFAULT_STRING_SIZE);
        assert_records(&run.records, &main);
        let after = &run.records[main.len()].1;
        assert_eq!(after["syscall"], "write", "{dispatch} {transport}: {after}");
    }
}

/// A path of exactly `--string-size` - 1 bytes fits with its NUL: it is not truncated.
#[test]
fn args_path_that_fits_the_string_size_is_not_truncated() {
    require_bpf!();
    let (run, main, probes) = json_expectations();
    assert_records(&run.records[main.len()..], &probes[..1]);
}

/// open's mode is shown as 0 in the call when the flags do not create a file, whatever is
/// in the register; `args` keeps the register's value.
#[test]
fn args_open_mode_is_0_when_the_flags_do_not_create() {
    require_bpf!();
    let (run, main, probes) = json_expectations();
    assert_records(&run.records[main.len() + 1..], &probes[1..]);
}

/// One run of `--act-args` under `--args` in human lines: the messages (what follows
/// `COMM-PID [CPU] SECS.MICROS: `) from the first call on, and the records they must show.
fn human_run() -> &'static (Vec<String>, Vec<Expected>) {
    static RUN: OnceLock<(Vec<String>, Vec<Expected>)> = OnceLock::new();
    RUN.get_or_init(|| {
        let actor = ReportingActor::start(BINS.args_actor(&tempdir(), false));
        let ready = Ready::parse(&actor.ready).unwrap();
        let (lines, rest) = trace(actor, ready.pid, false, &["--args", "--no-default-ignore"]);
        let done = Done::parse(rest.trim()).unwrap();
        let prefix = format!("{ARGS_COMM}-{}", ready.pid);
        let messages: Vec<String> = lines
            .iter()
            .map(|l| {
                assert!(l.trim_start().starts_with(&prefix), "{l}");
                l.split_once(": ")
                    .unwrap_or_else(|| panic!("layout: {l}"))
                    .1
                    .to_string()
            })
            .skip_while(|m| m.starts_with("Another syscall: read("))
            .collect();
        let want = args::main_calls(&ready, &done, DEFAULT_STRING_SIZE);
        assert!(messages.len() > want.len(), "{messages:#?}");
        let after = &messages[want.len()];
        assert!(after.starts_with("Another syscall: write(1, 0x"), "{after}");
        (messages, want)
    })
}

/// A path that is not UTF-8 (its call text has strace's octal escape, a backslash).
fn is_not_utf8_path(want: &Expected) -> bool {
    want.args.iter().any(|(k, _)| k.ends_with("_b64"))
}

/// The message is the wording, `: `, then the call text, exactly.
#[test]
fn args_human_lines_show_the_call_after_the_wording() {
    require_bpf!();
    let (messages, want) = human_run();
    for (i, (m, w)) in messages.iter().zip(want).enumerate() {
        if !is_not_utf8_path(w) {
            assert_eq!(*m, w.human(), "line {i}");
        }
    }
}

/// The call text is already escaped strace's way (printable ASCII only): the human line
/// shows it as it is, not with its backslashes doubled (`"caf\351"` would read as a
/// backslash and then "351").
#[test]
fn args_human_line_shows_an_escaped_path_as_the_call_has_it() {
    require_bpf!();
    let (messages, want) = human_run();
    let i = want.iter().position(is_not_utf8_path).unwrap();
    assert_eq!(messages[i], want[i].human());
}

/// The scenario's child under `--args`: the cell the VMs run on every kernel.
#[test]
fn args_scenario_cell() {
    require_bpf!();
    BINS.scenario_cell("args", &[], &["--args"]);
}

/// An exec record with `--args` shows the filename it read as a string, like any path.
#[test]
fn args_exec_record_shows_the_filename() {
    require_bpf!();
    let dir = tempdir();
    let out = dir.join("cell.jsonl");
    let out = out.to_str().unwrap();
    BINS.scenario_cell(
        "args-exec",
        &["--only-child", "--dump", out],
        &["--args", "--comm", CHILD_COMM],
    );
    let text = std::fs::read_to_string(out).unwrap();
    let exec: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(exec["syscall"], "execve", "{exec}");
    let filename = exec["filename"].as_str().unwrap();
    assert_eq!(exec["args"]["filename"], filename, "{exec}");
    let call = exec["call"].as_str().unwrap();
    assert!(
        call.starts_with(&format!("execve(\"{filename}\", 0x")),
        "{call}"
    );
}

// strace's view of the same calls. Compared: every call of these families between the
// actor's read of the go byte and the write of its report.
const COMPARED: &[&str] = &[
    "openat",
    "close",
    "mkdirat",
    "renameat2",
    "unlinkat",
    "socket",
    "connect",
    "mmap",
    "munmap",
    "kill",
];
/// Traced but not compared, and why.
const EXCLUDED: &[(&str, &str)] = &[
    (
        "clone",
        "strace names clone's fields in an order of its own (child_stack=NULL, flags=SIGCHLD); \
         the call follows the kernel's signature: clone(SIGCHLD, 0, NULL, NULL, 0)",
    ),
    (
        "wait4",
        "strace prints the status the kernel writes back ([{WIFSIGNALED(s) && ...}]), known \
         only at exit; a record made at entry has the pointer",
    ),
];
/// O_CREAT and __O_TMPFILE (the same on x86_64 and arm64).
const CREATES: u64 = 0o100 | 0o20000000;

/// Our call text with the one documented difference from strace taken out: strace omits
/// open's mode when the flags do not create a file, where the call shows `, 0`.
fn normalise_ours(rec: &Value) -> String {
    let call = rec["call"].as_str().unwrap();
    let no_mode =
        rec["syscall"] == "openat" && rec["args"]["flags"].as_u64().unwrap() & CREATES == 0;
    match call.strip_suffix(", 0)") {
        Some(head) if no_mode => format!("{head})"),
        _ => call.to_string(),
    }
}

/// strace's lines of process `pid` (`-f -o FILE` starts each with the pid), without the
/// return value (` = 3`, ` = -1 ENOENT (...)`) and the blanks that align it; lines split
/// by another process
/// (`<unfinished ...>`, `<... resumed>`) are left out.
fn strace_calls(path: &Path, pid: u32) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let pid = pid.to_string();
    text.lines()
        .filter_map(|l| {
            l.split_once(' ')
                .filter(|(p, _)| *p == pid)
                .map(|(_, rest)| rest.trim_start())
        })
        .filter(|l| !l.contains("<unfinished ...>") && !l.starts_with("<..."))
        .map(|l| {
            l.rsplit_once(" = ")
                .map_or(l, |(call, _)| call)
                .trim_end()
                .to_string()
        })
        .collect()
}

fn name_of(call: &str) -> &str {
    call.split_once('(').map_or(call, |(n, _)| n)
}

#[test]
fn args_agree_with_strace() {
    require_bpf!();
    require_tool!("strace");
    let dir = tempdir();
    let strace_out = dir.join("strace.out");
    let actor = BINS.args_actor(&dir, false);
    let traced: Vec<&str> = ["read", "write"]
        .iter()
        .chain(COMPARED)
        .chain(EXCLUDED.iter().map(|(n, _)| n))
        .copied()
        .collect();
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "signal=none", "-s", "4096", "-e"])
        .arg(format!("trace={}", traced.join(",")))
        .arg("-o")
        .arg(&strace_out)
        .arg(actor.get_program())
        .args(actor.get_args());
    let actor = ReportingActor::start(cmd);
    let ready = Ready::parse(&actor.ready).unwrap();
    // The whole of every path: strace prints paths in full whatever its -s.
    let (lines, _) = trace(
        actor,
        ready.pid,
        true,
        &["--args", "--no-default-ignore", "--string-size", "4096"],
    );
    let records = records_of(&lines, ready.pid);
    let end = records
        .iter()
        .position(|(_, r)| r["syscall"] == "write")
        .expect("the report's write");
    let ours: Vec<String> = records[..end]
        .iter()
        .filter(|(_, r)| COMPARED.contains(&r["syscall"].as_str().unwrap()))
        .map(|(_, r)| normalise_ours(r))
        .collect();
    let theirs: Vec<String> = {
        let all = strace_calls(&strace_out, ready.pid);
        let go = all
            .iter()
            .position(|c| c.starts_with("read(0, "))
            .expect("strace saw the go read");
        all[go + 1..]
            .iter()
            .take_while(|c| name_of(c) != "write")
            .filter(|c| COMPARED.contains(&name_of(c)))
            .cloned()
            .collect()
    };
    let agree = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
    println!("{agree} of {} calls agree", ours.len());
    for (name, why) in EXCLUDED {
        println!("excluded: {name}: {why}");
    }
    for (a, b) in ours.iter().zip(&theirs).filter(|(a, b)| a != b) {
        println!("ours:   {a}\nstrace: {b}");
    }
    assert_eq!(
        ours.len(),
        theirs.len(),
        "ours {ours:#?}\nstrace {theirs:#?}"
    );
    assert_eq!(
        ours.len(),
        21,
        "every call of the compared families: {ours:#?}"
    );
    assert_eq!(agree, ours.len(), "{agree} of {} calls agree", ours.len());
}

/// A 32-bit program on x86_64: its syscalls are named by the i386 table (getppid is 64
/// there, semget in the native table) and marked compat, with the default ignore list
/// (which ignores the native semget) in force.
#[test]
#[cfg(target_arch = "x86_64")]
fn args_ia32_program_is_named_by_the_i386_table() {
    require_bpf!();
    require_tool!("gcc");
    let dir = tempdir();
    let bin = dir.join("ia32-getppid");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ia32-getppid.c");
    let cc = Command::new("gcc")
        .args(["-m32", "-static", "-O1", "-o"])
        .arg(&bin)
        .arg(src)
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "gcc -m32 -static failed (gcc-multilib: scripts/install-deps.sh test): {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let actor = ReportingActor::start(Command::new(&bin));
    let pid = actor.child.id();
    let message = u64::from_str_radix(actor.ready.trim_start_matches("0x"), 16).unwrap();
    let (lines, rest) = trace(actor, pid, true, &["--args"]);
    assert_eq!(rest, "ia32 done\n");
    let records = records_of(&lines, pid);
    let got: Vec<Value> = records
        .iter()
        .map(|(_, r)| json!([r["syscall"], r["nr"], r["compat"], r["args"], r["call"]]))
        .collect();
    let getppid = json!(["getppid", 64, true, {}, "getppid()"]);
    assert_eq!(
        got,
        [
            getppid.clone(),
            getppid.clone(),
            getppid,
            json!(["write", 4, true, {"fd": 1, "buf": format!("{message:#x}"), "count": 10},
                   format!("write(1, {message:#x}, 10)")]),
            json!(["exit_group", 252, true, {"error_code": 0}, "exit_group(0)"]),
        ]
    );
}
