//! The reader under a storm that keeps the ring full: it must read continuously, never
//! sleep out its poll timeout while records wait (the old failure: a wakeup threshold the
//! backlog stepped over, then one batch per 100 ms timeout while the ring stayed full).
//! The test takes the wakeups away altogether, so only the reader's own rule can pass it.

use std::time::Duration;

use tailcall_logger_testkit::storm::Storm;
use tailcall_logger_testkit::{bins, require_bpf, Bins};

const BINS: Bins = bins!();
/// The reader's poll timeout (src/reader.rs POLL_INTERVAL).
const POLL: Duration = Duration::from_millis(100);

#[test]
fn reader_reads_continuously_while_the_ring_is_full() {
    require_bpf!();
    // A one-CPU storm of logged getppid calls into a 64 KiB ring (about 1,170 records):
    // the producer outruns a JSON reader, so the ring sits at or near full. No wakeup is
    // ever sent: the old failure's shape, where the reader depended on a wakeup that
    // never came.
    let calls: u64 = 2_000_000;
    let args = ["--ringbuf-bytes", "65536", "--no-wakeups"];
    let storm = Storm::run(&BINS, calls, &args, true);
    let storm_time = storm.took;
    let summary = storm.accounted_summary(calls);
    let waits = &summary["reader"];
    let timeouts = waits["timeouts"].as_u64().unwrap();
    let slept = Duration::from_millis(waits["slept_ms"].as_u64().unwrap());
    // Reading continuously: a collapsed reader sleeps out the whole poll interval between
    // every two reads (one idle timeout per 100 ms of storm); this one waits at most a few
    // milliseconds right after records came, so only the waits before the storm began and
    // after it ended can be idle ones.
    let idle = waits["idle_timeouts"].as_u64().unwrap();
    assert!(
        idle <= 2,
        "{idle} idle timeouts during a {storm_time:?} storm (slept {slept:?} in {timeouts} timeouts): {waits}"
    );
    assert!(slept < storm_time + 2 * POLL, "{waits}");
}

#[test]
fn a_sleeping_reader_is_woken_and_a_reading_one_is_not() {
    require_bpf!();
    // The reader sleeps out its poll interval before the storm: the first record after it
    // said so wakes it. While records flow it reads or naps a millisecond and asks for no
    // wakeup, so the producer sends few (each is an IPI: see wake_flags in the BPF code);
    // the old rule sent one per 1,024 records of a CPU whatever the reader did.
    let calls: u64 = 500_000;
    let storm = Storm::run(&BINS, calls, &[], true);
    let summary = storm.accounted_summary(calls);
    let waits = &summary["reader"];
    let wakeups = waits["wakeups"].as_u64().unwrap();
    assert!(wakeups >= 1, "the sleeping reader was never woken: {waits}");
    assert!(
        wakeups * 1024 < calls,
        "{wakeups} wakeups for {calls} calls: woken while reading? {waits}"
    );
}
