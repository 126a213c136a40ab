//! Any bytes a buffer could hand us: decode, then format both ways, with and without the
//! arguments' signatures (--args), alone and through the pairing of --results (entry
//! records, outcome records, unfinished calls). Must never panic; formatted output must
//! stay one line, and JSON must parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailcall_logger::events::decode;
use tailcall_logger::output::clock::Clock;
use tailcall_logger::output::{ArgvPolicy, Format, Formatting};
use tailcall_logger::pairing::{Pairing, Step};
use tailcall_logger::signatures::Signatures;
use tailcall_logger::syscalls::Arch;

fuzz_target!(|data: &[u8]| {
    format_all(data);
    // --results: two records (split where the first byte says) through the pairing, in
    // that order, then whatever still waits as unfinished: every record it completes must
    // format like any other.
    let at = (usize::from(data.first().copied().unwrap_or(0)) * 8).min(data.len());
    let (first, second) = data.split_at(at);
    let mut pairing = Pairing::new(4);
    for part in [first, second] {
        if let Step::Complete(record) = pairing.step(part) {
            format_all(&record);
        }
    }
    for record in pairing.unfinished(u64::MAX) {
        format_all(&record);
    }
});

/// Decode, then format both ways, with and without the arguments' signatures.
fn format_all(data: &[u8]) {
    let Ok(ev) = decode(data) else {
        return;
    };
    for signatures in [None, Some(Signatures::embedded(Arch::X86_64))] {
        for format in [Format::Human, Format::Json] {
            let f = Formatting::new(
                format,
                Arch::X86_64,
                Clock::with_offset(0),
                ArgvPolicy::new(&[]).unwrap(),
                signatures.as_ref(),
            );
            let mut line = Vec::new();
            f.event(&mut line, &ev);
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            assert_eq!(line.last(), Some(&b'\n'));
            let inner = &line[..line.len() - 1];
            match format {
                Format::Human => assert!(!inner.iter().any(|&b| b < 0x20 || b == 0x7f)),
                Format::Json => assert!(json_shape(&line)),
            }
        }
    }
}

fn json_shape(line: &[u8]) -> bool {
    // The fuzz crate avoids a serde_json dependency of its own: a JSON line from us starts
    // with '{', ends with "}\n" and has no raw control bytes inside.
    line.first() == Some(&b'{')
        && line.ends_with(b"}\n")
        && !line[..line.len() - 1].iter().any(|&b| b < 0x20)
}
