//! What the process may do with BPF, read before anything is loaded so a missing
//! capability is one clear line, not a libbpf dump.

use std::fs;

use anyhow::Result;

use crate::exit::{Code, Failure};

/// The hint every permission failure ends with: in a container the capabilities are not
/// enough, the runtime's seccomp profile must let the two system calls through (podman's and
/// Docker's default profiles answer bpf() with EPERM).
pub const CONTAINER_HINT: &str =
    "in a container, the seccomp profile must allow bpf and perf_event_open";

/// An errno that says "this process may not" rather than "this kernel cannot": EPERM
/// (seccomp's usual answer, a missing capability, lockdown) or EACCES (an LSM: SELinux,
/// AppArmor, BPF LSM). Kernels before 5.11 also answer EPERM when a map would exceed
/// RLIMIT_MEMLOCK; the trial map below is one page, under any default limit.
pub fn is_denial(errno: nix::errno::Errno) -> bool {
    matches!(errno, nix::errno::Errno::EPERM | nix::errno::Errno::EACCES)
}

/// The one-line error (exit 3) for `call` answering `errno` although the capabilities are
/// there.
pub fn denied(call: &str, errno: nix::errno::Errno) -> anyhow::Error {
    Failure::err(
        Code::Privilege,
        format!(
            "{call} is not permitted ({errno:?}: {}) although the process holds the \
             capabilities: a seccomp profile, an LSM (SELinux, AppArmor) or lockdown denies it, \
             this is not a missing kernel feature; {CONTAINER_HINT}",
            errno.desc()
        ),
    )
}

/// A minimal bpf() call: BPF_MAP_CREATE of a one-entry array, the oldest map type (every
/// BPF kernel has it), closed at once. Err is the errno.
pub fn try_bpf() -> Result<(), nix::errno::Errno> {
    try_map_create(libbpf_sys::BPF_MAP_TYPE_ARRAY, 4, 4, 1)
}

/// BPF_MAP_CREATE of one map, closed at once; Err is the errno (EINVAL: unknown map type).
pub fn try_map_create(
    map_type: libbpf_sys::bpf_map_type,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
) -> Result<(), nix::errno::Errno> {
    // SAFETY: a plain system call wrapper; no name, no options; the fd is ours to close.
    let fd = unsafe {
        libbpf_sys::bpf_map_create(
            map_type,
            std::ptr::null(),
            key_size,
            value_size,
            max_entries,
            std::ptr::null(),
        )
    };
    if fd < 0 {
        return Err(nix::errno::Errno::from_raw(-fd));
    }
    // SAFETY: fd was just returned to us and nothing else owns it.
    drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    Ok(())
}

/// The perf event the perf transport opens (a BPF output event on CPU 0, any process),
/// closed at once. Err is the errno.
pub fn try_perf_event_open() -> Result<(), nix::errno::Errno> {
    let mut attr = libbpf_sys::perf_event_attr {
        type_: libbpf_sys::PERF_TYPE_SOFTWARE,
        size: std::mem::size_of::<libbpf_sys::perf_event_attr>() as u32,
        config: libbpf_sys::PERF_COUNT_SW_BPF_OUTPUT as u64,
        ..Default::default()
    };
    attr.__bindgen_anon_1.sample_period = 1;
    // SAFETY: perf_event_open(attr, pid -1, cpu 0, group -1, flags) with a valid attr.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const libbpf_sys::perf_event_attr,
            -1 as libc::c_int,
            0 as libc::c_int,
            -1 as libc::c_int,
            libbpf_sys::PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: as above.
    drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) });
    Ok(())
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_RESOURCE: u32 = 24;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Privileges {
    pub euid: u32,
    pub cap_bpf: bool,
    pub cap_perfmon: bool,
    pub cap_sys_admin: bool,
    pub cap_sys_resource: bool,
    /// Inside a user namespace other than the initial one: capabilities there do not count
    /// for BPF.
    pub user_namespace: bool,
    /// Inside a pid namespace other than the host's (a container without hostPID or
    /// --pid=host): the kernel side reports host pids and the logger would not recognise
    /// its own, so it would log its own writes, and those writes, without end.
    pub pid_namespace: bool,
    /// /proc/sys/kernel/unprivileged_bpf_disabled
    pub unprivileged_bpf_disabled: Option<u32>,
    /// The active mode of /sys/kernel/security/lockdown (none, integrity, confidentiality).
    pub lockdown: Option<String>,
    /// What a minimal bpf() call (try_bpf) failed with; None when it worked.
    pub bpf_errno: Option<nix::errno::Errno>,
}

