//! Deterministic simulation: random operation sequences on both ends of an
//! in-memory pair, random chunking of every byte transfer, random delays on
//! the virtual clock, invariants after every step (per-stream ones on the
//! streams the step touched) and a full drain at the end
//! (see `tests/sim/mod.rs` for the model and the invariants).
//!
//! `PROPTEST_CASES` sets the case count (default 256, a few seconds in debug);
//! a failure is saved to `tests/simulation.proptest-regressions` and replays
//! first on the next run. `SIM_LOG=1` prints every operation and event.

mod sim;

use h2proto::testing::Side;
use proptest::prelude::*;
use sim::{Knobs, Op, run_case};

const DEFAULT_CASES: u32 = 256;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn knobs() -> impl Strategy<Value = Knobs> {
    (
        prop_oneof![
            3 => Just(65_535u32),
            2 => 0u32..70_000,
            1 => Just(1u32 << 20),
            1 => Just((1u32 << 31) - 1),
        ],
        prop_oneof![
            3 => Just(65_535u32),
            2 => 65_535u32..300_000,
            1 => Just((1u32 << 31) - 1),
        ],
        prop_oneof![1 => 1usize..2_000, 2 => 2_000usize..70_000],
        prop_oneof![1 => 1usize..10_000, 2 => 10_000usize..300_000],
        prop_oneof![1 => 1u32..4, 2 => 4u32..101],
        prop_oneof![3 => Just(16_384u32), 1 => 16_384u32..70_000],
        proptest::bool::weighted(0.3),
    )
        .prop_map(
            |(
                initial_window,
                connection_window,
                stream_buffer,
                connection_buffer,
                max_concurrent_streams,
                max_frame_size,
                send_stall,
            )| Knobs {
                initial_window,
                connection_window,
                stream_buffer,
                connection_buffer,
                max_concurrent_streams,
                max_frame_size,
                send_stall,
            },
        )
}

fn stream() -> impl Strategy<Value = u8> {
    0u8..12
}

fn chunk() -> impl Strategy<Value = usize> {
    prop_oneof![
        2 => 1usize..16,
        2 => 16usize..2_000,
        2 => 2_000usize..70_000,
        1 => Just(usize::MAX),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<bool>().prop_map(|end_stream| Op::Open { end_stream }),
        6 => (stream(), proptest::bool::weighted(0.3), proptest::bool::weighted(0.1)).prop_map(
            |(stream, end_stream, informational)| Op::Respond { stream, end_stream, informational }
        ),
        12 => (side(), stream(), prop_oneof![0u32..100, 100u32..20_000, 20_000u32..150_000], proptest::bool::weighted(0.3))
            .prop_map(|(side, stream, len, end_stream)| Op::Data { side, stream, len, end_stream }),
        2 => (side(), stream()).prop_map(|(side, stream)| Op::Trailers { side, stream }),
        2 => (side(), stream(), 0u32..14).prop_map(|(side, stream, code)| Op::Reset { side, stream, code }),
        8 => (side(), stream(), proptest::option::weighted(0.6, 0u32..70_000))
            .prop_map(|(side, stream, amount)| Op::Release { side, stream, amount }),
        1 => side().prop_map(|side| Op::Ping { side }),
        1 => (
            side(),
            proptest::option::weighted(0.7, prop_oneof![0u32..100_000, Just((1u32 << 31) - 1)]),
            proptest::option::weighted(0.4, 0u32..8),
            proptest::option::weighted(0.2, 0u32..8_192),
        )
            .prop_map(|(side, initial_window, max_concurrent_streams, header_table_size)| Op::Settings {
                side,
                initial_window,
                max_concurrent_streams,
                header_table_size,
            }),
        1 => (side(), prop_oneof![0u32..300_000, Just((1u32 << 31) - 1)])
            .prop_map(|(side, size)| Op::ConnectionWindow { side, size }),
        1 => side().prop_map(|side| Op::Shutdown { side }),
        14 => (chunk(), 1u8..12).prop_map(|(chunk, times)| Op::Step { chunk, times }),
        3 => prop_oneof![4 => 0u32..200, 1 => 200u32..7_000]
            .prop_map(|millis| Op::Advance { millis }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn simulation(
        client in knobs(),
        server in knobs(),
        ops in proptest::collection::vec(op(), 0..120),
    ) {
        run_case(client, server, &ops);
    }
}
