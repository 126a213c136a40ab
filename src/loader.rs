//! Putting the logger into the kernel: open the embedded object, fill its rodata (filters,
//! handler table, transport), load exactly one dispatcher, fill every prog-array slot, and
//! only then attach to raw_tp/sys_enter.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, MapHandle, MapType, OpenObject, PrintLevel};

use crate::cgroups::CgroupTarget;
use crate::exit::{Code, Failure};
use crate::handlers::{HandlerTable, Kind};
use crate::plan::{Btf, BtfSource, Dispatch, ExitHook, Rings, Transport};
use crate::signatures::{Kind as ParamKind, Signatures};
use crate::skel::types::{arg_kind, key_traits as trait_bits};
use crate::skel::{DispatchSkel, DispatchSkelBuilder};
use crate::syscalls;

/// Evaluated in the kernel, before any record is made.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub pid: Option<u32>,
    pub uid: Option<u32>,
    pub comm: Option<String>,
    /// The logger's own thread group, so it does not log its own writes.
    pub exclude_tgid: Option<u32>,
    /// --cgroup and --container: only tasks in the subtree of one of these cgroups.
    pub cgroups: Vec<CgroupTarget>,
}

pub struct LoadConfig<'a> {
    pub table: &'a HandlerTable,
    pub transport: Transport,
    pub btf: &'a Btf,
    pub filters: Filters,
    pub ringbuf_bytes: u32,
    /// The ring buffers: one for every CPU (events_rb), or one per group of CPUs
    /// (events_rings, each ring of `rings.bytes`; events_rb is then not created).
    pub rings: Rings,
    /// Whether a record wakes a sleeping reader (false: the reader finds records by its
    /// poll timeout alone; tests use it).
    pub wake_reader: bool,
    pub capture_argv: bool,
    /// --args: per table key (native numbers, then compat_base + i386 numbers) the
    /// arguments to read from user memory (see enum arg_kind in bpf/dispatch.h); None
    /// leaves arguments out, and the BPF code for them is pruned.
    pub arg_captures: Option<Vec<u16>>,
    /// --string-size: bytes read for a string argument, its NUL included.
    pub string_size: u32,
    /// --results or --count: entry and exit are paired in the kernel.
    pub results: Option<Results>,
}

/// How calls are paired with their exit (--results, --count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Results {
    pub hook: ExitHook,
    /// --count: aggregate per syscall, no records.
    pub count_only: bool,
    pub failed_only: bool,
    pub min_duration_ns: u64,
    /// Size of the pending map: calls in flight at once.
    pub max_pending: u32,
}

impl<'a> LoadConfig<'a> {
    /// No filters, a 64 KiB ring, wakeups for a sleeping reader, argv captured: what a trial
    /// load and the program tests use; the session overrides what its options set.
    pub fn new(table: &'a HandlerTable, transport: Transport, btf: &'a Btf) -> LoadConfig<'a> {
        LoadConfig {
            table,
            transport,
            btf,
            filters: Filters::default(),
            ringbuf_bytes: 1 << 16,
            rings: Rings::single(1 << 16),
            wake_reader: true,
            capture_argv: true,
            arg_captures: None,
            string_size: 256,
            results: None,
        }
    }
}

/// The `arg_captures` table of the BPF side (see enum arg_kind in bpf/dispatch.h): per
/// table key, the first two arguments that name a path or a socket address by the
/// kernel's signature of that syscall.
pub fn arg_captures(table: &HandlerTable, sigs: &Signatures) -> Vec<u16> {
    key_syscalls(table)
        .into_iter()
        .map(|(arch, name)| {
            let sig = name.and_then(|name| sigs.get_for(arch, name));
            let captured = sig
                .into_iter()
                .flat_map(|s| s.params.iter().take(6).enumerate());
            let mut bits = 0u16;
            let mut shift = 0;
            for (index, param) in captured {
                let kind = match param.kind {
                    ParamKind::Path => arg_kind::ARG_PATH.0,
                    ParamKind::SockAddr => arg_kind::ARG_SOCKADDR.0,
                    _ => continue,
                };
                bits |= ((index as u16) | ((kind as u16) << 3)) << shift;
                shift += 5;
                if shift == 10 {
                    break;
                }
            }
            bits
        })
        .collect()
}

