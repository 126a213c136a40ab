//! Reading records from the kernel, ring buffer or perf buffer, behind one small type (what
//! libbpf-tools' compat.c does for the C tools): wait for records and hand them to the
//! sink, or drain what is left.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::io;
use std::marker::PhantomData;
use std::mem::{offset_of, size_of};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use libbpf_rs::{MapCore, MapType};

use crate::bss::{self, Bss};
use crate::events;
use crate::output::Sink;
use crate::pairing::{Pairing, Step};

mod ring;
use ring::Rings;

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
    /// --results: entry records meet their outcome records here.
    pub pairing: Option<Pairing>,
}

impl Delivery {
    pub fn new(sink: Sink) -> Delivery {
        Delivery {
            sink,
            delivered: 0,
            malformed: 0,
            perf_lost: 0,
            io_error: None,
            pairing: None,
        }
    }

    /// Returns false once output has failed: the caller stops consuming.
    fn record(&mut self, data: &[u8]) -> bool {
        let step = match &mut self.pairing {
            Some(pairing) => pairing.step(data),
            None => Step::Pass,
        };
        match step {
            Step::Pass => self.deliver(data),
            Step::Complete(record) => self.deliver(&record),
            Step::Wait | Step::Drop => self.io_error.is_none(),
        }
    }

