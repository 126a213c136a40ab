//! Which handler each syscall number gets, and the wording each handler logs.

use anyhow::Result;

use crate::exit::{Code, Failure};
use crate::skel::types::handler_kind;
use crate::syscalls::{self, Arch};

/// The original example's noisy syscalls, by name; mapped per architecture (names a table
/// lacks, such as fork on aarch64, are skipped).
pub const DEFAULT_IGNORED: &[&str] = &[
    "access",
    "pipe",
    "mremap",
    "shmget",
    "clone",
    "fork",
    "uname",
    "semget",
    "semctl",
    "fcntl",
    "flock",
    "getcwd",
    "getrusage",
    "ptrace",
    "getgroups",
    "sigaltstack",
    "uselib",
    "personality",
    "sysfs",
    "iopl",
    "epoll_ctl",
    "utimensat",
    "epoll_create1",
];

pub const EXEC_SYSCALLS: &[&str] = &["execve", "execveat"];
pub const TIMER_SYSCALLS: &[&str] = &[
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Other,
    Ignore,
    Exec,
    Timer,
}

impl Kind {
    pub fn from_raw(raw: u8) -> Option<Kind> {
        match handler_kind(raw.into()) {
            handler_kind::HANDLER_OTHER => Some(Kind::Other),
            handler_kind::HANDLER_IGNORE => Some(Kind::Ignore),
            handler_kind::HANDLER_EXEC => Some(Kind::Exec),
            handler_kind::HANDLER_TIMER => Some(Kind::Timer),
            _ => None,
        }
    }

    pub fn raw(self) -> u8 {
        let k = match self {
            Kind::Other => handler_kind::HANDLER_OTHER,
            Kind::Ignore => handler_kind::HANDLER_IGNORE,
            Kind::Exec => handler_kind::HANDLER_EXEC,
            Kind::Timer => handler_kind::HANDLER_TIMER,
        };
        k.0 as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Other => "other",
            Kind::Ignore => "ignore",
            Kind::Exec => "exec",
            Kind::Timer => "timer",
        }
    }
}

/// The handler a syscall gets before the user's options.
pub fn natural_kind(name: &str) -> Kind {
    if EXEC_SYSCALLS.contains(&name) {
        Kind::Exec
    } else if TIMER_SYSCALLS.contains(&name) {
        Kind::Timer
    } else {
        Kind::Other
    }
}

/// The original example's wording for a record: fixed text, and for "other" records the
/// syscall's name after it. Kept in two parts so formatting a record allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub text: &'static str,
    pub syscall: Option<&'a str>,
}

impl std::fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text)?;
        if let Some(name) = self.syscall {
            write!(f, ": {name}")?;
        }
        Ok(())
    }
}

pub fn message(kind: Kind, syscall: &str) -> Message<'_> {
    let text = match kind {
        Kind::Exec => "Executing a program",
        Kind::Timer => match syscall {
            "timer_create" => "Creating a timer",
            "timer_delete" => "Deleting a timer",
            _ => "Some other timer operation",
        },
        Kind::Other | Kind::Ignore => "Another syscall",
    };
    let syscall = matches!(kind, Kind::Other | Kind::Ignore).then_some(syscall);
    Message { text, syscall }
}

#[derive(Debug, Clone, Default)]
pub struct Selection<'a> {
    pub skip_others: bool,
    pub no_default_ignore: bool,
    pub ignore: &'a [String],
}

/// One handler per syscall number of `arch`, indexed by number; what the kernel side loads
/// into its rodata table and (for tail calls) its prog array. On x86_64 the i386 table
/// follows (`compat`), for 32-bit programs, whose syscalls have their own numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerTable {
    pub arch: Arch,
    pub kinds: Vec<Kind>,
    /// The i386 numbers' handlers on x86_64; empty elsewhere.
    pub compat: Vec<Kind>,
}

impl HandlerTable {
    pub fn build(arch: Arch, sel: &Selection) -> Result<HandlerTable> {
        // --ignore must name a syscall of the native table; the i386 table takes what it has.
        for name in sel.ignore {
            let name = name.trim();
            if syscalls::number(arch, name).is_none() {
                return Err(Failure::err(
                    Code::Usage,
                    format!("--ignore: no syscall named '{name}' on {}", arch.name()),
                ));
            }
        }
        let compat = match arch.compat() {
            Some(compat) => kinds_for(compat, sel),
            None => Vec::new(),
        };
        Ok(HandlerTable {
            arch,
            kinds: kinds_for(arch, sel),
            compat,
        })
    }

    /// The native table's length; compat keys start here.
    pub fn len(&self) -> u32 {
        self.kinds.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    pub fn kind(&self, nr: u32) -> Option<Kind> {
        self.kinds.get(nr as usize).copied()
    }

    /// The kernel's keys: native numbers, then compat_base + i386 numbers.
    pub fn keys(&self) -> impl Iterator<Item = Kind> + '_ {
        self.kinds.iter().chain(&self.compat).copied()
    }

