//! Which cgroup hierarchies this host mounts, from /proc/self/mountinfo: pure cgroup v2,
//! cgroup v1 only, or the hybrid of both (v1 controllers with a cgroup2 mount beside them,
//! usually at /sys/fs/cgroup/unified). The kernel's cgroup id (bpf_get_current_cgroup_id)
//! is always an id in the v2 hierarchy, so the cgroup2 mount decides what can be resolved
//! and which filters can run.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::exit::{Code, Failure};

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Where systemd and most distributions mount the cgroup2 hierarchy, pure or hybrid; a
/// cgroup2 mount there is preferred over any other (containers may mount more copies).
const PREFERRED_CGROUP2: [&str; 2] = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];

/// The overall shape of the cgroup mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    /// cgroup2 alone (the unified hierarchy, no v1 hierarchy mounted).
    V2,
    /// cgroup v1 hierarchies and no cgroup2 mount.
    V1,
    /// cgroup v1 hierarchies and a cgroup2 mount (systemd's "hybrid" mode).
    Hybrid,
    /// No cgroup filesystem mounted at all (a bare chroot or minimal container).
    None,
}

impl LayoutKind {
    pub fn name(self) -> &'static str {
        match self {
            LayoutKind::V2 => "v2",
            LayoutKind::V1 => "v1",
            LayoutKind::Hybrid => "hybrid",
            LayoutKind::None => "none",
        }
    }
}

/// One mounted cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    pub mount_point: PathBuf,
    /// The controllers bound to it (cpu, memory, ...); empty for a named hierarchy such as
    /// name=systemd.
    pub controllers: Vec<String>,
    /// The `name=` option: "systemd" for the hierarchy systemd tracks services in.
    pub name: Option<String>,
}

/// The cgroup mounts of this host (of this process's mount namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub kind: LayoutKind,
    /// The cgroup2 mount point: cgroup ids are the inode numbers of directories under it.
    pub cgroup2_mount: Option<PathBuf>,
    pub v1: Vec<V1Hierarchy>,
}

/// The fields of a mountinfo line this module needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// The directory of the filesystem that is mounted here ("/" for a whole hierarchy).
    root: String,
    mount_point: PathBuf,
    fstype: String,
    super_options: Vec<String>,
}

/// Mount options of a v1 cgroup mount that are not controller names.
fn is_v1_non_controller_option(option: &str) -> bool {
    matches!(
        option,
        "rw" | "ro"
            | "noprefix"
            | "clone_children"
            | "xattr"
            | "cpuset_v2_mode"
            | "favordynmods"
            | "nofavordynmods"
            | "none"
            | "all"
    ) || option.starts_with("release_agent=")
        || option.starts_with("name=")
}

/// mountinfo escapes space, tab, newline and backslash in paths as \ooo octal.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                // Three octal digits can exceed a byte (\777): keep such text as written.
                match u8::try_from(value) {
                    Ok(byte) => out.push(byte),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 4]),
                }
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One mountinfo line: `id parent major:minor root mount_point options [optional...] -
/// fstype source super_options`. None for a line that does not have that shape.
fn parse_mount_line(line: &str) -> Option<Mount> {
    let (before, after) = line.split_once(" - ")?;
    let mut head = before.split(' ');
    let root = head.nth(3)?;
    let mount_point = head.next()?;
    let mut tail = after.split(' ');
    let fstype = tail.next()?;
    let _source = tail.next()?;
    let super_options = tail.next().unwrap_or("");
    Some(Mount {
        root: unescape_octal(root),
        mount_point: PathBuf::from(unescape_octal(mount_point)),
        fstype: fstype.to_string(),
        super_options: super_options.split(',').map(str::to_string).collect(),
    })
}

