//! What the HTTP message layer (`h2proto::message`) costs per exchange:
//! heads ⇄ header fields, both ways, on what a load test sends (h2load's
//! GET and the 26-byte answer of `examples/h2_server`).
//!
//! ```sh
//! cargo bench --bench message
//! ```
//!
//! A received head is the core's `proto::HeaderList`, which only a connection
//! makes: one is taken from an in-memory pair once and cloned per iteration
//! (`headers_clone` measures that clone alone). `strings_baseline` is what
//! the adapters did before the layer: method, path, scheme and authority
//! copied into `String`s and the regular fields into a `Vec`.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use h2proto::hpack::HeaderField;
use h2proto::message;
use h2proto::proto::{Config, Event, HeaderList};
use h2proto::testing::{Pair, Side};

/// The head h2load sends for `GET /`.
fn h2load_request() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", "GET"),
        HeaderField::new(":scheme", "http"),
        HeaderField::new(":authority", "127.0.0.1:8080"),
        HeaderField::new(":path", "/"),
        HeaderField::new("accept", "*/*"),
        HeaderField::new("accept-encoding", "gzip, deflate"),
        HeaderField::new("user-agent", "h2load nghttp2/1.64.0"),
    ]
}

/// The request and response heads as the core hands them over.
fn received() -> (HeaderList, HeaderList) {
    let now = Instant::now();
    let mut pair = Pair::new(Config::client(), Config::server(), now);
    pair.handshake();
    let id = pair
        .conn(Side::Client)
        .send_request(h2load_request(), true)
        .expect("request");
    pair.run();
    let request = pair
        .events(Side::Server)
        .into_iter()
        .find_map(|e| match e {
            Event::Headers { headers, .. } => Some(headers),
            _ => None,
        })
        .expect("request head");
    let fields = vec![
        HeaderField::new(":status", "200"),
        HeaderField::new("content-type", "text/plain; charset=utf-8"),
        HeaderField::new("content-length", "26"),
    ];
    // Without END_STREAM: its content-length promises a body.
    pair.conn(Side::Server)
        .send_response(id, fields, false)
        .expect("response");
    pair.run();
    let response = pair
        .events(Side::Client)
        .into_iter()
        .find_map(|e| match e {
            Event::Headers { headers, .. } => Some(headers),
            _ => None,
        })
        .expect("response head");
    (request, response)
}

/// The adapters' conversion before the message layer (server side).
fn strings_baseline(
    headers: HeaderList,
) -> (String, String, String, Option<String>, Vec<HeaderField>) {
    let text = |v: Option<&[u8]>| v.map(|v| String::from_utf8_lossy(v).into_owned());
    let method = text(headers.method()).unwrap_or_default();
    let path = text(headers.path()).unwrap_or_default();
    let scheme = text(headers.scheme()).unwrap_or_default();
    let authority = text(headers.authority());
    let regular = headers.fields().len();
    let mut all = headers.into_fields();
    let fields = all.split_off(all.len() - regular);
    (method, path, scheme, authority, fields)
}

fn bench(c: &mut Criterion) {
    let (request, response) = received();
    let mut group = c.benchmark_group("message");
    group.bench_function("headers_clone", |b| b.iter(|| black_box(request.clone())));
    group.bench_function("strings_baseline", |b| {
        b.iter(|| black_box(strings_baseline(request.clone())))
    });
    group.bench_function("request_head", |b| {
        b.iter(|| black_box(message::request_head(request.clone())))
    });
    group.bench_function("response_head", |b| {
        b.iter(|| black_box(message::response_head(response.clone())))
    });
    let answer = http::Response::builder()
        .header("content-type", "text/plain; charset=utf-8")
        .header("content-length", 26)
        .body(Bytes::from_static(b"hello from h2proto: GET /\n"))
        .expect("response");
    group.bench_function("response_fields", |b| {
        b.iter(|| black_box(message::response_fields(answer.status(), answer.headers())))
    });
    let (parts, ()) = http::Request::get("/index.html")
        .header("accept", "*/*")
        .header("user-agent", "h2proto")
        .body(())
        .expect("request")
        .into_parts();
    group.bench_function("request_fields", |b| {
        b.iter(|| black_box(message::request_fields(&parts, "127.0.0.1:8080", false)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