/// Per table key (native numbers, then the i386 ones when the table has them): the ABI
/// and the syscall's name, if the number has one.
fn key_syscalls(table: &HandlerTable) -> Vec<(syscalls::Arch, Option<&'static str>)> {
    let abis =
        std::iter::once(table.arch).chain(table.arch.compat().filter(|_| !table.compat.is_empty()));
    abis.flat_map(|arch| {
        (0..syscalls::table_len(arch)).map(move |nr| (arch, syscalls::name(arch, nr)))
    })
    .collect()
}

/// The `key_traits` table of the BPF side: per table key, what the syscall does to the
/// pairing of entry and exit.
pub fn key_traits(table: &HandlerTable) -> Vec<u8> {
    key_syscalls(table)
        .into_iter()
        .map(|(_, name)| match name {
            // No sys_exit follows: exit and exit_group end the thread; rt_sigreturn
            // restores registers whose syscall number is -1 ("no syscall").
            Some("exit" | "exit_group" | "rt_sigreturn" | "sigreturn") => {
                trait_bits::TRAIT_NO_RETURN.0 as u8
            }
            // The child returns 0 from a call it never entered.
            Some("clone" | "clone3" | "fork" | "vfork") => trait_bits::TRAIT_FORK.0 as u8,
            _ => 0,
        })
        .collect()
}

/// (device, inode) of this process's pid namespace when it is not the host's (the initial
/// namespace has the kernel's fixed inode PROC_PID_INIT_INO): there the kernel side knows
/// the logger by its pid in that namespace, not by its host pid.
fn own_pid_namespace() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    const PROC_PID_INIT_INO: u64 = 0xEFFFFFFC;
    let ns = std::fs::metadata("/proc/self/ns/pid").ok()?;
    (ns.ino() != PROC_PID_INIT_INO).then(|| (ns.dev(), ns.ino()))
}

/// A loaded object whose dispatcher is attached: tracing until the links are dropped (the
/// entry link first, so nothing new arrives while the maps are still read).
pub struct Attached<'obj> {
    pub link: Link,
    /// The sharded rings, in group order (empty with one ring): the reader reads these.
    pub rings: Vec<MapHandle>,
    /// --results: sys_exit, sched_process_exec and sched_process_exit.
    pub exit_links: Vec<Link>,
    pub skel: DispatchSkel<'obj>,
}

/// The programs the kernel runs from a tracepoint: the dispatcher and, with --results, the
/// exit side (tail-call targets run inside the dispatcher's run).
pub fn traced_programs<'a>(skel: &'a DispatchSkel) -> Vec<&'a libbpf_rs::ProgramMut<'a>> {
    let p = &skel.progs;
    [
        &p.dispatch_tail,
        &p.dispatch_inline,
        &p.exit_btf,
        &p.exit_raw,
        &p.exec_done,
        &p.thread_gone,
    ]
    .into_iter()
    .filter(|prog| prog.autoload())
    .collect()
}

/// Loads one dispatcher, fills its prog array and attaches it.
pub fn load_and_attach<'obj>(
    obj: &'obj mut MaybeUninit<OpenObject>,
    cfg: &LoadConfig,
    dispatch: Dispatch,
) -> Result<Attached<'obj>> {
    let rings = create_rings(cfg)?;
    let skel = load_with_rings(obj, cfg, dispatch, &rings)?;
    // Every group's ring is in place before anything is attached: no record is dropped
    // for want of a ring.
    fill_rings(&skel, &rings)?;
    // The exit side first: an entry then always finds its exit watched.
    let exit_links = match &cfg.results {
        Some(r) => attach_exit_side(&skel, r.hook)?,
        None => Vec::new(),
    };
    let link = attach(&skel, dispatch)?;
    Ok(Attached {
        link,
        rings,
        exit_links,
        skel,
    })
}

// libbpf's log: kept (bounded) so a failed load can say why; printed live with --verbose.
static VERBOSE: AtomicBool = AtomicBool::new(false);
static LIBBPF_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
const LOG_KEEP: usize = 400;

fn on_libbpf_print(_level: PrintLevel, msg: String) {
    if VERBOSE.load(Ordering::Relaxed) {
        eprint!("libbpf: {msg}");
    }
    if let Ok(mut log) = LIBBPF_LOG.lock() {
        if log.len() >= LOG_KEEP {
            log.remove(0);
        }
        log.push(msg);
    }
}

