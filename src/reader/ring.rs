//! The consumer side of the BPF ring buffers, read straight from their memory maps as
//! libbpf's ring_buffer reads them, with one difference: the consumer position is published
//! once per PUBLISH_BYTES of records read and at the end of each read, not after every
//! record. The producer (the traced program's CPU) reads that position on every reserve,
//! so each store the reader makes to it while the producer runs costs the producer a cache
//! line from the reader's CPU: publishing per record cost a logged syscall about 7 ns more
//! in the kernel on the bench machine (bench/analysis.md, round 7).
//!
//! The layout is the kernel's (kernel/bpf/ringbuf.c, include/uapi/linux/bpf.h): the map's
//! first page holds the consumer position, the only page userspace may write; the second
//! holds the producer position; the data pages follow, mapped twice in a row so that a
//! record that wraps around the end reads as one piece. Each record starts with an 8-byte
//! header whose first u32 is its length with two flags (BUSY while the producer still
//! writes it, DISCARD if it was given up), and records are 8-byte aligned.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use libbpf_rs::{MapCore, MapType};

const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HEADER_BYTES: u64 = 8;
/// The consumer position is published at least this often (and at the end of every read):
/// for a record of 80 bytes, the common one, about every 200 records. A small ring
/// publishes every sixteenth of its size, so the producer never finds much of it held
/// back.
const PUBLISH_BYTES: u64 = 16 * 1024;
const PUBLISH_SHARE: u64 = 16;

/// One ring buffer map, mapped; unmapped on drop.
pub struct Ring {
    /// The consumer position, in the map's first page (read-write).
    consumer: NonNull<u64>,
    /// The producer position's page, followed by the data mapped twice (read-only).
    producer_page: NonNull<u8>,
    producer_len: usize,
    page_size: usize,
    /// Data size - 1 (a power of two).
    mask: u64,
    /// Bytes read between two stores of the consumer position.
    publish_every: u64,
}

/// The ring buffer maps of one session, on one epoll. `'a` ties the mappings to the maps.
pub struct Rings<'a> {
    rings: Vec<Ring>,
    epoll: OwnedFd,
    _maps: PhantomData<&'a ()>,
}

/// What a read of one ring did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Consumed {
    /// Records handed to the callback.
    pub records: usize,
    /// The callback asked to stop.
    pub stopped: bool,
}

impl<'a> Rings<'a> {
    /// Maps every ring of `maps`, in this order, and puts them on one epoll.
    pub fn new(maps: &[&'a dyn MapCore]) -> Result<Rings<'a>> {
        // SAFETY: epoll_create1 has no preconditions; the fd it returns is ours to own.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(io::Error::last_os_error()).context("creating the ring buffers' epoll");
        }
        // SAFETY: epoll is a new fd that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        let mut rings = Vec::with_capacity(maps.len());
        for (i, map) in maps.iter().enumerate() {
            let ring = Ring::map(*map).with_context(|| format!("mapping ring buffer {i}"))?;
            rings.push(ring);
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: i as u64,
            };
            // SAFETY: both fds are open; ev is read during the call only.
            let added = unsafe {
                libc::epoll_ctl(
                    epoll.as_raw_fd(),
                    libc::EPOLL_CTL_ADD,
                    map.as_fd().as_raw_fd(),
                    &mut ev,
                )
            };
            if added < 0 {
                return Err(io::Error::last_os_error())
                    .with_context(|| format!("adding ring buffer {i} to the epoll"));
            }
        }
        Ok(Rings {
            rings,
            epoll,
            _maps: PhantomData,
        })
    }

    /// The rings, in the order of the maps.
    pub fn iter(&self) -> impl Iterator<Item = &Ring> {
        self.rings.iter()
    }

    /// Waits up to `timeout` for a ring to be reported ready: whether one was. epoll checks
    /// again only the rings on its ready list (reported before, or woken by a producer
    /// since): a ring last seen empty whose records came without a wakeup is not reported,
    /// so the caller must look at the backlog before waiting (see reader.rs).
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let mut ev = [libc::epoll_event { events: 0, u64: 0 }];
        // SAFETY: the epoll fd is open; ev is a writable array of one event.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                ev.as_mut_ptr(),
                1,
                timeout.as_millis().min(i32::MAX as u128) as i32,
            )
        };
        match n {
            n if n < 0 => Err(io::Error::last_os_error()),
            n => Ok(n > 0),
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: both mappings were made with these lengths when the Ring was made and are
        // unmapped here only; no slice into them outlives a consume call.
        unsafe {
            libc::munmap(self.consumer.as_ptr().cast(), self.page_size);
            libc::munmap(self.producer_page.as_ptr().cast(), self.producer_len);
        }
    }
}

