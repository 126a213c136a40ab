//! tailcall-logger: a syscall logger built on an eBPF tail-call dispatcher.
//!
//! Where things are: cli (options), plan (BTF, transport and dispatcher, with their
//! fallbacks), loader (into the kernel), reader (ring or perf buffer), events (decoding
//! records), output (human and JSON lines), stats (counters and loss), handlers (which
//! syscall gets which handler), syscalls (name tables), run (the session), probe (the
//! `probe` subcommand). Imports go one way: run and probe use loader and plan; loader uses
//! plan; plan uses neither.

pub mod assets;
pub mod bss;
pub mod cgroups;
pub mod cli;
pub mod count;
pub mod decode;
pub mod events;
pub mod exit;
pub mod handlers;
pub mod loader;
pub mod output;
pub mod pairing;
pub mod plan;
pub mod privileges;
pub mod probe;
pub mod reader;
pub mod run;
pub mod signatures;
pub mod stats;
pub mod syscalls;

#[allow(
    clippy::all,
    non_camel_case_types,
    non_upper_case_globals,
    dead_code,
    unused
)]
pub mod skel {
    include!(concat!(env!("OUT_DIR"), "/dispatch.skel.rs"));
}

// The generated record types are plain old data: any bytes are a valid value.
unsafe impl plain::Plain for skel::types::record_header {}
unsafe impl plain::Plain for skel::types::exec_record {}
unsafe impl plain::Plain for skel::types::counters {}
unsafe impl plain::Plain for skel::types::args_record {}
unsafe impl plain::Plain for skel::types::arg_capture {}
unsafe impl plain::Plain for skel::types::pending {}
unsafe impl plain::Plain for skel::types::call_stats {}
