//! A storm on several CPUs at once, for the sharded rings: P actors, actor i pinned to
//! CPU i and making N getppid calls, traced by one logger through its --comm filter. The
//! records stream through a pipe and are checked as they come (never all kept: a storm
//! makes hundreds of megabytes of JSON): each thread's records arrive in the order it made
//! them (a thread pinned to one CPU writes one ring), on the CPU it was pinned to, and the
//! summary accounts for every call (delivered + lost == seen == P * (N + 1): the calls and
//! each actor's exit_group).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bins::go;

/// The comm of the storm's actors: what the logger's --comm filter keeps.
pub const RINGS_COMM: &str = "ringstorm";

/// What the stream of one storm showed.
#[derive(Debug, Default)]
pub struct Tally {
    pub start: Value,
    pub summary: Value,
    /// Per thread: records, the last ktime_ns, and how often ktime_ns went backwards.
    pub threads: HashMap<u64, Thread>,
    /// Records on another CPU than their actor was pinned to.
    pub off_cpu: u64,
    pub took: Duration,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Thread {
    pub records: u64,
    pub last_ktime: u64,
    pub out_of_order: u64,
    pub cpu: Option<u64>,
}

impl Tally {
    fn add(&mut self, rec: Value, cpu_of: &HashMap<u64, u64>) {
        match rec["type"].as_str() {
            Some("start") => self.start = rec,
            Some("summary") => self.summary = rec,
            Some("syscall") => {
                let tid = rec["tid"].as_u64().unwrap_or(0);
                let ktime = rec["ktime_ns"].as_u64().unwrap_or(0);
                let cpu = rec["cpu"].as_u64();
                let t = self.threads.entry(tid).or_default();
                t.records += 1;
                t.out_of_order += u64::from(ktime < t.last_ktime);
                t.last_ktime = ktime;
                t.cpu = cpu;
                if cpu_of.get(&tid).is_some_and(|want| Some(*want) != cpu) {
                    self.off_cpu += 1;
                }
            }
            _ => {}
        }
    }

    fn count(&self, key: &str) -> u64 {
        self.summary[key].as_u64().unwrap_or(u64::MAX)
    }

