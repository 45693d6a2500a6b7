//! The sans-IO channel in a simulated world on a virtual clock: backoff
//! against the spec's constants, the state tables, pick_first and
//! round_robin under flapping, fail-fast and wait-for-ready, transparent
//! retry, idleness, re-resolution, stream limits, and that no call is lost
//! or answered twice.

mod channel_support;

use std::time::Duration;

use channel_support::{Mode, Sim, addr};
use h2proto::channel::{Config, ConnectivityState::*, DnsResolver, PickOptions, aggregate, policy};
use h2proto::grpc::Code;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: f64) -> Duration {
    Duration::from_secs_f64(n)
}

/// Dial times of a backend that refuses: 0, then each backoff after the
/// previous attempt's start: 1, 1.6, 2.56, ... capped at 120 s.
#[test]
fn backoff_sequence_matches_spec() {
    let mut sim = Sim::new(1, "pick_first", Config::default());
    sim.dial_time = Duration::ZERO;
    sim.backends.get_mut(&addr(1)).unwrap().mode = Mode::Refuse;
    sim.ch.connect(sim.now);
    sim.run_until(secs(1000.0));
    let mut expect = vec![0.0];
    let (mut t, mut b) = (0.0, 1.0f64);
    while t + b <= 1000.0 {
        t += b;
        expect.push(t);
        b = (b * 1.6).min(120.0);
    }
    let got: Vec<f64> = sim.connects.iter().map(|c| c.0.as_secs_f64()).collect();
    assert_eq!(got.len(), expect.len(), "{got:?}");
    for (g, e) in got.iter().zip(&expect) {
        assert!((g - e).abs() < 1e-6, "{got:?} vs {expect:?}");
    }
    // The last steps are at the 120 s cap.
    let n = got.len();
    assert!((got[n - 1] - got[n - 2] - 120.0).abs() < 1e-6);
    assert_eq!(sim.ch.state(), TransientFailure);
}

/// An attempt that hangs is abandoned at max(next start, 20 s): attempts
/// every 20 s until the backoff outgrows MIN_CONNECT_TIMEOUT.
#[test]
fn hanging_connect_times_out_at_min_connect_timeout() {
    let mut sim = Sim::new(1, "pick_first", Config::default());
    sim.backends.get_mut(&addr(1)).unwrap().mode = Mode::Hang;
    sim.ch.connect(sim.now);
    sim.run_until(secs(200.0));
    let got: Vec<f64> = sim.connects.iter().map(|c| c.0.as_secs_f64()).collect();
    // Backoffs 1, 1.6, ..., 16.78 (< 20): the timeout rules; the 8th
    // attempt's backoff is 26.84 s.
    let mut expect = vec![0.0];
    for i in 1..8 {
        expect.push(20.0 * i as f64);
    }
    expect.push(140.0 + 26.8435456);
    for (g, e) in got.iter().zip(&expect) {
        assert!((g - e).abs() < 1e-6, "{got:?}");
    }
    assert_eq!(
        sim.disconnects,
        got.len() - 1,
        "each timed-out attempt is abandoned"
    );
    // A call that does not wait for ready fails fast once TRANSIENT_FAILURE.
    let c = sim.call(PickOptions::default());
    assert_eq!(
        sim.answers[&c].as_ref().unwrap_err().code(),
        Code::UNAVAILABLE
    );
}

/// Jitter moves every backoff but the first by its sample × 20 %.
#[test]
fn jitter_is_applied_from_the_second_step() {
    let mut sim = Sim::new(1, "pick_first", Config::default());
    sim.ch
        .set_jitter(Box::new(h2proto::channel::FixedJitter(1.0)));
    sim.dial_time = Duration::ZERO;
    sim.backends.get_mut(&addr(1)).unwrap().mode = Mode::Refuse;
    sim.ch.connect(sim.now);
    sim.run_until(secs(10.0));
    let got: Vec<f64> = sim.connects.iter().map(|c| c.0.as_secs_f64()).collect();
    let expect = [0.0, 1.0, 1.0 + 1.6 * 1.2, 1.0 + 1.6 * 1.2 + 2.56 * 1.2];
    for (g, e) in got.iter().zip(&expect) {
        assert!((g - e).abs() < 1e-6, "{got:?}");
    }
}

