//! Malformed header blocks: each gives its exact error, never a panic.

use bytes::Bytes;
use h2proto::hpack::{Decoder, DecoderError, DecoderLimits, HeaderField};

fn hex(s: &str) -> Bytes {
    let s: String = s.split_whitespace().collect();
    Bytes::from(
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>(),
    )
}

fn decode(decoder: &mut Decoder, block: &str) -> Result<Vec<HeaderField>, DecoderError> {
    let mut out = Vec::new();
    decoder.decode(&hex(block), &mut out).map(|()| out)
}

#[test]
fn malformed_blocks_give_exact_errors() {
    use DecoderError::*;
    let cases: &[(&str, &str, DecoderError)] = &[
        (
            "truncated integer: indexed, continuation missing",
            "ff",
            TruncatedInteger,
        ),
        (
            "truncated integer: the single byte 3f",
            "3f",
            TruncatedInteger,
        ),
        (
            "truncated integer: continuation bit set at the end",
            "ff 80",
            TruncatedInteger,
        ),
        (
            "truncated integer: name length missing",
            "40",
            TruncatedInteger,
        ),
        (
            "truncated integer: value length missing",
            "00 01 61",
            TruncatedInteger,
        ),
        (
            "truncated literal: name",
            "40 05 61 62",
            TruncatedString {
                len: 5,
                available: 2,
            },
        ),
        (
            "truncated literal: value",
            "04 03 61",
            TruncatedString {
                len: 3,
                available: 1,
            },
        ),
        (
            "truncated literal: Huffman value",
            "00 01 61 85 1f",
            TruncatedString {
                len: 5,
                available: 1,
            },
        ),
        ("index 0: indexed field", "80", IndexZero),
        (
            "index 0 never appears as a literal's name index",
            "82 80",
            IndexZero,
        ),
        (
            "index past the table: empty dynamic table",
            "be",
            IndexOutOfRange {
                index: 62,
                dynamic_len: 0,
            },
        ),
        (
            "index past the table: literal name",
            "7e 01 61",
            IndexOutOfRange {
                index: 62,
                dynamic_len: 0,
            },
        ),
        (
            "index past the table: never indexed name",
            "1f 30 01 61",
            IndexOutOfRange {
                index: 63,
                dynamic_len: 0,
            },
        ),
        (
            "index past the table: huge index",
            "ff ff ff ff ff 07",
            IndexOutOfRange {
                index: 2_147_483_774,
                dynamic_len: 0,
            },
        ),
        (
            "integer overflow: above u32",
            "ff ff ff ff ff 0f",
            IntegerOverflow,
        ),
        (
            "integer overflow: six continuation bytes",
            "ff 80 80 80 80 80 00",
            IntegerOverflow,
        ),
        (
            "integer overflow: string length",
            "00 7f ff ff ff ff 7f",
            IntegerOverflow,
        ),
        (
            "huge string length, nothing behind it",
            "40 7f ff ff ff ff 07",
            TruncatedString {
                len: 2_147_483_774,
                available: 0,
            },
        ),
        (
            "Huffman EOS in the value",
            "00 01 61 84 ff ff ff ff",
            HuffmanEos,
        ),
        (
            "Huffman EOS in the name",
            "40 84 ff ff ff fc 01 61",
            HuffmanEos,
        ),
        (
            "Huffman padding of 8 bits",
            "00 01 61 81 ff",
            HuffmanPaddingTooLong,
        ),
        (
            "Huffman padding of 11 bits after a symbol",
            "00 01 61 82 1f ff",
            HuffmanPaddingTooLong,
        ),
        (
            "Huffman zero padding",
            "00 01 61 81 18",
            HuffmanPaddingNotOnes,
        ),
        (
            "Huffman padding with a zero bit",
            "00 01 61 81 1d",
            HuffmanPaddingNotOnes,
        ),
        ("size update at the end", "82 20", SizeUpdateNotAtStart),
        (
            "size update after a field",
            "82 3f e1 1f 82",
            SizeUpdateNotAtStart,
        ),
        (
            "size update above the limit",
            "3f e2 1f",
            SizeUpdateAboveLimit {
                requested: 4097,
                limit: 4096,
            },
        ),
        (
            "size update above the limit, second of two",
            "20 3f e2 1f",
            SizeUpdateAboveLimit {
                requested: 4097,
                limit: 4096,
            },
        ),
    ];
    for (what, block, want) in cases {
        let mut decoder = Decoder::new(4096);
        let got = decode(&mut decoder, block);
        assert_eq!(got, Err(want.clone()), "{what}: {block}");
        assert!(!want.keeps_table_in_sync(), "{what}");
    }
}

