//! Shared by the end-to-end tests: where the binaries are, and the rule for skipping.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const LOGGER: &str = env!("CARGO_BIN_EXE_tailcall-logger");
pub const SCENARIO: &str = env!("CARGO_BIN_EXE_tailcall-logger-scenario");

/// True when the test may load BPF. Without root it skips loudly, unless CI set
/// TAILCALL_LOGGER_REQUIRE_BPF=1, which turns the skip into a failure.
pub fn bpf_available(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("TAILCALL_LOGGER_REQUIRE_BPF").is_some_and(|v| v == "1") {
        panic!("{test}: needs root for BPF, and TAILCALL_LOGGER_REQUIRE_BPF=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: needs root for BPF");
    false
}

pub fn require_tool(test: &str, tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var_os("TAILCALL_LOGGER_REQUIRE_BPF").is_some_and(|v| v == "1") {
            panic!("{test}: needs {tool} (scripts/install-deps.sh test installs it)");
        }
        eprintln!("SKIPPED {test}: needs {tool}");
    }
    found
}

/// Runs the scenario binary for one cell; returns its CELL line.
pub fn scenario(label: &str, extra: &[&str], logger_args: &[&str]) -> String {
    let out = Command::new(SCENARIO)
        .args(["--logger", LOGGER, "--label", label])
        .args(extra)
        .arg("--")
        .args(logger_args)
        .output()
        .expect("running the scenario");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains(&format!("CELL {label} PASS")),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A logger started in the background, its stdout read line by line on a thread.
pub struct Logger {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    pub stderr_lines: mpsc::Receiver<String>,
}

impl Logger {
    pub fn start(args: &[&str]) -> Logger {
        let mut child = Command::new(LOGGER)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the logger");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if etx.send(line).is_err() {
                    break;
                }
            }
        });
        Logger {
            child,
            lines: rx,
            stderr_lines: erx,
        }
    }

    /// Waits for a stdout line that satisfies `pred`, returning every line read meanwhile.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Vec<String> {
        wait_line(&self.lines, timeout, pred)
    }

    /// The same on stderr (human mode announces the plan there once attached).
    pub fn wait_for_stderr(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Vec<String> {
        wait_line(&self.stderr_lines, timeout, pred)
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// Waits for exit (failing after `timeout`); returns status, the rest of stdout, stderr.
    pub fn finish(mut self, timeout: Duration) -> (std::process::ExitStatus, Vec<String>, String) {
        let status = wait_exit(&mut self.child, timeout, "logger did not exit");
        let rest: Vec<String> = self.lines.iter().collect();
        let stderr: Vec<String> = self.stderr_lines.iter().collect();
        (status, rest, stderr.join("\n"))
    }
}

fn wait_line(
    rx: &mpsc::Receiver<String>,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = pred(&l);
                seen.push(l);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("timed out; lines so far: {seen:?}"),
        }
    }
}

/// Waits for `child` to exit; fails the test with `what` if it takes longer than `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} (after {limit:?})");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn run_logger(args: &[&str]) -> Output {
    Command::new(LOGGER)
        .args(args)
        .output()
        .expect("running the logger")
}

/// The last line of stderr is a single, human line: no panic, no backtrace.
pub fn assert_clean_error(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("tailcall-logger: "), "{stderr}");
}

/// The count in the summary line a logger prints on stderr ("N records delivered, ...").
pub fn delivered(stderr: &str) -> usize {
    stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("tailcall-logger: ")?
                .split_once(" records delivered")
        })
        .map(|(n, _)| n.parse().unwrap())
        .unwrap_or_else(|| panic!("no summary line on stderr: {stderr}"))
}

/// Nothing a terminal would act on: no C0 control byte, no DEL, no C1 CSI, no bidi override.
pub fn assert_no_terminal_controls(lines: &[String]) {
    for line in lines {
        assert!(
            !line.bytes().any(|b| b < 0x20 || b == 0x7f),
            "raw control byte in {line:?}"
        );
        assert!(
            !line.contains('\u{202e}') && !line.contains('\u{9b}'),
            "{line:?}"
        );
    }
}
