//! What the process may do with BPF, read before anything is loaded so a missing
//! capability is one clear line, not a libbpf dump.

use std::fs;

use anyhow::Result;

use crate::exit::{Code, Failure};

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
    /// /proc/sys/kernel/unprivileged_bpf_disabled
    pub unprivileged_bpf_disabled: Option<u32>,
    /// The active mode of /sys/kernel/security/lockdown (none, integrity, confidentiality).
    pub lockdown: Option<String>,
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
            unprivileged_bpf_disabled: fs::read_to_string(
                "/proc/sys/kernel/unprivileged_bpf_disabled",
            )
            .ok()
            .and_then(|s| s.trim().parse().ok()),
            lockdown: fs::read_to_string("/sys/kernel/security/lockdown")
                .ok()
                .and_then(|s| parse_lockdown(&s)),
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
        Ok(())
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
        let locked = Privileges {
            cap_sys_admin: true,
            lockdown: Some("confidentiality".into()),
            ..Default::default()
        };
        let err = locked.check().unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 4);
        assert!(err.to_string().contains("lockdown"));
    }
}