impl Ring {
    fn map(map: &dyn MapCore) -> Result<Ring> {
        if map.map_type() != MapType::RingBuf {
            bail!("{:?} is not a ring buffer", map.name());
        }
        let data_len = u64::from(map.max_entries());
        if !data_len.is_power_of_two() {
            bail!("ring buffer size {data_len} is not a power of two");
        }
        // SAFETY: sysconf has no preconditions.
        let page_size = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .context("the page size")?;
        let producer_len = usize::try_from(data_len)
            .ok()
            .and_then(|d| d.checked_mul(2)?.checked_add(page_size))
            .context("the ring buffer's mapping size")?;
        let fd = map.as_fd().as_raw_fd();
        let consumer = mmap(page_size, libc::PROT_READ | libc::PROT_WRITE, fd, 0)
            .context("mapping the consumer position")?;
        let producer_page = match mmap(producer_len, libc::PROT_READ, fd, page_size) {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: the consumer page was mapped just above, with this length.
                unsafe { libc::munmap(consumer.as_ptr().cast(), page_size) };
                return Err(e).context("mapping the ring buffer's data");
            }
        };
        Ok(Ring {
            consumer: consumer.cast(),
            producer_page,
            producer_len,
            page_size,
            mask: data_len - 1,
            publish_every: publish_every(data_len),
        })
    }

    fn consumer_atomic(&self) -> &AtomicU64 {
        // SAFETY: the consumer page is mapped read-write for the Ring's life and its first
        // 8 bytes are the kernel's u64 consumer position, page-aligned.
        unsafe { AtomicU64::from_ptr(self.consumer.as_ptr()) }
    }

    fn consumer_pos(&self) -> u64 {
        self.consumer_atomic().load(Ordering::Acquire)
    }

    fn producer_pos(&self) -> u64 {
        load_acquire_u64(self.producer_page.as_ptr().cast())
    }

    /// Bytes of records the ring holds (committed or still being written).
    pub fn backlog(&self) -> u64 {
        self.producer_pos().saturating_sub(self.consumer_pos())
    }

    /// Hands up to `limit` records to `f`, oldest first, and stops early when `f` returns
    /// false or the next record is still being written.
    pub fn consume(&self, limit: usize, mut f: impl FnMut(&[u8]) -> bool) -> Consumed {
        let mut done = Consumed::default();
        let mut pos = self.consumer_pos();
        let mut published = pos;
        let mut end = pos;
        while done.records < limit && !done.stopped {
            if pos >= end {
                // Caught up with what the producer had committed: look again once.
                end = self.producer_pos();
                if pos >= end {
                    break;
                }
            }
            let Some(len) = self.committed_len(pos) else {
                break;
            };
            let size = u64::from(len & !DISCARD_BIT);
            if len & DISCARD_BIT == 0 {
                done.records += 1;
                done.stopped = !f(self.record(pos, size));
            }
            pos += (size + HEADER_BYTES + 7) & !7;
            if pos - published >= self.publish_every {
                self.consumer_atomic().store(pos, Ordering::Release);
                published = pos;
            }
        }
        if pos != published {
            self.consumer_atomic().store(pos, Ordering::Release);
        }
        done
    }

    /// The length word of the record at `pos`, or None while the producer still writes it.
    fn committed_len(&self, pos: u64) -> Option<u32> {
        let len = load_acquire_u32(self.data_at(pos).cast());
        (len & BUSY_BIT == 0).then_some(len)
    }

    /// The record at `pos`, `size` bytes after its header.
    fn record(&self, pos: u64, size: u64) -> &[u8] {
        // The kernel caps a record below the data size; a bound keeps a corrupt length
        // within the double mapping anyway.
        let size = size.min(self.mask + 1) as usize;
        // SAFETY: the record starts within the first copy of the data and is at most the
        // data's size long, so it ends within the second copy; the producer does not write
        // it again before the consumer position passes it, which happens after `f`
        // returns (the slice does not outlive the callback).
        unsafe { std::slice::from_raw_parts(self.data_at(pos).add(HEADER_BYTES as usize), size) }
    }

    fn data_at(&self, pos: u64) -> *const u8 {
        // SAFETY: the data starts one page into the producer mapping; pos & mask is below
        // the data's size.
        unsafe {
            self.producer_page
                .as_ptr()
                .add(self.page_size + (pos & self.mask) as usize)
        }
    }
}

/// The consumer position is stored every this many bytes read.
fn publish_every(data_len: u64) -> u64 {
    PUBLISH_BYTES.min(data_len / PUBLISH_SHARE)
}

