//! The logging session: check the options, load and attach, read until told to stop, then
//! detach, drain and account for every record.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libbpf_rs::{MapCore, OpenObject};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use serde_json::json;

use crate::cgroups::{self, CgroupTarget, Layout, PidResolver, Resolver};
use crate::cli::RunArgs;
use crate::count::{self, Counter};
use crate::events::Outcome;
use crate::exit::{Code, Failure};
use crate::handlers::{HandlerTable, Selection};
use crate::loader::{self, Attached, Filters, LoadConfig, Results};
use crate::output::cgroup::{CgroupNames, Source};
use crate::output::clock::Clock;
use crate::output::{ArgvPolicy, Format, Formatting, Sink};
use crate::pairing::{self, Pairing, PendingAtExit};
use crate::plan::{self, Btf, Plan, Rings, Transport};
use crate::privileges::Privileges;
use crate::reader::{Delivery, Reader, SharedDelivery, WaitStats};
use crate::signatures::Signatures;
use crate::skel::DispatchSkel;
use crate::stats::{self, LossReporter, Totals};
use crate::syscalls::Arch;

const STATS_INTERVAL: Duration = Duration::from_millis(250);

static STOP: AtomicBool = AtomicBool::new(false);
static REOPEN: AtomicBool = AtomicBool::new(false);

pub fn run(args: &RunArgs) -> Result<()> {
    let started = Instant::now();
    // Everything the user can get wrong is checked before the kernel is touched.
    let setup = Setup::prepare(args)?;
    // The first dispatcher that loads and attaches; its object lives in one of the slots.
    let mut slots = [MaybeUninit::uninit(), MaybeUninit::uninit()];
    let (attached, plan) = load_and_attach(&setup, args, &mut slots)?;
    let results = setup.results;
    // One reader for the chosen transport, feeding the sink.
    let mut delivery = Delivery::new(setup.sink);
    delivery.pairing = setup.pairing;
    let delivery = Rc::new(RefCell::new(delivery));
    let reader = open_reader(
        &attached.skel,
        &attached.rings,
        plan.transport,
        args.perf_pages,
        &delivery,
    )?;
    // Say what was chosen: on stderr in human mode, and as the start record.
    announce(
        args,
        setup.arch,
        &plan,
        &setup.layout,
        started,
        &mut delivery.borrow_mut(),
    );
    // Read until a signal, --duration, a gone reader of our output, or an error.
    let mut losses = LossReporter::default();
    let mut counting = setup.counting;
    let deadline = args.duration.map(|s| started + Duration::from_secs(s));
    let run_error = read_until_stopped(
        &reader,
        &attached.skel,
        &delivery,
        &mut losses,
        counting.as_mut(),
        deadline,
    );
    // Detach first so nothing new arrives, then drain what the kernel already holds.
    drop(attached.link);
    drop(attached.exit_links);
    let _ = reader.drain();
    let (mut totals, lost_per_ring) =
        stats::read_with_rings(&attached.skel.maps.counters, plan.rings)?;
    totals.recursion_misses = stats::recursion_misses(&loader::traced_programs(&attached.skel))?;
    let mut d = delivery.borrow_mut();
    // Calls still in flight: reported unfinished, so the last call of a hung process shows.
    let pending = match results {
        Some(r) => Some(report_unfinished(&mut d, &attached.skel, r)?),
        None => None,
    };
    if let Some(counting) = counting.as_mut() {
        counting.report_last(&mut d, &attached.skel)?;
    }
    // Account for every record: in-band loss, the summary line and record.
    let pairing = pending.map(|p| PairingTotals::new(&totals, &p, &d, results));
    summarize(
        &mut d,
        &mut losses,
        &totals,
        lost_per_ring,
        pairing.as_ref(),
        &reader.wait_stats(),
        started,
    );
    if args.kernel.verbose {
        eprintln!(
            "tailcall-logger: reader waits: {}",
            reader.wait_stats().json()
        );
    }
    exit_status(run_error, d.io_error.take())
}

