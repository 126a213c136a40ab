//! Reliability and security guarantees (RELIABILITY.md lists each with its test): exact loss
//! accounting, clean shutdown, hostile input, user-memory faults, least privilege.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use tailcall_logger_testkit::checks::{b64_decode, recover_bytes};
use tailcall_logger_testkit::fixtures::{
    hostile_argv, hostile_target, EXEC_ARGV, EXEC_MARK, FAULT_TARGET, HOSTILE_COMM,
};
use tailcall_logger_testkit::{
    assert_no_terminal_controls, bins, delivered, go, parse_lines, require_bpf, require_tool,
    tempdir, wait_exit, Bins, Logger,
};

const BINS: Bins = bins!();

fn start_json(args: &[&str]) -> (Logger, Vec<String>) {
    let logger = BINS.start_logger(args);
    let lines = logger.wait_for(Duration::from_secs(30), |l| {
        l.contains("\"type\":\"start\"")
    });
    (logger, lines)
}

/// The logger is frozen (SIGSTOP) while a pinned actor makes N logged syscalls into a
/// one-page buffer; after SIGCONT and drain, delivered + reported lost == N + 1 (the
/// actor's exit_group), exactly, and the in-band lost records add up to the summary.
fn loss_is_exact(transport: &str, extra: &[&str], capacity: u64) {
    for n in [0, 1, capacity - 1, capacity, 8 * capacity] {
        let mut act = BINS.actor(&["--calls", &n.to_string(), "--pin", "0"]);
        let pid = act.id().to_string();
        let mut args = vec!["--json", "--pid", &pid, "--transport", transport];
        args.extend_from_slice(extra);
        let (logger, mut lines) = start_json(&args);
        logger.signal(Signal::SIGSTOP);
        go(&mut act);
        assert!(act.wait().unwrap().success());
        logger.signal(Signal::SIGCONT);
        logger.signal(Signal::SIGINT);
        let (status, rest, stderr) = logger.finish(Duration::from_secs(10));
        assert!(status.success(), "{stderr}");
        lines.extend(rest);
        let records = parse_lines(&lines);
        let mine = records
            .iter()
            .filter(|r| r["type"] == "syscall" && r["pid"] == act.id())
            .count() as u64;
        let in_band: u64 = records
            .iter()
            .filter(|r| r["type"] == "lost")
            .map(|r| r["count"].as_u64().unwrap())
            .sum();
        let summary = records
            .iter()
            .find(|r| r["type"] == "summary")
            .expect("summary");
        let lost = summary["lost"].as_u64().unwrap();
        assert_eq!(
            mine + lost,
            n + 1,
            "{transport} N={n}: delivered {mine} + lost {lost}"
        );
        assert_eq!(
            in_band, lost,
            "{transport} N={n}: in-band lost records add up"
        );
        assert_eq!(
            summary["seen"].as_u64().unwrap(),
            n + 1,
            "{transport} N={n}"
        );
        assert_eq!(
            summary["delivered"].as_u64().unwrap(),
            mine,
            "{transport} N={n}"
        );
        if n + 1 < capacity {
            assert_eq!(lost, 0, "{transport} N={n}: fits in the buffer");
        } else if n >= 8 * capacity {
            assert!(lost > 0, "{transport} N={n}: must overflow");
        }
        eprintln!("{transport} N={n}: delivered {mine}, lost {lost}");
    }
}

#[test]
fn loss_accounting_is_exact_with_the_ring_buffer() {
    require_bpf!();
    // 4096 bytes of ring; a record is 48 bytes plus an 8-byte ring header: 73 fit.
    loss_is_exact("ringbuf", &["--ringbuf-bytes", "4096"], 4096 / 56);
}

