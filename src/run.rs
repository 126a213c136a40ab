//! The logging session: check the options, load and attach, read until told to stop, then
//! detach, drain and account for every record.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libbpf_rs::OpenObject;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use serde_json::json;

use crate::cli::RunArgs;
use crate::exit::{Code, Failure};
use crate::handlers::{HandlerTable, Selection};
use crate::loader::{self, Attached, Filters, LoadConfig};
use crate::output::clock::Clock;
use crate::output::{ArgvPolicy, Format, Formatting, Sink};
use crate::plan::{self, Btf, Plan, Transport};
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
    // One reader for the chosen transport, feeding the sink.
    let delivery = Rc::new(RefCell::new(Delivery::new(setup.sink)));
    let reader = open_reader(&attached.skel, plan.transport, args.perf_pages, &delivery)?;
    // Say what was chosen: on stderr in human mode, and as the start record.
    announce(args, setup.arch, &plan, started, &mut delivery.borrow_mut());
    // Read until a signal, --duration, a gone reader of our output, or an error.
    let mut losses = LossReporter::default();
    let deadline = args.duration.map(|s| started + Duration::from_secs(s));
    let run_error = read_until_stopped(&reader, &attached.skel, &delivery, &mut losses, deadline);
    // Detach first so nothing new arrives, then drain what the kernel already holds.
    drop(attached.link);
    let _ = reader.drain();
    let totals = stats::read(&attached.skel.maps.counters)?;
    // Account for every record: in-band loss, the summary line and record.
    let mut d = delivery.borrow_mut();
    summarize(&mut d, &mut losses, &totals, &reader.wait_stats(), started);
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
    sink: Sink,
    /// With --args: what the kernel reads behind the arguments (loader::arg_captures).
    arg_captures: Option<Vec<u16>>,
}

impl Setup {
    fn prepare(args: &RunArgs) -> Result<Setup> {
        loader::capture_libbpf_log(args.kernel.verbose);
        let arch = Arch::host();
        let table = HandlerTable::build(arch, &selection(args))?;
        let argv_policy = ArgvPolicy::new(&args.redact)?;
        Privileges::read().check()?;
        let btf = plan::choose_btf(args.kernel.btf.as_deref())?;
        let (transport, transport_note) = plan::choose_transport(args.kernel.transport)?;
        let format = if args.json {
            Format::Json
        } else {
            Format::Human
        };
        // The running kernel's own signatures when tracefs is readable, else embedded ones.
        let signatures = args.args.then(Signatures::load);
        let arg_captures = signatures.as_ref().map(|s| loader::arg_captures(&table, s));
        let formatting =
            Formatting::new(format, arch, Clock::new(), argv_policy, signatures.as_ref());
        let sink = Sink::open(args.output.clone(), formatting)?;
        install_signal_handlers()?;
        Ok(Setup {
            arch,
            table,
            btf,
            transport,
            transport_note,
            sink,
            arg_captures,
        })
    }
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
        },
        ringbuf_bytes: args.ringbuf_bytes,
        wakeup_every: args.ringbuf_wake_every,
        capture_argv: !args.no_argv,
        arg_captures: setup.arg_captures.clone(),
        string_size: args.string_size,
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
        fallbacks: setup
            .transport_note
            .iter()
            .cloned()
            .chain(chosen.fallbacks)
            .collect(),
    };
    Ok((chosen.value, plan))
}

fn open_reader<'a>(
    skel: &'a DispatchSkel,
    transport: Transport,
    perf_pages: usize,
    delivery: &SharedDelivery,
) -> Result<Reader<'a>> {
    let maps = &skel.maps;
    match transport {
        Transport::RingBuf => Reader::ring(&maps.events_rb, delivery),
        Transport::Perf => Reader::perf(&maps.events_pb, perf_pages, delivery),
    }
}

/// The start line on stderr (human mode) and the start record.
fn announce(args: &RunArgs, arch: Arch, plan: &Plan, started: Instant, d: &mut Delivery) {
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
        "filters": {"pid": args.pid, "uid": args.uid, "comm": args.comm, "skip_others": args.skip_others},
        "args": args.args,
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
    deadline: Option<Instant>,
) -> Option<anyhow::Error> {
    let mut last_stats = Instant::now();
    loop {
        if delivery.borrow().io_error.is_some() {
            return None;
        }
        if let Err(e) = reader.wait_and_read() {
            // A callback that stopped on an output error makes the read fail too; the
            // output error is the one to report.
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
            if d.sink.reader_gone() {
                return None;
            }
        }
    }
}

/// The last loss report, the summary line on stderr and the summary record.
fn summarize(
    d: &mut Delivery,
    losses: &mut LossReporter,
    totals: &Totals,
    waits: &WaitStats,
    started: Instant,
) {
    report_losses(&mut d.sink, losses, totals);
    eprintln!(
        "tailcall-logger: {} records delivered, {} lost, {} seen, {} read faults, {} without handler",
        d.delivered,
        losses.reported(),
        totals.seen,
        totals.read_faults,
        totals.dispatch_miss
    );
    if d.io_error.is_some() {
        return;
    }
    let summary = json!({
        "seen": totals.seen,
        "emitted": totals.emitted,
        "delivered": d.delivered,
        "lost": losses.reported(),
        "malformed": d.malformed,
        "perf_lost_samples": d.perf_lost,
        "dispatch_miss": totals.dispatch_miss,
        "read_faults": totals.read_faults,
        "reader": waits.json(),
        "duration_s": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    });
    let written = d
        .sink
        .control("summary", summary)
        .and_then(|()| d.sink.flush());
    d.keep_error(written);
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