/// What the session needs before it loads anything.
struct Setup {
    arch: Arch,
    table: HandlerTable,
    btf: Btf,
    transport: Transport,
    /// Why the transport is not the one asked for, if it is not.
    transport_note: Option<String>,
    /// With the ring buffer: how many, and why fewer than planned if so.
    rings: Option<Rings>,
    rings_note: Option<String>,
    sink: Sink,
    /// With --args: what the kernel reads behind the arguments (loader::arg_captures).
    arg_captures: Option<Vec<u16>>,
    /// --results or --count: how the kernel pairs entry and exit.
    results: Option<Results>,
    /// --results: where entry records sent at entry meet their outcome.
    pairing: Option<Pairing>,
    /// --count: the tables.
    counting: Option<Counting>,
    /// The host's cgroup mounts.
    layout: Layout,
    /// --cgroup and --container: the cgroups the kernel keeps.
    cgroup_filter: Vec<CgroupTarget>,
}

impl Setup {
    fn prepare(args: &RunArgs) -> Result<Setup> {
        loader::capture_libbpf_log(args.kernel.verbose);
        let arch = Arch::host();
        let table = HandlerTable::build(arch, &selection(args))?;
        let argv_policy = ArgvPolicy::new(&args.redact)?;
        let layout = Layout::detect()?;
        let cgroup_filter = cgroups::filter_targets(&layout, &args.cgroup, &args.container)?;
        let privileges = Privileges::read();
        // The pid namespace first: a container started without the host's says so before
        // its seccomp profile or capabilities are looked at.
        privileges.check_output(args.output.is_none())?;
        privileges.check()?;
        let btf = plan::choose_btf(args.kernel.btf.as_deref())?;
        let (transport, transport_note) = plan::choose_transport(args.kernel.transport)?;
        let (rings, rings_note) = match transport {
            Transport::RingBuf => {
                let (rings, note) = plan::choose_rings(
                    plan::possible_cpus()?,
                    args.ring_cpus,
                    args.ringbuf_bytes,
                    plan::sharding_trial,
                );
                (Some(rings), note)
            }
            Transport::Perf => (None, None),
        };
        let format = if args.json {
            Format::Json
        } else {
            Format::Human
        };
        // The running kernel's own signatures when tracefs is readable, else embedded ones.
        let signatures = args.args.then(Signatures::load);
        let arg_captures = signatures.as_ref().map(|s| loader::arg_captures(&table, s));
        let formatting =
            Formatting::new(format, arch, Clock::new(), argv_policy, signatures.as_ref())
                .with_cgroups(cgroup_names(&layout, args));
        let sink = Sink::open(args.output.clone(), formatting)?;
        install_signal_handlers()?;
        let wants_results = args.results || args.failed || args.min_duration.is_some();
        let results = (wants_results || args.count).then(|| Results {
            hook: plan::choose_exit_hook(&btf),
            count_only: args.count,
            failed_only: args.failed,
            min_duration_ns: args.min_duration.unwrap_or(0),
            max_pending: args.max_pending,
        });
        let pairing = wants_results.then(|| Pairing::new(args.max_pending as usize * 2));
        let counting = args.count.then(|| Counting::new(&table, args.interval));
        Ok(Setup {
            arch,
            table,
            btf,
            transport,
            transport_note,
            rings,
            rings_note,
            sink,
            arg_captures,
            results,
            pairing,
            counting,
            layout,
            cgroup_filter,
        })
    }
}

/// Records' cgroups named: by id against the cgroup2 mount, else (a v1-only host) by
/// process in the v1 name=systemd hierarchy; not with --count (no records). A tree that
/// cannot be walked costs the names, not the session.
fn cgroup_names(layout: &Layout, args: &RunArgs) -> CgroupNames {
    let source = match (&layout.cgroup2_mount, layout.v1_systemd(), args.count) {
        (_, _, true) => Ok(None),
        (Some(mount), _, false) => {
            Resolver::start(mount, Default::default()).map(|r| Some(Source::Ids(r)))
        }
        (None, Some(_), false) => PidResolver::start(Path::new("/proc"), Default::default())
            .map(|r| Some(Source::Processes(r))),
        (None, None, false) => Ok(None),
    };
    let source = source.unwrap_or_else(|e| {
        eprintln!(
            "tailcall-logger: cgroup paths unavailable: {}",
            crate::exit::one_line(&e)
        );
        None
    });
    CgroupNames::new(source, !args.no_container)
}

