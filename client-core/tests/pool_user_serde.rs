//! Pool-user events and configuration serialize (feature `serde`): the CLI's
//! `--json`, the gateway tap and the browser binding depend on it. Built by
//! `scripts/test.d/40-pooluser.sh`.
#![cfg(feature = "serde")]

mod sim;

use client_core::pool_user::*;
use sim::*;

#[test]
fn every_event_of_a_failover_round_trips_through_json() {
    let mut sim = Sim::new(Config {
        registrars: vec!["sctp://10.1.0.1:3863".into()],
        ..Config::default()
    })
    .registrar(
        "sctp://10.1.0.1:3863",
        FakeRegistrar::new(RegBehaviour::Serve).with_pool("EchoPool", vec![rr(1), rr(2)]),
    )
    .pe(
        1,
        FakePe {
            cookie: Some(vec![1, 2, 3, 4]),
            ..FakePe::new()
        },
    )
    .pe(2, FakePe::new());
    let s = sim.pu.open_session("EchoPool".into(), 0, sim.now);
    sim.settle();
    sim.pu.send(s, None, b"hi".to_vec(), sim.now).unwrap();
    sim.settle();
    sim.kill_pe(1);
    assert!(!sim.failovers().is_empty());
    assert!(sim.events.len() > 10);
    for e in &sim.events {
        let json = serde_json::to_string(e).expect("serializes");
        let back: Event = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(&back, e);
    }
    let cfg = Config::default();
    let back: Config = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(back, cfg);
}