#[test]
fn loss_accounting_is_exact_with_the_perf_buffer() {
    require_bpf!();
    // One 4096-byte page per CPU; a sample is 48 bytes plus 12 of headers, 8-aligned: 64.
    loss_is_exact("perf", &["--perf-pages", "1"], 4096 / 64);
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A reader that stalls (`| (sleep; cat)`) under a syscall storm: the kernel drops and
/// counts, memory stays bounded, output resumes, nothing deadlocks.
#[test]
fn stalled_reader_keeps_memory_bounded_and_counts_drops() {
    require_bpf!();
    let mut storm = BINS.actor(&["--calls", "2000000000", "--pin", "0"]);
    let pid = storm.id().to_string();
    let mut logger = Command::new(BINS.logger)
        .args(["--json", "--pid", &pid, "--ringbuf-bytes", "1048576"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = logger.stdout.take().unwrap();
    go(&mut storm);
    // Nobody reads for 3 s: the pipe fills, the logger blocks in write, the ring overflows.
    std::thread::sleep(Duration::from_secs(3));
    let hwm_stalled = vm_hwm_kib(logger.id());
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0usize;
        let mut tail = Vec::new();
        loop {
            match std::io::Read::read(&mut stdout, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n;
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > 1 << 20 {
                        tail.drain(..tail.len() - 4096);
                    }
                }
            }
        }
        (total, tail)
    });
    std::thread::sleep(Duration::from_secs(2));
    let hwm = vm_hwm_kib(logger.id());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(logger.id() as i32),
        Signal::SIGINT,
    )
    .unwrap();
    let status = wait_exit(
        &mut logger,
        Duration::from_secs(5),
        "logger deadlocked after SIGINT",
    );
    let _ = storm.kill();
    let _ = storm.wait();
    let (total, tail) = reader.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut logger.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        total > 1 << 20,
        "output resumed after the stall ({total} bytes)"
    );
    let last = String::from_utf8_lossy(&tail);
    let summary: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(summary["type"], "summary");
    assert!(
        summary["lost"].as_u64().unwrap() > 0,
        "the storm overflowed a 1 MiB ring: {summary}"
    );
    assert_eq!(
        summary["emitted"].as_u64().unwrap(),
        summary["delivered"].as_u64().unwrap() + summary["malformed"].as_u64().unwrap(),
        "everything emitted was delivered after the drain: {summary}"
    );
    assert!(
        hwm < 64 * 1024,
        "peak RSS {hwm} KiB (stalled: {hwm_stalled} KiB)"
    );
    eprintln!("stalled reader: peak RSS {hwm} KiB, {summary}");
}

