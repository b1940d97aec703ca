//! Registrar hunt (RFC 5352 §3.4, RFC 5355 §2.7), request retransmission
//! on the next registrar, cause-9 handling and the bytes on the wire.

mod sim;

use client_core::pool_user::*;
use client_core::wire::*;
use sim::*;
use std::time::Duration;

const R1: &str = "sctp://10.1.0.1:3863";
const R2: &str = "sctp://10.1.0.2:3863";
const R3: &str = "sctp://10.1.0.3:3863";

fn cfg() -> Config {
    Config {
        registrars: vec![R1.into(), R2.into(), R3.into()],
        ..Config::default()
    }
}

fn failures(sim: &Sim) -> Vec<(String, RegistrarFailure)> {
    sim.events
        .iter()
        .filter_map(|e| match e {
            Event::RegistrarFailed { endpoint, reason } => Some((endpoint.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

fn up_channel(sim: &Sim, endpoint: &str) -> ChannelId {
    sim.events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::RegistrarUp {
                channel,
                endpoint: ep,
            } if ep == endpoint => Some(*channel),
            _ => None,
        })
        .expect("registrar up")
}

fn resolved(sim: &Sim) -> Vec<Vec<u32>> {
    sim.events
        .iter()
        .filter_map(|e| match e {
            Event::Resolved { elements, .. } => Some(elements.iter().map(|p| p.id.0).collect()),
            _ => None,
        })
        .collect()
}

fn resolve_failures(sim: &Sim) -> Vec<ResolveError> {
    sim.events
        .iter()
        .filter_map(|e| match e {
            Event::ResolveFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn hunt_skips_dead_and_unauthenticated_registrars_and_holds_the_latter_off() {
    let mut sim = Sim::new(cfg())
        .registrar(R1, FakeRegistrar::new(RegBehaviour::Dead))
        .registrar(R2, FakeRegistrar::new(RegBehaviour::AuthFails))
        .registrar(
            R3,
            FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1), rr(2)]),
        );
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert_eq!(
        failures(&sim),
        vec![
            (R1.to_string(), RegistrarFailure::ConnectFailed),
            (
                R2.to_string(),
                RegistrarFailure::AuthenticationFailed("certificate name mismatch".into())
            ),
        ]
    );
    let ch = up_channel(&sim, R3);
    assert_eq!(sim.pu.home_registrar(), Some(R3));
    assert_eq!(resolved(&sim), vec![vec![1, 2]]);

    // The registrar goes away; the next hunt must not try R2 again (it
    // failed authentication) but may try R1 and then R3.
    sim.pu.handle_closed(ch, CloseReason::Aborted, sim.now);
    sim.now += Duration::from_secs(1);
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert_eq!(sim.reg(R2).connects, 1, "auth-failed registrar retried");
    assert_eq!(sim.reg(R3).connects, 2);
    assert_eq!(resolved(&sim).len(), 2);
}

#[test]
fn auth_holdoff_expires() {
    let mut c = cfg();
    c.registrars = vec![R2.into(), R3.into()];
    c.auth_failure_holdoff = Duration::from_secs(60);
    let mut sim = Sim::new(c)
        .registrar(R2, FakeRegistrar::new(RegBehaviour::AuthFails))
        .registrar(R3, FakeRegistrar::new(RegBehaviour::Dead));
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert_eq!(sim.reg(R2).connects, 1);
    // Round 1: R2 and R3 at once; round 2: only R3 is usable.
    assert_eq!(sim.reg(R3).connects, 2);
    sim.now += Duration::from_secs(61);
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert_eq!(sim.reg(R2).connects, 2, "hold-off over: R2 is tried again");
}

#[test]
fn response_timeout_moves_the_request_to_the_next_registrar() {
    let mut sim = Sim::new(cfg())
        .registrar(R1, FakeRegistrar::new(RegBehaviour::Silent))
        .registrar(
            R2,
            FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(7)]),
        );
    let t0 = sim.now;
    sim.pu.resolve("EchoPool".into(), t0);
    sim.settle();
    assert!(resolved(&sim).is_empty());
    assert_eq!(sim.pu.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.reg(R1).resolutions(), 1);
    assert_eq!(sim.reg(R2).resolutions(), 1);
    assert_eq!(
        failures(&sim),
        vec![(R1.to_string(), RegistrarFailure::ResponseTimeout)]
    );
    assert_eq!(resolved(&sim), vec![vec![7]]);
    assert!(sim.events.contains(&Event::RegistrarChanged {
        from: R1.into(),
        to: R2.into()
    }));
}

#[test]
fn request_fails_after_max_trials_of_silence() {
    let mut sim = Sim::new(cfg())
        .registrar(R1, FakeRegistrar::new(RegBehaviour::Silent))
        .registrar(R2, FakeRegistrar::new(RegBehaviour::Silent))
        .registrar(R3, FakeRegistrar::new(RegBehaviour::Silent));
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.run_for(Duration::from_secs(60));
    assert_eq!(
        resolve_failures(&sim),
        vec![ResolveError::Timeout {
            registrars_tried: 2
        }]
    );
    assert_eq!(sim.reg(R3).resolutions(), 0);
}

#[test]
fn no_registrar_reachable_after_two_rounds() {
    let mut sim = Sim::new(cfg())
        .registrar(R1, FakeRegistrar::new(RegBehaviour::Dead))
        .registrar(R2, FakeRegistrar::new(RegBehaviour::Dead))
        .registrar(R3, FakeRegistrar::new(RegBehaviour::Dead));
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert_eq!(
        resolve_failures(&sim),
        vec![ResolveError::NoRegistrarReachable {
            registrars: 3,
            rounds: 2
        }]
    );
    for r in [R1, R2, R3] {
        assert_eq!(sim.reg(r).connects, 2);
    }
    assert_eq!(sim.pu.poll_timeout(), None, "nothing left to do");
}

#[test]
fn empty_registrar_table_fails_at_once() {
    let mut sim = Sim::new(Config::default());
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert_eq!(
        resolve_failures(&sim),
        vec![ResolveError::NoRegistrarReachable {
            registrars: 0,
            rounds: 0
        }]
    );
}

#[test]
fn cause_9_asks_another_registrar_before_no_such_pool() {
    let mut r1 = FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1)]);
    r1.rate_limited = 1;
    let mut sim = Sim::new(cfg()).registrar(R1, r1).registrar(
        R2,
        FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(2)]),
    );
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert_eq!(resolved(&sim), vec![vec![2]]);
    assert!(failures(&sim).contains(&(R1.to_string(), RegistrarFailure::AskAnother)));

    // A pool nobody knows: two registrars asked, then "no such pool".
    sim.pu.resolve("Nope".into(), sim.now);
    sim.settle();
    assert_eq!(
        resolve_failures(&sim),
        vec![ResolveError::NoSuchPool {
            registrars_asked: 2
        }]
    );
}

