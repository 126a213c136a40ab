//! A logger started in the background, its stdout and stderr read line by line on threads:
//! used by the tests (the panicking methods) and by the scenario binary (the `try_` ones,
//! which report instead of panicking: a panic there aborts without a CELL verdict).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A logger started in the background, its stdout read line by line on a thread.
pub struct Logger {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    pub stderr_lines: mpsc::Receiver<String>,
}

fn lines_of(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Logger {
    /// Starts `logger` with `args`.
    pub fn spawn(logger: &str, args: &[&str]) -> std::io::Result<Logger> {
        let mut child = Command::new(logger)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let lines = lines_of(child.stdout.take().unwrap());
        let stderr_lines = lines_of(child.stderr.take().unwrap());
        Ok(Logger {
            child,
            lines,
            stderr_lines,
        })
    }

    pub fn start(logger: &str, args: &[&str]) -> Logger {
        Logger::spawn(logger, args).expect("starting the logger")
    }

    /// Waits for a stdout line that satisfies `pred`, returning every line read meanwhile.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Vec<String> {
        wait_line(&self.lines, timeout, pred)
    }

    /// The same without panicking: `Err` with the lines so far on a timeout or at the end
    /// of stdout.
    pub fn try_wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, Vec<String>> {
        try_wait_line(&self.lines, timeout, pred)
    }

    /// The same on stderr (human mode announces the plan there once attached).
    pub fn wait_for_stderr(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Vec<String> {
        wait_line(&self.stderr_lines, timeout, pred)
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// Waits for exit (failing after `timeout`); returns status, the rest of stdout, stderr.
    pub fn finish(self, timeout: Duration) -> (ExitStatus, Vec<String>, String) {
        self.try_finish(timeout)
            .unwrap_or_else(|e| panic!("logger did not exit ({e})"))
    }

    /// The same without panicking: after `timeout` the logger is killed, and `Err` says so.
    pub fn try_finish(
        mut self,
        timeout: Duration,
    ) -> Result<(ExitStatus, Vec<String>, String), String> {
        let status = try_wait_exit(&mut self.child, timeout)?;
        let rest: Vec<String> = self.lines.iter().collect();
        let stderr: Vec<String> = self.stderr_lines.iter().collect();
        Ok((status, rest, stderr.join("\n")))
    }

    /// Kills the logger; returns what it wrote on stderr.
    pub fn abort(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr: Vec<String> = self.stderr_lines.iter().collect();
        stderr.join("\n")
    }
}

fn try_wait_line(
    rx: &mpsc::Receiver<String>,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> Result<Vec<String>, Vec<String>> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = pred(&l);
                seen.push(l);
                if done {
                    return Ok(seen);
                }
            }
            Err(_) => return Err(seen),
        }
    }
}

fn wait_line(
    rx: &mpsc::Receiver<String>,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> Vec<String> {
    try_wait_line(rx, timeout, pred)
        .unwrap_or_else(|seen| panic!("timed out; lines so far: {seen:?}"))
}

/// Waits for `child` to exit; after `limit` it is killed and `Err` says how long it ran.
pub fn try_wait_exit(child: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(st);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` to exit; fails the test with `what` if it takes longer than `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    try_wait_exit(child, limit).unwrap_or_else(|e| panic!("{what} ({e})"))
}

/// Runs `logger` with `args` to its end.
pub fn run_logger(logger: &str, args: &[&str]) -> Output {
    Command::new(logger)
        .args(args)
        .output()
        .expect("running the logger")
}
