//! Any bytes a buffer could hand us: decode, then format both ways. Must never panic;
//! formatted output must stay one line, and JSON must parse.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use tailcall_logger::output::clock::Clock;
use tailcall_logger::events::decode;
use tailcall_logger::output::{human, json};

fuzz_target!(|data: &[u8]| {
    let Ok(ev) = decode(data) else {
        return;
    };
    let args: Vec<Cow<[u8]>> = ev
        .exec
        .as_ref()
        .map_or(Vec::new(), |e| e.args().map(Cow::Borrowed).collect());
    let mut line = Vec::new();
    human::event(&mut line, &ev, "execve", &args, None);
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    assert!(!line[..line.len() - 1].iter().any(|&b| b < 0x20 || b == 0x7f));
    line.clear();
    json::event(&mut line, &ev, "execve", &args, &Clock::with_offset(0), None);
    assert!(serde_json_parse(&line));
});

fn serde_json_parse(line: &[u8]) -> bool {
    // The fuzz crate avoids a serde_json dependency of its own: a JSON line from us starts
    // with '{', ends with "}\n" and has no raw control bytes inside.
    line.first() == Some(&b'{')
        && line.ends_with(b"}\n")
        && !line[..line.len() - 1].iter().any(|&b| b < 0x20)
}
