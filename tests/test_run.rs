//! BPF_PROG_TEST_RUN on both dispatchers (nothing attached): syscall numbers that are
//! handled, ignored, -1, at and beyond the table; the records and counters must move
//! exactly as expected.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::rc::Rc;

use libbpf_rs::ProgramInput;
use tailcall_logger::handlers::{HandlerTable, Selection};
use tailcall_logger::loader::{self, LoadConfig};
use tailcall_logger::plan::{self, Dispatch, Transport};
use tailcall_logger::stats::{self, Totals};
use tailcall_logger::syscalls::{self, Arch};
use tailcall_logger_testkit::require_bpf;

#[test]
fn dispatchers_under_test_run() {
    require_bpf!();
    let arch = Arch::host();
    let table = HandlerTable::build(arch, &Selection::default()).unwrap();
    let btf = plan::choose_btf(None).unwrap();
    // No filters: the test process itself runs the programs, so no self-exclusion either.
    let cfg = LoadConfig::new(&table, Transport::RingBuf, &btf);
    let len = u64::from(table.len());
    let getpid = u64::from(syscalls::number(arch, "getpid").unwrap());
    let uname = u64::from(syscalls::number(arch, "uname").unwrap());
    let timer_create = u64::from(syscalls::number(arch, "timer_create").unwrap());

    for dispatch in [Dispatch::Tail, Dispatch::Inline] {
        let mut obj = MaybeUninit::uninit();
        let skel = loader::load(&mut obj, &cfg, dispatch).unwrap();
        loader::fill_prog_array(&skel, dispatch).unwrap();
        let prog = match dispatch {
            Dispatch::Tail => &skel.progs.dispatch_tail,
            Dispatch::Inline => &skel.progs.dispatch_inline,
        };
        let records = Rc::new(Cell::new(0u64));
        let seen = records.clone();
        let mut builder = libbpf_rs::RingBufferBuilder::new();
        builder
            .add(&skel.maps.events_rb, move |_data: &[u8]| {
                seen.set(seen.get() + 1);
                0
            })
            .unwrap();
        let rb = builder.build().unwrap();

        // (syscall number, records, seen, dispatch_miss) each run must add.
        let cases: [(u64, u64, u64, u64); 7] = [
            (u64::MAX, 0, 0, 0), // -1: no syscall
            (uname, 0, 0, 0),    // ignored before any helper call
            (getpid, 1, 1, 0),   // "other"
            (timer_create, 1, 1, 0),
            (len, 0, 1, 1),       // just beyond the table
            (len + 100, 0, 1, 1), // beyond the table
            (5000, 0, 1, 1),      // beyond the handler table's bound
        ];
        for (nr, want_records, want_seen, want_miss) in cases {
            let before = stats::read(&skel.maps.counters).unwrap();
            records.set(0);
            let mut ctx = [0u8; 16];
            ctx[8..].copy_from_slice(&nr.to_ne_bytes());
            let input = ProgramInput {
                context_in: Some(&mut ctx),
                ..Default::default()
            };
            let out = prog.test_run(input).unwrap();
            assert_eq!(out.return_value, 0);
            rb.consume().unwrap();
            let after = stats::read(&skel.maps.counters).unwrap();
            let delta = Totals {
                seen: after.seen - before.seen,
                emitted: after.emitted - before.emitted,
                dropped: after.dropped - before.dropped,
                dispatch_miss: after.dispatch_miss - before.dispatch_miss,
                read_faults: after.read_faults - before.read_faults,
                ..Totals::default()
            };
            let what = format!("{dispatch:?} nr={}", nr as i64);
            assert_eq!(records.get(), want_records, "{what}: records");
            assert_eq!(delta.seen, want_seen, "{what}: seen");
            assert_eq!(delta.emitted, want_records, "{what}: emitted");
            assert_eq!(delta.dispatch_miss, want_miss, "{what}: dispatch_miss");
            assert_eq!(delta.dropped, 0, "{what}: dropped");
        }
    }
}
