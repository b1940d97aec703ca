//! Sessions: PE selection, data, cookies, failover with Cookie Echo replay
//! and the RFC 5355 §2.9 notice; the PU cache; Endpoint Unreachable limits.

mod sim;

use client_core::pool_user::*;
use client_core::rate_limit::Rate;
use client_core::wire::*;
use sim::*;
use std::time::Duration;

const R1: &str = "sctp://10.1.0.1:3863";

fn cfg() -> Config {
    Config {
        registrars: vec![R1.into()],
        ..Config::default()
    }
}

fn world(pes: &[u32]) -> Sim {
    let mut sim = Sim::new(cfg()).registrar(
        R1,
        FakeRegistrar::new(RegBehaviour::Serve)
            .with_pool("EchoPool", pes.iter().map(|&i| rr(i)).collect()),
    );
    for &i in pes {
        sim = sim.pe(i, FakePe::new());
    }
    sim
}

fn data(sim: &Sim, s: SessionId) -> Vec<Vec<u8>> {
    sim.events
        .iter()
        .filter_map(|e| match e {
            Event::SessionData { session, bytes, .. } if *session == s => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn session_carries_data_and_queues_until_up() {
    let mut sim = world(&[1, 2]);
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    // Queued: nothing is connected yet.
    sim.pu.send(s, None, b"early".to_vec(), sim.now).unwrap();
    sim.settle();
    assert!(sim.pu.session_is_up(s));
    assert_eq!(sim.pu.session_element(s).map(|p| p.id.0), Some(1));
    sim.pu
        .send(s, Some(42), b"later".to_vec(), sim.now)
        .unwrap();
    sim.settle();
    assert_eq!(data(&sim, s), vec![b"early".to_vec(), b"later".to_vec()]);
    assert_eq!(
        sim.pes[&1].received,
        vec![(0, b"early".to_vec()), (42, b"later".to_vec())]
    );
    assert_eq!(
        sim.pu.send(SessionId(9999), None, vec![], sim.now),
        Err(SessionError::UnknownSession(SessionId(9999)))
    );
    sim.pu.close_session(s, sim.now).unwrap();
    sim.settle();
    assert!(matches!(sim.actions.last(), Some(Action::Close { .. })));
    assert!(sim.events.contains(&Event::SessionClosed {
        session: s,
        reason: SessionCloseReason::ByApplication
    }));
}

#[test]
fn failover_replays_the_last_cookie_byte_for_byte() {
    let mut sim = world(&[1, 2, 3]);
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    assert_eq!(sim.pu.session_element(s).map(|p| p.id.0), Some(1));
    // PE 1 hands out two cookies; only the last counts (RSPLIB;
    // docs/rsplib-behaviour.md, "Cookies and failover"). The
    // last one is the cookie RSPLIB echoed in the captured failover.
    let first = Message::Asap(AsapMessage::Cookie(Cookie(vec![1, 2, 3, 4]))).to_bytes();
    sim.pe_sends(1, 11, &first);
    let echo = vector("asap-cookie-echo-1");
    let Message::Asap(AsapMessage::CookieEcho(c)) = decode(Protocol::Asap, &echo).unwrap().message
    else {
        panic!("vector is a Cookie Echo");
    };
    let cookie_msg = Message::Asap(AsapMessage::Cookie(c)).to_bytes();
    sim.pe_sends(1, 11, &cookie_msg);

    sim.kill_pe(1);
    assert_eq!(sim.pu.session_element(s).map(|p| p.id.0), Some(2));
    // The Cookie Echo is the first thing PE 2 receives, identical to RSPLIB's.
    assert_eq!(sim.pes[&2].received.first(), Some(&(11, echo)));
    let n = sim.failovers();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].old_element, PoolElementId(1));
    assert_eq!(n[0].new_element, PoolElementId(2));
    assert_eq!(
        n[0].reason,
        FailoverReason::ChannelClosed(CloseReason::Aborted)
    );
    assert!(n[0].cookie_replayed);
    assert!(!n[0].security_changed);
    // PE 1 was reported to the registrar and is not cached.
    assert_eq!(sim.reg(R1).unreachable_reports(), vec![PoolElementId(1)]);
    assert!(!sim
        .pu
        .cached_elements(&"EchoPool".into())
        .iter()
        .any(|p| p.id.0 == 1));
    // Data flows again.
    sim.pu.send(s, None, b"after".to_vec(), sim.now).unwrap();
    sim.settle();
    assert_eq!(data(&sim, s), vec![b"after".to_vec()]);
}

#[test]
fn failover_skips_a_dead_candidate_and_reports_security_change() {
    let mut sim = world(&[1, 2, 3]);
    sim.pe_mut(3).security = PathSecurity {
        transport: "sctp".into(),
        tls: true,
        authenticated_peer: Some("pe3.example".into()),
        via_gateway: false,
    };
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    sim.pe_mut(2).alive = false;
    sim.kill_pe(1);
    assert_eq!(sim.pu.session_element(s).map(|p| p.id.0), Some(3));
    let n = sim.failovers();
    assert_eq!(n.len(), 1);
    assert_eq!(
        n[0].failed_elements,
        vec![PoolElementId(1), PoolElementId(2)]
    );
    assert!(!n[0].cookie_replayed, "no cookie was ever received");
    assert!(n[0].security_changed);
    assert!(n[0].new_security.tls && !n[0].old_security.tls);
    assert_eq!(
        sim.reg(R1).unreachable_reports(),
        vec![PoolElementId(1), PoolElementId(2)]
    );
    assert!(sim.pes[&3].cookie_echoes().is_empty());
}

#[test]
fn application_report_fails_over() {
    let mut sim = world(&[1, 2]);
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    sim.pu.report_unreachable(Unreachable::Session(s), sim.now);
    sim.settle();
    assert_eq!(sim.pu.session_element(s).map(|p| p.id.0), Some(2));
    assert_eq!(
        sim.failovers()[0].reason,
        FailoverReason::ReportedByApplication
    );
    assert_eq!(sim.reg(R1).unreachable_reports(), vec![PoolElementId(1)]);
}

#[test]
fn pe_connect_timeout_moves_on_and_reports() {
    let mut sim = world(&[1, 2]);
    sim.pe_mut(1).hangs = true;
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    assert!(!sim.pu.session_is_up(s));
    assert_eq!(sim.pu.session_element(s).map(|p| p.id.0), Some(1));
    // RSPLIB's PE connect timeout is 5 s.
    sim.run_for(Duration::from_millis(4999));
    assert!(!sim.pu.session_is_up(s));
    sim.run_for(Duration::from_millis(1));
    assert!(sim.pu.session_is_up(s));
    assert_eq!(sim.pu.session_element(s).map(|p| p.id.0), Some(2));
    assert!(sim.events.iter().any(
        |e| matches!(e, Event::TimerFired { timer: Timer::ElementConnect(x), .. } if *x == s)
    ));
    assert_eq!(sim.reg(R1).unreachable_reports(), vec![PoolElementId(1)]);
    // It was the first connect: no failover from an established PE.
    assert!(sim.failovers().is_empty());
}

#[test]
fn empty_pool_waits_and_retries_until_a_pe_appears() {
    let mut sim = world(&[]);
    sim.registrars.get_mut(R1).unwrap().pools.clear();
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    let waits: Vec<_> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            Event::SessionWaiting {
                session,
                error,
                retry_in,
            } if *session == s => Some((error.clone(), *retry_in)),
            _ => None,
        })
        .collect();
    assert_eq!(
        waits,
        vec![(
            ResolveError::NoSuchPool {
                registrars_asked: 1
            },
            Duration::from_millis(250)
        )]
    );
    // The pool appears; the retry after 250 ms finds it.
    sim.registrars
        .get_mut(R1)
        .unwrap()
        .pools
        .insert("EchoPool".into(), vec![rr(5)]);
    sim.pes.insert(5, FakePe::new());
    sim.run_for(Duration::from_millis(300));
    assert!(sim.pu.session_is_up(s));
}

