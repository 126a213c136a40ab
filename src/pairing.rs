//! --results in userspace: an entry record that carries user memory read at entry (exec,
//! and paths or addresses with --args) crosses before its call returns; its outcome comes
//! later as a small HANDLER_RESULT record. Here the two meet, by (tid, entry ktime), in
//! whichever order they arrive (per-CPU perf buffers do not keep the global order), and
//! become one record, so every call is reported once.

use std::collections::HashMap;
use std::mem::{offset_of, size_of};

use anyhow::{Context, Result};
use libbpf_rs::{MapCore, MapFlags};

use crate::events::{self, CallResult, Outcome, PairingRole};
use crate::skel::types::{pending, pending_state, record_flags, record_header};

/// What to do with a record the buffer handed over.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Not part of a pair: format it as it is.
    Pass,
    /// Kept until its other half arrives.
    Wait,
    /// A pair completed: format this record (the entry with its outcome written in).
    Complete(Vec<u8>),
    /// Nothing to show: the kernel's outcome filter rejected the call, or the entry of
    /// this outcome was lost (already counted as lost).
    Drop,
}

pub struct Pairing {
    /// Entry records waiting for their outcome.
    entries: HashMap<(u32, u64), Vec<u8>>,
    /// Outcomes that arrived before their entry (or whose entry was lost).
    early: HashMap<(u32, u64), CallResult>,
    /// Entries beyond this many are reported unfinished, oldest first: their outcome is
    /// not coming (its slot was evicted in the kernel).
    limit: usize,
    /// Entries the kernel's outcome filter rejected (--failed, --min-duration).
    pub filtered: u64,
}

impl Pairing {
    pub fn new(limit: usize) -> Pairing {
        Pairing {
            entries: HashMap::new(),
            early: HashMap::new(),
            limit: limit.max(1),
            filtered: 0,
        }
    }

    /// Takes one record from the buffer.
    pub fn step(&mut self, data: &[u8]) -> Step {
        match events::pairing_role(data) {
            PairingRole::Alone => Step::Pass,
            PairingRole::Result(result) => match self.entries.remove(&result.call) {
                Some(entry) => self.complete(entry, result),
                None => {
                    self.keep_early(result);
                    Step::Drop
                }
            },
            PairingRole::AwaitsResult(call) => match self.early.remove(&call) {
                Some(result) => self.complete(data.to_vec(), result),
                None => {
                    self.entries.insert(call, data.to_vec());
                    Step::Wait
                }
            },
        }
    }

    fn complete(&mut self, mut entry: Vec<u8>, result: CallResult) -> Step {
        if result.filtered {
            self.filtered += 1;
            return Step::Drop;
        }
        events::set_outcome(&mut entry, result.outcome);
        Step::Complete(entry)
    }

    /// Bounded: an outcome whose entry was lost would otherwise wait forever.
    fn keep_early(&mut self, result: CallResult) {
        if self.early.len() >= self.limit {
            self.early.clear();
        }
        self.early.insert(result.call, result);
    }

    /// Entries over the limit, oldest first, as unfinished records (their outcome will
    /// not come); `now_ns` is the current ktime.
    pub fn overflow(&mut self, now_ns: u64) -> Vec<Vec<u8>> {
        if self.entries.len() <= self.limit {
            return Vec::new();
        }
        let excess = self.entries.len() - self.limit / 2;
        self.oldest(excess, now_ns)
    }

    /// Every entry still waiting, oldest first, as unfinished records: the logger stops.
    pub fn unfinished(&mut self, now_ns: u64) -> Vec<Vec<u8>> {
        self.oldest(self.entries.len(), now_ns)
    }

    fn oldest(&mut self, n: usize, now_ns: u64) -> Vec<Vec<u8>> {
        let mut calls: Vec<(u32, u64)> = self.entries.keys().copied().collect();
        calls.sort_by_key(|&(tid, ktime)| (ktime, tid));
        calls
            .into_iter()
            .take(n)
            .filter_map(|call| {
                let mut entry = self.entries.remove(&call)?;
                let duration_ns = now_ns.saturating_sub(call.1);
                events::set_outcome(&mut entry, Outcome::Unfinished { duration_ns });
                Some(entry)
            })
            .collect()
    }
}

/// The kernel's pending map when the logger stops.
#[derive(Debug, Default)]
pub struct PendingAtExit {
    /// Calls whose record is held in the kernel (a process blocked in read, accept,
    /// wait4), as unfinished records.
    pub held: Vec<Vec<u8>>,
    /// Slots with a call in them (held here, or sent at entry and waiting in userspace).
    pub in_flight: u64,
    /// Slots in the map, busy or idle: what the bound limits.
    pub slots: u64,
}

