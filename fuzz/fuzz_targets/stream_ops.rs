//! Arbitrary operation sequences against a client/server pair: the
//! deterministic simulation of `tests/simulation.rs` (same model, same
//! invariants after every step, same drain-to-zero check at the end),
//! driven by libFuzzer's bytes instead of proptest.
#![no_main]

use arbitrary::{Result, Unstructured};
use h2proto::testing::Side;
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../tests/sim/mod.rs"]
mod sim;

use sim::{Knobs, Op};

fn knobs(u: &mut Unstructured) -> Result<Knobs> {
    Ok(Knobs {
        initial_window: match u.int_in_range(0u8..=3)? {
            0 => 65_535,
            1 => u.int_in_range(0..=70_000)?,
            2 => 1 << 20,
            _ => (1 << 31) - 1,
        },
        connection_window: match u.int_in_range(0u8..=2)? {
            0 => 65_535,
            1 => u.int_in_range(65_535..=300_000)?,
            _ => (1 << 31) - 1,
        },
        stream_buffer: u.int_in_range(1..=70_000)?,
        connection_buffer: u.int_in_range(1..=300_000)?,
        max_concurrent_streams: u.int_in_range(1..=100)?,
        max_frame_size: if u.arbitrary()? {
            16_384
        } else {
            u.int_in_range(16_384..=70_000)?
        },
        send_stall: u.arbitrary()?,
    })
}

fn side(u: &mut Unstructured) -> Result<Side> {
    Ok(if u.arbitrary()? {
        Side::Client
    } else {
        Side::Server
    })
}

fn stream(u: &mut Unstructured) -> Result<u8> {
    u.int_in_range(0..=11)
}

fn op(u: &mut Unstructured) -> Result<Op> {
    Ok(match u.int_in_range(0u8..=12)? {
        0 => Op::Open {
            end_stream: u.arbitrary()?,
        },
        1 => Op::Respond {
            stream: stream(u)?,
            end_stream: u.arbitrary()?,
            informational: u.ratio(1, 10)?,
        },
        2 => Op::Data {
            side: side(u)?,
            stream: stream(u)?,
            // Mostly small: every body byte is generated and checked, and
            // small windows exercise flow control as well as big bodies do.
            len: if u.ratio(1, 16)? {
                u.int_in_range(0..=150_000)?
            } else {
                u.int_in_range(0..=4_096)?
            },
            end_stream: u.arbitrary()?,
        },
        3 => Op::Trailers {
            side: side(u)?,
            stream: stream(u)?,
        },
        4 => Op::Reset {
            side: side(u)?,
            stream: stream(u)?,
            code: u.int_in_range(0..=13)?,
        },
        5 => Op::Release {
            side: side(u)?,
            stream: stream(u)?,
            amount: if u.arbitrary()? {
                Some(u.int_in_range(0..=70_000)?)
            } else {
                None
            },
        },
        6 => Op::Ping { side: side(u)? },
        7 => Op::Settings {
            side: side(u)?,
            initial_window: if u.arbitrary()? {
                Some(u.int_in_range(0..=(1 << 31) - 1)?)
            } else {
                None
            },
            max_concurrent_streams: if u.arbitrary()? {
                Some(u.int_in_range(0..=8)?)
            } else {
                None
            },
            header_table_size: if u.arbitrary()? {
                Some(u.int_in_range(0..=8_192)?)
            } else {
                None
            },
        },
        8 => Op::ConnectionWindow {
            side: side(u)?,
            size: u.int_in_range(0..=(1 << 31) - 1)?,
        },
        9 => Op::Shutdown { side: side(u)? },
        10 => Op::Advance {
            millis: u.int_in_range(0..=7_000)?,
        },
        _ => Op::Step {
            chunk: match u.int_in_range(0u8..=3)? {
                0 => u.int_in_range(1..=16)?,
                1 => u.int_in_range(16..=2_000)?,
                2 => u.int_in_range(2_000..=70_000)?,
                _ => usize::MAX,
            },
            times: u.int_in_range(1..=12)?,
        },
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(client), Ok(server)) = (knobs(&mut u), knobs(&mut u)) else {
        return;
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < 200 {
        match op(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    sim::run_case(client, server, &ops);
});