    /// The checks; Ok is a one-line detail for the report.
    pub fn check(&self, producers: u64, calls: u64, rings: Option<u64>) -> Result<String, String> {
        let (seen, delivered, lost) = (
            self.count("seen"),
            self.count("delivered"),
            self.count("lost"),
        );
        let detail = format!(
            "{producers} producers x {calls} calls in {:.2?}: delivered {delivered}, lost {lost}, \
             seen {seen}, recursion misses {}, rings {}",
            self.took, self.summary["recursion_misses"], self.start["plan"]["rings"]
        );
        let generated = producers * (calls + 1);
        if !crate::seen_accounts_for(&self.summary, generated) {
            return Err(format!(
                "seen {seen} (kernel recursion misses {}) does not account for generated \
                 {generated}: {detail}",
                self.summary["recursion_misses"]
            ));
        }
        if delivered + lost != seen {
            return Err(format!("delivered + lost != seen: {detail}"));
        }
        let streamed: u64 = self.threads.values().map(|t| t.records).sum();
        if streamed != delivered {
            return Err(format!("{streamed} records in the stream: {detail}"));
        }
        if self.threads.len() as u64 > producers {
            return Err(format!(
                "{} threads, not {producers}: {detail}",
                self.threads.len()
            ));
        }
        if let Some((tid, t)) = self.threads.iter().find(|(_, t)| t.out_of_order > 0) {
            return Err(format!(
                "thread {tid}: {} records out of order: {detail}",
                t.out_of_order
            ));
        }
        if self.off_cpu > 0 {
            return Err(format!(
                "{} records off their actor's CPU: {detail}",
                self.off_cpu
            ));
        }
        if let Some(want) = rings {
            if self.start["plan"]["rings"].as_u64() != Some(want) {
                return Err(format!("not {want} rings: {detail}"));
            }
        }
        Ok(detail)
    }
}

/// Runs the storm: `logger` with `--json --comm RINGS_COMM` and `logger_args`, `producers`
/// actors of `scenario` (actor i on CPU i), `calls` each.
pub fn run(
    logger: &str,
    scenario: &str,
    producers: u64,
    calls: u64,
    logger_args: &[String],
) -> Result<Tally, String> {
    let mut actors = Vec::new();
    let mut cpu_of = HashMap::new();
    for cpu in 0..producers {
        let actor = Command::new(scenario)
            .args(["--calls", &calls.to_string(), "--pin", &cpu.to_string()])
            .args(["--comm", RINGS_COMM])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting an actor: {e}"))?;
        cpu_of.insert(u64::from(actor.id()), cpu);
        actors.push(actor);
    }
    // Let them set their comm and block in read() before the logger attaches.
    std::thread::sleep(Duration::from_millis(200));
    let mut logger = Command::new(logger)
        .args(["--json", "--comm", RINGS_COMM])
        .args(logger_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the logger: {e}"))?;
    let stdout = logger.stdout.take().ok_or("no logger stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut tally = Tally::default();
    for line in lines.by_ref() {
        let line = line.map_err(|e| format!("reading the logger: {e}"))?;
        if let Ok(rec) = serde_json::from_str::<Value>(&line) {
            let is_start = rec["type"] == "start";
            tally.add(rec, &cpu_of);
            if is_start {
                break;
            }
        }
    }
    if tally.start.is_null() {
        let _ = stop(&mut logger, &mut actors);
        return Err("the logger ended before its start record".into());
    }
    let started = Instant::now();
    for actor in &mut actors {
        go(actor);
    }
    // Stop the logger once every actor is done; the stream is read here meanwhile.
    let logger_pid = logger.id();
    let waiter = std::thread::spawn(move || {
        let ok = actors
            .iter_mut()
            .all(|a| a.wait().is_ok_and(|s| s.success()));
        let took = started.elapsed();
        // SAFETY: a signal to our own child, which has not been waited for yet.
        unsafe { libc::kill(logger_pid as i32, libc::SIGINT) };
        (ok, took)
    });
    for line in lines {
        let line = line.map_err(|e| format!("reading the logger: {e}"))?;
        if let Ok(rec) = serde_json::from_str::<Value>(&line) {
            tally.add(rec, &cpu_of);
        }
    }
    let (actors_ok, took) = waiter.join().map_err(|_| "the actor waiter panicked")?;
    tally.took = took;
    let status = logger
        .wait()
        .map_err(|e| format!("waiting for the logger: {e}"))?;
    if !actors_ok {
        return Err("an actor failed".into());
    }
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = logger.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        return Err(format!("the logger exited with {status}: {err}"));
    }
    Ok(tally)
}

fn stop(logger: &mut Child, actors: &mut [Child]) -> std::io::Result<()> {
    for a in actors.iter_mut() {
        let _ = a.kill();
        let _ = a.wait();
    }
    logger.kill()?;
    logger.wait().map(drop)
}

/// The scenario binary's `--rings` cell: prints `CELL <label> PASS|FAIL <detail>`.
pub fn cell(args: &[String]) -> std::process::ExitCode {
    let (ours, logger_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let value = |flag: &str| {
        ours.iter()
            .position(|a| a == flag)
            .and_then(|i| ours.get(i + 1))
    };
    let number = |flag: &str| value(flag).and_then(|v| v.parse::<u64>().ok());
    let label = value("--label").cloned().unwrap_or_else(|| "rings".into());
    let (Some(logger), Some(producers), Some(calls)) =
        (value("--logger"), number("--producers"), number("--calls"))
    else {
        eprintln!("tailcall-logger-scenario --rings: needs --logger, --producers and --calls");
        return std::process::ExitCode::from(2);
    };
    let scenario = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let result = run(logger, &scenario, producers, calls, logger_args)
        .and_then(|t| t.check(producers, calls, number("--expect-rings")));
    match result {
        Ok(detail) => {
            println!("CELL {label} PASS {detail}");
            std::process::ExitCode::SUCCESS
        }
        Err(why) => {
            println!("CELL {label} FAIL {why}");
            std::process::ExitCode::FAILURE
        }
    }
}
