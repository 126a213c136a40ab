//! A storm of logged syscalls traced by a logger: what the throughput tests share.

use std::time::{Duration, Instant};

use nix::sched::{sched_setaffinity, CpuSet};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::Value;

use crate::{go, parse_lines, Bins};

/// What a storm left: every JSON record the logger wrote, the storm's duration, the actor.
pub struct Storm {
    pub records: Vec<Value>,
    pub took: Duration,
    pub actor_pid: u32,
}

impl Storm {
    /// A storm of `calls` getppid calls from an actor pinned to CPU 1, traced by a logger
    /// started with `--json --pid ACTOR` and `logger_args` (and pinned to CPU 0 when
    /// `pin_logger`); the logger is stopped with SIGINT once the actor is done.
    pub fn run(bins: &Bins, calls: u64, logger_args: &[&str], pin_logger: bool) -> Storm {
        let mut actor = bins.actor(&["--calls", &calls.to_string(), "--pin", "1"]);
        let pid = actor.id().to_string();
        let mut args = vec!["--json", "--pid", &pid];
        args.extend_from_slice(logger_args);
        let logger = bins.start_logger(&args);
        if pin_logger {
            pin(logger.child.id(), 0);
        }
        let mut lines = logger.wait_for(Duration::from_secs(30), |l| {
            l.contains("\"type\":\"start\"")
        });
        let started = Instant::now();
        go(&mut actor);
        assert!(actor.wait().unwrap().success());
        let took = started.elapsed();
        logger.signal(Signal::SIGINT);
        let (status, rest, stderr) = logger.finish(Duration::from_secs(20));
        assert!(status.success(), "{stderr}");
        lines.extend(rest);
        Storm {
            records: parse_lines(&lines),
            took,
            actor_pid: actor.id(),
        }
    }

    /// The summary record, once it is checked that every call is accounted for: the
    /// actor's `calls` and its exit_group were seen, and each was delivered or counted lost.
    pub fn accounted_summary(&self, calls: u64) -> &Value {
        let summary = self.record("summary");
        let count = |k: &str| summary[k].as_u64().unwrap();
        eprintln!(
            "storm of {calls} calls in {:?}: delivered {}, lost {}, reader {}",
            self.took,
            count("delivered"),
            count("lost"),
            summary["reader"]
        );
        assert!(crate::seen_accounts_for(summary, calls + 1), "{summary}");
        assert_eq!(
            count("delivered") + count("lost"),
            count("seen"),
            "{summary}"
        );
        summary
    }

    /// The record of type `kind` (start, summary).
    pub fn record(&self, kind: &str) -> &Value {
        self.records
            .iter()
            .find(|r| r["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} record"))
    }
}

fn pin(pid: u32, cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu).unwrap();
    sched_setaffinity(Pid::from_raw(pid as i32), &set).unwrap();
}