#[test]
fn lowered_limit_requires_a_size_update() {
    let mut decoder = Decoder::new(4096);
    decoder.set_max_table_size(1024);
    assert_eq!(
        decode(&mut decoder, "82"),
        Err(DecoderError::MissingSizeUpdate { limit: 1024 })
    );

    // An update to at most the limit satisfies it.
    let mut decoder = Decoder::new(4096);
    decoder.set_max_table_size(1024);
    assert!(decode(&mut decoder, "3f e1 07 82").is_ok()); // 1024
    assert!(decode(&mut decoder, "82").is_ok());

    // Lowered then raised between blocks: the smallest must be signalled.
    let mut decoder = Decoder::new(4096);
    decoder.set_max_table_size(100);
    decoder.set_max_table_size(4096);
    assert_eq!(
        decode(&mut decoder, "3f e1 1f 82"),
        Err(DecoderError::MissingSizeUpdate { limit: 100 })
    );
    let mut decoder = Decoder::new(4096);
    decoder.set_max_table_size(100);
    decoder.set_max_table_size(4096);
    assert!(decode(&mut decoder, "3f 45 3f e1 1f 82").is_ok()); // 100, then 4096

    // A decoder created below the default 4096 expects an update first.
    let mut decoder = Decoder::new(0);
    assert_eq!(
        decode(&mut decoder, "82"),
        Err(DecoderError::MissingSizeUpdate { limit: 0 })
    );
    let mut decoder = Decoder::new(0);
    assert!(decode(&mut decoder, "20 82").is_ok());
    // With a zero-size table, literals with indexing are simply not stored.
    assert!(decode(&mut decoder, "40 01 61 01 62 be").is_err());
}

#[test]
fn size_updates_evict_and_may_repeat() {
    let mut decoder = Decoder::new(4096);
    decode(&mut decoder, "40 01 61 01 62").unwrap(); // a: b, 34 bytes
    assert_eq!((decoder.table_len(), decoder.table_size()), (1, 34));
    decode(&mut decoder, "20 3f e1 1f").unwrap(); // 0 then 4096: table emptied
    assert_eq!((decoder.table_len(), decoder.table_size()), (0, 0));
    assert_eq!(
        decode(&mut decoder, "be"),
        Err(DecoderError::IndexOutOfRange {
            index: 62,
            dynamic_len: 0
        })
    );
}

/// Three literals with indexing (a: 1, b: 2, c: 3), then a block using them.
const THREE: &str = "40 01 61 01 31 40 01 62 01 32 40 01 63 01 33";

fn check_in_sync(decoder: &mut Decoder) {
    let fields = decode(decoder, "be bf c0").unwrap();
    let got: Vec<_> = fields.iter().map(|f| (&f.name[..], &f.value[..])).collect();
    assert_eq!(got, [(&b"c"[..], &b"3"[..]), (b"b", b"2"), (b"a", b"1")]);
}

