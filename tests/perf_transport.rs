//! The perf transport under a storm: the reader is woken when a CPU's buffer crosses its
//! watermark (a quarter of the buffer), not once per sample as with libbpf's default
//! perf buffer (`wakeup_events = 1`, about 0.15 M records/s), and every record is still
//! accounted for.

use tailcall_logger_testkit::storm::Storm;
use tailcall_logger_testkit::{bins, require_bpf, Bins};

const BINS: Bins = bins!();

#[test]
fn perf_transport_wakes_the_reader_per_watermark_not_per_sample() {
    require_bpf!();
    // A one-CPU storm of logged getppid calls; 256 pages per CPU (the default): the
    // watermark is 256 KiB, about 4,000 of these 64-byte samples.
    let calls: u64 = 300_000;
    let storm = Storm::run(&BINS, calls, &["--transport", "perf"], false);
    let start = storm.record("start");
    assert_eq!(start["plan"]["transport"], "perf", "{start}");
    let summary = storm.accounted_summary(calls);
    let count = |k: &str| summary[k].as_u64().unwrap();
    let waits = &summary["reader"];
    let wakeups = waits["wakeups"].as_u64().unwrap();
    let delivered = count("delivered");
    assert_eq!(count("malformed"), 0, "{summary}");
    let mine = storm
        .records
        .iter()
        .filter(|r| r["type"] == "syscall" && r["pid"] == storm.actor_pid)
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