    /// Formats one record into the sink. Returns false once output has failed.
    pub fn deliver(&mut self, data: &[u8]) -> bool {
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

    fn after_read(self, n: usize, holds_more: bool) -> Pace {
        let timeout = if n > 0 {
            Pace::BUSY
        } else {
            (self.timeout * 2).min(POLL_INTERVAL)
        };
        Pace {
            more: n >= RING_BATCH || holds_more,
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
        /// One ring per group of CPUs, or one for all.
        rings: Rings<'a>,
        delivery: SharedDelivery,
        /// The programs' .bss, where the reader says it sleeps (reader_asleep): records
        /// wake it only then.
        bss: &'a dyn MapCore,
        pace: Cell<Pace>,
        stats: Cell<WaitStats>,
    },
    Perf {
        pb: PerfBuf<'a>,
        stats: Cell<WaitStats>,
    },
}

impl<'a> Reader<'a> {
    /// A reader of the BPF ring buffers `maps`, all on one epoll, read in this order (see
    /// ring.rs for why not libbpf's ring_buffer); `bss` is the programs' .bss map.
    pub fn ring(
        maps: &[&'a dyn MapCore],
        bss: &'a dyn MapCore,
        delivery: &SharedDelivery,
    ) -> Result<Reader<'a>> {
        let rings = Rings::new(maps).context("setting up the ring buffer reader")?;
        Ok(Reader::Ring {
            rings,
            delivery: delivery.clone(),
            bss,
            pace: Cell::default(),
            stats: Cell::default(),
        })
    }

    /// A reader of the perf event array `map`, `pages` pages per CPU. The reader is woken
    /// when a CPU's buffer is a quarter full (see PerfBuf), not for every sample: records
    /// below that mark are read when the wait times out, within POLL_INTERVAL.
    pub fn perf<M: MapCore>(
        map: &'a M,
        pages: usize,
        delivery: &SharedDelivery,
    ) -> Result<Reader<'a>> {
        let pb = PerfBuf::new(map, pages, delivery).context("setting up the perf buffer reader")?;
        Ok(Reader::Perf {
            pb,
            stats: Cell::default(),
        })
    }

    /// Waits up to POLL_INTERVAL for records and hands them to the sink. The producer
    /// wakes the reader only when the reader said it sleeps (before a wait longer than
    /// Pace::BUSY), and only once (see wake_flags in the BPF code); epoll forgets a ring it
    /// last saw empty. So the reader never counts on a wakeup while records may be
    /// waiting: a ring that still held records after a read is read again at once, and
    /// right after records came the waits are short.
    pub fn wait_and_read(&self) -> Result<()> {
        match self {
            Reader::Ring {
                rings,
                delivery,
                bss,
                pace,
                stats,
            } => {
                let mut st = stats.get();
                let p = pace.get();
                if p.more {
                    st.busy_reads += 1;
                } else {
                    // Only a wait longer than the nap after records came asks for a
                    // wakeup: the ring holds more than that nap's worth of a storm, and
                    // each wakeup costs the producer an IPI (see wake_flags in the BPF
                    // code). The first record to find the flag wakes us and clears it.
                    if p.timeout > Pace::BUSY {
                        bss::set_u32(*bss, offset_of!(Bss, reader_asleep), 1)
                            .context("telling the programs the reader sleeps")?;
                    }
                    // Read after every wait, woken or timed out: most records are written
                    // without a wakeup.
                    match rings.wait(p.timeout) {
                        Ok(false) => {
                            st.timeouts += 1;
                            st.slept_ms += p.timeout.as_millis() as u64;
                            st.idle_timeouts += u64::from(p.timeout == POLL_INTERVAL);
                        }
                        Ok(true) => st.wakeups += 1,
                        // A signal: read what is there, the session then looks at its flags.
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            return Err(e).context("waiting for records from the ring buffer")
                        }
                    }
                }
                stats.set(st);
                let read = consume_rings(rings, delivery, RING_BATCH);
                let holds_more = read.some_ring_full || ring_holds_records(rings);
                pace.set(p.after_read(read.records, holds_more));
                Ok(())
            }
            Reader::Perf { pb, stats } => {
                // The kernel wakes us when a CPU's buffer crosses its watermark (a quarter
                // full); records below it are read when the wait times out, so they wait at
                // most POLL_INTERVAL. Either way every CPU's buffer is read, not only the
                // one that woke us: a quiet CPU's few records do not wait behind a busy
                // one's wakeups. (libbpf's perf_buffer__poll reads only the buffers that
                // woke it, and nothing on a timeout.)
                let mut st = stats.get();
                let waited = pb.wait(POLL_INTERVAL);
                match waited {
                    Ok(0) => {
                        st.timeouts += 1;
                        st.idle_timeouts += 1;
                        st.slept_ms += POLL_INTERVAL.as_millis() as u64;
                    }
                    Ok(_) => st.wakeups += 1,
                    // A signal: read what is there, the session then looks at its flags.
                    Err(ref e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(e).context("waiting for records from the perf buffer");
                    }
                }
                stats.set(st);
                ignore_interrupt(pb.consume())
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
        match self {
            Reader::Ring {
                rings, delivery, ..
            } => {
                drain_rings(rings, delivery);
                Ok(())
            }
            Reader::Perf { pb, .. } => ignore_interrupt(pb.consume()),
        }
    }
}

/// The perf buffer of `--transport perf`, made with libbpf's raw API: libbpf-rs's
/// PerfBufferBuilder (and libbpf's perf_buffer__new) open the per-CPU events with
/// `wakeup_events = 1`, one wakeup of the reader per sample, which capped the transport at
/// about 0.15 M records/s. These events wake the reader when a CPU's buffer is a quarter
/// full ([`perf_attr`]), and the records are parsed here ([`perf_record`]).
///
/// Soundness: libbpf calls [`perf_event_cb`] with `state` as its ctx, and only from inside
/// perf_buffer__consume, which only [`PerfBuf::consume`] calls, on this thread (the type
/// is neither Send nor Sync). `state` is a Box given up to a raw pointer for the buffer's
/// whole life: it is freed in Drop after perf_buffer__free, so it outlives every call, and
/// everything reaches it through shared references only (its fields are Cell and RefCell).
/// The callback cannot panic (no indexing, no unwrap, try_borrow_mut), and a panic that
/// got through anyway is caught before it could unwind into libbpf's C frames (the release
/// build aborts on panic instead). `'a` ties the buffer to the map: perf_buffer__free
/// clears the map's slots through the map's fd.
pub struct PerfBuf<'a> {
    ptr: NonNull<libbpf_sys::perf_buffer>,
    state: NonNull<PerfState>,
    _map: PhantomData<&'a ()>,
}

/// What the perf buffer's callback writes into, behind libbpf's ctx pointer.
struct PerfState {
    delivery: SharedDelivery,
    /// Why the callback stopped libbpf's read with an error (it can return only a code).
    failure: Cell<Option<&'static str>>,
}

impl<'a> PerfBuf<'a> {
    fn new<M: MapCore>(map: &'a M, pages: usize, delivery: &SharedDelivery) -> Result<Self> {
        if map.map_type() != MapType::PerfEventArray {
            bail!("{:?} is not a perf event array", map.name());
        }
        if !pages.is_power_of_two() {
            bail!("perf buffer pages per CPU must be a power of two, not {pages}");
        }
        // SAFETY: sysconf has no preconditions.
        let page_size = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .context("the page size")?;
        let mut attr = perf_attr(pages.saturating_mul(page_size));
        let state = NonNull::from(Box::leak(Box::new(PerfState {
            delivery: delivery.clone(),
            failure: Cell::new(None),
        })));
        // SAFETY: the map's fd is open for the call; attr is read during the call only
        // (to open the per-CPU events); state stays valid until Drop (see PerfBuf).
        let ptr = unsafe {
            libbpf_sys::perf_buffer__new_raw(
                map.as_fd().as_raw_fd(),
                pages as libbpf_sys::size_t,
                &mut attr,
                Some(perf_event_cb),
                state.as_ptr().cast(),
                ptr::null(),
            )
        };
        match NonNull::new(ptr) {
            Some(ptr) => Ok(PerfBuf {
                ptr,
                state,
                _map: PhantomData,
            }),
            None => {
                // libbpf 1.x returns NULL with errno set, and kept nothing that points at
                // state.
                let err = io::Error::last_os_error();
                // SAFETY: state came from Box::leak above and nothing else refers to it.
                drop(unsafe { Box::from_raw(state.as_ptr()) });
                Err(err.into())
            }
        }
    }

