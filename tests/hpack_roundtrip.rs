//! HPACK encoder → decoder round trips (RFC 7541 Appendix C, proptest) and
//! decoding arbitrary bytes (quickcheck).

use bytes::{Bytes, BytesMut};
use h2proto::hpack::{Decoder, DecoderLimits, Encoder, HeaderField};
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn fields(list: &[(&str, &str)]) -> Vec<HeaderField> {
    list.iter()
        .map(|(n, v)| HeaderField::new(n.to_string(), v.to_string()))
        .collect()
}

/// RFC 7541 C.4: three requests with Huffman coding. Our encoder's policy
/// produces exactly the RFC's bytes, and our decoder the RFC's tables.
#[test]
fn rfc7541_c4_requests_with_huffman() {
    let requests = [
        (
            fields(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
            ]),
            "82 86 84 41 8c f1 e3 c2 e5 f2 3a 6b a0 ab 90 f4 ff",
            57,
        ),
        (
            fields(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache"),
            ]),
            "82 86 84 be 58 86 a8 eb 10 64 9c bf",
            110,
        ),
        (
            fields(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ]),
            "82 87 85 bf 40 88 25 a8 49 e9 5b a9 7d 7f 89 25 a8 49 e9 5b b8 e8 b4 bf",
            164,
        ),
    ];
    let mut encoder = Encoder::new(4096);
    let mut decoder = Decoder::new(4096);
    let mut buf = BytesMut::new();
    for (list, wire, table_size) in requests {
        encoder.encode(&list, &mut buf);
        assert_eq!(&buf[..], &hex(wire)[..]);
        let mut out = Vec::new();
        decoder.decode(&buf.split().freeze(), &mut out).unwrap();
        assert_eq!(out, list);
        assert_eq!(decoder.table_size(), table_size);
        assert_eq!(encoder.table_size(), table_size);
    }
}

/// RFC 7541 C.3: the same requests without Huffman coding (decoder only).
#[test]
fn rfc7541_c3_requests_without_huffman() {
    let blocks = [
        "82 86 84 41 0f 77 77 77 2e 65 78 61 6d 70 6c 65 2e 63 6f 6d",
        "82 86 84 be 58 08 6e 6f 2d 63 61 63 68 65",
        "82 87 85 bf 40 0a 63 75 73 74 6f 6d 2d 6b 65 79 0c 63 75 73 74 6f 6d 2d 76 61 6c 75 65",
    ];
    let mut decoder = Decoder::new(4096);
    let mut out = Vec::new();
    for block in blocks {
        out.clear();
        decoder.decode(&Bytes::from(hex(block)), &mut out).unwrap();
    }
    assert_eq!(
        out,
        fields(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ])
    );
    assert_eq!((decoder.table_len(), decoder.table_size()), (3, 164));
}

#[test]
fn encoder_policy() {
    let mut encoder = Encoder::new(4096);
    let mut buf = BytesMut::new();
    let list = vec![
        HeaderField::new("authorization", "Basic dXNlcjpwYXNz"),
        HeaderField::new("cookie", "id=1"),
        HeaderField::new("cookie", "session=0123456789abcdef0123456789"),
        HeaderField::new("x-secret", "s3cr3t").with_sensitive(true),
        HeaderField::new("x-big", "v".repeat(4000)),
        HeaderField::new(":method", "GET").with_sensitive(true),
    ];
    encoder.encode(&list, &mut buf);
    // Only the long cookie entered the table.
    assert_eq!(encoder.table_len(), 1);
    let mut decoder = Decoder::new(4096);
    let mut out = Vec::new();
    decoder.decode(&buf.split().freeze(), &mut out).unwrap();
    let sensitive: Vec<bool> = out.iter().map(|f| f.sensitive).collect();
    assert_eq!(sensitive, [true, true, false, true, false, true]);
    // A repeat of the long cookie is one byte.
    encoder.encode(&list[2..3], &mut buf);
    assert_eq!(&buf[..], &[0xbe]);
}

#[test]
fn encoder_signals_table_size_changes() {
    let mut encoder = Encoder::new(4096);
    let mut buf = BytesMut::new();
    encoder.set_peer_max_table_size(100);
    encoder.set_peer_max_table_size(2000);
    encoder.encode(&[], &mut buf);
    // 100, then 2000.
    assert_eq!(&buf.split()[..], &hex("3f 45 3f b1 0f")[..]);
    encoder.encode(&[], &mut buf);
    assert!(buf.is_empty(), "signalled once");
    // Our own cap wins over a larger peer setting.
    let mut encoder = Encoder::new(256);
    encoder.set_peer_max_table_size(65536);
    encoder.encode(&[], &mut buf);
    assert_eq!(&buf.split()[..], &hex("3f e1 01")[..]);
    assert_eq!(encoder.max_table_size(), 256);
}