#[test]
fn stale_cache_serves_from_cache_until_expiry() {
    let mut c = cfg();
    c.stale_cache = Duration::from_secs(30);
    let mut sim = Sim::new(c).registrar(
        R1,
        FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1), rr(2), rr(3)]),
    );
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert_eq!(sim.reg(R1).resolutions(), 1);
    // Within 30 s: answered from the cache, no traffic.
    sim.now += Duration::from_secs(29);
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert_eq!(sim.reg(R1).resolutions(), 1);
    assert_eq!(sim.pu.cached_elements(&"EchoPool".into()).len(), 3);
    // After 30 s the entries are stale: a new resolution.
    sim.now += Duration::from_secs(2);
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    assert_eq!(sim.reg(R1).resolutions(), 2);
    let answers = sim
        .events
        .iter()
        .filter(|e| matches!(e, Event::Resolved { .. }))
        .count();
    assert_eq!(answers, 3);
}

#[test]
fn cached_sessions_use_the_pu_policy_and_no_items_option() {
    let mut c = cfg();
    c.stale_cache = Duration::from_secs(30);
    let mut sim = Sim::new(c).registrar(
        R1,
        FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1), rr(2), rr(3)]),
    );
    for i in 1..=3 {
        sim = sim.pe(i, FakePe::new());
    }
    let picks: Vec<u32> = (0..4)
        .map(|_| {
            let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
            sim.settle();
            sim.pu.session_element(s).unwrap().id.0
        })
        .collect();
    // One resolution (stale cache > 0: no Items option, RSPLIB;
    // docs/rsplib-behaviour.md, "Handle Resolution and the cache"), then
    // the PU's own round robin over the three cached PEs.
    assert_eq!(sim.reg(R1).resolutions(), 1);
    assert!(matches!(
        &sim.reg(R1).received[0],
        Message::Asap(AsapMessage::HandleResolution(HandleResolution {
            option: None,
            ..
        }))
    ));
    assert_eq!(picks, vec![1, 2, 3, 1]);
}

