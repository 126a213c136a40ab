//! Where records go and in which format. human.rs and json.rs format one record into a
//! buffer; the Sink owns the destination (stdout or a file, reopened on SIGHUP), batches
//! writes and notices a reader that went away.

pub mod call;
pub mod cgroup;
pub mod clock;
pub mod digits;
pub mod human;
pub mod json;
pub mod outcome;
pub mod put;
pub mod text;

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result};

use self::call::CallArgs;
use self::call::Plans;
use self::cgroup::CgroupNames;
use self::clock::Clock;
use crate::signatures::Signatures;

use crate::events::Event;
use crate::exit::{Code, Failure};
use crate::syscalls::{self, Arch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

/// What may be shown of argv: patterns whose matches are replaced (--redact). Omitting argv
/// altogether (--no-argv) happens in the kernel, so it never leaves it.
#[derive(Debug, Default, Clone)]
pub struct ArgvPolicy {
    redact: Vec<regex::bytes::Regex>,
}

pub const REDACTED: &[u8] = b"<redacted>";

impl ArgvPolicy {
    pub fn new(patterns: &[String]) -> Result<ArgvPolicy> {
        let redact = patterns
            .iter()
            .map(|p| {
                regex::bytes::Regex::new(p)
                    .map_err(|e| Failure::err(Code::Usage, format!("--redact {p:?}: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(ArgvPolicy { redact })
    }

    pub fn apply<'a>(&self, args: impl Iterator<Item = &'a [u8]>) -> Vec<Cow<'a, [u8]>> {
        args.map(|arg| self.apply_one(arg)).collect()
    }

    /// One string with the matches replaced (borrowed when nothing matched).
    pub fn apply_one<'a>(&self, arg: &'a [u8]) -> Cow<'a, [u8]> {
        let mut arg = Cow::Borrowed(arg);
        for re in &self.redact {
            if let Cow::Owned(replaced) = re.replace_all(&arg, REDACTED) {
                arg = Cow::Owned(replaced);
            }
        }
        arg
    }
}

/// How records become lines: everything but where they go.
pub struct Formatting {
    pub format: Format,
    /// The native architecture; ia32 records are named by its compat table.
    pub arch: Arch,
    pub clock: Clock,
    pub argv: ArgvPolicy,
    /// With --args: how each syscall's arguments are shown, from the kernel's signatures.
    plans: Option<Plans>,
    /// The cgroup fields and tags; without a resolver (the default) the names are null.
    cgroups: CgroupNames,
}

impl Formatting {
    /// `signatures` with --args.
    pub fn new(
        format: Format,
        arch: Arch,
        clock: Clock,
        argv: ArgvPolicy,
        signatures: Option<&Signatures>,
    ) -> Formatting {
        Formatting {
            format,
            arch,
            clock,
            argv,
            plans: signatures.map(|s| Plans::new(s, arch)),
            cgroups: CgroupNames::default(),
        }
    }

    /// The same, with records' cgroup ids resolved (and tagged in human lines) by `cgroups`.
    pub fn with_cgroups(self, cgroups: CgroupNames) -> Formatting {
        Formatting { cgroups, ..self }
    }

    /// One record, as a line appended to `out`.
    pub fn event(&self, out: &mut Vec<u8>, ev: &Event) {
        // A 32-bit program's syscall numbers are the i386 table's.
        let arch = match (ev.compat, self.arch.compat()) {
            (true, Some(compat)) => compat,
            _ => self.arch,
        };
        let name = syscall_name(arch, ev.nr);
        let args = match &ev.exec {
            Some(exec) => self.argv.apply(exec.args()),
            None => Vec::new(),
        };
        let call = match (&self.plans, &ev.args) {
            (Some(plans), Some(raw)) => Some(CallArgs {
                plan: plans.get(ev.nr, arch != self.arch),
                args: raw,
                arch,
                policy: &self.argv,
            }),
            _ => None,
        };
        match self.format {
            Format::Human => {
                human::event(out, ev, &name, &args, call.as_ref(), arch, &self.cgroups)
            }
            Format::Json => json::event(
                out,
                ev,
                &name,
                &args,
                &self.clock,
                call.as_ref(),
                arch,
                &self.cgroups,
            ),
        }
    }
}

pub struct Sink {
    file: File,
    path: Option<PathBuf>,
    /// Records are formatted straight into this batch, written out when it is full or on
    /// flush: one copy per record fewer than a line buffer plus a BufWriter.
    batch: Vec<u8>,
    pub format: Format,
    formatting: Formatting,
}

const BATCH_BYTES: usize = 256 * 1024;

fn open_file(path: &PathBuf) -> Result<File> {
    // 0600: argv can carry secrets.
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            Failure::err(
                Code::Output,
                format!("cannot open --output {}: {e}", path.display()),
            )
        })
}

