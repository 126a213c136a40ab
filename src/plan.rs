//! The plan: which BTF, which transport and which dispatcher this kernel gets, and why.
//! The logger asks here before it loads; the `probe` subcommand prints the same answers.
//! Nothing in here loads BPF: "load the first dispatcher that works" takes the attempt as a
//! closure, so the loader depends on this module and never the other way round.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::{DispatchChoice, TransportChoice};
use crate::exit::{self, Code, Failure};

/// How syscalls reach their handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// raw_tp/sys_enter tail calls the handler program of exec and timer calls and logs the
    /// rest itself, as the original example did.
    Tail,
    /// One program with the handlers inlined, for kernels that refuse the tail dispatcher.
    Inline,
}

impl Dispatch {
    pub fn name(self) -> &'static str {
        match self {
            Dispatch::Tail => "tail",
            Dispatch::Inline => "inline",
        }
    }
}

/// How records reach user space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    RingBuf,
    Perf,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::RingBuf => "ringbuf",
            Transport::Perf => "perf",
        }
    }
}

/// --results: where the end of a call is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitHook {
    /// tp_btf/sys_exit: the registers are a BTF-typed pointer, so the syscall number is
    /// a plain load. Needs the running kernel's own BTF to attach.
    TpBtf,
    /// raw_tp/sys_exit: one probe read for the syscall number; any kernel.
    RawTp,
}

impl ExitHook {
    pub fn name(self) -> &'static str {
        match self {
            ExitHook::TpBtf => "tp_btf",
            ExitHook::RawTp => "raw_tp",
        }
    }
}

/// tp_btf where the kernel describes itself (it is the cheaper of the two), else raw_tp.
pub fn choose_exit_hook(btf: &Btf) -> ExitHook {
    if btf.source == BtfSource::Sysfs {
        ExitHook::TpBtf
    } else {
        ExitHook::RawTp
    }
}

/// Minimal BTF cut from the build machine's kernel by `bpftool gen min_core_btf`.
static EMBEDDED_BTF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/min_core.btf"));

/// Test hooks: another path for the kernel's BTF, and a switch that hides the embedded one.
const SYSFS_BTF_ENV: &str = "TAILCALL_LOGGER_SYSFS_BTF";
const NO_EMBEDDED_ENV: &str = "TAILCALL_LOGGER_NO_EMBEDDED_BTF";
const SYSFS_BTF: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BtfSource {
    Sysfs,
    File,
    Embedded,
}

impl BtfSource {
    pub fn name(self) -> &'static str {
        match self {
            BtfSource::Sysfs => "sysfs",
            BtfSource::File => "file",
            BtfSource::Embedded => "embedded",
        }
    }
}

#[derive(Debug)]
pub struct Btf {
    pub source: BtfSource,
    pub path: PathBuf,
    /// Keeps the memfd holding the embedded BTF open while libbpf reads it.
    _memfd: Option<OwnedFd>,
}

impl Btf {
    /// What libbpf must be told; None lets it find the kernel's own BTF.
    pub fn custom_path(&self) -> Option<&Path> {
        (self.source != BtfSource::Sysfs).then_some(self.path.as_path())
    }

    /// The embedded BTF describes the build machine's kernel: stable layouts (pt_regs) are
    /// right anywhere, task_struct is not, so fields read through it are left out.
    pub fn vouches_for_task_struct(&self) -> bool {
        self.source != BtfSource::Embedded
    }
}

fn sysfs_btf_path() -> PathBuf {
    std::env::var_os(SYSFS_BTF_ENV).map_or_else(|| PathBuf::from(SYSFS_BTF), PathBuf::from)
}

pub fn embedded_btf_available() -> bool {
    !EMBEDDED_BTF.is_empty() && std::env::var_os(NO_EMBEDDED_ENV).is_none()
}

fn embedded_btf() -> Result<Btf> {
    let fd = nix::sys::memfd::memfd_create(
        c"tailcall-logger-btf",
        nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
    )
    .context("creating a memfd for the embedded BTF")?;
    let mut file = File::from(fd);
    file.write_all(EMBEDDED_BTF)
        .context("writing the embedded BTF")?;
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    Ok(Btf {
        source: BtfSource::Embedded,
        path,
        _memfd: Some(file.into()),
    })
}