fn selection(args: &RunArgs) -> Selection<'_> {
    Selection {
        skip_others: args.skip_others,
        no_default_ignore: args.no_default_ignore,
        ignore: &args.ignore,
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGHUP {
        REOPEN.store(true, Ordering::SeqCst);
    } else {
        STOP.store(true, Ordering::SeqCst);
    }
}

fn install_signal_handlers() -> Result<()> {
    // No SA_RESTART: a signal must cut the poll short.
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        unsafe { sigaction(sig, &action) }
            .with_context(|| format!("installing a {sig} handler"))?;
    }
    Ok(())
}

/// Tries the dispatchers in the order --dispatch allows and returns the attached one with
/// the plan that says what was chosen and which fallbacks were taken.
fn load_and_attach<'s>(
    setup: &Setup,
    args: &RunArgs,
    slots: &'s mut [MaybeUninit<OpenObject>; 2],
) -> Result<(Attached<'s>, Plan)> {
    let cfg = LoadConfig {
        filters: Filters {
            pid: args.pid,
            uid: args.uid,
            comm: args.comm.clone(),
            exclude_tgid: (!args.include_self).then(std::process::id),
            cgroups: setup.cgroup_filter.clone(),
        },
        ringbuf_bytes: args.ringbuf_bytes,
        rings: setup
            .rings
            .unwrap_or_else(|| Rings::single(args.ringbuf_bytes)),
        wake_reader: !args.no_wakeups,
        capture_argv: !args.no_argv,
        arg_captures: setup.arg_captures.clone(),
        string_size: args.string_size,
        results: setup.results,
        ..LoadConfig::new(&setup.table, setup.transport, &setup.btf)
    };
    let order = plan::dispatch_order(args.kernel.dispatch);
    let chosen = plan::first_that_works(order, slots, |slot, dispatch| {
        loader::load_and_attach(slot, &cfg, dispatch)
    })
    .map_err(|none| none.last)?;
    let plan = Plan {
        dispatch: chosen.dispatch,
        transport: setup.transport,
        btf: setup.btf.source,
        exit: setup.results.map(|r| r.hook),
        rings: setup.rings,
        fallbacks: setup
            .transport_note
            .iter()
            .chain(&setup.rings_note)
            .cloned()
            .chain(chosen.fallbacks)
            .collect(),
    };
    Ok((chosen.value, plan))
}

fn open_reader<'a>(
    skel: &'a DispatchSkel,
    rings: &'a [libbpf_rs::MapHandle],
    transport: Transport,
    perf_pages: usize,
    delivery: &SharedDelivery,
) -> Result<Reader<'a>> {
    let maps = &skel.maps;
    match transport {
        Transport::RingBuf if rings.is_empty() => {
            Reader::ring(&[&maps.events_rb], &maps.bss, delivery)
        }
        Transport::RingBuf => {
            let rings: Vec<&dyn MapCore> = rings.iter().map(|r| r as _).collect();
            Reader::ring(&rings, &maps.bss, delivery)
        }
        Transport::Perf => Reader::perf(&maps.events_pb, perf_pages, delivery),
    }
}

