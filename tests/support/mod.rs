//! Shorthands over `h2proto::testing` with the real clock as the starting point.
#![allow(dead_code, unused_imports)]

use std::time::Instant;

use h2proto::proto::Config;
pub use h2proto::testing::{Pair, ScriptedPeer, Side, decode_all, request, status};

/// A client and a server with default configs.
pub fn pair() -> Pair {
    pair_with(Config::client(), Config::server())
}

/// A client and a server with the given configs.
pub fn pair_with(client: Config, server: Config) -> Pair {
    Pair::new(client, server, Instant::now())
}

/// A real server after the handshake; the test plays the client.
pub fn server_peer(config: Config) -> ScriptedPeer {
    ScriptedPeer::server(config, Instant::now())
}

/// A real client after the handshake; the test plays the server.
pub fn client_peer(config: Config) -> ScriptedPeer {
    ScriptedPeer::client(config, Instant::now())
}

/// A connection with nothing sent to it yet.
pub fn fresh_peer(config: Config) -> ScriptedPeer {
    ScriptedPeer::new(config, Instant::now())
}

/// `GET path`.
pub fn get(path: &str) -> Vec<h2proto::hpack::HeaderField> {
    request("GET", path)
}
