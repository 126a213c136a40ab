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
    /// raw_tp/sys_enter tail calls one handler program per syscall.
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
            fallbacks: vec![],
        };
        assert_eq!(
            plan.json(),
            json!({"dispatch": "inline", "transport": "perf", "btf": "embedded", "exit": "raw_tp"})
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
}
