//! The module against this host's real cgroup2 mount (root only) and against a real podman
//! container. Without root, or without a cgroup2 mount, the smoke test skips loudly, and
//! fails instead when TAILCALL_LOGGER_REQUIRE_BPF=1 (the project's rule for tests that
//! need privileges, see testkit/src/skip.rs).

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use tailcall_logger_testkit::skip::REQUIRE_BPF_ENV;

use super::*;

/// The real cgroup2 mount, or None after a loud skip (a panic when skipping is forbidden).
fn real_cgroup2(test: &str) -> Option<PathBuf> {
    let forbidden = std::env::var_os(REQUIRE_BPF_ENV).is_some_and(|v| v == "1");
    let skip = |why: &str| {
        if forbidden {
            panic!("{test}: {why}, and {REQUIRE_BPF_ENV}=1 forbids skipping");
        }
        eprintln!("SKIPPED {test}: {why}");
    };
    if !nix::unistd::geteuid().is_root() {
        skip("needs root to create a cgroup under the cgroup2 mount");
        return None;
    }
    let layout = Layout::detect().expect("reading mountinfo");
    match layout.cgroup2_mount {
        Some(mount) => Some(mount),
        None => {
            skip(&format!(
                "this host ({} layout) has no cgroup2 mount",
                layout.kind.name()
            ));
            None
        }
    }
}

/// A cgroup the test created, with a child process moved into it; both go on drop.
struct TestCgroup {
    dir: PathBuf,
    child: Option<Child>,
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Children first: a cgroup with sub-cgroups cannot be removed.
        let _ = fs::remove_dir(self.dir.join("late"));
        let _ = fs::remove_dir(&self.dir);
    }
}

fn wait_known(resolver: &Resolver, id: u64) -> std::sync::Arc<Resolved> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Lookup::Known(found) = resolver.lookup(id) {
            return found;
        }
        assert!(Instant::now() < deadline, "cgroup id {id} never resolved");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn real_cgroup_id_is_the_directory_inode() {
    let Some(mount) = real_cgroup2(tailcall_logger_testkit::test_name!()) else {
        return;
    };
    let name = format!("tcl-cgroups-smoke-{}", std::process::id());
    let mut cgroup = TestCgroup {
        dir: mount.join(&name),
        child: None,
    };
    fs::create_dir(&cgroup.dir).expect("mkdir under the cgroup2 mount");

    // The inode number is the id the kernel's file handle carries too; the root is 1.
    let id = tree::cgroup_id(&cgroup.dir).unwrap();
    assert_eq!(tree::cgroup_id_by_handle(&cgroup.dir).unwrap(), id);
    assert_eq!(tree::cgroup_id(&mount).unwrap(), 1);

    // A process moved in reports the path the resolver gives.
    let child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    cgroup.child = Some(child);
    fs::write(cgroup.dir.join("cgroup.procs"), pid.to_string()).expect("move into the cgroup");
    let membership = Membership::of_pid(pid).unwrap();
    assert_eq!(membership.unified, Some(format!("/{name}")));

    let resolver = Resolver::start(&mount, ResolverOptions::default()).unwrap();
    let Lookup::Known(found) = resolver.lookup(id) else {
        panic!("a cgroup present at start is known at once");
    };
    assert_eq!(found.path, Some(format!("/{name}")));

    // One created after the resolver started resolves through the background rescan.
    let late = cgroup.dir.join("late");
    fs::create_dir(&late).unwrap();
    let late_id = tree::cgroup_id(&late).unwrap();
    assert_eq!(resolver.lookup(late_id), Lookup::Pending);
    assert_eq!(
        wait_known(&resolver, late_id).path,
        Some(format!("/{name}/late"))
    );

    let target = cgroup_target(&mount, &format!("/{name}")).unwrap();
    assert_eq!((target.id, target.level), (id, 1));
    let mut subtree = target.subtree_ids(&mount).unwrap();
    subtree.sort_unstable();
    let mut want = vec![id, late_id];
    want.sort_unstable();
    assert_eq!(subtree, want);
    drop(resolver);
    drop(cgroup);
    assert!(!mount.join(&name).exists(), "the test cgroup is removed");
}

// A real podman container is resolved end to end in tests/cgroups.rs (make test-host).
