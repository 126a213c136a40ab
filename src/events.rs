//! Decoding: the bytes of one ring/perf buffer record into an Event that borrows them.
//! The layout is the skeleton's (generated from bpf/dispatch.h); nothing here is trusted:
//! every length is checked, so arbitrary bytes give an error, never a panic.

use std::fmt;
use std::mem::{offset_of, size_of};

use crate::handlers::Kind;
use crate::skel::types::{
    arg_capture, args_record, exec_record, handler_kind, read_status, record_flags, record_header,
};

/// How the call ended (--results), from the record's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Without --results: the record was made at entry.
    #[default]
    Entry,
    Returned {
        ret: i64,
        duration_ns: u64,
    },
    /// exit, exit_group, rt_sigreturn: nothing returns to wait for.
    NoReturn,
    /// Still in the call when its thread exited or the logger stopped.
    Unfinished {
        duration_ns: u64,
    },
}

impl Outcome {
    fn from_header(h: &record_header) -> Outcome {
        let flag = |f: record_flags| u32::from(h.flags) & f.0 != 0;
        if flag(record_flags::RECORD_RESULT) {
            Outcome::Returned {
                ret: h.ret,
                duration_ns: h.duration_ns,
            }
        } else if flag(record_flags::RECORD_UNFINISHED) {
            Outcome::Unfinished {
                duration_ns: h.duration_ns,
            }
        } else if flag(record_flags::RECORD_NO_RETURN) {
            Outcome::NoReturn
        } else {
            Outcome::Entry
        }
    }

    fn flags(self) -> u8 {
        let f = match self {
            Outcome::Entry => 0,
            Outcome::Returned { .. } => record_flags::RECORD_RESULT.0,
            Outcome::NoReturn => record_flags::RECORD_NO_RETURN.0,
            Outcome::Unfinished { .. } => record_flags::RECORD_UNFINISHED.0,
        };
        f as u8
    }

    fn ret_and_duration(self) -> (i64, u64) {
        match self {
            Outcome::Returned { ret, duration_ns } => (ret, duration_ns),
            Outcome::Unfinished { duration_ns } => (0, duration_ns),
            Outcome::Entry | Outcome::NoReturn => (0, 0),
        }
    }
}

/// The outcome of a call whose record was sent at entry (a HANDLER_RESULT record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallResult {
    /// (tid, ktime_ns at entry): what pairs it with its entry record.
    pub call: (u32, u64),
    pub outcome: Outcome,
    /// --failed or --min-duration rejected the call in the kernel.
    pub filtered: bool,
}

fn header_of(data: &[u8]) -> Option<record_header> {
    let mut h = record_header::default();
    plain::copy_from_bytes(&mut h, data).ok()?;
    Some(h)
}

/// What a record is to the pairing of --results, from one read of its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingRole {
    /// An outcome record (HANDLER_RESULT).
    Result(CallResult),
    /// An entry record whose outcome follows: its (tid, ktime_ns).
    AwaitsResult((u32, u64)),
    /// Anything else: shown as it is.
    Alone,
}

pub fn pairing_role(data: &[u8]) -> PairingRole {
    let Some(h) = header_of(data) else {
        return PairingRole::Alone;
    };
    let flag = |f: record_flags| u32::from(h.flags) & f.0 != 0;
    if u32::from(h.kind) == handler_kind::HANDLER_RESULT.0 {
        PairingRole::Result(CallResult {
            call: (h.tid, h.ktime_ns),
            outcome: Outcome::from_header(&h),
            filtered: flag(record_flags::RECORD_FILTERED),
        })
    } else if flag(record_flags::RECORD_AWAITS_RESULT) {
        PairingRole::AwaitsResult((h.tid, h.ktime_ns))
    } else {
        PairingRole::Alone
    }
}

