//! The rules both servers apply to every response a handler returns: a
//! `date` (RFC 9110 §6.6.1: an origin server with a clock sends it), in
//! IMF-fixdate form, unless the handler set one; no content on a 204 or a
//! 304 (§6.4.1), whatever body the handler gave.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use h2proto::io::tokio::{Body, Client, RecvBody, Server};
use h2proto::message::http_date;

/// A response's `date`, checked against the clock around the exchange.
fn check_date(headers: &http::HeaderMap, before: u64, after: u64) {
    let date = headers.get("date").expect("a date").to_str().unwrap();
    assert_eq!(headers.get_all("date").iter().count(), 1);
    let fits = (before..=after).any(|s| http_date(s) == date);
    assert!(fits, "{date} is not a second in {before}..={after}");
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn handler(req: http::Request<RecvBody>) -> http::Response<Body> {
    let mut res = http::Response::new(Body::from("hi"));
    if req.uri().path() == "/own" {
        res.headers_mut()
            .insert("date", "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
    }
    res
}

#[tokio::test]
async fn the_tokio_server_dates_its_responses() {
    let server = Server::bind("127.0.0.1:0").await.unwrap().serve(handler);
    let client = Client::connect(server.local_addr()).await.unwrap();
    let before = unix_now();
    let res = client.get("/").await.unwrap();
    check_date(res.headers(), before, unix_now());
    let own = client.get("/own").await.unwrap();
    assert_eq!(own.headers()["date"], "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(own.headers().get_all("date").iter().count(), 1);
    server.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn the_blocking_server_dates_its_responses() {
    let server = h2proto::io::blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .spawn(|_req: http::Request<Bytes>| http::Response::new(Bytes::from_static(b"hi")))
        .unwrap();
    let client = h2proto::io::blocking::Client::connect(server.local_addr()).unwrap();
    let before = unix_now();
    let res = client.get("/").unwrap();
    check_date(res.headers(), before, unix_now());
}

#[test]
fn the_blocking_server_drops_the_body_of_a_204() {
    let server = h2proto::io::blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .spawn(|_req: http::Request<Bytes>| {
            let mut res = http::Response::new(Bytes::from_static(b"dropped"));
            *res.status_mut() = http::StatusCode::NO_CONTENT;
            res
        })
        .unwrap();
    let client = h2proto::io::blocking::Client::connect(server.local_addr()).unwrap();
    let res = client.get("/").unwrap();
    assert_eq!(res.status(), 204);
    assert!(res.body().is_empty());
}