#[test]
fn announces_add_registrars_that_expire() {
    let mut c = Config::default();
    c.registrars.clear();
    let mut sim = Sim::new(c).registrar(
        "sctp://10.1.0.4:3863",
        FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(4)]),
    );
    // RSPLIB's 8-byte announce: the endpoint is the UDP source.
    let ann = vector("asap-server-announce-1");
    sim.pu
        .handle_server_announce("sctp://10.1.0.4:3863", &ann, sim.now);
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert!(matches!(sim.events[0], Event::RegistrarAnnounced { .. }));
    assert_eq!(resolved(&sim), vec![vec![4]]);
    // 5 s after the last announce the entry is gone.
    let ch = up_channel(&sim, "sctp://10.1.0.4:3863");
    sim.pu.handle_closed(ch, CloseReason::Aborted, sim.now);
    sim.now += Duration::from_secs(6);
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert!(matches!(
        resolve_failures(&sim)[..],
        [ResolveError::NoRegistrarReachable { .. }]
    ));
}

#[test]
fn session_handle_resolution_is_byte_identical_to_rsplib() {
    let mut sim = Sim::new(cfg())
        .registrar(
            R1,
            FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1)]),
        )
        .pe(1, FakePe::new());
    sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    // RSPLIB's rsp_connect with stale cache 0: HR with Items = 1.
    assert_eq!(
        sim.reg(R1).received_bytes[0],
        vector("asap-handle-resolution-1")
    );
}

