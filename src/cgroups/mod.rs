//! Cgroups: which hierarchies the host mounts, what a cgroup id or path says about the
//! processes in it (container, runtime, pod, systemd unit), and the `--cgroup` and
//! `--container` filters resolved to directories and ids.
//!
//! The kernel gives every record its task's cgroup v2 id (bpf_get_current_cgroup_id); the
//! id is the inode number of the cgroup's directory under the cgroup2 mount, so userspace
//! resolves it by walking that tree, off the reader's path:
//!
//! - [`layout`]: v2, v1 or hybrid, the cgroup2 mount, the `probe --json` summary.
//! - [`path`]: a cgroup path to its container id, runtime, pod uid and unit.
//! - [`tree`]: ids of directories, and the walk of a tree.
//! - [`resolver`]: id -> [`Resolved`] with a cache and a background thread; never blocks.
//! - [`filter`]: `--cgroup` and `--container` to [`CgroupTarget`]s for the kernel filter.
//! - [`v1`]: a v1-only host's paths, by process (/proc/PID/cgroup), the same way.
//!
//! Everything takes the mount as a parameter, so tests stand a temporary directory tree in
//! for it.

pub mod filter;
pub mod layout;
pub mod path;
pub mod resolver;
pub mod tree;
pub mod v1;

pub use filter::{
    cgroup_target, container_target, filter_targets, CgroupTarget, ContainerTarget,
    MAX_CGROUP_FILTERS,
};
pub use layout::{Layout, LayoutKind, Membership};
pub use path::{identify, Identity, Runtime};
pub use resolver::{Lookup, Resolved, Resolver, ResolverOptions};
pub use v1::{PidResolver, PidResolverOptions};

#[cfg(test)]
mod host_tests;