/// Order: the kernel's own BTF; else --btf / TAILCALL_LOGGER_BTF; else the embedded one.
pub fn choose_btf(user: Option<&Path>) -> Result<Btf> {
    let sysfs = sysfs_btf_path();
    if sysfs.exists() {
        return Ok(Btf {
            source: BtfSource::Sysfs,
            path: sysfs,
            _memfd: None,
        });
    }
    if let Some(path) = user {
        if !path.is_file() {
            return Err(Failure::err(
                Code::Unsupported,
                format!("--btf {}: no such file", path.display()),
            ));
        }
        return Ok(Btf {
            source: BtfSource::File,
            path: path.to_path_buf(),
            _memfd: None,
        });
    }
    if embedded_btf_available() {
        return embedded_btf();
    }
    Err(Failure::err(
        Code::Unsupported,
        format!(
            "this kernel has no BTF ({} is missing) and no BTF is embedded: pass --btf PATH \
             (or TAILCALL_LOGGER_BTF) with the kernel's BTF",
            sysfs.display()
        ),
    ))
}

/// What a trial of one kernel facility answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trial {
    Works,
    /// The kernel does not have it (EINVAL for an unknown map type).
    Missing,
    /// This process may not use it (EPERM, EACCES): not a kernel question.
    Denied(nix::errno::Errno),
    /// Some other answer: not conclusive either way, the load will tell.
    Unknown,
}

impl Trial {
    fn of(result: Result<(), nix::errno::Errno>) -> Trial {
        match result {
            Ok(()) => Trial::Works,
            Err(e) if crate::privileges::is_denial(e) => Trial::Denied(e),
            Err(nix::errno::Errno::EINVAL) => Trial::Missing,
            Err(_) => Trial::Unknown,
        }
    }
}

/// A BPF ring buffer of one page, created and closed. libbpf's own probe answers "not
/// supported" for any failure, EPERM included, which would send a process that may not
/// call bpf() to the perf buffer as if the kernel lacked the ring buffer.
fn ringbuf_trial() -> Trial {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u32;
    Trial::of(crate::privileges::try_map_create(
        libbpf_sys::BPF_MAP_TYPE_RINGBUF,
        0,
        0,
        page,
    ))
}

fn perf_trial() -> Trial {
    Trial::of(crate::privileges::try_perf_event_open())
}

/// The transport for `choice`, and a note when auto had to fall back.
pub fn choose_transport(choice: TransportChoice) -> Result<(Transport, Option<String>)> {
    decide_transport(choice, ringbuf_trial, perf_trial)
}

/// choose_transport with the trials passed in (the unit tests give canned answers). A
/// denial is an error of its own (exit 3), never a reason to switch transports.
fn decide_transport(
    choice: TransportChoice,
    ringbuf: impl FnOnce() -> Trial,
    perf: impl FnOnce() -> Trial,
) -> Result<(Transport, Option<String>)> {
    let perf_allowed = |perf: Trial| match perf {
        Trial::Denied(e) => Err(crate::privileges::denied("perf_event_open()", e)),
        _ => Ok(()),
    };
    match choice {
        TransportChoice::Perf => {
            perf_allowed(perf())?;
            Ok((Transport::Perf, None))
        }
        TransportChoice::Ringbuf => match ringbuf() {
            Trial::Missing => Err(Failure::err(
                Code::Unsupported,
                "--transport ringbuf: this kernel has no BPF ring buffer (needs 5.8); use \
                 --transport perf or auto",
            )),
            Trial::Denied(e) => Err(crate::privileges::denied("bpf()", e)),
            Trial::Works | Trial::Unknown => Ok((Transport::RingBuf, None)),
        },
        TransportChoice::Auto => match ringbuf() {
            Trial::Missing => {
                perf_allowed(perf())?;
                Ok((
                    Transport::Perf,
                    Some("no BPF ring buffer in this kernel: using the perf buffer".into()),
                ))
            }
            Trial::Denied(e) => Err(crate::privileges::denied("bpf()", e)),
            Trial::Works | Trial::Unknown => Ok((Transport::RingBuf, None)),
        },
    }
}