#[test]
fn refused_elements_are_skipped_not_fatal() {
    let mut bad_port = rr(3);
    bad_port.user_transport.port = 0;
    let mut sim = Sim::new(cfg()).registrar(
        R1,
        FakeRegistrar::new(RegBehaviour::Serve).with_pool(
            "EchoPool",
            vec![rr(0), rr(1), element(2, SelectionPolicy::Random), bad_port],
        ),
    );
    sim.pu.resolve("EchoPool".into(), sim.now);
    sim.settle();
    let skipped: Vec<u32> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ElementSkipped { element, .. } => Some(element.0),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, vec![0, 2, 3]);
    let got: Vec<u32> = sim
        .events
        .iter()
        .find_map(|e| match e {
            Event::Resolved { elements, .. } => Some(elements.iter().map(|p| p.id.0).collect()),
            _ => None,
        })
        .unwrap();
    assert_eq!(got, vec![1]);
}

fn suppressed(sim: &Sim) -> Vec<(u32, ReportLimit)> {
    sim.events
        .iter()
        .filter_map(|e| match e {
            Event::ReportSuppressed { element, limit, .. } => Some((element.0, *limit)),
            _ => None,
        })
        .collect()
}

#[test]
fn endpoint_unreachable_floods_are_suppressed_per_pe_and_in_total() {
    let mut sim = world(&[1]);
    let ph = PoolHandle::from("EchoPool");
    for _ in 0..100 {
        sim.pu.report_unreachable(
            Unreachable::Element {
                pool_handle: ph.clone(),
                element: PoolElementId(1),
            },
            sim.now,
        );
    }
    sim.settle();
    assert_eq!(sim.reg(R1).unreachable_reports(), vec![PoolElementId(1)]);
    let s = suppressed(&sim);
    assert_eq!(s.len(), 99);
    assert!(s
        .iter()
        .all(|&(id, l)| id == 1 && l == ReportLimit::PerElement));

    // 10 different PEs at once: the total burst (3) passes, the rest not.
    for id in 10..20 {
        sim.pu.report_unreachable(
            Unreachable::Element {
                pool_handle: ph.clone(),
                element: PoolElementId(id),
            },
            sim.now,
        );
    }
    sim.settle();
    assert_eq!(sim.reg(R1).unreachable_reports().len(), 1 + 2);
    let totals = suppressed(&sim)
        .iter()
        .filter(|(_, l)| *l == ReportLimit::Total)
        .count();
    assert_eq!(totals, 8);

    // 10 s later PE 1 may be reported again (one per 10 s).
    sim.now += Duration::from_secs(10);
    sim.pu.report_unreachable(
        Unreachable::Element {
            pool_handle: ph,
            element: PoolElementId(1),
        },
        sim.now,
    );
    sim.settle();
    assert_eq!(sim.reg(R1).unreachable_reports().len(), 4);
}