/// Writes `outcome` into a record's header (an entry record paired with its result, or a
/// call found unfinished at shutdown).
pub fn set_outcome(record: &mut [u8], outcome: Outcome) {
    let Some(mut h) = header_of(record) else {
        return;
    };
    let (ret, duration_ns) = outcome.ret_and_duration();
    h.ret = ret;
    h.duration_ns = duration_ns;
    let outcome_flags = record_flags::RECORD_RESULT.0
        | record_flags::RECORD_NO_RETURN.0
        | record_flags::RECORD_AWAITS_RESULT.0
        | record_flags::RECORD_UNFINISHED.0;
    h.flags = (h.flags & !(outcome_flags as u8)) | outcome.flags();
    record[..size_of::<record_header>()].copy_from_slice(unsafe { plain::as_bytes(&h) });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStatus {
    Ok,
    Truncated,
    Fault,
    Null,
    Omitted,
}

impl ReadStatus {
    fn from_raw(raw: u8) -> Option<ReadStatus> {
        match read_status(raw.into()) {
            read_status::READ_OK => Some(ReadStatus::Ok),
            read_status::READ_TRUNCATED => Some(ReadStatus::Truncated),
            read_status::READ_FAULT => Some(ReadStatus::Fault),
            read_status::READ_NULL => Some(ReadStatus::Null),
            read_status::READ_OMITTED => Some(ReadStatus::Omitted),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ReadStatus::Ok => "ok",
            ReadStatus::Truncated => "truncated",
            ReadStatus::Fault => "fault",
            ReadStatus::Null => "null",
            ReadStatus::Omitted => "omitted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec<'a> {
    pub filename: &'a [u8],
    pub filename_status: ReadStatus,
    /// argc NUL-terminated strings, back to back.
    args: &'a [u8],
    pub argc: u16,
    pub argv_status: ReadStatus,
}

impl<'a> Exec<'a> {
    pub fn args(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let args = self.args;
        args.split(|&b| b == 0).take(self.argc as usize)
    }
}

/// The six argument registers, and what was read behind some of them (--args).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args<'a> {
    pub raw: [u64; 6],
    /// Back to back: a struct arg_capture, then its bytes; checked by decode.
    captures: &'a [u8],
    /// An exec record's filename, read by the exec handler rather than as a capture.
    exec_filename: Option<(&'a [u8], ReadStatus)>,
}

/// What was read from user memory behind argument `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capture<'a> {
    pub index: usize,
    pub status: ReadStatus,
    /// A string without its NUL, or the bytes of a struct sockaddr.
    pub bytes: &'a [u8],
}

impl<'a> Args<'a> {
    pub fn new(raw: [u64; 6]) -> Args<'a> {
        Args {
            raw,
            captures: &[],
            exec_filename: None,
        }
    }

    /// An exec record's filename and its read status.
    pub fn exec_filename(&self) -> Option<(&'a [u8], ReadStatus)> {
        self.exec_filename
    }

    /// The captures in argument order (decode checked every length).
    pub fn captures(&self) -> impl Iterator<Item = Capture<'a>> + 'a {
        CaptureIter(self.captures).map_while(Result::ok)
    }

    /// The capture of argument `index`, if it was read.
    pub fn capture(&self, index: usize) -> Option<Capture<'a>> {
        self.captures().find(|c| c.index == index)
    }
}

struct CaptureIter<'a>(&'a [u8]);

impl<'a> Iterator for CaptureIter<'a> {
    type Item = Result<Capture<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        const HDR: usize = size_of::<arg_capture>();
        if self.0.is_empty() {
            return None;
        }
        let data = self.0;
        let parsed = (|| {
            need(data, HDR)?;
            let index = data[offset_of!(arg_capture, index)] as usize;
            let raw_status = data[offset_of!(arg_capture, status)];
            let len_at = offset_of!(arg_capture, len);
            let len = u16::from_ne_bytes([data[len_at], data[len_at + 1]]) as usize;
            let status =
                ReadStatus::from_raw(raw_status).ok_or(DecodeError::UnknownStatus(raw_status))?;
            if index >= 6 || HDR + len > data.len() {
                return Err(DecodeError::BadLength {
                    field: "capture",
                    len: len as u32,
                });
            }
            Ok((
                Capture {
                    index,
                    status,
                    bytes: &data[HDR..HDR + len],
                },
                HDR + len,
            ))
        })();
        match parsed {
            Ok((capture, used)) => {
                self.0 = &data[used..];
                Some(Ok(capture))
            }
            Err(e) => {
                self.0 = &[];
                Some(Err(e))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    pub ktime_ns: u64,
    pub pid: u32,
    pub tid: u32,
    /// None when the BTF in use could not vouch for task_struct's layout.
    pub ppid: Option<u32>,
    pub uid: u32,
    pub nr: i32,
    pub cpu: u16,
    pub kind: Kind,
    pub comm: &'a [u8],
    /// The task's cgroup v2 id (the inode number of its directory under the cgroup2
    /// mount); the root's id on a host where no task is in a v2 cgroup.
    pub cgroup_id: u64,
    pub exec: Option<Exec<'a>>,
    /// An ia32 syscall on x86_64: `nr` is in the i386 table.
    pub compat: bool,
    /// With --args.
    pub args: Option<Args<'a>>,
    /// With --results.
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    TooShort { len: usize, need: usize },
    UnknownKind(u8),
    UnknownStatus(u8),
    BadLength { field: &'static str, len: u32 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort { len, need } => {
                write!(f, "record of {len} bytes, needs {need}")
            }
            DecodeError::UnknownKind(k) => write!(f, "unknown handler kind {k}"),
            DecodeError::UnknownStatus(s) => write!(f, "unknown read status {s}"),
            DecodeError::BadLength { field, len } => write!(f, "{field} length {len} out of range"),
        }
    }
}

