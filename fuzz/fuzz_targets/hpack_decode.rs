//! Decodes arbitrary bytes as a sequence of header blocks: must never panic,
//! and errors must leave the output as it was.
#![no_main]

use bytes::Bytes;
use h2proto::hpack::{Decoder, DecoderLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [control, split, rest @ ..] = data else {
        return;
    };
    let control = *control;
    // The first byte picks the table size limit and how tight the limits are;
    // the second where the rest splits into two blocks decoded in sequence.
    let limit = usize::from(control & 0x0f) * 512;
    let limits = if control & 0x10 != 0 {
        DecoderLimits {
            max_header_list_size: 300,
            max_fields: 8,
            max_string_len: 40,
        }
    } else {
        DecoderLimits::default()
    };
    let mut decoder = Decoder::with_limits(limit, limits);
    let mut out = Vec::new();
    let (first, second) = rest.split_at(rest.len() * usize::from(*split) / 256);
    for block in [first, second] {
        out.clear();
        match decoder.decode(&Bytes::copy_from_slice(block), &mut out) {
            Ok(()) => {}
            Err(e) => {
                assert!(out.is_empty());
                if !e.keeps_table_in_sync() {
                    return;
                }
            }
        }
        assert!(decoder.table_size() <= limit.max(4096));
    }
});
