//! HPACK against the hpack-test-case corpus: decode every story of every
//! encoder, and encode every `raw-data` story and decode it back with our
//! decoder, the `hpack` 0.3 crate and Python's `hpack` package.
//!
//! The corpus is `$H2PROTO_HPACK_CORPUS` or
//! `../shared/testdata/hpack-test-case`; without it these tests print
//! `SKIPPED: ...` and pass, unless `CI=true`.

#[path = "support/hpack_corpus.rs"]
mod corpus;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;

use bytes::{Bytes, BytesMut};
use h2proto::hpack::{Decoder, Encoder, HeaderField};

use corpus::Story;

fn skip_or_fail(what: &str) {
    assert!(!corpus::in_ci(), "{what} (CI=true: not skipping)");
    println!("SKIPPED: {what}");
}

fn load(sub: Option<&str>) -> Option<Vec<Story>> {
    let root = corpus::corpus_root();
    let loaded = match sub {
        Some(sub) => corpus::load_dir(&root.join(sub)),
        None => corpus::load_wire_stories(&root),
    };
    match loaded {
        Ok(stories) if !stories.is_empty() => Some(stories),
        Ok(_) => {
            skip_or_fail(&format!(
                "no hpack-test-case stories under {}",
                root.display()
            ));
            None
        }
        Err(e) => {
            skip_or_fail(&format!(
                "hpack-test-case corpus not readable at {}: {e}",
                root.display()
            ));
            None
        }
    }
}

fn pairs(fields: &[HeaderField]) -> Pairs {
    fields
        .iter()
        .map(|f| (f.name.to_vec(), f.value.to_vec()))
        .collect()
}

#[test]
fn decodes_every_story_exactly() {
    let Some(stories) = load(None) else { return };
    let (mut cases, mut failures) = (0, Vec::new());
    for story in &stories {
        let first = story.cases.first().and_then(|c| c.header_table_size);
        let mut decoder = Decoder::new(first.unwrap_or(4096));
        for (i, case) in story.cases.iter().enumerate() {
            let Some(wire) = &case.wire else { continue };
            if i > 0
                && let Some(size) = case.header_table_size
            {
                decoder.set_max_table_size(size);
            }
            cases += 1;
            let mut out = Vec::new();
            match decoder.decode(&Bytes::copy_from_slice(wire), &mut out) {
                Ok(()) if pairs(&out) == case.headers => {}
                Ok(()) => failures.push(format!("{} case {i}: mismatch", story.path.display())),
                Err(e) => failures.push(format!("{} case {i}: {e}", story.path.display())),
            }
        }
    }
    println!(
        "decoded {} stories, {cases} cases, {} failures",
        stories.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        cases > 20_000,
        "expected the whole corpus, got {cases} cases"
    );
}

/// Encodes `raw-data` with a fresh encoder per story; returns per story the
/// (block, header list) of each case, after checking our own decoder.
/// A header list as (name, value) pairs.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn encode_raw_data(stories: &[Story]) -> Vec<Vec<(Vec<u8>, Pairs)>> {
    let (mut plain, mut compressed) = (0usize, 0usize);
    let mut all = Vec::new();
    for story in stories {
        let mut encoder = Encoder::new(4096);
        let mut decoder = Decoder::new(4096);
        let mut buf = BytesMut::new();
        let mut encoded = Vec::new();
        for (i, case) in story.cases.iter().enumerate() {
            let fields: Vec<HeaderField> = case
                .headers
                .iter()
                .map(|(n, v)| HeaderField::new(n.clone(), v.clone()))
                .collect();
            encoder.encode(&fields, &mut buf);
            let block = buf.split().freeze();
            plain += case
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
            compressed += block.len();
            let mut out = Vec::new();
            decoder
                .decode(&block, &mut out)
                .unwrap_or_else(|e| panic!("{} case {i}: {e}", story.path.display()));
            assert_eq!(
                pairs(&out),
                case.headers,
                "{} case {i}",
                story.path.display()
            );
            encoded.push((block.to_vec(), case.headers.clone()));
        }
        all.push(encoded);
    }
    println!(
        "raw-data encoded: {compressed} bytes for {plain} name+value bytes = {:.2}% of plain",
        100.0 * compressed as f64 / plain as f64
    );
    all
}

#[test]
fn encodes_raw_data_for_three_decoders() {
    let Some(stories) = load(Some("raw-data")) else {
        return;
    };
    let encoded = encode_raw_data(&stories);

    // The hpack 0.3 crate: an oracle only. It decodes static index 15 as
    // `accept-` (not `accept-charset`), and panics on some input, so it runs
    // under catch_unwind on our (valid) output.
    let mut cases = 0;
    for (s, story) in encoded.iter().enumerate() {
        let mut oracle = hpack::Decoder::new();
        for (i, (block, want)) in story.iter().enumerate() {
            cases += 1;
            let got = catch_unwind(AssertUnwindSafe(|| oracle.decode(block)))
                .unwrap_or_else(|_| panic!("hpack 0.3 panicked on story {s} case {i}"))
                .unwrap_or_else(|e| panic!("hpack 0.3 rejected story {s} case {i}: {e:?}"));
            let got: Pairs = got
                .into_iter()
                .map(|(n, v)| {
                    if n == b"accept-" {
                        (b"accept-charset".to_vec(), v)
                    } else {
                        (n, v)
                    }
                })
                .collect();
            assert_eq!(&got, want, "hpack 0.3: story {s} case {i}");
        }
    }
    println!(
        "hpack 0.3: {} stories, {cases} cases, 0 mismatches",
        encoded.len()
    );

    // Python's hpack package, through tests/hpack_python_oracle.py.
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let json: Vec<Vec<serde_json::Value>> = encoded
        .iter()
        .map(|story| {
            story
                .iter()
                .map(|(block, headers)| {
                    serde_json::json!({
                        "wire": hex(block),
                        "headers": headers.iter().map(|(n, v)| [hex(n), hex(v)]).collect::<Vec<_>>(),
                    })
                })
                .collect()
        })
        .collect();
    let path =
        std::env::temp_dir().join(format!("h2proto-hpack-encoded-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(&json).expect("json")).expect("write temp file");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hpack_python_oracle.py");
    let output = Command::new("python3").arg(script).arg(&path).output();
    let _ = std::fs::remove_file(&path);
    match output {
        Err(e) => skip_or_fail(&format!(
            "python3 not runnable ({e}); Python hpack oracle not run"
        )),
        Ok(out) if out.status.code() == Some(3) => {
            skip_or_fail("Python `hpack` package not installed (pip install hpack); oracle not run")
        }
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            println!("{}", stdout.trim_end());
            assert!(
                out.status.success(),
                "Python hpack disagrees:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