impl std::error::Error for DecodeError {}

fn until_nul(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

fn need(data: &[u8], len: usize) -> Result<(), DecodeError> {
    if data.len() < len {
        Err(DecodeError::TooShort {
            len: data.len(),
            need: len,
        })
    } else {
        Ok(())
    }
}

fn u32_at(data: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(data[off..off + 4].try_into().expect("4 bytes"))
}

pub fn decode(data: &[u8]) -> Result<Event<'_>, DecodeError> {
    need(data, size_of::<record_header>())?;
    let mut h = record_header::default();
    plain::copy_from_bytes(&mut h, data).map_err(|_| DecodeError::TooShort {
        len: data.len(),
        need: size_of::<record_header>(),
    })?;
    let kind = Kind::from_raw(h.kind).ok_or(DecodeError::UnknownKind(h.kind))?;
    let comm_at = offset_of!(record_header, comm);
    let comm = until_nul(&data[comm_at..comm_at + h.comm.len()]);
    let flag = |f: record_flags| u32::from(h.flags) & f.0 != 0;
    let has_ppid = flag(record_flags::RECORD_HAS_PPID);
    let exec = match kind {
        Kind::Exec => Some(decode_exec(data)?),
        _ => None,
    };
    let args = match (flag(record_flags::RECORD_HAS_ARGS), kind, &exec) {
        (false, _, _) => None,
        (true, Kind::Exec, Some(e)) => Some(Args {
            exec_filename: Some((e.filename, e.filename_status)),
            ..Args::new(raw_args(data, offset_of!(exec_record, raw_args)))
        }),
        (true, _, _) => Some(decode_args(data)?),
    };
    Ok(Event {
        ktime_ns: h.ktime_ns,
        pid: h.pid,
        tid: h.tid,
        ppid: has_ppid.then_some(h.ppid),
        uid: h.uid,
        nr: h.nr,
        cpu: h.cpu,
        kind,
        comm,
        cgroup_id: h.cgroup_id,
        exec,
        compat: flag(record_flags::RECORD_COMPAT),
        args,
        outcome: Outcome::from_header(&h),
    })
}

fn raw_args(data: &[u8], at: usize) -> [u64; 6] {
    let mut raw = [0u64; 6];
    for (i, v) in raw.iter_mut().enumerate() {
        let off = at + i * 8;
        *v = u64::from_ne_bytes(data[off..off + 8].try_into().expect("8 bytes"));
    }
    raw
}

fn decode_args(data: &[u8]) -> Result<Args<'_>, DecodeError> {
    let data_at = offset_of!(args_record, data);
    need(data, data_at)?;
    let len_at = offset_of!(args_record, data_len);
    let data_len = u16::from_ne_bytes([data[len_at], data[len_at + 1]]) as usize;
    if data_at + data_len > data.len() {
        return Err(DecodeError::BadLength {
            field: "args data",
            len: data_len as u32,
        });
    }
    let args = Args {
        captures: &data[data_at..data_at + data_len],
        ..Args::new(raw_args(data, offset_of!(args_record, raw_args)))
    };
    // Every capture must parse, so formatting never meets a bad one.
    for capture in CaptureIter(args.captures) {
        capture?;
    }
    Ok(args)
}

fn decode_exec(data: &[u8]) -> Result<Exec<'_>, DecodeError> {
    let args_at = offset_of!(exec_record, args);
    need(data, args_at)?;
    let status =
        |off: usize| ReadStatus::from_raw(data[off]).ok_or(DecodeError::UnknownStatus(data[off]));
    let filename_status = status(offset_of!(exec_record, filename_status))?;
    let argv_status = status(offset_of!(exec_record, argv_status))?;
    let argc_at = offset_of!(exec_record, argc);
    let argc = u16::from_ne_bytes([data[argc_at], data[argc_at + 1]]);

    let filename_len = u32_at(data, offset_of!(exec_record, filename_len));
    let filename_cap = args_at - offset_of!(exec_record, filename);
    if filename_len as usize >= filename_cap {
        return Err(DecodeError::BadLength {
            field: "filename",
            len: filename_len,
        });
    }
    let filename_at = offset_of!(exec_record, filename);
    let filename = &data[filename_at..filename_at + filename_len as usize];

    let args_len = u32_at(data, offset_of!(exec_record, args_len));
    if args_len as usize > size_of::<exec_record>() - args_at
        || args_at + args_len as usize > data.len()
    {
        return Err(DecodeError::BadLength {
            field: "args",
            len: args_len,
        });
    }
    let args = &data[args_at..args_at + args_len as usize];
    if args.iter().filter(|&&b| b == 0).count() < argc as usize {
        return Err(DecodeError::BadLength {
            field: "argc",
            len: argc.into(),
        });
    }
    Ok(Exec {
        filename,
        filename_status,
        args,
        argc,
        argv_status,
    })
}

