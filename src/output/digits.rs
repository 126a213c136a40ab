//! Numbers into a line buffer without core::fmt (the per-record hot path).

use super::put::put;

pub fn uint(out: &mut Vec<u8>, v: impl itoa::Integer) {
    let mut buf = itoa::Buffer::new();
    put(out, buf.format(v).as_bytes());
}

/// `v` zero-padded to at least `width` digits.
pub fn padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let s = buf.format(v).as_bytes();
    for _ in s.len()..width {
        out.push(b'0');
    }
    put(out, s);
}

/// `v` left-aligned in `width` columns, padded with spaces.
pub fn left(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let s = buf.format(v).as_bytes();
    put(out, s);
    for _ in s.len()..width {
        out.push(b' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn formats() {
        assert_eq!(s(|v| uint(v, 0u32)), "0");
        assert_eq!(s(|v| uint(v, -59i32)), "-59");
        assert_eq!(s(|v| uint(v, u64::MAX)), "18446744073709551615");
        assert_eq!(s(|v| padded(v, 7, 3)), "007");
        assert_eq!(s(|v| padded(v, 1234, 3)), "1234");
        assert_eq!(s(|v| left(v, 42, 7)), "42     ");
        assert_eq!(s(|v| left(v, 12345678, 7)), "12345678");
    }
}
