//! Every message in `testdata/vectors` (what RSPLIB 3.4.4 really sends, plus
//! the crafted probes), delivered to the pool user where it does not
//! belong — on the registrar channel while a resolution is pending, and on
//! a pool element's channel while a session is up, under every PPID RSPLIB
//! uses. The pool user must never panic, must say what it dropped, and
//! must go on serving: the pending resolution is answered and the session
//! still echoes (RFC 5352 §3.2 hunt, §3.10 failover).

mod sim;

use client_core::pool_user::*;
use sim::*;
use std::time::Duration;

const R1: &str = "sctp://10.1.0.1:3863";
const R2: &str = "sctp://10.1.0.2:3863";

fn vectors() -> Vec<(String, Vec<u8>)> {
    let v = rserpool_testdata::vectors();
    assert!(v.len() >= 40, "only {} vectors", v.len());
    v
}

/// ASAP, ENRP and the application's PPID 0.
const PPIDS: [u32; 3] = [11, 12, 0];

#[test]
fn any_rsplib_message_on_the_registrar_channel_leaves_the_pending_resolution_answered() {
    for (name, bytes) in vectors() {
        for ppid in PPIDS {
            let mut sim = Sim::new(Config {
                registrars: vec![R1.into(), R2.into()],
                hunt_parallel: 1,
                ..Config::default()
            })
            .registrar(R1, FakeRegistrar::new(RegBehaviour::Silent))
            .registrar(
                R2,
                FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1), rr(2)]),
            );
            let req = sim.pu.resolve("EchoPool".into(), sim.now);
            sim.settle();
            let ch = sim
                .events
                .iter()
                .find_map(|e| match e {
                    Event::RegistrarUp { channel, .. } => Some(*channel),
                    _ => None,
                })
                .expect("R1 up");
            sim.pu.handle_received(ch, ppid, &bytes, sim.now);
            sim.settle();
            sim.run_for(Duration::from_secs(10));
            let answers: Vec<&Event> = sim
                .events
                .iter()
                .filter(|e| {
                    matches!(e, Event::Resolved { request, .. } | Event::ResolveFailed { request, .. } if *request == req)
                })
                .collect();
            assert_eq!(answers.len(), 1, "{name} (PPID {ppid}): {answers:?}");
            // Either the registrar's message was a usable answer, or it
            // was dropped with an Error event and R2 answered.
            match answers[0] {
                Event::Resolved { elements, .. } => assert!(!elements.is_empty(), "{name}"),
                Event::ResolveFailed { error, .. } => {
                    // A registrar's own answer (a cause, an empty pool) may
                    // fail it; being stuck (timeouts, no registrar) may not.
                    assert!(
                        !matches!(
                            error,
                            ResolveError::Timeout { .. }
                                | ResolveError::NoRegistrarReachable { .. }
                        ),
                        "{name} (PPID {ppid}): {error:?}"
                    )
                }
                _ => unreachable!(),
            }
            let dropped = sim
                .events
                .iter()
                .any(|e| matches!(e, Event::Error { channel: Some(c), .. } if *c == ch));
            // Dropping the registrar for it is said, not silent.
            let protocol_failure = sim.events.iter().any(|e| {
                matches!(
                    e,
                    Event::RegistrarFailed {
                        reason: RegistrarFailure::ProtocolError(_),
                        ..
                    }
                )
            });
            assert!(
                dropped || !protocol_failure,
                "{name} (PPID {ppid}): registrar dropped without an Error event"
            );
            // And the pool user still serves afterwards.
            let again = sim.pu.resolve("EchoPool".into(), sim.now);
            sim.run_for(Duration::from_secs(10));
            assert!(
                sim.events.iter().any(|e| matches!(
                    e,
                    Event::Resolved { request, .. } | Event::ResolveFailed { request, .. } if *request == again
                )),
                "{name} (PPID {ppid}): no answer to the next resolution"
            );
        }
    }
}

#[test]
fn any_rsplib_message_on_a_session_channel_leaves_the_session_echoing() {
    for (name, bytes) in vectors() {
        for ppid in [11, 12] {
            let mut sim = Sim::new(Config {
                registrars: vec![R1.into()],
                ..Config::default()
            })
            .registrar(
                R1,
                FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1), rr(2)]),
            )
            .pe(1, FakePe::new())
            .pe(2, FakePe::new());
            let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
            sim.settle();
            assert!(sim.pu.session_is_up(s));
            let pe = sim.pu.session_element(s).expect("a PE").id.0;
            sim.pe_sends(pe, ppid, &bytes);
            sim.run_for(Duration::from_secs(10));
            // The session is up (maybe on the other PE) and echoes.
            assert!(sim.pu.session_is_up(s), "{name} (PPID {ppid})");
            sim.pu
                .send(s, None, b"still there?".to_vec(), sim.now)
                .unwrap_or_else(|e| panic!("{name} (PPID {ppid}): {e}"));
            sim.settle();
            let echoed = sim.events.iter().any(|e| {
                matches!(e, Event::SessionData { session, bytes, .. } if *session == s && bytes == b"still there?")
            });
            assert!(echoed, "{name} (PPID {ppid}): no echo after the message");
        }
    }
}
