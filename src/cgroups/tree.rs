//! The cgroup2 tree on disk: a cgroup's id is the inode number of its directory under the
//! cgroup2 mount (kernfs uses the node id as inode number, the same 64-bit value
//! bpf_get_current_cgroup_id returns), so walking the tree maps every id to its path
//! without any privilege beyond reading the directories.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The cgroup id of a directory under the cgroup2 mount: its inode number.
pub fn cgroup_id(dir: &Path) -> Result<u64> {
    let meta = fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a cgroup directory", dir.display());
    }
    Ok(meta.ino())
}

/// The cgroup id of a directory as the kernel's file handle carries it
/// (name_to_handle_at): the independent cross-check of [`cgroup_id`] on a real mount.
pub fn cgroup_id_by_handle(dir: &Path) -> Result<u64> {
    // struct file_handle with room for the 8 bytes kernfs encodes (its 64-bit node id).
    #[repr(C)]
    struct KernfsHandle {
        handle_bytes: libc::c_uint,
        handle_type: libc::c_int,
        f_handle: [u8; 8],
    }
    let name = CString::new(dir.as_os_str().as_bytes())
        .with_context(|| format!("{} has a NUL byte", dir.display()))?;
    let mut handle = KernfsHandle {
        handle_bytes: 8,
        handle_type: 0,
        f_handle: [0; 8],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `name` is a NUL-terminated string; `handle` is a file_handle header followed
    // by handle_bytes bytes of buffer, which is all the kernel writes.
    let rc = unsafe {
        libc::name_to_handle_at(
            libc::AT_FDCWD,
            name.as_ptr(),
            (&mut handle as *mut KernfsHandle).cast::<libc::file_handle>(),
            &mut mount_id,
            0,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("name_to_handle_at {}", dir.display()));
    }
    if handle.handle_bytes != 8 {
        bail!(
            "{}: a {}-byte file handle is not a cgroup id",
            dir.display(),
            handle.handle_bytes
        );
    }
    Ok(u64::from_ne_bytes(handle.f_handle))
}

/// `rel` (a path under a cgroup2 mount) as records show it: "/" then the components.
pub fn display_path(rel: &Path) -> String {
    let mut out = String::from("/");
    for (i, part) in rel.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&part.to_string_lossy());
    }
    out
}

/// Every cgroup at or below `root` (a cgroup2 mount or a directory under it), as
/// (id, path relative to `mount`), parents before their children. Directories that vanish
/// or cannot be read while walking are skipped: cgroups come and go all the time, and a
/// partial map is still right for what it holds.
pub fn walk(mount: &Path, root: &Path) -> Result<Vec<(u64, String)>> {
    let root_id = cgroup_id(root)?;
    let root_rel = root.strip_prefix(mount).unwrap_or(Path::new(""));
    let mut found = vec![(root_id, display_path(root_rel))];
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // The type readdir reports: no stat per cgroup, and symlinks (none in a real
            // cgroupfs) are never followed.
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let child = entry.path();
            let rel = child.strip_prefix(mount).unwrap_or(&child);
            found.push((entry.ino(), display_path(rel)));
            stack.push(child);
        }
    }
    Ok(found)
}

/// A user-given cgroup path made relative to the mount, or why it cannot name a cgroup.
pub fn relative_to_mount(mount: &Path, arg: &Path) -> Result<PathBuf, String> {
    // Both "/sys/fs/cgroup/unified/system.slice" and "/system.slice" mean the same cgroup.
    let rel = arg.strip_prefix(mount).unwrap_or(arg);
    let mut clean = PathBuf::new();
    for component in rel.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => clean.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err("\"..\" cannot name a cgroup".to_string());
            }
        }
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_maps_inodes_to_paths() {
        let mount = tailcall_logger_testkit::tempdir();
        fs::create_dir_all(mount.join("a.slice/b.service/x")).unwrap();
        fs::create_dir_all(mount.join("c")).unwrap();
        fs::write(mount.join("a.slice/cgroup.procs"), "").unwrap();
        let mut found = walk(&mount, &mount).unwrap();
        found.sort_by(|a, b| a.1.cmp(&b.1));
        let ino = |rel: &str| fs::metadata(mount.join(rel)).unwrap().ino();
        assert_eq!(
            found,
            [
                (ino(""), "/".to_string()),
                (ino("a.slice"), "/a.slice".to_string()),
                (ino("a.slice/b.service"), "/a.slice/b.service".to_string()),
                (
                    ino("a.slice/b.service/x"),
                    "/a.slice/b.service/x".to_string()
                ),
                (ino("c"), "/c".to_string()),
            ]
        );
        let sub = walk(&mount, &mount.join("a.slice/b.service")).unwrap();
        assert_eq!(sub[0].1, "/a.slice/b.service");
        assert_eq!(sub.len(), 2);
        assert!(walk(&mount, &mount.join("missing")).is_err());
        assert!(cgroup_id(&mount.join("a.slice/cgroup.procs")).is_err());
        fs::remove_dir_all(&mount).unwrap();
    }

    #[test]
    fn user_paths_relative_to_the_mount() {
        let mount = Path::new("/sys/fs/cgroup/unified");
        let rel = |arg: &str| relative_to_mount(mount, Path::new(arg));
        assert_eq!(rel("/system.slice"), Ok(PathBuf::from("system.slice")));
        assert_eq!(
            rel("/sys/fs/cgroup/unified/system.slice/"),
            Ok(PathBuf::from("system.slice"))
        );
        assert_eq!(rel("a/./b"), Ok(PathBuf::from("a/b")));
        assert_eq!(rel("/"), Ok(PathBuf::new()));
        assert!(rel("/a/../../etc").is_err());
        assert_eq!(display_path(Path::new("")), "/");
        assert_eq!(display_path(Path::new("a/b")), "/a/b");
    }
}