// The producer page and the data are mapped read-only: Rust allows only Relaxed atomic
// loads of read-only memory (std::sync::atomic, "Atomic accesses to read-only memory"), so
// an acquire load is a relaxed one followed by an acquire fence (what the kernel's
// smp_load_acquire pairs with: its producer stores the position, and commits a record's
// length word, with release semantics).

/// `p`: the producer position, in the read-only producer page, mapped for the Ring's life.
fn load_acquire_u64(p: *const u64) -> u64 {
    // SAFETY: p is 8-byte aligned (page-aligned) and mapped readable while the Ring lives;
    // an 8-byte Relaxed load of read-only memory is allowed.
    let v = unsafe { AtomicU64::from_ptr(p.cast_mut()) }.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    v
}

/// `p`: a record's length word, 8-byte aligned within the read-only data mapping.
fn load_acquire_u32(p: *const u32) -> u32 {
    // SAFETY: p is aligned and mapped readable while the Ring lives; a 4-byte Relaxed load
    // of read-only memory is allowed.
    let v = unsafe { AtomicU32::from_ptr(p.cast_mut()) }.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    v
}

fn mmap(len: usize, prot: libc::c_int, fd: libc::c_int, offset: usize) -> io::Result<NonNull<u8>> {
    let offset = libc::off_t::try_from(offset).map_err(|_| io::Error::other("offset"))?;
    // SAFETY: a new shared mapping of the map's fd; the kernel checks the length, the
    // protection and the offset against the ring buffer's layout.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_SHARED,
            fd,
            offset,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: usize = 64 * 1024;

    /// A ring laid out as the kernel lays it out (consumer page; producer page, then the
    /// data mapped twice), over a memfd: Ring reads it as it reads a BPF ring buffer (and
    /// unmaps it when dropped), and the test writes records as the kernel's producer would.
    struct FakeRing {
        ring: Ring,
    }

    impl FakeRing {
        fn new() -> FakeRing {
            // SAFETY: plain syscalls on fds and mappings this test makes and owns; the fixed
            // mappings go into the region reserved just before for them.
            unsafe {
                let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
                let fd = libc::memfd_create(c"ring".as_ptr(), 0);
                assert!(fd >= 0);
                assert_eq!(libc::ftruncate(fd, (2 * page + DATA) as libc::off_t), 0);
                let consumer = mmap(page, libc::PROT_READ | libc::PROT_WRITE, fd, 0).unwrap();
                let region_len = page + 2 * DATA;
                let region = libc::mmap(
                    std::ptr::null_mut(),
                    region_len,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(region, libc::MAP_FAILED);
                let rw = libc::PROT_READ | libc::PROT_WRITE;
                let fixed = libc::MAP_SHARED | libc::MAP_FIXED;
                let first = libc::mmap(region, page + DATA, rw, fixed, fd, page as libc::off_t);
                assert_eq!(first, region);
                let second = region.cast::<u8>().add(page + DATA).cast();
                let again = libc::mmap(second, DATA, rw, fixed, fd, 2 * page as libc::off_t);
                assert_eq!(again, second);
                libc::close(fd);
                FakeRing {
                    ring: Ring {
                        consumer: consumer.cast(),
                        producer_page: NonNull::new(region.cast()).unwrap(),
                        producer_len: region_len,
                        page_size: page,
                        mask: DATA as u64 - 1,
                        publish_every: publish_every(DATA as u64),
                    },
                }
            }
        }

        fn set_positions(&self, consumer: u64, producer: u64) {
            self.ring
                .consumer_atomic()
                .store(consumer, Ordering::Release);
            // SAFETY: the producer page is mapped writable in this test.
            unsafe { AtomicU64::from_ptr(self.ring.producer_page.as_ptr().cast()) }
                .store(producer, Ordering::Release);
        }

        /// Writes a record at `pos` with the given flags; returns the next record's position.
        fn put(&self, pos: u64, payload: &[u8], flags: u32) -> u64 {
            for (i, b) in payload.iter().enumerate() {
                // SAFETY: the record lies within the double mapping (payloads are small).
                unsafe { *self.ring.data_at(pos).cast_mut().add(8 + i) = *b };
            }
            let len = payload.len() as u32 | flags;
            // SAFETY: the header is 8-byte aligned within the mapped data.
            unsafe { AtomicU32::from_ptr(self.ring.data_at(pos).cast_mut().cast()) }
                .store(len, Ordering::Release);
            pos + ((payload.len() as u64 + HEADER_BYTES + 7) & !7)
        }

        fn read_all(&self, limit: usize) -> (Vec<Vec<u8>>, Consumed) {
            let mut got = Vec::new();
            let done = self.ring.consume(limit, |r| {
                got.push(r.to_vec());
                true
            });
            (got, done)
        }
    }

    #[test]
    fn reads_committed_records_in_order_and_skips_discarded_ones() {
        let f = FakeRing::new();
        let mut end = f.put(0, b"first", 0);
        end = f.put(end, b"given up", DISCARD_BIT);
        end = f.put(end, b"second record", 0);
        f.set_positions(0, end);
        let (got, done) = f.read_all(usize::MAX);
        assert_eq!(got, vec![b"first".to_vec(), b"second record".to_vec()]);
        assert_eq!(
            done,
            Consumed {
                records: 2,
                stopped: false
            }
        );
        assert_eq!(f.ring.consumer_pos(), end, "everything read is released");
        assert_eq!(f.read_all(usize::MAX).1.records, 0);
    }

    #[test]
    fn stops_at_a_record_still_being_written() {
        let f = FakeRing::new();
        let busy_at = f.put(0, b"done", 0);
        let end = f.put(busy_at, b"writing", BUSY_BIT);
        f.set_positions(0, end);
        let (got, _) = f.read_all(usize::MAX);
        assert_eq!(got, vec![b"done".to_vec()]);
        assert_eq!(
            f.ring.consumer_pos(),
            busy_at,
            "the busy record is not passed"
        );
        f.put(busy_at, b"writing", 0);
        assert_eq!(f.read_all(usize::MAX).0, vec![b"writing".to_vec()]);
        assert_eq!(f.ring.consumer_pos(), end);
    }

    #[test]
    fn a_record_that_wraps_around_reads_whole() {
        let f = FakeRing::new();
        let start = 3 * DATA as u64 - 16; // 16 bytes before the end of the data, 3 laps in
        let payload: Vec<u8> = (0..100).collect();
        let end = f.put(start, &payload, 0);
        f.set_positions(start, end);
        // The payload's last 92 bytes went through the second copy into the data's start.
        // SAFETY: the data's first bytes are mapped.
        let head = unsafe { std::slice::from_raw_parts(f.ring.data_at(0), 92) };
        assert_eq!(head, &payload[8..]);
        assert_eq!(f.read_all(usize::MAX).0, vec![payload]);
        assert_eq!(f.ring.consumer_pos(), end);
    }

    #[test]
    fn limit_and_a_refusing_callback_stop_the_read_after_that_record() {
        let f = FakeRing::new();
        let mut ends = vec![0];
        for i in 0..5u8 {
            let at = *ends.last().unwrap();
            ends.push(f.put(at, &[i; 20], 0));
        }
        f.set_positions(0, ends[5]);
        let (got, done) = f.read_all(2);
        assert_eq!(got.len(), 2);
        assert!(!done.stopped);
        assert_eq!(f.ring.consumer_pos(), ends[2]);
        let mut calls = 0;
        let done = f.ring.consume(usize::MAX, |_| {
            calls += 1;
            false
        });
        assert_eq!(
            (calls, done),
            (
                1,
                Consumed {
                    records: 1,
                    stopped: true
                }
            )
        );
        assert_eq!(
            f.ring.consumer_pos(),
            ends[3],
            "the refused record counts as read"
        );
    }

    #[test]
    fn publish_every_is_16_kib_or_a_sixteenth_of_a_smaller_ring() {
        assert_eq!(publish_every(4096), 256);
        assert_eq!(publish_every(64 * 1024), 4096);
        assert_eq!(publish_every(256 * 1024), 16 * 1024);
        assert_eq!(publish_every(16 << 20), 16 * 1024);
    }

    #[test]
    fn publishes_the_position_every_sixteenth_of_the_ring_never_past_a_record_in_hand() {
        let f = FakeRing::new();
        let every = f.ring.publish_every;
        let mut end = 0;
        while end < 3 * every {
            end = f.put(end, &[7; 72], 0);
        }
        f.set_positions(0, end);
        let mut seen = Vec::new();
        let done = f.ring.consume(usize::MAX, |_| {
            let in_hand = 80 * seen.len() as u64; // every record is 8 + 72 bytes
            let published = f.ring.consumer_pos();
            assert!(
                published <= in_hand,
                "{published} published while reading {in_hand}"
            );
            seen.push(published);
            true
        });
        assert_eq!(done.records, seen.len());
        let mut published: Vec<u64> = seen.clone();
        published.dedup();
        assert_eq!(
            published.len(),
            3,
            "positions seen during the read: {published:?}"
        );
        for w in published.windows(2) {
            assert!(w[1] - w[0] >= every && w[1] - w[0] < every + 80);
        }
        assert_eq!(
            f.ring.consumer_pos(),
            end,
            "the rest at the end of the read"
        );
    }
}