/// The BPF programs and links a process holds, from its fdinfo.
fn bpf_objects_of(pid: u32) -> Vec<(&'static str, u32)> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return found;
    };
    for entry in dir.flatten() {
        let info = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for (key, kind) in [("link_id:", "link"), ("prog_id:", "prog")] {
            if let Some(id) = info.lines().find_map(|l| l.strip_prefix(key)) {
                found.push((kind, id.trim().parse().unwrap()));
                break;
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

fn still_loaded(objects: &[(&str, u32)]) -> Vec<String> {
    objects
        .iter()
        .filter(|(kind, id)| {
            Command::new("bpftool")
                .args([kind, "show", "id", &id.to_string()])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|(kind, id)| format!("{kind} {id}"))
        .collect()
}

fn wait_released(objects: &[(&str, u32)]) {
    let t = Instant::now();
    loop {
        let left = still_loaded(objects);
        if left.is_empty() {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "still loaded: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGINT and SIGTERM during a storm: exit 0 within 2 s with a summary; SIGKILL: nothing
/// stays attached. 20 times each.
#[test]
fn signals_stop_cleanly_and_leave_nothing_attached() {
    require_bpf!();
    require_tool!("bpftool");
    let mut storm = BINS.actor(&["--calls", "4000000000", "--pin", "0"]);
    let storm_pid = storm.id().to_string();
    go(&mut storm);
    let mut worst = Duration::ZERO;
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGKILL] {
        for _ in 0..20 {
            let logger =
                BINS.start_logger(&["--json", "--pid", &storm_pid, "--output", "/dev/null"]);
            let t = Instant::now();
            let mut objects = Vec::new();
            while !objects.iter().any(|o: &(&str, u32)| o.0 == "link") {
                assert!(t.elapsed() < Duration::from_secs(30), "never attached");
                std::thread::sleep(Duration::from_millis(10));
                objects = bpf_objects_of(logger.child.id());
            }
            std::thread::sleep(Duration::from_millis(100));
            let objects = bpf_objects_of(logger.child.id());
            assert!(
                objects.iter().any(|o| o.0 == "link") && objects.iter().any(|o| o.0 == "prog"),
                "{objects:?}"
            );
            let t = Instant::now();
            logger.signal(sig);
            let (status, _, stderr) = logger.finish(Duration::from_secs(2));
            worst = worst.max(t.elapsed());
            if sig == Signal::SIGKILL {
                assert_eq!(
                    std::os::unix::process::ExitStatusExt::signal(&status),
                    Some(9)
                );
            } else {
                assert!(status.success(), "{sig}: {status} {stderr}");
                assert!(
                    stderr.contains("records delivered"),
                    "{sig}: no summary: {stderr}"
                );
            }
            wait_released(&objects);
        }
    }
    let _ = storm.kill();
    let _ = storm.wait();
    eprintln!("slowest stop after a signal: {worst:?}");
}

/// `| head -n 1` on an idle system: nothing more is written, yet the logger notices its
/// reader left and exits within 1 s.
#[test]
fn head_exits_promptly_on_an_idle_system() {
    require_bpf!();
    let mut child = Command::new(BINS.logger)
        .args(["--json", "--comm", "no-such-comm"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(first.contains("\"type\":\"start\""), "{first}");
    drop(stdout); // what `head -n 1` does after its line
    let status = wait_exit(
        &mut child,
        Duration::from_secs(1),
        "still running after its reader left",
    );
    assert!(status.success());
}

/// SIGHUP reopens --output: records before go to the renamed file, after to the new one,
/// none lost.
#[test]
fn sighup_reopens_the_output_without_losing_records() {
    require_bpf!();
    let dir = tempdir();
    let path = dir.join("events.jsonl");
    let rotated = dir.join("events.jsonl.1");
    let mut act = BINS.actor(&["--calls", "500", "--phases", "2"]);
    let pid = act.id().to_string();
    let logger = BINS.start_logger(&["--json", "--pid", &pid, "--output", path.to_str().unwrap()]);
    let count = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"syscall\":\"getppid\""))
            .count()
    };
    let wait_until = |what: &str, f: &dyn Fn() -> bool| {
        let t = Instant::now();
        while !f() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_until("start record", &|| {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains("\"start\"")
    });
    go(&mut act);
    wait_until("phase 1", &|| count(&path) == 500);
    std::fs::rename(&path, &rotated).unwrap();
    logger.signal(Signal::SIGHUP);
    wait_until("reopen", &|| path.exists());
    go(&mut act);
    assert!(act.wait().unwrap().success());
    logger.signal(Signal::SIGINT);
    let (status, _, stderr) = logger.finish(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    assert_eq!(count(&rotated), 500);
    assert_eq!(count(&path), 500);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

fn run_hostile(json: bool) -> (Vec<String>, String, std::path::PathBuf, u32) {
    let target = hostile_target();
    let mut act = BINS.actor(&[std::ffi::OsStr::new("--hostile"), target.as_os_str()]);
    let pid = act.id();
    let pid_s = pid.to_string();
    let mut args = vec!["--pid", pid_s.as_str(), "--skip-others"];
    if json {
        args.push("--json");
    }
    let logger = BINS.start_logger(&args);
    if json {
        logger.wait_for(Duration::from_secs(30), |l| {
            l.contains("\"type\":\"start\"")
        });
    } else {
        logger.wait_for_stderr(Duration::from_secs(30), |l| l.contains("dispatch="));
    }
    go(&mut act);
    let _ = act.wait();
    let mut lines = logger.wait_for(Duration::from_secs(10), |l| l.contains("xecut"));
    logger.signal(Signal::SIGINT);
    let (status, rest, stderr) = logger.finish(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    lines.extend(rest);
    (lines, stderr, target, pid)
}

#[test]
fn hostile_strings_in_json_parse_and_round_trip() {
    require_bpf!();
    require_tool!("jq");
    use std::os::unix::ffi::OsStrExt;
    let (lines, _, target, pid) = run_hostile(true);
    let records = parse_lines(&lines);
    let exec = records
        .iter()
        .find(|r| r["handler"] == "exec" && r["pid"] == pid)
        .expect("exec record");
    assert_eq!(recover_bytes(exec, "comm"), HOSTILE_COMM);
    assert_eq!(
        recover_bytes(exec, "filename"),
        target.as_os_str().as_bytes()
    );
    let argv: Vec<Vec<u8>> = match exec.get("argv_b64") {
        Some(Value::Array(a)) => a.iter().map(|v| b64_decode(v.as_str().unwrap())).collect(),
        _ => panic!("argv has invalid UTF-8, so argv_b64 must be there: {exec}"),
    };
    assert_eq!(argv, hostile_argv());
    assert_no_terminal_controls(&lines);
    let mut jq = Command::new("jq")
        .args(["-e", "."])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    jq.stdin
        .take()
        .unwrap()
        .write_all((lines.join("\n") + "\n").as_bytes())
        .unwrap();
    assert!(jq.wait().unwrap().success());
}

#[test]
fn hostile_strings_in_human_lines_are_escaped_one_line_each() {
    require_bpf!();
    let (lines, stderr, _, _) = run_hostile(false);
    assert_no_terminal_controls(&lines);
    let exec = lines
        .iter()
        .find(|l| l.contains("Executing a program"))
        .unwrap();
    assert!(exec.contains("\\e[2Jev\\rl\\x07\\u{9b}\\xff-"), "{exec}");
    // The filename has a space: printed in quotes, escapes inside.
    assert!(
        exec.contains("/ev\\e[31mil\\n\\xff\\u{202e} name\" "),
        "{exec}"
    );
    assert!(exec.contains(
        " \\e]0;owned\\x07 line1\\nline2\\r \\u{9b}31m\\u{202e}txt.exe \"quote\\\" and 'single' and space\" \"\" bad\\xff\\xfeutf8 back\\\\slash"
    ), "{exec}");
    assert_eq!(delivered(&stderr), lines.len(), "one line per record");
}

/// Unreadable or oversized user memory is marked in the record, never an empty string.
#[test]
fn user_memory_faults_are_marked() {
    require_bpf!();
    let mut act = BINS.actor(&["--faults"]);
    let pid = act.id();
    let pid_s = pid.to_string();
    let (logger, mut lines) = start_json(&["--json", "--pid", &pid_s]);
    go(&mut act);
    assert!(act.wait().unwrap().success());
    logger.signal(Signal::SIGINT);
    let (status, rest, stderr) = logger.finish(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    lines.extend(rest);
    let records = parse_lines(&lines);
    let execs: Vec<&Value> = records.iter().filter(|r| r["handler"] == "exec").collect();
    assert_eq!(execs.len(), 5, "{execs:?}");
    let missing = FAULT_TARGET;
    // 1: filename in an unmapped page
    assert_eq!(execs[0]["filename_status"], "fault");
    assert_eq!(execs[0]["argv"], serde_json::json!([missing]));
    // 2: NULL argv
    assert_eq!(execs[1]["filename"], missing);
    assert_eq!(execs[1]["argv_status"], "null");
    assert_eq!(execs[1]["argc"], 0);
    // 3: 10,000 arguments: the first 32, marked truncated
    assert_eq!(execs[2]["argv_status"], "truncated");
    assert_eq!(execs[2]["argv_truncated"], true);
    assert_eq!(execs[2]["argc"], 32);
    assert_eq!(execs[2]["argv"][31], "a31");
    // 4: one 128 KiB argument: 255 bytes of it, marked truncated
    assert_eq!(execs[3]["argv_status"], "truncated");
    assert_eq!(execs[3]["argv"][1].as_str().unwrap().len(), 255);
    // 5: argv in an unmapped page
    assert_eq!(execs[4]["argv_status"], "fault");
    let summary = records.iter().find(|r| r["type"] == "summary").unwrap();
    assert!(summary["read_faults"].as_u64().unwrap() >= 2, "{summary}");
}

/// CAP_BPF and CAP_PERFMON are enough: a non-root user with only those (ambient) runs it.
#[test]
fn runs_with_only_cap_bpf_and_cap_perfmon() {
    require_bpf!();
    require_tool!("setpriv");
    for transport in ["ringbuf", "perf"] {
        let out = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all,+bpf,+perfmon",
                "--ambient-caps=+bpf,+perfmon",
                BINS.logger,
                "--json",
                "--skip-others",
                "--duration",
                "1",
                "--transport",
                transport,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{transport}: {stderr}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines().next().unwrap().contains("\"type\":\"start\""),
            "{text}"
        );
        assert!(
            text.lines()
                .last()
                .unwrap()
                .contains("\"type\":\"summary\""),
            "{text}"
        );
    }
}

#[test]
fn no_argv_keeps_argv_in_the_kernel_and_redact_masks_matches() {
    require_bpf!();
    for (flags, check) in [
        (vec!["--no-argv"], "omitted"),
        (
            vec!["--redact", "two\\s+words", "--redact", "x=\\d"],
            "redacted",
        ),
    ] {
        let mut act = BINS.actor(&["--act"]);
        let pid = act.id().to_string();
        let mut args = vec!["--json", "--pid", pid.as_str(), "--skip-others"];
        args.extend(flags.iter().copied());
        let (logger, _) = start_json(&args);
        go(&mut act);
        assert!(act.wait().unwrap().success());
        let lines = logger.wait_for(Duration::from_secs(10), |l| l.contains("\"exec\""));
        logger.signal(Signal::SIGINT);
        let _ = logger.finish(Duration::from_secs(10));
        let exec: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        match check {
            "omitted" => {
                assert_eq!(exec["argv_status"], "omitted");
                assert_eq!(exec["argv"], serde_json::json!([]));
            }
            _ => assert_eq!(
                exec["argv"],
                serde_json::json!([EXEC_ARGV[0], EXEC_MARK, "<redacted>", "<redacted>"])
            ),
        }
    }
}
