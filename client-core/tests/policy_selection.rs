//! Every policy's choice sequence at the pool user, against RSPLIB's
//! observed behaviour (docs/rsplib-behaviour.md, "Selection at the pool
//! user"). Randomised policies
//! use a fixed seed and a stated tolerance.

use client_core::policy::{Charge, PoolSelector, RefuseReason, Rng};
use client_core::wire::{
    consts, PoolElement, PoolElementId, SelectionPolicy, ServerId, TransportAddress,
};
use std::net::{IpAddr, Ipv4Addr};

const MAX: u32 = u32::MAX;

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

fn pool(pes: Vec<PoolElement>) -> PoolSelector {
    let mut p = PoolSelector::new();
    for e in pes {
        p.insert(e).expect("accepted");
    }
    p
}

fn seq(p: &mut PoolSelector, calls: usize, n: usize, charge: Charge) -> Vec<Vec<u32>> {
    let mut rng = Rng::new(1);
    (0..calls)
        .map(|_| {
            p.select_with(n, charge, &mut rng)
                .iter()
                .map(|e| e.id.0)
                .collect()
        })
        .collect()
}

fn flat(p: &mut PoolSelector, calls: usize) -> Vec<u32> {
    seq(p, calls, 1, Charge::All)
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn round_robin() {
    let mk = || {
        pool(
            (1..=3)
                .map(|i| pe(i, SelectionPolicy::RoundRobin))
                .collect(),
        )
    };
    assert_eq!(flat(&mut mk(), 6), vec![1, 2, 3, 1, 2, 3]);
    // Two per call, every PE charged (RSPLIB PU).
    assert_eq!(
        seq(&mut mk(), 3, 2, Charge::All),
        vec![vec![1, 2], vec![3, 1], vec![2, 3]]
    );
    // Two per call, first charged (RSPLIB registrar).
    assert_eq!(
        seq(&mut mk(), 3, 2, Charge::First),
        vec![vec![1, 2], vec![2, 3], vec![3, 1]]
    );
}

#[test]
fn weighted_round_robin_3_to_1_and_weight_0_as_1() {
    let mut p = pool(vec![
        pe(1, SelectionPolicy::WeightedRoundRobin { weight: 3 }),
        pe(2, SelectionPolicy::WeightedRoundRobin { weight: 1 }),
    ]);
    assert_eq!(flat(&mut p, 10), vec![1, 2, 1, 1, 1, 2, 1, 1, 1, 2]);
    let mut z = pool(vec![
        pe(1, SelectionPolicy::WeightedRoundRobin { weight: 0 }),
        pe(2, SelectionPolicy::WeightedRoundRobin { weight: 1 }),
    ]);
    let s = flat(&mut z, 100);
    assert_eq!(s.iter().filter(|&&i| i == 1).count(), 50);
}

#[test]
fn priority_prefers_larger_values() {
    let mut p = pool(vec![
        pe(1, SelectionPolicy::Priority { priority: 7 }),
        pe(2, SelectionPolicy::Priority { priority: 7 }),
        pe(3, SelectionPolicy::Priority { priority: 3 }),
    ]);
    assert_eq!(flat(&mut p, 6), vec![1, 2, 1, 2, 1, 2]);
    let mut rng = Rng::new(0);
    assert_eq!(p.select(3, &mut rng).last().map(|e| e.id.0), Some(3));
}

#[test]
fn least_used_family() {
    let mut lu = pool(vec![
        pe(1, SelectionPolicy::LeastUsed { load: 500 }),
        pe(2, SelectionPolicy::LeastUsed { load: 100 }),
        pe(3, SelectionPolicy::LeastUsed { load: 100 }),
    ]);
    // Equal loads rotate by sequence number; load is not changed locally.
    assert_eq!(flat(&mut lu, 4), vec![2, 3, 2, 3]);
    let mut plu = pool(vec![
        pe(
            1,
            SelectionPolicy::PriorityLeastUsed {
                load: 100,
                load_increment: 1000,
            },
        ),
        pe(
            2,
            SelectionPolicy::PriorityLeastUsed {
                load: 500,
                load_increment: 0,
            },
        ),
    ]);
    assert_eq!(flat(&mut plu, 3), vec![2, 2, 2]);
}

#[test]
fn least_used_degradation_matches_rsplib() {
    let mut p = pool(vec![
        pe(
            1,
            SelectionPolicy::LeastUsedDegradation {
                load: 0,
                degradation: 0x1000_0000,
            },
        ),
        pe(
            2,
            SelectionPolicy::LeastUsedDegradation {
                load: 0x3000_0000,
                degradation: 0,
            },
        ),
    ]);
    assert_eq!(flat(&mut p, 6), vec![1, 2, 1, 2, 2, 2]);
    // A refresh (new HRR) resets the local degradation to the reported value.
    p.insert(pe(
        1,
        SelectionPolicy::LeastUsedDegradation {
            load: 0,
            degradation: 0x1000_0000,
        },
    ))
    .unwrap();
    assert_eq!(flat(&mut p, 1), vec![1]);
}

#[test]
fn plud_and_dpf_variants_order_by_their_keys() {
    let mut plud = pool(vec![
        pe(
            1,
            SelectionPolicy::PriorityLeastUsedDegradation {
                load: 0,
                degradation: 0x2000_0000,
            },
        ),
        pe(
            2,
            SelectionPolicy::PriorityLeastUsedDegradation {
                load: 0x1000_0000,
                degradation: 0,
            },
        ),
    ]);
    // Key 1 = 0x2000_0000 + deg(0x2000_0000) > key 2 = 0x1000_0000.
    assert_eq!(flat(&mut plud, 3), vec![2, 2, 2]);
    let mut dpf = pool(vec![
        pe(
            1,
            SelectionPolicy::LeastUsedDpf {
                load: 0,
                load_dpf: 10,
                distance: 100,
            },
        ),
        pe(
            2,
            SelectionPolicy::LeastUsedDpf {
                load: 500,
                load_dpf: 10,
                distance: 0,
            },
        ),
    ]);
    // 0 + 100*10 = 1000 > 500: the near PE wins although more loaded.
    assert_eq!(flat(&mut dpf, 2), vec![2, 2]);
}

fn counts(p: &mut PoolSelector, draws: usize, seed: u64) -> std::collections::BTreeMap<u32, usize> {
    let mut rng = Rng::new(seed);
    let mut c = std::collections::BTreeMap::new();
    for _ in 0..draws {
        for e in p.select(1, &mut rng) {
            *c.entry(e.id.0).or_insert(0) += 1;
        }
    }
    c
}

/// Share of PE `id` in `c`, checked against `expected` ± `tol` (absolute).
fn share_close(c: &std::collections::BTreeMap<u32, usize>, id: u32, expected: f64, tol: f64) {
    let total: usize = c.values().sum();
    let share = *c.get(&id).unwrap_or(&0) as f64 / total as f64;
    assert!(
        (share - expected).abs() <= tol,
        "PE {id}: share {share:.4}, expected {expected} ± {tol} ({c:?})"
    );
}

// 40 000 draws: the standard error of a share near 0.25-0.75 is ≈ 0.0022,
// so ±0.01 is more than 4 standard errors: stable, yet fails on a wrong law.
const DRAWS: usize = 40_000;
const TOL: f64 = 0.01;

#[test]
fn random_is_uniform() {
    let mut p = pool((1..=4).map(|i| pe(i, SelectionPolicy::Random)).collect());
    let c = counts(&mut p, DRAWS, 7);
    for i in 1..=4 {
        share_close(&c, i, 0.25, TOL);
    }
}

#[test]
fn weighted_random_3_to_1_and_weight_0_never() {
    let mut p = pool(vec![
        pe(1, SelectionPolicy::WeightedRandom { weight: 3 }),
        pe(2, SelectionPolicy::WeightedRandom { weight: 1 }),
        pe(3, SelectionPolicy::WeightedRandom { weight: 0 }),
    ]);
    let c = counts(&mut p, DRAWS, 11);
    share_close(&c, 1, 0.75, TOL);
    assert_eq!(c.get(&3), None);
    let mut zero = pool(vec![pe(1, SelectionPolicy::WeightedRandom { weight: 0 })]);
    assert!(zero.select(1, &mut Rng::new(0)).is_empty());
}

#[test]
fn randomized_least_used_is_proportional_to_free_capacity() {
    let mut p = pool(vec![
        pe(
            1,
            SelectionPolicy::RandomizedLeastUsed { load: MAX / 4 * 3 },
        ),
        pe(2, SelectionPolicy::RandomizedLeastUsed { load: MAX / 4 }),
    ]);
    let c = counts(&mut p, DRAWS, 13);
    share_close(&c, 1, 0.25, TOL);
    // RLUD: RSPLIB never raises the local degradation → equal loads, 1:1.
    let mut d = pool(vec![
        pe(
            1,
            SelectionPolicy::RandomizedLeastUsedDegradation {
                load: MAX / 2,
                degradation: 0xF000_0000,
            },
        ),
        pe(
            2,
            SelectionPolicy::RandomizedLeastUsedDegradation {
                load: MAX / 2,
                degradation: 0,
            },
        ),
    ]);
    share_close(&counts(&mut d, DRAWS, 17), 1, 0.5, TOL);
    // RPLU: weight = MAX - load - degradation.
    let mut r = pool(vec![
        pe(
            1,
            SelectionPolicy::RandomizedPriorityLeastUsed {
                load: MAX / 2,
                degradation: MAX / 4,
            },
        ),
        pe(
            2,
            SelectionPolicy::RandomizedPriorityLeastUsed {
                load: MAX / 4,
                degradation: 0,
            },
        ),
    ]);
    share_close(&counts(&mut r, DRAWS, 19), 1, 0.25, TOL);
}

#[test]
fn weighted_random_dpf_penalises_distance() {
    let mut p = pool(vec![
        // weight 1000, penalty = round(1000 * 1 * MAX/2 / MAX) = 500 → 500.
        pe(
            1,
            SelectionPolicy::WeightedRandomDpf {
                weight: 1000,
                weight_dpf: MAX / 2,
                distance: 1,
            },
        ),
        pe(
            2,
            SelectionPolicy::WeightedRandomDpf {
                weight: 1500,
                weight_dpf: MAX / 2,
                distance: 0,
            },
        ),
    ]);
    share_close(&counts(&mut p, DRAWS, 23), 1, 0.25, TOL);
}

#[test]
fn random_answers_never_repeat_a_pe() {
    let mut p = pool((1..=5).map(|i| pe(i, SelectionPolicy::Random)).collect());
    let mut rng = Rng::new(3);
    for _ in 0..100 {
        let mut ids: Vec<u32> = p.select(5, &mut rng).iter().map(|e| e.id.0).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    }
}

#[test]
fn same_seed_same_choices() {
    let mk = || pool((1..=8).map(|i| pe(i, SelectionPolicy::Random)).collect());
    assert_eq!(counts(&mut mk(), 100, 5), counts(&mut mk(), 100, 5));
}

#[test]
fn refusals_match_rsplib_cache() {
    let mut p = pool(vec![pe(1, SelectionPolicy::RoundRobin)]);
    assert_eq!(
        p.insert(pe(0, SelectionPolicy::RoundRobin)),
        Err(RefuseReason::ZeroIdentifier)
    );
    let mut port0 = pe(2, SelectionPolicy::RoundRobin);
    port0.user_transport.port = 0;
    assert_eq!(p.insert(port0), Err(RefuseReason::ZeroPort));
    assert_eq!(
        p.insert(pe(3, SelectionPolicy::Random)),
        Err(RefuseReason::InconsistentPolicy)
    );
    let mut data_only = pe(4, SelectionPolicy::RoundRobin);
    data_only.user_transport.transport_use = consts::transport_use::DATA_ONLY;
    assert_eq!(
        p.insert(data_only),
        Err(RefuseReason::InconsistentDataControl)
    );
    let mut tcp = pe(5, SelectionPolicy::RoundRobin);
    tcp.user_transport.protocol = client_core::wire::TransportProtocol::Tcp;
    assert_eq!(p.insert(tcp), Err(RefuseReason::InconsistentTransport));
    assert_eq!(
        p.insert(pe(
            6,
            SelectionPolicy::Unknown {
                code: 0x99,
                words: vec![]
            }
        )),
        Err(RefuseReason::UnknownPolicy)
    );
    assert_eq!(p.len(), 1);
    // The only PE may change its own policy (a refresh, not a new member).
    assert_eq!(p.insert(pe(1, SelectionPolicy::Random)), Ok(()));
}
