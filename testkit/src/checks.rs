//! Assertions and decoders over what the logger prints.

use std::process::Output;

use serde_json::Value;

/// The last line of stderr is a single, human line: no panic, no backtrace.
#[track_caller]
pub fn assert_clean_error(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("tailcall-logger: "), "{stderr}");
}

/// A run that exited with `code` and said why in one clean line (see
/// [`assert_clean_error`]); returns its stderr.
#[track_caller]
pub fn assert_clean_failure(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert_clean_error(&stderr);
    stderr
}

/// The count in the summary line a logger prints on stderr ("N records delivered, ...").
pub fn delivered(stderr: &str) -> usize {
    stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("tailcall-logger: ")?
                .split_once(" records delivered")
        })
        .map(|(n, _)| n.parse().unwrap())
        .unwrap_or_else(|| panic!("no summary line on stderr: {stderr}"))
}

/// Nothing a terminal would act on: no C0 control byte, no DEL, no C1 CSI, no bidi override.
pub fn assert_no_terminal_controls(lines: &[String]) {
    for line in lines {
        assert!(
            !line.bytes().any(|b| b < 0x20 || b == 0x7f),
            "raw control byte in {line:?}"
        );
        assert!(
            !line.contains('\u{202e}') && !line.contains('\u{9b}'),
            "{line:?}"
        );
    }
}

/// Whether a summary's `seen` accounts for `generated` calls: every one of them, or all but
/// some the kernel skipped the logger for (`recursion_misses`: its guard against a program
/// running twice on one CPU, hit when a task is preempted inside the program; those count
/// any process's calls, so they bound the shortfall without matching it).
pub fn seen_accounts_for(summary: &Value, generated: u64) -> bool {
    match (
        summary["seen"].as_u64(),
        summary["recursion_misses"].as_u64(),
    ) {
        (Some(seen), Some(misses)) => seen <= generated && generated <= seen + misses,
        _ => false,
    }
}

/// JSON lines, each parsed strictly.
pub fn parse_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (with padding) of `bytes`: what a NAME_b64 field must hold.
pub fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                B64[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// Standard base64 (with padding), as the logger writes NAME_b64 fields.
pub fn b64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in chunk {
            n = (n << 6) | u32::from(if c == b'=' { 0 } else { val(c) });
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

/// The bytes a JSON string field stands for: NAME_b64 when present, else the string.
pub fn recover_bytes(rec: &Value, key: &str) -> Vec<u8> {
    match rec.get(format!("{key}_b64")) {
        Some(Value::String(b)) => b64_decode(b),
        _ => rec[key].as_str().unwrap().as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn b64_round_trips() {
        for bytes in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"caf\xe9",
            b"\xff\xfe\x00abc",
        ] {
            assert_eq!(super::b64_decode(&super::b64_encode(bytes)), bytes);
        }
        assert_eq!(super::b64_encode(b"caf\xe9"), "Y2Fm6Q==");
    }
}
