//! The `probe` subcommand: what this kernel and this process can do, the trial load of each
//! dispatcher, and the plan the logger would follow (from the plan module, as the logger
//! itself uses it).

use std::mem::MaybeUninit;

use libbpf_rs::{MapType, ProgramType};
use serde_json::json;

use crate::cgroups::Layout;
use crate::cli::KernelArgs;
use crate::exit::{self, Code};
use crate::handlers::{HandlerTable, Selection};
use crate::loader::{self, LoadConfig};
use crate::plan::{self, Dispatch, Plan};
use crate::privileges::Privileges;
use crate::signatures::Signatures;
use crate::syscalls::Arch;

/// A trial load of one dispatcher (nothing attached); Err carries the reason.
fn trial_load(cfg: &LoadConfig, dispatch: Dispatch) -> Result<(), String> {
    let mut obj = MaybeUninit::uninit();
    loader::load(&mut obj, cfg, dispatch)
        .map(drop)
        .map_err(|e| exit::one_line(&e))
}

/// The rings the logger would use with its default options (--ring-cpus unset, 4 MiB);
/// a kernel that refuses sharded rings adds its fallback note.
fn default_rings(transport: plan::Transport, fallbacks: &mut Vec<String>) -> Option<plan::Rings> {
    if transport != plan::Transport::RingBuf {
        return None;
    }
    let cpus = plan::possible_cpus().ok()?;
    let (rings, note) = plan::choose_rings(cpus, None, 4 << 20, plan::sharding_trial);
    fallbacks.extend(note);
    Some(rings)
}

/// The host's cgroup layout and what the cgroup options can do on it; an error object
/// when /proc/self/mountinfo cannot be read.
fn cgroups_report() -> serde_json::Value {
    Layout::detect().map_or_else(
        |e| json!({"error": exit::one_line(&e)}),
        |layout| layout.to_json(),
    )
}

