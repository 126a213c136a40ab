//! The command line: what a user can ask for, checked before anything touches the kernel.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  tailcall-logger                              human lines until Ctrl-C
  tailcall-logger --skip-others                only execve and timer lines
  tailcall-logger --json | jq .                one JSON object per line
  tailcall-logger --json --duration 5 --output events.jsonl
  tailcall-logger --comm sleep --pid 4100      filter in the kernel
  tailcall-logger --container 3f2a9b1c04de     one container's processes (cgroup v2)
  tailcall-logger --results --failed           only calls that returned an error
  tailcall-logger --count --interval 10        per-syscall counts and times, like strace -c
  tailcall-logger probe                        what this kernel supports, and the plan

Exit codes: 0 ok, 1 runtime error, 2 usage, 3 missing privileges,
4 kernel cannot run the logger (BTF, BPF load, lockdown), 5 output cannot be written.";

#[derive(Parser, Debug)]
#[command(
    name = "tailcall-logger",
    version,
    about = "Log syscalls with an eBPF tail-call dispatcher: human lines or JSON",
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Probe the kernel's BPF features, test-load both dispatchers and print the plan
    Probe(ProbeArgs),
    /// Write the man page and shell completions into a directory (for packaging)
    #[command(hide = true)]
    Assets {
        /// Directory to write tailcall-logger.1 and completions/ into
        dir: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ProbeArgs {
    /// Print the report as one JSON object
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub kernel: KernelArgs,
}

/// Options that decide how the logger is put into the kernel; shared by the logger and probe.
#[derive(Args, Debug, Clone)]
pub struct KernelArgs {
    /// How syscalls reach their handler: tail calls through a prog array, or one program
    #[arg(long, value_enum, default_value_t = DispatchChoice::Auto)]
    pub dispatch: DispatchChoice,

    /// How records reach userspace
    #[arg(long, value_enum, default_value_t = TransportChoice::Auto)]
    pub transport: TransportChoice,

    /// Kernel BTF to use when /sys/kernel/btf/vmlinux is missing
    #[arg(long, env = "TAILCALL_LOGGER_BTF", value_name = "PATH")]
    pub btf: Option<PathBuf>,

    /// Print libbpf's full log to stderr
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// One JSON object per line instead of human lines
    #[arg(long)]
    pub json: bool,

    /// Only execve and timer records ("Another syscall" lines are dropped in the kernel)
    #[arg(long)]
    pub skip_others: bool,

    /// More syscalls to ignore, by name (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub ignore: Vec<String>,

    /// Do not ignore the original example's noisy syscalls by default
    #[arg(long)]
    pub no_default_ignore: bool,

    /// Only this process (thread group id)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Option<u32>,

    /// Only processes with this command name (the kernel's 15-byte comm)
    #[arg(long, value_parser = parse_comm)]
    pub comm: Option<String>,

    /// Only processes with this user id
    #[arg(long)]
    pub uid: Option<u32>,

    /// Only processes in this cgroup v2 or below it: a path relative to the cgroup2 mount
    /// ("/system.slice/ssh.service") or under it (repeatable)
    #[arg(long, value_name = "PATH")]
    pub cgroup: Vec<String>,

    /// Only processes of this container: at least 12 hex digits of its id (repeatable)
    #[arg(long, value_name = "ID")]
    pub container: Vec<String>,

    /// No container or unit tag before the message in human lines
    #[arg(long)]
    pub no_container: bool,

    /// Stop after this many seconds
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub duration: Option<u64>,

    /// Write records to this file instead of stdout (reopened on SIGHUP, for log rotation)
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Every record carries the syscall's arguments, typed by the kernel's own signatures
    /// (`args` and an strace-style `call` in JSON; the call after the wording in human lines)
    #[arg(long)]
    pub args: bool,

    /// With --args: bytes read for a string argument (a path or a name), at most 4096
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(2..=4096))]
    pub string_size: u32,

    /// Report each call when it returns, with its return value, errno and duration
    #[arg(long)]
    pub results: bool,

    /// Only calls that returned an error (decided in the kernel; implies --results)
    #[arg(long)]
    pub failed: bool,

    /// Only calls that took at least this long, e.g. 10ms, 1.5s, 200us (decided in the
    /// kernel; implies --results)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ns)]
    pub min_duration: Option<u64>,

    /// No records: count calls, errors and time per syscall in the kernel and print a table
    /// (like strace -c) at exit, and every --interval seconds if given
    #[arg(long, conflicts_with_all = ["failed", "min_duration", "args", "results"])]
    pub count: bool,

    /// With --count: also print the table (or a JSON object) every this many seconds
    #[arg(long, value_name = "SECONDS", requires = "count",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub interval: Option<u64>,

    /// Calls in flight the kernel can pair with their exit (threads inside a logged call at
    /// once); beyond it the oldest is evicted and counted as unpaired
    #[arg(long, hide = true, value_name = "N", default_value_t = 10_240,
          value_parser = clap::value_parser!(u32).range(64..=1_048_576))]
    pub max_pending: u32,

    /// Do not capture argv at all (it never leaves the kernel)
    #[arg(long)]
    pub no_argv: bool,

    /// Replace matches of this regex in argv with <redacted> (repeatable)
    #[arg(long, value_name = "REGEX")]
    pub redact: Vec<String>,

    /// Also log the logger's own syscalls (excluded by default: its writes would flood the log)
    #[arg(long, hide = true)]
    pub include_self: bool,

    /// Ring buffer size in bytes (a power of two, at least one page)
    #[arg(long, hide = true, value_parser = parse_ring_size, default_value = "4194304")]
    pub ringbuf_bytes: u32,

    /// CPUs that share one ring buffer (default: one ring up to 4 CPUs, then groups of 2 or
    /// more, at most 16 rings); the rings share the ring memory (4 MiB) between them
    #[arg(long, value_name = "N", value_parser = parse_ring_cpus)]
    pub ring_cpus: Option<u32>,

    /// Records never wake the reader (tests use it to prove the reader needs no wakeup
    /// while records wait)
    #[arg(long, hide = true)]
    pub no_wakeups: bool,

    /// Perf buffer pages per CPU (a power of two)
    #[arg(long, hide = true, value_parser = parse_pow2_pages, default_value = "256")]
    pub perf_pages: usize,

    #[command(flatten)]
    pub kernel: KernelArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchChoice {
    Auto,
    Tail,
    Inline,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportChoice {
    Auto,
    Ringbuf,
    Perf,
}

fn parse_comm(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > 15 {
        return Err(format!(
            "'{s}' is {} bytes; the kernel keeps at most 15 bytes of a command name",
            s.len()
        ));
    }
    if s.bytes().any(|b| b == 0) {
        return Err("must not contain NUL".into());
    }
    Ok(s.to_string())
}

/// `10ms`, `1.5s`, `200us`, `500ns`, `2m`; a bare number is seconds. At least 1 ns.
pub fn parse_duration_ns(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let scale: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "" | "s" => 1e9,
        "m" => 60e9,
        _ => return Err(format!("unknown unit {unit:?} (ns, us, ms, s or m)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 10ms or 1.5s"))?;
    let ns = (value * scale).round();
    if !(1.0..=1e18).contains(&ns) {
        return Err(format!("{s:?} is out of range (1ns to about 31 years)"));
    }
    Ok(ns as u64)
}

fn parse_ring_size(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if n < 4096 || !n.is_power_of_two() {
        return Err(format!("{n} is not a power of two of at least 4096"));
    }
    Ok(n)
}

/// Bounded by the kernel's CPU limit (CONFIG_NR_CPUS is at most 8192).
fn parse_ring_cpus(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if !(1..=8192).contains(&n) {
        return Err(format!("{n} CPUs per ring: from 1 to 8192"));
    }
    Ok(n)
}

fn parse_pow2_pages(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if n == 0 || !n.is_power_of_two() {
        return Err(format!("{n} is not a power of two"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tailcall-logger").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cli = parse(&[]).unwrap();
        assert!(cli.command.is_none());
        assert!(!cli.run.json);
        assert_eq!(cli.run.kernel.dispatch, DispatchChoice::Auto);
        assert_eq!(cli.run.kernel.transport, TransportChoice::Auto);
        assert_eq!(cli.run.ringbuf_bytes, 4 << 20);
        assert_eq!(cli.run.ring_cpus, None);
    }

    #[test]
    fn ring_cpus() {
        assert_eq!(parse(&["--ring-cpus", "2"]).unwrap().run.ring_cpus, Some(2));
        for bad in ["0", "-1", "x", "8193", ""] {
            let err = parse(&["--ring-cpus", bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("10ms"), Ok(10_000_000));
        assert_eq!(parse_duration_ns("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration_ns("200us"), Ok(200_000));
        assert_eq!(parse_duration_ns("2"), Ok(2_000_000_000));
        assert_eq!(parse_duration_ns("1m"), Ok(60_000_000_000));
        for bad in ["", "ms", "10 parsecs", "0", "-1s", "1e3s"] {
            assert!(parse_duration_ns(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn results_options() {
        let cli = parse(&["--failed", "--min-duration", "20ms"]).unwrap();
        assert!(cli.run.failed);
        assert_eq!(cli.run.min_duration, Some(20_000_000));
        assert!(parse(&["--count", "--failed"]).is_err());
        assert!(parse(&["--count", "--args"]).is_err());
        assert!(parse(&["--interval", "5"]).is_err());
        assert_eq!(
            parse(&["--count", "--interval", "5"]).unwrap().run.interval,
            Some(5)
        );
    }

    #[test]
    fn ignore_list_splits_on_commas_and_repeats() {
        let cli = parse(&["--ignore", "read,write", "--ignore", "close"]).unwrap();
        assert_eq!(cli.run.ignore, ["read", "write", "close"]);
    }

    #[test]
    fn filters_and_plan_choices() {
        let cli = parse(&[
            "--json",
            "--pid",
            "42",
            "--comm",
            "sleep",
            "--uid",
            "0",
            "--dispatch",
            "inline",
            "--transport",
            "perf",
            "--duration",
            "5",
        ])
        .unwrap();
        assert_eq!(cli.run.pid, Some(42));
        assert_eq!(cli.run.comm.as_deref(), Some("sleep"));
        assert_eq!(cli.run.uid, Some(0));
        assert_eq!(cli.run.kernel.dispatch, DispatchChoice::Inline);
        assert_eq!(cli.run.kernel.transport, TransportChoice::Perf);
        assert_eq!(cli.run.duration, Some(5));
    }

    #[test]
    fn cgroup_and_container_filters_repeat() {
        let cli = parse(&[
            "--cgroup",
            "/a",
            "--cgroup",
            "/b",
            "--container",
            "3f2a9b1c04de",
            "--no-container",
        ])
        .unwrap();
        assert_eq!(cli.run.cgroup, ["/a", "/b"]);
        assert_eq!(cli.run.container, ["3f2a9b1c04de"]);
        assert!(cli.run.no_container);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["--pid", "0"][..],
            &["--pid", "-3"],
            &["--comm", "a-very-long-command-name"],
            &["--comm", ""],
            &["--duration", "0"],
            &["--dispatch", "sideways"],
            &["--ringbuf-bytes", "5000"],
            &["--no-such-flag"],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn probe_subcommand() {
        let cli = parse(&["probe", "--json", "--dispatch", "tail"]).unwrap();
        match cli.command {
            Some(Command::Probe(p)) => {
                assert!(p.json);
                assert_eq!(p.kernel.dispatch, DispatchChoice::Tail);
            }
            other => panic!("{other:?}"),
        }
    }
}