/// Backoff starts over once a connection was READY.
#[test]
fn backoff_resets_after_ready() {
    let mut sim = Sim::new(1, "round_robin", Config::default());
    sim.dial_time = Duration::ZERO;
    let a = addr(1);
    sim.backends.get_mut(&a).unwrap().mode = Mode::Refuse;
    sim.ch.connect(sim.now);
    sim.run_until(secs(6.0)); // attempts at 0, 1, 2.6, 5.16
    assert_eq!(sim.connects.len(), 4);
    sim.revive(&a);
    sim.run_until(secs(20.0)); // next at 5.16 + 4.096 = 9.256: READY
    assert_eq!(sim.connects.len(), 5);
    assert_eq!(sim.ch.state(), Ready);
    sim.kill(&a); // READY -> IDLE -> reconnect at once, refused, then 1 s
    sim.run_until(secs(21.5));
    let t: Vec<f64> = sim.connects[5..]
        .iter()
        .map(|c| c.0.as_secs_f64())
        .collect();
    assert_eq!(t, [20.0, 21.0]);
}

#[test]
fn aggregate_state_table() {
    let all = [Idle, Connecting, Ready, TransientFailure, Shutdown];
    for a in all {
        for b in all {
            for c in all {
                let s = [a, b, c];
                let expect = if s.contains(&Ready) {
                    Ready
                } else if s.contains(&Connecting) {
                    Connecting
                } else if s.contains(&Idle) {
                    Idle
                } else {
                    TransientFailure
                };
                assert_eq!(aggregate(s), expect, "{s:?}");
            }
        }
    }
}

/// The channel's states through a round_robin life: IDLE, CONNECTING,
/// READY, TRANSIENT_FAILURE (sticky while retrying), READY, IDLE.
#[test]
fn round_robin_channel_states() {
    let mut config = Config::default();
    config.idle_timeout = Some(Duration::from_secs(100));
    let mut sim = Sim::new(2, "round_robin", config);
    assert_eq!(sim.ch.state(), Idle);
    sim.ch.connect(sim.now);
    sim.drain();
    assert_eq!(sim.ch.state(), Connecting);
    sim.run_for(ms(5));
    assert_eq!(sim.ch.state(), Ready);
    sim.kill(&addr(1));
    sim.kill(&addr(2));
    sim.run_for(secs(30.0));
    let states: Vec<_> = sim.states.iter().map(|s| s.1).collect();
    // Retries move subchannels through CONNECTING, but the channel stays
    // TRANSIENT_FAILURE until one is READY.
    assert_eq!(states, [Connecting, Ready, Connecting, TransientFailure]);
    sim.revive(&addr(2));
    sim.run_for(secs(30.0));
    assert_eq!(sim.ch.state(), Ready);
    sim.run_until(secs(99.0));
    assert_eq!(sim.ch.state(), Ready);
    sim.run_until(secs(100.0));
    assert_eq!(sim.ch.state(), Idle, "idle after 100 s without calls");
}

#[test]
fn round_robin_spreads_evenly() {
    let mut sim = Sim::new(3, "round_robin", Config::default());
    for i in 0..300 {
        sim.call(PickOptions::default());
        sim.run_until(ms(100 * (i + 1)));
    }
    sim.run_for(secs(1.0));
    sim.check_all_answered();
    let by = sim.ok_by_backend();
    assert_eq!(by.values().copied().collect::<Vec<_>>(), [100, 100, 100]);
}

