//! Runs the HPACK decoder (or encoder) over hpack-test-case stories.
//!
//! ```sh
//! cargo run --release --example hpack_corpus -- DIR...      # decode and check every story
//! cargo run --release --example hpack_corpus -- --encode DIR # encode raw-data stories, decode back
//! ```
//!
//! A DIR is either one encoder's directory of `story_*.json` files or a
//! corpus root holding such directories. The last line is always
//! `hpack-corpus: S stories, C cases, M mismatches, E errors, X MB/s`
//! (MB = 10^6 bytes; decode throughput over wire bytes, or with `--encode`,
//! encode throughput over name + value bytes). Exits non-zero on any
//! mismatch or error.

#[path = "../tests/support/hpack_corpus.rs"]
mod corpus;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2proto::hpack::{Decoder, Encoder, HeaderField};

use corpus::Story;

/// Timed passes run until at least this long has been spent.
const MIN_TIMING: Duration = Duration::from_millis(1000);

fn main() -> ExitCode {
    let mut encode = false;
    let mut dirs = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--encode" => encode = true,
            "-h" | "--help" => {
                println!("usage: hpack_corpus [--encode] DIR...");
                return ExitCode::SUCCESS;
            }
            _ => dirs.push(PathBuf::from(arg)),
        }
    }
    if dirs.is_empty() {
        eprintln!("usage: hpack_corpus [--encode] DIR...");
        return ExitCode::from(2);
    }
    let mut stories = Vec::new();
    for dir in &dirs {
        let loaded = if encode {
            corpus::load_dir(dir)
        } else {
            corpus::load_wire_stories(dir)
        };
        match loaded {
            Ok(s) => stories.extend(s),
            Err(e) => {
                eprintln!("hpack_corpus: {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    let (mismatches, errors) = if encode {
        run_encode(&stories)
    } else {
        run_decode(&stories)
    };
    if mismatches + errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn to_pairs(fields: &[HeaderField]) -> Vec<(Vec<u8>, Vec<u8>)> {
    fields
        .iter()
        .map(|f| (f.name.to_vec(), f.value.to_vec()))
        .collect()
}

/// Decodes every story once, checking each header list, then times more passes.
fn run_decode(stories: &[Story]) -> (usize, usize) {
    let blocks: Vec<Vec<(Option<usize>, Bytes)>> = stories
        .iter()
        .map(|s| {
            s.cases
                .iter()
                .filter_map(|c| {
                    c.wire
                        .as_ref()
                        .map(|w| (c.header_table_size, Bytes::copy_from_slice(w)))
                })
                .collect()
        })
        .collect();
    let (mut cases, mut mismatches, mut errors) = (0, 0, 0);
    let mut out = Vec::new();
    for (story, blocks) in stories.iter().zip(&blocks) {
        let mut decoder = new_decoder(blocks);
        for (i, ((size, block), case)) in blocks
            .iter()
            .zip(story.cases.iter().filter(|c| c.wire.is_some()))
            .enumerate()
        {
            cases += 1;
            if i > 0
                && let Some(size) = size
            {
                decoder.set_max_table_size(*size);
            }
            out.clear();
            match decoder.decode(block, &mut out) {
                Err(e) => {
                    errors += 1;
                    eprintln!("{} case {i}: error: {e}", story.path.display());
                }
                Ok(()) if to_pairs(&out) != case.headers => {
                    mismatches += 1;
                    eprintln!(
                        "{} case {i}: mismatch\n got:\n  {}\n want:\n  {}",
                        story.path.display(),
                        corpus::show(&to_pairs(&out)),
                        corpus::show(&case.headers)
                    );
                }
                Ok(()) => {}
            }
        }
    }
    let wire: usize = stories.iter().map(Story::wire_len).sum();
    let start = Instant::now();
    let mut passes = 0u32;
    while passes == 0 || start.elapsed() < MIN_TIMING {
        for blocks in &blocks {
            let mut decoder = new_decoder(blocks);
            for (i, (size, block)) in blocks.iter().enumerate() {
                if i > 0
                    && let Some(size) = size
                {
                    decoder.set_max_table_size(*size);
                }
                out.clear();
                let _ = decoder.decode(block, &mut out);
            }
        }
        passes += 1;
    }
    let mbps = wire as f64 * f64::from(passes) / start.elapsed().as_secs_f64() / 1e6;
    println!("decoded {wire} wire bytes, {passes} timed passes");
    println!(
        "hpack-corpus: {} stories, {cases} cases, {mismatches} mismatches, {errors} errors, {mbps:.1} MB/s",
        stories.len()
    );
    (mismatches, errors)
}

fn new_decoder(blocks: &[(Option<usize>, Bytes)]) -> Decoder {
    Decoder::new(blocks.first().and_then(|b| b.0).unwrap_or(4096))
}

/// Encodes every story, decodes it back and checks it, then times more passes.
fn run_encode(stories: &[Story]) -> (usize, usize) {
    let lists: Vec<Vec<Vec<HeaderField>>> = stories
        .iter()
        .map(|s| {
            s.cases
                .iter()
                .map(|c| {
                    c.headers
                        .iter()
                        .map(|(n, v)| {
                            HeaderField::new(Bytes::copy_from_slice(n), Bytes::copy_from_slice(v))
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let (mut cases, mut mismatches, mut errors, mut compressed) = (0, 0, 0, 0);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for (story, lists) in stories.iter().zip(&lists) {
        let mut encoder = Encoder::new(4096);
        let mut decoder = Decoder::new(4096);
        for (i, list) in lists.iter().enumerate() {
            cases += 1;
            encoder.encode(list, &mut buf);
            compressed += buf.len();
            out.clear();
            match decoder.decode(&buf.split().freeze(), &mut out) {
                Err(e) => {
                    errors += 1;
                    eprintln!(
                        "{} case {i}: our decoder failed on our output: {e}",
                        story.path.display()
                    );
                }
                Ok(()) if to_pairs(&out) != to_pairs(list) => {
                    mismatches += 1;
                    eprintln!("{} case {i}: round trip mismatch", story.path.display());
                }
                Ok(()) => {}
            }
        }
    }
    let plain: usize = stories.iter().map(Story::plain_len).sum();
    let start = Instant::now();
    let mut passes = 0u32;
    while passes == 0 || start.elapsed() < MIN_TIMING {
        for lists in &lists {
            let mut encoder = Encoder::new(4096);
            for list in lists {
                buf.clear();
                encoder.encode(list, &mut buf);
            }
        }
        passes += 1;
    }
    let mbps = plain as f64 * f64::from(passes) / start.elapsed().as_secs_f64() / 1e6;
    println!(
        "encoded {plain} name+value bytes into {compressed} bytes ({:.1}% of plain), {passes} timed passes",
        100.0 * compressed as f64 / plain.max(1) as f64
    );
    println!(
        "hpack-corpus: {} stories, {cases} cases, {mismatches} mismatches, {errors} errors, {mbps:.1} MB/s",
        stories.len()
    );
    (mismatches, errors)
}
