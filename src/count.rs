//! --count: calls, errors and time per syscall, aggregated in the kernel (per CPU, in one
//! of two halves of call_stats chosen by count_epoch), summed here and shown as a table
//! sorted by time like `strace -c`, or as one JSON object per interval.
//!
//! Reading an interval: flip count_epoch so new calls go to the other half, give the
//! programs already running on the old half a moment to finish, then read and clear it. A
//! call counted into the old half after it was cleared is not lost: it is read with that
//! half next time, and the final read at exit takes both halves.

use std::time::Duration;

use anyhow::{Context, Result};
use libbpf_rs::{MapCore, MapFlags};
use serde_json::json;

use crate::bss::{self, Bss};
use crate::handlers::HandlerTable;
use crate::skel::types::call_stats;
use crate::syscalls;

/// MAX_SYSCALLS in bpf/dispatch.h: the size of one half of call_stats.
const HALF: u32 = 1024;
/// Longer than any BPF program runs.
const SETTLE: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub calls: u64,
    pub errors: u64,
    pub total_ns: u64,
    pub max_ns: u64,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.total_ns += other.total_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    fn avg_ns(&self) -> u64 {
        self.total_ns.checked_div(self.calls).unwrap_or(0)
    }
}

/// Per table key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub Vec<Stats>);

impl Counts {
    fn add(&mut self, other: &Counts) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), Stats::default());
        }
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            mine.add(theirs);
        }
    }
}

/// The syscall name of each table key ("NAME (ia32)" for the i386 part).
pub fn key_names(table: &HandlerTable) -> Vec<String> {
    let native = (0..table.len()).map(|nr| (table.arch, nr, ""));
    let compat = table
        .arch
        .compat()
        .into_iter()
        .flat_map(|arch| (0..table.compat.len() as u32).map(move |nr| (arch, nr, " (ia32)")));
    native
        .chain(compat)
        .map(|(arch, nr, suffix)| match syscalls::name(arch, nr) {
            Some(name) => format!("{name}{suffix}"),
            None => format!("syscall_{nr}{suffix}"),
        })
        .collect()
}

/// Reads the kernel's counts, interval by interval, and keeps the running total.
pub struct Counter {
    keys: u32,
    epoch: u32,
    pub total: Counts,
}

impl Counter {
    pub fn new(keys: u32) -> Counter {
        Counter {
            keys,
            epoch: 0,
            total: Counts::default(),
        }
    }

    /// What was counted since the last call.
    pub fn interval(&mut self, stats: &dyn MapCore, bss_map: &dyn MapCore) -> Result<Counts> {
        let old = self.epoch & 1;
        self.epoch = self.epoch.wrapping_add(1);
        set_epoch(bss_map, self.epoch)?;
        std::thread::sleep(SETTLE);
        let counts = take_half(stats, old, self.keys)?;
        self.total.add(&counts);
        Ok(counts)
    }

    /// Everything left once the programs are detached: both halves.
    pub fn last(&mut self, stats: &dyn MapCore) -> Result<Counts> {
        let mut counts = take_half(stats, 0, self.keys)?;
        counts.add(&take_half(stats, 1, self.keys)?);
        self.total.add(&counts);
        Ok(counts)
    }
}

fn set_epoch(bss_map: &dyn MapCore, epoch: u32) -> Result<()> {
    bss::set_u32(bss_map, std::mem::offset_of!(Bss, count_epoch), epoch)
        .context("flipping count_epoch")
}

/// Sums one half over every CPU and clears what it read.
fn take_half(stats: &dyn MapCore, half: u32, keys: u32) -> Result<Counts> {
    let mut counts = Counts(vec![Stats::default(); keys as usize]);
    for key in 0..keys.min(HALF) {
        let index = (half * HALF + key).to_ne_bytes();
        let per_cpu = stats
            .lookup_percpu(&index, MapFlags::ANY)
            .context("reading the per-syscall counts")?
            .unwrap_or_default();
        let mut sum = Stats::default();
        for bytes in &per_cpu {
            let mut c = call_stats::default();
            if plain::copy_from_bytes(&mut c, bytes).is_ok() {
                sum.add(&Stats {
                    calls: c.calls,
                    errors: c.errors,
                    total_ns: c.total_ns,
                    max_ns: c.max_ns,
                });
            }
        }
        if sum.calls == 0 {
            continue;
        }
        let zeros = vec![vec![0u8; std::mem::size_of::<call_stats>()]; per_cpu.len()];
        stats
            .update_percpu(&index, &zeros, MapFlags::ANY)
            .context("clearing the per-syscall counts")?;
        counts.0[key as usize] = sum;
    }
    Ok(counts)
}