/// A backend dies mid-run: no call fails (none was on it), its share moves
/// to the others at once, and it gets calls again within one backoff step
/// of coming back.
#[test]
fn round_robin_backend_leaves_and_returns() {
    let mut sim = Sim::new(3, "round_robin", Config::default());
    let b = addr(2);
    let mut revived_at = None;
    for i in 0..400u64 {
        let t = ms(50 * i);
        if i == 100 {
            sim.kill(&b);
        }
        if i == 200 {
            sim.revive(&b);
            revived_at = Some(t);
        }
        sim.run_until(t);
        sim.call(PickOptions::default());
    }
    sim.run_for(secs(1.0));
    sim.check_all_answered();
    assert_eq!(sim.failed(), 0);
    let killed_at = ms(5000);
    let on_b: Vec<Duration> = sim.picks.iter().filter(|p| p.1 == b).map(|p| p.2).collect();
    assert!(
        on_b.iter()
            .all(|&t| t <= killed_at || t >= revived_at.unwrap())
    );
    // Refused at 5.0 s, retried at 6.0, 7.6, 10.16 (backoffs 1, 1.6,
    // 2.56: the attempt after the revival at 10 s succeeds at 10.16).
    let back = on_b.iter().find(|&&t| t > killed_at).unwrap();
    assert!(*back <= revived_at.unwrap() + secs(4.096), "{back:?}");
    let by = sim.ok_by_backend();
    assert!(by[&addr(1)] > by[&b] && by[&addr(3)] > by[&b], "{by:?}");
}

/// pick_first: list order, stays put, moves on failure, does not move back.
#[test]
fn pick_first_order_stay_move() {
    let mut sim = Sim::new(3, "pick_first", Config::default());
    sim.backends.get_mut(&addr(1)).unwrap().mode = Mode::Refuse;
    for i in 0..20 {
        sim.call(PickOptions::default());
        sim.run_until(ms(100 * (i + 1)));
    }
    assert_eq!(sim.ok_by_backend().get(&addr(2)), Some(&20));
    // Only 1 (refused) and 2 were dialed.
    let dialed: Vec<_> = sim.connects.iter().map(|c| c.1.clone()).collect();
    assert_eq!(dialed, [addr(1), addr(2)]);
    sim.revive(&addr(1));
    sim.kill(&addr(2));
    // Channel IDLE until the next call, which starts a new pass from the top.
    assert_eq!(sim.ch.state(), Idle);
    for i in 20..40 {
        sim.call(PickOptions::default());
        sim.run_until(ms(100 * (i + 1)));
    }
    sim.check_all_answered();
    assert_eq!(sim.failed(), 0);
    assert_eq!(sim.ok_by_backend().get(&addr(1)), Some(&20));
    // Now 1 dies too, and 2 stays dead: the pass moves on to 3, and stays.
    sim.kill(&addr(1));
    for i in 40..60 {
        sim.call(PickOptions::default());
        sim.run_until(ms(100 * (i + 1)));
    }
    sim.revive(&addr(1));
    sim.revive(&addr(2));
    for i in 60..80 {
        sim.call(PickOptions::default());
        sim.run_until(ms(100 * (i + 1)));
    }
    sim.check_all_answered();
    assert_eq!(sim.failed(), 0);
    assert_eq!(sim.ok_by_backend().get(&addr(3)), Some(&40));
}

