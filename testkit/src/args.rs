//! `--args`: what the `--act-args` actor (crate::actors::act_args) reports, and the exact
//! records its calls must cause: the syscall, the `args` object (its keys in the kernel's
//! signature order) and the strace-style `call` text. Shared by tests/args.rs and, for the
//! scenario's own child, by the scenario binary (the `--args` cells, in the VMs too).

use serde_json::{Map, Value};

use crate::checks::b64_encode;
use crate::fixtures::{
    path_of_len, ARGS_PROBE_PATH, DEFAULT_STRING_SIZE, LONG_PATH_LEN, NOT_UTF8_NAME,
};

/// The actor's first line, printed before it waits for the go byte.
#[derive(Clone, Debug)]
pub struct Ready {
    pub pid: u32,
    pub dir: String,
    /// The TCP listener's port on 127.0.0.1.
    pub port: u16,
    /// A page that was mapped and is unmapped now: a path pointer into it cannot be read.
    pub unmapped: u64,
}

/// The actor's last line: what its calls returned.
#[derive(Clone, Debug)]
pub struct Done {
    pub file_fd: i64,
    pub created_fd: i64,
    pub inet_fd: i64,
    pub unix_fd: i64,
    pub mmap: u64,
    pub child: i64,
    pub status_addr: u64,
    pub stray_mode_fd: i64,
}

fn num(v: &Value, key: &str) -> Result<i64, String> {
    v[key].as_i64().ok_or_else(|| format!("no {key} in {v}"))
}

impl Ready {
    pub fn parse(line: &str) -> Result<Ready, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line:?}"))?;
        Ok(Ready {
            pid: num(&v, "pid")? as u32,
            dir: v["dir"].as_str().ok_or("no dir")?.to_string(),
            port: num(&v, "port")? as u16,
            unmapped: num(&v, "unmapped")? as u64,
        })
    }
}

impl Done {
    pub fn parse(line: &str) -> Result<Done, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line:?}"))?;
        Ok(Done {
            file_fd: num(&v, "file_fd")?,
            created_fd: num(&v, "created_fd")?,
            inet_fd: num(&v, "inet_fd")?,
            unix_fd: num(&v, "unix_fd")?,
            mmap: num(&v, "mmap")? as u64,
            child: num(&v, "child")?,
            status_addr: num(&v, "status_addr")? as u64,
            stray_mode_fd: num(&v, "stray_mode_fd")?,
        })
    }
}

/// One record as it must be: `args` keyed in this order, and the `call` text.
#[derive(Clone, Debug)]
pub struct Expected {
    pub syscall: &'static str,
    pub args: Vec<(String, Value)>,
    pub call: String,
}

impl Expected {
    fn new(syscall: &'static str, args: Vec<(&str, Value)>, call: String) -> Expected {
        let args = args.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        Expected {
            syscall,
            args,
            call,
        }
    }

    /// The `args` object as a JSON value.
    pub fn args_value(&self) -> Value {
        Value::Object(self.args.iter().cloned().collect::<Map<_, _>>())
    }

    /// The human line's message: the wording, then the call.
    pub fn human(&self) -> String {
        format!("Another syscall: {}", self.call)
    }

    /// Checks one JSON record (`line`, parsed as `rec`): syscall, exact `args`, their
    /// keys in signature order, exact `call`.
    pub fn check(&self, line: &str, rec: &Value) -> Result<(), String> {
        let args = self.args_value();
        if rec["syscall"] != self.syscall || rec["args"] != args || rec["call"] != *self.call {
            return Err(format!(
                "want {} args {args} call {:?}\n got {} args {} call {}",
                self.syscall, self.call, rec["syscall"], rec["args"], rec["call"]
            ));
        }
        let keys: Vec<&str> = self.args.iter().map(|(k, _)| k.as_str()).collect();
        if !keys_in_order(line, &keys) {
            return Err(format!("args keys not in the order {keys:?}: {line}"));
        }
        Ok(())
    }
}

/// True when the `args` object of the JSON text `line` has the top-level keys `keys` in
/// this order (serde_json's maps sort their keys, so the order is checked on the text).
fn keys_in_order(line: &str, keys: &[&str]) -> bool {
    let Some(start) = line.find("\"args\":{") else {
        return keys.is_empty();
    };
    let mut at = start;
    for k in keys {
        match line[at..].find(&format!("\"{k}\":")) {
            Some(i) => at += i + 1,
            None => return false,
        }
    }
    true
}

/// A path argument as `--args` shows it with `--string-size` `size`: its args members
/// (the string, and `NAME_status` when cut) and its call text (`"..."`, then `...` when
/// cut).
fn path(name: &str, p: &str, size: usize) -> (Vec<(String, Value)>, String) {
    if p.len() < size {
        return (vec![(name.into(), p.into())], format!("\"{p}\""));
    }
    let shown = &p[..size - 1];
    let members = vec![
        (name.into(), shown.into()),
        (format!("{name}_status"), "truncated".into()),
    ];
    (members, format!("\"{shown}\"..."))
}

