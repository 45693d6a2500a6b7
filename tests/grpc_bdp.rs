//! The BDP estimator over a simulated link (latency + bandwidth): the
//! client's receive window grows to cover the bandwidth-delay product.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2proto::grpc::{Client, Config, Event, Metadata, Server};

/// One direction of the link: bytes leave at most `bw` per tick and arrive
/// `latency` later.
struct Link {
    flight: VecDeque<(Instant, Bytes)>,
    rx: BytesMut,
}

impl Link {
    fn new() -> Self {
        Link {
            flight: VecDeque::new(),
            rx: BytesMut::new(),
        }
    }
    fn arrive(&mut self, now: Instant) {
        while self.flight.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, b)) = self.flight.pop_front() {
                self.rx.extend_from_slice(&b);
            }
        }
    }
}

/// Streams from server to client for `secs` simulated seconds; returns the
/// client and the bytes received in the last second.
fn stream(client_cfg: Config, secs: u64) -> (Client, usize) {
    const TICK: Duration = Duration::from_millis(1);
    const BW: usize = 10_000; // bytes per ms = 10 MB/s
    let latency = Duration::from_millis(50); // RTT 100 ms: BDP = 1 MB
    let t0 = Instant::now();
    let mut now = t0;
    let mut c = Client::new(client_cfg, now);
    let mut s = Server::new(Config::server(), now);
    let (mut up, mut down) = (Link::new(), Link::new());
    let call = c
        .start_call("/bulk/Download", Metadata::new(), None, now)
        .unwrap();
    c.close_send(call).unwrap();
    let chunk = Bytes::from(vec![0u8; 32 * 1024]);
    let mut server_call = None;
    let mut received_last_second = 0;
    while now < t0 + Duration::from_secs(secs) {
        now += TICK;
        c.handle_timeout(now);
        s.handle_timeout(now);
        let mut out = BytesMut::new();
        c.poll_transmit(&mut out, usize::MAX, now);
        if !out.is_empty() {
            up.flight.push_back((now + latency, out.freeze()));
        }
        let mut out = BytesMut::new();
        s.poll_transmit(&mut out, BW, now);
        if !out.is_empty() {
            down.flight.push_back((now + latency, out.freeze()));
        }
        up.arrive(now);
        s.recv(&mut up.rx, now);
        down.arrive(now);
        c.recv(&mut down.rx, now);
        while let Some(e) = s.poll_event() {
            if let Event::CallStarted { call, .. } = e {
                server_call = Some(call);
            }
        }
        if let Some(sc) = server_call {
            while s.send_message(sc, chunk.clone()).is_ok() {}
        }
        while let Some(e) = c.poll_event() {
            if let Event::Message { message, .. } = e
                && now > t0 + Duration::from_secs(secs - 1)
            {
                received_last_second += message.len();
            }
        }
    }
    (c, received_last_second)
}

#[test]
fn bdp_window_grows_to_cover_bandwidth_delay_product() {
    let (c, last_second) = stream(Config::client(), 6);
    let bdp = 10_000 * 100; // bytes per ms × RTT in ms
    let window = c.connection().config().initial_window_size as usize;
    assert!(
        c.bdp_window().unwrap() as usize >= bdp,
        "estimate {:?}",
        c.bdp_window()
    );
    assert!(window >= bdp, "stream window {window} < BDP {bdp}");
    assert!(c.connection().config().connection_window_size as usize >= bdp);
    // With the window open, the link is nearly saturated (10 MB/s).
    assert!(last_second > 8_000_000, "throughput {last_second} B/s");
}

#[test]
fn fixed_windows_turn_bdp_off() {
    let cfg = Config::client().fixed_windows(256 * 1024, 1 << 20);
    let (c, last_second) = stream(cfg, 3);
    assert_eq!(c.bdp_window(), None);
    assert_eq!(c.connection().config().initial_window_size, 256 * 1024);
    // 256 KiB per 100 ms RTT caps throughput near 2.6 MB/s.
    assert!(last_second < 3_000_000, "throughput {last_second} B/s");
}
