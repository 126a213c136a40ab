//! The known strings the actors use and the tests assert: one definition for both sides.

use std::path::{Path, PathBuf};

/// The comm the scenario's child sets (`--comm` filters select it).
pub const CHILD_COMM: &str = "tcl-child";
/// argv[1] of the program the scenario's child execs: the scenario binary itself, which
/// exits 0 at once when it sees this.
pub const EXEC_MARK: &str = "--exec-target";
/// The argv of that exec (a space inside one argument, a `=`).
pub const EXEC_ARGV: [&str; 4] = ["tcl-exec-target", EXEC_MARK, "two words", "x=1"];

/// Bytes a terminal would act on, and text that hides or reorders what follows: the comm
/// the `--hostile` actor sets.
pub const HOSTILE_COMM: &[u8] = b"\x1b[2Jev\rl\x07\xc2\x9b\xff";

/// The argv the `--hostile` actor execs with.
pub fn hostile_argv() -> Vec<Vec<u8>> {
    vec![
        b"hostile".to_vec(),
        b"\x1b]0;owned\x07".to_vec(),
        b"line1\nline2\r".to_vec(),
        "\u{9b}31m\u{202e}txt.exe".as_bytes().to_vec(),
        b"quote\" and 'single' and space".to_vec(),
        b"".to_vec(),
        b"bad\xff\xfeutf8".to_vec(),
        b"back\\slash".to_vec(),
    ]
}

/// The file name of the program the `--hostile` actor execs (a link to /bin/true).
pub const HOSTILE_FILE_NAME: &[u8] = b"ev\x1b[31mil\n\xff\xe2\x80\xae name";

/// A link to /bin/true named [`HOSTILE_FILE_NAME`], in a new [`tempdir`].
pub fn hostile_target() -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let link = tempdir().join(std::ffi::OsStr::from_bytes(HOSTILE_FILE_NAME));
    std::os::unix::fs::symlink("/bin/true", &link).unwrap();
    link
}

/// What the `--faults` actor execs: a path that does not exist.
pub const FAULT_TARGET: &str = "/nonexistent/tcl-fault-target";

/// A new directory under the system's temporary directory, unique to this call.
pub fn tempdir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("tcl-test-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `dir/name` as a string, for command lines.
pub fn path_in(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// The path the scenario's child opens (read-only; it does not exist) before its timer
/// calls: with `--args` its `openat` record is asserted exactly, in the VMs too. A C
/// string: the child uses it after fork, where it must not allocate.
pub const ARGS_PROBE_PATH: &std::ffi::CStr = c"/nonexistent/tcl-args-probe";

/// The comm the `--act-args` actor sets.
pub const ARGS_COMM: &str = "tcl-args";
/// The logger's default `--string-size` (bytes read for a path, including its NUL).
pub const DEFAULT_STRING_SIZE: usize = 256;
/// The length of the `--act-args` actor's long path: more than the default string size.
pub const LONG_PATH_LEN: usize = 300;
/// A file name that is not UTF-8 (a Latin-1 e-acute), which the `--act-args` actor opens.
pub const NOT_UTF8_NAME: &[u8] = b"caf\xe9";

/// A path under `dir` of exactly `len` bytes: `dir/` and then as many `l` as it takes.
pub fn path_of_len(dir: &str, len: usize) -> String {
    let mut p = format!("{dir}/");
    while p.len() < len {
        p.push('l');
    }
    p
}
