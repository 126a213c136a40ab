//! The perf transport under a storm: the reader is woken when a CPU's buffer crosses its
//! watermark (a quarter of the buffer), not once per sample as with libbpf's default
//! perf buffer (`wakeup_events = 1`, about 0.15 M records/s), and every record is still
//! accounted for.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tailcall_logger_testkit::{bins, go, parse_lines, require_bpf, Bins};

const BINS: Bins = bins!();

#[test]
fn perf_transport_wakes_the_reader_per_watermark_not_per_sample() {
    require_bpf!();
    // A one-CPU storm of logged getppid calls; 256 pages per CPU (the default): the
    // watermark is 256 KiB, about 4,000 of these 64-byte samples.
    let calls: u64 = 300_000;
    let mut storm = BINS.actor(&["--calls", &calls.to_string(), "--pin", "1"]);
    let pid = storm.id().to_string();
    let logger = BINS.start_logger(&["--json", "--pid", &pid, "--transport", "perf"]);
    let mut lines = logger.wait_for(Duration::from_secs(30), |l| {
        l.contains("\"type\":\"start\"")
    });
    let started = Instant::now();
    go(&mut storm);
    assert!(storm.wait().unwrap().success());
    let storm_time = started.elapsed();
    logger.signal(Signal::SIGINT);
    let (status, rest, stderr) = logger.finish(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    lines.extend(rest);

    let records = parse_lines(&lines);
    let start = records
        .iter()
        .find(|r| r["type"] == "start")
        .expect("a start record");
    assert_eq!(start["plan"]["transport"], "perf", "{start}");
    let summary = records
        .iter()
        .find(|r| r["type"] == "summary")
        .expect("a summary record");
    let count = |k: &str| summary[k].as_u64().unwrap();
    let waits = &summary["reader"];
    let wakeups = waits["wakeups"].as_u64().unwrap();
    let (delivered, lost) = (count("delivered"), count("lost"));
    eprintln!(
        "perf storm of {calls} calls in {storm_time:?}: delivered {delivered}, lost {lost}, reader {waits}"
    );
    // Every record is accounted for: the actor's calls and its exit_group.
    assert_eq!(count("seen"), calls + 1, "{summary}");
    assert_eq!(delivered + lost, calls + 1, "{summary}");
    assert_eq!(count("malformed"), 0, "{summary}");
    let mine = records
        .iter()
        .filter(|r| r["type"] == "syscall" && r["pid"] == storm.id())
        .count() as u64;
    assert_eq!(mine, delivered, "{summary}");
    // Not woken per sample: a wakeup per watermark crossing (about 4,000 samples), and a
    // reader that falls behind finds several crossings behind one wakeup.
    assert!(delivered > 0, "{summary}");
    assert!(
        wakeups * 64 < delivered,
        "{wakeups} wakeups for {delivered} records: woken per sample? {waits}"
    );
}
