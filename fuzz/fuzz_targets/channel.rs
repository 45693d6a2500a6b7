//! The sans-IO gRPC channel in the tests' simulated world
//! (`tests/channel_support`), driven by libFuzzer: backends that die, come
//! back, drain with GOAWAY, refuse streams, fail calls or hang on connect;
//! address lists that change; unary and streaming calls, fail-fast or
//! wait-for-ready, with deadlines and A6 retries, some abandoned; time in
//! arbitrary steps.
//!
//! Checked: no call is picked onto a connection the channel was told is
//! down (the simulation asserts it on every pick), none is answered
//! twice, every call is answered once the backends are back, and no replay
//! buffer is left.
#![no_main]

#[path = "../../tests/channel_support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod channel_support;

use std::time::Duration;

use arbitrary::{Result, Unstructured};
use channel_support::{Mode, Sim, addr};
use h2proto::channel::{CodeSet, Config, PickOptions, RetryPolicy};
use h2proto::grpc::Code;
use libfuzzer_sys::fuzz_target;

/// Backends that exist; the channel starts with the first `n` of them.
const BACKENDS: usize = 5;

fn run(u: &mut Unstructured) -> Result<()> {
    let lb = if u.arbitrary()? {
        "pick_first"
    } else {
        "round_robin"
    };
    let mut config = Config::default();
    config.max_connections_per_backend = u.int_in_range(1..=3)?;
    config.replay_per_call = u.int_in_range(0..=2000)?;
    config.replay_per_channel = u.int_in_range(0..=4000)?;
    if u.arbitrary()? {
        config.idle_timeout = Some(Duration::from_millis(u.int_in_range(100..=5000)?));
    }
    let n = u.int_in_range(1..=3)?;
    let mut sim = Sim::new(n, lb, config);
    for i in n + 1..=BACKENDS {
        sim.backends.insert(
            addr(i),
            channel_support::Backend {
                mode: Mode::Accept,
                refuse_streams: 0,
                fail_calls: 0,
                served: 0,
                max_streams: None,
            },
        );
    }
    if u.arbitrary()? {
        for b in sim.backends.values_mut() {
            b.max_streams = Some(u.int_in_range(1..=3)?);
        }
    }
    let mut open = Vec::new();
    for _ in 0..200 {
        if u.is_empty() {
            break;
        }
        let b = addr(u.int_in_range(1..=BACKENDS)?);
        let action = u.int_in_range(0..=13)?;
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("{:?} action {action} on {}", sim.since(), b.0);
        }
        match action {
            0 => sim.kill(&b),
            1 => sim.revive(&b),
            2 => sim.goaway(&b),
            3 => sim.backends.get_mut(&b).unwrap().mode = Mode::Hang,
            4 => sim.backends.get_mut(&b).unwrap().refuse_streams += u.int_in_range(1..=3)?,
            5 => sim.backends.get_mut(&b).unwrap().fail_calls += u.int_in_range(1..=3)?,
            6 => {
                // The resolver now says these.
                let mut list = Vec::new();
                for i in 1..=BACKENDS {
                    if u.arbitrary()? {
                        list.push(addr(i));
                    }
                }
                let now = sim.now;
                sim.ch.update_addresses(list, now);
                sim.drain();
            }
            7..=10 => {
                let mut options = PickOptions::default().wait_for_ready(u.arbitrary()?);
                if u.arbitrary()? {
                    let after = Duration::from_millis(u.int_in_range(0..=3000)?);
                    options = options.deadline(sim.now + after);
                }
                if u.ratio(1, 4)? {
                    options = options.retry(RetryPolicy::new(
                        u.int_in_range(2..=5)?,
                        CodeSet::of(&[Code::UNAVAILABLE]),
                    ));
                }
                let call = if u.ratio(1, 3)? {
                    let sizes = (0..u.int_in_range(0..=5)?)
                        .map(|_| u.int_in_range(0..=800))
                        .collect::<Result<Vec<usize>>>()?;
                    sim.streaming_call(options, sizes)
                } else {
                    sim.call(options)
                };
                open.push(call);
            }
            11 => {
                // The application gives up on a call not yet answered.
                if !open.is_empty() {
                    let call = open.swap_remove(u.choose_index(open.len())?);
                    if !sim.answers.contains_key(&call) {
                        let now = sim.now;
                        sim.ch.cancel_call(call, now);
                        sim.drain();
                        if sim.ch.is_committed(call).is_none() {
                            // Forgotten: it will never be answered.
                            sim.started.retain(|c| *c != call);
                        }
                    }
                }
            }
            _ => sim.run_for(Duration::from_millis(u.int_in_range(0..=5000)?)),
        }
    }
    // Every backend back, the resolver listing them all: every call ends.
    for i in 1..=BACKENDS {
        sim.revive(&addr(i));
    }
    let now = sim.now;
    sim.ch
        .update_addresses((1..=BACKENDS).map(addr).collect(), now);
    sim.run_for(Duration::from_secs(900));
    sim.check_all_answered();
    assert_eq!(sim.ch.replay_buffered(), 0);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
