//! Reading records from the kernel, ring buffer or perf buffer, behind one small type (what
//! libbpf-tools' compat.c does for the C tools): wait for records and hand them to the
//! sink, or drain what is left.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libbpf_rs::{MapCore, PerfBuffer, PerfBufferBuilder, RingBuffer, RingBufferBuilder};

use crate::events;
use crate::output::Sink;

/// How long one wait lasts when nothing arrives: the session looks at signals and the
/// clock at least this often.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Records handled per ring-buffer read before the loop looks at signals and the clock
/// again: under a storm the producer never lets the ring run dry.
const RING_BATCH: usize = 16384;

/// What the buffer callbacks update: the sink and the tallies of what reached it.
pub struct Delivery {
    pub sink: Sink,
    pub delivered: u64,
    pub malformed: u64,
    pub perf_lost: u64,
    pub io_error: Option<io::Error>,
}

impl Delivery {
    pub fn new(sink: Sink) -> Delivery {
        Delivery {
            sink,
            delivered: 0,
            malformed: 0,
            perf_lost: 0,
            io_error: None,
        }
    }

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

    /// Keeps the first output error; the session reports it at the end.
    pub fn keep_error(&mut self, written: io::Result<()>) {
        if let Err(e) = written {
            self.io_error.get_or_insert(e);
        }
    }
}

/// The shared delivery state the callbacks write into.
pub type SharedDelivery = Rc<RefCell<Delivery>>;

/// How the reader spent its waits, so a user can see it never idled on a full ring.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WaitStats {
    /// Waits ended by a wakeup from the kernel.
    pub wakeups: u64,
    /// Waits that ran to the poll timeout.
    pub timeouts: u64,
    /// Reads made without waiting, because the previous one stopped at the batch limit
    /// with records still in the ring.
    pub busy_reads: u64,
}

impl WaitStats {
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "wakeups": self.wakeups,
            "timeouts": self.timeouts,
            "busy_reads": self.busy_reads,
        })
    }
}

pub enum Reader<'a> {
    Ring {
        rb: RingBuffer<'a>,
        /// The last read stopped at RING_BATCH: the ring may still hold records.
        more: Cell<bool>,
        stats: Cell<WaitStats>,
    },
    Perf {
        pb: PerfBuffer<'a>,
        stats: Cell<WaitStats>,
    },
}

impl<'a> Reader<'a> {
    /// A reader of the BPF ring buffer `map`.
    pub fn ring(map: &'a dyn MapCore, delivery: &SharedDelivery) -> Result<Reader<'a>> {
        let d = delivery.clone();
        let mut builder = RingBufferBuilder::new();
        builder
            .add(map, move |data: &[u8]| {
                // A non-zero return stops libbpf's consume loop.
                if d.borrow_mut().record(data) {
                    0
                } else {
                    -1
                }
            })
            .context("setting up the ring buffer reader")?;
        let rb = builder
            .build()
            .context("setting up the ring buffer reader")?;
        Ok(Reader::Ring {
            rb,
            more: Cell::new(false),
            stats: Cell::default(),
        })
    }

    /// A reader of the perf event array `map`, `pages` pages per CPU.
    pub fn perf<M: MapCore>(
        map: &'a M,
        pages: usize,
        delivery: &SharedDelivery,
    ) -> Result<Reader<'a>> {
        let d = delivery.clone();
        let l = delivery.clone();
        let pb = PerfBufferBuilder::new(map)
            .sample_cb(move |_cpu, data: &[u8]| {
                d.borrow_mut().record(data);
            })
            .lost_cb(move |_cpu, n| l.borrow_mut().perf_lost += n)
            .pages(pages)
            .build()
            .context("setting up the perf buffer reader")?;
        Ok(Reader::Perf {
            pb,
            stats: Cell::default(),
        })
    }

    /// Waits up to POLL_INTERVAL for records and hands them to the sink. A ring that still
    /// held records after the last read is read again at once: a wakeup is only sent when
    /// the backlog crosses the threshold (see ringbuf_flags in the BPF code), so a reader
    /// that slept on a full ring would be woken by nothing but the timeout.
    pub fn wait_and_read(&self) -> Result<()> {
        match self {
            Reader::Ring { rb, more, stats } => {
                let mut st = stats.get();
                if more.get() {
                    st.busy_reads += 1;
                } else {
                    // Read after every wait, woken or timed out: most records are written
                    // without a wakeup. libbpf's own poll would read without bound.
                    let mut ev = [libc::epoll_event { events: 0, u64: 0 }];
                    let timeout = POLL_INTERVAL.as_millis() as i32;
                    let ready =
                        unsafe { libc::epoll_wait(rb.epoll_fd(), ev.as_mut_ptr(), 1, timeout) };
                    match ready {
                        0 => st.timeouts += 1,
                        n if n > 0 => st.wakeups += 1,
                        _ => {}
                    }
                }
                stats.set(st);
                let n = rb.consume_raw_n(RING_BATCH);
                if n < 0 && n != -libc::EINTR {
                    more.set(false);
                    return Err(io::Error::from_raw_os_error(-n))
                        .context("reading records from the ring buffer");
                }
                more.set(n >= RING_BATCH as i32);
                Ok(())
            }
            Reader::Perf { pb, stats } => {
                let mut st = stats.get();
                // libbpf's perf poll reads whatever is ready; a wait that read nothing timed out.
                let before = Instant::now();
                let r = ignore_interrupt(pb.poll(POLL_INTERVAL));
                if before.elapsed() >= POLL_INTERVAL {
                    st.timeouts += 1;
                } else {
                    st.wakeups += 1;
                }
                stats.set(st);
                r
            }
        }
    }

    /// How the waits went so far.
    pub fn wait_stats(&self) -> WaitStats {
        match self {
            Reader::Ring { stats, .. } | Reader::Perf { stats, .. } => stats.get(),
        }
    }

    /// Reads everything the kernel still holds, without waiting.
    pub fn drain(&self) -> Result<()> {
        let r = match self {
            Reader::Ring { rb, .. } => rb.consume(),
            Reader::Perf { pb, .. } => pb.consume(),
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
