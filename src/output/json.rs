//! JSON lines, written by hand into a reused buffer: no Value tree, no allocation per event.
//!
//! Schema v3 (README "JSON schema"): every line is one object with "v" and "type".
//! Strings: valid UTF-8 is written as a JSON string (controls, DEL, C1 and bidi code points
//! as \uXXXX escapes). Bytes that are not valid UTF-8 are written with U+FFFD in the string
//! and the exact bytes in a sibling field NAME_b64 (standard base64), so nothing is lost.

use std::borrow::Cow;
use std::io::Write;

use super::call::CallArgs;
use super::cgroup::CgroupNames;
use super::digits;
use super::outcome;
use super::put::put;
use crate::events::{Event, ReadStatus};
use crate::handlers::{self, Kind};
use crate::output::clock::Clock;
use crate::syscalls::Arch;

pub const SCHEMA_VERSION: u32 = 3;

fn needs_unicode_escape(c: char) -> bool {
    matches!(c, '\0'..='\x1f' | '\x7f'..='\u{9f}' | '\u{061C}' | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Writes `bytes` as a JSON string; returns false if they were not valid UTF-8 (and were
/// written lossily).
pub fn string(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    string_parts(out, &[bytes])
}

/// One JSON string made of several pieces (no concatenation buffer needed).
pub fn string_parts(out: &mut Vec<u8>, parts: &[&[u8]]) -> bool {
    out.push(b'"');
    let mut valid = true;
    for part in parts {
        valid &= escape(out, part);
    }
    out.push(b'"');
    valid
}

fn escape(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    // Runs of plain printable ASCII go through in one copy each; a quote, a backslash or a
    // control byte is escaped on its own; the first non-ASCII byte hands the rest to the
    // UTF-8 path.
    let plain = |b: u8| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\';
    let mut rest = bytes;
    loop {
        let run = rest.iter().position(|&b| !plain(b)).unwrap_or(rest.len());
        put(out, &rest[..run]);
        rest = &rest[run..];
        match rest.first() {
            None => return true,
            Some(&b) if b < 0x80 => {
                escape_char(out, b as char);
                rest = &rest[1..];
            }
            Some(_) => return escape_utf8(out, rest),
        }
    }
}

fn escape_char(out: &mut Vec<u8>, c: char) {
    match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        c if needs_unicode_escape(c) => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c if c.is_ascii() => out.push(c as u8),
        c => {
            let mut buf = [0; 4];
            put(out, c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// Bytes that are not all ASCII: U+FFFD for what is not valid UTF-8 (returns false then).
fn escape_utf8(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let mut valid = true;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            escape_char(out, c);
        }
        if !chunk.invalid().is_empty() {
            valid = false;
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
    valid
}

pub fn base64(out: &mut Vec<u8>, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [n >> 18, n >> 12, n >> 6, n];
        for (i, s) in sextets.iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(s & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// `"key":"value"` plus `"key_b64":"..."` when the value is not UTF-8.
fn field_bytes(out: &mut Vec<u8>, key: &str, bytes: &[u8]) {
    out.extend_from_slice(b",\"");
    put(out, key.as_bytes());
    out.extend_from_slice(b"\":");
    if !string(out, bytes) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"_b64\":\"");
        base64(out, bytes);
        out.push(b'"');
    }
}

/// `args` is the exec record's argv after the argv policy (redaction) was applied; `call`
/// the syscall's arguments with --args; `cgroups` names the record's cgroup.
#[allow(clippy::too_many_arguments)]
pub fn event(
    out: &mut Vec<u8>,
    ev: &Event,
    syscall: &str,
    args: &[Cow<[u8]>],
    clock: &Clock,
    call: Option<&CallArgs>,
    arch: Arch,
    cgroups: &CgroupNames,
) {
    out.extend_from_slice(b"{\"v\":");
    digits::uint(out, SCHEMA_VERSION);
    out.extend_from_slice(b",\"type\":\"syscall\",\"ts\":\"");
    clock.write_rfc3339(out, ev.ktime_ns);
    out.extend_from_slice(b"\",\"ktime_ns\":");
    digits::uint(out, ev.ktime_ns);
    out.extend_from_slice(b",\"cpu\":");
    digits::uint(out, ev.cpu);
    out.extend_from_slice(b",\"pid\":");
    digits::uint(out, ev.pid);
    out.extend_from_slice(b",\"tid\":");
    digits::uint(out, ev.tid);
    out.extend_from_slice(b",\"ppid\":");
    match ev.ppid {
        Some(p) => digits::uint(out, p),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"uid\":");
    digits::uint(out, ev.uid);
    field_bytes(out, "comm", ev.comm);
    cgroups.json(out, ev.cgroup_id, ev.pid);
    out.extend_from_slice(b",\"nr\":");
    digits::uint(out, ev.nr);
    out.extend_from_slice(b",\"syscall\":");
    string(out, syscall.as_bytes());
    out.extend_from_slice(b",\"handler\":\"");
    put(out, ev.kind.name().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    let message = handlers::message(ev.kind, syscall);
    match message.syscall {
        Some(name) => string_parts(out, &[message.text.as_bytes(), b": ", name.as_bytes()]),
        None => string(out, message.text.as_bytes()),
    };
    if let (Kind::Exec, Some(exec)) = (ev.kind, &ev.exec) {
        field_bytes(out, "filename", exec.filename);
        out.extend_from_slice(b",\"filename_status\":\"");
        out.extend_from_slice(exec.filename_status.name().as_bytes());
        out.extend_from_slice(b"\",\"argv\":[");
        let mut all_valid = true;
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            all_valid &= string(out, arg);
        }
        out.push(b']');
        if !all_valid {
            out.extend_from_slice(b",\"argv_b64\":[");
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'"');
                base64(out, arg);
                out.push(b'"');
            }
            out.push(b']');
        }
        out.extend_from_slice(b",\"argc\":");
        digits::uint(out, exec.argc);
        out.extend_from_slice(b",\"argv_status\":\"");
        out.extend_from_slice(exec.argv_status.name().as_bytes());
        out.extend_from_slice(b"\",\"argv_truncated\":");
        let truncated = exec.argv_status == ReadStatus::Truncated;
        out.extend_from_slice(if truncated { b"true" } else { b"false" });
    }
    if ev.compat {
        out.extend_from_slice(b",\"compat\":true");
    }
    if let Some(call) = call {
        call.json(out, syscall);
    }
    outcome::json(out, ev.outcome, arch);
    out.extend_from_slice(b"}\n");
}

/// A control record (start, lost, summary, error): `fields` is a serde_json object whose
/// members follow v, type and ts.
pub fn control(out: &mut Vec<u8>, kind: &str, clock: &Clock, fields: serde_json::Value) {
    let _ = write!(
        out,
        "{{\"v\":{SCHEMA_VERSION},\"type\":\"{kind}\",\"ts\":\""
    );
    clock.write_rfc3339(out, Clock::now_ktime());
    out.push(b'"');
    if let serde_json::Value::Object(map) = fields {
        for (k, v) in map {
            let _ = write!(out, ",{}:{}", serde_json::Value::String(k), v);
        }
    }
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{decode, fixture};

    fn s(bytes: &[u8]) -> (String, bool) {
        let mut v = Vec::new();
        let ok = string(&mut v, bytes);
        (String::from_utf8(v).unwrap(), ok)
    }

    #[test]
    fn strings_are_strict_json() {
        let (out, ok) = s(b"a\"b\\c\nd\x1b[0m\x07\x7f");
        assert!(ok);
        assert_eq!(out, r#""a\"b\\c\nd\u001b[0m\u0007\u007f""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed.as_bytes(), b"a\"b\\c\nd\x1b[0m\x07\x7f");
        let (out, _) = s("\u{9b}\u{202e}".as_bytes());
        assert_eq!(out, r#""\u009b\u202e""#);
    }

    #[test]
    fn invalid_utf8_is_lossy_in_the_string() {
        let (out, ok) = s(b"a\xffb");
        assert!(!ok);
        assert_eq!(out, "\"a\u{FFFD}b\"");
    }

    #[test]
    fn base64_known_vectors() {
        for (input, want) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"\xff\xfe\x00", "//4A"),
        ] {
            let mut v = Vec::new();
            base64(&mut v, input);
            assert_eq!(String::from_utf8(v).unwrap(), want);
        }
    }

    #[test]
    fn exec_event_line() {
        let bytes = fixture::exec(
            &Event {
                ktime_ns: 5_000_000_123,
                pid: 7,
                tid: 8,
                ppid: None,
                uid: 0,
                nr: 59,
                cpu: 1,
                kind: Kind::Exec,
                comm: b"sh",
                cgroup_id: 0,
                exec: None,
                compat: false,
                args: None,
                outcome: Default::default(),
            },
            b"/bin/echo",
            0,
            &[b"echo", b"a\xffb"],
            0,
        );
        let ev = decode(&bytes).unwrap();
        let args: Vec<Cow<[u8]>> = ev
            .exec
            .as_ref()
            .unwrap()
            .args()
            .map(Cow::Borrowed)
            .collect();
        let mut out = Vec::new();
        event(
            &mut out,
            &ev,
            "execve",
            &args,
            &Clock::with_offset(0),
            None,
            Arch::X86_64,
            &CgroupNames::default(),
        );
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["v"], 3);
        assert_eq!(v["type"], "syscall");
        assert_eq!(v["ts"], "1970-01-01T00:00:05.000000123Z");
        assert_eq!(v["ppid"], serde_json::Value::Null);
        assert_eq!(v["syscall"], "execve");
        assert_eq!(v["handler"], "exec");
        assert_eq!(v["message"], "Executing a program");
        assert_eq!(v["filename"], "/bin/echo");
        assert_eq!(v["argv"][1], "a\u{FFFD}b");
        assert_eq!(v["argv_b64"][1], "Yf9i");
        assert_eq!(v["argv_truncated"], false);
        assert_eq!(v["argc"], 2);
    }

    #[test]
    fn argv_comes_from_the_policy_not_the_record() {
        let bytes = fixture::exec(
            &Event {
                ppid: Some(0),
                ..fixture::event(Kind::Exec)
            },
            b"/bin/x",
            0,
            &[b"x", b"secret\xff"],
            0,
        );
        let ev = decode(&bytes).unwrap();
        let args = vec![Cow::Borrowed(&b"x"[..]), Cow::Owned(b"<redacted>".to_vec())];
        let mut out = Vec::new();
        event(
            &mut out,
            &ev,
            "execve",
            &args,
            &Clock::with_offset(0),
            None,
            Arch::X86_64,
            &CgroupNames::default(),
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains("secret") && !text.contains("argv_b64"),
            "{text}"
        );
        assert!(text.contains(r#""argv":["x","<redacted>"]"#), "{text}");
    }

    #[test]
    fn control_record() {
        let mut out = Vec::new();
        control(
            &mut out,
            "lost",
            &Clock::with_offset(0),
            serde_json::json!({"count": 3, "total": 10}),
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "lost");
        assert_eq!(v["count"], 3);
        assert_eq!(v["total"], 10);
    }
}
