//! The command-line filters resolved to what the kernel can test: `--cgroup PATH` to the
//! cgroup's directory, id and depth (and its subtree's ids), `--container ID` to the
//! cgroup directories of the one container whose id starts with ID. Every mistake of the
//! user is one line with the usage exit code.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::layout::Layout;
use super::path::{identify, Runtime};
use super::tree;
use crate::exit::{Code, Failure};

/// The fewest hex digits `--container` accepts: what `docker ps` shows, and short enough
/// prefixes would match containers by accident.
pub const MIN_CONTAINER_PREFIX: usize = 12;
const CONTAINER_ID_LEN: usize = 64;
/// The most cgroups the kernel filter holds (MAX_CGROUP_FILTERS in bpf/dispatch.h).
pub const MAX_CGROUP_FILTERS: usize = 16;

/// One cgroup directory a filter selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupTarget {
    /// The directory under the cgroup2 mount.
    pub dir: PathBuf,
    /// Its path relative to the mount, as records show it.
    pub path: String,
    /// Its cgroup id.
    pub id: u64,
    /// Its depth below the root (the root is 0): the level to give
    /// bpf_get_current_ancestor_cgroup_id so that a task anywhere in the subtree, even in a
    /// cgroup created after the filter was set up, matches `id`.
    pub level: u32,
}

impl CgroupTarget {
    /// The directory opened, for a BPF_MAP_TYPE_CGROUP_ARRAY slot
    /// (bpf_current_task_under_cgroup takes the cgroup as an fd).
    pub fn open(&self) -> Result<File> {
        File::open(&self.dir).with_context(|| format!("opening {}", self.dir.display()))
    }

    /// The ids of the directory and of every cgroup below it now: for a hash-of-ids filter.
    /// Cgroups created later are not in it; the ancestor test (`level`) covers those.
    pub fn subtree_ids(&self, mount: &Path) -> Result<Vec<u64>> {
        let found = tree::walk(mount, &self.dir)
            .with_context(|| format!("walking the cgroup {}", self.path))?;
        Ok(found.into_iter().map(|(id, _)| id).collect())
    }
}

/// The container `--container` named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerTarget {
    /// The full 64-hex id.
    pub container_id: String,
    pub runtime: Option<Runtime>,
    /// Its outermost cgroup directories (usually one; the cgroups below them are part of
    /// each subtree). Its monitor's cgroup (conmon) is not among them.
    pub cgroups: Vec<CgroupTarget>,
}

fn usage(message: String) -> anyhow::Error {
    Failure::err(Code::Usage, message)
}

fn target_at(mount: &Path, rel: &Path) -> Result<CgroupTarget> {
    let dir = mount.join(rel);
    let id = tree::cgroup_id(&dir)?;
    Ok(CgroupTarget {
        path: tree::display_path(rel),
        level: u32::try_from(rel.iter().count()).unwrap_or(u32::MAX),
        id,
        dir,
    })
}

/// `--cgroup PATH`: the cgroup at PATH, given relative to the cgroup2 mount
/// ("/system.slice/ssh.service") or as the full directory path under it.
pub fn cgroup_target(mount: &Path, arg: &str) -> Result<CgroupTarget> {
    if arg.is_empty() {
        return Err(usage("--cgroup needs a cgroup path".to_string()));
    }
    let rel = tree::relative_to_mount(mount, Path::new(arg))
        .map_err(|why| usage(format!("--cgroup {arg}: {why}")))?;
    match fs::metadata(mount.join(&rel)) {
        Ok(meta) if meta.is_dir() => target_at(mount, &rel),
        Ok(_) => Err(usage(format!("--cgroup {arg}: not a cgroup directory"))),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(usage(format!(
            "--cgroup {arg}: no such cgroup under {}",
            mount.display()
        ))),
        Err(e) => Err(e).with_context(|| format!("--cgroup {arg}: reading {}", mount.display())),
    }
}

/// The prefix `--container` was given, lower-cased, or why it cannot be one.
fn container_prefix(arg: &str) -> Result<String> {
    let prefix = arg.to_ascii_lowercase();
    if !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(usage(format!(
            "--container {arg}: a container id is hex digits"
        )));
    }
    if prefix.len() < MIN_CONTAINER_PREFIX {
        return Err(usage(format!(
            "--container {arg}: give at least {MIN_CONTAINER_PREFIX} hex digits of the container id"
        )));
    }
    if prefix.len() > CONTAINER_ID_LEN {
        return Err(usage(format!(
            "--container {arg}: a container id has {CONTAINER_ID_LEN} hex digits"
        )));
    }
    Ok(prefix)
}

