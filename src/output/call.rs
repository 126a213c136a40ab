//! A record's arguments (--args), typed by the kernel's own signature of the syscall: the
//! JSON `args` object (keyed by the kernel's parameter names) and the strace-style `call`
//! text, `openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC, 0)`.
//!
//! Integers are shown by a decoder where the decode module has one for the parameter
//! (flags, modes, signals...), else in decimal with the declared signedness; other pointers
//! in hex (NULL for 0); strings and socket addresses from what the kernel side read.
//! What depends only on the syscall (which decoder, which width, the JSON keys) is worked
//! out once per syscall in a `CallPlan` when the session starts, not per record.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::digits;
use super::json;
use super::put::put;
use super::ArgvPolicy;
use crate::decode::{self, Decoder};
use crate::events::{Args, Capture, ReadStatus};
use crate::signatures::{Kind, Param, Signature, Signatures};
use crate::syscalls::{self, Arch};

/// How one parameter of one syscall is shown.
#[derive(Debug, Clone)]
struct ParamPlan {
    kind: Kind,
    name: String,
    /// `"name":`, as the parameter's JSON member starts.
    key: Vec<u8>,
    /// How the call text shows an integer.
    text: Text,
    /// An integer's signedness and width.
    signed: bool,
    bits: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Text {
    Plain,
    Decoded(Decoder),
    /// socket's protocol, named by the family in argument `family`.
    Protocol {
        family: usize,
    },
    /// open's mode: 0 unless the flags in argument `flags` create a file.
    OpenMode {
        flags: usize,
    },
    /// An integer that holds a user address: hex, NULL for 0.
    Address,
}

/// Everything about a syscall's arguments that does not change from record to record.
#[derive(Debug, Clone)]
pub struct CallPlan {
    params: Vec<ParamPlan>,
}

impl CallPlan {
    /// The plan for `sig`, called in the `arch` ABI.
    pub fn new(sig: &Signature, arch: Arch) -> CallPlan {
        let index_of = |name: &str| sig.params.iter().position(|q| q.name == name);
        let open_flags = index_of("flags")
            .filter(|_| decode::decoder_for(&sig.name, "flags") == Some(Decoder::OpenFlags));
        let params = sig
            .params
            .iter()
            .take(6)
            .map(|p| {
                let text = match (decode::decoder_for(&sig.name, &p.name), open_flags) {
                    (Some(_), Some(flags)) if p.name == "mode" => Text::OpenMode { flags },
                    (Some(Decoder::SocketProtocol), _) => match index_of("family") {
                        Some(family) => Text::Protocol { family },
                        None => Text::Decoded(Decoder::SocketProtocol),
                    },
                    (Some(d), _) => Text::Decoded(d),
                    (None, _) if ADDRESS_PARAMS.contains(&p.name.as_str()) => Text::Address,
                    (None, _) => Text::Plain,
                };
                // File descriptors are ints whatever the declaration (mmap's fd is -1 for
                // anonymous memory, declared unsigned long).
                let is_fd = p.name == "fd" || p.name.ends_with("fd");
                let (signed, bits) = match p.kind {
                    Kind::Int { signed } if arch == Arch::I386 || is_fd => (signed || is_fd, 32),
                    Kind::Int { signed } => (signed, int_bits(&p.c_type)),
                    _ => (false, 64),
                };
                let mut key = Vec::new();
                json::string(&mut key, p.name.as_bytes());
                key.push(b':');
                ParamPlan {
                    kind: p.kind,
                    name: p.name.clone(),
                    key,
                    text,
                    signed,
                    bits,
                }
            })
            .collect();
        CallPlan { params }
    }
}

/// The plans of every syscall of the native table and its compat table.
pub struct Plans {
    native: Vec<Option<CallPlan>>,
    compat: Vec<Option<CallPlan>>,
    unknown: CallPlan,
}

impl Plans {
    pub fn new(sigs: &Signatures, arch: Arch) -> Plans {
        let table = |arch: Arch| -> Vec<Option<CallPlan>> {
            (0..syscalls::table_len(arch))
                .map(|nr| {
                    let name = syscalls::name(arch, nr)?;
                    sigs.get_for(arch, name).map(|s| CallPlan::new(s, arch))
                })
                .collect()
        };
        Plans {
            native: table(arch),
            compat: arch.compat().map(table).unwrap_or_default(),
            unknown: CallPlan::new(&unknown_signature(), arch),
        }
    }