/// The cgroup2 mount to use when there are several: a whole hierarchy (root "/") at a
/// conventional place first, then any whole hierarchy, then anything.
fn choose_cgroup2(mounts: &[&Mount]) -> Option<PathBuf> {
    let whole = |m: &&&Mount| m.root == "/";
    PREFERRED_CGROUP2
        .iter()
        .find_map(|p| {
            mounts
                .iter()
                .filter(whole)
                .find(|m| m.mount_point == Path::new(p))
        })
        .or_else(|| mounts.iter().find(whole))
        .or_else(|| mounts.first())
        .map(|m| m.mount_point.clone())
}

fn v1_hierarchy(mount: &Mount) -> V1Hierarchy {
    let option_value = |key: &str| {
        mount
            .super_options
            .iter()
            .find_map(|o| o.strip_prefix(key))
            .map(str::to_string)
    };
    V1Hierarchy {
        mount_point: mount.mount_point.clone(),
        controllers: mount
            .super_options
            .iter()
            .filter(|o| !o.is_empty() && !is_v1_non_controller_option(o))
            .cloned()
            .collect(),
        name: option_value("name="),
    }
}

impl Layout {
    /// The layout of this process's mount namespace.
    pub fn detect() -> Result<Layout> {
        let text = fs::read_to_string(MOUNTINFO).with_context(|| format!("reading {MOUNTINFO}"))?;
        Ok(Layout::from_mountinfo(&text))
    }

    /// The layout described by the text of a mountinfo file; lines it cannot parse are
    /// skipped (they are not cgroup mounts this module could use anyway).
    pub fn from_mountinfo(text: &str) -> Layout {
        let mounts: Vec<Mount> = text.lines().filter_map(parse_mount_line).collect();
        let cgroup2: Vec<&Mount> = mounts.iter().filter(|m| m.fstype == "cgroup2").collect();
        let mut v1: Vec<V1Hierarchy> = mounts
            .iter()
            .filter(|m| m.fstype == "cgroup")
            .map(v1_hierarchy)
            .collect();
        // The same hierarchy can be mounted twice (bind mounts into containers): one entry
        // per mount point is enough to describe it.
        v1.dedup_by(|a, b| a.mount_point == b.mount_point);
        let cgroup2_mount = choose_cgroup2(&cgroup2);
        let kind = match (cgroup2_mount.is_some(), v1.is_empty()) {
            (true, true) => LayoutKind::V2,
            (true, false) => LayoutKind::Hybrid,
            (false, false) => LayoutKind::V1,
            (false, true) => LayoutKind::None,
        };
        Layout {
            kind,
            cgroup2_mount,
            v1,
        }
    }

    /// The v1 hierarchy systemd (or another manager) names `name=systemd`: where service
    /// and container paths live on a v1-only host.
    pub fn v1_systemd(&self) -> Option<&V1Hierarchy> {
        self.v1
            .iter()
            .find(|h| h.name.as_deref() == Some("systemd"))
    }

    /// Every v1 controller mounted, in mount order.
    pub fn v1_controllers(&self) -> Vec<&str> {
        self.v1
            .iter()
            .flat_map(|h| h.controllers.iter().map(String::as_str))
            .collect()
    }

    /// The cgroup2 mount point, or the usage error a filter option gets without one: the
    /// kernel's cgroup id and its cgroup helpers only know the v2 hierarchy.
    pub fn require_cgroup2(&self, option: &str) -> Result<&Path> {
        self.cgroup2_mount.as_deref().ok_or_else(|| {
            Failure::err(
                Code::Usage,
                format!(
                    "{option} needs the cgroup v2 hierarchy, and this host ({} layout) has no cgroup2 mount",
                    self.kind.name()
                ),
            )
        })
    }

