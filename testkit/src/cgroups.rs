//! A real cgroup v2 for the tests: a directory made under the cgroup2 mount, with a `leaf`
//! below it that a child is moved into, so a `--cgroup DIR` filter has a subtree to keep;
//! and the checks of the records that child causes.
//!
//! ```ignore
//! let cgroup = TestCgroup::create("/sys/fs/cgroup/unified/tcl-test")?;
//! cgroup.enter(child_pid)?;          // before the child makes its syscalls
//! // ... records of the child carry cgroup.id() and cgroup.path(mount)
//! cgroup.remove();
//! ```

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The syscalls the scenario's child makes after its go byte, and the program it execs:
/// made inside the cgroup, whatever the child did before it was moved there.
const AFTER_GO: [&str; 7] = [
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
    "getppid",
    "execve",
];

/// A cgroup directory and its `leaf`, made by the test.
#[derive(Debug)]
pub struct TestCgroup {
    pub dir: PathBuf,
    pub leaf: PathBuf,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

impl TestCgroup {
    /// Makes `dir` (under a cgroup2 mount) and `dir/leaf`; a leftover of an earlier run
    /// is reused.
    pub fn create(dir: &str) -> Result<TestCgroup, String> {
        let dir = PathBuf::from(dir);
        let leaf = dir.join("leaf");
        std::fs::create_dir_all(&leaf).map_err(|e| io_err("creating", &leaf, e))?;
        if !leaf.join("cgroup.procs").exists() {
            return Err(format!(
                "{} is not a cgroup (no cgroup.procs): is a cgroup2 mount above it?",
                leaf.display()
            ));
        }
        Ok(TestCgroup { dir, leaf })
    }

    /// Moves process `pid` into the leaf.
    pub fn enter(&self, pid: u32) -> Result<(), String> {
        let procs = self.leaf.join("cgroup.procs");
        std::fs::write(&procs, pid.to_string()).map_err(|e| io_err("writing", &procs, e))
    }

    /// The leaf's cgroup id: the inode number of its directory.
    pub fn id(&self) -> Result<u64, String> {
        std::fs::metadata(&self.leaf)
            .map(|m| m.ino())
            .map_err(|e| io_err("reading", &self.leaf, e))
    }

    /// The leaf's path as records show it: relative to `mount`, with a leading "/".
    pub fn path(&self, mount: &str) -> Option<String> {
        let rel = self.leaf.strip_prefix(mount).ok()?;
        Some(format!("/{}", rel.display()))
    }

    /// Removes the leaf and the directory (they must be empty: the child has exited).
    pub fn remove(&self) {
        for dir in [&self.leaf, &self.dir] {
            if let Err(e) = std::fs::remove_dir(dir) {
                eprintln!("warning: removing {}: {e}", dir.display());
            }
        }
    }

    /// The child's records made in the cgroup carry its id and (when the logger has a
    /// cgroup2 mount to resolve against, per the start record) its path; with `only_child`,
    /// the kernel counted no record but the child's (`seen` in the summary is what the
    /// stream holds, plus losses). Returns `detail` with what was checked.
    pub fn check(
        &self,
        only_child: bool,
        start: &Value,
        lines: &[String],
        child: u32,
        detail: String,
    ) -> Result<String, String> {
        let id = self.id()?;
        // The v2 mount, or on a v1-only host the name=systemd one (paths by process; the
        // kernel's id is then the v2 root's for every task).
        let cgroups = &start["cgroups"];
        let by_process = cgroups["paths_from"] == "v1 name=systemd";
        let want_path = cgroups["paths_mount"].as_str().and_then(|m| self.path(m));
        let records: Vec<Value> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        let syscalls: Vec<&Value> = records.iter().filter(|r| r["type"] == "syscall").collect();
        let inside: Vec<&&Value> = syscalls
            .iter()
            .filter(|r| r["pid"] == child && AFTER_GO.iter().any(|s| r["syscall"] == *s))
            .collect();
        if inside.len() < AFTER_GO.len() {
            return Err(format!(
                "{} of the child's records after it entered the cgroup, want {}",
                inside.len(),
                AFTER_GO.len()
            ));
        }
        for r in &inside {
            if !by_process && r["cgroup_id"] != id {
                return Err(format!("cgroup_id is not {id} (the test cgroup's): {r}"));
            }
            match &want_path {
                Some(path) if r["cgroup"] != path.as_str() => {
                    return Err(format!("cgroup is not {path}: {r}"));
                }
                None if !r["cgroup"].is_null() => {
                    return Err(format!("no cgroup mount for paths, yet a path: {r}"));
                }
                _ => {}
            }
        }
        let mut checked = format!(
            " cgroup_id={id} cgroup={}",
            want_path.as_deref().unwrap_or("null")
        );
        if only_child {
            let summary = records
                .iter()
                .find(|r| r["type"] == "summary")
                .ok_or("no summary record")?;
            let seen = summary["seen"].as_u64().unwrap_or(u64::MAX);
            let lost = summary["lost"].as_u64().unwrap_or(0);
            if seen != syscalls.len() as u64 + lost {
                return Err(format!(
                    "the kernel saw {seen} records, the stream has {} and {lost} were lost: \
                     the filter let others through",
                    syscalls.len()
                ));
            }
            checked.push_str(&format!(" seen={seen}"));
        }
        Ok(detail + &checked)
    }
}
