//! HPACK decode and encode throughput over the hpack-test-case corpus, with
//! `httlib-hpack` and `hpack` 0.3 measured in the same run as baselines.
//!
//! ```sh
//! cargo bench --bench hpack                 # everything
//! cargo bench --bench hpack -- decode/      # one group
//! ```
//!
//! Decode: every story of every encoder directory (a fresh decoder per
//! story, cases in order), throughput over wire bytes. Encode: every story
//! of `raw-data` (a fresh encoder per story, table size 4,096), throughput
//! over name + value bytes. The corpus root is `$H2PROTO_HPACK_CORPUS` or
//! `../shared/testdata/hpack-test-case`.

#[path = "../tests/support/hpack_corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use h2proto::hpack::{Decoder, Encoder, HeaderField};

use corpus::Story;

/// A story prepared for decoding: (initial table size, [(table size change, block)]).
type WireStory = (usize, Vec<(Option<usize>, Bytes)>);

fn wire_stories(stories: &[Story]) -> Vec<WireStory> {
    stories
        .iter()
        .map(|s| {
            let blocks: Vec<_> = s
                .cases
                .iter()
                .filter_map(|c| {
                    c.wire
                        .as_ref()
                        .map(|w| (c.header_table_size, Bytes::copy_from_slice(w)))
                })
                .collect();
            (blocks.first().and_then(|b| b.0).unwrap_or(4096), blocks)
        })
        .collect()
}

fn load() -> Option<(Vec<Story>, Vec<Story>)> {
    let root = corpus::corpus_root();
    let wire = corpus::load_wire_stories(&root).ok()?;
    let raw = corpus::load_dir(&root.join("raw-data")).ok()?;
    (!wire.is_empty() && !raw.is_empty()).then_some((wire, raw))
}

fn bench_decode(c: &mut Criterion, stories: &[Story]) {
    let wire = wire_stories(stories);
    let total: usize = stories.iter().map(Story::wire_len).sum();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(total as u64));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    group.bench_function("h2proto", |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            for (size, blocks) in &wire {
                let mut decoder = Decoder::new(*size);
                for (i, (change, block)) in blocks.iter().enumerate() {
                    if i > 0
                        && let Some(n) = change
                    {
                        decoder.set_max_table_size(*n);
                    }
                    out.clear();
                    decoder.decode(block, &mut out).expect("corpus decodes");
                    black_box(&out);
                }
            }
        })
    });

    // httlib-hpack consumes a `Vec<u8>` per block: copies are made outside
    // the timed part.
    type OwnedStory = (usize, Vec<(Option<usize>, Vec<u8>)>);
    let owned: Vec<OwnedStory> = wire
        .iter()
        .map(|(size, blocks)| {
            (
                *size,
                blocks.iter().map(|(c, b)| (*c, b.to_vec())).collect(),
            )
        })
        .collect();
    group.bench_function("httlib-hpack", |b| {
        let mut out = Vec::with_capacity(64);
        b.iter_batched_ref(
            || owned.clone(),
            |input| {
                for (size, blocks) in input.iter_mut() {
                    let mut decoder = httlib_hpack::Decoder::with_dynamic_size(*size as u32);
                    for (i, (change, block)) in blocks.iter_mut().enumerate() {
                        if i > 0
                            && let Some(n) = change
                        {
                            decoder.set_max_dynamic_size(*n as u32);
                        }
                        out.clear();
                        decoder.decode(block, &mut out).expect("corpus decodes");
                        black_box(&out);
                    }
                }
            },
            BatchSize::PerIteration,
        )
    });

    // hpack 0.3 decodes Huffman bit by bit (~1.7 MB/s): ten flat samples of
    // one pass each.
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1));
    group.bench_function("hpack-0.3", |b| {
        b.iter(|| {
            for (size, blocks) in &wire {
                let mut decoder = hpack::Decoder::new();
                decoder.set_max_table_size(*size);
                for (i, (change, block)) in blocks.iter().enumerate() {
                    if i > 0
                        && let Some(n) = change
                    {
                        decoder.set_max_table_size(*n);
                    }
                    black_box(decoder.decode(block).expect("corpus decodes"));
                }
            }
        })
    });
    group.finish();
}