/// Byte fixtures, built field by field through the generated layout (tests and fuzzing).
pub mod fixture {
    use super::*;

    /// A record of `kind` from pid 1 (`sh`, nr 59, cpu 0, uid 0, no ppid): tests change
    /// what they look at with struct update syntax.
    pub fn event(kind: Kind) -> Event<'static> {
        Event {
            ktime_ns: 1,
            pid: 1,
            tid: 1,
            ppid: None,
            uid: 0,
            nr: 59,
            cpu: 0,
            kind,
            comm: b"sh",
            cgroup_id: 0,
            exec: None,
            compat: false,
            args: None,
            outcome: Outcome::Entry,
        }
    }

    /// The header fields of `h` (its `exec` is ignored) as record bytes.
    fn header_bytes(h: &Event) -> Vec<u8> {
        let mut r = record_header {
            ktime_ns: h.ktime_ns,
            pid: h.pid,
            tid: h.tid,
            ppid: h.ppid.unwrap_or(0),
            uid: h.uid,
            nr: h.nr,
            cpu: h.cpu,
            kind: h.kind.raw(),
            cgroup_id: h.cgroup_id,
            ret: h.outcome.ret_and_duration().0,
            duration_ns: h.outcome.ret_and_duration().1,
            flags: h.outcome.flags()
                | [
                    (h.ppid.is_some(), record_flags::RECORD_HAS_PPID),
                    (h.args.is_some(), record_flags::RECORD_HAS_ARGS),
                    (h.compat, record_flags::RECORD_COMPAT),
                ]
                .iter()
                .filter(|(set, _)| *set)
                .fold(0, |acc, (_, f)| acc | f.0 as u8),
            ..Default::default()
        };
        for (dst, src) in r.comm.iter_mut().zip(h.comm.iter().take(15)) {
            *dst = *src as i8;
        }
        unsafe { plain::as_bytes(&r) }.to_vec()
    }

    /// A header-only record, or with `h.args` an args record carrying `h.args.raw` and
    /// the captures given as (argument index, read status, bytes).
    pub fn simple(h: &Event) -> Vec<u8> {
        simple_with(h, &[])
    }

    pub fn simple_with(h: &Event, captures: &[(u8, u8, &[u8])]) -> Vec<u8> {
        let mut out = header_bytes(h);
        let Some(args) = &h.args else {
            return out;
        };
        out.resize(offset_of!(args_record, data), 0);
        put_raw_args(&mut out, offset_of!(args_record, raw_args), &args.raw);
        let mut data = Vec::new();
        for (index, status, bytes) in captures {
            let c = arg_capture {
                index: *index,
                status: *status,
                len: bytes.len() as u16,
            };
            data.extend_from_slice(unsafe { plain::as_bytes(&c) });
            data.extend_from_slice(bytes);
        }
        let len_at = offset_of!(args_record, data_len);
        out[len_at..len_at + 2].copy_from_slice(&(data.len() as u16).to_ne_bytes());
        out[offset_of!(args_record, captures)] = captures.len() as u8;
        out.extend_from_slice(&data);
        out
    }

    fn put_raw_args(out: &mut [u8], at: usize, raw: &[u64; 6]) {
        for (i, v) in raw.iter().enumerate() {
            out[at + i * 8..at + i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
        }
    }

    pub fn exec(h: &Event, filename: &[u8], fstatus: u8, args: &[&[u8]], astatus: u8) -> Vec<u8> {
        let mut out = header_bytes(h);
        out.resize(offset_of!(exec_record, args), 0);
        out[offset_of!(exec_record, filename_status)] = fstatus;
        out[offset_of!(exec_record, argv_status)] = astatus;
        let argc_at = offset_of!(exec_record, argc);
        out[argc_at..argc_at + 2].copy_from_slice(&(args.len() as u16).to_ne_bytes());
        let f_at = offset_of!(exec_record, filename);
        out[f_at..f_at + filename.len()].copy_from_slice(filename);
        let fl_at = offset_of!(exec_record, filename_len);
        out[fl_at..fl_at + 4].copy_from_slice(&(filename.len() as u32).to_ne_bytes());
        let mut args_len = 0u32;
        for a in args {
            out.extend_from_slice(a);
            out.push(0);
            args_len += a.len() as u32 + 1;
        }
        let al_at = offset_of!(exec_record, args_len);
        out[al_at..al_at + 4].copy_from_slice(&args_len.to_ne_bytes());
        if let Some(a) = &h.args {
            put_raw_args(&mut out, offset_of!(exec_record, raw_args), &a.raw);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::fixture;
    use super::*;

    fn header(kind: Kind) -> Event<'static> {
        Event {
            ktime_ns: 91_935_368_240_123,
            pid: 26551,
            tid: 26552,
            ppid: Some(1),
            uid: 1000,
            nr: 59,
            cpu: 52,
            kind,
            comm: b"git",
            cgroup_id: 0,
            exec: None,
            compat: false,
            args: None,
            outcome: Default::default(),
        }
    }

    #[test]
    fn layout_matches_the_c_header() {
        // struct record_header is 72 bytes (8-byte aligned, so the records that follow it
        // stay aligned); an exec record carries a 4096-byte args area.
        assert_eq!(size_of::<record_header>(), 72);
        assert_eq!(size_of::<record_header>() % 8, 0);
        assert_eq!(
            size_of::<exec_record>() - offset_of!(exec_record, args),
            4096
        );
    }

    #[test]
    fn decodes_a_simple_record() {
        let bytes = fixture::simple(&Event {
            nr: 38,
            ..header(Kind::Other)
        });
        let ev = decode(&bytes).unwrap();
        assert_eq!(ev.pid, 26551);
        assert_eq!(ev.tid, 26552);
        assert_eq!(ev.ppid, Some(1));
        assert_eq!(ev.nr, 38);
        assert_eq!(ev.cpu, 52);
        assert_eq!(ev.comm, b"git");
        assert_eq!(ev.kind, Kind::Other);
        assert!(ev.exec.is_none());
    }

    #[test]
    fn ppid_absent_without_flag() {
        let bytes = fixture::simple(&Event {
            ppid: None,
            ..header(Kind::Timer)
        });
        assert_eq!(decode(&bytes).unwrap().ppid, None);
    }

    #[test]
    fn decodes_an_exec_record() {
        let bytes = fixture::exec(
            &header(Kind::Exec),
            b"/usr/bin/git",
            0,
            &[b"git", b"status", b""],
            1,
        );
        let ev = decode(&bytes).unwrap();
        let exec = ev.exec.unwrap();
        assert_eq!(exec.filename, b"/usr/bin/git");
        assert_eq!(exec.filename_status, ReadStatus::Ok);
        assert_eq!(exec.argv_status, ReadStatus::Truncated);
        let args: Vec<&[u8]> = exec.args().collect();
        assert_eq!(args, [&b"git"[..], b"status", b""]);
    }

    #[test]
    fn rejects_bad_records() {
        assert!(matches!(
            decode(&[0; 10]),
            Err(DecodeError::TooShort { .. })
        ));
        let mut bytes = fixture::simple(&header(Kind::Other));
        bytes[offset_of!(record_header, kind)] = 9;
        assert_eq!(decode(&bytes), Err(DecodeError::UnknownKind(9)));

        let good = fixture::exec(&header(Kind::Exec), b"/bin/x", 0, &[b"x"], 0);
        let mut bad = good.clone();
        bad.truncate(bad.len() - 1);
        assert!(matches!(decode(&bad), Err(DecodeError::BadLength { .. })));
        let mut bad = good.clone();
        bad[offset_of!(exec_record, argv_status)] = 7;
        assert_eq!(decode(&bad), Err(DecodeError::UnknownStatus(7)));
        let mut bad = good;
        let at = offset_of!(exec_record, filename_len);
        bad[at..at + 4].copy_from_slice(&999u32.to_ne_bytes());
        assert!(matches!(
            decode(&bad),
            Err(DecodeError::BadLength {
                field: "filename",
                ..
            })
        ));
    }

    #[test]
    fn comm_without_nul_is_bounded() {
        let mut bytes = fixture::simple(&header(Kind::Other));
        let at = offset_of!(record_header, comm);
        bytes[at..at + 16].copy_from_slice(&[b'x'; 16]);
        assert_eq!(decode(&bytes).unwrap().comm.len(), 16);
    }
}
