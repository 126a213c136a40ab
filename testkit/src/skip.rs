//! The rule for tests that need BPF (root) or a tool: without it a test skips loudly, unless
//! TAILCALL_LOGGER_REQUIRE_BPF=1 (CI, as root) turns the skip into a failure.
//!
//! ```ignore
//! #[test]
//! fn json_lines_parse_strictly_and_with_jq() {
//!     require_bpf!();
//!     require_tool!("jq");
//!     ...
//! }
//! ```

use std::process::{Command, Stdio};

/// Set to 1 (CI does) to turn every skip into a failure.
pub const REQUIRE_BPF_ENV: &str = "TAILCALL_LOGGER_REQUIRE_BPF";

fn skipping_forbidden() -> bool {
    std::env::var_os(REQUIRE_BPF_ENV).is_some_and(|v| v == "1")
}

/// True when the test may load BPF. Without root it skips loudly, unless CI set
/// TAILCALL_LOGGER_REQUIRE_BPF=1, which turns the skip into a failure.
#[track_caller]
pub fn bpf_available(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if skipping_forbidden() {
        panic!("{test}: needs root for BPF, and {REQUIRE_BPF_ENV}=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: needs root for BPF");
    false
}

/// True when `tool` is on PATH; otherwise the same rule as [`bpf_available`].
#[track_caller]
pub fn tool_available(test: &str, tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if skipping_forbidden() {
            panic!("{test}: needs {tool} (scripts/install-deps.sh test installs it)");
        }
        eprintln!("SKIPPED {test}: needs {tool}");
    }
    found
}

/// The function's own name from the type name of an item nested in it
/// ("e2e::some_test::here" gives "some_test"); see [`test_name!`](crate::test_name).
pub fn test_name(nested: &'static str) -> &'static str {
    let path = nested.rsplit_once("::").map_or(nested, |(outer, _)| outer);
    path.rsplit("::")
        .find(|segment| *segment != "{{closure}}")
        .unwrap_or(path)
}

/// The name of the function this is written in (the test's name, for skip messages).
#[macro_export]
macro_rules! test_name {
    () => {{
        fn here() {}
        $crate::skip::test_name(::std::any::type_name_of_val(&here))
    }};
}

/// Returns from the calling test when BPF cannot be loaded (not root): a loud skip, or a
/// panic with TAILCALL_LOGGER_REQUIRE_BPF=1.
#[macro_export]
macro_rules! require_bpf {
    () => {
        if !$crate::skip::bpf_available($crate::test_name!()) {
            return;
        }
    };
}

/// Returns from the calling test when `tool` is not on PATH, by the same rule.
#[macro_export]
macro_rules! require_tool {
    ($tool:expr) => {
        if !$crate::skip::tool_available($crate::test_name!(), $tool) {
            return;
        }
    };
}

/// Tests that select their processes by command name must not overlap (cargo runs the
/// tests of a file on several threads unless told otherwise): hold this while tracing.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_name_is_the_enclosing_function() {
        assert_eq!(crate::test_name!(), "test_name_is_the_enclosing_function");
        let in_closure = || crate::test_name!();
        assert_eq!(in_closure(), "test_name_is_the_enclosing_function");
    }

    #[test]
    fn require_tool_returns_early_only_without_the_tool() {
        fn needs(tool: &str, reached: &mut bool) {
            crate::require_tool!(tool);
            *reached = true;
        }
        let mut reached = false;
        needs("sh", &mut reached);
        assert!(reached);
        if std::env::var_os(super::REQUIRE_BPF_ENV).is_none_or(|v| v != "1") {
            let mut reached = false;
            needs("tailcall-logger-no-such-tool", &mut reached);
            assert!(!reached);
        }
    }
}