#[derive(Debug, Clone)]
enum Step {
    /// The peer's SETTINGS_HEADER_TABLE_SIZE changes (and is acknowledged).
    TableSize(usize),
    /// A header block.
    Block(Vec<HeaderField>),
}

fn field() -> impl Strategy<Value = HeaderField> {
    let common = prop::sample::select(vec![
        ":authority",
        ":path",
        ":method",
        "content-type",
        "user-agent",
        "cookie",
        "authorization",
        "x-custom",
    ])
    .prop_map(|s| s.as_bytes().to_vec());
    let name = prop_oneof![common, prop::collection::vec(any::<u8>(), 0..24)];
    let value = prop_oneof![
        prop::sample::select(vec!["GET", "/", "text/html", "a", ""])
            .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..3000),
    ];
    (name, value, any::<bool>()).prop_map(|(n, v, s)| HeaderField::new(n, v).with_sensitive(s))
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        1 => (0usize..6000).prop_map(Step::TableSize),
        6 => prop::collection::vec(field(), 0..16).prop_map(Step::Block),
    ];
    prop::collection::vec(step, 1..24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(own_max in 0usize..8192, steps in steps()) {
        let mut encoder = Encoder::new(own_max);
        let limits = DecoderLimits { max_header_list_size: usize::MAX, max_fields: usize::MAX, max_string_len: usize::MAX };
        let mut decoder = Decoder::with_limits(4096, limits);
        let mut buf = BytesMut::new();
        for step in steps {
            match step {
                Step::TableSize(n) => {
                    encoder.set_peer_max_table_size(n);
                    decoder.set_max_table_size(n);
                }
                Step::Block(list) => {
                    encoder.encode(&list, &mut buf);
                    let mut out = Vec::new();
                    decoder.decode(&buf.split().freeze(), &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(out.len(), list.len());
                    for (got, want) in out.iter().zip(&list) {
                        prop_assert_eq!(&got.name, &want.name);
                        prop_assert_eq!(&got.value, &want.value);
                        // Sensitive input stays sensitive; the policy may add
                        // credentials and short cookies, nothing else.
                        let policy = want.name == "authorization"
                            || (want.name == "cookie" && want.value.len() < 20);
                        prop_assert_eq!(got.sensitive, want.sensitive || policy);
                    }
                    prop_assert_eq!(encoder.table_size(), decoder.table_size());
                    prop_assert!(encoder.table_size() <= own_max.min(decoder.max_table_size()));
                }
            }
        }
    }
}

#[test]
fn decoding_arbitrary_bytes_never_panics() {
    fn prop(blocks: Vec<Vec<u8>>, limit: u16, small: bool) -> bool {
        let limits = if small {
            DecoderLimits {
                max_header_list_size: 200,
                max_fields: 4,
                max_string_len: 16,
            }
        } else {
            DecoderLimits::default()
        };
        let mut decoder = Decoder::with_limits(usize::from(limit), limits);
        let mut out = Vec::new();
        for block in blocks {
            let before = out.len();
            match decoder.decode(&Bytes::from(block), &mut out) {
                Ok(()) => {}
                Err(e) => {
                    assert_eq!(out.len(), before);
                    if !e.keeps_table_in_sync() {
                        break;
                    }
                }
            }
        }
        decoder.table_size() <= usize::from(limit).max(4096)
    }
    quickcheck::QuickCheck::new()
        .tests(5000)
        .quickcheck(prop as fn(Vec<Vec<u8>>, u16, bool) -> bool);
}

#[test]
fn decoding_biased_bytes_never_panics() {
    // Arbitrary bytes rarely form long valid runs; start from a valid block
    // and flip bytes to reach deeper states.
    let base = hex(
        "82 86 84 41 8c f1 e3 c2 e5 f2 3a 6b a0 ab 90 f4 ff 40 88 25 a8 49 e9 5b a9 7d 7f 89 25 a8 49 e9 5b b8 e8 b4 bf be bf",
    );
    fn prop(base: Vec<u8>, flips: Vec<(u8, u8)>) -> bool {
        let mut block = base;
        for (i, b) in flips {
            let n = block.len();
            block[usize::from(i) % n] = b;
        }
        let mut decoder = Decoder::new(4096);
        let mut out = Vec::new();
        let _ = decoder.decode(&Bytes::from(block.clone()), &mut out);
        let _ = decoder.decode(&Bytes::from(block), &mut out);
        true
    }
    for _ in 0..2000 {
        let flips: Vec<(u8, u8)> = quickcheck::Arbitrary::arbitrary(&mut quickcheck::Gen::new(8));
        assert!(prop(base.clone(), flips));
    }
}