/// Reads the pending map; after the programs are detached, so it no longer changes.
pub fn pending_at_exit(map: &dyn MapCore, now_ns: u64) -> Result<PendingAtExit> {
    let mut out = PendingAtExit::default();
    for key in map.keys() {
        let Some(value) = map
            .lookup(&key, MapFlags::ANY)
            .context("reading the pending map")?
        else {
            continue;
        };
        out.slots += 1;
        let mut p = pending::default();
        if plain::copy_from_bytes(&mut p, &value).is_err() {
            continue;
        }
        if u32::from(p.state) != pending_state::PENDING_IDLE.0 {
            out.in_flight += 1;
        }
        if let Some(record) = held_record(&value, now_ns) {
            out.held.push(record);
        }
    }
    Ok(out)
}

/// A slot's record, when the slot holds one: its first bytes are laid out as the record.
fn held_record(slot: &[u8], now_ns: u64) -> Option<Vec<u8>> {
    let mut p = pending::default();
    plain::copy_from_bytes(&mut p, slot).ok()?;
    if u32::from(p.state) != pending_state::PENDING_HELD.0 {
        return None;
    }
    let has_args = u32::from(p.hdr.flags) & record_flags::RECORD_HAS_ARGS.0 != 0;
    let len = if has_args {
        offset_of!(pending, key)
    } else {
        size_of::<record_header>()
    };
    let mut record = slot[..len].to_vec();
    let duration_ns = now_ns.saturating_sub(p.hdr.ktime_ns);
    events::set_outcome(&mut record, Outcome::Unfinished { duration_ns });
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{decode, fixture, Event};
    use crate::handlers::Kind;
    use crate::skel::types::{handler_kind, record_flags, record_header};

    fn entry(tid: u32, ktime_ns: u64) -> Vec<u8> {
        let mut bytes = fixture::exec(
            &Event {
                ktime_ns,
                pid: tid,
                tid,
                ..fixture::event(Kind::Exec)
            },
            b"/bin/true",
            0,
            &[b"true"],
            0,
        );
        bytes[std::mem::offset_of!(record_header, flags)] |=
            record_flags::RECORD_AWAITS_RESULT.0 as u8;
        bytes
    }

    fn result(tid: u32, ktime_ns: u64, ret: i64, flags: record_flags) -> Vec<u8> {
        let h = record_header {
            ktime_ns,
            ret,
            duration_ns: 42,
            pid: tid,
            tid,
            nr: 59,
            kind: handler_kind::HANDLER_RESULT.0 as u8,
            flags: flags.0 as u8,
            ..Default::default()
        };
        unsafe { plain::as_bytes(&h) }.to_vec()
    }

    fn outcome_of(step: Step) -> Outcome {
        match step {
            Step::Complete(bytes) => decode(&bytes).unwrap().outcome,
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn pairs_in_either_order() {
        let mut p = Pairing::new(16);
        assert_eq!(p.step(&entry(7, 100)), Step::Wait);
        let done = p.step(&result(7, 100, -2, record_flags::RECORD_RESULT));
        assert_eq!(
            outcome_of(done),
            Outcome::Returned {
                ret: -2,
                duration_ns: 42
            }
        );
        assert_eq!(
            p.step(&result(8, 200, 0, record_flags::RECORD_RESULT)),
            Step::Drop
        );
        let done = p.step(&entry(8, 200));
        assert!(matches!(outcome_of(done), Outcome::Returned { ret: 0, .. }));
        assert!(p.unfinished(1000).is_empty());
    }

    #[test]
    fn filtered_calls_vanish_and_are_counted() {
        let mut p = Pairing::new(16);
        p.step(&entry(7, 100));
        let flags = record_flags(record_flags::RECORD_RESULT.0 | record_flags::RECORD_FILTERED.0);
        assert_eq!(p.step(&result(7, 100, 0, flags)), Step::Drop);
        assert_eq!(p.filtered, 1);
    }

    #[test]
    fn records_without_pairing_pass() {
        let mut p = Pairing::new(16);
        let mut plain_entry = entry(7, 100);
        plain_entry[std::mem::offset_of!(record_header, flags)] = 0;
        assert_eq!(p.step(&plain_entry), Step::Pass);
        assert_eq!(p.step(b"short"), Step::Pass);
    }

    #[test]
    fn waiting_entries_end_unfinished_oldest_first() {
        let mut p = Pairing::new(4);
        for (tid, t) in [(1, 300), (2, 100), (3, 200)] {
            p.step(&entry(tid, t));
        }
        let left = p.unfinished(1_000);
        let events: Vec<Event> = left.iter().map(|b| decode(b).unwrap()).collect();
        assert_eq!(
            events.iter().map(|e| e.tid).collect::<Vec<_>>(),
            vec![2, 3, 1]
        );
        assert_eq!(events[0].outcome, Outcome::Unfinished { duration_ns: 900 });
    }

    #[test]
    fn bounded() {
        let mut p = Pairing::new(4);
        for t in 0..5 {
            p.step(&entry(t, u64::from(t)));
        }
        assert_eq!(p.overflow(10).len(), 3);
        assert_eq!(p.unfinished(10).len(), 2);
    }
}
