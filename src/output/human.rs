//! Human lines in the layout of the kernel trace pipe the original example read:
//! `COMM-PID [CPU] SECONDS.MICROS: MESSAGE`, with the exec details after the wording.

use std::borrow::Cow;

use super::call::CallArgs;
use super::cgroup::CgroupNames;
use super::digits;
use super::outcome;
use super::text::{escape_into, push_arg};
use crate::events::{Event, ReadStatus};
use crate::handlers::{self, Kind};
use crate::syscalls::Arch;

/// `args` is the exec record's argv after the argv policy (redaction) was applied; `call`
/// the syscall's arguments with --args, shown strace-style after the wording; `cgroups`
/// gives the container or unit tag before the wording.
pub fn event(
    out: &mut Vec<u8>,
    ev: &Event,
    syscall: &str,
    args: &[Cow<[u8]>],
    call: Option<&CallArgs>,
    arch: Arch,
    cgroups: &CgroupNames,
) {
    // Right-aligned in 16 columns like the trace pipe; escaped in place, then padded.
    let start = out.len();
    escape_into(out, ev.comm, false);
    let pad = 16usize.saturating_sub(out.len() - start);
    out.splice(start..start, std::iter::repeat_n(b' ', pad));
    out.push(b'-');
    digits::left(out, ev.tid.into(), 7);
    out.extend_from_slice(b" [");
    digits::padded(out, ev.cpu.into(), 3);
    out.extend_from_slice(b"] ");
    digits::uint(out, ev.ktime_ns / 1_000_000_000);
    out.push(b'.');
    digits::padded(out, ev.ktime_ns % 1_000_000_000 / 1000, 6);
    out.extend_from_slice(b": ");
    cgroups.human_tag(out, ev.cgroup_id, ev.pid);
    let message = handlers::message(ev.kind, syscall);
    out.extend_from_slice(message.text.as_bytes());
    if let Some(call) = call {
        out.extend_from_slice(b": ");
        call.human(out, syscall);
        outcome::human(out, ev.outcome, syscall, arch);
        out.push(b'\n');
        return;
    }
    if let Some(name) = message.syscall {
        out.extend_from_slice(b": ");
        escape_into(out, name.as_bytes(), false);
    }
    if let (Kind::Exec, Some(exec)) = (ev.kind, &ev.exec) {
        out.extend_from_slice(b": ");
        match exec.filename_status {
            ReadStatus::Fault => out.extend_from_slice(b"<unreadable filename>"),
            ReadStatus::Null => out.extend_from_slice(b"<null filename>"),
            ReadStatus::Omitted => out.extend_from_slice(b"<filename omitted>"),
            ReadStatus::Ok | ReadStatus::Truncated => push_arg(out, exec.filename),
        }
        if exec.filename_status == ReadStatus::Truncated {
            out.extend_from_slice(b"[...]");
        }
        // argv[0] is usually the filename again; the trace-pipe style shows the rest.
        for arg in args.iter().skip(1) {
            out.push(b' ');
            push_arg(out, arg);
        }
        match exec.argv_status {
            ReadStatus::Ok => {}
            ReadStatus::Truncated => out.extend_from_slice(b" [argv truncated]"),
            ReadStatus::Fault => out.extend_from_slice(b" <argv unreadable>"),
            ReadStatus::Null => out.extend_from_slice(b" <null argv>"),
            ReadStatus::Omitted => out.extend_from_slice(b" <argv omitted>"),
        }
    }
    outcome::human(out, ev.outcome, syscall, arch);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{decode, fixture};

    /// filename, argv, argv status
    type ExecParts<'a> = (&'a [u8], &'a [&'a [u8]], u8);

    fn line(kind: Kind, nr: i32, syscall: &str, comm: &[u8], exec: Option<ExecParts>) -> String {
        let h = Event {
            ktime_ns: 91_935_368_240_999,
            pid: 26551,
            tid: 26551,
            ppid: Some(1),
            uid: 0,
            nr,
            cpu: 52,
            kind,
            comm,
            cgroup_id: 0,
            exec: None,
            compat: false,
            args: None,
            outcome: Default::default(),
        };
        let bytes = match exec {
            Some((f, args, st)) => fixture::exec(&h, f, 0, args, st),
            None => fixture::simple(&h),
        };
        let ev = decode(&bytes).unwrap();
        let args: Vec<Cow<[u8]>> = ev
            .exec
            .as_ref()
            .map_or(Vec::new(), |e| e.args().map(Cow::Borrowed).collect());
        let mut out = Vec::new();
        event(
            &mut out,
            &ev,
            syscall,
            &args,
            None,
            Arch::X86_64,
            &CgroupNames::default(),
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn layout_of_the_trace_pipe() {
        assert_eq!(
            line(Kind::Exec, 59, "execve", b"git", Some((b"/usr/bin/git", &[b"git", b"status"], 0))),
            "             git-26551   [052] 91935.368240: Executing a program: /usr/bin/git status\n"
        );
        assert_eq!(
            line(Kind::Other, 38, "setitimer", b"Xorg", None),
            "            Xorg-26551   [052] 91935.368240: Another syscall: setitimer\n"
        );
        assert_eq!(
            line(Kind::Timer, 222, "timer_create", b"sleep", None),
            "           sleep-26551   [052] 91935.368240: Creating a timer\n"
        );
    }

    #[test]
    fn hostile_strings_stay_on_one_line() {
        let l = line(
            Kind::Exec,
            59,
            "execve",
            b"ev\x1b]0;x\x07il",
            Some((
                b"/tmp/a\nb",
                &[b"a", b"x\ry", b"\xe2\x80\xae", b"two words", b""],
                1,
            )),
        );
        assert_eq!(l.matches('\n').count(), 1);
        assert!(!l.bytes().any(|b| b < 0x20 && b != b'\n'));
        assert!(l.contains("ev\\e]0;x\\x07il-"));
        assert!(l.ends_with(": /tmp/a\\nb x\\ry \\u{202e} \"two words\" \"\" [argv truncated]\n"));
    }
}