/// How records are spread over BPF ring buffers: one ring per group of `cpus_per_ring`
/// CPUs. One ring shared by every CPU is a ceiling on hosts with many CPUs: its lock is
/// taken for every record, and the kernel's own ring buffer benchmark (bpf selftests'
/// bench ringbuf) falls from about 11 M records/s with one producer to 2-3 M/s with 2 to
/// 52 producers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rings {
    /// CPUs that share a ring; 0: one ring (events_rb) for every CPU.
    pub cpus_per_ring: u32,
    /// Rings the reader reads.
    pub count: u32,
    /// Bytes of each ring.
    pub bytes: u32,
}

/// Up to this many CPUs one ring serves them all: a few producers cost the ring's lock
/// little next to what one reader can format (about 4 M records/s), and a single ring keeps
/// every record of the session in one order.
const ONE_RING_CPUS: u32 = 4;
/// Above ONE_RING_CPUS, groups of 2 CPUs per ring (Falco's default) while that makes at
/// most this many rings; larger groups beyond. Each ring gets an equal part of
/// --ringbuf-bytes, so more rings mean smaller ones, which a burst on one CPU fills sooner:
/// 16 rings keep 256 KiB each out of the default 4 MiB, and a reader polls them all.
const MAX_RINGS: u32 = 16;

impl Rings {
    /// One ring of `bytes` for every CPU.
    pub fn single(bytes: u32) -> Rings {
        Rings {
            cpus_per_ring: 0,
            count: 1,
            bytes,
        }
    }

    /// What `plan.rings` says: the number of rings (null with the perf buffer).
    pub fn json(&self) -> serde_json::Value {
        json!(self.count)
    }
}

/// CPUs per ring by default for a host with `cpus` CPUs (see ONE_RING_CPUS, MAX_RINGS).
pub fn default_ring_cpus(cpus: u32) -> u32 {
    if cpus <= ONE_RING_CPUS {
        cpus.max(1)
    } else {
        cpus.div_ceil(MAX_RINGS).max(2)
    }
}

/// The rings for `cpus` possible CPUs, `requested` CPUs per ring (--ring-cpus) or the
/// default, `total` bytes (--ringbuf-bytes) split among them; `sharding` is the trial of
/// ring buffers inside a map of maps. A kernel that refuses them gets one ring, and the
/// note says so.
pub fn choose_rings(
    cpus: u32,
    requested: Option<u32>,
    total: u32,
    sharding: impl FnOnce() -> Trial,
) -> (Rings, Option<String>) {
    let per_ring = requested.unwrap_or_else(|| default_ring_cpus(cpus)).max(1);
    let count = cpus.max(1).div_ceil(per_ring);
    if count <= 1 {
        return (Rings::single(total), None);
    }
    let why = match sharding() {
        Trial::Works => {
            let rings = Rings {
                cpus_per_ring: per_ring,
                count,
                bytes: ring_share(total, count),
            };
            return (rings, None);
        }
        Trial::Missing => "the kernel refuses them".to_string(),
        Trial::Denied(e) => e.desc().to_string(),
        Trial::Unknown => "the trial was inconclusive".to_string(),
    };
    let note = format!(
        "ring buffers inside a map of maps are not usable here ({why}): one ring for all \
         {cpus} CPUs instead of {count}"
    );
    (Rings::single(total), Some(note))
}

/// Each ring's part of `total`: a power of two (the kernel wants one) of at least a page,
/// so the rings together never take more than `total` unless each is down to one page.
fn ring_share(total: u32, count: u32) -> u32 {
    let page = page_size();
    let share = total / count.max(1);
    if share < page {
        return page;
    }
    1 << (31 - share.leading_zeros())
}

fn page_size() -> u32 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u32
}

/// A ring buffer as the inner map of an array of maps, created and closed: what sharded
/// rings need. The kernel checks the inner map when the outer map is created (a map type
/// without map_meta_equal is refused there).
pub fn sharding_trial() -> Trial {
    Trial::of(try_ringbuf_in_map(page_size()))
}

/// The possible CPUs: a CPU's number is always below it, so every CPU has its group's ring.
pub fn possible_cpus() -> Result<u32> {
    let n = libbpf_rs::num_possible_cpus().context("counting the possible CPUs")?;
    u32::try_from(n).context("counting the possible CPUs")
}