/// `tailcall-logger probe`: returns the report and the exit code.
pub fn report(args: &KernelArgs) -> (serde_json::Value, i32) {
    loader::capture_libbpf_log(args.verbose);
    let arch = Arch::host();
    let privs = Privileges::read();
    let priv_check = privs.check();
    let btf = plan::choose_btf(args.btf.as_deref());
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
        "get_current_cgroup_id": helper(libbpf_sys::BPF_FUNC_get_current_cgroup_id),
        "current_task_under_cgroup": helper(libbpf_sys::BPF_FUNC_current_task_under_cgroup),
    });

    let mut dispatchers = json!({});
    let mut plan = serde_json::Value::Null;
    let mut reason: Option<String> = None;
    // The exit code of a failure after the privilege check (exit 4 unless it says otherwise:
    // a denied bpf() or perf_event_open is 3).
    let mut failure_code = Code::Unsupported as i32;
    let mut fallbacks: Vec<String> = Vec::new();

    match (&priv_check, &btf) {
        (Err(e), _) => reason = Some(exit::one_line(e)),
        (_, Err(e)) => reason = Some(exit::one_line(e)),
        (Ok(()), Ok(btf)) => match plan::choose_transport(args.transport) {
            Err(e) => {
                reason = Some(exit::one_line(&e));
                failure_code = exit::code_of(&e);
            }
            Ok((transport, note)) => {
                fallbacks.extend(note);
                let table = HandlerTable::build(arch, &Selection::default())
                    .expect("the default handler table always builds");
                let cfg = LoadConfig::new(&table, transport, btf);
                let trials = [Dispatch::Tail, Dispatch::Inline].map(|d| (d, trial_load(&cfg, d)));
                for (d, r) in &trials {
                    dispatchers[d.name()] = json!({"loads": r.is_ok(), "error": r.as_ref().err()});
                }
                let trial = |d: Dispatch| {
                    let (_, r) = trials
                        .iter()
                        .find(|(t, _)| *t == d)
                        .expect("every dispatcher tried");
                    r.clone().map_err(anyhow::Error::msg)
                };
                let order = plan::dispatch_order(args.dispatch);
                match plan::first_that_works(order, &mut [(); 2], |_, d| trial(d)) {
                    Ok(chosen) => {
                        fallbacks.extend(chosen.fallbacks);
                        plan = Plan {
                            dispatch: chosen.dispatch,
                            transport,
                            btf: btf.source,
                            // What --results and --count would use.
                            exit: Some(plan::choose_exit_hook(btf)),
                            rings: default_rings(transport, &mut fallbacks),
                            fallbacks: fallbacks.clone(),
                        }
                        .json();
                    }
                    Err(none) => {
                        fallbacks.extend(none.fallbacks);
                        failure_code = exit::code_of(&none.last);
                        reason = if failure_code == Code::Unsupported as i32 {
                            fallbacks.last().cloned()
                        } else {
                            Some(exit::one_line(&none.last))
                        };
                    }
                }
            }
        },
    }

    let code = match (&priv_check, &reason) {
        (_, None) => 0,
        (Err(e), _) => exit::code_of(e),
        (Ok(()), Some(_)) => failure_code,
    };
    let report = json!({
        "v": crate::output::json::SCHEMA_VERSION,
        "type": "probe",
        "version": env!("CARGO_PKG_VERSION"),
        "kernel": {"release": plan::kernel_release(), "arch": arch.name()},
        "btf": {
            "source": btf.as_ref().ok().map(|b| b.source.name()),
            "path": btf.as_ref().ok().map(|b| b.path.display().to_string()),
            "embedded_available": plan::embedded_btf_available(),
            "error": btf.as_ref().err().map(exit::one_line),
        },
        "features": {
            "ringbuf": feature(&|| MapType::RingBuf.is_supported()),
            "perf_buffer": feature(&|| MapType::PerfEventArray.is_supported()),
            "prog_array": feature(&|| MapType::ProgArray.is_supported()),
            "raw_tracepoint": feature(&|| ProgramType::RawTracepoint.is_supported()),
            "lru_hash": feature(&|| MapType::LruHash.is_supported()),
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
            "pid_namespace": privs.pid_namespace,
            "unprivileged_bpf_disabled": privs.unprivileged_bpf_disabled,
            "lockdown": privs.lockdown,
            "bpf_call": privs.bpf_errno.map_or("ok".to_string(), |e| format!("{e:?}")),
        },
        "signatures": Signatures::load().report(),
        "cgroups": cgroups_report(),
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
    let line = |s: &mut String, k: &str, v: String| s.push_str(&format!("{k:<34}{v}\n"));
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
    line(
        &mut s,
        "signatures (--args)",
        show(get("/signatures/source")),
    );
    line(
        &mut s,
        "cgroups",
        format!(
            "{} (cgroup2 at {})",
            show(get("/cgroups/layout")),
            show(get("/cgroups/cgroup2_mount"))
        ),
    );
    let filters = match get("/cgroups/filters/reason") {
        serde_json::Value::String(why) => format!("no ({why})"),
        _ => show(get("/cgroups/filters/cgroup")),
    };
    line(&mut s, "--cgroup/--container", filters);
    for f in [
        "ringbuf",
        "perf_buffer",
        "prog_array",
        "raw_tracepoint",
        "lru_hash",
    ] {
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
        "pid_namespace",
        "unprivileged_bpf_disabled",
        "lockdown",
        "bpf_call",
    ] {
        line(&mut s, p, show(get(&format!("/privileges/{p}"))));
    }
    match report["plan"].as_object() {
        Some(_) => line(
            &mut s,
            "plan",
            format!(
                "dispatch={} transport={} btf={} exit={} rings={}",
                show(get("/plan/dispatch")),
                show(get("/plan/transport")),
                show(get("/plan/btf")),
                show(get("/plan/exit")),
                show(get("/plan/rings"))
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