#[test]
fn rsplib_response_bytes_resolve() {
    let mut pu = PoolUser::new(cfg());
    let now = Duration::ZERO;
    let req = pu.resolve("EchoPool".into(), now);
    let Some(Action::ConnectRegistrar { channel, .. }) = pu.poll_action() else {
        panic!("expected a registrar connect");
    };
    pu.handle_connected(channel, PathSecurity::plain("sctp"), now);
    let t = pu.poll_transmit().expect("handle resolution");
    assert_eq!(t.ppid, 11);
    pu.handle_received(
        channel,
        11,
        &vector("asap-handle-resolution-response-1"),
        now,
    );
    let ev: Vec<Event> = std::iter::from_fn(|| pu.poll_event()).collect();
    let got = ev.iter().find_map(|e| match e {
        Event::Resolved {
            request, elements, ..
        } if *request == req => Some(elements.clone()),
        _ => None,
    });
    let elements = got.expect("resolved");
    assert_eq!(elements.len(), 1);
    assert_eq!(elements[0].id, PoolElementId(0x0e00_0001));
    assert_eq!(elements[0].user_transport.port, 56661);
}

#[test]
fn garbage_from_registrar_is_an_error_event_and_the_pu_recovers() {
    let mut sim = Sim::new(cfg())
        .registrar(R1, FakeRegistrar::new(RegBehaviour::Silent))
        .registrar(
            R2,
            FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1)]),
        );
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    let ch = up_channel(&sim, R1);
    sim.pu
        .handle_received(ch, 11, &[0x06, 0, 0, 99, 1], sim.now);
    sim.settle();
    assert!(sim
        .events
        .iter()
        .any(|e| matches!(e, Event::Error { channel: Some(c), .. } if *c == ch)));
    assert_eq!(resolved(&sim), vec![vec![1]], "request re-sent to R2");
    // Unknown channels, too.
    sim.pu.handle_received(ChannelId(999), 11, b"x", sim.now);
    sim.pu
        .handle_connected(ChannelId(998), PathSecurity::default(), sim.now);
    sim.settle();
    assert!(sim.events.iter().any(|e| matches!(
        e,
        Event::Error {
            channel: Some(ChannelId(999)),
            ..
        }
    )));
}

#[test]
fn announce_floods_do_not_grow_the_table_and_can_be_turned_off() {
    let mut c = Config::default();
    c.registrars.clear();
    let mut pu = PoolUser::new(c);
    let ann = vector("asap-server-announce-1");
    let now = Duration::ZERO;
    for i in 0..1000 {
        pu.handle_server_announce(
            &format!("sctp://10.2.{}.{}:3863", i / 256, i % 256),
            &ann,
            now,
        );
    }
    let events: Vec<Event> = std::iter::from_fn(|| pu.poll_event()).collect();
    let learned = events
        .iter()
        .filter(|e| matches!(e, Event::RegistrarAnnounced { .. }))
        .count();
    assert_eq!(learned, 32);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Error { .. }))
            .count(),
        1000 - 32
    );

    let mut off = PoolUser::new(Config {
        use_announced_registrars: false,
        ..Config::default()
    });
    off.handle_server_announce("sctp://10.1.0.4:3863", &ann, now);
    off.resolve("EchoPool".into(), now);
    assert!(off.poll_action().is_none(), "no registrar may be learned");
}

#[test]
fn black_hole_registrars_are_hunted_in_parallel() {
    let world = |parallel: usize| {
        let mut c = cfg();
        c.hunt_parallel = parallel;
        let mut sim = Sim::new(c)
            .registrar(R1, FakeRegistrar::new(RegBehaviour::BlackHole))
            .registrar(R2, FakeRegistrar::new(RegBehaviour::BlackHole))
            .registrar(
                R3,
                FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1)]),
            );
        sim.pu.resolve("EchoPool".into(), sim.now);
        sim.settle();
        sim
    };
    // RSPLIB's default: three at once, the first one up wins and the
    // others are closed.
    let sim = world(3);
    assert_eq!(resolved(&sim), vec![vec![1]]);
    let closed = sim
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Close { .. }))
        .count();
    assert_eq!(closed, 2);
    // One at a time: two connect timeouts (7.5 s each) first.
    let mut sim = world(1);
    assert!(resolved(&sim).is_empty());
    sim.run_for(Duration::from_millis(7500));
    assert!(resolved(&sim).is_empty());
    sim.run_for(Duration::from_millis(7500));
    assert_eq!(resolved(&sim), vec![vec![1]]);
    assert_eq!(
        failures(&sim),
        vec![
            (R1.to_string(), RegistrarFailure::ConnectTimeout),
            (R2.to_string(), RegistrarFailure::ConnectTimeout)
        ]
    );
}