#[test]
fn report_limits_are_configurable() {
    let mut c = cfg();
    c.unreachable_per_element = Rate::new(0.0, 5);
    c.unreachable_total = Rate::new(0.0, 100);
    let mut sim = Sim::new(c).registrar(R1, FakeRegistrar::new(RegBehaviour::Serve));
    for _ in 0..10 {
        sim.pu.report_unreachable(
            Unreachable::Element {
                pool_handle: "P".into(),
                element: PoolElementId(7),
            },
            sim.now,
        );
    }
    sim.settle();
    assert_eq!(sim.reg(R1).unreachable_reports().len(), 5);
    assert_eq!(suppressed(&sim).len(), 5);
}

#[test]
fn trace_shows_messages_states_and_timers() {
    let mut sim = world(&[1]);
    sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    let has = |f: &dyn Fn(&Event) -> bool| sim.events.iter().any(f);
    assert!(has(&|e| matches!(
        e,
        Event::MessageSent {
            message: Message::Asap(AsapMessage::HandleResolution(_)),
            ..
        }
    )));
    assert!(has(&|e| matches!(
        e,
        Event::MessageReceived {
            message: Message::Asap(AsapMessage::HandleResolutionResponse(_)),
            ..
        }
    )));
    assert!(has(&|e| matches!(
        e,
        Event::StateChanged(StateChange::Session { .. })
    )));
    assert!(has(&|e| matches!(
        e,
        Event::TimerArmed {
            timer: Timer::RegistrarResponse,
            ..
        }
    )));

    let mut c = cfg();
    c.trace = false;
    let mut quiet = Sim::new(c).registrar(
        R1,
        FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1)]),
    );
    quiet.pu.resolve("EchoPool".into(), quiet.now);
    quiet.settle();
    assert!(quiet.events.iter().all(|e| !matches!(
        e,
        Event::MessageSent { .. } | Event::TimerArmed { .. } | Event::StateChanged(_)
    )));
}

#[test]
fn business_cards_go_both_ways() {
    let mut sim = world(&[1, 2]);
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    let card = BusinessCard {
        pool_handle: "EchoPool".into(),
        policy: Some(SelectionPolicy::RoundRobin),
        elements: vec![rr(2)],
    };
    assert_eq!(
        sim.pu.send_business_card(s, card.clone(), sim.now),
        Err(SessionError::NotConnected(s))
    );
    sim.settle();
    sim.pu.send_business_card(s, card.clone(), sim.now).unwrap();
    sim.settle();
    let got = &sim.pes[&1].received.last().unwrap();
    assert_eq!(got.0, 11);
    assert_eq!(
        decode(Protocol::Asap, &got.1).unwrap().message,
        Message::Asap(AsapMessage::BusinessCard(card.clone()))
    );
    let bytes = Message::Asap(AsapMessage::BusinessCard(card.clone())).to_bytes();
    sim.pe_sends(1, 11, &bytes);
    assert!(sim
        .events
        .contains(&Event::BusinessCardReceived { session: s, card }));
}

#[test]
fn orderly_close_fails_over_without_a_report() {
    let mut sim = world(&[1, 2]);
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    let ch = sim.pe_channel(1).unwrap();
    sim.pe_mut(1).alive = false;
    sim.pu.handle_closed(ch, CloseReason::Closed, sim.now);
    sim.settle();
    assert_eq!(sim.pu.session_element(s).map(|p| p.id.0), Some(2));
    assert_eq!(
        sim.failovers()[0].reason,
        FailoverReason::ChannelClosed(CloseReason::Closed)
    );
    assert!(sim.reg(R1).unreachable_reports().is_empty());
}

