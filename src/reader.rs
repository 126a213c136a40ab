//! Reading records from the kernel, ring buffer or perf buffer, behind one small type (what
//! libbpf-tools' compat.c does for the C tools): wait for records and hand them to the
//! sink, or drain what is left.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libbpf_rs::{
    AsRawLibbpf, MapCore, PerfBuffer, PerfBufferBuilder, RingBuffer, RingBufferBuilder,
};

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
    /// Reads made without waiting, because the ring still held records after the
    /// previous one.
    pub busy_reads: u64,
    /// Milliseconds spent in waits that ran to their timeout.
    pub slept_ms: u64,
    /// Waits that ran the whole POLL_INTERVAL: the reader had seen no record for a while.
    pub idle_timeouts: u64,
}

impl WaitStats {
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "wakeups": self.wakeups,
            "timeouts": self.timeouts,
            "busy_reads": self.busy_reads,
            "slept_ms": self.slept_ms,
            "idle_timeouts": self.idle_timeouts,
        })
    }
}

/// When the ring reader reads next.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// The ring still held records after the last read: read again without waiting.
    more: bool,
    /// How long the next wait may last: short right after records came (a wakeup may
    /// never come, see wait_and_read), doubling up to POLL_INTERVAL while none do.
    timeout: Duration,
}

impl Pace {
    const BUSY: Duration = Duration::from_millis(1);

    fn after_read(self, n: i32, holds_more: bool) -> Pace {
        let timeout = if n > 0 {
            Pace::BUSY
        } else {
            (self.timeout * 2).min(POLL_INTERVAL)
        };
        Pace {
            more: n >= RING_BATCH as i32 || holds_more,
            timeout,
        }
    }
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            more: false,
            timeout: POLL_INTERVAL,
        }
    }
}

pub enum Reader<'a> {
    Ring {
        rb: RingBuffer<'a>,
        pace: Cell<Pace>,
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
            pace: Cell::default(),
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

    /// Waits up to POLL_INTERVAL for records and hands them to the sink. The producer
    /// sends a wakeup only when its backlog crosses a threshold (see ringbuf_flags in the
    /// BPF code), and epoll forgets a ring it last saw empty, so the reader never counts on
    /// a wakeup while records may be waiting: a ring that still held records after a read
    /// is read again at once, and right after records came the waits are short.
    pub fn wait_and_read(&self) -> Result<()> {
        match self {
            Reader::Ring { rb, pace, stats } => {
                let mut st = stats.get();
                let p = pace.get();
                if p.more {
                    st.busy_reads += 1;
                } else {
                    // Read after every wait, woken or timed out: most records are written
                    // without a wakeup. libbpf's own poll would read without bound.
                    let mut ev = [libc::epoll_event { events: 0, u64: 0 }];
                    let timeout = p.timeout.as_millis() as i32;
                    let ready =
                        unsafe { libc::epoll_wait(rb.epoll_fd(), ev.as_mut_ptr(), 1, timeout) };
                    match ready {
                        0 => {
                            st.timeouts += 1;
                            st.slept_ms += timeout as u64;
                            st.idle_timeouts += u64::from(p.timeout == POLL_INTERVAL);
                        }
                        n if n > 0 => st.wakeups += 1,
                        _ => {}
                    }
                }
                stats.set(st);
                let n = rb.consume_raw_n(RING_BATCH);
                if n < 0 && n != -libc::EINTR {
                    pace.set(Pace::default());
                    return Err(io::Error::from_raw_os_error(-n))
                        .context("reading records from the ring buffer");
                }
                pace.set(p.after_read(n, ring_holds_records(rb)));
                Ok(())
            }
            Reader::Perf { pb, stats } => {
                let mut st = stats.get();
                // libbpf's perf poll reads whatever is ready; a wait that read nothing timed out.
                let before = Instant::now();
                let r = ignore_interrupt(pb.poll(POLL_INTERVAL));
                if before.elapsed() >= POLL_INTERVAL {
                    st.timeouts += 1;
                    st.idle_timeouts += 1;
                    st.slept_ms += POLL_INTERVAL.as_millis() as u64;
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

/// True when the (first) ring still holds committed or pending records.
fn ring_holds_records(rb: &RingBuffer) -> bool {
    let ptr = rb.as_libbpf_object().as_ptr();
    // SAFETY: ptr is the live ring_buffer of `rb`; ring 0 exists (one map was added).
    unsafe {
        let ring = libbpf_sys::ring_buffer__ring(ptr, 0);
        !ring.is_null() && libbpf_sys::ring__avail_data_size(ring) > 0
    }
}

fn ignore_interrupt(r: libbpf_rs::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == libbpf_rs::ErrorKind::Interrupted => Ok(()),
        other => other.context("reading records from the kernel"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_reads_again_while_records_wait_and_backs_off_when_idle() {
        let p = Pace::default().after_read(RING_BATCH as i32, false);
        assert!(p.more, "a full batch: read again at once");
        let p = p.after_read(10, true);
        assert!(p.more, "records arrived while reading");
        let p = p.after_read(10, false);
        assert!(!p.more);
        assert_eq!(p.timeout, Pace::BUSY, "records just came: a short wait");
        let mut p = p;
        for _ in 0..20 {
            p = p.after_read(0, false);
        }
        assert_eq!(p.timeout, POLL_INTERVAL, "idle: back to the poll interval");
    }
}
