//! A real container for the tests, offline: podman runs an image built here from a static
//! busybox (Debian's busybox-static), imported as a tarball and cached under a tag, so no
//! registry is ever contacted.
//!
//! The flags are what works on hosts like the test machine (hybrid cgroups, PID 1 not
//! systemd, no CAP_SYS_RESOURCE): runc, because crun refuses hybrid hierarchies; the
//! cgroupfs manager, because there is no systemd to ask for scopes; explicit ulimits no
//! higher than the sandbox's, because raising them needs CAP_SYS_RESOURCE. The container's
//! processes then sit in `/libpod_parent/libpod-<id>` in cgroup2 and in every v1 hierarchy.
//!
//! ```ignore
//! let container = Container::run_sleep()?;          // podman run ... busybox sleep
//! let cgroup = container.cgroup.as_deref();         // "/libpod_parent/libpod-<id>"
//! // ... the container is removed when `container` is dropped
//! ```

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The locally built image; bump the tag when its contents change.
pub const IMAGE: &str = "localhost/tailcall-logger-busybox:1";
/// Where busybox-static installs its binary.
const BUSYBOX: &str = "/bin/busybox";
/// The packages the fixture needs, installed with apt-get when missing.
const PACKAGES: [&str; 3] = ["podman", "runc", "busybox-static"];
/// Flags every podman call gets (see the module comment for why).
const PODMAN_GLOBAL: [&str; 6] = [
    "--runtime",
    "runc",
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
];

/// Tests of one binary run in parallel: one of them installs and builds at a time.
static SETUP: Mutex<()> = Mutex::new(());

/// A running container, force-removed on drop.
#[derive(Debug)]
pub struct Container {
    /// The full 64-hex container id.
    pub id: String,
    /// The host pid of the container's first process.
    pub pid: u32,
    /// That process's cgroup2 path (the `0::` line of /proc/PID/cgroup).
    pub cgroup: Option<String>,
    /// Its path in the v1 name=systemd hierarchy, on hosts that mount one.
    pub v1_systemd: Option<String>,
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {program}: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "{program} {}: {}: {}",
            args.join(" "),
            output.status,
            stderr.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn podman(args: &[&str]) -> Result<String, String> {
    let all: Vec<&str> = PODMAN_GLOBAL.iter().chain(args).copied().collect();
    run("podman", &all)
}

fn package_installed(package: &str) -> bool {
    run("dpkg-query", &["-W", "-f=${Status}", package]).is_ok_and(|s| s == "install ok installed")
}

/// Installs podman, runc and busybox-static when any is missing (root only): from the
/// package lists as they are, and after an apt-get update when that fails.
pub fn ensure_packages() -> Result<(), String> {
    let missing: Vec<&str> = PACKAGES
        .into_iter()
        .filter(|p| !package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(format!(
            "needs {} (apt-get install as root)",
            missing.join(" ")
        ));
    }
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(&missing);
    run("apt-get", &install)
        .or_else(|_| run("apt-get", &["update"]).and_then(|_| run("apt-get", &install)))
        .map(drop)
}

/// Builds the image from a rootfs holding only the static busybox, unless it exists.
pub fn ensure_image() -> Result<(), String> {
    if podman(&["image", "exists", IMAGE]).is_ok() {
        return Ok(());
    }
    let work = crate::tempdir();
    let result = build_image(&work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn build_image(work: &Path) -> Result<(), String> {
    let rootfs = work.join("rootfs");
    // The mount points runc fills in, so it need not create them in the image.
    for dir in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        std::fs::create_dir_all(rootfs.join(dir)).map_err(|e| format!("rootfs {dir}: {e}"))?;
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox"))
        .map_err(|e| format!("copying {BUSYBOX}: {e}"))?;
    let tarball = work.join("rootfs.tar");
    let (tarball, rootfs) = (tarball.to_string_lossy(), rootfs.to_string_lossy());
    run("tar", &["-C", &rootfs, "-cf", &tarball, "."])?;
    podman(&[
        "import",
        "--change",
        r#"CMD ["/bin/busybox", "sh"]"#,
        &tarball,
        IMAGE,
    ])
    .map(drop)
}

/// The (cgroup2, v1 name=systemd) paths of /proc/PID/cgroup's text.
fn cgroup_paths(text: &str) -> (Option<String>, Option<String>) {
    let mut unified = None;
    let mut systemd = None;
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        match (fields.next(), fields.next(), fields.next()) {
            (Some("0"), Some(""), Some(path)) => unified = Some(path.to_string()),
            (Some(_), Some("name=systemd"), Some(path)) => systemd = Some(path.to_string()),
            _ => {}
        }
    }
    (unified, systemd)
}

impl Container {
    /// A container running `busybox sleep 600` (removed on drop, long before that).
    pub fn run_sleep() -> Result<Container, String> {
        Container::run(&["/bin/busybox", "sleep", "600"])
    }

    /// A detached container running `command` in the busybox image.
    pub fn run(command: &[&str]) -> Result<Container, String> {
        {
            let _setup = SETUP.lock().unwrap_or_else(|e| e.into_inner());
            ensure_packages()?;
            ensure_image()?;
        }
        let mut args = vec![
            "run",
            "--detach",
            "--network",
            "none",
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=1000:1000",
            IMAGE,
        ];
        args.extend(command);
        let id = podman(&args)?;
        // From here on, dropping `container` removes it, whatever fails next.
        let mut container = Container {
            id,
            pid: 0,
            cgroup: None,
            v1_systemd: None,
        };
        if container.id.len() != 64 || !container.id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "podman run printed {:?}, not a container id",
                container.id
            ));
        }
        let pid = podman(&["inspect", "--format", "{{.State.Pid}}", &container.id])?;
        container.pid = pid
            .parse()
            .map_err(|_| format!("podman inspect: pid {pid:?}"))?;
        let file = format!("/proc/{}/cgroup", container.pid);
        let text = std::fs::read_to_string(&file).map_err(|e| format!("reading {file}: {e}"))?;
        (container.cgroup, container.v1_systemd) = cgroup_paths(&text);
        Ok(container)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "0", &self.id]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_lines() {
        let text =
            "9:name=systemd:/libpod_parent/libpod-ab\n4:memory:/x\n0::/libpod_parent/libpod-ab\n";
        let (unified, systemd) = cgroup_paths(text);
        assert_eq!(unified.as_deref(), Some("/libpod_parent/libpod-ab"));
        assert_eq!(systemd.as_deref(), Some("/libpod_parent/libpod-ab"));
        assert_eq!(cgroup_paths("garbage"), (None, None));
    }
}