/// Every backend down: fail-fast calls fail UNAVAILABLE at once;
/// wait-for-ready calls wait, until their deadline or a backend.
#[test]
fn fail_fast_and_wait_for_ready() {
    let mut sim = Sim::new(2, "round_robin", Config::default());
    for i in 1..=2 {
        sim.backends.get_mut(&addr(i)).unwrap().mode = Mode::Refuse;
    }
    let first = sim.call(PickOptions::default());
    sim.run_for(ms(5));
    assert_eq!(sim.ch.state(), TransientFailure);
    let e = sim.answers[&first].as_ref().unwrap_err();
    assert_eq!(e.code(), Code::UNAVAILABLE);
    assert!(e.message().contains("connection refused"), "{e}");
    let now = sim.now;
    let short = sim.call(
        PickOptions::default()
            .wait_for_ready(true)
            .deadline(now + secs(2.0)),
    );
    let long = sim.call(PickOptions::default().wait_for_ready(true));
    sim.run_for(secs(3.0));
    assert_eq!(
        sim.answers[&short].as_ref().unwrap_err().code(),
        Code::DEADLINE_EXCEEDED
    );
    assert!(!sim.answers.contains_key(&long));
    sim.revive(&addr(2));
    sim.run_for(secs(10.0));
    assert_eq!(sim.answers[&long].as_ref().unwrap(), &addr(2));
    sim.check_all_answered();
}

/// A call waits (even fail-fast) while the channel is CONNECTING.
#[test]
fn calls_wait_while_connecting() {
    let mut sim = Sim::new(1, "pick_first", Config::default());
    sim.dial_time = ms(500);
    let c = sim.call(PickOptions::default());
    assert_eq!(sim.ch.state(), Connecting);
    assert_eq!(sim.ch.queued_calls(), 1);
    sim.run_for(secs(1.0));
    assert!(sim.answers[&c].is_ok());
}

/// REFUSED_STREAM: sent again once, on another READY subchannel; refused
/// twice, the status goes to the application.
#[test]
fn transparent_retry_once_elsewhere() {
    let mut sim = Sim::new(2, "round_robin", Config::default());
    sim.ch.connect(sim.now);
    sim.run_for(ms(5));
    sim.backends.get_mut(&addr(1)).unwrap().refuse_streams = 1;
    let c = sim.call(PickOptions::default());
    sim.run_for(ms(100));
    let picks: Vec<_> = sim
        .picks
        .iter()
        .filter(|p| p.0 == c)
        .map(|p| p.1.clone())
        .collect();
    assert_eq!(picks, [addr(1), addr(2)]);
    assert_eq!(sim.answers[&c].as_ref().unwrap(), &addr(2));
    // Both refuse: two attempts, then the refusal is the answer.
    sim.backends.get_mut(&addr(1)).unwrap().refuse_streams = 5;
    sim.backends.get_mut(&addr(2)).unwrap().refuse_streams = 5;
    let d = sim.call(PickOptions::default());
    sim.run_for(ms(100));
    assert_eq!(sim.picks.iter().filter(|p| p.0 == d).count(), 2);
    assert!(sim.answers[&d].is_err());
    sim.check_all_answered();
}

/// A single backend: the retry goes to the same one.
#[test]
fn transparent_retry_same_backend_when_alone() {
    let mut sim = Sim::new(1, "pick_first", Config::default());
    sim.backends.get_mut(&addr(1)).unwrap().refuse_streams = 1;
    let c = sim.call(PickOptions::default());
    sim.run_for(ms(100));
    assert_eq!(sim.picks.iter().filter(|p| p.0 == c).count(), 2);
    assert!(sim.answers[&c].is_ok());
}

/// After idle_timeout without calls every connection is dropped; the next
/// call reconnects.
#[test]
fn idle_timeout_drops_and_reconnects() {
    let mut sim = Sim::new(2, "round_robin", Config::default());
    sim.call(PickOptions::default());
    sim.run_for(secs(60.0));
    assert_eq!(sim.ch.state(), Ready);
    assert_eq!(sim.connects.len(), 2);
    sim.run_for(secs(30.0 * 60.0));
    assert_eq!(sim.ch.state(), Idle);
    assert_eq!(sim.disconnects, 2);
    let c = sim.call(PickOptions::default());
    assert_eq!(sim.connects.len(), 4);
    sim.run_for(secs(1.0));
    assert!(sim.answers[&c].is_ok());
    sim.check_all_answered();
}

