//! Record timestamps: the kernel stamps CLOCK_MONOTONIC (bpf_ktime_get_ns); JSON wants wall
//! clock, so the offset between the two is taken once at start.

use std::cell::Cell;

use nix::time::{clock_gettime, ClockId};

use super::put::put;

#[derive(Debug, Clone)]
pub struct Clock {
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns.
    offset_ns: i128,
    /// The last second written and its "YYYY-MM-DDTHH:MM:SS." (a storm's records share
    /// it): the date arithmetic runs once a second, not once a record.
    second: Cell<Option<(i64, [u8; SECOND_LEN])>>,
}

const SECOND_LEN: usize = "2026-11-25T03:31:12.".len();

fn ns(id: ClockId) -> i128 {
    let ts = clock_gettime(id).unwrap_or_else(|_| nix::sys::time::TimeSpec::new(0, 0));
    i128::from(ts.tv_sec()) * 1_000_000_000 + i128::from(ts.tv_nsec())
}

impl Clock {
    pub fn new() -> Clock {
        let mono = ns(ClockId::CLOCK_MONOTONIC);
        let real = ns(ClockId::CLOCK_REALTIME);
        Clock::with_offset(real - mono)
    }

    /// A clock whose wall time equals the monotonic time plus `offset_ns` (tests).
    pub fn with_offset(offset_ns: i128) -> Clock {
        Clock {
            offset_ns,
            second: Cell::new(None),
        }
    }

    pub fn now_ktime() -> u64 {
        ns(ClockId::CLOCK_MONOTONIC) as u64
    }

    pub fn wall_ns(&self, ktime_ns: u64) -> i128 {
        i128::from(ktime_ns) + self.offset_ns
    }

    /// RFC 3339, UTC, nanoseconds: 2026-11-25T03:31:12.123456789Z
    pub fn write_rfc3339(&self, out: &mut Vec<u8>, ktime_ns: u64) {
        let wall_ns = self.wall_ns(ktime_ns);
        let secs = wall_ns.div_euclid(1_000_000_000) as i64;
        let nanos = wall_ns.rem_euclid(1_000_000_000) as u32;
        let prefix = match self.second.get() {
            Some((s, prefix)) if s == secs => prefix,
            _ => {
                let mut v = Vec::with_capacity(SECOND_LEN);
                write_second(&mut v, secs);
                let Ok(prefix) = <[u8; SECOND_LEN]>::try_from(v.as_slice()) else {
                    // A year beyond 9999: no memo, the slow way.
                    return write_rfc3339(out, wall_ns);
                };
                self.second.set(Some((secs, prefix)));
                prefix
            }
        };
        put(out, &prefix);
        nine_digits(out, nanos);
        out.push(b'Z');
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

pub fn write_rfc3339(out: &mut Vec<u8>, wall_ns: i128) {
    write_second(out, wall_ns.div_euclid(1_000_000_000) as i64);
    nine_digits(out, wall_ns.rem_euclid(1_000_000_000) as u32);
    out.push(b'Z');
}

/// "YYYY-MM-DDTHH:MM:SS." of the second `secs` since the epoch.
fn write_second(out: &mut Vec<u8>, secs: i64) {
    use super::digits::padded;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u64;
    let (y, m, d) = civil_from_days(days);
    padded(out, y.max(0) as u64, 4);
    for (sep, v) in [
        (b'-', u64::from(m)),
        (b'-', u64::from(d)),
        (b'T', sod / 3600),
        (b':', sod / 60 % 60),
        (b':', sod % 60),
    ] {
        out.push(sep);
        padded(out, v, 2);
    }
    out.push(b'.');
}

/// `v` (< 10^9) as exactly nine digits, in one copy.
fn nine_digits(out: &mut Vec<u8>, mut v: u32) {
    let mut digits = [b'0'; 9];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    put(out, &digits);
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(wall_ns: i128) -> String {
        let mut v = Vec::new();
        write_rfc3339(&mut v, wall_ns);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(fmt(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            fmt(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            fmt(1_795_577_472_123_456_789),
            "2026-11-25T03:31:12.123456789Z"
        );
        assert_eq!(fmt(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            fmt(253_402_300_799_999_999_999),
            "9999-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn the_remembered_second_is_the_right_one() {
        let c = Clock::with_offset(1_795_577_472_000_000_000);
        let mut v = Vec::new();
        for ktime in [
            123_456_789,
            999_999_999,
            1_000_000_000,
            5,
            86_400_000_000_007,
        ] {
            v.clear();
            c.write_rfc3339(&mut v, ktime);
            assert_eq!(
                String::from_utf8(v.clone()).unwrap(),
                fmt(1_795_577_472_000_000_000 + i128::from(ktime))
            );
        }
        assert_eq!(
            fmt(1_795_577_473_000_000_000),
            "2026-11-25T03:31:13.000000000Z"
        );
    }

    #[test]
    fn offset_applies() {
        let c = Clock::with_offset(1_000_000_000);
        let mut v = Vec::new();
        c.write_rfc3339(&mut v, 500);
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "1970-01-01T00:00:01.000000500Z"
        );
    }

    #[test]
    fn wall_clock_is_now() {
        let c = Clock::new();
        let wall = c.wall_ns(Clock::now_ktime());
        let real = ns(ClockId::CLOCK_REALTIME);
        assert!((real - wall).abs() < 1_000_000_000);
    }
}
