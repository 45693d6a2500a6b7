//! Property tests: message framing over arbitrary chunkings, and round trips
//! of grpc-timeout, grpc-message percent-encoding and base64.

use std::time::Duration;

use bytes::Bytes;
use h2proto::grpc::codec::{Deframer, frame_message};
use h2proto::grpc::metadata::{base64_decode, base64_encode};
use h2proto::grpc::status::{decode_message, encode_message};
use h2proto::grpc::timeout::{format_timeout, parse_timeout};
use proptest::prelude::*;

/// The grpc-message rule written the plain way, as an oracle: `%` and two
/// hex digits is one byte, anything else is itself; then lossy UTF-8.
fn decode_escapes_or_pass_through(mut rest: &[u8]) -> String {
    let mut out = Vec::new();
    while let Some((&first, tail)) = rest.split_first() {
        match tail {
            [h, l, ..] if first == b'%' && h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                let digits = std::str::from_utf8(&tail[..2]).unwrap();
                out.push(u8::from_str_radix(digits, 16).unwrap());
                rest = &tail[2..];
            }
            _ => {
                out.push(first);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

proptest! {
    #[test]
    fn framing_survives_any_chunking(
        msgs in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..300)), 0..12),
        cuts in prop::collection::vec(1usize..64, 1..50),
    ) {
        let mut wire = Vec::new();
        for (c, m) in &msgs {
            wire.extend_from_slice(&frame_message(*c, m));
        }
        let mut d = Deframer::new(300);
        let mut got = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < wire.len() {
            let n = cuts[i % cuts.len()].min(wire.len() - at);
            d.push(&wire[at..at + n]);
            at += n;
            i += 1;
            while let Some(m) = d.next_message().unwrap() {
                got.push((m.compressed, m.data.to_vec()));
            }
        }
        prop_assert_eq!(got, msgs);
        prop_assert!(d.finish().is_ok());
    }

    #[test]
    fn deframer_never_panics(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..20)) {
        let mut d = Deframer::new(64);
        for c in &chunks {
            d.push(c);
            while let Ok(Some(m)) = d.next_message() {
                prop_assert!(m.data.len() <= 64);
            }
        }
        let _ = d.finish();
    }

    #[test]
    fn timeout_round_trip_never_shortens(nanos in any::<u64>()) {
        let t = Duration::from_nanos(nanos);
        let s = format_timeout(t);
        prop_assert!(s.len() <= 9);
        let back = parse_timeout(s.as_bytes()).unwrap();
        prop_assert!(back >= t);
        // Rounded up by less than one unit of the chosen resolution.
        let unit = match s.as_bytes()[s.len() - 1] {
            b'n' => Duration::from_nanos(1),
            b'u' => Duration::from_micros(1),
            b'm' => Duration::from_millis(1),
            b'S' => Duration::from_secs(1),
            b'M' => Duration::from_secs(60),
            _ => Duration::from_secs(3600),
        };
        prop_assert!(back - t < unit);
    }

    #[test]
    fn timeout_parse_is_exact(v in 0u64..100_000_000, unit in prop::sample::select(vec!['H', 'M', 'S', 'm', 'u', 'n'])) {
        let s = format!("{v}{unit}");
        prop_assert!(parse_timeout(s.as_bytes()).is_some());
    }

    #[test]
    fn percent_encoding_round_trip(s in any::<String>()) {
        let e = encode_message(&s);
        prop_assert!(e.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        prop_assert_eq!(decode_message(e.as_bytes()), s);
    }

    #[test]
    fn percent_decoding_never_fails(b in prop::collection::vec(
        prop_oneof![Just(b'%'), prop::sample::select(&b"09afAFgG"[..]), any::<u8>()],
        0..64,
    )) {
        // The spec: a bad escape is no error, it passes through as text.
        prop_assert_eq!(decode_message(&b), decode_escapes_or_pass_through(&b));
    }

    #[test]
    fn base64_round_trip_padded_or_not(b in prop::collection::vec(any::<u8>(), 0..100)) {
        let e = base64_encode(&b);
        prop_assert!(!e.contains(&b'='));
        prop_assert_eq!(base64_decode(&e), Some(b.clone()));
        let mut padded = e.clone();
        while !padded.len().is_multiple_of(4) {
            padded.push(b'=');
        }
        prop_assert_eq!(base64_decode(&padded), Some(b));
    }

    #[test]
    fn base64_decoding_never_panics(b in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = base64_decode(&b);
    }
}

#[test]
fn empty_message_frames_to_five_bytes() {
    assert_eq!(&frame_message(true, &Bytes::new())[..], &[1, 0, 0, 0, 0]);
}
