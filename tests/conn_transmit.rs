//! `poll_transmit` into a `Transmit` (vectored, large DATA not copied) writes
//! exactly the bytes it writes into a `BytesMut`, whatever the bound.

mod support;

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use h2proto::frame::{Decoder, Frame};
use h2proto::proto::{Config, Connection, Transmit};
use proptest::prelude::*;
use support::*;

/// A client that opened `bodies.len()` streams and queued those bodies.
fn client_with(bodies: &[usize], now: std::time::Instant) -> Connection {
    let mut c = Connection::new(Config::client(), now);
    for (i, &len) in bodies.iter().enumerate() {
        let id = c.send_request(request("POST", "/"), false).unwrap();
        let body = Bytes::from(vec![i as u8; len]);
        let taken = c.send_data(id, body, true).unwrap();
        assert!(taken <= len);
    }
    c
}

/// Each stream's DATA bytes and whether it ended, from a client's output.
fn payloads(mut wire: BytesMut) -> BTreeMap<u32, (usize, u64, bool)> {
    let _preface = wire.split_to(24);
    let mut decoder = Decoder::new();
    let mut streams = BTreeMap::new();
    while let Some(frame) = decoder.decode(&mut wire).unwrap() {
        if let Frame::Data(d) = frame {
            // Length and a position-sensitive checksum: enough to tell
            // bodies apart without printing them on failure.
            let entry = streams
                .entry(d.stream_id.value())
                .or_insert((0, 0u64, false));
            for &b in d.data.iter() {
                entry.1 = entry.1.wrapping_mul(31).wrapping_add(u64::from(b) + 1);
            }
            entry.0 += d.data.len();
            entry.2 |= d.end_stream;
        }
    }
    assert!(wire.is_empty());
    streams
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn transmit_and_bytes_mut_carry_the_same_bytes(
        // Within the initial windows: everything goes out either way.
        bodies in proptest::collection::vec(0usize..13_000, 1..6),
        max in prop_oneof![Just(usize::MAX), 1usize..70_000],
    ) {
        let now = std::time::Instant::now();
        let mut flat_conn = client_with(&bodies, now);
        let mut vec_conn = client_with(&bodies, now);
        let mut flat = BytesMut::new();
        while flat_conn.poll_transmit(&mut flat, max, now) > 0 {}
        let mut out = Transmit::new();
        let mut vectored = BytesMut::new();
        while vec_conn.poll_transmit(&mut out, max, now) > 0 {
            out.copy_to(&mut vectored);
            out.clear();
        }
        if max == usize::MAX {
            prop_assert!(flat == vectored);
        }
        // Under a bound, DATA may be split at other points (a Transmit's
        // bound is soft); what each stream carries is the same.
        prop_assert_eq!(payloads(flat), payloads(vectored));
    }
}

#[test]
fn large_data_is_not_copied() {
    let now = std::time::Instant::now();
    let mut c = Connection::new(Config::client(), now);
    let id = c.send_request(request("POST", "/"), false).unwrap();
    let body = Bytes::from(vec![9u8; 16_000]);
    assert_eq!(c.send_data(id, body.clone(), true).unwrap(), 16_000);
    let mut out = Transmit::new();
    c.poll_transmit(&mut out, usize::MAX, now);
    assert!(
        out.chunks().any(|chunk| chunk.as_ptr() == body.as_ptr()),
        "the body went out as the application's own memory"
    );
}
