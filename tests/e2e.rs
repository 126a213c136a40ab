//! The logger loaded into the host kernel for real: a helper process makes known syscalls
//! and the tests assert the exact records.

use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use tailcall_logger_testkit::fixtures::{path_in, CHILD_COMM};
use tailcall_logger_testkit::{
    assert_clean_failure, bins, delivered, go, require_bpf, require_tool, tempdir, wait_exit, Bins,
};

const BINS: Bins = bins!();

#[test]
fn exec_and_timer_records_are_exact() {
    require_bpf!();
    BINS.scenario_cell("default", &[], &[]);
}

#[test]
fn skip_others_keeps_only_exec_and_timers() {
    require_bpf!();
    BINS.scenario_cell("skip-others", &[], &["--skip-others"]);
}

#[test]
fn comm_filter_is_applied_in_the_kernel() {
    require_bpf!();
    // --only-child: every record in the stream came from the child.
    BINS.scenario_cell("comm", &["--only-child"], &["--comm", CHILD_COMM]);
}

/// Every dispatcher and transport gives the same records for the same syscalls.
#[test]
fn dispatchers_and_transports_agree() {
    require_bpf!();
    let dir = tempdir();
    let mut sets = Vec::new();
    for dispatch in ["tail", "inline"] {
        for transport in ["ringbuf", "perf"] {
            let dump = path_in(&dir, &format!("{dispatch}-{transport}.jsonl"));
            let label = format!("{dispatch}-{transport}");
            BINS.scenario_cell(
                &label,
                &[
                    "--dump",
                    &dump,
                    "--expect",
                    &format!("dispatch={dispatch}"),
                    "--expect",
                    &format!("transport={transport}"),
                ],
                &["--dispatch", dispatch, "--transport", transport],
            );
            let text = std::fs::read_to_string(&dump).unwrap();
            assert_eq!(text.lines().count(), 7, "{text}");
            sets.push((
                label,
                text.lines().map(String::from).collect::<BTreeSet<_>>(),
            ));
        }
    }
    for (label, set) in &sets[1..] {
        assert_eq!(set, &sets[0].1, "{label} differs from {}", sets[0].0);
    }
}

#[test]
fn human_lines_follow_the_trace_pipe_layout() {
    require_bpf!();
    let scenario = BINS.scenario();
    let mut act = BINS.actor(&["--act"]);
    let pid = act.id().to_string();
    let logger = BINS.start_logger(&["--pid", &pid]);
    // Human mode announces the plan on stderr once attached.
    logger.wait_for_stderr(Duration::from_secs(20), |l| l.contains("dispatch="));
    go(&mut act);
    assert!(act.wait().unwrap().success());
    let lines = logger.wait_for(Duration::from_secs(20), |l| {
        l.contains("Executing a program")
    });
    logger.signal(Signal::SIGINT);
    let (status, rest, stderr) = logger.finish(Duration::from_secs(5));
    assert!(status.success(), "{stderr}");
    let all: Vec<String> = lines.into_iter().chain(rest).collect();
    let layout = |l: &str| -> Option<(String, String)> {
        // "           COMM-PID     [CPU] SECS.MICROS: MESSAGE"
        let (head, msg) = l.split_once(": ")?;
        let (comm_pid, rest) = head.trim_start().split_once(" [")?;
        let (cpu, ts) = rest.split_once("] ")?;
        assert!(
            cpu.len() == 3 && cpu.bytes().all(|b| b.is_ascii_digit()),
            "{l}"
        );
        let (s, us) = ts.split_once('.')?;
        assert!(
            s.bytes().all(|b| b.is_ascii_digit()) && us.len() == 6,
            "{l}"
        );
        Some((comm_pid.trim_end().to_string(), msg.to_string()))
    };
    let parsed: Vec<(String, String)> = all
        .iter()
        .map(|l| layout(l).unwrap_or_else(|| panic!("layout: {l:?}")))
        .collect();
    for (comm_pid, _) in &parsed {
        assert!(
            comm_pid.ends_with(&format!("-{pid}")),
            "record from another pid: {comm_pid}"
        );
    }
    let first = parsed
        .iter()
        .position(|(_, m)| m == "Creating a timer")
        .expect("timer_create line");
    let msgs: Vec<&str> = parsed[first..first + 7]
        .iter()
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(
        msgs,
        [
            "Creating a timer",
            "Some other timer operation",
            "Some other timer operation",
            "Some other timer operation",
            "Deleting a timer",
            "Another syscall: getppid",
            &format!("Executing a program: {scenario} --exec-target \"two words\" x=1"),
        ]
    );
    assert_eq!(parsed[first].0, format!("tcl-child-{pid}"));
    // One line per record: the summary's count is the number of lines.
    assert_eq!(delivered(&stderr), all.len(), "{stderr}");
}

