//! The kernel-side counters (per CPU, summed over every possible CPU) and the loss report
//! built from them: every record the kernel could not hand over is counted there, and each
//! increase is reported in-band, so the in-band reports add up to the total at exit.

use std::os::fd::{AsFd, AsRawFd};

use anyhow::{Context, Result};
use libbpf_rs::{MapCore, MapFlags, ProgramMut};

use crate::plan::Rings;
use crate::skel::types::counters;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub seen: u64,
    pub emitted: u64,
    pub dropped: u64,
    pub dispatch_miss: u64,
    pub read_faults: u64,
    pub unpaired: u64,
    pub results_dropped: u64,
    pub held: u64,
    pub settled: u64,
    /// Not a counter of ours: the kernel's count of skipped runs (see recursion_misses).
    pub recursion_misses: u64,
}

impl Totals {
    fn add(&mut self, c: &counters) {
        self.seen += c.seen;
        self.emitted += c.emitted;
        self.dropped += c.dropped;
        self.dispatch_miss += c.dispatch_miss;
        self.read_faults += c.read_faults;
        self.unpaired += c.unpaired;
        self.results_dropped += c.results_dropped;
        self.held += c.held;
        self.settled += c.settled;
    }

    pub fn sum_per_cpu(values: &[Vec<u8>]) -> Totals {
        let mut t = Totals::default();
        for v in values {
            let mut c = counters::default();
            if plain::copy_from_bytes(&mut c, v).is_ok() {
                t.add(&c);
            }
        }
        t
    }
}

/// The records dropped on each ring, `cpus_per_ring` CPUs to a ring (CPU n writes ring
/// n / cpus_per_ring, as the BPF code's cpu_ring() decides): a CPU's records always go to
/// the same ring, so its drops are that ring's.
pub fn dropped_per_ring(values: &[Vec<u8>], cpus_per_ring: u32, rings: u32) -> Vec<u64> {
    let mut per_ring = vec![0; rings as usize];
    let group = cpus_per_ring.max(1) as usize;
    for (cpu, v) in values.iter().enumerate() {
        let mut c = counters::default();
        if plain::copy_from_bytes(&mut c, v).is_ok() {
            if let Some(slot) = per_ring.get_mut(cpu / group) {
                *slot += c.dropped;
            }
        }
    }
    per_ring
}

fn read_per_cpu(map: &dyn MapCore) -> Result<Vec<Vec<u8>>> {
    Ok(map
        .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
        .context("reading the per-CPU counters")?
        .unwrap_or_default())
}

pub fn read(map: &dyn MapCore) -> Result<Totals> {
    Ok(Totals::sum_per_cpu(&read_per_cpu(map)?))
}

/// The counters summed, and the drops per ring when there are several (sharded rings).
pub fn read_with_rings(
    map: &dyn MapCore,
    rings: Option<Rings>,
) -> Result<(Totals, Option<Vec<u64>>)> {
    let values = read_per_cpu(map)?;
    let per_ring = rings
        .filter(|r| r.cpus_per_ring > 0)
        .map(|r| dropped_per_ring(&values, r.cpus_per_ring, r.count));
    Ok((Totals::sum_per_cpu(&values), per_ring))
}

/// How many runs the kernel skipped of these programs because the same program was already
/// running on that CPU (its recursion guard; bpf_prog_info.recursion_misses, 5.12 on, 0
/// before). On a preemptible kernel, a task preempted inside the program makes the
/// syscalls of other tasks on that CPU skip it until it runs again: those calls are never
/// seen, whichever process made them, so they are reported apart from `seen`.
pub fn recursion_misses(progs: &[&ProgramMut]) -> Result<u64> {
    let mut total = 0;
    for prog in progs {
        let mut info = libbpf_sys::bpf_prog_info::default();
        let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
        // SAFETY: the fd is the loaded program's; info and len are valid for writing and
        // len says how many bytes info has (the kernel writes at most that).
        let err = unsafe {
            libbpf_sys::bpf_prog_get_info_by_fd(prog.as_fd().as_raw_fd(), &mut info, &mut len)
        };
        if err != 0 {
            return Err(std::io::Error::from_raw_os_error(-err)).with_context(|| {
                format!("reading program {}'s info", prog.name().to_string_lossy())
            });
        }
        total += info.recursion_misses;
    }
    Ok(total)
}

/// Turns the running drop total into reports of what is new since the last one.
#[derive(Debug, Default)]
pub struct LossReporter {
    reported: u64,
}

impl LossReporter {
    /// The drops not yet reported, if any; they count as reported from now on.
    pub fn take_new(&mut self, dropped_total: u64) -> Option<u64> {
        let new = dropped_total.saturating_sub(self.reported);
        self.reported = self.reported.max(dropped_total);
        (new > 0).then_some(new)
    }

    pub fn reported(&self) -> u64 {
        self.reported
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(c: counters) -> Vec<u8> {
        unsafe { plain::as_bytes(&c) }.to_vec()
    }

    #[test]
    fn sums_over_cpus() {
        let cpus = [
            bytes(counters {
                seen: 3,
                emitted: 2,
                dropped: 1,
                dispatch_miss: 0,
                read_faults: 4,
                unpaired: 1,
                results_dropped: 0,
                held: 5,
                settled: 4,
            }),
            bytes(counters {
                seen: 10,
                emitted: 10,
                dropped: 0,
                dispatch_miss: 2,
                read_faults: 0,
                unpaired: 2,
                results_dropped: 1,
                held: 0,
                settled: 1,
            }),
            vec![1, 2, 3], // short garbage is skipped, not trusted
        ];
        let t = Totals::sum_per_cpu(&cpus);
        assert_eq!(
            t,
            Totals {
                seen: 13,
                emitted: 12,
                dropped: 1,
                dispatch_miss: 2,
                read_faults: 4,
                unpaired: 3,
                results_dropped: 1,
                held: 5,
                settled: 5,
                recursion_misses: 0, // the kernel's, not in the per-CPU counters
            }
        );
    }

    #[test]
    fn drops_go_to_the_ring_of_their_cpu() {
        let cpu = |dropped| {
            bytes(counters {
                dropped,
                ..Default::default()
            })
        };
        // Five CPUs, two to a ring: rings {0,1}, {2,3}, {4}.
        let values = [cpu(1), cpu(2), cpu(0), cpu(4), cpu(8)];
        assert_eq!(dropped_per_ring(&values, 2, 3), vec![3, 4, 8]);
        assert_eq!(dropped_per_ring(&values, 1, 5), vec![1, 2, 0, 4, 8]);
    }

    #[test]
    fn loss_reports_add_up() {
        let mut r = LossReporter::default();
        assert_eq!(r.take_new(0), None);
        assert_eq!(r.take_new(5), Some(5));
        assert_eq!(r.take_new(5), None);
        assert_eq!(r.take_new(12), Some(7));
        assert_eq!(r.reported(), 12);
    }
}