#[test]
fn limits_fire_while_decoding_and_keep_the_table_in_sync() {
    let limits = DecoderLimits {
        max_fields: 2,
        ..DecoderLimits::default()
    };
    let mut decoder = Decoder::with_limits(4096, limits);
    let mut seen = 0;
    let err = decoder.decode_with(&hex(THREE), |_| seen += 1).unwrap_err();
    assert_eq!(err, DecoderError::TooManyFields { limit: 2 });
    assert!(err.keeps_table_in_sync());
    assert_eq!(seen, 2, "no field is handed out once the limit fired");
    decoder.set_limits(DecoderLimits::default());
    check_in_sync(&mut decoder);

    // Each field counts 1 + 1 + 32 = 34: the second one crosses 40.
    let limits = DecoderLimits {
        max_header_list_size: 40,
        ..DecoderLimits::default()
    };
    let mut decoder = Decoder::with_limits(4096, limits);
    let mut out = vec![HeaderField::new("keep", "me")];
    assert_eq!(
        decoder.decode(&hex(THREE), &mut out),
        Err(DecoderError::HeaderListTooLarge {
            size: 3 * 34,
            limit: 40
        })
    );
    assert_eq!(
        out,
        [HeaderField::new("keep", "me")],
        "out is restored on error"
    );
    decoder.set_limits(DecoderLimits::default());
    check_in_sync(&mut decoder);

    let limits = DecoderLimits {
        max_string_len: 0,
        ..DecoderLimits::default()
    };
    let mut decoder = Decoder::with_limits(4096, limits);
    assert_eq!(
        decode(&mut decoder, THREE),
        Err(DecoderError::StringTooLong { len: 1, limit: 0 })
    );
    decoder.set_limits(DecoderLimits::default());
    check_in_sync(&mut decoder);

    // Huffman strings are also checked after decoding: "aaaa" is 3 bytes on the wire.
    let limits = DecoderLimits {
        max_string_len: 3,
        ..DecoderLimits::default()
    };
    let mut decoder = Decoder::with_limits(4096, limits);
    assert_eq!(
        decode(&mut decoder, "00 01 61 83 18 c6 3f"),
        Err(DecoderError::StringTooLong { len: 4, limit: 3 })
    );
}

#[test]
fn every_prefix_of_valid_blocks_is_handled() {
    // RFC 7541 C.4.1 to C.4.3 (one connection: each block uses the entries
    // the ones before it added); a size update, a never-indexed Huffman
    // literal, an indexed literal and a reference to it; THREE.
    let c4_1 = "82 86 84 41 8c f1 e3 c2 e5 f2 3a 6b a0 ab 90 f4 ff";
    let c4_2 = "82 86 84 be 58 86 a8 eb 10 64 9c bf";
    let c4_3 = "82 87 85 bf 40 88 25 a8 49 e9 5b a9 7d 7f 89 25 a8 49 e9 5b b8 e8 b4 bf";
    let blocks: [(&[&str], &str); 5] = [
        (&[], c4_1),
        (&[c4_1], c4_2),
        (&[c4_1, c4_2], c4_3),
        (&[], "3f e1 1f 10 01 61 81 1f 40 01 62 01 63 be"),
        (&[], THREE),
    ];
    let primed = |before: &[&str]| {
        let mut decoder = Decoder::new(4096);
        for block in before {
            decode(&mut decoder, block).unwrap();
        }
        decoder
    };
    for (before, block) in blocks {
        let bytes = hex(block);
        let full = decode(&mut primed(before), block).unwrap();
        let mut truncated = 0;
        for cut in 0..=bytes.len() {
            let mut decoder = primed(before);
            let mut out = Vec::new();
            // A cut on a representation boundary is a shorter valid block:
            // the first fields; a cut inside one says it is truncated.
            match decoder.decode(&bytes.slice(..cut), &mut out) {
                Ok(()) => assert_eq!(out[..], full[..out.len()], "{block} cut at {cut}"),
                Err(DecoderError::TruncatedInteger | DecoderError::TruncatedString { .. }) => {
                    truncated += 1;
                }
                Err(e) => panic!("{block} cut at {cut}: {e}"),
            }
            if cut == bytes.len() {
                assert_eq!(out, full);
            }
        }
        // Most cuts fall inside a representation.
        assert!(
            truncated * 2 > bytes.len(),
            "{block}: {truncated} truncations"
        );
    }
}
