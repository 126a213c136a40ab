//! The logging session: plan, load, attach, read until told to stop, then detach, drain and
//! account for every record.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libbpf_rs::{Link, OpenObject, PerfBuffer, PerfBufferBuilder, RingBuffer, RingBufferBuilder};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use serde_json::json;

use crate::cli::RunArgs;
use crate::clock::Clock;
use crate::events;
use crate::exit::{ExitCode, Failure};
use crate::handlers::{HandlerTable, Selection};
use crate::loader::{self, Dispatch, Filters, LoadConfig, Transport};
use crate::output::{ArgvPolicy, Format, Sink};
use crate::privileges::Privileges;
use crate::probe;
use crate::skel::DispatchSkel;
use crate::stats::{self, LossReporter, Totals};
use crate::syscalls::Arch;

const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Records handled per ring-buffer read before the loop looks at signals and the clock
/// again: under a storm the producer never lets the ring run dry.
const RING_BATCH: usize = 16384;
const STATS_INTERVAL: Duration = Duration::from_millis(250);

static STOP: AtomicBool = AtomicBool::new(false);
static REOPEN: AtomicBool = AtomicBool::new(false);

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

/// What the buffer callbacks update: the sink and the tallies of what reached it.
struct Delivery {
    sink: Sink,
    delivered: u64,
    malformed: u64,
    perf_lost: u64,
    io_error: Option<io::Error>,
}

impl Delivery {
    /// Returns false once output has failed: the caller stops consuming.
    fn record(&mut self, data: &[u8]) -> bool {
        if self.io_error.is_some() {
            return false;
        }
        match events::decode(data) {
            Ok(ev) => match self.sink.event(&ev) {
                Ok(()) => self.delivered += 1,
                Err(e) => {
                    self.io_error = Some(e);
                    return false;
                }
            },
            Err(_) => self.malformed += 1,
        }
        true
    }
}

enum Reader<'a> {
    Ring(RingBuffer<'a>),
    Perf(PerfBuffer<'a>),
}

impl Reader<'_> {
    fn wait_and_read(&self) -> Result<()> {
        match self {
            Reader::Ring(rb) => {
                // Records are mostly written without a wakeup (see ringbuf_flags in the BPF
                // code), so read after every wait, woken or timed out; the wait returns at
                // once while data is pending. libbpf's own poll would read without bound.
                let mut ev = [libc::epoll_event { events: 0, u64: 0 }];
                let timeout = POLL_INTERVAL.as_millis() as i32;
                unsafe { libc::epoll_wait(rb.epoll_fd(), ev.as_mut_ptr(), 1, timeout) };
                let n = rb.consume_raw_n(RING_BATCH);
                if n < 0 && n != -libc::EINTR {
                    return Err(std::io::Error::from_raw_os_error(-n))
                        .context("reading records from the ring buffer");
                }
                Ok(())
            }
            Reader::Perf(pb) => ignore_interrupt(pb.poll(POLL_INTERVAL)),
        }
    }

    fn drain(&self) -> Result<()> {
        let r = match self {
            Reader::Ring(rb) => rb.consume(),
            Reader::Perf(pb) => pb.consume(),
        };
        ignore_interrupt(r)
    }
}

fn ignore_interrupt(r: libbpf_rs::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == libbpf_rs::ErrorKind::Interrupted => Ok(()),
        other => other.context("reading records from the kernel"),
    }
}

fn try_load<'obj>(
    obj: &'obj mut MaybeUninit<OpenObject>,
    cfg: &LoadConfig,
    dispatch: Dispatch,
) -> Result<(DispatchSkel<'obj>, Link)> {
    let skel = loader::load(obj, cfg, dispatch)?;
    let link = loader::attach(&skel, cfg.table, dispatch)?;
    Ok((skel, link))
}

fn selection(args: &RunArgs) -> Selection<'_> {
    Selection {
        skip_others: args.skip_others,
        no_default_ignore: args.no_default_ignore,
        ignore: &args.ignore,
    }
}

