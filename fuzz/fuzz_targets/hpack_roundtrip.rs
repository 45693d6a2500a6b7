//! Encodes arbitrary header lists with table size changes in between, then
//! decodes them: the decoder must give back exactly the input.
#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use h2proto::hpack::{Decoder, DecoderLimits, Encoder, HeaderField};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Step {
    TableSize(u16),
    Block(Vec<(Vec<u8>, Vec<u8>, bool)>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    own_max: u16,
    steps: Vec<Step>,
}

fuzz_target!(|input: Input| {
    let own_max = usize::from(input.own_max);
    let mut encoder = Encoder::new(own_max);
    let limits = DecoderLimits {
        max_header_list_size: usize::MAX,
        max_fields: usize::MAX,
        max_string_len: usize::MAX,
    };
    let mut decoder = Decoder::with_limits(4096, limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for step in input.steps {
        match step {
            Step::TableSize(n) => {
                encoder.set_peer_max_table_size(usize::from(n));
                decoder.set_max_table_size(usize::from(n));
            }
            Step::Block(list) => {
                let list: Vec<HeaderField> = list
                    .into_iter()
                    .map(|(n, v, s)| HeaderField::new(n, v).with_sensitive(s))
                    .collect();
                encoder.encode(&list, &mut buf);
                out.clear();
                if let Err(e) = decoder.decode(&buf.split().freeze(), &mut out) {
                    panic!("our own block failed to decode: {e}");
                }
                assert_eq!(out.len(), list.len());
                for (got, want) in out.iter().zip(&list) {
                    assert_eq!(got.name, want.name);
                    assert_eq!(got.value, want.value);
                    assert!(got.sensitive || !want.sensitive, "sensitive flag lost");
                }
                assert_eq!(encoder.table_size(), decoder.table_size());
            }
        }
    }
});
