//! Where the fallbacks are chosen: which BTF, which transport, which dispatcher. The logger
//! asks here before it loads; `tailcall-logger probe` prints the same answers.

use std::fs::File;
use std::io::Write;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libbpf_rs::{MapType, ProgramType};
use serde_json::json;

use crate::cli::{DispatchChoice, KernelArgs, TransportChoice};
use crate::exit::{ExitCode, Failure};
use crate::handlers::{HandlerTable, Selection};
use crate::loader::{self, Dispatch, Filters, LoadConfig, Transport};
use crate::privileges::Privileges;
use crate::syscalls::Arch;

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
                ExitCode::Unsupported,
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
        ExitCode::Unsupported,
        format!(
            "this kernel has no BTF ({} is missing) and no BTF is embedded: pass --btf PATH \
             (or TAILCALL_LOGGER_BTF) with the kernel's BTF",
            sysfs.display()
        ),
    ))
}

fn ringbuf_supported() -> Option<bool> {
    MapType::RingBuf.is_supported().ok()
}

pub fn choose_transport(choice: TransportChoice) -> Result<(Transport, Option<String>)> {
    match choice {
        TransportChoice::Perf => Ok((Transport::Perf, None)),
        TransportChoice::Ringbuf => {
            if ringbuf_supported() == Some(false) {
                return Err(Failure::err(
                    ExitCode::Unsupported,
                    "--transport ringbuf: this kernel has no BPF ring buffer (needs 5.8); use \
                     --transport perf or auto",
                ));
            }
            Ok((Transport::RingBuf, None))
        }
        TransportChoice::Auto => match ringbuf_supported() {
            Some(false) => Ok((
                Transport::Perf,
                Some("no BPF ring buffer in this kernel: using the perf buffer".into()),
            )),
            _ => Ok((Transport::RingBuf, None)),
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

fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// A trial load of one dispatcher (nothing attached); Err carries the reason.
fn trial_load(cfg: &LoadConfig, dispatch: Dispatch) -> Result<(), String> {
    let mut obj = MaybeUninit::uninit();
    loader::load(&mut obj, cfg, dispatch)
        .map(drop)
        .map_err(|e| crate::exit::one_line(&e))
}

/// `tailcall-logger probe`: returns the report and the exit code.
pub fn report(args: &KernelArgs) -> (serde_json::Value, i32) {
    loader::capture_libbpf_log(args.verbose);
    let arch = Arch::host();
    let privs = Privileges::read();
    let priv_check = privs.check();
    let btf = choose_btf(args.btf.as_deref());
    let privileged = priv_check.is_ok();

    let feature = |f: &dyn Fn() -> Result<bool, libbpf_rs::Error>| -> serde_json::Value {
        if privileged {
            f().map_or(serde_json::Value::Null, serde_json::Value::Bool)
        } else {
            serde_json::Value::Null
        }
    };
    let helper = |id| feature(&|| ProgramType::RawTracepoint.is_helper_supported(id));
    let helpers = json!({
        "tail_call": helper(libbpf_sys::BPF_FUNC_tail_call),
        "ringbuf_output": helper(libbpf_sys::BPF_FUNC_ringbuf_output),
        "ringbuf_query": helper(libbpf_sys::BPF_FUNC_ringbuf_query),
        "perf_event_output": helper(libbpf_sys::BPF_FUNC_perf_event_output),
        "probe_read_user_str": helper(libbpf_sys::BPF_FUNC_probe_read_user_str),
        "probe_read_kernel": helper(libbpf_sys::BPF_FUNC_probe_read_kernel),
        "get_current_task": helper(libbpf_sys::BPF_FUNC_get_current_task),
        "ktime_get_ns": helper(libbpf_sys::BPF_FUNC_ktime_get_ns),
    });

    let mut dispatchers = json!({});
    let mut plan = serde_json::Value::Null;
    let mut reason: Option<String> = None;
    let mut fallbacks: Vec<String> = Vec::new();

    match (&priv_check, &btf) {
        (Err(e), _) => reason = Some(crate::exit::one_line(e)),
        (_, Err(e)) => reason = Some(crate::exit::one_line(e)),
        (Ok(()), Ok(btf)) => match choose_transport(args.transport) {
            Err(e) => reason = Some(crate::exit::one_line(&e)),
            Ok((transport, note)) => {
                fallbacks.extend(note);
                let table = HandlerTable::build(arch, &Selection::default())
                    .expect("the default handler table always builds");
                let cfg = LoadConfig {
                    table: &table,
                    transport,
                    btf,
                    filters: Filters::default(),
                    ringbuf_bytes: 1 << 16,
                    wakeup_bytes: 0,
                    capture_argv: true,
                };
                let mut chosen = None;
                for d in [Dispatch::Tail, Dispatch::Inline] {
                    let r = trial_load(&cfg, d);
                    dispatchers[d.name()] = json!({"loads": r.is_ok(), "error": r.as_ref().err()});
                    if let Err(e) = &r {
                        if dispatch_order(args.dispatch).contains(&d) && chosen.is_none() {
                            fallbacks.push(format!("{} dispatcher: {e}", d.name()));
                        }
                    }
                    if r.is_ok() && chosen.is_none() && dispatch_order(args.dispatch).contains(&d) {
                        chosen = Some(d);
                    }
                }
                match chosen {
                    Some(d) => {
                        plan = json!({"dispatch": d.name(), "transport": transport.name(), "btf": btf.source.name()});
                    }
                    None => reason = Some(fallbacks.last().cloned().unwrap_or_default()),
                }
            }
        },
    }

    let code = match (&priv_check, &reason) {
        (_, None) => 0,
        (Err(e), _) => crate::exit::code_of(e),
        (Ok(()), Some(_)) => ExitCode::Unsupported as i32,
    };
    let report = json!({
        "v": crate::output::json::SCHEMA_VERSION,
        "type": "probe",
        "version": env!("CARGO_PKG_VERSION"),
        "kernel": {"release": kernel_release(), "arch": arch.name()},
        "btf": {
            "source": btf.as_ref().ok().map(|b| b.source.name()),
            "path": btf.as_ref().ok().map(|b| b.path.display().to_string()),
            "embedded_available": embedded_btf_available(),
            "error": btf.as_ref().err().map(crate::exit::one_line),
        },
        "features": {
            "ringbuf": feature(&|| MapType::RingBuf.is_supported()),
            "perf_buffer": feature(&|| MapType::PerfEventArray.is_supported()),
            "prog_array": feature(&|| MapType::ProgArray.is_supported()),
            "raw_tracepoint": feature(&|| ProgramType::RawTracepoint.is_supported()),
        },
        "helpers": helpers,
        "dispatchers": dispatchers,
        "privileges": {
            "euid": privs.euid,
            "root": privs.euid == 0,
            "cap_bpf": privs.cap_bpf,
            "cap_perfmon": privs.cap_perfmon,
            "cap_sys_admin": privs.cap_sys_admin,
            "user_namespace": privs.user_namespace,
            "unprivileged_bpf_disabled": privs.unprivileged_bpf_disabled,
            "lockdown": privs.lockdown,
        },
        "plan": plan,
        "fallbacks": fallbacks,
        "can_run": code == 0,
        "reason": reason,
    });
    (report, code)
}

/// The human form of the probe report.
pub fn human(report: &serde_json::Value) -> String {
    let mut s = String::new();
    let get = |p: &str| {
        report
            .pointer(p)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    let show = |v: serde_json::Value| match v {
        serde_json::Value::Bool(true) => "yes".to_string(),
        serde_json::Value::Bool(false) => "no".to_string(),
        serde_json::Value::Null => "unknown".to_string(),
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    let line = |s: &mut String, k: &str, v: String| s.push_str(&format!("{k:<26}{v}\n"));
    line(
        &mut s,
        "kernel",
        format!(
            "{} ({})",
            show(get("/kernel/release")),
            show(get("/kernel/arch"))
        ),
    );
    line(&mut s, "btf", show(get("/btf/source")));
    for f in ["ringbuf", "perf_buffer", "prog_array", "raw_tracepoint"] {
        line(&mut s, f, show(get(&format!("/features/{f}"))));
    }
    if let Some(h) = report["helpers"].as_object() {
        for (k, v) in h {
            line(&mut s, &format!("helper {k}"), show(v.clone()));
        }
    }
    for d in ["tail", "inline"] {
        let loads = get(&format!("/dispatchers/{d}/loads"));
        let err = get(&format!("/dispatchers/{d}/error"));
        let v = match err {
            serde_json::Value::String(e) => format!("{} ({e})", show(loads)),
            _ => show(loads),
        };
        line(&mut s, &format!("{d} dispatcher loads"), v);
    }
    for p in [
        "root",
        "cap_bpf",
        "cap_perfmon",
        "cap_sys_admin",
        "user_namespace",
        "unprivileged_bpf_disabled",
        "lockdown",
    ] {
        line(&mut s, p, show(get(&format!("/privileges/{p}"))));
    }
    match report["plan"].as_object() {
        Some(_) => line(
            &mut s,
            "plan",
            format!(
                "dispatch={} transport={} btf={}",
                show(get("/plan/dispatch")),
                show(get("/plan/transport")),
                show(get("/plan/btf"))
            ),
        ),
        None => line(
            &mut s,
            "plan",
            format!("cannot run: {}", show(get("/reason"))),
        ),
    }
    if let Some(f) = report["fallbacks"].as_array() {
        for note in f {
            line(&mut s, "fallback", show(note.clone()));
        }
    }
    s
}