    /// Where a record's cgroup path comes from: the v2 hierarchy when it is mounted;
    /// otherwise the v1 name=systemd hierarchy (through /proc/PID/cgroup), because the
    /// kernel's v2 id is then the same root id for every task.
    pub fn paths_from(&self) -> Option<&'static str> {
        if self.cgroup2_mount.is_some() {
            Some("cgroup2")
        } else if self.v1_systemd().is_some() {
            Some("v1 name=systemd")
        } else {
            None
        }
    }

    /// The mount record paths are relative to (see [`Layout::paths_from`]).
    pub fn paths_mount(&self) -> Option<&Path> {
        self.cgroup2_mount
            .as_deref()
            .or_else(|| self.v1_systemd().map(|h| h.mount_point.as_path()))
    }

    /// The summary `probe --json` shows: the layout, the cgroup2 mount, the v1 hierarchies,
    /// and whether --cgroup/--container can run here (with the reason when not).
    pub fn to_json(&self) -> serde_json::Value {
        let filters_reason = self
            .require_cgroup2("--cgroup/--container")
            .err()
            .map(|e| crate::exit::one_line(&e));
        let hierarchies: Vec<serde_json::Value> = self
            .v1
            .iter()
            .map(|h| {
                json!({
                    "mount": h.mount_point.to_string_lossy(),
                    "controllers": h.controllers,
                    "name": h.name,
                })
            })
            .collect();
        json!({
            "layout": self.kind.name(),
            "cgroup2_mount": self.cgroup2_mount.as_ref().map(|p| p.to_string_lossy()),
            "v1_controllers": self.v1_controllers(),
            "v1_hierarchies": hierarchies,
            "paths_from": self.paths_from(),
            "filters": {
                "cgroup": self.cgroup2_mount.is_some(),
                "container": self.cgroup2_mount.is_some(),
                "reason": filters_reason,
            },
        })
    }
}

/// A process's cgroups, from /proc/PID/cgroup (`hierarchy-id:controllers:path` lines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// The path in the v2 hierarchy (the `0::` line), when it is mounted.
    pub unified: Option<String>,
    /// The path in the v1 name=systemd hierarchy, when there is one.
    pub v1_systemd: Option<String>,
}

impl Membership {
    /// Parses the text of /proc/PID/cgroup; malformed lines are skipped.
    pub fn parse(text: &str) -> Membership {
        let mut membership = Membership::default();
        for line in text.lines() {
            let mut fields = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if id == "0" && controllers.is_empty() {
                membership.unified = Some(path.to_string());
            } else if controllers.split(',').any(|c| c == "name=systemd") {
                membership.v1_systemd = Some(path.to_string());
            }
        }
        membership
    }