/// MAX_CONCURRENT_STREAMS: past the limit calls wait for a slot.
#[test]
fn stream_limit_queues_calls() {
    let mut sim = Sim::new(1, "pick_first", Config::default());
    sim.ch.connect(sim.now);
    sim.run_for(ms(5));
    let conn = sim.live_conns()[0];
    sim.ch.set_stream_limit(conn, 2, sim.now);
    sim.call_time = ms(100);
    let calls: Vec<_> = (0..5).map(|_| sim.call(PickOptions::default())).collect();
    assert_eq!(sim.ch.queued_calls(), 3);
    sim.run_for(ms(150));
    assert_eq!(sim.ch.queued_calls(), 1);
    sim.run_for(ms(500));
    for c in calls {
        assert!(sim.answers[&c].is_ok());
    }
    sim.check_all_answered();
}

/// dns: resolved when the channel starts, again every resolve_interval and
/// soon after a subchannel fails; new backends get calls.
#[test]
fn dns_reresolution_finds_new_backends() {
    let resolver = DnsResolver {
        host: "backends".into(),
        port: 50051,
    };
    let all = vec![addr(1), addr(2)];
    let mut sim = Sim::with_resolver(Box::new(resolver), all, "round_robin", Config::default());
    sim.lookup = vec![addr(1)];
    for i in 0..40u64 {
        sim.call(PickOptions::default());
        sim.run_until(secs(i as f64));
        if i == 10 {
            sim.lookup = vec![addr(1), addr(2)];
        }
    }
    let t: Vec<f64> = sim.resolves.iter().map(|d| d.as_secs_f64()).collect();
    assert_eq!(t, [0.0, 30.0]);
    assert!(sim.ok_by_backend().get(&addr(2)).is_some_and(|&n| n >= 4));
    // A failure asks for a new resolution (rate-limited to 1 s).
    sim.kill(&addr(2));
    sim.run_for(secs(5.0));
    let t: Vec<f64> = sim.resolves.iter().map(|d| d.as_secs_f64()).collect();
    assert!(t.len() > 2 && t[2] == 39.0, "{t:?}");
    assert!(
        t.windows(2).all(|w| w[1] - w[0] >= 1.0),
        "rate-limited: {t:?}"
    );
    sim.check_all_answered();
    assert_eq!(sim.failed(), 0);
}

/// Random flapping of three backends under both policies, on several
/// seeds: every call is answered exactly once, wait-for-ready calls
/// without a deadline all succeed, picks only go to live connections.
#[test]
fn flapping_never_loses_or_duplicates_calls() {
    for lb in ["pick_first", "round_robin"] {
        for seed in 1..=20u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let mut config = Config::default();
            config.replay_per_call = 1000;
            config.replay_per_channel = 3000;
            // A105 too: one stream per connection, two connections a backend.
            config.max_connections_per_backend = 2;
            let mut sim = Sim::new(3, lb, config);
            for b in sim.backends.values_mut() {
                b.max_streams = Some(1);
            }
            let mut wfr = Vec::new();
            for step in 0..300u64 {
                let r = next();
                let b = addr((r % 3) as usize + 1);
                match (r >> 8) % 10 {
                    0 => sim.kill(&b),
                    1 | 2 => sim.revive(&b),
                    3 => sim.backends.get_mut(&b).unwrap().refuse_streams += 1,
                    4 => sim.backends.get_mut(&b).unwrap().mode = Mode::Hang,
                    _ => {}
                }
                let w = (r >> 16) % 2 == 0;
                let options = PickOptions::default().wait_for_ready(w);
                let c = match (r >> 24) % 3 {
                    // A streaming call, its messages under or over a small cap.
                    0 => sim.streaming_call(options, vec![300; (r >> 32) as usize % 6]),
                    _ => sim.call(options),
                };
                if w {
                    wfr.push(c);
                }
                sim.run_until(ms(200 * step));
            }
            for i in 1..=3 {
                sim.revive(&addr(i));
            }
            sim.run_for(secs(600.0));
            sim.check_all_answered();
            assert_eq!(sim.ch.replay_buffered(), 0, "{lb} seed {seed}");
            for (c, sizes) in &sim.messages {
                if let Some(&got) = sim.received.get(c) {
                    assert_eq!(got, sizes.iter().sum::<usize>(), "{lb} seed {seed}");
                }
            }
            for c in wfr {
                if let Err(e) = &sim.answers[&c] {
                    // Only a call caught on a dying connection, or refused
                    // twice, may fail.
                    let msg = e.message();
                    assert!(
                        msg.contains("connection lost") || msg.contains("refused"),
                        "{lb} seed {seed}: {e}"
                    );
                }
            }
        }
    }
}