    /// The plan for syscall `nr` of the native or the compat table; six unsigned
    /// integers for a syscall the signatures do not describe.
    pub fn get(&self, nr: i32, compat: bool) -> &CallPlan {
        let table = if compat { &self.compat } else { &self.native };
        usize::try_from(nr)
            .ok()
            .and_then(|nr| table.get(nr))
            .and_then(Option::as_ref)
            .unwrap_or(&self.unknown)
    }
}

fn unknown_signature() -> Signature {
    Signature {
        name: "unknown".into(),
        params: (0..6)
            .map(|i| Param {
                name: format!("arg{i}"),
                c_type: "unsigned long".into(),
                size: 8,
                signed: false,
                kind: Kind::Int { signed: false },
            })
            .collect(),
    }
}

/// One argument, ready to be shown.
enum Value<'a> {
    /// An integer: its value and how the call text shows it.
    Int(i64, Text),
    Uint(u64, Text),
    Pointer(u64),
    Str {
        bytes: Cow<'a, [u8]>,
        status: ReadStatus,
    },
    /// A string or address that could not be read: its status and the pointer.
    Unread(ReadStatus, u64),
    SockAddr(SockAddr<'a>),
}

/// A decoded struct sockaddr.
enum SockAddr<'a> {
    Inet { addr: Ipv4Addr, port: u16 },
    Inet6 { addr: Ipv6Addr, port: u16 },
    Unix { path: &'a [u8] },
    Other { family: u16, bytes: &'a [u8] },
}

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

impl<'a> SockAddr<'a> {
    fn parse(b: &'a [u8]) -> Option<SockAddr<'a>> {
        let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]);
        let port = |b: &[u8]| u16::from_be_bytes([b[2], b[3]]);
        Some(match family {
            AF_INET if b.len() >= 8 => SockAddr::Inet {
                addr: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
                port: port(b),
            },
            AF_INET6 if b.len() >= 24 => SockAddr::Inet6 {
                addr: Ipv6Addr::from(<[u8; 16]>::try_from(&b[8..24]).ok()?),
                port: port(b),
            },
            AF_UNIX => {
                let path = &b[2..];
                let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
                SockAddr::Unix { path: &path[..end] }
            }
            _ => SockAddr::Other {
                family,
                bytes: &b[2..],
            },
        })
    }

    fn family_name(&self) -> Cow<'static, str> {
        match self {
            SockAddr::Inet { .. } => "AF_INET".into(),
            SockAddr::Inet6 { .. } => "AF_INET6".into(),
            SockAddr::Unix { .. } => "AF_UNIX".into(),
            SockAddr::Other { family, .. } => decode::Decoder::SocketFamily
                .decode(u64::from(*family), Arch::X86_64)
                .into(),
        }
    }
}

/// Integer parameters that hold user addresses (mmap's addr, mprotect's start, brk's brk).
const ADDRESS_PARAMS: &[&str] = &["addr", "start", "brk", "new_addr", "old_addr"];

/// The width in bits of an integer C type as the kernel's signature names it.
fn int_bits(c_type: &str) -> u32 {
    let t = c_type.trim_start_matches("const ").trim();
    let wide = t.contains("long")
        || matches!(
            t,
            "size_t"
                | "ssize_t"
                | "loff_t"
                | "off_t"
                | "u64"
                | "s64"
                | "__u64"
                | "__s64"
                | "aio_context_t"
                | "cap_user_header_t"
                | "cap_user_data_t"
        );
    if wide {
        64
    } else {
        32
    }
}