/// The start line on stderr (human mode) and the start record.
fn announce(
    args: &RunArgs,
    arch: Arch,
    plan: &Plan,
    layout: &Layout,
    started: Instant,
    d: &mut Delivery,
) {
    let startup_ms = started.elapsed().as_secs_f64() * 1000.0;
    let kernel = plan::kernel_release();
    if d.sink.format == Format::Human {
        eprintln!(
            "tailcall-logger {}: kernel {kernel} {}, dispatch={} transport={} btf={}, attached in {startup_ms:.1} ms{}",
            env!("CARGO_PKG_VERSION"),
            arch.name(),
            plan.dispatch.name(),
            plan.transport.name(),
            plan.btf.name(),
            plan.fallbacks.iter().map(|f| format!("\ntailcall-logger: fallback: {f}")).collect::<String>()
        );
    }
    let start = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "kernel": kernel,
        "arch": arch.name(),
        "pid": std::process::id(),
        "plan": plan.json(),
        "fallbacks": plan.fallbacks,
        "startup_ms": (startup_ms * 1000.0).round() / 1000.0,
        "filters": {
            "pid": args.pid, "uid": args.uid, "comm": args.comm, "skip_others": args.skip_others,
            "failed": args.failed, "min_duration_ns": args.min_duration,
            "cgroup": args.cgroup, "container": args.container,
        },
        "cgroups": {
            "layout": layout.kind.name(),
            "cgroup2_mount": layout.cgroup2_mount.as_ref().map(|p| p.to_string_lossy()),
            "paths_from": layout.paths_from(),
            "paths_mount": layout.paths_mount().map(|p| p.to_string_lossy()),
        },
        "args": args.args,
        "results": args.results || args.failed || args.min_duration.is_some(),
        "count": args.count,
    });
    let written = d.sink.control("start", start).and_then(|()| d.sink.flush());
    d.keep_error(written);
}

/// The read loop. Output errors end it through the delivery; any other error is returned.
fn read_until_stopped(
    reader: &Reader,
    skel: &DispatchSkel,
    delivery: &SharedDelivery,
    losses: &mut LossReporter,
    mut counting: Option<&mut Counting>,
    deadline: Option<Instant>,
) -> Option<anyhow::Error> {
    let mut last_stats = Instant::now();
    loop {
        if delivery.borrow().io_error.is_some() {
            return None;
        }
        if let Err(e) = reader.wait_and_read() {
            // If output failed during the read, the output error is the one to report.
            return delivery.borrow().io_error.is_none().then_some(e);
        }
        let mut d = delivery.borrow_mut();
        if let Err(e) = d.sink.flush() {
            d.io_error = Some(e);
            return None;
        }
        if STOP.load(Ordering::SeqCst) || deadline.is_some_and(|t| Instant::now() >= t) {
            return None;
        }
        if REOPEN.swap(false, Ordering::SeqCst) {
            if let Err(e) = d.sink.reopen() {
                return Some(e);
            }
        }
        if last_stats.elapsed() >= STATS_INTERVAL {
            last_stats = Instant::now();
            if let Ok(t) = stats::read(&skel.maps.counters) {
                report_losses(&mut d.sink, losses, &t);
            }
            report_overflow(&mut d);
            if let Some(counting) = counting.as_deref_mut() {
                if let Err(e) = counting.report_due(&mut d, skel) {
                    return Some(e);
                }
            }
            if d.sink.reader_gone() {
                return None;
            }
        }
    }
}

/// --results: entry records whose outcome is not coming (their kernel slot was evicted),
/// beyond the bound of what waits, are reported unfinished.
fn report_overflow(d: &mut Delivery) {
    let Some(pairing) = d.pairing.as_mut() else {
        return;
    };
    for record in pairing.overflow(Clock::now_ktime()) {
        d.deliver(&record);
    }
}

/// --results at shutdown: every call still in flight, oldest first, as an unfinished
/// record (those held in the kernel and those whose entry record waits here), unless an
/// outcome filter rejects it.
fn report_unfinished(d: &mut Delivery, skel: &DispatchSkel, results: Results) -> Result<AtExit> {
    let now = Clock::now_ktime();
    let mut pending = pairing::pending_at_exit(&skel.maps.pending, now)?;
    let held = std::mem::take(&mut pending.held);
    let sent = d.pairing.as_mut().map_or(Vec::new(), |p| p.unfinished(now));
    let wanted = |record: &Vec<u8>| -> Option<u64> {
        let ev = crate::events::decode(record).ok()?;
        let Outcome::Unfinished { duration_ns } = ev.outcome else {
            return None;
        };
        let shown =
            !results.count_only && !results.failed_only && duration_ns >= results.min_duration_ns;
        shown.then_some(ev.ktime_ns)
    };
    let mut at_exit = AtExit {
        sent_filtered: 0,
        shown_held: 0,
        pending,
    };
    let mut shown: Vec<(u64, &Vec<u8>)> = Vec::new();
    for record in &held {
        if let Some(ktime) = wanted(record) {
            shown.push((ktime, record));
            at_exit.shown_held += 1;
        }
    }
    for record in &sent {
        match wanted(record) {
            Some(ktime) => shown.push((ktime, record)),
            None => at_exit.sent_filtered += 1,
        }
    }
    shown.sort_by_key(|(ktime, _)| *ktime);
    for (_, record) in shown {
        d.deliver(record);
    }
    Ok(at_exit)
}