pub fn capture_libbpf_log(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
    let level = if verbose {
        PrintLevel::Debug
    } else {
        PrintLevel::Warn
    };
    libbpf_rs::set_print(Some((level, on_libbpf_print)));
}

fn take_libbpf_log() -> Vec<String> {
    LIBBPF_LOG
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default()
}

/// The lines of libbpf's log that say what went wrong (the verifier's last words and
/// libbpf's own errors), joined into one line for an error message.
fn log_summary(log: &[String]) -> String {
    let lines: Vec<&str> = log
        .iter()
        .flat_map(|m| m.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut picked: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            l.contains("error")
                || l.contains("not allowed")
                || l.contains("invalid")
                || l.contains("unknown func")
                || l.contains("failed")
        })
        .collect();
    picked.dedup();
    let tail = picked.len().saturating_sub(4);
    picked[tail..].join(" | ")
}

fn load_failure(what: &str, err: libbpf_rs::Error) -> anyhow::Error {
    let log = take_libbpf_log();
    let detail = log_summary(&log);
    let msg = if detail.is_empty() {
        format!("{what}: {err}")
    } else {
        format!("{what}: {err} (libbpf: {detail}; --verbose shows the full log)")
    };
    Failure::err(Code::Unsupported, msg)
}

/// Opens and loads the object with one dispatcher. Nothing is attached yet.
pub fn load<'obj>(
    obj: &'obj mut MaybeUninit<OpenObject>,
    cfg: &LoadConfig,
    dispatch: Dispatch,
) -> Result<DispatchSkel<'obj>> {
    let rings = create_rings(cfg)?;
    load_with_rings(obj, cfg, dispatch, &rings)
}