/// Argument `index`, as planned by `p`.
fn value_of<'a>(p: &ParamPlan, index: usize, args: &Args<'a>, policy: &ArgvPolicy) -> Value<'a> {
    let raw = args.raw[index];
    let string = |bytes, status| Value::Str {
        bytes: policy.apply_one(bytes),
        status,
    };
    match p.kind {
        Kind::Path | Kind::SockAddr => match args.capture(index) {
            Some(Capture {
                status: status @ (ReadStatus::Ok | ReadStatus::Truncated),
                bytes,
                ..
            }) => {
                if p.kind == Kind::SockAddr {
                    match SockAddr::parse(bytes) {
                        Some(sa) => Value::SockAddr(sa),
                        None => Value::Unread(ReadStatus::Fault, raw),
                    }
                } else {
                    string(bytes, status)
                }
            }
            Some(c) => Value::Unread(c.status, raw),
            // An exec record's filename was read by the exec handler.
            None if p.name == "filename" && args.exec_filename().is_some() => {
                match args.exec_filename() {
                    Some((bytes, status @ (ReadStatus::Ok | ReadStatus::Truncated))) => {
                        string(bytes, status)
                    }
                    Some((_, status)) => Value::Unread(status, raw),
                    None => Value::Pointer(raw),
                }
            }
            None if raw == 0 => Value::Unread(ReadStatus::Null, 0),
            None => Value::Pointer(raw),
        },
        Kind::Pointer => Value::Pointer(raw),
        Kind::Int { .. } => match (p.signed, p.bits) {
            (true, 32) => Value::Int(i64::from(raw as u32 as i32), p.text),
            (true, _) => Value::Int(raw as i64, p.text),
            (false, 32) => Value::Uint(raw & 0xffff_ffff, p.text),
            (false, _) => Value::Uint(raw, p.text),
        },
    }
}

/// `0x` and lower-case hex digits.
fn hex(out: &mut Vec<u8>, mut v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 18];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(v & 15) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    buf[i - 2] = b'0';
    buf[i - 1] = b'x';
    put(out, &buf[i - 2..]);
}

/// What the call text shows for an integer argument.
struct IntText<'s> {
    args: &'s Args<'s>,
    arch: Arch,
    /// The decoders write into a String: one buffer for the whole call.
    scratch: String,
}

impl IntText<'_> {
    fn write(&mut self, out: &mut Vec<u8>, value: u64, plain: impl Fn(&mut Vec<u8>), text: Text) {
        self.scratch.clear();
        match text {
            Text::Plain => return plain(out),
            Text::Address if value == 0 => return out.extend_from_slice(b"NULL"),
            Text::Address => return hex(out, value),
            Text::OpenMode { flags } if !decode::open_mode_used(self.args.raw[flags]) => {
                return out.push(b'0')
            }
            Text::OpenMode { .. } => Decoder::Mode.write(&mut self.scratch, value, self.arch),
            Text::Decoded(d) => d.write(&mut self.scratch, value, self.arch),
            Text::Protocol { family } => {
                let family = self.args.raw[family];
                decode::socket_protocol(&mut self.scratch, family, value, self.arch)
            }
        }
        put(out, self.scratch.as_bytes());
    }
}

/// The strace-style call text, `name(arg, ...)`, into `out`.
fn call_text(
    out: &mut Vec<u8>,
    name: &str,
    plan: &CallPlan,
    args: &Args,
    arch: Arch,
    policy: &ArgvPolicy,
) {
    let mut ints = IntText {
        args,
        arch,
        scratch: String::new(),
    };
    put(out, name.as_bytes());
    out.push(b'(');
    for (i, p) in plan.params.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        match value_of(p, i, args, policy) {
            Value::Int(n, text) => ints.write(out, n as u64, |o| digits::uint(o, n), text),
            Value::Uint(n, text) => ints.write(out, n, |o| digits::uint(o, n), text),
            Value::Pointer(0) | Value::Unread(ReadStatus::Null, _) => {
                out.extend_from_slice(b"NULL")
            }
            Value::Pointer(p) | Value::Unread(_, p) => hex(out, p),
            Value::Str { bytes, status } => {
                c_string(out, &bytes);
                if status == ReadStatus::Truncated {
                    out.extend_from_slice(b"...");
                }
            }
            Value::SockAddr(sa) => sockaddr_text(out, &sa),
        }
    }
    out.push(b')');
}

/// A C string literal as strace prints it: printable ASCII as is, the rest escaped.
fn c_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x20..=0x7e => out.push(b),
            _ => {
                out.push(b'\\');
                if b >= 0o100 {
                    out.push(b'0' + (b >> 6));
                }
                if b >= 0o10 {
                    out.push(b'0' + ((b >> 3) & 7));
                }
                out.push(b'0' + (b & 7));
            }
        }
    }
    out.push(b'"');
}

