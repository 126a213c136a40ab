//! Sharded rings on this host: --ring-cpus 1 gives one ring per CPU; two producers pinned
//! to CPU 0 and CPU 1 write two rings at once. Each thread's records keep their order and
//! every call is accounted for (testkit::rings has the checks); the same storm with one
//! ring passes the same checks. The rings are large enough to hold the whole storm (16 MiB:
//! 8 MiB per ring, about 87,000 records of 96 bytes, for 50,001 per producer), so nothing
//! may be lost however slowly this test reads the stream: every thread's records arrive, all
//! of them, in order.

use tailcall_logger_testkit::rings;
use tailcall_logger_testkit::{bins, require_bpf, Bins};

const BINS: Bins = bins!();
const CALLS: u64 = 50_000;
const RING_BYTES: &str = "16777216";

fn storm(logger_args: &[&str], rings: u64) -> String {
    let args: Vec<String> = ["--ringbuf-bytes", RING_BYTES]
        .iter()
        .chain(logger_args)
        .map(|a| a.to_string())
        .collect();
    let tally = rings::run(BINS.logger, &BINS.scenario(), 2, CALLS, &args)
        .unwrap_or_else(|e| panic!("{e}"));
    let detail = tally
        .check(2, CALLS, Some(rings))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{detail}");
    assert_eq!(tally.summary["lost"], 0, "{detail}");
    assert_eq!(tally.threads.len(), 2, "both producers delivered records");
    for (tid, t) in &tally.threads {
        assert_eq!(
            t.records,
            CALLS + 1,
            "thread {tid}: every call and exit_group"
        );
    }
    detail
}

#[test]
fn two_rings_two_producers_keep_order_and_accounting() {
    require_bpf!();
    let _serial = tailcall_logger_testkit::one_at_a_time();
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    storm(&["--ring-cpus", "1"], 2);
}

#[test]
fn one_ring_two_producers_keep_order_and_accounting() {
    require_bpf!();
    let _serial = tailcall_logger_testkit::one_at_a_time();
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    storm(&["--ring-cpus", "2"], 1);
}

/// Small rings that the storm overfills: losses on both rings, every one counted (the
/// counters are per CPU, so a lost record is counted by the CPU, and so the ring, that
/// lost it), and what does arrive is still in order per thread.
#[test]
fn two_small_rings_lose_records_and_count_every_one() {
    require_bpf!();
    let _serial = tailcall_logger_testkit::one_at_a_time();
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    let calls = 300_000;
    let args: Vec<String> = ["--ring-cpus", "1", "--ringbuf-bytes", "131072"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let tally = rings::run(BINS.logger, &BINS.scenario(), 2, calls, &args)
        .unwrap_or_else(|e| panic!("{e}"));
    let detail = tally
        .check(2, calls, Some(2))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{detail}");
    assert!(tally.summary["lost"].as_u64() > Some(0), "{detail}");
    // The summary says which ring lost what; the rings' losses add up to the total.
    let per_ring: Vec<u64> = tally.summary["lost_per_ring"]
        .as_array()
        .unwrap_or_else(|| panic!("no lost_per_ring: {detail}"))
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(per_ring.len(), 2, "{detail}");
    assert_eq!(
        Some(per_ring.iter().sum::<u64>()),
        tally.summary["lost"].as_u64(),
        "{detail}"
    );
}