/// load, with the sharded rings already made (empty with one ring): the first one is the
/// inner map template the verifier checks the programs against.
fn load_with_rings<'obj>(
    obj: &'obj mut MaybeUninit<OpenObject>,
    cfg: &LoadConfig,
    dispatch: Dispatch,
    rings: &[MapHandle],
) -> Result<DispatchSkel<'obj>> {
    take_libbpf_log();
    let mut builder = DispatchSkelBuilder::default();
    if let Some(path) = cfg.btf.custom_path() {
        builder
            .obj_builder
            .btf_custom_path(path)
            .context("passing the BTF path to libbpf")?;
    }
    let mut open = builder
        .open(obj)
        .map_err(|e| load_failure("opening the embedded BPF object", e))?;

    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .context("the BPF object has no .rodata")?;
    let f = &cfg.filters;
    rodata.self_tgid = f.exclude_tgid.unwrap_or(0);
    if let (Some(_), Some((dev, ino))) = (f.exclude_tgid, own_pid_namespace()) {
        rodata.self_in_pidns = true;
        rodata.self_ns_dev = dev;
        rodata.self_ns_ino = ino;
    }
    rodata.filter_tgid = f.pid.unwrap_or(0);
    rodata.filter_by_uid = f.uid.is_some();
    rodata.filter_uid = f.uid.unwrap_or(0);
    rodata.filter_by_comm = f.comm.is_some();
    if let Some(comm) = &f.comm {
        for (dst, src) in rodata.filter_comm.iter_mut().zip(comm.bytes().take(15)) {
            *dst = src as i8;
        }
    }
    rodata.filter_cgroups = f.cgroups.len() as u32;
    rodata.read_ppid = cfg.btf.vouches_for_task_struct();
    rodata.capture_argv = cfg.capture_argv;
    rodata.kernel_btf = cfg.btf.source == BtfSource::Sysfs;
    rodata.use_ringbuf = cfg.transport == Transport::RingBuf;
    rodata.wake_reader = cfg.wake_reader;
    rodata.ring_cpus = cfg.rings.cpus_per_ring;
    let table = cfg.table;
    let execveat = |arch| syscalls::number(arch, "execveat").map_or(-1, |n| n as i32);
    rodata.nr_execveat = execveat(table.arch);
    rodata.nr_syscalls = table.len();
    rodata.nr_keys = table.keys().count() as u32;
    for (slot, kind) in rodata.syscall_handler.iter_mut().zip(table.keys()) {
        *slot = kind.raw();
    }
    for (nr, slot) in rodata.ignore_any_abi.iter_mut().enumerate() {
        *slot = u8::from(table.ignored_under_any_abi(nr as u32));
    }
    // Which ABI a syscall came from is read from task_struct: only with BTF that vouches
    // for its layout (thread_info.status moved in 5.11).
    if let (Some(compat), true) = (table.arch.compat(), cfg.btf.vouches_for_task_struct()) {
        rodata.detect_compat = !table.compat.is_empty();
        rodata.compat_base = table.len();
        rodata.nr_execveat_compat = execveat(compat);
    }
    if let Some(r) = &cfg.results {
        rodata.results = true;
        rodata.count_only = r.count_only;
        rodata.failed_only = r.failed_only;
        rodata.min_duration_ns = r.min_duration_ns;
        for (slot, traits) in rodata.key_traits.iter_mut().zip(key_traits(table)) {
            *slot = traits;
        }
    }
    if let Some(captures) = &cfg.arg_captures {
        rodata.capture_args = true;
        rodata.string_size = cfg.string_size;
        for (slot, plan) in rodata.arg_captures.iter_mut().zip(captures) {
            *slot = *plan;
        }
    }

    let tail = dispatch == Dispatch::Tail;
    open.progs.dispatch_tail.set_autoload(tail);
    open.progs.dispatch_inline.set_autoload(!tail);
    for prog in [
        &mut open.progs.handle_exec_prog,
        &mut open.progs.handle_timer_prog,
    ] {
        prog.set_autoload(tail);
    }
    open.maps.handlers.set_autocreate(tail)?;
    let ring = cfg.transport == Transport::RingBuf;
    let sharded = ring && cfg.rings.cpus_per_ring > 0;
    open.maps.events_rb.set_autocreate(ring && !sharded)?;
    open.maps
        .events_rb
        .set_max_entries(cfg.ringbuf_bytes)
        .context("sizing the ring buffer")?;
    open.maps.events_rings.set_autocreate(sharded)?;
    if let (true, Some(first)) = (sharded, rings.first()) {
        let outer = &mut open.maps.events_rings;
        outer
            .set_max_entries(rings.len() as u32)
            .context("sizing the array of rings")?;
        // The template from the BTF definition would be one more ring, of the wrong size.
        outer
            .set_inner_map_fd(first.as_fd())
            .context("giving the array of rings its template")?;
    }
    open.maps.events_pb.set_autocreate(!ring)?;
    // Without --results the pairing maps are never touched (the code is pruned), but the
    // programs still name them: the smallest that load.
    let results = cfg.results;
    let hook = results.map(|r| r.hook);
    open.progs
        .exit_btf
        .set_autoload(hook == Some(ExitHook::TpBtf));
    open.progs
        .exit_raw
        .set_autoload(hook == Some(ExitHook::RawTp));
    open.progs.exec_done.set_autoload(results.is_some());
    open.progs.thread_gone.set_autoload(results.is_some());
    open.maps
        .pending
        .set_max_entries(results.map_or(1, |r| r.max_pending))
        .context("sizing the pending map")?;
    if !results.is_some_and(|r| r.count_only) {
        open.maps
            .call_stats
            .set_max_entries(1)
            .context("sizing the count map")?;
    }

    open.maps
        .cgroup_filter
        .set_max_entries(f.cgroups.len().max(1) as u32)
        .context("sizing the cgroup filter")?;

    let skel = open.load().map_err(|e| {
        load_failure(
            &format!(
                "loading the {} dispatcher with the {} transport",
                dispatch.name(),
                cfg.transport.name()
            ),
            e,
        )
    })?;
    fill_cgroup_filter(&skel, &f.cgroups)?;
    Ok(skel)
}

/// One ring per group of CPUs (none with one ring for all, or the perf buffer). The
/// handles stay with the caller: the reader maps them.
fn create_rings(cfg: &LoadConfig) -> Result<Vec<MapHandle>> {
    if cfg.transport != Transport::RingBuf || cfg.rings.cpus_per_ring == 0 {
        return Ok(Vec::new());
    }
    let opts = libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as libbpf_sys::size_t,
        ..Default::default()
    };
    (0..cfg.rings.count)
        .map(|group| {
            MapHandle::create(
                MapType::RingBuf,
                Some(format!("events_rb{group}")),
                0,
                0,
                cfg.rings.bytes,
                &opts,
            )
            .with_context(|| format!("creating ring buffer {group} of {}", cfg.rings.count))
        })
        .collect()
}