pub fn run(args: &RunArgs) -> Result<()> {
    let started = Instant::now();
    loader::capture_libbpf_log(args.kernel.verbose);
    let arch = Arch::host();
    let table = HandlerTable::build(arch, &selection(args))?;
    let argv_policy = ArgvPolicy::new(&args.redact)?;
    Privileges::read().check()?;
    let btf = probe::choose_btf(args.kernel.btf.as_deref())?;
    let (transport, transport_note) = probe::choose_transport(args.kernel.transport)?;
    let format = if args.json {
        Format::Json
    } else {
        Format::Human
    };
    let clock = Clock::new();
    let sink = Sink::open(args.output.clone(), format, arch, clock, argv_policy)?;
    install_signal_handlers()?;

    let cfg = LoadConfig {
        table: &table,
        transport,
        btf: &btf,
        filters: Filters {
            pid: args.pid,
            uid: args.uid,
            comm: args.comm.clone(),
            exclude_tgid: (!args.include_self).then(std::process::id),
        },
        ringbuf_bytes: args.ringbuf_bytes,
        wakeup_bytes: u64::from(args.ringbuf_bytes / 4),
        capture_argv: !args.no_argv,
    };
    let mut fallbacks: Vec<String> = transport_note.into_iter().collect();
    let order = probe::dispatch_order(args.kernel.dispatch);
    let mut first_obj = MaybeUninit::uninit();
    let mut second_obj = MaybeUninit::uninit();
    let (skel, link, dispatch) = match try_load(&mut first_obj, &cfg, order[0]) {
        Ok((skel, link)) => (skel, link, order[0]),
        Err(e) if order.len() > 1 => {
            fallbacks.push(format!(
                "{} dispatcher: {}",
                order[0].name(),
                crate::exit::one_line(&e)
            ));
            let (skel, link) = try_load(&mut second_obj, &cfg, order[1])?;
            (skel, link, order[1])
        }
        Err(e) => return Err(e),
    };

    let delivery = Rc::new(RefCell::new(Delivery {
        sink,
        delivered: 0,
        malformed: 0,
        perf_lost: 0,
        io_error: None,
    }));
    let reader = match transport {
        Transport::RingBuf => {
            let d = delivery.clone();
            let mut builder = RingBufferBuilder::new();
            builder
                .add(&skel.maps.events_rb, move |data: &[u8]| {
                    if d.borrow_mut().record(data) {
                        0
                    } else {
                        -1
                    }
                })
                .context("setting up the ring buffer reader")?;
            Reader::Ring(
                builder
                    .build()
                    .context("setting up the ring buffer reader")?,
            )
        }
        Transport::Perf => {
            let d = delivery.clone();
            let l = delivery.clone();
            let pb = PerfBufferBuilder::new(&skel.maps.events_pb)
                .sample_cb(move |_cpu, data: &[u8]| {
                    d.borrow_mut().record(data);
                })
                .lost_cb(move |_cpu, n| l.borrow_mut().perf_lost += n)
                .pages(args.perf_pages)
                .build()
                .context("setting up the perf buffer reader")?;
            Reader::Perf(pb)
        }
    };

    let startup_ms = started.elapsed().as_secs_f64() * 1000.0;
    let plan = json!({"dispatch": dispatch.name(), "transport": transport.name(), "btf": btf.source.name()});
    {
        let mut d = delivery.borrow_mut();
        let kernel = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        if format == Format::Human {
            eprintln!(
                "tailcall-logger {}: kernel {kernel} {}, dispatch={} transport={} btf={}, attached in {startup_ms:.1} ms{}",
                env!("CARGO_PKG_VERSION"),
                arch.name(),
                dispatch.name(),
                transport.name(),
                btf.source.name(),
                fallbacks.iter().map(|f| format!("\ntailcall-logger: fallback: {f}")).collect::<String>()
            );
        }
        let start = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "kernel": kernel,
            "arch": arch.name(),
            "pid": std::process::id(),
            "plan": plan,
            "fallbacks": fallbacks,
            "startup_ms": (startup_ms * 1000.0).round() / 1000.0,
            "filters": {"pid": args.pid, "uid": args.uid, "comm": args.comm, "skip_others": args.skip_others},
        });
        let written = d.sink.control("start", start).and_then(|()| d.sink.flush());
        if let Err(e) = written {
            d.io_error = Some(e);
        }
    }

    let deadline = args.duration.map(|s| started + Duration::from_secs(s));
    let mut losses = LossReporter::default();
    let mut last_stats = Instant::now();
    let mut run_error: Option<anyhow::Error> = None;
    loop {
        if delivery.borrow().io_error.is_some() {
            break;
        }
        if let Err(e) = reader.wait_and_read() {
            // A callback that stopped on an output error makes the read fail too; the
            // output error is the one to report.
            if delivery.borrow().io_error.is_none() {
                run_error = Some(e);
            }
            break;
        }
        let mut d = delivery.borrow_mut();
        if let Err(e) = d.sink.flush() {
            d.io_error = Some(e);
            break;
        }
        if STOP.load(Ordering::SeqCst) || deadline.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        if REOPEN.swap(false, Ordering::SeqCst) {
            if let Err(e) = d.sink.reopen() {
                run_error = Some(e);
                break;
            }
        }
        if last_stats.elapsed() >= STATS_INTERVAL {
            last_stats = Instant::now();
            if let Ok(t) = stats::read(&skel.maps.counters) {
                report_losses(&mut d.sink, &mut losses, &t);
            }
            if d.sink.reader_gone() {
                break;
            }
        }
    }

    // Detach first so nothing new arrives, then drain what the kernel already holds.
    drop(link);
    let _ = reader.drain();
    let totals = stats::read(&skel.maps.counters)?;
    let mut d = delivery.borrow_mut();
    report_losses(&mut d.sink, &mut losses, &totals);
    let summary = json!({
        "seen": totals.seen,
        "emitted": totals.emitted,
        "delivered": d.delivered,
        "lost": losses.reported(),
        "malformed": d.malformed,
        "perf_lost_samples": d.perf_lost,
        "dispatch_miss": totals.dispatch_miss,
        "read_faults": totals.read_faults,
        "duration_s": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    });
    eprintln!(
        "tailcall-logger: {} records delivered, {} lost, {} seen, {} read faults, {} without handler",
        d.delivered,
        losses.reported(),
        totals.seen,
        totals.read_faults,
        totals.dispatch_miss
    );
    if d.io_error.is_none() {
        let written = d
            .sink
            .control("summary", summary)
            .and_then(|()| d.sink.flush());
        if let Err(e) = written {
            d.io_error = Some(e);
        }
    }
    if let Some(e) = run_error {
        return Err(e);
    }
    match d.io_error.take() {
        // The reader went away (`| head`): that is how a pipe says "enough".
        Some(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Some(e) => Err(Failure::err(
            ExitCode::Output,
            format!("writing output: {e}"),
        )),
        None => Ok(()),
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
