//! Frame codec throughput: decode and encode of (a) 16 KiB DATA frames and
//! (b) a mix of small control frames and HEADERS, each next to a memcpy of the
//! same bytes as a baseline. Reported as frames/s and bytes/s.
//!
//! Run: `cargo bench --bench frame` (add `-- data_16k` or `-- mix` to pick one).

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use h2proto::frame::{
    Data, Decoder, Frame, GoAway, Headers, Ping, Priority, PrioritySpec, Reason, RstStream,
    Settings, StreamId, WindowUpdate,
};

const MAX: u32 = 1 << 14;
const DATA_FRAMES: usize = 64;

fn data_frames() -> Vec<Frame> {
    // Distinct payloads (one 1 MiB allocation), so encode reads as much
    // memory as the memcpy baseline does rather than one cache-hot chunk.
    const LEN: usize = 16 * 1024;
    let all = Bytes::from((0..DATA_FRAMES * LEN).map(|i| i as u8).collect::<Vec<u8>>());
    (0..DATA_FRAMES)
        .map(|i| {
            let id = StreamId::new(1 + 2 * (i as u32 % 8));
            Frame::Data(Data::new(id, all.slice(i * LEN..(i + 1) * LEN), false))
        })
        .collect()
}

/// A connection's worth of small frames: per request a HEADERS (an HPACK-sized
/// fragment), window updates, pings, the occasional SETTINGS, PRIORITY,
/// RST_STREAM and GOAWAY.
fn mix_frames() -> Vec<Frame> {
    let fragment = Bytes::from(vec![0x82u8; 48]);
    let settings = Settings::builder()
        .max_concurrent_streams(100)
        .initial_window_size(1 << 20)
        .max_header_list_size(16 << 10)
        .build()
        .expect("valid settings");
    let mut frames = Vec::new();
    for i in 0..100u32 {
        let id = StreamId::new(2 * i + 1);
        frames.push(Frame::Headers(Headers::new(
            id,
            fragment.clone(),
            false,
            true,
        )));
        frames.push(Frame::WindowUpdate(WindowUpdate::new(id, 65_535)));
        frames.push(Frame::WindowUpdate(WindowUpdate::new(
            StreamId::ZERO,
            65_535,
        )));
        frames.push(Frame::Ping(Ping::new(
            i.to_be_bytes().repeat(2).try_into().unwrap_or([0; 8]),
        )));
        frames.push(Frame::Ping(Ping::ack([7; 8])));
        let headers = Headers {
            priority: Some(PrioritySpec {
                exclusive: false,
                stream_dependency: StreamId::ZERO,
                weight: 15,
            }),
            ..Headers::new(id, fragment.slice(..20), true, true)
        };
        frames.push(Frame::Headers(headers));
        if i % 10 == 0 {
            frames.push(Frame::Settings(settings.clone()));
            frames.push(Frame::Settings(Settings::ack()));
            let spec = PrioritySpec {
                exclusive: true,
                stream_dependency: StreamId::ZERO,
                weight: 200,
            };
            frames.push(Frame::Priority(Priority {
                stream_id: id,
                spec,
            }));
            frames.push(Frame::RstStream(RstStream::new(id, Reason::CANCEL)));
        }
    }
    frames.push(Frame::GoAway(GoAway::new(
        StreamId::new(199),
        Reason::NO_ERROR,
    )));
    frames
}

fn encode(frames: &[Frame]) -> BytesMut {
    let mut wire = BytesMut::new();
    for f in frames {
        f.encode(&mut wire, MAX).expect("encodes");
    }
    wire
}

fn bench_workload(c: &mut Criterion, name: &str, frames: &[Frame]) {
    let wire = encode(frames).freeze();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::ElementsAndBytes {
        elements: frames.len() as u64,
        bytes: wire.len() as u64,
    });

    // Decode: the input buffer is prepared outside the timed region (that copy
    // is the caller's socket read, not the decoder's work).
    group.bench_function("decode", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&wire[..]),
            |buf| {
                let mut decoder = Decoder::new();
                let mut n = 0usize;
                while let Ok(Some(frame)) = decoder.decode(buf) {
                    black_box(&frame);
                    n += 1;
                }
                assert_eq!(n, frames.len());
            },
            BatchSize::LargeInput,
        )
    });

    // Baseline: one memcpy of the same bytes into a ready buffer.
    let mut dst = vec![0u8; wire.len()];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&wire[..]));
            black_box(&dst);
        })
    });

    // Encode everything (payloads copied into the output buffer).
    let mut out = BytesMut::with_capacity(wire.len());
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            for f in frames {
                f.encode(&mut out, MAX).expect("encodes");
            }
            black_box(&out);
        })
    });

    // Zero-copy send path for DATA: only frame headers are written; payloads
    // would go to a vectored write as they are.
    if frames.iter().all(|f| matches!(f, Frame::Data(_))) {
        group.bench_function("encode_head", |b| {
            b.iter(|| {
                out.clear();
                for f in frames {
                    if let Frame::Data(d) = f {
                        d.encode_head(&mut out, MAX).expect("encodes");
                    }
                }
                black_box(&out);
            })
        });
    }
    group.finish();
}

fn frame_benches(c: &mut Criterion) {
    bench_workload(c, "data_16k", &data_frames());
    bench_workload(c, "mix", &mix_frames());
}

criterion_group! {
    name = benches;
    // Short runs: the benchmark machine has two shared, noisy cores.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = frame_benches
}
criterion_main!(benches);