/// (name, stats) of every syscall called, the slowest in total first.
fn rows<'a>(counts: &'a Counts, names: &'a [String]) -> Vec<(&'a str, &'a Stats)> {
    let mut rows: Vec<(&str, &Stats)> = counts
        .0
        .iter()
        .enumerate()
        .filter(|(_, s)| s.calls > 0)
        .map(|(key, s)| (names.get(key).map_or("?", String::as_str), s))
        .collect();
    rows.sort_by(|a, b| {
        (b.1.total_ns, b.1.calls)
            .cmp(&(a.1.total_ns, a.1.calls))
            .then(a.0.cmp(b.0))
    });
    rows
}

fn total_of(rows: &[(&str, &Stats)]) -> Stats {
    let mut total = Stats::default();
    for (_, s) in rows {
        total.add(s);
    }
    total
}

/// The table, like `strace -c` with a column for the slowest call.
pub fn table(counts: &Counts, names: &[String], title: &str) -> String {
    let rows = rows(counts, names);
    let total = total_of(&rows);
    let rule = "------ ----------- ----------- ----------- --------- --------- ----------------\n";
    let mut out = format!("{title}\n");
    out.push_str("% time     seconds  usecs/call   max usecs     calls    errors syscall\n");
    out.push_str(rule);
    let line = |out: &mut String, name: &str, s: &Stats| {
        let share = if total.total_ns == 0 {
            0.0
        } else {
            100.0 * s.total_ns as f64 / total.total_ns as f64
        };
        let errors = if s.errors == 0 {
            String::new()
        } else {
            s.errors.to_string()
        };
        out.push_str(&format!(
            "{share:6.2} {:11.6} {:11} {:11} {:9} {errors:>9} {name}\n",
            s.total_ns as f64 / 1e9,
            s.avg_ns() / 1000,
            s.max_ns / 1000,
            s.calls,
        ));
    };
    for (name, s) in &rows {
        line(&mut out, name, s);
    }
    out.push_str(rule);
    line(&mut out, "total", &total);
    out
}

/// The fields of one `count` record.
pub fn json(counts: &Counts, names: &[String], interval_s: f64, last: bool) -> serde_json::Value {
    let rows = rows(counts, names);
    let total = total_of(&rows);
    let stats = |s: &Stats| {
        json!({
            "calls": s.calls,
            "errors": s.errors,
            "total_ns": s.total_ns,
            "avg_ns": s.avg_ns(),
            "max_ns": s.max_ns,
        })
    };
    let syscalls: Vec<serde_json::Value> = rows
        .iter()
        .map(|(name, s)| {
            let mut v = stats(s);
            v["syscall"] = json!(name);
            v
        })
        .collect();
    json!({
        "interval_s": (interval_s * 1000.0).round() / 1000.0,
        "final": last,
        "syscalls": syscalls,
        "total": stats(&total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> (Counts, Vec<String>) {
        let names = vec![
            "read".to_string(),
            "openat".to_string(),
            "close".to_string(),
        ];
        let c = Counts(vec![
            Stats {
                calls: 10,
                errors: 0,
                total_ns: 5_000,
                max_ns: 900,
            },
            Stats {
                calls: 3,
                errors: 2,
                total_ns: 15_000,
                max_ns: 12_000,
            },
            Stats::default(),
        ]);
        (c, names)
    }

    #[test]
    fn table_sorted_by_time_with_total() {
        let (c, names) = counts();
        let t = table(&c, &names, "tailcall-logger: counts");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 7, "{t}");
        assert!(lines[3].ends_with(" openat"), "{t}");
        assert_eq!(
            lines[3],
            " 75.00    0.000015           5          12         3         2 openat"
        );
        assert!(lines[4].ends_with(" read"), "{t}");
        assert!(lines[6].contains("        13         2 total"), "{t}");
        assert!(!t.contains("close"));
    }

    #[test]
    fn json_rows() {
        let (c, names) = counts();
        let v = json(&c, &names, 10.0, true);
        assert_eq!(v["syscalls"][0]["syscall"], "openat");
        assert_eq!(v["syscalls"][0]["avg_ns"], 5000);
        assert_eq!(v["syscalls"].as_array().unwrap().len(), 2);
        assert_eq!(v["total"]["calls"], 13);
        assert_eq!(v["total"]["max_ns"], 12_000);
        assert_eq!(v["final"], true);
    }

    #[test]
    fn totals_accumulate() {
        let (c, _) = counts();
        let mut total = Counts::default();
        total.add(&c);
        total.add(&c);
        assert_eq!(total.0[1].calls, 6);
        assert_eq!(total.0[1].max_ns, 12_000);
    }
}
