//! Escaping for human lines. A logged string comes from the traced process and may be
//! hostile: terminal escapes, line breaks, bidi overrides or invalid UTF-8 must not reach
//! the reader's terminal raw, and each record must stay one line.

/// Code points that reorder or hide text without printing anything.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' |
        '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Appends `bytes` with every control, format code and invalid byte escaped:
/// `\n \r \t \e \\`, `\xHH` for other C0 bytes, DEL and invalid UTF-8, `\u{hhhh}` for C1
/// controls and bidi/zero-width code points. With `quote`, `"` is escaped too.
pub fn escape_into(out: &mut Vec<u8>, bytes: &[u8], quote: bool) {
    // The common case, plain printable ASCII, goes through in one copy.
    if bytes
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\' && !(quote && b == b'"'))
    {
        out.extend_from_slice(bytes);
        return;
    }
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.extend_from_slice(b"\\\\"),
                '"' if quote => out.extend_from_slice(b"\\\""),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\x1b' => out.extend_from_slice(b"\\e"),
                '\0'..='\x1f' | '\x7f' => push_hex_byte(out, c as u8),
                '\u{80}'..='\u{9f}' => push_unicode(out, c),
                c if is_invisible_format(c) => push_unicode(out, c),
                c => {
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for &b in chunk.invalid() {
            push_hex_byte(out, b);
        }
    }
}

/// One argument of an argv: bare when that is unambiguous, else in double quotes.
pub fn push_arg(out: &mut Vec<u8>, arg: &[u8]) {
    let needs_quotes = arg.is_empty() || arg.iter().any(|b| matches!(b, b' ' | b'"' | b'\''));
    if needs_quotes {
        out.push(b'"');
        escape_into(out, arg, true);
        out.push(b'"');
    } else {
        escape_into(out, arg, false);
    }
}

fn push_hex_byte(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
}

fn push_unicode(out: &mut Vec<u8>, c: char) {
    use std::io::Write;
    let _ = write!(out, "\\u{{{:x}}}", c as u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(b: &[u8]) -> String {
        let mut v = Vec::new();
        escape_into(&mut v, b, false);
        String::from_utf8(v).unwrap()
    }

    fn arg(b: &[u8]) -> String {
        let mut v = Vec::new();
        push_arg(&mut v, b);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn plain_text_passes() {
        assert_eq!(esc(b"/usr/bin/git"), "/usr/bin/git");
        assert_eq!(esc("héllo wörld".as_bytes()), "héllo wörld");
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(
            esc(b"a\nb\rc\td\x1b[31me\x07\x7f\\"),
            "a\\nb\\rc\\td\\e[31me\\x07\\x7f\\\\"
        );
        assert_eq!(esc("x\u{9b}31m".as_bytes()), "x\\u{9b}31m");
        assert_eq!(
            esc("evil\u{202e}txt.exe".as_bytes()),
            "evil\\u{202e}txt.exe"
        );
        assert_eq!(esc(b"bad\xff\xfe"), "bad\\xff\\xfe");
    }

    #[test]
    fn arguments_stay_distinguishable() {
        assert_eq!(arg(b"status"), "status");
        assert_eq!(arg(b""), "\"\"");
        assert_eq!(arg(b"two words"), "\"two words\"");
        assert_eq!(arg(b"say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(arg(b"it's"), "\"it's\"");
    }
}
