//! Arbitrary bytes and frames into a server after a valid preface and
//! SETTINGS, interleaved with arbitrary local commands; the stats caps are
//! checked after every step.
#![no_main]

use h2proto::proto::Role;
use libfuzzer_sys::fuzz_target;

#[path = "conn_common.rs"]
mod conn_common;

fuzz_target!(|data: &[u8]| conn_common::run(data, Role::Server));