fn stdout_file() -> Result<File> {
    let fd = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating stdout")?;
    Ok(File::from(fd))
}

/// The name a record shows for its syscall number: the table's, or syscall_NNN.
pub fn syscall_name(arch: Arch, nr: i32) -> std::borrow::Cow<'static, str> {
    u32::try_from(nr)
        .ok()
        .and_then(|n| syscalls::name(arch, n))
        .map_or_else(|| format!("syscall_{nr}").into(), Into::into)
}

impl Sink {
    pub fn open(path: Option<PathBuf>, formatting: Formatting) -> Result<Sink> {
        let file = match &path {
            Some(p) => open_file(p)?,
            None => stdout_file()?,
        };
        Ok(Sink {
            file,
            path,
            batch: Vec::with_capacity(BATCH_BYTES + 8192),
            format: formatting.format,
            formatting,
        })
    }

    /// Log rotation: flush what is buffered into the old file, then continue in a new one.
    pub fn reopen(&mut self) -> Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        self.flush().context("flushing before reopen")?;
        self.file = open_file(&path)?;
        Ok(())
    }

    pub fn event(&mut self, ev: &Event) -> io::Result<()> {
        self.formatting.event(&mut self.batch, ev);
        self.flush_if_full()
    }

    /// A control record in the JSON stream (JSON mode only; human mode reports on stderr).
    pub fn control(&mut self, kind: &str, fields: serde_json::Value) -> io::Result<()> {
        if self.format != Format::Json {
            return Ok(());
        }
        json::control(&mut self.batch, kind, &self.formatting.clock, fields);
        self.flush_if_full()
    }

    /// Human text as it is (the --count table); JSON sinks take control records instead.
    pub fn text(&mut self, text: &str) -> io::Result<()> {
        if self.format != Format::Human {
            return Ok(());
        }
        self.batch.extend_from_slice(text.as_bytes());
        self.flush_if_full()
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.batch.len() >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the batch out. On an error the batch is dropped: the caller stops.
    pub fn flush(&mut self) -> io::Result<()> {
        let r = self.file.write_all(&self.batch);
        self.batch.clear();
        r
    }

    /// True when nobody can read what we write any more (`| head -n 1` exited): poll
    /// reports POLLERR/POLLHUP on the fd even while we have nothing to write.
    pub fn reader_gone(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let fd = self.file.as_fd();
        if self.path.is_some() {
            return false;
        }
        let mut fds = [PollFd::new(fd, PollFlags::empty())];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(n) if n > 0 => fds[0]
                .revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_every_match() {
        let policy =
            ArgvPolicy::new(&["password=\\S+".to_string(), "tok_[a-z0-9]+".to_string()]).unwrap();
        let args: Vec<&[u8]> = vec![
            b"curl",
            b"password=hunter2",
            b"-H",
            b"x tok_abc123 y",
            b"\xff",
        ];
        let out = policy.apply(args.into_iter());
        assert_eq!(out[0].as_ref(), b"curl");
        assert_eq!(out[1].as_ref(), b"<redacted>");
        assert_eq!(out[3].as_ref(), b"x <redacted> y");
        assert_eq!(out[4].as_ref(), b"\xff");
        assert!(matches!(out[0], Cow::Borrowed(_)));
    }

    #[test]
    fn bad_pattern_is_a_usage_error() {
        let err = ArgvPolicy::new(&["(".to_string()]).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), 2);
    }
}
