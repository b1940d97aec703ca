//! Selection at the pool user (128 PEs, RSPLIB's most per response) and a
//! whole resolution through the state machine (Handle Resolution encoded,
//! 3-PE response decoded, cached, selected, event emitted).
//!
//! Run: `cargo bench -p client-core --bench pool_user`

use client_core::policy::{PoolSelector, Rng};
use client_core::pool_user::{Action, Config, Event, PathSecurity, PoolUser};
use client_core::wire::*;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

fn pe(id: u32, policy: SelectionPolicy) -> PoolElement {
    PoolElement {
        id: PoolElementId(id),
        home_registrar: ServerId(1),
        registration_life_ms: 90_000,
        user_transport: TransportAddress::sctp(
            7000,
            consts::transport_use::DATA_PLUS_CONTROL,
            vec![IpAddr::V4(Ipv4Addr::new(10, 0, 2, 15))],
        ),
        policy,
        registrator_transport: None,
    }
}

/// A named way to build the policy of PE `i`.
type PolicyMaker = (&'static str, fn(u32) -> SelectionPolicy);

fn selection(c: &mut Criterion) {
    let mut g = c.benchmark_group("select_1_of_128");
    let policies: [PolicyMaker; 4] = [
        ("rr", |_| SelectionPolicy::RoundRobin),
        ("wrr", |i| SelectionPolicy::WeightedRoundRobin {
            weight: i % 5,
        }),
        ("lud", |i| SelectionPolicy::LeastUsedDegradation {
            load: i * 1000,
            degradation: 100,
        }),
        ("wrand", |i| SelectionPolicy::WeightedRandom { weight: i }),
    ];
    for (name, mk) in policies {
        let mut p = PoolSelector::new();
        for i in 1..=128 {
            p.insert(pe(i, mk(i))).unwrap();
        }
        let mut rng = Rng::new(1);
        g.bench_function(name, |b| b.iter(|| black_box(p.select(1, &mut rng))));
    }
    g.finish();
}

fn resolution(c: &mut Criterion) {
    let mut pu = PoolUser::new(Config {
        registrars: vec!["sctp://10.1.0.1:3863".into()],
        trace: false,
        ..Config::default()
    });
    let hrr = Message::Asap(AsapMessage::HandleResolutionResponse(
        HandleResolutionResponse {
            pool_handle: "EchoPool".into(),
            policy: Some(SelectionPolicy::RoundRobin),
            elements: (1..=3)
                .map(|i| pe(i, SelectionPolicy::RoundRobin))
                .collect(),
            error: None,
        },
    ))
    .to_bytes();
    let mut now = Duration::ZERO;
    pu.resolve("EchoPool".into(), now);
    let Some(Action::ConnectRegistrar { channel, .. }) = pu.poll_action() else {
        panic!("registrar connect expected");
    };
    pu.handle_connected(channel, PathSecurity::plain("sctp"), now);
    c.bench_function("resolve_round_trip_3pe", |b| {
        b.iter(|| {
            now += Duration::from_millis(1);
            pu.resolve("EchoPool".into(), now);
            while let Some(t) = pu.poll_transmit() {
                black_box(t);
            }
            pu.handle_received(channel, 11, &hrr, now);
            let mut ok = false;
            while let Some(e) = pu.poll_event() {
                ok |= matches!(e, Event::Resolved { .. });
            }
            assert!(ok);
        })
    });
}

criterion_group!(benches, selection, resolution);
criterion_main!(benches);
