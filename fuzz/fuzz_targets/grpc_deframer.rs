//! The gRPC deframer (and gzip decompression, capped) on arbitrary bytes cut
//! at arbitrary points: never panics, never yields a message over the limit.
#![no_main]

use h2proto::grpc::Encoding;
use h2proto::grpc::codec::Deframer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let max = 1 + usize::from(cut) * 64;
    let step = usize::from(cut % 17) + 1;
    let mut d = Deframer::new(max);
    for chunk in rest.chunks(step) {
        d.push(chunk);
        loop {
            match d.next_message() {
                Ok(Some(m)) => {
                    assert!(m.data.len() <= max);
                    if m.compressed
                        && let Ok(out) = Encoding::Gzip.decompress(&m.data, max)
                    {
                        assert!(out.len() <= max);
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
    let _ = d.finish();
});