pub fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

/// The bracketed word of "none [integrity] confidentiality".
pub fn parse_lockdown(s: &str) -> Option<String> {
    let start = s.find('[')? + 1;
    let end = s[start..].find(']')? + start;
    Some(s[start..end].to_string())
}

/// The host's pid namespace: the kernel's fixed inode number for it (PROC_PID_INIT_INO),
/// as readlink(/proc/self/ns/pid) shows it.
pub fn parse_in_pid_namespace(link: &str) -> bool {
    link.trim() != "pid:[4026531836]"
}

/// The initial user namespace maps all 2^32 ids onto themselves.
pub fn parse_in_user_namespace(uid_map: &str) -> bool {
    let fields: Vec<&str> = uid_map.split_whitespace().collect();
    fields != ["0", "0", "4294967295"]
}

impl Privileges {
    pub fn read() -> Privileges {
        let caps = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| parse_cap_eff(&s))
            .unwrap_or(0);
        let has = |bit: u32| caps & (1u64 << bit) != 0;
        Privileges {
            euid: nix::unistd::geteuid().as_raw(),
            cap_bpf: has(CAP_BPF),
            cap_perfmon: has(CAP_PERFMON),
            cap_sys_admin: has(CAP_SYS_ADMIN),
            cap_sys_resource: has(CAP_SYS_RESOURCE),
            user_namespace: fs::read_to_string("/proc/self/uid_map")
                .map(|m| parse_in_user_namespace(&m))
                .unwrap_or(false),
            pid_namespace: fs::read_link("/proc/self/ns/pid")
                .map(|l| parse_in_pid_namespace(&l.to_string_lossy()))
                .unwrap_or(false),
            unprivileged_bpf_disabled: fs::read_to_string(
                "/proc/sys/kernel/unprivileged_bpf_disabled",
            )
            .ok()
            .and_then(|s| s.trim().parse().ok()),
            lockdown: fs::read_to_string("/sys/kernel/security/lockdown")
                .ok()
                .and_then(|s| parse_lockdown(&s)),
            bpf_errno: try_bpf().err(),
        }
    }

    /// The capabilities still missing to load and attach the logger; empty when it may.
    pub fn missing(&self) -> Vec<&'static str> {
        if self.cap_sys_admin || (self.cap_bpf && self.cap_perfmon) {
            return Vec::new();
        }
        let mut missing = Vec::new();
        if !self.cap_bpf {
            missing.push("CAP_BPF");
        }
        if !self.cap_perfmon {
            missing.push("CAP_PERFMON");
        }
        missing
    }

    /// In a pid namespace other than the host's the kernel side still leaves the logger out
    /// (it asks for each task's pid in the logger's namespace: loader.rs), and records carry
    /// host pids. Writing to stdout there is refused: that is a container started without
    /// the host's pid namespace, which the DaemonSet requires (hostPID), so the mistake shows
    /// at once. A service in a private pid namespace writing to a file (systemd-nspawn, a
    /// unit's PrivatePIDs) runs.
    pub fn check_output(&self, to_stdout: bool) -> Result<()> {
        if self.pid_namespace && to_stdout {
            return Err(Failure::err(
                Code::Privilege,
                "running in a pid namespace other than the host's and writing to stdout: run it \
                 in the host's (Kubernetes hostPID: true, podman/docker --pid=host), or write to \
                 a file with --output",
            ));
        }
        Ok(())
    }

    /// Refuses early, with the reason, when loading cannot work.
    pub fn check(&self) -> Result<()> {
        if self.user_namespace {
            return Err(Failure::err(
                Code::Privilege,
                "running inside a user namespace: BPF needs CAP_BPF and CAP_PERFMON (or root) \
                 in the initial user namespace",
            ));
        }
        let missing = self.missing();
        if !missing.is_empty() {
            return Err(Failure::err(
                Code::Privilege,
                format!(
                    "needs root, or CAP_BPF and CAP_PERFMON (missing: {}; running as uid {})",
                    missing.join(", "),
                    self.euid
                ),
            ));
        }
        if self.lockdown.as_deref() == Some("confidentiality") {
            return Err(Failure::err(
                Code::Unsupported,
                "kernel lockdown is in confidentiality mode: BPF may not read kernel or user \
                 memory (see /sys/kernel/security/lockdown)",
            ));
        }
        match self.bpf_errno {
            None => Ok(()),
            Some(e) if is_denial(e) => Err(denied("bpf()", e)),
            Some(nix::errno::Errno::ENOSYS) => Err(Failure::err(
                Code::Unsupported,
                "bpf() does not exist here (ENOSYS): a kernel built without \
                 CONFIG_BPF_SYSCALL, or a seccomp profile that answers ENOSYS; in a container, \
                 the seccomp profile must allow bpf and perf_event_open",
            )),
            // Anything else (ENOMEM, ...) is left to the load, which says more.
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(
            parse_lockdown("none [integrity] confidentiality\n").as_deref(),
            Some("integrity")
        );
        assert_eq!(
            parse_lockdown("[none] integrity confidentiality").as_deref(),
            Some("none")
        );
        assert!(!parse_in_user_namespace(
            "         0          0 4294967295\n"
        ));
        assert!(parse_in_user_namespace(
            "         0       1000          1\n"
        ));
        assert!(!parse_in_pid_namespace("pid:[4026531836]"));
        assert!(parse_in_pid_namespace("pid:[4026532718]"));
    }

    #[test]
    fn missing_capabilities_are_named() {
        let none = Privileges::default();
        assert_eq!(none.missing(), ["CAP_BPF", "CAP_PERFMON"]);
        let err = none.check().unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 3);
        assert!(err.to_string().contains("missing: CAP_BPF, CAP_PERFMON"));

        let bpf_only = Privileges {
            cap_bpf: true,
            ..Default::default()
        };
        assert_eq!(bpf_only.missing(), ["CAP_PERFMON"]);
        let both = Privileges {
            cap_bpf: true,
            cap_perfmon: true,
            ..Default::default()
        };
        assert!(both.check().is_ok());
        let admin = Privileges {
            cap_sys_admin: true,
            ..Default::default()
        };
        assert!(admin.missing().is_empty());
    }

    #[test]
    fn user_namespace_and_lockdown_refuse() {
        let userns = Privileges {
            cap_sys_admin: true,
            user_namespace: true,
            ..Default::default()
        };
        assert!(userns
            .check()
            .unwrap_err()
            .to_string()
            .contains("user namespace"));
        let pidns = Privileges {
            cap_sys_admin: true,
            pid_namespace: true,
            ..Default::default()
        };
        assert!(pidns.check().is_ok());
        assert!(pidns.check_output(false).is_ok());
        let err = pidns.check_output(true).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 3);
        assert!(err.to_string().contains("hostPID: true"));
        let locked = Privileges {
            cap_sys_admin: true,
            lockdown: Some("confidentiality".into()),
            ..Default::default()
        };
        let err = locked.check().unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 4);
        assert!(err.to_string().contains("lockdown"));
    }

    #[test]
    fn a_denied_bpf_call_is_a_permission_problem() {
        use nix::errno::Errno;
        let caps = Privileges {
            cap_bpf: true,
            cap_perfmon: true,
            ..Default::default()
        };
        for errno in [Errno::EPERM, Errno::EACCES] {
            let p = Privileges {
                bpf_errno: Some(errno),
                ..caps.clone()
            };
            let err = p.check().unwrap_err();
            assert_eq!(crate::exit::code_of(&err), 3, "{errno}");
            let line = crate::exit::one_line(&err);
            assert!(line.starts_with("bpf() is not permitted"), "{line}");
            assert!(line.contains("seccomp profile must allow bpf and perf_event_open"));
            assert!(!line.contains('\n'));
        }
        let nosys = Privileges {
            bpf_errno: Some(Errno::ENOSYS),
            ..caps.clone()
        };
        assert_eq!(crate::exit::code_of(&nosys.check().unwrap_err()), 4);
        // Not a denial: the load goes ahead and reports what it finds.
        let nomem = Privileges {
            bpf_errno: Some(Errno::ENOMEM),
            ..caps.clone()
        };
        assert!(nomem.check().is_ok());
        // Missing capabilities are named first: the trial call fails for that reason too.
        let none = Privileges {
            bpf_errno: Some(Errno::EPERM),
            ..Default::default()
        };
        assert!(none
            .check()
            .unwrap_err()
            .to_string()
            .contains("missing: CAP_BPF"));
        assert!(is_denial(Errno::EPERM) && is_denial(Errno::EACCES));
        assert!(!is_denial(Errno::EINVAL) && !is_denial(Errno::ENOSYS));
    }
}
