//! A raw HTTP/2 server that refuses streams with REFUSED_STREAM.

#![allow(dead_code)]

use std::net::SocketAddr;

/// A raw HTTP/2 server that refuses every stream (RST_STREAM
/// REFUSED_STREAM), counting them.
pub fn refuser() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    refuser_on(false)
}

/// A refuser that answers each stream's first DATA frame instead of its
/// HEADERS: the refusal comes after the client sent a message.
pub fn refuser_on(data: bool) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use bytes::BytesMut;
    use h2proto::frame::{self, Frame, PREFACE, Reason, RstStream, Settings};
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering::SeqCst;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let enc = |f: Frame, out: &mut BytesMut| {
                    f.encode(out, frame::DEFAULT_MAX_FRAME_SIZE).unwrap();
                };
                let mut out = BytesMut::new();
                enc(Settings::default().into(), &mut out);
                let _ = stream.write_all(&out);
                let (mut input, mut preface) = (BytesMut::new(), false);
                let mut decoder = frame::Decoder::new();
                let mut refused = std::collections::HashSet::new();
                let mut chunk = [0u8; 16 * 1024];
                loop {
                    let n = match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    input.extend_from_slice(&chunk[..n]);
                    if !preface {
                        if input.len() < PREFACE.len() {
                            continue;
                        }
                        let _ = input.split_to(PREFACE.len());
                        preface = true;
                    }
                    let mut out = BytesMut::new();
                    while let Ok(Some(f)) = decoder.decode(&mut input) {
                        match f {
                            Frame::Settings(s) if !s.is_ack() => {
                                enc(Settings::ack().into(), &mut out)
                            }
                            Frame::Headers(h) if !data => {
                                counter.fetch_add(1, SeqCst);
                                enc(
                                    RstStream::new(h.stream_id, Reason::REFUSED_STREAM).into(),
                                    &mut out,
                                );
                            }
                            Frame::Data(d) if data && refused.insert(d.stream_id) => {
                                counter.fetch_add(1, SeqCst);
                                enc(
                                    RstStream::new(d.stream_id, Reason::REFUSED_STREAM).into(),
                                    &mut out,
                                );
                            }
                            _ => {}
                        }
                    }
                    if stream.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, count)
}