/// gRFC A6: a retryable status is retried after a random part of the
/// backoff (here the whole of it: jitter sample 1.0), up to max_attempts.
#[test]
fn retry_policy_a6() {
    use h2proto::channel::{CodeSet, FixedJitter, RetryPolicy};
    let policy = RetryPolicy::new(3, CodeSet::of(&[Code::UNAVAILABLE]));
    let mut sim = Sim::new(1, "pick_first", Config::default());
    sim.ch.set_jitter(Box::new(FixedJitter(1.0)));
    sim.ch.connect(sim.now);
    sim.run_for(ms(5));
    let t0 = sim.since();
    sim.backends.get_mut(&addr(1)).unwrap().fail_calls = 2;
    let c = sim.call(PickOptions::default().retry(policy));
    sim.run_for(secs(2.0));
    let at: Vec<Duration> = sim
        .picks
        .iter()
        .filter(|p| p.0 == c)
        .map(|p| p.2 - t0)
        .collect();
    // Attempts at 0, then 10 ms (the call) + 100 ms, then + 10 + 200 ms.
    assert_eq!(at, [ms(0), ms(110), ms(320)]);
    assert!(sim.answers[&c].is_ok());

    // Out of attempts: the third failure is the answer.
    sim.backends.get_mut(&addr(1)).unwrap().fail_calls = 5;
    let d = sim.call(PickOptions::default().retry(policy));
    sim.run_for(secs(2.0));
    assert_eq!(sim.picks.iter().filter(|p| p.0 == d).count(), 3);
    assert!(sim.answers[&d].is_err());

    // Not retryable, or no policy: one attempt.
    let other = RetryPolicy::new(5, CodeSet::of(&[Code::RESOURCE_EXHAUSTED]));
    for options in [PickOptions::default().retry(other), PickOptions::default()] {
        let e = sim.call(options);
        sim.run_for(secs(2.0));
        assert_eq!(sim.picks.iter().filter(|p| p.0 == e).count(), 1);
        assert!(sim.answers[&e].is_err());
    }

    // A backoff that would pass the deadline: no retry.
    let now = sim.now;
    let f = sim.call(PickOptions::default().retry(policy).deadline(now + ms(50)));
    sim.run_for(secs(2.0));
    assert_eq!(sim.picks.iter().filter(|p| p.0 == f).count(), 1);
    sim.check_all_answered();
}

#[test]
fn shutdown_fails_waiting_calls() {
    let mut sim = Sim::new(1, "pick_first", Config::default());
    sim.backends.get_mut(&addr(1)).unwrap().mode = Mode::Hang;
    let c = sim.call(PickOptions::default().wait_for_ready(true));
    sim.ch.shutdown(sim.now);
    sim.drain();
    assert_eq!(sim.ch.state(), Shutdown);
    assert_eq!(
        sim.answers[&c].as_ref().unwrap_err().code(),
        Code::UNAVAILABLE
    );
    let d = sim.call(PickOptions::default());
    assert!(sim.answers[&d].is_err());
    assert_eq!(policy::by_name("weighted").map(|p| p.name()), None);
}