/// A ring buffer of `ring_bytes` created, then an array of maps with it as the inner map,
/// both closed at once. Err is the errno.
fn try_ringbuf_in_map(ring_bytes: u32) -> Result<(), nix::errno::Errno> {
    use std::os::fd::FromRawFd;
    let created = |fd: i32| {
        if fd < 0 {
            return Err(nix::errno::Errno::from_raw(-fd));
        }
        // SAFETY: fd was just returned to us and nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    // SAFETY: a plain system call wrapper; no name, no options.
    let ring = created(unsafe {
        libbpf_sys::bpf_map_create(
            libbpf_sys::BPF_MAP_TYPE_RINGBUF,
            std::ptr::null(),
            0,
            0,
            ring_bytes,
            std::ptr::null(),
        )
    })?;
    let opts = libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as libbpf_sys::size_t,
        inner_map_fd: ring.as_raw_fd() as u32,
        ..Default::default()
    };
    // SAFETY: as above; opts is read during the call only. The outer map is closed when
    // dropped, right away.
    created(unsafe {
        libbpf_sys::bpf_map_create(
            libbpf_sys::BPF_MAP_TYPE_ARRAY_OF_MAPS,
            std::ptr::null(),
            4,
            4,
            1,
            &opts,
        )
    })
    .map(drop)
}

/// The dispatchers to try, in order.
pub fn dispatch_order(choice: DispatchChoice) -> &'static [Dispatch] {
    match choice {
        DispatchChoice::Auto => &[Dispatch::Tail, Dispatch::Inline],
        DispatchChoice::Tail => &[Dispatch::Tail],
        DispatchChoice::Inline => &[Dispatch::Inline],
    }
}

/// The running kernel's release ("unknown" if uname fails).
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// What was chosen, and the fallbacks taken on the way (each with its reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub dispatch: Dispatch,
    pub transport: Transport,
    pub btf: BtfSource,
    /// With --results or --count.
    pub exit: Option<ExitHook>,
    /// The ring buffers (with the ring buffer transport).
    pub rings: Option<Rings>,
    pub fallbacks: Vec<String>,
}

impl Plan {
    /// The `plan` object of the start record and of `probe --json`.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "dispatch": self.dispatch.name(),
            "transport": self.transport.name(),
            "btf": self.btf.name(),
            "exit": self.exit.map(ExitHook::name),
            "rings": self.rings.map(|r| r.json()),
        })
    }
}

/// What `first_that_works` returns: the attempt's value, the dispatcher that gave it, and
/// one note per dispatcher that failed before it.
pub struct Chosen<T> {
    pub value: T,
    pub dispatch: Dispatch,
    pub fallbacks: Vec<String>,
}

/// Every dispatcher failed: why, each ("tail dispatcher: ..."), and the last error.
#[derive(Debug)]
pub struct NoneWorked {
    pub fallbacks: Vec<String>,
    pub last: anyhow::Error,
}

/// Tries the dispatchers of `order` in turn and keeps the first that works. Each attempt
/// gets its own slot: libbpf-rs ties a loaded skeleton's lifetime to the storage it was
/// opened in, and a failed attempt's borrow of that storage cannot be handed to the next.
pub fn first_that_works<'s, S, T>(
    order: &[Dispatch],
    slots: &'s mut [S],
    mut attempt: impl FnMut(&'s mut S, Dispatch) -> Result<T>,
) -> Result<Chosen<T>, NoneWorked> {
    assert!(slots.len() >= order.len(), "one slot per dispatcher");
    let mut fallbacks = Vec::new();
    let mut last = anyhow::anyhow!("no dispatcher to try");
    for (&dispatch, slot) in order.iter().zip(slots.iter_mut()) {
        match attempt(slot, dispatch) {
            Ok(value) => {
                return Ok(Chosen {
                    value,
                    dispatch,
                    fallbacks,
                })
            }
            Err(e) => {
                fallbacks.push(format!(
                    "{} dispatcher: {}",
                    dispatch.name(),
                    exit::one_line(&e)
                ));
                last = e;
            }
        }
    }
    if !fallbacks.is_empty() && fallbacks.iter().all(|f| is_denied_load(f)) {
        last = Failure::err(
            Code::Privilege,
            format!(
                "{}: the kernel answered EPERM, a permission problem (seccomp profile, \
                 capability, LSM, lockdown), not a missing feature; {}",
                exit::one_line(&last),
                crate::privileges::CONTAINER_HINT
            ),
        );
    }
    Err(NoneWorked { fallbacks, last })
}