fn common_prefix_len(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// A cgroup of a container whose id matches the prefix.
struct Match {
    container_id: String,
    runtime: Option<Runtime>,
    path: String,
}

/// Every cgroup under the mount that belongs to a container whose id starts with
/// `prefix` (monitors left out), sorted by path: a parent comes before its children.
fn matching_cgroups(mount: &Path, prefix: &str) -> Result<Vec<Match>> {
    let mut matches: Vec<Match> = tree::walk(mount, mount)?
        .into_iter()
        .filter_map(|(_, path)| {
            let identity = identify(&path);
            let container_id = identity.container_id.filter(|id| id.starts_with(prefix))?;
            (!identity.monitor).then_some(Match {
                container_id,
                runtime: identity.runtime,
                path,
            })
        })
        .collect();
    matches.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(matches)
}

/// The usage error unless the matches name exactly one container.
fn exactly_one_container(arg: &str, mount: &Path, matches: &[Match]) -> Result<()> {
    let mut ids: Vec<&str> = matches.iter().map(|m| m.container_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    match ids.as_slice() {
        [] => Err(usage(format!(
            "--container {arg}: no container with that id has a cgroup under {}",
            mount.display()
        ))),
        [_] => Ok(()),
        several => {
            // Enough digits to tell them apart: their common prefix and a few more.
            let common = several
                .iter()
                .map(|id| common_prefix_len(id, several[0]))
                .min()
                .unwrap_or(0);
            let digits = (common + 4).clamp(MIN_CONTAINER_PREFIX, CONTAINER_ID_LEN);
            let shown: Vec<&str> = several
                .iter()
                .map(|id| id.get(..digits).unwrap_or(id))
                .collect();
            Err(usage(format!(
                "--container {arg}: ambiguous, {} containers match ({}); give more digits",
                several.len(),
                shown.join(", ")
            )))
        }
    }
}

/// The paths not below another of them (sorted input): a filter on a cgroup's subtree
/// already covers the cgroups under it.
fn outermost(matches: &[Match]) -> Vec<&str> {
    let mut kept: Vec<&str> = Vec::new();
    for m in matches {
        let below_kept = kept.iter().any(|k| {
            m.path
                .strip_prefix(k)
                .is_some_and(|rest| rest.starts_with('/') || k.ends_with('/'))
        });
        if !below_kept {
            kept.push(&m.path);
        }
    }
    kept
}

/// `--container ID`: the one container under the cgroup2 mount whose id starts with ID.
pub fn container_target(mount: &Path, arg: &str) -> Result<ContainerTarget> {
    let prefix = container_prefix(arg)?;
    let matches = matching_cgroups(mount, &prefix)
        .with_context(|| format!("--container {arg}: walking {}", mount.display()))?;
    exactly_one_container(arg, mount, &matches)?;
    let cgroups = outermost(&matches)
        .into_iter()
        .map(|path| target_at(mount, Path::new(path.trim_start_matches('/'))))
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("--container {arg}"))?;
    Ok(ContainerTarget {
        container_id: matches[0].container_id.clone(),
        runtime: matches[0].runtime,
        cgroups,
    })
}

/// Every `--cgroup` and `--container` of the command line as the cgroups the kernel filter
/// holds; empty when neither was given. A usage error when the host has no cgroup2 mount,
/// or when they add up to more cgroups than the filter holds.
pub fn filter_targets(
    layout: &Layout,
    cgroups: &[String],
    containers: &[String],
) -> Result<Vec<CgroupTarget>> {
    let option = match (cgroups.is_empty(), containers.is_empty()) {
        (true, true) => return Ok(Vec::new()),
        (false, _) => "--cgroup",
        (true, false) => "--container",
    };
    let mount = layout.require_cgroup2(option)?;
    let mut targets = cgroups
        .iter()
        .map(|arg| cgroup_target(mount, arg))
        .collect::<Result<Vec<_>>>()?;
    for arg in containers {
        targets.extend(container_target(mount, arg)?.cgroups);
    }
    targets.sort_by(|a, b| a.path.cmp(&b.path));
    targets.dedup_by(|a, b| a.id == b.id);
    if targets.len() > MAX_CGROUP_FILTERS {
        return Err(usage(format!(
            "--cgroup/--container: {} cgroups to filter on, the kernel filter holds {MAX_CGROUP_FILTERS}",
            targets.len()
        )));
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::exit::{code_of, one_line};

    const A: &str = "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111";
    const B: &str = "aaaaaaaaaaaa2222222222222222222222222222222222222222222222222222";

    /// A stand-in for the cgroup2 mount: two podman containers sharing a 12-digit prefix,
    /// one with a nested cgroup and a monitor, and a systemd service.
    fn tree() -> PathBuf {
        let mount = tailcall_logger_testkit::tempdir();
        for rel in [
            format!("machine.slice/libpod-{A}.scope/container"),
            format!("machine.slice/libpod-conmon-{A}.scope"),
            format!("libpod_parent/libpod-{B}"),
            "system.slice/ssh.service/sub".to_string(),
        ] {
            fs::create_dir_all(mount.join(rel)).unwrap();
        }
        mount
    }

    fn usage_line(result: Result<impl std::fmt::Debug>) -> String {
        let err = result.expect_err("a usage error");
        assert_eq!(code_of(&err), Code::Usage as i32, "{err:#}");
        one_line(&err)
    }

    #[test]
    fn cgroup_paths() {
        let mount = tree();
        let ino = |rel: &str| fs::metadata(mount.join(rel)).unwrap().ino();
        let target = cgroup_target(&mount, "/system.slice/ssh.service").unwrap();
        assert_eq!(target.path, "/system.slice/ssh.service");
        assert_eq!(target.id, ino("system.slice/ssh.service"));
        assert_eq!(target.level, 2);
        assert!(target.open().is_ok());
        let mut ids = target.subtree_ids(&mount).unwrap();
        ids.sort_unstable();
        let mut want = vec![
            ino("system.slice/ssh.service"),
            ino("system.slice/ssh.service/sub"),
        ];
        want.sort_unstable();
        assert_eq!(ids, want);

        let full = format!("{}/system.slice", mount.display());
        assert_eq!(cgroup_target(&mount, &full).unwrap().path, "/system.slice");
        let root = cgroup_target(&mount, "/").unwrap();
        assert_eq!((root.path.as_str(), root.level), ("/", 0));

        assert!(usage_line(cgroup_target(&mount, "/nope"))
            .contains("--cgroup /nope: no such cgroup under"));
        assert_eq!(
            usage_line(cgroup_target(&mount, "/a/../..")),
            "--cgroup /a/../..: \"..\" cannot name a cgroup"
        );
        assert_eq!(
            usage_line(cgroup_target(&mount, "")),
            "--cgroup needs a cgroup path"
        );
        fs::write(mount.join("system.slice/cgroup.procs"), "").unwrap();
        assert_eq!(
            usage_line(cgroup_target(&mount, "/system.slice/cgroup.procs")),
            "--cgroup /system.slice/cgroup.procs: not a cgroup directory"
        );
        fs::remove_dir_all(&mount).unwrap();
    }

    #[test]
    fn command_line_targets() {
        let mount = tree();
        let layout = Layout {
            kind: super::super::LayoutKind::V2,
            cgroup2_mount: Some(mount.clone()),
            v1: Vec::new(),
        };
        assert!(filter_targets(&layout, &[], &[]).unwrap().is_empty());
        let got = filter_targets(
            &layout,
            &["/system.slice".to_string(), "/system.slice/".to_string()],
            &[B[..12].to_uppercase() + "2"],
        )
        .unwrap();
        let paths: Vec<&str> = got.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                format!("/libpod_parent/libpod-{B}").as_str(),
                "/system.slice"
            ]
        );
        let many: Vec<String> = (0..=MAX_CGROUP_FILTERS)
            .map(|n| {
                fs::create_dir(mount.join(format!("c{n}"))).unwrap();
                format!("/c{n}")
            })
            .collect();
        assert!(usage_line(filter_targets(&layout, &many, &[])).contains("holds 16"));
        let v1 = Layout {
            kind: super::super::LayoutKind::V1,
            cgroup2_mount: None,
            v1: Vec::new(),
        };
        assert_eq!(
            usage_line(filter_targets(&v1, &[], &["0123456789ab".to_string()])),
            "--container needs the cgroup v2 hierarchy, and this host (v1 layout) has no cgroup2 mount"
        );
        fs::remove_dir_all(&mount).unwrap();
    }

    #[test]
    fn container_prefixes() {
        let mount = tree();
        let a = container_target(&mount, &A[..13]).unwrap();
        assert_eq!(a.container_id, A);
        assert_eq!(a.runtime, Some(Runtime::Podman));
        let paths: Vec<&str> = a.cgroups.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, [format!("/machine.slice/libpod-{A}.scope")]);
        assert_eq!(a.cgroups[0].level, 2);

        let b = container_target(&mount, &B.to_uppercase()).unwrap();
        assert_eq!(b.container_id, B);
        assert_eq!(b.cgroups[0].path, format!("/libpod_parent/libpod-{B}"));

        assert_eq!(
            usage_line(container_target(&mount, &A[..12])),
            "--container aaaaaaaaaaaa: ambiguous, 2 containers match (aaaaaaaaaaaa1111, aaaaaaaaaaaa2222); give more digits"
        );
        assert_eq!(
            usage_line(container_target(&mount, "abc")),
            "--container abc: give at least 12 hex digits of the container id"
        );
        assert_eq!(
            usage_line(container_target(&mount, "xyz123456789012")),
            "--container xyz123456789012: a container id is hex digits"
        );
        assert!(usage_line(container_target(&mount, &format!("{A}0")))
            .ends_with("a container id has 64 hex digits"));
        assert!(
            usage_line(container_target(&mount, "0123456789abcdef")).starts_with(
                "--container 0123456789abcdef: no container with that id has a cgroup under"
            )
        );
        fs::remove_dir_all(&mount).unwrap();
    }
}
