//! Arbitrary bytes through the frame decoder; every decoded frame must
//! re-encode and decode back to an equal frame.
#![no_main]

use bytes::BytesMut;
use h2proto::frame::{Decoder, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let mut decoder = Decoder::new();
    // Frames to round-trip. A stream error that still carries its frame (HEADERS
    // with a self-dependency) changes the decoder's field-block state, and the
    // encoder refuses such a frame, so the round trip stops there.
    let mut frames: Vec<Frame> = Vec::new();
    let mut collecting = true;
    loop {
        let before = buf.len();
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => {
                if collecting {
                    frames.push(frame);
                }
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) must not consume");
                assert!(decoder.next_frame_len(&buf) > buf.len());
                break;
            }
            Err(e) if e.is_connection_error() => break,
            Err(e) => {
                assert!(buf.len() < before, "a stream error must consume its frame");
                if e.frame().is_some() {
                    collecting = false;
                }
            }
        }
    }

    let max = decoder.max_frame_size();
    let mut wire = BytesMut::new();
    for frame in &frames {
        frame
            .encode(&mut wire, max)
            .expect("a decoded frame must re-encode");
    }
    let mut again = Decoder::new();
    for frame in &frames {
        let got = again
            .decode(&mut wire)
            .expect("re-encoded frame must decode");
        assert_eq!(got.as_ref(), Some(frame));
    }
    assert!(wire.is_empty(), "re-encoding wrote extra bytes");
});