/// What report_unfinished found and did.
struct AtExit {
    pending: PendingAtExit,
    /// Unfinished calls shown whose record the kernel held: never counted as seen there.
    shown_held: u64,
    /// Entry records (seen at entry) that the outcome filter drops as unfinished.
    sent_filtered: u64,
}

/// --count: the tables, every --interval and at exit.
struct Counting {
    counter: Counter,
    names: Vec<String>,
    interval: Option<Duration>,
    last: Instant,
    started: Instant,
}

impl Counting {
    fn new(table: &HandlerTable, interval: Option<u64>) -> Counting {
        let names = count::key_names(table);
        Counting {
            counter: Counter::new(names.len() as u32),
            names,
            interval: interval.map(Duration::from_secs),
            last: Instant::now(),
            started: Instant::now(),
        }
    }

    /// The interval's table, when one is due.
    fn report_due(&mut self, d: &mut Delivery, skel: &DispatchSkel) -> Result<()> {
        let Some(interval) = self.interval else {
            return Ok(());
        };
        if self.last.elapsed() < interval {
            return Ok(());
        }
        let counts = self
            .counter
            .interval(&skel.maps.call_stats, &skel.maps.bss)?;
        let seconds = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        self.write(d, &counts, seconds, false);
        Ok(())
    }

    /// At exit: the whole run (strace -c), after the last interval's figures.
    fn report_last(&mut self, d: &mut Delivery, skel: &DispatchSkel) -> Result<()> {
        let counts = self.counter.last(&skel.maps.call_stats)?;
        if self.interval.is_some() {
            let seconds = self.last.elapsed().as_secs_f64();
            self.write(d, &counts, seconds, false);
        }
        let total = self.counter.total.clone();
        let seconds = self.started.elapsed().as_secs_f64();
        self.write(d, &total, seconds, true);
        Ok(())
    }

    fn write(&self, d: &mut Delivery, counts: &count::Counts, seconds: f64, last: bool) {
        let written = match d.sink.format {
            Format::Human => {
                let title = if last {
                    format!("tailcall-logger: all calls, {seconds:.1} s")
                } else {
                    format!("tailcall-logger: calls in the last {seconds:.1} s")
                };
                d.sink.text(&count::table(counts, &self.names, &title))
            }
            Format::Json => d
                .sink
                .control("count", count::json(counts, &self.names, seconds, last)),
        };
        let written = written.and_then(|()| d.sink.flush());
        d.keep_error(written);
    }
}

/// What --results adds to the summary.
struct PairingTotals {
    /// Calls whose entry and exit could not be paired: exits without an entry (the call
    /// began before the logger, or its slot was evicted) and calls abandoned when their
    /// thread exited.
    unpaired: u64,
    /// Calls whose slot the LRU reclaimed before they returned (their exits, when they
    /// come, count as unpaired).
    evicted: u64,
    /// Calls in flight at shutdown whose record the kernel held, reported unfinished:
    /// records the kernel never counted as seen.
    unfinished_held: u64,
    /// Entry records dropped because the outcome filter rejected their call.
    filtered: u64,
    /// Slots in the pending map at exit, and its capacity.
    slots: u64,
    capacity: u32,
}

