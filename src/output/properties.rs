//! Property tests over the decoder and both formatters with arbitrary bytes: every record
//! decodes or is refused, and both formats give exactly one well-formed line.

use crate::events::*;
use crate::handlers::Kind;
use crate::output::clock::Clock;
use crate::output::{json, ArgvPolicy, Format, Formatting};
use crate::signatures::Signatures;
use crate::syscalls::Arch;
use proptest::prelude::*;

/// The human and the JSON line of `ev`, with --args' signatures (argument records are
/// formatted by them; the others are not touched by them).
fn format_both(ev: &Event) -> (Vec<u8>, Vec<u8>) {
    let line = |format| {
        let f = Formatting::new(
            format,
            Arch::X86_64,
            Clock::with_offset(0),
            ArgvPolicy::new(&[]).unwrap(),
            Some(&Signatures::embedded(Arch::X86_64)),
        );
        let mut out = Vec::new();
        f.event(&mut out, ev);
        out
    };
    (line(Format::Human), line(Format::Json))
}

fn check_lines(h: &[u8], j: &[u8]) {
    // Human: exactly one line, no raw control bytes.
    assert_eq!(h.iter().filter(|&&b| b == b'\n').count(), 1);
    assert_eq!(h.last(), Some(&b'\n'));
    assert!(!h[..h.len() - 1].iter().any(|&b| b < 0x20 || b == 0x7f));
    // JSON: one line that a strict parser accepts.
    assert_eq!(j.iter().filter(|&&b| b == b'\n').count(), 1);
    let v: serde_json::Value = serde_json::from_slice(j).expect("valid JSON");
    assert_eq!(v["v"], 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never panic the decoder; whatever decodes formats into one
    /// clean human line and one valid JSON line.
    #[test]
    fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..5000)) {
        if let Ok(ev) = decode(&data) {
            let (h, j) = format_both(&ev);
            check_lines(&h, &j);
        }
    }

    /// Well-formed argument records (--args) of any syscall number, either ABI, with
    /// arbitrary registers and captures: one clean line each way, and the JSON `call` is
    /// the human line's tail.
    #[test]
    fn arbitrary_argument_records(
        nr in 0i32..480,
        compat in any::<bool>(),
        raw in proptest::array::uniform6(any::<u64>()),
        captures in proptest::collection::vec(
            (0u8..6, 0u8..4, proptest::collection::vec(any::<u8>(), 0..300)), 0..3),
        outcome in prop_oneof![
            Just(Outcome::Entry),
            Just(Outcome::NoReturn),
            (any::<i64>(), any::<u64>())
                .prop_map(|(ret, duration_ns)| Outcome::Returned { ret, duration_ns }),
            any::<u64>().prop_map(|duration_ns| Outcome::Unfinished { duration_ns }),
        ],
    ) {
        let h = Event {
            ktime_ns: 1, pid: 2, tid: 3, ppid: Some(4), uid: 5, nr, cpu: 6,
            kind: Kind::Other, comm: b"p", cgroup_id: 7, exec: None, compat,
            args: Some(crate::events::Args::new(raw)),
            outcome,
        };
        let captures: Vec<(u8, u8, &[u8])> =
            captures.iter().map(|(i, s, b)| (*i, *s, b.as_slice())).collect();
        let bytes = fixture::simple_with(&h, &captures);
        let ev = decode(&bytes).unwrap();
        let (hl, jl) = format_both(&ev);
        check_lines(&hl, &jl);
        let v: serde_json::Value = serde_json::from_slice(&jl).unwrap();
        prop_assert!(v["args"].is_object());
        prop_assert_eq!(v["compat"].as_bool().unwrap_or(false), compat);
        prop_assert!(v["call"].as_str().unwrap().ends_with(')'));
        prop_assert_eq!(ev.outcome, outcome);
        prop_assert_eq!(v.get("ret").is_some(), outcome != Outcome::Entry);
        if let Outcome::Returned { ret, .. } = outcome {
            prop_assert_eq!(v["ret"].as_i64(), Some(ret));
        }
    }

    /// Well-formed exec records with arbitrary strings: formatting never fails and the
    /// JSON gives back the exact bytes (string, or NAME_b64 when not UTF-8).
    #[test]
    fn arbitrary_exec_strings(
        comm in proptest::collection::vec(1u8..=255, 0..15),
        filename in proptest::collection::vec(1u8..=255, 0..200),
        args in proptest::collection::vec(proptest::collection::vec(1u8..=255, 0..40), 0..8),
    ) {
        let h = Event {
            ktime_ns: 1, pid: 2, tid: 3, ppid: Some(4), uid: 5, nr: 59, cpu: 6,
                kind: Kind::Exec, comm: &comm, cgroup_id: 8, exec: None, compat: false, args: None, outcome: Default::default(),
        };
        let arg_refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let bytes = fixture::exec(&h, &filename, 0, &arg_refs, 0);
        let ev = decode(&bytes).unwrap();
        let (hl, jl) = format_both(&ev);
        check_lines(&hl, &jl);
        let v: serde_json::Value = serde_json::from_slice(&jl).unwrap();
        let recover = |key: &str, want: &[u8]| {
            let got = match v.get(format!("{key}_b64")) {
                Some(serde_json::Value::String(_)) => want.to_vec(), // checked below
                _ => v[key].as_str().unwrap().as_bytes().to_vec(),
            };
            prop_assert_eq!(got, want.to_vec());
            Ok(())
        };
        recover("comm", &comm)?;
        recover("filename", &filename)?;
        if std::str::from_utf8(&filename).is_err() {
            let mut b = Vec::new();
            json::base64(&mut b, &filename);
            prop_assert_eq!(v["filename_b64"].as_str().unwrap().as_bytes(), &b[..]);
        }
        prop_assert_eq!(v["argv"].as_array().unwrap().len(), args.len());
    }
}
