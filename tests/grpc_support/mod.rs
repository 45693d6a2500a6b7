//! A wire between two endpoints of any kind (gRPC client/server or a raw
//! HTTP/2 connection), stepped by hand on a virtual clock.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use h2proto::grpc::{self, Client, Config, Server};
use h2proto::hpack::HeaderField;
use h2proto::proto::{self, Connection};

pub trait Ep {
    type Ev;
    fn recv(&mut self, b: &mut BytesMut, now: Instant);
    fn tx(&mut self, b: &mut BytesMut, max: usize, now: Instant) -> usize;
    fn timeout(&mut self, now: Instant);
    fn poll(&mut self) -> Option<Self::Ev>;
}

macro_rules! grpc_ep {
    ($t:ty) => {
        impl Ep for $t {
            type Ev = grpc::Event;
            fn recv(&mut self, b: &mut BytesMut, now: Instant) {
                <$t>::recv(self, b, now)
            }
            fn tx(&mut self, b: &mut BytesMut, max: usize, now: Instant) -> usize {
                self.poll_transmit(b, max, now)
            }
            fn timeout(&mut self, now: Instant) {
                self.handle_timeout(now)
            }
            fn poll(&mut self) -> Option<grpc::Event> {
                self.poll_event()
            }
        }
    };
}
grpc_ep!(Client);
grpc_ep!(Server);

impl Ep for Connection {
    type Ev = proto::Event;
    fn recv(&mut self, b: &mut BytesMut, now: Instant) {
        Connection::recv(self, b, now)
    }
    fn tx(&mut self, b: &mut BytesMut, max: usize, now: Instant) -> usize {
        self.poll_transmit(b, max, now)
    }
    fn timeout(&mut self, now: Instant) {
        self.handle_timeout(now)
    }
    fn poll(&mut self) -> Option<proto::Event> {
        self.poll_event()
    }
}

pub struct Duo<C: Ep, S: Ep> {
    pub c: C,
    pub s: S,
    pub now: Instant,
    pub to_s: BytesMut,
    pub to_c: BytesMut,
    pub cev: Vec<C::Ev>,
    pub sev: Vec<S::Ev>,
    pub chunk: usize,
}

impl<C: Ep, S: Ep> Duo<C, S> {
    pub fn new(c: C, s: S, now: Instant) -> Self {
        Duo {
            c,
            s,
            now,
            to_s: BytesMut::new(),
            to_c: BytesMut::new(),
            cev: Vec::new(),
            sev: Vec::new(),
            chunk: usize::MAX,
        }
    }

    pub fn step(&mut self) -> bool {
        let now = self.now;
        let a = self.c.tx(&mut self.to_s, self.chunk, now);
        self.s.recv(&mut self.to_s, now);
        self.collect();
        let b = self.s.tx(&mut self.to_c, self.chunk, now);
        self.c.recv(&mut self.to_c, now);
        self.collect();
        a + b > 0
    }

    pub fn collect(&mut self) {
        while let Some(e) = self.c.poll() {
            self.cev.push(e);
        }
        while let Some(e) = self.s.poll() {
            self.sev.push(e);
        }
    }

    pub fn run(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("did not settle");
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        self.c.timeout(now);
        self.s.timeout(now);
        self.collect();
    }

    pub fn take_c(&mut self) -> Vec<C::Ev> {
        self.collect();
        std::mem::take(&mut self.cev)
    }

    pub fn take_s(&mut self) -> Vec<S::Ev> {
        self.collect();
        std::mem::take(&mut self.sev)
    }
}

pub fn t0() -> Instant {
    Instant::now()
}

/// gRPC client ↔ gRPC server, handshake done.
pub fn grpc_pair(c: Config, s: Config) -> Duo<Client, Server> {
    let now = t0();
    let mut d = Duo::new(Client::new(c, now), Server::new(s, now), now);
    d.run();
    d.take_c();
    d.take_s();
    d
}

pub fn default_pair() -> Duo<Client, Server> {
    grpc_pair(Config::client(), Config::server())
}

/// Raw HTTP/2 client ↔ gRPC server.
pub fn raw_client(s: Config) -> Duo<Connection, Server> {
    let now = t0();
    let mut d = Duo::new(
        Connection::new(proto::Config::client(), now),
        Server::new(s, now),
        now,
    );
    d.run();
    d.take_c();
    d.take_s();
    d
}

/// gRPC client ↔ raw HTTP/2 server.
pub fn raw_server(c: Config) -> Duo<Client, Connection> {
    let now = t0();
    let mut d = Duo::new(
        Client::new(c, now),
        Connection::new(proto::Config::server(), now),
        now,
    );
    d.run();
    d.take_c();
    d.take_s();
    d
}

/// A valid gRPC request header list, to tamper with.
pub fn grpc_request(path: &str) -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", "POST"),
        HeaderField::new(":scheme", "http"),
        HeaderField::new(":authority", "localhost"),
        HeaderField::new(":path", path.to_owned()),
        HeaderField::new("te", "trailers"),
        HeaderField::new("content-type", "application/grpc"),
    ]
}

/// Removes the field `name` and optionally puts a new value.
pub fn set(fields: &mut Vec<HeaderField>, name: &str, value: Option<&str>) {
    fields.retain(|f| f.name != name.as_bytes());
    if let Some(v) = value {
        fields.push(HeaderField::new(name.to_owned(), v.to_owned()));
    }
}

pub fn field<'a>(h: &'a proto::HeaderList, name: &str) -> Option<&'a str> {
    h.get(name.as_bytes())
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// A framed gRPC message.
pub fn msg(payload: &[u8]) -> bytes::Bytes {
    h2proto::grpc::codec::frame_message(false, payload)
}

pub fn finished(evs: &[grpc::Event]) -> Vec<(grpc::CallId, grpc::Status)> {
    evs.iter()
        .filter_map(|e| match e {
            grpc::Event::Finished { call, status, .. } => Some((*call, status.clone())),
            _ => None,
        })
        .collect()
}

pub fn messages(evs: &[grpc::Event]) -> Vec<bytes::Bytes> {
    evs.iter()
        .filter_map(|e| match e {
            grpc::Event::Message { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

pub fn started(evs: &[grpc::Event]) -> Vec<grpc::CallId> {
    evs.iter()
        .filter_map(|e| match e {
            grpc::Event::CallStarted { call, .. } => Some(*call),
            _ => None,
        })
        .collect()
}