    /// Waits up to `timeout` for a CPU's buffer to cross its watermark: the number of
    /// buffers that did (0 on a timeout).
    fn wait(&self, timeout: Duration) -> io::Result<usize> {
        let mut ev = [libc::epoll_event { events: 0, u64: 0 }; 8];
        // SAFETY: ptr is live; ev is a writable array of ev.len() events.
        let n = unsafe {
            let epoll_fd = libbpf_sys::perf_buffer__epoll_fd(self.ptr.as_ptr());
            libc::epoll_wait(
                epoll_fd,
                ev.as_mut_ptr(),
                ev.len() as c_int,
                timeout.as_millis() as c_int,
            )
        };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Reads every CPU's buffer to its end, without waiting.
    fn consume(&self) -> libbpf_rs::Result<()> {
        // SAFETY: ptr is live; the callback's ctx is state (see PerfBuf).
        let ret = unsafe { libbpf_sys::perf_buffer__consume(self.ptr.as_ptr()) };
        // SAFETY: state is live until Drop; shared access only.
        let state = unsafe { self.state.as_ref() };
        if let Some(why) = state.failure.take() {
            return Err(io::Error::other(why).into());
        }
        match ret {
            0 => Ok(()),
            e => Err(libbpf_rs::Error::from_raw_os_error(-e)),
        }
    }
}

impl Drop for PerfBuf<'_> {
    fn drop(&mut self) {
        // SAFETY: ptr is freed here only; after perf_buffer__free nothing calls back, so
        // state, from Box::leak in new, has no other user left.
        unsafe {
            libbpf_sys::perf_buffer__free(self.ptr.as_ptr());
            drop(Box::from_raw(self.state.as_ptr()));
        }
    }
}

/// The attributes of the per-CPU events: what libbpf's perf_buffer__new uses (a software
/// BPF output event whose samples carry the raw record), but with a watermark instead of
/// a wakeup per sample: the kernel wakes the reader each time another quarter of a CPU's
/// `buffer_bytes` has been written.
fn perf_attr(buffer_bytes: usize) -> libbpf_sys::perf_event_attr {
    let mut attr = libbpf_sys::perf_event_attr {
        size: size_of::<libbpf_sys::perf_event_attr>() as u32,
        type_: libbpf_sys::PERF_TYPE_SOFTWARE,
        config: libbpf_sys::PERF_COUNT_SW_BPF_OUTPUT.into(),
        sample_type: libbpf_sys::PERF_SAMPLE_RAW.into(),
        __bindgen_anon_2: libbpf_sys::perf_event_attr__bindgen_ty_2 {
            wakeup_watermark: u32::try_from(buffer_bytes / 4).unwrap_or(u32::MAX),
        },
        ..Default::default()
    };
    attr.set_watermark(1);
    attr
}

/// One record of a perf buffer, as the kernel writes it.
#[derive(Debug, PartialEq, Eq)]
enum PerfRecord<'r> {
    /// PERF_RECORD_SAMPLE with PERF_SAMPLE_RAW: the header, a u32 size, then `size` bytes:
    /// the BPF program's record, zero-padded so the sample ends 8-byte aligned (decode
    /// reads its own lengths and ignores what follows).
    Sample(&'r [u8]),
    /// PERF_RECORD_LOST: the header, a u64 id, then the u64 number of samples lost.
    Lost(u64),
    /// Shorter than its type says.
    Malformed,
    /// Any other type (none is expected for a BPF output event).
    Other,
}

fn perf_record(rec: &[u8]) -> PerfRecord<'_> {
    const HEADER: usize = size_of::<libbpf_sys::perf_event_header>();
    let field = |at: usize, len: usize| rec.get(at..at.checked_add(len)?);
    let Some(kind) = field(0, 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
    else {
        return PerfRecord::Malformed;
    };
    match kind {
        libbpf_sys::PERF_RECORD_SAMPLE => field(HEADER, 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes)
            .and_then(|size| field(HEADER + 4, size as usize))
            .map_or(PerfRecord::Malformed, PerfRecord::Sample),
        libbpf_sys::PERF_RECORD_LOST => field(HEADER + 8, 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_ne_bytes)
            .map_or(PerfRecord::Malformed, PerfRecord::Lost),
        _ => PerfRecord::Other,
    }
}

impl PerfState {
    /// One record into the delivery; what libbpf's read loop should do next.
    fn event(&self, rec: &[u8]) -> libbpf_sys::bpf_perf_event_ret {
        let Ok(mut d) = self.delivery.try_borrow_mut() else {
            self.failure.set(Some(
                "the delivery state was in use during a perf buffer read",
            ));
            return libbpf_sys::LIBBPF_PERF_EVENT_ERROR;
        };
        match perf_record(rec) {
            PerfRecord::Sample(data) => {
                if !d.record(data) {
                    // Output failed: stop reading this buffer (quietly; the session
                    // reports the output error).
                    return libbpf_sys::LIBBPF_PERF_EVENT_DONE;
                }
            }
            PerfRecord::Lost(n) => d.perf_lost += n,
            PerfRecord::Malformed => d.malformed += 1,
            PerfRecord::Other => {}
        }
        libbpf_sys::LIBBPF_PERF_EVENT_CONT
    }
}

/// libbpf's event callback (perf_buffer__new_raw's event_cb): one record at a time.
unsafe extern "C" fn perf_event_cb(
    ctx: *mut c_void,
    _cpu: c_int,
    header: *mut libbpf_sys::perf_event_header,
) -> libbpf_sys::bpf_perf_event_ret {
    // SAFETY: ctx is the PerfState of the PerfBuf being consumed (see PerfBuf), valid and
    // used through shared references only.
    let state = unsafe { &*ctx.cast::<PerfState>() };
    // SAFETY: libbpf passes one whole record, contiguous (it copies a record that wraps
    // around the end of the ring) and readable for header.size bytes, during this call.
    let rec =
        unsafe { std::slice::from_raw_parts(header.cast::<u8>(), usize::from((*header).size)) };
    match catch_unwind(AssertUnwindSafe(|| state.event(rec))) {
        Ok(ret) => ret,
        Err(payload) => {
            // Dropping the payload could panic again: leak it.
            std::mem::forget(payload);
            state.failure.set(Some("the perf buffer callback panicked"));
            libbpf_sys::LIBBPF_PERF_EVENT_ERROR
        }
    }
}

/// What one read of every ring got.
struct RingsRead {
    records: usize,
    /// A ring gave its whole budget: it may hold more.
    some_ring_full: bool,
}

/// Reads up to `budget` records from each ring in turn. Each ring has its own budget, so
/// a ring that a storm keeps full cannot starve the rings after it. Stops once output has
/// failed (the session reports the error).
fn consume_rings(rings: &Rings, delivery: &SharedDelivery, budget: usize) -> RingsRead {
    let mut read = RingsRead {
        records: 0,
        some_ring_full: false,
    };
    let mut d = delivery.borrow_mut();
    for ring in rings.iter() {
        let got = ring.consume(budget, |data| d.record(data));
        read.records = read.records.saturating_add(got.records);
        read.some_ring_full |= got.records >= budget;
        if got.stopped {
            break;
        }
    }
    read
}

/// Reads the rings to their end. A record may still be marked as being written by a
/// program that was running when its link went: read again until the rings are empty, for
/// at most DRAIN_GRACE.
fn drain_rings(rings: &Rings, delivery: &SharedDelivery) {
    const DRAIN_GRACE: Duration = Duration::from_millis(10);
    let deadline = Instant::now() + DRAIN_GRACE;
    loop {
        consume_rings(rings, delivery, usize::MAX);
        let output_failed = delivery.borrow().io_error.is_some();
        if output_failed || !ring_holds_records(rings) || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// True when any ring still holds committed or pending records: the reader must not wait
/// for a wakeup while one does, whichever ring it is.
fn ring_holds_records(rings: &Rings) -> bool {
    rings.iter().any(|ring| ring.backlog() > 0)
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
        let p = Pace::default().after_read(RING_BATCH, false);
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

    #[test]
    fn perf_events_wake_the_reader_at_a_quarter_of_the_buffer() {
        let attr = perf_attr(256 * 4096);
        assert_eq!(attr.type_, libbpf_sys::PERF_TYPE_SOFTWARE);
        assert_eq!(attr.config, u64::from(libbpf_sys::PERF_COUNT_SW_BPF_OUTPUT));
        assert_eq!(attr.sample_type, u64::from(libbpf_sys::PERF_SAMPLE_RAW));
        assert_eq!(attr.watermark(), 1);
        // SAFETY: a plain u32 union; watermark = 1 selects this member.
        assert_eq!(
            unsafe { attr.__bindgen_anon_2.wakeup_watermark },
            256 * 1024
        );
        assert_eq!(attr.size as usize, size_of::<libbpf_sys::perf_event_attr>());
        assert_eq!(attr.disabled(), 0, "libbpf enables the events after mmap");
    }

    fn perf_bytes(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut rec = kind.to_ne_bytes().to_vec();
        rec.extend_from_slice(&0u16.to_ne_bytes());
        rec.extend_from_slice(&((8 + body.len()) as u16).to_ne_bytes());
        rec.extend_from_slice(body);
        rec
    }

    #[test]
    fn perf_records_are_parsed_without_trusting_their_lengths() {
        let sample = |size: u32, data: &[u8]| {
            let mut body = size.to_ne_bytes().to_vec();
            body.extend_from_slice(data);
            perf_bytes(libbpf_sys::PERF_RECORD_SAMPLE, &body)
        };
        // A 3-byte record padded to 8-byte alignment: the padding is handed on too.
        let rec = sample(4, &[1, 2, 3, 0]);
        assert_eq!(perf_record(&rec), PerfRecord::Sample(&[1, 2, 3, 0]));
        assert_eq!(perf_record(&sample(0, &[])), PerfRecord::Sample(&[]));
        assert_eq!(
            perf_record(&sample(9, &[1, 2, 3, 0])),
            PerfRecord::Malformed
        );
        assert_eq!(perf_record(&sample(u32::MAX, &[])), PerfRecord::Malformed);
        let mut lost = 7u64.to_ne_bytes().to_vec();
        lost.extend_from_slice(&42u64.to_ne_bytes());
        let rec = perf_bytes(libbpf_sys::PERF_RECORD_LOST, &lost);
        assert_eq!(perf_record(&rec), PerfRecord::Lost(42));
        assert_eq!(perf_record(&rec[..20]), PerfRecord::Malformed);
        assert_eq!(perf_record(&perf_bytes(5, &[])), PerfRecord::Other);
        for len in 0..rec.len() {
            assert_eq!(
                perf_record(&rec[..len]),
                PerfRecord::Malformed,
                "{len} bytes"
            );
        }
    }
}
