//! Arbitrary event sequences never panic and never leave a session
//! without a PE while PEs remain.

mod sim;

use client_core::pool_user::*;
use client_core::wire::*;
use proptest::prelude::*;
use sim::*;
use std::time::Duration;

const R1: &str = "sctp://10.1.0.1:3863";
const R2: &str = "sctp://10.1.0.2:3863";
const R3: &str = "sctp://10.1.0.3:3863";

#[derive(Clone, Debug)]
enum Op {
    Open,
    Close(usize),
    Send(usize, Vec<u8>),
    Kill(u32),
    Revive(u32),
    Hang(u32),
    Advance(u64),
    ReportSession(usize),
    ReportElement(u32),
    Resolve,
    Garbage {
        channel: u64,
        ppid: u32,
        bytes: Vec<u8>,
    },
    ChannelClosed {
        channel: u64,
        reason: u8,
    },
    Announce(Vec<u8>),
    Cookie(u32, Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Open),
        1 => any::<usize>().prop_map(Op::Close),
        2 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(s, b)| Op::Send(s, b)),
        2 => (1u32..=4).prop_map(Op::Kill),
        2 => (1u32..=4).prop_map(Op::Revive),
        1 => (1u32..=4).prop_map(Op::Hang),
        3 => (0u64..20_000).prop_map(Op::Advance),
        1 => any::<usize>().prop_map(Op::ReportSession),
        1 => (0u32..=5).prop_map(Op::ReportElement),
        1 => Just(Op::Resolve),
        2 => (0u64..40, prop_oneof![Just(0u32), Just(11), Just(12), any::<u32>()], proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(channel, ppid, bytes)| Op::Garbage { channel, ppid, bytes }),
        1 => (0u64..40, 0u8..4).prop_map(|(channel, reason)| Op::ChannelClosed { channel, reason }),
        1 => proptest::collection::vec(any::<u8>(), 0..16).prop_map(Op::Announce),
        1 => (1u32..=4, proptest::collection::vec(any::<u8>(), 0..12)).prop_map(|(i, b)| Op::Cookie(i, b)),
    ]
}

fn world() -> Sim {
    let pes: Vec<PoolElement> = (1..=4).map(rr).collect();
    let cfg = Config {
        registrars: vec![R1.into(), R2.into(), R3.into()],
        ..Config::default()
    };
    let mut sim = Sim::new(cfg)
        .registrar(
            R1,
            FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", pes.clone()),
        )
        .registrar(
            R2,
            FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", pes),
        )
        .registrar(R3, FakeRegistrar::new(RegBehaviour::BlackHole));
    for i in 1..=4 {
        sim = sim.pe(i, FakePe::new());
    }
    sim
}

fn apply(sim: &mut Sim, sessions: &mut Vec<SessionId>, op: Op) {
    let now = sim.now;
    let pick = |v: &Vec<SessionId>, i: usize| (!v.is_empty()).then(|| v[i % v.len()]);
    match op {
        Op::Open => sessions.push(sim.pu.open_session("EchoPool".into(), 0, now)),
        Op::Close(i) => {
            if let Some(s) = pick(sessions, i) {
                sim.pu.close_session(s, now).unwrap();
                sessions.retain(|&x| x != s);
            }
        }
        Op::Send(i, b) => {
            if let Some(s) = pick(sessions, i) {
                let _ = sim.pu.send(s, None, b, now);
            }
        }
        Op::Kill(id) => sim.kill_pe(id),
        Op::Revive(id) => {
            let pe = sim.pe_mut(id);
            pe.alive = true;
            pe.hangs = false;
        }
        Op::Hang(id) => sim.pe_mut(id).hangs = true,
        Op::Advance(ms) => sim.run_for(Duration::from_millis(ms)),
        Op::ReportSession(i) => {
            if let Some(s) = pick(sessions, i) {
                sim.pu.report_unreachable(Unreachable::Session(s), now);
            }
        }
        Op::ReportElement(id) => sim.pu.report_unreachable(
            Unreachable::Element {
                pool_handle: "EchoPool".into(),
                element: PoolElementId(id),
            },
            now,
        ),
        Op::Resolve => {
            sim.pu.resolve("EchoPool".into(), now);
        }
        Op::Garbage {
            channel,
            ppid,
            bytes,
        } => sim
            .pu
            .handle_received(ChannelId(channel), ppid, &bytes, now),
        Op::ChannelClosed { channel, reason } => {
            let reason = match reason {
                0 => CloseReason::Closed,
                1 => CloseReason::Aborted,
                2 => CloseReason::ConnectFailed,
                _ => CloseReason::AuthenticationFailed("x".into()),
            };
            sim.pu.handle_closed(ChannelId(channel), reason, now)
        }
        Op::Announce(b) => sim
            .pu
            .handle_server_announce("sctp://10.9.9.9:3863", &b, now),
        Op::Cookie(id, b) => {
            if sim.pe_channel(id).is_some() {
                let m = Message::Asap(AsapMessage::Cookie(Cookie(b))).to_bytes();
                sim.pe_sends(id, 11, &m);
            }
        }
    }
    sim.settle();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_events_never_strand_a_session(ops in proptest::collection::vec(op(), 0..60)) {
        let mut sim = world();
        let mut sessions = Vec::new();
        for op in ops {
            apply(&mut sim, &mut sessions, op);
        }
        // PEs remain: bring them all back and let the timers run.
        for i in 1..=4 {
            let pe = sim.pe_mut(i);
            pe.alive = true;
            pe.hangs = false;
        }
        sim.run_for(Duration::from_secs(120));
        for s in &sessions {
            prop_assert!(sim.pu.session_is_up(*s), "session {s:?} has no PE: {:?}", sim.events.iter().rev().take(20).collect::<Vec<_>>());
        }
        // Every session the application did not close still exists.
        prop_assert_eq!(sim.pu.sessions().count(), sessions.len());
    }

    #[test]
    fn arbitrary_bytes_on_any_input_never_panic(
        ppid in any::<u32>(),
        channel in 0u64..8,
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut sim = world();
        let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
        sim.settle();
        sim.pu.handle_received(ChannelId(channel), ppid, &bytes, sim.now);
        sim.pu.handle_server_announce("x", &bytes, sim.now);
        sim.settle();
        sim.run_for(Duration::from_secs(30));
        prop_assert!(sim.pu.session_is_up(s));
    }
}