#[test]
fn json_lines_parse_strictly_and_with_jq() {
    require_bpf!();
    require_tool!("jq");
    let dir = tempdir();
    let path = path_in(&dir, "events.jsonl");
    let out = BINS.run_logger(&["--json", "--duration", "1", "--output", &path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut types = BTreeSet::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        types.insert(v["type"].as_str().unwrap().to_string());
        assert_eq!(v["v"], 3);
    }
    assert!(
        types.contains("start") && types.contains("summary"),
        "{types:?}"
    );
    let jq = Command::new("jq")
        .args(["-e", "."])
        .stdin(std::fs::File::open(&path).unwrap())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(jq.success());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "output files hold argv: owner only");
}

#[test]
fn reader_gone_ends_the_logger_promptly() {
    require_bpf!();
    for _ in 0..3 {
        let mut child = Command::new(BINS.logger)
            .args(["--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 1];
        stdout.read_exact(&mut first).unwrap();
        assert_eq!(first[0], b'{');
        drop(stdout); // what `| head -c 1` does
        let status = wait_exit(
            &mut child,
            Duration::from_secs(1),
            "logger still running after its reader left",
        );
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(status.success(), "{status}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn non_root_gets_one_clear_line_and_exit_3() {
    require_bpf!();
    require_tool!("setpriv");
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            BINS.logger,
            "--json",
        ])
        .output()
        .unwrap();
    let stderr = assert_clean_failure(&out, 3);
    assert!(
        stderr.contains("CAP_BPF") && stderr.contains("CAP_PERFMON"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn user_namespace_gets_the_clear_error() {
    require_bpf!();
    require_tool!("unshare");
    let out = Command::new("unshare")
        .args(["-Ur", BINS.logger])
        .output()
        .unwrap();
    let stderr = assert_clean_failure(&out, 3);
    assert!(stderr.contains("user namespace"), "{stderr}");
}

#[test]
fn usage_errors_exit_2_without_backtrace() {
    let out = BINS.run_logger(&["--ignore", "no_such_syscall"]);
    assert_clean_failure(&out, 2);
    let out = BINS.run_logger(&["--dispatch", "sideways"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn output_that_cannot_be_opened_exits_5() {
    require_bpf!();
    let out = BINS.run_logger(&["--output", "/nonexistent-dir/x.jsonl"]);
    assert_clean_failure(&out, 5);
}

fn probe_json(env: &[(&str, &str)], args: &[&str]) -> (Value, i32) {
    let out = Command::new(BINS.logger)
        .arg("probe")
        .arg("--json")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (v, out.status.code().unwrap())
}

#[test]
fn probe_reports_features_and_plan() {
    require_bpf!();
    let (v, code) = probe_json(&[], &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["v"], 3);
    assert_eq!(v["type"], "probe");
    assert_eq!(v["can_run"], true);
    assert!(v["kernel"]["release"].is_string());
    assert!(["x86_64", "aarch64"].contains(&v["kernel"]["arch"].as_str().unwrap()));
    assert_eq!(v["btf"]["source"], "sysfs");
    for f in ["ringbuf", "perf_buffer", "prog_array", "raw_tracepoint"] {
        assert_eq!(v["features"][f], true, "{f}");
    }
    assert_eq!(v["helpers"]["tail_call"], true);
    assert_eq!(v["dispatchers"]["tail"]["loads"], true);
    assert_eq!(v["dispatchers"]["inline"]["loads"], true);
    assert_eq!(v["privileges"]["root"], true);
    assert_eq!(v["plan"]["dispatch"], "tail");
    assert_eq!(v["plan"]["transport"], "ringbuf");
    assert_eq!(v["plan"]["btf"], "sysfs");

    let (v, code) = probe_json(&[], &["--dispatch", "inline", "--transport", "perf"]);
    assert_eq!(code, 0);
    assert_eq!(v["plan"]["dispatch"], "inline");
    assert_eq!(v["plan"]["transport"], "perf");
}

#[test]
fn btf_fallbacks_file_embedded_and_none() {
    require_bpf!();
    require_tool!("unshare");
    let (logger, scenario) = (BINS.logger, BINS.scenario());
    let dir = tempdir();
    let copy = path_in(&dir, "vmlinux.btf");
    std::fs::copy("/sys/kernel/btf/vmlinux", &copy).unwrap();
    // A private mount namespace with an empty tmpfs over /sys/kernel/btf: no kernel BTF.
    let hidden = |cmd: &str| {
        Command::new("unshare")
            .args([
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                &format!("mount -t tmpfs none /sys/kernel/btf && {cmd}"),
            ])
            .output()
            .unwrap()
    };
    // The scenario passes in there with the plan's btf as expected.
    let hidden_cell = |args: &str| {
        let out = hidden(&format!("{scenario} --logger {logger} {args}"));
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    hidden_cell(&format!(
        "--label btf-file --expect btf=file -- --btf {copy}"
    ));
    hidden_cell("--label btf-embedded --expect btf=embedded");
    let out = hidden(&format!("{logger} probe --json"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["btf"]["source"], "embedded");
    assert_eq!(v["plan"]["btf"], "embedded");
    let out = hidden(&format!(
        "TAILCALL_LOGGER_NO_EMBEDDED_BTF=1 {logger} --json"
    ));
    let stderr = assert_clean_failure(&out, 4);
    assert!(
        stderr.contains("/sys/kernel/btf/vmlinux") && stderr.contains("--btf"),
        "{stderr}"
    );
}
