//! Test tooling for tailcall-logger, kept out of the product crate (never installed with it,
//! never packaged): the support the end-to-end tests share (tests/e2e.rs, tests/reliability.rs,
//! tests/test_run.rs) and the library half of the `tailcall-logger-scenario` binary
//! (src/bin/scenario.rs), which the host tests and the QEMU VMs (vm/) run next to the logger.
//!
//! - [`require_bpf!`] and [`require_tool!`]: the skip rule, with the test's own name.
//! - [`Bins`] ([`bins!`]): where the logger and the scenario binary are; spawns both.
//! - [`Logger`]: a logger in the background, its output read line by line.
//! - [`fixtures`]: the known strings the actors use and the tests assert.
//! - [`actors`]: the child processes that make known syscalls (run by the scenario binary).
//! - [`checks`]: assertions and decoders over the logger's output.
//! - [`args`]: `--args`: the `--act-args` actor's reports and the exact records it causes.
//! - [`storm`]: a pinned storm of logged syscalls under a logger (throughput tests).
//! - [`results`]: `--results`: actors whose calls have known outcomes.
//! - [`containers`]: a real podman container from a locally built busybox image.
//! - [`cgroups`]: a real cgroup v2 made by the test, and the checks of records made in it.

pub mod actors;
pub mod args;
pub mod bins;
pub mod cgroups;
pub mod checks;
pub mod containers;
pub mod fixtures;
pub mod logger;
pub mod results;
pub mod rings;
pub mod skip;
pub mod storm;

pub use bins::{go, Bins, ReportingActor, SCENARIO_BIN};
pub use checks::{
    assert_clean_error, assert_clean_failure, assert_no_terminal_controls, delivered, parse_lines,
    seen_accounts_for,
};
pub use fixtures::tempdir;
pub use logger::{run_logger, wait_exit, Logger};
pub use skip::one_at_a_time;