const AT_FDCWD: i64 = -100;

/// openat(AT_FDCWD, path, flags, mode): `flags_text` as strace names them, `mode_text` as
/// the call shows the mode (0 when the flags do not create a file).
pub fn openat(
    p: &str,
    size: usize,
    flags: u64,
    flags_text: &str,
    mode: u64,
    mode_text: &str,
) -> Expected {
    let (members, text) = path("filename", p, size);
    openat_with(members, &text, flags, flags_text, mode, mode_text)
}

/// openat whose path `filename` stands for in `args` (its members) and `shown` in the call.
fn openat_with(
    filename: Vec<(String, Value)>,
    shown: &str,
    flags: u64,
    flags_text: &str,
    mode: u64,
    mode_text: &str,
) -> Expected {
    let mut args = vec![("dfd".to_string(), AT_FDCWD.into())];
    args.extend(filename);
    args.push(("flags".into(), flags.into()));
    args.push(("mode".into(), mode.into()));
    Expected {
        syscall: "openat",
        args,
        call: format!("openat(AT_FDCWD, {shown}, {flags_text}, {mode_text})"),
    }
}

/// openat(AT_FDCWD, PATH, O_RDONLY) of a path that was not read (`status` fault or null):
/// null and the status in `args`, the pointer (or NULL) in the call.
fn openat_unread(status: &str, shown: &str) -> Expected {
    let filename = vec![
        ("filename".into(), Value::Null),
        ("filename_status".into(), status.into()),
    ];
    openat_with(filename, shown, 0, "O_RDONLY", 0, "0")
}

/// The scenario's child's openat of [`ARGS_PROBE_PATH`] (O_RDONLY|O_CLOEXEC).
pub fn probe_openat() -> Expected {
    let p = ARGS_PROBE_PATH.to_str().unwrap();
    openat(p, 4096, O_RDONLY_CLOEXEC, "O_RDONLY|O_CLOEXEC", 0, "0")
}

/// mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0): mmap's
/// parameters are unsigned longs in the kernel's signature, so addr is a number in `args`
/// and NULL in the call; fd is shown as an int.
pub fn mmap_page() -> Expected {
    Expected::new(
        "mmap",
        vec![
            ("addr", 0.into()),
            ("len", 4096.into()),
            ("prot", 3.into()),
            ("flags", 0x22.into()),
            ("fd", (-1).into()),
            ("off", 0.into()),
        ],
        "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)".into(),
    )
}

// The numbers, the same on x86_64 and arm64 (asm-generic values where they differ
// elsewhere: O_CLOEXEC, O_CREAT...).
const O_RDONLY_CLOEXEC: u64 = 0o2000000;
const O_WRONLY_CREAT_TRUNC: u64 = 0o1 | 0o100 | 0o1000;
const SOCK_STREAM_CLOEXEC: u64 = 1 | 0o2000000;

fn unlinkat(path: &str, flag: u64, flag_text: &str) -> Expected {
    Expected::new(
        "unlinkat",
        vec![
            ("dfd", AT_FDCWD.into()),
            ("pathname", path.into()),
            ("flag", flag.into()),
        ],
        format!("unlinkat(AT_FDCWD, \"{path}\", {flag_text})"),
    )
}

/// socket(family, type, 0): the protocol's text depends on the family.
fn socket(family: u64, family_text: &str, ty: u64, ty_text: &str, proto_text: &str) -> Expected {
    Expected::new(
        "socket",
        vec![
            ("family", family.into()),
            ("type", ty.into()),
            ("protocol", 0.into()),
        ],
        format!("socket({family_text}, {ty_text}, {proto_text})"),
    )
}

fn close(fd: i64) -> Expected {
    Expected::new("close", vec![("fd", fd.into())], format!("close({fd})"))
}

