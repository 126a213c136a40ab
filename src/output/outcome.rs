//! How a call ended (--results), written the way strace -T writes it for a human and as
//! the `ret`, `errno`, `duration_ns` and `unfinished` fields of a JSON record.

use crate::decode::errno_name;
use crate::events::Outcome;
use crate::output::digits;
use crate::syscalls::Arch;

/// Syscalls whose return value is an address: shown in hex, as strace does.
const RETURNS_ADDRESS: &[&str] = &["mmap", "mmap2", "mremap", "brk", "shmat"];

/// ` = 3 <0.000012>`, ` = -1 ENOENT <0.000012>`, ` = ?` (never returns) or
/// ` <unfinished ...> <0.500000>`; nothing for a record made at entry.
pub fn human(out: &mut Vec<u8>, outcome: Outcome, syscall: &str, arch: Arch) {
    match outcome {
        Outcome::Entry => {}
        Outcome::NoReturn => out.extend_from_slice(b" = ?"),
        Outcome::Unfinished { duration_ns } => {
            out.extend_from_slice(b" <unfinished ...>");
            seconds(out, duration_ns);
        }
        Outcome::Returned { ret, duration_ns } => {
            out.extend_from_slice(b" = ");
            match errno_name(ret, arch) {
                Some(name) => {
                    out.extend_from_slice(b"-1 ");
                    out.extend_from_slice(name.as_bytes());
                }
                None if ret >= 0 && RETURNS_ADDRESS.contains(&syscall) => {
                    out.extend_from_slice(format!("{ret:#x}").as_bytes());
                }
                None => digits::uint(out, ret),
            }
            seconds(out, duration_ns);
        }
    }
}

/// ` <0.000012>`: seconds with microseconds, like strace -T.
fn seconds(out: &mut Vec<u8>, ns: u64) {
    out.extend_from_slice(b" <");
    digits::uint(out, ns / 1_000_000_000);
    out.push(b'.');
    digits::padded(out, ns % 1_000_000_000 / 1000, 6);
    out.push(b'>');
}

/// `,"ret":-2,"errno":"ENOENT","duration_ns":12000` (null where there is none, and
/// `"unfinished":true` for a call that had not returned); nothing for a record made at
/// entry.
pub fn json(out: &mut Vec<u8>, outcome: Outcome, arch: Arch) {
    match outcome {
        Outcome::Entry => {}
        Outcome::NoReturn => {
            out.extend_from_slice(b",\"ret\":null,\"errno\":null,\"duration_ns\":null");
        }
        Outcome::Unfinished { duration_ns } => {
            out.extend_from_slice(b",\"ret\":null,\"errno\":null,\"duration_ns\":");
            digits::uint(out, duration_ns);
            out.extend_from_slice(b",\"unfinished\":true");
        }
        Outcome::Returned { ret, duration_ns } => {
            out.extend_from_slice(b",\"ret\":");
            digits::uint(out, ret);
            out.extend_from_slice(b",\"errno\":");
            match errno_name(ret, arch) {
                Some(name) => {
                    out.push(b'"');
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'"');
                }
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"duration_ns\":");
            digits::uint(out, duration_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human_of(outcome: Outcome, syscall: &str) -> String {
        let mut out = Vec::new();
        human(&mut out, outcome, syscall, Arch::X86_64);
        String::from_utf8(out).unwrap()
    }

    fn json_of(outcome: Outcome) -> serde_json::Value {
        let mut out = b"{\"x\":0".to_vec();
        json(&mut out, outcome, Arch::X86_64);
        out.push(b'}');
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn human_like_strace_t() {
        let returned = |ret, duration_ns| Outcome::Returned { ret, duration_ns };
        assert_eq!(
            human_of(returned(-2, 12_345), "openat"),
            " = -1 ENOENT <0.000012>"
        );
        assert_eq!(
            human_of(returned(3, 1_500_000_000), "openat"),
            " = 3 <1.500000>"
        );
        assert_eq!(
            human_of(returned(0x7f00_0000_1000, 1000), "mmap"),
            " = 0x7f0000001000 <0.000001>"
        );
        assert_eq!(human_of(Outcome::NoReturn, "exit_group"), " = ?");
        assert_eq!(
            human_of(
                Outcome::Unfinished {
                    duration_ns: 50_000_000
                },
                "read"
            ),
            " <unfinished ...> <0.050000>"
        );
        assert_eq!(human_of(Outcome::Entry, "read"), "");
    }

    #[test]
    fn json_fields() {
        let v = json_of(Outcome::Returned {
            ret: -9,
            duration_ns: 7,
        });
        assert_eq!(v["ret"], -9);
        assert_eq!(v["errno"], "EBADF");
        assert_eq!(v["duration_ns"], 7);
        assert!(v.get("unfinished").is_none());
        let v = json_of(Outcome::Returned {
            ret: 4096,
            duration_ns: 7,
        });
        assert_eq!(v["errno"], serde_json::Value::Null);
        let v = json_of(Outcome::Unfinished { duration_ns: 5 });
        assert_eq!(v["ret"], serde_json::Value::Null);
        assert_eq!(v["unfinished"], true);
        let v = json_of(Outcome::NoReturn);
        assert_eq!(v["duration_ns"], serde_json::Value::Null);
        assert_eq!(json_of(Outcome::Entry).as_object().unwrap().len(), 1);
    }
}