    /// The cgroups of process `pid`.
    pub fn of_pid(pid: u32) -> Result<Membership> {
        let file = format!("/proc/{pid}/cgroup");
        let text = fs::read_to_string(&file).with_context(|| format!("reading {file}"))?;
        Ok(Membership::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine: v1 controllers under /sys/fs/cgroup, cgroup2 at /sys/fs/cgroup/unified.
    const HYBRID: &str = "\
22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// Debian 12, Fedora, Ubuntu 22.04+: the unified hierarchy alone.
    const PURE_V2: &str = "\
26 22 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
30 26 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    /// RHEL 7/8 and Ubuntu 20.04 defaults: v1 only, with co-mounted controllers.
    const V1_ONLY: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,net_cls,net_prio
";

    #[test]
    fn hybrid_host_has_v1_controllers_and_unified_mount() {
        let layout = Layout::from_mountinfo(HYBRID);
        assert_eq!(layout.kind, LayoutKind::Hybrid);
        assert_eq!(
            layout.cgroup2_mount.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        assert_eq!(layout.v1_controllers(), ["cpu", "cpuacct", "memory"]);
        let systemd = layout.v1_systemd().expect("name=systemd hierarchy");
        assert_eq!(systemd.mount_point, Path::new("/sys/fs/cgroup/systemd"));
        assert!(systemd.controllers.is_empty());
        assert_eq!(layout.paths_from(), Some("cgroup2"));
        let summary = layout.to_json();
        assert_eq!(summary["layout"], "hybrid");
        assert_eq!(summary["cgroup2_mount"], "/sys/fs/cgroup/unified");
        assert_eq!(summary["filters"]["cgroup"], true);
        assert!(summary["filters"]["reason"].is_null());
    }

    #[test]
    fn pure_v2_host() {
        let layout = Layout::from_mountinfo(PURE_V2);
        assert_eq!(layout.kind, LayoutKind::V2);
        assert_eq!(
            layout.cgroup2_mount.as_deref(),
            Some(Path::new("/sys/fs/cgroup"))
        );
        assert!(layout.v1.is_empty());
        assert_eq!(layout.to_json()["layout"], "v2");
    }

    #[test]
    fn v1_only_host_cannot_filter() {
        let layout = Layout::from_mountinfo(V1_ONLY);
        assert_eq!(layout.kind, LayoutKind::V1);
        assert_eq!(layout.cgroup2_mount, None);
        assert_eq!(
            layout.v1_controllers(),
            ["cpu", "cpuacct", "net_cls", "net_prio"]
        );
        assert_eq!(layout.v1_systemd().map(|h| h.controllers.len()), Some(0));
        assert_eq!(layout.paths_from(), Some("v1 name=systemd"));
        assert_eq!(
            layout.paths_mount(),
            Some(Path::new("/sys/fs/cgroup/systemd"))
        );
        let err = layout.require_cgroup2("--container").unwrap_err();
        assert_eq!(crate::exit::code_of(&err), Code::Usage as i32);
        assert_eq!(
            crate::exit::one_line(&err),
            "--container needs the cgroup v2 hierarchy, and this host (v1 layout) has no cgroup2 mount"
        );
        let summary = layout.to_json();
        assert_eq!(summary["filters"]["container"], false);
        assert!(summary["filters"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no cgroup2 mount")));
    }

    #[test]
    fn no_cgroup_mount_at_all() {
        let layout = Layout::from_mountinfo("22 28 0:21 / /proc rw - proc proc rw\n");
        assert_eq!(layout.kind, LayoutKind::None);
        assert_eq!(layout.paths_from(), None);
    }

    #[test]
    fn conventional_whole_hierarchy_wins_over_other_cgroup2_mounts() {
        let text = "\
50 40 0:38 /docker/abc /container/cgroup rw - cgroup2 cgroup2 rw
51 40 0:38 / /mnt/cg2 rw - cgroup2 cgroup2 rw
52 40 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
";
        let layout = Layout::from_mountinfo(text);
        assert_eq!(
            layout.cgroup2_mount.as_deref(),
            Some(Path::new("/sys/fs/cgroup"))
        );
        let without_conventional = Layout::from_mountinfo(&text[..text.rfind("52 ").unwrap()]);
        assert_eq!(
            without_conventional.cgroup2_mount.as_deref(),
            Some(Path::new("/mnt/cg2"))
        );
    }

    #[test]
    fn escaped_mount_points_and_malformed_lines() {
        let text = "\
garbage without separator
1 2 3 - cgroup2
60 40 0:38 / /mnt/my\\040cgroups\\134x rw shared:1 master:2 - cgroup2 none rw
";
        let layout = Layout::from_mountinfo(text);
        assert_eq!(
            layout.cgroup2_mount.as_deref(),
            Some(Path::new("/mnt/my cgroups\\x"))
        );
        assert_eq!(unescape_octal("a\\777b\\0"), "a\\777b\\0");
    }

    #[test]
    fn proc_cgroup_membership() {
        let text = "\
9:name=systemd:/libpod_parent/libpod-1111111111111111111111111111111111111111111111111111111111111111
4:memory:/process_api/b22d
1:cpu:/
0::/libpod_parent/libpod-1111111111111111111111111111111111111111111111111111111111111111
not a line
";
        let m = Membership::parse(text);
        let expected = format!("/libpod_parent/libpod-{}", "1".repeat(64));
        assert_eq!(m.unified.as_deref(), Some(expected.as_str()));
        assert_eq!(m.v1_systemd.as_deref(), Some(expected.as_str()));
        assert_eq!(Membership::parse(""), Membership::default());
    }
}
