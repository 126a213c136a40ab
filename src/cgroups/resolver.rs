//! Cgroup id -> path, container and unit, for every record, without ever making the
//! reader wait: known ids come from a cache; an unknown id answers `Pending` at once and is
//! queued to a background thread, which rescans the cgroup2 tree (at most once per
//! interval, however many ids arrive) and fills the cache. An id the rescan cannot find
//! belonged to a cgroup removed before it was resolved: it resolves with no path, id kept.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::path::{identify, Identity};
use super::tree;

/// What a cgroup id resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub id: u64,
    /// The path relative to the cgroup2 mount; None when the cgroup was gone before it
    /// could be resolved.
    pub path: Option<String>,
    /// The container, pod and unit the path names (all None without a path).
    pub identity: Identity,
}

/// The answer to a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Known(Arc<Resolved>),
    /// Not resolved yet: the id is queued, a later lookup will know it.
    Pending,
}

/// How the background resolution behaves.
#[derive(Debug, Clone, Copy)]
pub struct ResolverOptions {
    /// The least time between two rescans of the tree: a burst of new ids (a container
    /// starting) costs one walk, not one per id.
    pub rescan_interval: Duration,
    /// Above this many cached ids, a rescan forgets the cgroups that no longer exist, so
    /// container churn on a long run does not grow the cache without bound.
    pub max_entries: usize,
}

impl Default for ResolverOptions {
    fn default() -> Self {
        ResolverOptions {
            rescan_interval: Duration::from_millis(200),
            max_entries: 1 << 16,
        }
    }
}

type Cache = HashMap<u64, Arc<Resolved>>;

/// What the caller and the background thread share.
struct Shared {
    mount: PathBuf,
    cache: RwLock<Cache>,
    /// Ids queued and not yet resolved: each unknown id is sent to the thread once, not
    /// once per record.
    queued: Mutex<HashSet<u64>>,
    options: ResolverOptions,
}

/// The id -> path resolver over one cgroup2 mount. Dropping it stops its thread.
pub struct Resolver {
    shared: Arc<Shared>,
    queue: Option<Sender<u64>>,
    worker: Option<JoinHandle<()>>,
}

fn resolved(id: u64, path: Option<String>) -> Arc<Resolved> {
    let identity = path.as_deref().map(identify).unwrap_or_default();
    Arc::new(Resolved { id, path, identity })
}

impl Shared {
    /// Walks the whole tree and caches what it finds; returns the ids seen.
    fn scan(&self) -> Result<HashSet<u64>> {
        let found = tree::walk(&self.mount, &self.mount)
            .with_context(|| format!("walking the cgroup2 tree at {}", self.mount.display()))?;
        let seen: HashSet<u64> = found.iter().map(|(id, _)| *id).collect();
        // Build the new entries before taking the write lock, so readers are held off for
        // the inserts only (and they never wait anyway: they use try_read).
        let fresh: Vec<(u64, Arc<Resolved>)> = {
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            found
                .into_iter()
                .filter(|(id, path)| {
                    cache
                        .get(id)
                        .is_none_or(|r| r.path.as_deref() != Some(path.as_str()))
                })
                .map(|(id, path)| (id, resolved(id, Some(path))))
                .collect()
        };
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        cache.extend(fresh);
        if cache.len() > self.options.max_entries {
            cache.retain(|id, _| seen.contains(id));
        }
        Ok(seen)
    }

    /// Resolves queued ids: one rescan, then the ids it did not find are gone cgroups.
    fn resolve_batch(&self, ids: &HashSet<u64>) {
        // A failed walk (the mount itself unreadable) resolves nothing: the ids stay
        // unqueued and a later lookup queues them again.
        if let Ok(seen) = self.scan() {
            let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
            for &id in ids.iter().filter(|id| !seen.contains(id)) {
                cache.entry(id).or_insert_with(|| resolved(id, None));
            }
        }
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        queued.retain(|id| !ids.contains(id));
    }
}