fn sockaddr_text(out: &mut Vec<u8>, sa: &SockAddr) {
    let s = match sa {
        SockAddr::Inet { addr, port } => {
            format!("{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr(\"{addr}\")}}")
        }
        SockAddr::Inet6 { addr, port } => format!(
            "{{sa_family=AF_INET6, sin6_port=htons({port}), sin6_addr=inet_pton(AF_INET6, \"{addr}\")}}"
        ),
        SockAddr::Unix { path } => {
            let mut s = b"{sa_family=AF_UNIX, sun_path=".to_vec();
            c_string(&mut s, path);
            s.push(b'}');
            out.extend_from_slice(&s);
            return;
        }
        SockAddr::Other { .. } => format!("{{sa_family={}}}", sa.family_name()),
    };
    out.extend_from_slice(s.as_bytes());
}

/// The `args` member of a JSON record: `,"args":{...}` keyed by the kernel's parameter
/// names, and `,"call":"..."`.
fn json_fields(
    out: &mut Vec<u8>,
    name: &str,
    plan: &CallPlan,
    args: &Args,
    arch: Arch,
    policy: &ArgvPolicy,
) {
    out.extend_from_slice(b",\"args\":{");
    for (i, p) in plan.params.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        put(out, &p.key);
        match value_of(p, i, args, policy) {
            Value::Int(n, _) => digits::uint(out, n),
            Value::Uint(n, _) => digits::uint(out, n),
            Value::Pointer(0) => out.extend_from_slice(b"null"),
            Value::Pointer(p) => {
                out.push(b'"');
                hex(out, p);
                out.push(b'"');
            }
            Value::Unread(status, _) => {
                out.extend_from_slice(b"null,");
                status_field(out, &p.name, status);
            }
            Value::Str { bytes, status } => {
                if !json::string(out, &bytes) {
                    out.push(b',');
                    json::string_parts(out, &[p.name.as_bytes(), b"_b64"]);
                    out.extend_from_slice(b":\"");
                    json::base64(out, &bytes);
                    out.push(b'"');
                }
                if status != ReadStatus::Ok {
                    out.push(b',');
                    status_field(out, &p.name, status);
                }
            }
            Value::SockAddr(sa) => sockaddr_json(out, &sa),
        }
    }
    out.extend_from_slice(b"},\"call\":");
    let mut text = Vec::with_capacity(128);
    call_text(&mut text, name, plan, args, arch, policy);
    json::string(out, &text);
}

/// `"NAME_status":"truncated"` for a string or address not read in full.
fn status_field(out: &mut Vec<u8>, name: &str, status: ReadStatus) {
    json::string_parts(out, &[name.as_bytes(), b"_status"]);
    out.push(b':');
    json::string(out, status.name().as_bytes());
}

fn sockaddr_json(out: &mut Vec<u8>, sa: &SockAddr) {
    out.extend_from_slice(b"{\"family\":");
    json::string(out, sa.family_name().as_bytes());
    match sa {
        SockAddr::Inet { addr, port } => {
            out.extend_from_slice(format!(",\"addr\":\"{addr}\",\"port\":{port}").as_bytes())
        }
        SockAddr::Inet6 { addr, port } => {
            out.extend_from_slice(format!(",\"addr\":\"{addr}\",\"port\":{port}").as_bytes())
        }
        SockAddr::Unix { path } => {
            out.extend_from_slice(b",\"path\":");
            if !json::string(out, path) {
                out.extend_from_slice(b",\"path_b64\":\"");
                json::base64(out, path);
                out.push(b'"');
            }
        }
        SockAddr::Other { bytes, .. } => {
            out.extend_from_slice(b",\"data_b64\":\"");
            json::base64(out, bytes);
            out.push(b'"');
        }
    }
    out.push(b'}');
}

/// What a formatter needs to show a record's arguments.
pub struct CallArgs<'a> {
    pub plan: &'a CallPlan,
    pub args: &'a Args<'a>,
    /// The ABI the call was made in (i386 for a 32-bit program on x86_64).
    pub arch: Arch,
    pub policy: &'a ArgvPolicy,
}