/// Puts each ring in its group's slot of events_rings.
fn fill_rings(skel: &DispatchSkel, rings: &[MapHandle]) -> Result<()> {
    for (group, ring) in rings.iter().enumerate() {
        let fd = ring.as_fd().as_raw_fd() as u32;
        skel.maps
            .events_rings
            .update(
                &(group as u32).to_ne_bytes(),
                &fd.to_ne_bytes(),
                MapFlags::ANY,
            )
            .with_context(|| format!("putting ring buffer {group} in the array of rings"))?;
    }
    Ok(())
}

/// One slot per filter cgroup, holding its directory's fd (the kernel keeps a reference to
/// the cgroup, so the fd is closed right after).
fn fill_cgroup_filter(skel: &DispatchSkel, cgroups: &[CgroupTarget]) -> Result<()> {
    for (slot, target) in cgroups.iter().enumerate() {
        let dir = target.open()?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
        skel.maps
            .cgroup_filter
            .update(
                &(slot as u32).to_ne_bytes(),
                &fd.to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(|e| {
                load_failure(
                    &format!("filling the cgroup filter with {}", target.path),
                    e,
                )
            })?;
    }
    Ok(())
}

/// --results: the programs that see a call end (sys_exit), an exec succeed and a thread
/// exit.
fn attach_exit_side(skel: &DispatchSkel, hook: ExitHook) -> Result<Vec<Link>> {
    let progs = &skel.progs;
    let exit = match hook {
        ExitHook::TpBtf => &progs.exit_btf,
        ExitHook::RawTp => &progs.exit_raw,
    };
    [
        (exit, "sys_exit"),
        (&progs.exec_done, "sched_process_exec"),
        (&progs.thread_gone, "sched_process_exit"),
    ]
    .into_iter()
    .map(|(prog, tracepoint)| {
        prog.attach()
            .map_err(|e| load_failure(&format!("attaching to tracepoint {tracepoint}"), e))
    })
    .collect()
}

/// Fills the prog array, then attaches the dispatcher: in this order, or the first
/// syscalls would find empty slots.
pub fn attach(skel: &DispatchSkel, dispatch: Dispatch) -> Result<Link> {
    fill_prog_array(skel, dispatch)?;
    let prog = match dispatch {
        Dispatch::Tail => &skel.progs.dispatch_tail,
        Dispatch::Inline => &skel.progs.dispatch_inline,
    };
    prog.attach_raw_tracepoint("sys_enter")
        .map_err(|e| load_failure("attaching to raw tracepoint sys_enter", e))
}

/// Each handler program in its kind's slot (tail calls only): exec calls and timer calls
/// have one each; the dispatcher logs the other calls itself, as the original example did,
/// and tail calls with the kind the syscall_handler table gives for the rest (ignored calls
/// never get there).
pub fn fill_prog_array(skel: &DispatchSkel, dispatch: Dispatch) -> Result<()> {
    if dispatch == Dispatch::Tail {
        let progs = &skel.progs;
        for (kind, prog) in [
            (Kind::Exec, &progs.handle_exec_prog),
            (Kind::Timer, &progs.handle_timer_prog),
        ] {
            let slot = u32::from(kind.raw());
            let fd = std::os::fd::AsRawFd::as_raw_fd(&prog.as_fd());
            skel.maps
                .handlers
                .update(&slot.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
                .map_err(|e| {
                    load_failure(&format!("filling the {} handler's slot", kind.name()), e)
                })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_summary_keeps_the_reason() {
        let log = vec![
            "libbpf: loading object\n".to_string(),
            "0: R1=ctx() R10=fp0\n; int x\n".to_string(),
            "tail_calls are not allowed in non-JITed programs with bpf-to-bpf calls\n".to_string(),
            "libbpf: prog 'dispatch_tail': failed to load: -22\n".to_string(),
        ];
        let s = log_summary(&log);
        assert!(s.contains("tail_calls are not allowed"));
        assert!(s.contains("failed to load: -22"));
        assert!(!s.contains("R10"));
    }
}