/// The background thread: waits for ids, gathers every id that arrives until the next
/// rescan is allowed, resolves them in one batch. Ends when the Resolver is dropped.
fn worker(shared: Arc<Shared>, queue: Receiver<u64>) {
    let mut next_scan = Instant::now() + shared.options.rescan_interval;
    loop {
        let Ok(first) = queue.recv() else {
            return;
        };
        let mut batch = HashSet::from([first]);
        loop {
            let wait = next_scan.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                break;
            }
            match queue.recv_timeout(wait) {
                Ok(id) => {
                    batch.insert(id);
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        batch.extend(queue.try_iter());
        shared.resolve_batch(&batch);
        next_scan = Instant::now() + shared.options.rescan_interval;
    }
}

impl Resolver {
    /// A resolver over the cgroup2 tree mounted at `mount` (the real mount, or any directory
    /// tree standing in for it): the tree is walked once now, then on demand.
    pub fn start(mount: &Path, options: ResolverOptions) -> Result<Resolver> {
        let shared = Arc::new(Shared {
            mount: mount.to_path_buf(),
            cache: RwLock::new(HashMap::new()),
            queued: Mutex::new(HashSet::new()),
            options,
        });
        shared.scan()?;
        let (queue, receiver) = mpsc::channel();
        let worker = thread::Builder::new()
            .name("cgroup-resolver".to_string())
            .spawn({
                let shared = Arc::clone(&shared);
                move || worker(shared, receiver)
            })
            .context("starting the cgroup resolver thread")?;
        Ok(Resolver {
            shared,
            queue: Some(queue),
            worker: Some(worker),
        })
    }

    /// The cgroup2 mount this resolver reads.
    pub fn mount(&self) -> &Path {
        &self.shared.mount
    }

    /// What `id` resolves to, or `Pending` (and the id queued): never waits for a lock,
    /// the disk or the thread, so the reader can call it for every record.
    pub fn lookup(&self, id: u64) -> Lookup {
        if let Ok(cache) = self.shared.cache.try_read() {
            if let Some(found) = cache.get(&id) {
                return Lookup::Known(Arc::clone(found));
            }
        }
        self.queue_once(id);
        Lookup::Pending
    }

    /// Sends `id` to the thread unless it is queued already. When the set is busy (the
    /// thread is updating it) the id is not queued now; the next lookup of it will be.
    fn queue_once(&self, id: u64) {
        let Ok(mut queued) = self.shared.queued.try_lock() else {
            return;
        };
        if queued.insert(id) {
            if let Some(queue) = &self.queue {
                // An unbounded channel: send never blocks. It fails only when the thread
                // has ended, and then there is no one to resolve the id anyway.
                let _ = queue.send(id);
            }
        }
    }

    /// How many ids the cache holds (resolved and gone).
    pub fn cached(&self) -> usize {
        self.shared
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        // Closing the channel ends the thread's wait; joining keeps it from outliving us.
        self.queue = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    use super::super::path::Runtime;
    use super::*;

    const ID: &str = "4b1f9e0a2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7";

    fn fast() -> ResolverOptions {
        ResolverOptions {
            rescan_interval: Duration::from_millis(10),
            max_entries: 1 << 16,
        }
    }

    /// Looks `id` up until it is known (the thread has rescanned), for at most 5 s.
    fn wait_known(resolver: &Resolver, id: u64) -> Arc<Resolved> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Lookup::Known(found) = resolver.lookup(id) {
                return found;
            }
            assert!(Instant::now() < deadline, "id {id} never resolved");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn known_at_start_pending_later_and_gone() {
        let mount = tailcall_logger_testkit::tempdir();
        fs::create_dir_all(mount.join("system.slice/ssh.service")).unwrap();
        let ino = |rel: &str| fs::metadata(mount.join(rel)).unwrap().ino();
        let resolver = Resolver::start(&mount, fast()).unwrap();

        // Present at start: known on the first lookup.
        let Lookup::Known(ssh) = resolver.lookup(ino("system.slice/ssh.service")) else {
            panic!("a cgroup present at start is known at once");
        };
        assert_eq!(ssh.path.as_deref(), Some("/system.slice/ssh.service"));
        assert_eq!(ssh.identity.unit.as_deref(), Some("ssh.service"));
        let Lookup::Known(root) = resolver.lookup(ino("")) else {
            panic!("the root is known");
        };
        assert_eq!(root.path.as_deref(), Some("/"));

        // Created later: pending first, then resolved by the thread.
        let rel = format!("libpod_parent/libpod-{ID}");
        fs::create_dir_all(mount.join(&rel)).unwrap();
        let id = ino(&rel);
        assert_eq!(resolver.lookup(id), Lookup::Pending);
        let found = wait_known(&resolver, id);
        assert_eq!(found.id, id);
        assert_eq!(found.path, Some(format!("/{rel}")));
        assert_eq!(found.identity.container_id.as_deref(), Some(ID));
        assert_eq!(found.identity.runtime, Some(Runtime::Podman));

        // Never seen on disk (removed before the rescan): resolved with no path, id kept.
        let gone = u64::MAX - 7;
        assert_eq!(resolver.lookup(gone), Lookup::Pending);
        let found = wait_known(&resolver, gone);
        assert_eq!((found.id, found.path.as_deref()), (gone, None));
        assert_eq!(found.identity, Identity::default());

        drop(resolver);
        fs::remove_dir_all(&mount).unwrap();
    }

    #[test]
    fn a_burst_of_unknown_ids_is_one_batch() {
        let mount = tailcall_logger_testkit::tempdir();
        let resolver = Resolver::start(
            &mount,
            ResolverOptions {
                rescan_interval: Duration::from_millis(50),
                max_entries: 1 << 16,
            },
        )
        .unwrap();
        let ids: Vec<u64> = (0..100).map(|n| u64::MAX - n).collect();
        for _ in 0..3 {
            for &id in &ids {
                assert_eq!(resolver.lookup(id), Lookup::Pending);
            }
        }
        for &id in &ids {
            assert_eq!(wait_known(&resolver, id).path, None);
        }
        assert!(resolver.shared.queued.lock().unwrap().is_empty());
        drop(resolver);
        fs::remove_dir_all(&mount).unwrap();
    }

    #[test]
    fn over_the_cap_removed_cgroups_are_forgotten() {
        let mount = tailcall_logger_testkit::tempdir();
        for n in 0..4 {
            fs::create_dir(mount.join(format!("c{n}"))).unwrap();
        }
        let resolver = Resolver::start(
            &mount,
            ResolverOptions {
                rescan_interval: Duration::from_millis(10),
                max_entries: 3,
            },
        )
        .unwrap();
        let removed = fs::metadata(mount.join("c0")).unwrap().ino();
        assert!(matches!(resolver.lookup(removed), Lookup::Known(_)));
        fs::remove_dir(mount.join("c0")).unwrap();
        // Any unknown id triggers the rescan that prunes.
        wait_known(&resolver, u64::MAX);
        // The rescan kept what exists (the root, c1..c3) and forgot c0; the gone id was
        // added after the pruning.
        let cache = resolver.shared.cache.read().unwrap();
        assert!(!cache.contains_key(&removed));
        assert_eq!(cache.len(), 5);
        drop(cache);
        drop(resolver);
        fs::remove_dir_all(&mount).unwrap();
    }

    #[test]
    fn a_missing_mount_is_an_error() {
        let err = Resolver::start(Path::new("/nonexistent/cgroup2"), fast())
            .err()
            .expect("no tree to walk");
        assert!(crate::exit::one_line(&err).contains("/nonexistent/cgroup2"));
    }
}