    /// Native numbers ignored under both ABIs: the kernel drops them before it asks which
    /// ABI the syscall came from, so the ignore path stays as cheap as an empty program.
    pub fn ignored_under_any_abi(&self, nr: u32) -> bool {
        let ignored = |t: &[Kind]| t.get(nr as usize).is_none_or(|k| *k == Kind::Ignore);
        self.kind(nr) == Some(Kind::Ignore) && (self.compat.is_empty() || ignored(&self.compat))
    }
}

/// The handler of every number of `arch`'s table under `sel`.
fn kinds_for(arch: Arch, sel: &Selection) -> Vec<Kind> {
    let len = syscalls::table_len(arch) as usize;
    let mut kinds = vec![Kind::Other; len];
    for (nr, name) in syscalls::all(arch) {
        kinds[nr as usize] = natural_kind(name);
    }
    // Numbers with no name (holes in the table) can only be "other".
    if sel.skip_others {
        for k in kinds.iter_mut().filter(|k| **k == Kind::Other) {
            *k = Kind::Ignore;
        }
    }
    let defaults = DEFAULT_IGNORED.iter().filter(|_| !sel.no_default_ignore);
    for name in defaults.copied().chain(sel.ignore.iter().map(|n| n.trim())) {
        if let Some(nr) = syscalls::number(arch, name) {
            kinds[nr as usize] = Kind::Ignore;
        }
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nr(arch: Arch, name: &str) -> usize {
        syscalls::number(arch, name).unwrap() as usize
    }

    #[test]
    fn default_table_x86_64() {
        let t = HandlerTable::build(Arch::X86_64, &Selection::default()).unwrap();
        assert_eq!(t.kinds[59], Kind::Exec);
        assert_eq!(t.kinds[nr(Arch::X86_64, "execveat")], Kind::Exec);
        assert_eq!(t.kinds[222], Kind::Timer);
        assert_eq!(t.kinds[226], Kind::Timer);
        assert_eq!(t.kinds[nr(Arch::X86_64, "fork")], Kind::Ignore);
        assert_eq!(t.kinds[nr(Arch::X86_64, "epoll_create1")], Kind::Ignore);
        assert_eq!(t.kinds[nr(Arch::X86_64, "getpid")], Kind::Other);
        assert_eq!(t.len(), syscalls::table_len(Arch::X86_64));
    }

    #[test]
    fn aarch64_uses_its_own_numbers() {
        let t = HandlerTable::build(Arch::Aarch64, &Selection::default()).unwrap();
        assert_eq!(t.kinds[221], Kind::Exec);
        assert_eq!(t.kinds[107], Kind::Timer);
        // 59 is pipe2 and 222 mmap on arm64: the original example got these wrong.
        assert_eq!(t.kinds[59], Kind::Other);
        assert_eq!(t.kinds[222], Kind::Other);
    }

    #[test]
    fn options_change_the_table() {
        let extra = vec!["getpid".to_string(), " read".to_string()];
        let sel = Selection {
            skip_others: false,
            no_default_ignore: true,
            ignore: &extra,
        };
        let t = HandlerTable::build(Arch::X86_64, &sel).unwrap();
        assert_eq!(t.kinds[nr(Arch::X86_64, "getpid")], Kind::Ignore);
        assert_eq!(t.kinds[nr(Arch::X86_64, "read")], Kind::Ignore);
        assert_eq!(t.kinds[nr(Arch::X86_64, "fork")], Kind::Other);

        let sel = Selection {
            skip_others: true,
            ..Selection::default()
        };
        let t = HandlerTable::build(Arch::X86_64, &sel).unwrap();
        assert!(t
            .kinds
            .iter()
            .all(|k| matches!(k, Kind::Exec | Kind::Timer | Kind::Ignore)));
        assert_eq!(t.kinds.iter().filter(|k| **k == Kind::Timer).count(), 5);
    }

    #[test]
    fn unknown_ignore_name_is_a_usage_error() {
        let extra = vec!["no_such_call".to_string()];
        let sel = Selection {
            ignore: &extra,
            ..Selection::default()
        };
        let err = HandlerTable::build(Arch::X86_64, &sel).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 2);
        assert!(err.to_string().contains("no_such_call"));
    }

    #[test]
    fn wording_of_the_original() {
        for (kind, syscall, line) in [
            (Kind::Exec, "execve", "Executing a program"),
            (Kind::Timer, "timer_create", "Creating a timer"),
            (Kind::Timer, "timer_delete", "Deleting a timer"),
            (Kind::Timer, "timer_settime", "Some other timer operation"),
            (Kind::Other, "setitimer", "Another syscall: setitimer"),
        ] {
            assert_eq!(message(kind, syscall).to_string(), line);
        }
    }

    #[test]
    fn raw_kinds_round_trip() {
        for k in [Kind::Other, Kind::Ignore, Kind::Exec, Kind::Timer] {
            assert_eq!(Kind::from_raw(k.raw()), Some(k));
        }
        assert_eq!(Kind::from_raw(200), None);
    }
}