#[test]
fn asap_error_from_registrar_drops_it_and_the_request_survives() {
    let mut sim = world(&[1]);
    sim.registrars.get_mut(R1).unwrap().behaviour = RegBehaviour::Silent;
    sim.pu.add_registrar("sctp://10.1.0.2:3863");
    sim = sim.registrar(
        "sctp://10.1.0.2:3863",
        FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1)]),
    );
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    let ch = sim
        .events
        .iter()
        .find_map(|e| match e {
            Event::RegistrarUp { channel, .. } => Some(*channel),
            _ => None,
        })
        .unwrap();
    // RSPLIB's ASAP Error (cause 0x0001, unrecognized parameter).
    sim.pu
        .handle_received(ch, 11, &vector("asap-error-3"), sim.now);
    sim.settle();
    assert!(sim.events.iter().any(|e| matches!(
        e,
        Event::RegistrarFailed {
            reason: RegistrarFailure::ProtocolError(_),
            ..
        }
    )));
    assert!(sim.pu.session_is_up(s));
    assert_eq!(sim.pu.home_registrar(), Some("sctp://10.1.0.2:3863"));
}

#[test]
fn a_received_message_is_traced_before_what_handling_it_caused() {
    // The trace event of a received message stands where the message was
    // received: before the resolution it answers and the cookie event it
    // carries (the pool user handles it by reference, then traces it).
    let mut sim = world(&[1]);
    let r = sim.pu.resolve("EchoPool".into(), sim.now);
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    let cookie = Message::Asap(AsapMessage::Cookie(Cookie(vec![9, 8, 7, 6]))).to_bytes();
    sim.pe_sends(1, 11, &cookie);
    let pos = |f: &dyn Fn(&Event) -> bool| sim.events.iter().position(f).unwrap();
    let hrr = pos(&|e| {
        matches!(
            e,
            Event::MessageReceived {
                message: Message::Asap(AsapMessage::HandleResolutionResponse(_)),
                ..
            }
        )
    });
    let resolved = pos(&|e| matches!(e, Event::Resolved { request, .. } if *request == r));
    assert!(
        hrr < resolved,
        "HRR traced at {hrr}, resolution at {resolved}"
    );
    let traced = pos(&|e| {
        matches!(
            e,
            Event::MessageReceived {
                message: Message::Asap(AsapMessage::Cookie(Cookie(c))),
                ..
            } if c == &[9, 8, 7, 6]
        )
    });
    let stored = pos(&|e| matches!(e, Event::CookieReceived { session, len: 4 } if *session == s));
    assert_eq!(traced + 1, stored, "cookie traced right before its event");
}

/// The timer table (client-core/src/pool_user/timers.rs) keeps no deadline
/// for a state that is over: once everything is answered and up, the pool
/// user asks for no wake-up; a waiting session's retry goes away with it.
#[test]
fn no_timer_outlives_what_it_waited_for() {
    let mut sim = world(&[1]);
    sim.pu.resolve("EchoPool".into(), sim.now);
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    assert!(
        sim.pu.poll_timeout().is_some(),
        "connecting: a deadline is armed"
    );
    sim.settle();
    assert!(sim.pu.session_is_up(s));
    assert_eq!(
        sim.pu.poll_timeout(),
        None,
        "all answered and up: nothing to wait for"
    );

    // An empty pool: the session waits and retries later.
    let mut sim = world(&[]);
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    let retry = sim.pu.poll_timeout().expect("the waiting session's retry");
    assert!(retry > sim.now);
    sim.pu.close_session(s, sim.now).unwrap();
    assert_eq!(
        sim.pu.poll_timeout(),
        None,
        "the closed session's retry is gone"
    );
}

/// Session states are typed: a lab draws them without parsing text, and
/// `Display` keeps the short trace text.
#[test]
fn session_states_are_typed_and_read_as_short_text() {
    let mut sim = world(&[1]);
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    let states: Vec<SessionState> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            Event::StateChanged(StateChange::Session { session, to, .. }) if *session == s => {
                Some(*to)
            }
            _ => None,
        })
        .collect();
    let pe = PoolElementId(1);
    assert_eq!(
        states,
        vec![
            SessionState::Resolving,
            SessionState::Connecting { element: pe },
            SessionState::Up { element: pe },
        ]
    );
    assert_eq!(states[2].up_element(), Some(pe));
    assert_eq!(states[2].to_string(), format!("up {pe}"));
    assert_eq!(SessionState::Waiting.to_string(), "waiting");
    let reg = sim.events.iter().find_map(|e| match e {
        Event::StateChanged(StateChange::Registrar {
            to: RegistrarState::Up { endpoint },
            ..
        }) => Some(endpoint.clone()),
        _ => None,
    });
    assert_eq!(reg.as_deref(), Some(R1));
}
