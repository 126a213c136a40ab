//! Paths on a v1-only host. There the kernel's cgroup id (always a v2 id) is the v2 root's
//! for every task, so a record's cgroup is found by its process instead: the path in the v1
//! name=systemd hierarchy, the `N:name=systemd:PATH` line of /proc/PID/cgroup (runtimes
//! and systemd name their v1 cgroups as they name v2 ones). Like the v2 [`Resolver`], it
//! never makes the reader wait: a pid it does not know answers `Pending` and is read by a
//! background thread; answers older than `max_age` are still given while they are read
//! again, because a process can move (a container's init is moved into its cgroup after
//! fork) and a pid can be reused.
//!
//! [`Resolver`]: super::Resolver

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::layout::Membership;
use super::path::identify;
use super::resolver::{Lookup, Resolved};

/// How the background reads behave.
#[derive(Debug, Clone, Copy)]
pub struct PidResolverOptions {
    /// After this long an answer is read again (it is still given meanwhile).
    pub max_age: Duration,
    /// Above this many cached pids, the answers older than `max_age` are forgotten.
    pub max_entries: usize,
}

impl Default for PidResolverOptions {
    fn default() -> Self {
        PidResolverOptions {
            max_age: Duration::from_secs(2),
            max_entries: 1 << 16,
        }
    }
}

struct Entry {
    resolved: Arc<Resolved>,
    read_at: Instant,
}

struct Shared {
    /// /proc, or a directory tree standing in for it in tests.
    proc_root: PathBuf,
    cache: RwLock<HashMap<u32, Entry>>,
    queued: Mutex<HashSet<u32>>,
    options: PidResolverOptions,
}

/// pid -> v1 name=systemd path, container and unit. Dropping it stops its thread.
pub struct PidResolver {
    shared: Arc<Shared>,
    queue: Option<Sender<u32>>,
    worker: Option<JoinHandle<()>>,
}

impl Shared {
    /// The process's v1 name=systemd path now; None when it has exited (or has no such
    /// line). `id` is 0: the path has no cgroup v2 id.
    fn read(&self, pid: u32) -> Arc<Resolved> {
        let file = self.proc_root.join(pid.to_string()).join("cgroup");
        let path = fs::read_to_string(file)
            .ok()
            .and_then(|text| Membership::parse(&text).v1_systemd);
        let identity = path.as_deref().map(identify).unwrap_or_default();
        Arc::new(Resolved {
            id: 0,
            path,
            identity,
        })
    }

    fn resolve_batch(&self, pids: &HashSet<u32>) {
        let fresh: Vec<(u32, Arc<Resolved>)> = pids.iter().map(|&p| (p, self.read(p))).collect();
        let now = Instant::now();
        {
            let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
            if cache.len() > self.options.max_entries {
                let max_age = self.options.max_age;
                cache.retain(|_, e| now.duration_since(e.read_at) < max_age);
            }
            for (pid, resolved) in fresh {
                cache.insert(
                    pid,
                    Entry {
                        resolved,
                        read_at: now,
                    },
                );
            }
        }
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        queued.retain(|p| !pids.contains(p));
    }
}

/// The background thread: reads every pid queued since its last batch. Ends when the
/// PidResolver is dropped.
fn worker(shared: Arc<Shared>, queue: Receiver<u32>) {
    while let Ok(first) = queue.recv() {
        let mut batch = HashSet::from([first]);
        batch.extend(queue.try_iter());
        shared.resolve_batch(&batch);
    }
}

impl PidResolver {
    /// A resolver reading `proc_root` (/proc, or a tree standing in for it).
    pub fn start(proc_root: &Path, options: PidResolverOptions) -> Result<PidResolver> {
        let shared = Arc::new(Shared {
            proc_root: proc_root.to_path_buf(),
            cache: RwLock::new(HashMap::new()),
            queued: Mutex::new(HashSet::new()),
            options,
        });
        let (queue, receiver) = mpsc::channel();
        let worker = thread::Builder::new()
            .name("cgroup-v1-resolver".to_string())
            .spawn({
                let shared = Arc::clone(&shared);
                move || worker(shared, receiver)
            })
            .context("starting the cgroup v1 resolver thread")?;
        Ok(PidResolver {
            shared,
            queue: Some(queue),
            worker: Some(worker),
        })
    }

    /// What process `pid`'s cgroup is, or `Pending` (and the pid queued); never waits.
    pub fn lookup(&self, pid: u32) -> Lookup {
        let mut stale = true;
        let mut answer = Lookup::Pending;
        if let Ok(cache) = self.shared.cache.try_read() {
            if let Some(entry) = cache.get(&pid) {
                stale = entry.read_at.elapsed() >= self.shared.options.max_age;
                answer = Lookup::Known(Arc::clone(&entry.resolved));
            }
        }
        if stale {
            self.queue_once(pid);
        }
        answer
    }

    fn queue_once(&self, pid: u32) {
        let Ok(mut queued) = self.shared.queued.try_lock() else {
            return;
        };
        if queued.insert(pid) {
            if let Some(queue) = &self.queue {
                // Unbounded: never blocks; fails only when the thread has ended.
                let _ = queue.send(pid);
            }
        }
    }
}

impl Drop for PidResolver {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::path::Runtime;
    use super::*;

    const ID: &str = "4b1f9e0a2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7";

    fn wait_known(resolver: &PidResolver, pid: u32) -> Arc<Resolved> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Lookup::Known(found) = resolver.lookup(pid) {
                return found;
            }
            assert!(Instant::now() < deadline, "pid {pid} never resolved");
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn write_cgroup(proc_root: &Path, pid: u32, text: &str) {
        fs::create_dir_all(proc_root.join(pid.to_string())).unwrap();
        fs::write(proc_root.join(format!("{pid}/cgroup")), text).unwrap();
    }

    #[test]
    fn pids_resolve_move_and_vanish() {
        let proc_root = tailcall_logger_testkit::tempdir();
        write_cgroup(
            &proc_root,
            10,
            &format!("9:name=systemd:/docker/{ID}\n4:memory:/docker/{ID}\n"),
        );
        write_cgroup(&proc_root, 11, "1:name=systemd:/system.slice/ssh.service\n");
        let resolver = PidResolver::start(
            &proc_root,
            PidResolverOptions {
                max_age: Duration::from_millis(30),
                max_entries: 1 << 16,
            },
        )
        .unwrap();
        assert_eq!(resolver.lookup(10), Lookup::Pending);
        let docker = wait_known(&resolver, 10);
        assert_eq!(docker.path, Some(format!("/docker/{ID}")));
        assert_eq!(docker.identity.container_id.as_deref(), Some(ID));
        assert_eq!(docker.identity.runtime, Some(Runtime::Docker));
        let ssh = wait_known(&resolver, 11);
        assert_eq!(ssh.identity.unit.as_deref(), Some("ssh.service"));

        // The process moved: the old answer until it is read again.
        write_cgroup(
            &proc_root,
            11,
            "1:name=systemd:/user.slice/session-3.scope\n",
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while wait_known(&resolver, 11).identity.unit.as_deref() != Some("session-3.scope") {
            assert!(Instant::now() < deadline, "never read again");
            thread::sleep(Duration::from_millis(5));
        }

        // Gone before it was read: no path.
        let gone = wait_known(&resolver, 12);
        assert_eq!(
            (gone.path.as_deref(), gone.identity.unit.as_deref()),
            (None, None)
        );
        drop(resolver);
        fs::remove_dir_all(&proc_root).unwrap();
    }
}