/// A streaming call refused after it sent messages is sent again elsewhere
/// with all of them (replayed from what it kept); the replay buffer is
/// counted while the call runs and released at its end.
#[test]
fn refused_streaming_call_replays_its_messages() {
    let mut sim = Sim::new(2, "round_robin", Config::default());
    sim.ch.connect(sim.now);
    sim.run_for(ms(5));
    sim.backends.get_mut(&addr(1)).unwrap().refuse_streams = 1;
    let c = sim.streaming_call(PickOptions::default(), vec![100, 200, 300]);
    assert_eq!(sim.ch.replay_buffered(), 600, "kept while it runs");
    assert_eq!(sim.ch.is_committed(c), Some(false));
    sim.run_for(ms(100));
    let picks: Vec<_> = sim
        .picks
        .iter()
        .filter(|p| p.0 == c)
        .map(|p| p.1.clone())
        .collect();
    assert_eq!(picks, [addr(1), addr(2)]);
    assert_eq!(sim.answers[&c].as_ref().unwrap(), &addr(2));
    assert_eq!(sim.received[&c], 600, "every message reached the server");
    assert_eq!(sim.ch.replay_buffered(), 0, "released at the end");
    sim.check_all_answered();
}

/// Messages past the per-call cap commit the call: it is not retried, the
/// refusal is its answer (UNAVAILABLE), and what it kept is released at once.
#[test]
fn replay_buffer_overflow_commits_the_call() {
    let mut config = Config::default();
    config.replay_per_call = 1000;
    config.replay_per_channel = 1500;
    let mut sim = Sim::new(2, "round_robin", config);
    sim.ch.connect(sim.now);
    sim.run_for(ms(5));
    sim.backends.get_mut(&addr(1)).unwrap().refuse_streams = 1;
    let c = sim.streaming_call(PickOptions::default(), vec![600, 600]);
    assert_eq!(sim.ch.is_committed(c), Some(true));
    assert_eq!(sim.ch.replay_buffered(), 0);
    sim.run_for(ms(100));
    assert_eq!(sim.picks.iter().filter(|p| p.0 == c).count(), 1);
    let e = sim.answers[&c].as_ref().unwrap_err();
    assert_eq!(e.code(), Code::UNAVAILABLE);

    // The channel's cap: two calls of 800 each fit their own cap, not the
    // channel's together; the second commits, the first is retried.
    sim.backends.get_mut(&addr(1)).unwrap().refuse_streams = 1;
    sim.backends.get_mut(&addr(2)).unwrap().refuse_streams = 1;
    let d = sim.streaming_call(PickOptions::default(), vec![800]);
    let e = sim.streaming_call(PickOptions::default(), vec![800]);
    assert_eq!(sim.ch.replay_buffered(), 800);
    assert_eq!(
        (sim.ch.is_committed(d), sim.ch.is_committed(e)),
        (Some(false), Some(true))
    );
    sim.run_for(ms(100));
    assert_eq!(sim.received[&d], 800);
    assert!(sim.answers[&d].is_ok());
    assert!(
        sim.answers[&e].is_err(),
        "committed: its refusal is the answer"
    );
    assert_eq!(sim.ch.replay_buffered(), 0);
    sim.check_all_answered();
}

/// Response headers commit a call: a refusal after them (which a server
/// cannot really send, but a caller may report) is not retried, and the
/// replay bytes are gone.
#[test]
fn response_headers_commit_the_call() {
    let mut sim = Sim::new(1, "pick_first", Config::default());
    sim.backends.get_mut(&addr(1)).unwrap().refuse_streams = 1;
    let c = sim.streaming_call(PickOptions::default(), vec![10]);
    sim.run_for(ms(5));
    assert_eq!(sim.ch.replay_buffered(), 10);
    sim.ch.commit(c);
    assert_eq!(sim.ch.replay_buffered(), 0);
    sim.run_for(ms(100));
    assert_eq!(sim.picks.iter().filter(|p| p.0 == c).count(), 1);
    assert!(sim.answers[&c].is_err());
    sim.check_all_answered();
}