/// The calls of `--act-args`, in order, as the records must show them with
/// `--string-size` `size`.
pub fn main_calls(r: &Ready, d: &Done, size: usize) -> Vec<Expected> {
    let at = |name: &str| format!("{}/{name}", r.dir);
    let (file, created, renamed, subdir, sock) = (
        at("file"),
        at("created"),
        at("renamed"),
        at("subdir"),
        at("sock"),
    );
    let long = path_of_len(&r.dir, LONG_PATH_LEN);
    let (child, port) = (d.child, r.port);
    vec![
        openat(&file, size, O_RDONLY_CLOEXEC, "O_RDONLY|O_CLOEXEC", 0, "0"),
        close(d.file_fd),
        openat(
            &created,
            size,
            O_WRONLY_CREAT_TRUNC,
            "O_WRONLY|O_CREAT|O_TRUNC",
            0o644,
            "0644",
        ),
        close(d.created_fd),
        Expected::new(
            "mkdirat",
            vec![
                ("dfd", AT_FDCWD.into()),
                ("pathname", subdir.clone().into()),
                ("mode", 0o755.into()),
            ],
            format!("mkdirat(AT_FDCWD, \"{subdir}\", 0755)"),
        ),
        Expected::new(
            "renameat2",
            vec![
                ("olddfd", AT_FDCWD.into()),
                ("oldname", created.clone().into()),
                ("newdfd", AT_FDCWD.into()),
                ("newname", renamed.clone().into()),
                ("flags", 1.into()),
            ],
            format!(
                "renameat2(AT_FDCWD, \"{created}\", AT_FDCWD, \"{renamed}\", RENAME_NOREPLACE)"
            ),
        ),
        unlinkat(&renamed, 0, "0"),
        unlinkat(&subdir, 0x200, "AT_REMOVEDIR"),
        socket(
            2,
            "AF_INET",
            SOCK_STREAM_CLOEXEC,
            "SOCK_STREAM|SOCK_CLOEXEC",
            "IPPROTO_IP",
        ),
        Expected::new(
            "connect",
            vec![
                ("fd", d.inet_fd.into()),
                (
                    "uservaddr",
                    serde_json::json!({"family": "AF_INET", "addr": "127.0.0.1", "port": port}),
                ),
                ("addrlen", 16.into()),
            ],
            format!(
                "connect({}, {{sa_family=AF_INET, sin_port=htons({port}), \
                 sin_addr=inet_addr(\"127.0.0.1\")}}, 16)",
                d.inet_fd
            ),
        ),
        close(d.inet_fd),
        socket(1, "AF_UNIX", 1, "SOCK_STREAM", "0"),
        Expected::new(
            "connect",
            vec![
                ("fd", d.unix_fd.into()),
                (
                    "uservaddr",
                    serde_json::json!({"family": "AF_UNIX", "path": sock}),
                ),
                ("addrlen", 110.into()),
            ],
            format!(
                "connect({}, {{sa_family=AF_UNIX, sun_path=\"{sock}\"}}, 110)",
                d.unix_fd
            ),
        ),
        close(d.unix_fd),
        mmap_page(),
        Expected::new(
            "munmap",
            vec![("addr", d.mmap.into()), ("len", 4096.into())],
            format!("munmap({:#x}, 4096)", d.mmap),
        ),
        Expected::new(
            "clone",
            vec![
                ("clone_flags", 17.into()),
                ("newsp", 0.into()),
                ("parent_tidptr", Value::Null),
                ("child_tidptr", Value::Null),
                ("tls", 0.into()),
            ],
            "clone(SIGCHLD, 0, NULL, NULL, 0)".into(),
        ),
        Expected::new(
            "kill",
            vec![("pid", child.into()), ("sig", 15.into())],
            format!("kill({child}, SIGTERM)"),
        ),
        Expected::new(
            "wait4",
            vec![
                ("upid", child.into()),
                ("stat_addr", format!("{:#x}", d.status_addr).into()),
                ("options", 0.into()),
                ("ru", Value::Null),
            ],
            format!("wait4({child}, {:#x}, 0, NULL)", d.status_addr),
        ),
        openat_unread("fault", &format!("{:#x}", r.unmapped)),
        openat(&long, size, 0, "O_RDONLY", 0, "0"),
        openat_not_utf8(&r.dir),
        openat_unread("null", "NULL"),
    ]
}

/// openat(`dir/`[`NOT_UTF8_NAME`], O_RDONLY): U+FFFD for the bad byte and the exact bytes
/// in `filename_b64`; strace's octal escape in the call.
fn openat_not_utf8(dir: &str) -> Expected {
    let bytes = [format!("{dir}/").as_bytes(), NOT_UTF8_NAME].concat();
    let lossy = String::from_utf8_lossy(&bytes).into_owned();
    let escaped: String = bytes
        .iter()
        .map(|&b| match b {
            0x20..=0x7e => (b as char).to_string(),
            _ => format!("\\{b:o}"),
        })
        .collect();
    let filename = vec![
        ("filename".into(), lossy.into()),
        ("filename_b64".into(), b64_encode(&bytes).into()),
    ];
    openat_with(filename, &format!("\"{escaped}\""), 0, "O_RDONLY", 0, "0")
}

/// The calls `--act-args --probes` makes after [`main_calls`]: a path of exactly
/// `DEFAULT_STRING_SIZE - 1` bytes (with its NUL it fits the default string size: not
/// truncated), and an openat that does not create a file with 0600 in the mode register
/// (the call shows the mode as 0; `args` keeps the register's value).
pub fn probe_calls(r: &Ready, d: &Done, size: usize) -> Vec<Expected> {
    let edge = path_of_len(&r.dir, DEFAULT_STRING_SIZE - 1);
    let file = format!("{}/file", r.dir);
    vec![
        openat(&edge, size, 0, "O_RDONLY", 0, "0"),
        openat(
            &file,
            size,
            O_RDONLY_CLOEXEC,
            "O_RDONLY|O_CLOEXEC",
            0o600,
            "0",
        ),
        close(d.stray_mode_fd),
    ]
}