impl CallArgs<'_> {
    pub fn json(&self, out: &mut Vec<u8>, name: &str) {
        json_fields(out, name, self.plan, self.args, self.arch, self.policy);
    }

    /// The human line's tail: the call text as it is. It is already safe for a terminal:
    /// its strings are C literals with every byte outside printable ASCII escaped
    /// (escaping it again would double their backslashes), the rest is names and numbers.
    pub fn human(&self, out: &mut Vec<u8>, name: &str) {
        call_text(out, name, self.plan, self.args, self.arch, self.policy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{decode, fixture, Event};
    use crate::handlers::Kind;
    use crate::signatures::Signatures;
    use crate::skel::types::read_status;

    fn event(nr: i32, raw: [u64; 6], compat: bool) -> Event<'static> {
        Event {
            ktime_ns: 1,
            pid: 10,
            tid: 10,
            ppid: Some(1),
            uid: 0,
            nr,
            cpu: 0,
            kind: Kind::Other,
            comm: b"t",
            cgroup_id: 0,
            exec: None,
            compat,
            args: Some(Args::new(raw)),
            outcome: Default::default(),
        }
    }

    /// (call text, JSON args object) of syscall `name` with these registers and captures.
    fn render(
        arch: Arch,
        name: &str,
        raw: [u64; 6],
        captures: &[(u8, u8, &[u8])],
        policy: &ArgvPolicy,
    ) -> (String, serde_json::Value) {
        let bytes = fixture::simple_with(&event(0, raw, arch == Arch::I386), captures);
        let ev = decode(&bytes).unwrap();
        let sigs = Signatures::embedded(arch);
        let plan = CallPlan::new(sigs.get_for(arch, name).unwrap(), arch);
        let call = CallArgs {
            plan: &plan,
            args: ev.args.as_ref().unwrap(),
            arch,
            policy,
        };
        let mut text = Vec::new();
        call.human(&mut text, name);
        let mut json = b"{\"x\":0".to_vec();
        call.json(&mut json, name);
        json.push(b'}');
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["call"], String::from_utf8_lossy(&text).as_ref());
        (String::from_utf8(text).unwrap(), v["args"].clone())
    }

    const OK: u8 = read_status::READ_OK.0 as u8;
    const TRUNCATED: u8 = read_status::READ_TRUNCATED.0 as u8;
    const FAULT: u8 = read_status::READ_FAULT.0 as u8;

    fn no_policy() -> ArgvPolicy {
        ArgvPolicy::new(&[]).unwrap()
    }

    #[test]
    fn openat_like_strace() {
        let at_fdcwd = (-100i64) as u64;
        let raw = [at_fdcwd, 0x7ffd_0000_1000, 0o2_000_000, 0, 0, 0];
        let (text, args) = render(
            Arch::X86_64,
            "openat",
            raw,
            &[(1, OK, b"/etc/passwd")],
            &no_policy(),
        );
        assert_eq!(
            text,
            r#"openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC, 0)"#
        );
        assert_eq!(
            args,
            serde_json::json!({"dfd": -100, "filename": "/etc/passwd", "flags": 524288, "mode": 0})
        );
    }

    #[test]
    fn creating_open_shows_the_mode_in_octal() {
        let raw = [(-100i64) as u64, 0x1000, 0o1101, 0o644, 0, 0];
        let (text, _) = render(Arch::X86_64, "openat", raw, &[(1, OK, b"/x")], &no_policy());
        assert_eq!(
            text,
            r#"openat(AT_FDCWD, "/x", O_WRONLY|O_CREAT|O_TRUNC, 0644)"#
        );
    }

    #[test]
    fn unreadable_and_truncated_strings() {
        let raw = [(-100i64) as u64, 0x7f00_dead_0000, 0, 0, 0, 0];
        let (text, args) = render(
            Arch::X86_64,
            "openat",
            raw,
            &[(1, FAULT, b"")],
            &no_policy(),
        );
        assert_eq!(text, "openat(AT_FDCWD, 0x7f00dead0000, O_RDONLY, 0)");
        assert_eq!(args["filename"], serde_json::Value::Null);
        assert_eq!(args["filename_status"], "fault");
        let (text, args) = render(
            Arch::X86_64,
            "openat",
            raw,
            &[(1, TRUNCATED, b"/aaa")],
            &no_policy(),
        );
        assert_eq!(text, r#"openat(AT_FDCWD, "/aaa"..., O_RDONLY, 0)"#);
        assert_eq!(args["filename"], "/aaa");
        assert_eq!(args["filename_status"], "truncated");
    }

    #[test]
    fn a_null_path_is_null() {
        let raw = [(-100i64) as u64, 0, 0, 0, 0, 0];
        let (text, args) = render(Arch::X86_64, "openat", raw, &[], &no_policy());
        assert_eq!(text, "openat(AT_FDCWD, NULL, O_RDONLY, 0)");
        assert_eq!(args["filename"], serde_json::Value::Null);
    }

    #[test]
    fn invalid_utf8_keeps_the_bytes() {
        let raw = [(-100i64) as u64, 0x1000, 0, 0, 0, 0];
        let (text, args) = render(
            Arch::X86_64,
            "openat",
            raw,
            &[(1, OK, b"/a\xffb")],
            &no_policy(),
        );
        assert_eq!(text, r#"openat(AT_FDCWD, "/a\377b", O_RDONLY, 0)"#);
        assert_eq!(args["filename"], "/a\u{FFFD}b");
        assert_eq!(args["filename_b64"], "L2H/Yg==");
    }

    #[test]
    fn redaction_covers_argument_strings() {
        let policy = ArgvPolicy::new(&["secret".to_string()]).unwrap();
        let raw = [(-100i64) as u64, 0x1000, 0, 0, 0, 0];
        let (text, args) = render(
            Arch::X86_64,
            "openat",
            raw,
            &[(1, OK, b"/secret/x")],
            &policy,
        );
        assert!(!text.contains("secret"), "{text}");
        assert!(!args["filename"].as_str().unwrap().contains("secret"));
    }

    #[test]
    fn socket_addresses() {
        let mut inet = vec![2u8, 0, 0x1f, 0x90, 127, 0, 0, 1];
        inet.resize(16, 0);
        let raw = [3, 0x1000, 16, 0, 0, 0];
        let (text, args) = render(
            Arch::X86_64,
            "connect",
            raw,
            &[(1, OK, &inet)],
            &no_policy(),
        );
        assert_eq!(
            text,
            r#"connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16)"#
        );
        assert_eq!(
            args["uservaddr"],
            serde_json::json!({"family": "AF_INET", "addr": "127.0.0.1", "port": 8080})
        );
        let mut unix = vec![1u8, 0];
        unix.extend_from_slice(b"/tmp/s\0");
        let (text, args) = render(
            Arch::X86_64,
            "connect",
            raw,
            &[(1, OK, &unix)],
            &no_policy(),
        );
        assert_eq!(
            text,
            r#"connect(3, {sa_family=AF_UNIX, sun_path="/tmp/s"}, 16)"#
        );
        assert_eq!(
            args["uservaddr"],
            serde_json::json!({"family": "AF_UNIX", "path": "/tmp/s"})
        );
    }

    #[test]
    fn mmap_addresses_in_hex_and_fd_signed() {
        let raw = [0, 4096, 3, 0x22, u64::MAX, 0];
        let (text, args) = render(Arch::X86_64, "mmap", raw, &[], &no_policy());
        assert_eq!(
            text,
            "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
        );
        assert_eq!(args["fd"], -1);
    }

    #[test]
    fn ia32_calls_use_32_bit_values() {
        let raw = [1, 0x0804_a000, 3, 0, 0, 0];
        let (text, args) = render(Arch::I386, "write", raw, &[], &no_policy());
        assert_eq!(text, "write(1, 0x804a000, 3)");
        assert_eq!(
            args,
            serde_json::json!({"fd": 1, "buf": "0x804a000", "count": 3})
        );
    }

    #[test]
    fn kill_names_the_signal() {
        let (text, _) = render(
            Arch::X86_64,
            "kill",
            [42, 15, 0, 0, 0, 0],
            &[],
            &no_policy(),
        );
        assert_eq!(text, "kill(42, SIGTERM)");
    }
}