fn bench_encode(c: &mut Criterion, raw: &[Story]) {
    let lists: Vec<Vec<Vec<HeaderField>>> = raw
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
    let plain: usize = raw.iter().map(Story::plain_len).sum();

    // Output sizes, once, for the table in docs/benchmarks.md.
    let ours: usize = {
        let mut buf = BytesMut::new();
        lists
            .iter()
            .map(|story| {
                let mut encoder = Encoder::new(4096);
                story
                    .iter()
                    .map(|list| {
                        buf.clear();
                        encoder.encode(list, &mut buf);
                        buf.len()
                    })
                    .sum::<usize>()
            })
            .sum()
    };
    let httlib: usize = lists
        .iter()
        .map(|story| {
            let mut encoder = httlib_hpack::Encoder::default();
            story
                .iter()
                .map(|list| httlib_encode(&mut encoder, list, &mut Vec::new()))
                .sum::<usize>()
        })
        .sum();
    let hpack03: usize = lists
        .iter()
        .map(|story| {
            let mut encoder = hpack::Encoder::new();
            story
                .iter()
                .map(|list| {
                    encoder
                        .encode(list.iter().map(|f| (&f.name[..], &f.value[..])))
                        .len()
                })
                .sum::<usize>()
        })
        .sum();
    eprintln!(
        "encode output over {plain} plain bytes: h2proto {ours} ({:.2}%), httlib-hpack {httlib} ({:.2}%), hpack-0.3 {hpack03} ({:.2}%); h2proto/httlib = {:.4}",
        100.0 * ours as f64 / plain as f64,
        100.0 * httlib as f64 / plain as f64,
        100.0 * hpack03 as f64 / plain as f64,
        ours as f64 / httlib as f64
    );

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(plain as u64));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("h2proto", |b| {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        b.iter(|| {
            for story in &lists {
                let mut encoder = Encoder::new(4096);
                for list in story {
                    buf.clear();
                    encoder.encode(list, &mut buf);
                    black_box(&buf);
                }
            }
        })
    });
    group.bench_function("httlib-hpack", |b| {
        let mut buf = Vec::with_capacity(16 * 1024);
        b.iter(|| {
            for story in &lists {
                let mut encoder = httlib_hpack::Encoder::default();
                for list in story {
                    buf.clear();
                    black_box(httlib_encode(&mut encoder, list, &mut buf));
                }
            }
        })
    });
    group.bench_function("hpack-0.3", |b| {
        let mut buf = Vec::with_capacity(16 * 1024);
        b.iter(|| {
            for story in &lists {
                let mut encoder = hpack::Encoder::new();
                for list in story {
                    buf.clear();
                    encoder
                        .encode_into(list.iter().map(|f| (&f.name[..], &f.value[..])), &mut buf)
                        .expect("vec write");
                    black_box(&buf);
                }
            }
        })
    });
    group.finish();
}

/// httlib-hpack with Huffman names and values, incremental indexing and the
/// best representation found in its tables (its most compact setting).
/// Its API takes owned `Vec`s per field.
fn httlib_encode(
    encoder: &mut httlib_hpack::Encoder,
    list: &[HeaderField],
    buf: &mut Vec<u8>,
) -> usize {
    let start = buf.len();
    for f in list {
        let flags = httlib_hpack::Encoder::HUFFMAN_NAME
            | httlib_hpack::Encoder::HUFFMAN_VALUE
            | httlib_hpack::Encoder::WITH_INDEXING
            | httlib_hpack::Encoder::BEST_FORMAT;
        encoder
            .encode((f.name.to_vec(), f.value.to_vec(), flags), buf)
            .expect("httlib encodes");
    }
    buf.len() - start
}

fn benches(c: &mut Criterion) {
    let Some((wire, raw)) = load() else {
        eprintln!(
            "SKIPPED: hpack-test-case corpus not found at {}",
            corpus::corpus_root().display()
        );
        return;
    };
    bench_decode(c, &wire);
    bench_encode(c, &raw);
}

criterion_group!(hpack_benches, benches);
criterion_main!(hpack_benches);
