//! Where the binaries under test are, and how the tests start them.
//!
//! Cargo gives a package's integration tests the paths of that package's own binaries only
//! (`CARGO_BIN_EXE_<name>`), so the logger's path comes from the calling test ([`bins!`]
//! expands there) and the scenario binary, which this package builds, is looked for in the
//! same directory: `make scenario` (a prerequisite of `make test-host` and `make vm-test`)
//! puts it there.
//!
//! [`bins!`]: crate::bins!

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

use crate::logger::{run_logger, wait_exit, Logger};

/// The scenario binary's file name (vm/run.sh copies it into the guests under this name).
pub const SCENARIO_BIN: &str = "tailcall-logger-scenario";

/// The binaries a test runs: the logger (its path from the calling package's
/// `CARGO_BIN_EXE_tailcall-logger`) and the scenario binary next to it.
#[derive(Clone, Copy, Debug)]
pub struct Bins {
    pub logger: &'static str,
}

/// The [`Bins`] of the calling integration test of the tailcall-logger package:
/// `const BINS: Bins = bins!();`
#[macro_export]
macro_rules! bins {
    () => {
        $crate::Bins {
            logger: env!("CARGO_BIN_EXE_tailcall-logger"),
        }
    };
}

impl Bins {
    /// The scenario binary, next to the logger; a missing one fails the test with the way
    /// to build it.
    #[track_caller]
    pub fn scenario(&self) -> String {
        let path = Path::new(self.logger).with_file_name(SCENARIO_BIN);
        assert!(
            path.is_file(),
            "{} is missing: the tests need the scenario binary next to the logger. \
             `make test-host` builds it (`make scenario` alone); with other cargo flags, \
             `cargo build -p tailcall-logger-testkit --bin {SCENARIO_BIN}` with the same \
             --release/--target as the tests",
            path.display()
        );
        path.to_string_lossy().into_owned()
    }

    /// A logger in the background with `args`.
    pub fn start_logger(&self, args: &[&str]) -> Logger {
        Logger::start(self.logger, args)
    }

    /// The logger run to its end with `args`.
    pub fn run_logger(&self, args: &[&str]) -> Output {
        run_logger(self.logger, args)
    }

    /// Runs the scenario binary for one cell and asserts its PASS; returns its CELL line.
    pub fn scenario_cell(&self, label: &str, extra: &[&str], logger_args: &[&str]) -> String {
        let out = Command::new(self.scenario())
            .args(["--logger", self.logger, "--label", label])
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

    /// Starts an actor of the scenario binary (`--act`, `--calls N`, `--hostile PATH`,
    /// `--faults`; see [`crate::actors`]): it blocks reading stdin until [`go`].
    pub fn actor<S: AsRef<OsStr>>(&self, args: &[S]) -> Child {
        let child = Command::new(self.scenario())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting an actor");
        // Let it block in read() before the logger attaches, so that read is not logged.
        std::thread::sleep(Duration::from_millis(100));
        child
    }
}

impl Bins {
    /// The `--act-args DIR [--probes]` actor's command line (see
    /// [`crate::actors::act_args`]), for [`ReportingActor::start`], or to run under a
    /// tracer.
    pub fn args_actor(&self, dir: &Path, probes: bool) -> Command {
        let mut cmd = Command::new(self.scenario());
        cmd.arg("--act-args").arg(dir);
        if probes {
            cmd.arg("--probes");
        }
        cmd
    }
}

/// An actor that reports on stdout: one line once it is ready (before it waits for the go
/// byte), more after it acted.
pub struct ReportingActor {
    pub child: Child,
    stdout: BufReader<ChildStdout>,
    /// The first line, without its newline.
    pub ready: String,
}

impl ReportingActor {
    /// Starts `cmd` with stdin and stdout piped and reads its first line.
    pub fn start(mut cmd: Command) -> ReportingActor {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ready = String::new();
        stdout.read_line(&mut ready).unwrap();
        assert!(ready.ends_with('\n'), "{cmd:?} said {ready:?} and ended");
        ready.pop();
        ReportingActor {
            child,
            stdout,
            ready,
        }
    }

    pub fn go(&mut self) {
        go(&mut self.child);
    }

    /// The next line the actor reports, without its newline.
    pub fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.truncate(line.trim_end().len());
        line
    }

    /// Waits for a successful exit; returns the rest of stdout.
    pub fn finish(mut self) -> String {
        let status = wait_exit(
            &mut self.child,
            Duration::from_secs(20),
            "actor still running",
        );
        assert!(status.success(), "actor: {status}");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        rest
    }
}

/// Lets an actor act (or start its next phase): one byte on its stdin.
pub fn go(actor: &mut Child) {
    let stdin = actor.stdin.as_mut().expect("an actor has a piped stdin");
    stdin.write_all(b"g").unwrap();
    stdin.flush().unwrap();
}
