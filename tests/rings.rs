//! Sharded rings on this host: --ring-cpus 1 gives one ring per CPU; two producers pinned
//! to CPU 0 and CPU 1 write two rings at once. Each thread's records keep their order and
//! every call is accounted for (testkit::rings has the checks); the same storm with one
//! ring passes the same checks.

use tailcall_logger_testkit::rings;
use tailcall_logger_testkit::{bins, require_bpf, Bins};

const BINS: Bins = bins!();
const CALLS: u64 = 300_000;

fn storm(logger_args: &[&str], rings: u64) -> String {
    let args: Vec<String> = logger_args.iter().map(|a| a.to_string()).collect();
    let tally = rings::run(BINS.logger, &BINS.scenario(), 2, CALLS, &args)
        .unwrap_or_else(|e| panic!("{e}"));
    let detail = tally
        .check(2, CALLS, Some(rings))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{detail}");
    assert_eq!(tally.threads.len(), 2, "both producers delivered records");
    detail
}

#[test]
fn two_rings_two_producers_keep_order_and_accounting() {
    require_bpf!();
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    storm(&["--ring-cpus", "1"], 2);
}

#[test]
fn one_ring_two_producers_keep_order_and_accounting() {
    require_bpf!();
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    storm(&["--ring-cpus", "2"], 1);
}
