//! The cgroup of a record as the formatters show it: the kernel's cgroup id always, and what
//! the resolver knows about it (path, container, runtime, pod, unit) when it knows already:
//! by the id under a cgroup2 mount, by the process on a v1-only host. The resolver answers
//! from its cache or says "pending" and resolves in the background, so formatting never
//! waits; consecutive records of one cgroup (the common case: a busy process) are answered
//! by a one-entry memo without touching the resolver's lock.

use std::cell::RefCell;
use std::sync::Arc;

use super::digits;
use super::json;
use super::text::escape_into;
use crate::cgroups::{Lookup, PidResolver, Resolved, Resolver};

/// Hex digits of a container id in a human tag: what `docker ps` and `podman ps` show.
const SHORT_ID: usize = 12;

/// Where names come from.
pub enum Source {
    /// The cgroup2 tree, by cgroup id.
    Ids(Resolver),
    /// A v1-only host's name=systemd hierarchy, by process.
    Processes(PidResolver),
}

/// What the formatters can say about a record's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Names {
    /// Nothing to resolve against (no cgroup2 mount, no v1 name=systemd): the names are null.
    Unresolvable,
    /// Not resolved yet (a cgroup new to the resolver): only the id is written.
    Pending,
    Known(Arc<Resolved>),
}

/// The resolver (when the host has a cgroup2 mount) and how human lines show its answers.
#[derive(Default)]
pub struct CgroupNames {
    source: Option<Source>,
    /// Human lines: the `[c:ID]` / `[u:UNIT]` tag before the message (off: --no-container).
    pub tags: bool,
    /// The last key (cgroup id, or pid on a v1-only host) answered with Known, and its answer.
    memo: RefCell<Option<(u64, Arc<Resolved>)>>,
}

impl CgroupNames {
    /// Names from `source` (None: every name null); `tags` for human lines.
    pub fn new(source: Option<Source>, tags: bool) -> CgroupNames {
        CgroupNames {
            source,
            tags,
            memo: RefCell::new(None),
        }
    }

    /// What is known now about the cgroup `id` of process `pid`.
    pub fn names(&self, id: u64, pid: u32) -> Names {
        let key = match &self.source {
            None => return Names::Unresolvable,
            Some(Source::Ids(_)) => id,
            Some(Source::Processes(_)) => pid.into(),
        };
        if let Some((_, last)) = self.memo.borrow().as_ref().filter(|(k, _)| *k == key) {
            return Names::Known(Arc::clone(last));
        }
        let lookup = match &self.source {
            Some(Source::Ids(resolver)) => resolver.lookup(id),
            Some(Source::Processes(resolver)) => resolver.lookup(pid),
            None => return Names::Unresolvable,
        };
        match lookup {
            // A v1 answer is not memoized: it is read again after a while (moves, reuse),
            // and the memo would hide that.
            Lookup::Known(found) if matches!(self.source, Some(Source::Ids(_))) => {
                *self.memo.borrow_mut() = Some((key, Arc::clone(&found)));
                Names::Known(found)
            }
            Lookup::Known(found) => Names::Known(found),
            Lookup::Pending => Names::Pending,
        }
    }

    /// `,"cgroup_id":N` and, unless pending, the names of process `pid`'s cgroup (null when
    /// none).
    pub fn json(&self, out: &mut Vec<u8>, id: u64, pid: u32) {
        out.extend_from_slice(b",\"cgroup_id\":");
        digits::uint(out, id);
        let known = match self.names(id, pid) {
            Names::Pending => return,
            Names::Unresolvable => None,
            Names::Known(r) => Some(r),
        };
        let identity = known.as_ref().map(|r| &r.identity);
        let fields: [(&[u8], Option<&str>); 5] = [
            (
                b",\"cgroup\":",
                known.as_ref().and_then(|r| r.path.as_deref()),
            ),
            (
                b",\"container_id\":",
                identity.and_then(|i| i.container_id.as_deref()),
            ),
            (
                b",\"runtime\":",
                identity.and_then(|i| i.runtime.map(|r| r.name())),
            ),
            (
                b",\"pod_uid\":",
                identity.and_then(|i| i.pod_uid.as_deref()),
            ),
            (b",\"unit\":", identity.and_then(|i| i.unit.as_deref())),
        ];
        for (key, value) in fields {
            out.extend_from_slice(key);
            match value {
                Some(v) => {
                    json::string(out, v.as_bytes());
                }
                None => out.extend_from_slice(b"null"),
            }
        }
    }