/// GOAWAY: the subchannel leaves READY the moment the caller reports it
/// (the channel's state changes then, not at the next pick); the call
/// running on it finishes there; new calls go to the other backend.
#[test]
fn goaway_leaves_ready_at_once_and_running_calls_finish() {
    let mut sim = Sim::new(2, "round_robin", Config::default());
    sim.call_time = ms(50);
    sim.ch.connect(sim.now);
    sim.run_for(ms(5));
    let running: Vec<_> = (0..2).map(|_| sim.call(PickOptions::default())).collect();
    let on_1 = sim
        .picks
        .iter()
        .find(|p| p.1 == addr(1))
        .map(|p| p.0)
        .unwrap();
    sim.goaway(&addr(1));
    let views = sim.ch.subchannels();
    assert_ne!(views[0].state, Ready, "out of READY at once");
    assert_eq!(views[1].state, Ready);
    let later: Vec<_> = (0..4).map(|_| sim.call(PickOptions::default())).collect();
    sim.run_for(ms(200));
    assert_eq!(
        sim.answers[&on_1].as_ref().unwrap(),
        &addr(1),
        "finished on its connection"
    );
    for c in later {
        assert_eq!(sim.answers[&c].as_ref().unwrap(), &addr(2));
    }
    assert!(running.iter().all(|c| sim.answers[c].is_ok()));

    // pick_first on one backend: the channel's state leaves READY at the
    // GOAWAY, before any call.
    let mut sim = Sim::new(1, "pick_first", Config::default());
    sim.ch.connect(sim.now);
    sim.run_for(ms(5));
    assert_eq!(sim.ch.state(), Ready);
    let before = sim.states.len();
    sim.goaway(&addr(1));
    assert_ne!(sim.ch.state(), Ready);
    assert!(sim.states.len() > before, "a StateChanged event at once");
    sim.check_all_answered();
}

/// gRFC A105, opt-in: with every connection full, a waiting call opens one
/// more connection to the backend, one at a time, up to the cap; past it
/// calls queue. The extras close with the backend's first connection. Off
/// (the default), calls queue on the one connection.
#[test]
fn a105_more_connections_when_full() {
    let mut config = Config::default();
    config.max_connections_per_backend = 3;
    let mut sim = Sim::new(1, "pick_first", config);
    sim.backends.get_mut(&addr(1)).unwrap().max_streams = Some(2);
    sim.call_time = ms(100);
    sim.ch.connect(sim.now);
    sim.run_for(ms(5));
    let calls: Vec<_> = (0..7).map(|_| sim.call(PickOptions::default())).collect();
    sim.run_for(ms(20));
    assert_eq!(
        sim.connects.len(),
        3,
        "two more connections: {:?}",
        sim.connects
    );
    assert_eq!(sim.live_conns().len(), 3);
    assert_eq!(sim.ch.queued_calls(), 1, "six running, the cap reached");
    sim.run_for(ms(500));
    assert!(calls.iter().all(|c| sim.answers[c].is_ok()));
    sim.check_all_answered();
    assert_eq!(sim.connects.len(), 3, "no more once there is room");

    // The first connection goes away: the extras are closed with it.
    let first = sim.live_conns()[0];
    let before = sim.disconnects;
    sim.ch.disconnected(first, sim.now);
    sim.drain();
    assert_eq!(sim.disconnects - before, 2);

    // Off: one connection, calls queue.
    let mut sim = Sim::new(1, "pick_first", Config::default());
    sim.backends.get_mut(&addr(1)).unwrap().max_streams = Some(2);
    sim.call_time = ms(100);
    for _ in 0..7 {
        sim.call(PickOptions::default());
    }
    sim.run_for(ms(20));
    assert_eq!(sim.connects.len(), 1);
    assert_eq!(sim.ch.queued_calls(), 5);
    sim.run_for(ms(1000));
    sim.check_all_answered();
    assert_eq!(sim.failed(), 0);
}