impl PairingTotals {
    fn new(totals: &Totals, at_exit: &AtExit, d: &Delivery, results: Option<Results>) -> Self {
        let pending = &at_exit.pending;
        let evicted = totals
            .held
            .saturating_sub(totals.settled)
            .saturating_sub(pending.in_flight);
        PairingTotals {
            unpaired: totals.unpaired,
            evicted,
            unfinished_held: at_exit.shown_held,
            filtered: d.pairing.as_ref().map_or(0, |p| p.filtered) + at_exit.sent_filtered,
            slots: pending.slots,
            capacity: results.map_or(0, |r| r.max_pending),
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "unpaired": self.unpaired,
            "evicted": self.evicted,
            "unfinished_held": self.unfinished_held,
            "filtered": self.filtered,
            "pending_slots": self.slots,
            "pending_capacity": self.capacity,
        })
    }
}

/// The last loss report, the summary line on stderr and the summary record.
fn summarize(
    d: &mut Delivery,
    losses: &mut LossReporter,
    totals: &Totals,
    lost_per_ring: Option<Vec<u64>>,
    pairing: Option<&PairingTotals>,
    waits: &WaitStats,
    started: Instant,
) {
    report_losses(&mut d.sink, losses, totals);
    // Accounting: delivered + lost + filtered == seen. Unfinished calls whose record the
    // kernel still held were made into records here, at exit.
    let seen = totals.seen + pairing.map_or(0, |p| p.unfinished_held);
    eprintln!(
        "tailcall-logger: {} records delivered, {} lost, {} seen, {} read faults, {} without handler{}{}",
        d.delivered,
        losses.reported(),
        seen,
        totals.read_faults,
        totals.dispatch_miss,
        pairing.map_or(String::new(), |p| format!(
            ", {} unpaired, {} filtered at exit",
            p.unpaired, p.filtered
        )),
        skipped_by_kernel(totals.recursion_misses)
    );
    if d.io_error.is_some() {
        return;
    }
    let summary = json!({
        "seen": seen,
        "emitted": totals.emitted,
        "delivered": d.delivered,
        "lost": losses.reported(),
        "lost_per_ring": lost_per_ring,
        "malformed": d.malformed,
        "perf_lost_samples": d.perf_lost,
        "dispatch_miss": totals.dispatch_miss,
        "recursion_misses": totals.recursion_misses,
        "read_faults": totals.read_faults,
        "results": pairing.map(|p| {
            let mut v = p.json();
            v["results_dropped"] = json!(totals.results_dropped);
            v
        }),
        "reader": waits.json(),
        "duration_s": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    });
    let written = d
        .sink
        .control("summary", summary)
        .and_then(|()| d.sink.flush());
    d.keep_error(written);
}

/// The summary line's note on syscalls the kernel did not run the logger for (any
/// process's: see stats::recursion_misses); nothing when there were none.
fn skipped_by_kernel(misses: u64) -> String {
    match misses {
        0 => String::new(),
        n => format!(
            "; the kernel skipped the logger for {n} syscalls (its program was already running on that CPU)"
        ),
    }
}

fn report_losses(sink: &mut Sink, losses: &mut LossReporter, t: &Totals) {
    if let Some(n) = losses.take_new(t.dropped) {
        if sink.format == Format::Human {
            eprintln!(
                "tailcall-logger: lost {n} records (buffer full), {} in all",
                losses.reported()
            );
        }
        // An output error here shows up again on the next write.
        let _ = sink.control("lost", json!({"count": n, "total": losses.reported()}));
    }
}

/// A read error wins; a gone reader of our output (`| head`) is how a pipe says "enough".
fn exit_status(run_error: Option<anyhow::Error>, io_error: Option<io::Error>) -> Result<()> {
    if let Some(e) = run_error {
        return Err(e);
    }
    match io_error {
        Some(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Some(e) => Err(Failure::err(Code::Output, format!("writing output: {e}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_names_kernel_skips_only_when_there_were_some() {
        assert_eq!(skipped_by_kernel(0), "");
        let note = skipped_by_kernel(3);
        assert!(
            note.starts_with("; the kernel skipped the logger for 3 syscalls"),
            "{note}"
        );
    }
}