/// A dispatcher's load failed with EPERM ("Operation not permitted", as libbpf's error
/// prints it). EACCES is not taken as a denial here: the verifier refuses programs with
/// EACCES too.
fn is_denied_load(note: &str) -> bool {
    note.contains("Operation not permitted") || note.contains("os error 1)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_that_works_falls_back_and_says_why() {
        let mut slots = [0u8; 2];
        let chosen = first_that_works(&[Dispatch::Tail, Dispatch::Inline], &mut slots, |s, d| {
            *s = 1;
            match d {
                Dispatch::Tail => Err(anyhow::anyhow!("tail_calls are not allowed")),
                Dispatch::Inline => Ok(7),
            }
        })
        .unwrap();
        assert_eq!(chosen.value, 7);
        assert_eq!(chosen.dispatch, Dispatch::Inline);
        assert_eq!(
            chosen.fallbacks,
            vec!["tail dispatcher: tail_calls are not allowed".to_string()]
        );
        assert_eq!(slots, [1, 1]);
    }

    #[test]
    fn first_that_works_stops_at_the_first_success() {
        let mut slots = [(); 2];
        let mut tried = Vec::new();
        let chosen = first_that_works(&[Dispatch::Tail, Dispatch::Inline], &mut slots, |_, d| {
            tried.push(d);
            Ok(())
        })
        .unwrap();
        assert_eq!(chosen.dispatch, Dispatch::Tail);
        assert!(chosen.fallbacks.is_empty());
        assert_eq!(tried, vec![Dispatch::Tail]);
    }

    #[test]
    fn first_that_works_reports_the_last_error() {
        let mut slots = [(); 1];
        let err = first_that_works::<_, ()>(&[Dispatch::Inline], &mut slots, |_, _| {
            Err(anyhow::anyhow!("no"))
        })
        .err()
        .unwrap();
        assert_eq!(err.last.to_string(), "no");
        assert_eq!(err.fallbacks, vec!["inline dispatcher: no".to_string()]);
    }

    #[test]
    fn plan_json_names_every_choice() {
        let plan = Plan {
            dispatch: Dispatch::Inline,
            transport: Transport::Perf,
            btf: BtfSource::Embedded,
            exit: Some(ExitHook::RawTp),
            rings: None,
            fallbacks: vec![],
        };
        assert_eq!(
            plan.json(),
            json!({"dispatch": "inline", "transport": "perf", "btf": "embedded", "exit": "raw_tp",
                   "rings": null})
        );
    }

    fn canned(t: Trial) -> impl FnOnce() -> Trial {
        move || t
    }

    #[test]
    fn transport_denials_are_permission_problems_not_fallbacks() {
        use nix::errno::Errno;
        let eperm = Trial::Denied(Errno::EPERM);
        for choice in [TransportChoice::Auto, TransportChoice::Ringbuf] {
            let err = decide_transport(choice, canned(eperm), canned(Trial::Works)).unwrap_err();
            assert_eq!(exit::code_of(&err), 3);
            let line = exit::one_line(&err);
            assert!(line.starts_with("bpf() is not permitted (EPERM"), "{line}");
            assert!(line.contains("seccomp profile must allow bpf and perf_event_open"));
        }
        let err = decide_transport(
            TransportChoice::Auto,
            canned(Trial::Missing),
            canned(Trial::Denied(Errno::EACCES)),
        )
        .unwrap_err();
        assert_eq!(exit::code_of(&err), 3);
        assert!(exit::one_line(&err).starts_with("perf_event_open() is not permitted (EACCES"));
        let err = decide_transport(TransportChoice::Perf, canned(Trial::Works), canned(eperm))
            .unwrap_err();
        assert_eq!(exit::code_of(&err), 3);
    }

    #[test]
    fn transport_fallback_only_for_a_missing_ring_buffer() {
        let (t, note) = decide_transport(
            TransportChoice::Auto,
            canned(Trial::Missing),
            canned(Trial::Works),
        )
        .unwrap();
        assert_eq!(t, Transport::Perf);
        assert_eq!(
            note.as_deref(),
            Some("no BPF ring buffer in this kernel: using the perf buffer")
        );
        for ring in [Trial::Works, Trial::Unknown] {
            let (t, note) =
                decide_transport(TransportChoice::Auto, canned(ring), canned(Trial::Works))
                    .unwrap();
            assert_eq!((t, note), (Transport::RingBuf, None));
        }
        let err = decide_transport(
            TransportChoice::Ringbuf,
            canned(Trial::Missing),
            canned(Trial::Works),
        )
        .unwrap_err();
        assert_eq!(exit::code_of(&err), 4);
        assert_eq!(Trial::of(Err(nix::errno::Errno::EINVAL)), Trial::Missing);
        assert_eq!(
            Trial::of(Err(nix::errno::Errno::EACCES)),
            Trial::Denied(nix::errno::Errno::EACCES)
        );
        assert_eq!(Trial::of(Err(nix::errno::Errno::ENOMEM)), Trial::Unknown);
    }

    #[test]
    fn dispatchers_all_refused_with_eperm_is_a_permission_problem() {
        let mut slots = [(); 2];
        let err =
            first_that_works::<_, ()>(&[Dispatch::Tail, Dispatch::Inline], &mut slots, |_, d| {
                Err(Failure::err(
                    Code::Unsupported,
                    format!(
                        "loading the {} dispatcher: Operation not permitted (os error 1)",
                        d.name()
                    ),
                ))
            })
            .err()
            .unwrap();
        assert_eq!(exit::code_of(&err.last), 3);
        assert!(exit::one_line(&err.last).contains("not a missing feature"));
        // One dispatcher refused by the verifier: a kernel question, exit 4 stays.
        let err =
            first_that_works::<_, ()>(&[Dispatch::Tail, Dispatch::Inline], &mut slots, |_, d| {
                Err(Failure::err(
                    Code::Unsupported,
                    match d {
                        Dispatch::Tail => "tail_calls are not allowed (os error 22)".to_string(),
                        Dispatch::Inline => "Operation not permitted (os error 1)".to_string(),
                    },
                ))
            })
            .err()
            .unwrap();
        assert_eq!(exit::code_of(&err.last), 4);
    }

    #[test]
    fn rings_by_cpu_count() {
        assert_eq!(default_ring_cpus(1), 1);
        assert_eq!(default_ring_cpus(4), 4, "up to 4 CPUs: one ring");
        assert_eq!(default_ring_cpus(8), 2);
        assert_eq!(default_ring_cpus(32), 2);
        assert_eq!(default_ring_cpus(64), 4);
        assert_eq!(default_ring_cpus(128), 8, "at most 16 rings");
        let mib4 = 4 << 20;
        let works = || Trial::Works;
        assert_eq!(
            choose_rings(2, None, mib4, works),
            (Rings::single(mib4), None)
        );
        let (r, note) = choose_rings(8, None, mib4, works);
        assert_eq!(
            (r.cpus_per_ring, r.count, r.bytes, note),
            (2, 4, 1 << 20, None)
        );
        let (r, _) = choose_rings(2, Some(1), mib4, works);
        assert_eq!((r.cpus_per_ring, r.count, r.bytes), (1, 2, 2 << 20));
        let (r, _) = choose_rings(6, Some(4), mib4, works);
        assert_eq!((r.count, r.bytes), (2, 2 << 20));
        let (r, _) = choose_rings(6, Some(1), mib4, works);
        assert_eq!(r.bytes, 1 << 19, "a power of two, the total not exceeded");
        assert_eq!(choose_rings(8, Some(8), mib4, works).0, Rings::single(mib4));
        assert_eq!(
            choose_rings(8, Some(100), mib4, works).0,
            Rings::single(mib4)
        );
    }

    #[test]
    fn rings_fall_back_to_one_when_the_kernel_refuses_them() {
        let (r, note) = choose_rings(8, None, 1 << 22, || Trial::Missing);
        assert_eq!(r, Rings::single(1 << 22));
        let note = note.expect("a fallback note");
        assert!(
            note.contains("one ring for all 8 CPUs instead of 4"),
            "{note}"
        );
        let mut asked = false;
        let _ = choose_rings(2, None, 1 << 22, || {
            asked = true;
            Trial::Works
        });
        assert!(!asked, "one ring needs no trial");
    }
}