    /// The human tag and a space: `[c:3f2a9b1c04de] ` for a container's process,
    /// `[u:ssh.service] ` for a systemd unit's; nothing otherwise or with tags off.
    pub fn human_tag(&self, out: &mut Vec<u8>, id: u64, pid: u32) {
        if !self.tags {
            return;
        }
        let Names::Known(r) = self.names(id, pid) else {
            return;
        };
        let identity = &r.identity;
        // A runtime's monitor (conmon) is not the container's own process: no tag.
        match (&identity.container_id, &identity.unit) {
            (Some(container), _) if !identity.monitor => {
                out.extend_from_slice(b"[c:");
                out.extend_from_slice(&container.as_bytes()[..SHORT_ID.min(container.len())]);
                out.extend_from_slice(b"] ");
            }
            (None, Some(unit)) => {
                out.extend_from_slice(b"[u:");
                escape_into(out, unit.as_bytes(), false);
                out.extend_from_slice(b"] ");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::cgroups::ResolverOptions;

    const ID: &str = "3f2a9b1c04de5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";

    fn json_of(names: &CgroupNames, id: u64) -> serde_json::Value {
        let mut out = b"{\"x\":0".to_vec();
        names.json(&mut out, id, 1);
        out.push(b'}');
        serde_json::from_slice(&out).unwrap()
    }

    fn tag_of(names: &CgroupNames, id: u64) -> String {
        let mut out = Vec::new();
        names.human_tag(&mut out, id, 1);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn without_a_resolver_the_names_are_null() {
        let names = CgroupNames::new(None, true);
        let v = json_of(&names, 1);
        assert_eq!(v["cgroup_id"], 1);
        for key in ["cgroup", "container_id", "runtime", "pod_uid", "unit"] {
            assert!(v[key].is_null() && v.get(key).is_some(), "{key}: {v}");
        }
        assert_eq!(tag_of(&names, 1), "");
    }

    #[test]
    fn by_process_on_a_v1_only_host() {
        let proc_root = tailcall_logger_testkit::tempdir();
        fs::create_dir_all(proc_root.join("42")).unwrap();
        fs::write(
            proc_root.join("42/cgroup"),
            format!("3:name=systemd:/docker/{ID}\n"),
        )
        .unwrap();
        let resolver = PidResolver::start(&proc_root, Default::default()).unwrap();
        let names = CgroupNames::new(Some(Source::Processes(resolver)), true);
        let deadline = Instant::now() + Duration::from_secs(5);
        while names.names(1, 42) == Names::Pending {
            assert!(Instant::now() < deadline, "never resolved");
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut out = b"{\"x\":0".to_vec();
        names.json(&mut out, 1, 42);
        out.push(b'}');
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            (v["cgroup_id"].as_u64(), v["runtime"].as_str()),
            (Some(1), Some("docker"))
        );
        assert_eq!(v["cgroup"], format!("/docker/{ID}"));
        let mut tag = Vec::new();
        names.human_tag(&mut tag, 1, 42);
        assert_eq!(tag, b"[c:3f2a9b1c04de] ");
        drop(names);
        fs::remove_dir_all(&proc_root).unwrap();
    }

    #[test]
    fn containers_units_pending_and_gone() {
        let mount = tailcall_logger_testkit::tempdir();
        let container = format!("libpod_parent/libpod-{ID}");
        let conmon = format!("machine.slice/libpod-conmon-{ID}.scope");
        for rel in [&container, &conmon, &"system.slice/ssh.service".to_string()] {
            fs::create_dir_all(mount.join(rel)).unwrap();
        }
        let ino = |rel: &str| fs::metadata(mount.join(rel)).unwrap().ino();
        let resolver = Resolver::start(
            &mount,
            ResolverOptions {
                rescan_interval: Duration::from_millis(10),
                ..Default::default()
            },
        )
        .unwrap();
        let names = CgroupNames::new(Some(Source::Ids(resolver)), true);

        let v = json_of(&names, ino(&container));
        assert_eq!(v["cgroup"], format!("/{container}"));
        assert_eq!(v["container_id"], ID);
        assert_eq!(v["runtime"], "podman");
        assert!(v["unit"].is_null() && v["pod_uid"].is_null());
        assert_eq!(tag_of(&names, ino(&container)), "[c:3f2a9b1c04de] ");
        // The memo answers the same id again; another id replaces it.
        assert_eq!(tag_of(&names, ino(&container)), "[c:3f2a9b1c04de] ");
        assert_eq!(
            tag_of(&names, ino("system.slice/ssh.service")),
            "[u:ssh.service] "
        );
        assert_eq!(tag_of(&names, ino(&conmon)), "");
        assert_eq!(tag_of(&names, ino("")), "");

        // Unknown: only the id, then (the cgroup never existed) a null path.
        let gone = u64::MAX - 3;
        let v = json_of(&names, gone);
        assert_eq!(v["cgroup_id"], gone);
        assert!(v.get("cgroup").is_none(), "{v}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while names.names(gone, 1) == Names::Pending {
            assert!(Instant::now() < deadline, "never resolved");
            std::thread::sleep(Duration::from_millis(5));
        }
        let v = json_of(&names, gone);
        assert!(v["cgroup"].is_null() && v.get("cgroup").is_some(), "{v}");

        drop(names);
        fs::remove_dir_all(&mount).unwrap();
    }
}
