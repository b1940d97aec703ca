//! Pool member selection at the pool user, as RSPLIB's PU does it
//! (RFC 5356 policies plus RSPLIB's extensions; RSPLIB's behaviour is
//! described in docs/rsplib-behaviour.md, "Selection at the pool user").
//!
//! A [`PoolSelector`] is the PU-side cache of one pool together with the
//! per-pool selection state each policy needs (round-robin position through
//! sequence numbers, local degradation counters, WRR rounds). It never
//! reads a clock and never draws entropy: randomised policies take a
//! [`Rng`] seeded by the caller, so every choice sequence is reproducible.

mod rng;

pub use rng::Rng;

use crate::wire::{PoolElement, PoolElementId, SelectionPolicy};
use core::mem::discriminant;

const MAX: u32 = u32::MAX;

/// Why a pool element was not accepted into a pool (RSPLIB's cache refuses
/// the same PEs; docs/rsplib-behaviour.md, "Inputs RSPLIB itself does not
/// survive" — RSPLIB crashes on them, we
/// skip them).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    /// PE identifier 0 is invalid (RFC 5354 §3.14; RSPLIB refuses it).
    ZeroIdentifier,
    /// The user transport has port 0.
    ZeroPort,
    /// The PE's policy type differs from the pool's (the pool takes the
    /// policy of its first PE; RFC 5352 §3.2 "inconsistent pooling policy").
    InconsistentPolicy,
    /// Transport protocol differs from the pool's (RFC 5354 cause 7).
    InconsistentTransport,
    /// Transport-use (data / data+control) differs (RFC 5354 cause 8).
    InconsistentDataControl,
    /// A policy code RSPLIB does not know.
    UnknownPolicy,
}

impl core::fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RefuseReason::ZeroIdentifier => "pool element identifier 0",
            RefuseReason::ZeroPort => "transport port 0",
            RefuseReason::InconsistentPolicy => "policy differs from the pool's",
            RefuseReason::InconsistentTransport => "transport protocol differs from the pool's",
            RefuseReason::InconsistentDataControl => "transport use differs from the pool's",
            RefuseReason::UnknownPolicy => "unknown selection policy",
        })
    }
}

/// Which selected PEs are charged (sequence number and degradation update):
/// RSPLIB's PU charges every returned PE, its registrar only the first
/// (docs/rsplib-behaviour.md, "Selection at the pool user").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    /// Charge every PE returned (RSPLIB's pool user).
    All,
    /// Charge only the first PE returned (RSPLIB's registrar).
    First,
}

#[derive(Clone, Debug)]
struct Entry {
    element: PoolElement,
    seq: u64,
    /// Local degradation (LUD family), saturating.
    deg: u32,
    /// WRR round and virtual counter.
    round: u64,
    virt: u32,
}

/// One pool's cached PEs and selection state.
#[derive(Clone, Debug, Default)]
pub struct PoolSelector {
    entries: Vec<Entry>,
    next_seq: u64,
}

fn sat_add(a: u32, b: u32) -> u32 {
    a.saturating_add(b)
}

/// Local degradation applies to the LUD family only (docs/rsplib-behaviour.md, "Selection
/// at the pool user").
fn degradation_of(p: &SelectionPolicy) -> Option<u32> {
    use SelectionPolicy as P;
    match p {
        P::LeastUsedDegradation { degradation, .. }
        | P::PriorityLeastUsedDegradation { degradation, .. }
        | P::LeastUsedDegradationDpf { degradation, .. }
        | P::PriorityLeastUsedDegradationDpf { degradation, .. } => Some(*degradation),
        _ => None,
    }
}

fn weight_of(p: &SelectionPolicy) -> u32 {
    match p {
        // Weight 0 behaves like weight 1 in RSPLIB's WRR (docs/rsplib-behaviour.md,
        // "The formulas in detail").
        SelectionPolicy::WeightedRoundRobin { weight } => (*weight).max(1),
        _ => 1,
    }
}

fn is_random(p: &SelectionPolicy) -> bool {
    use SelectionPolicy as P;
    matches!(
        p,
        P::Random
            | P::WeightedRandom { .. }
            | P::WeightedRandomDpf { .. }
            | P::RandomizedLeastUsed { .. }
            | P::RandomizedLeastUsedDegradation { .. }
            | P::RandomizedPriorityLeastUsed { .. }
            | P::RandomizedPriorityLeastUsedDegradation { .. }
    )
}

fn dpf_key(base: u64, distance: u32, dpf: u32) -> u64 {
    // min(MAX, round(load + distance * dpf)), computed in f64
    // (docs/rsplib-behaviour.md, "The formulas in detail").
    let v = base as f64 + f64::from(distance) * f64::from(dpf);
    v.round().min(f64::from(MAX)) as u64
}

/// Sort key of a sorted-order policy (docs/rsplib-behaviour.md, "Selection at the pool
/// user"). WRR is
/// handled separately (two-part key).
fn key(e: &Entry) -> u64 {
    use SelectionPolicy as P;
    match &e.element.policy {
        P::RoundRobin => 0,
        P::Priority { priority } => u64::from(MAX - *priority),
        P::LeastUsed { load } => u64::from(*load),
        P::PriorityLeastUsed {
            load,
            load_increment,
        } => u64::from(sat_add(*load, *load_increment)),
        P::LeastUsedDegradation { load, .. } => u64::from(sat_add(*load, e.deg)),
        P::PriorityLeastUsedDegradation { load, degradation } => {
            u64::from(sat_add(sat_add(*load, *degradation), e.deg))
        }
        P::LeastUsedDpf {
            load,
            load_dpf,
            distance,
        } => dpf_key(u64::from(*load), *distance, *load_dpf),
        P::LeastUsedDegradationDpf {
            load,
            load_dpf,
            distance,
            ..
        } => dpf_key(u64::from(*load) + u64::from(e.deg), *distance, *load_dpf),
        P::PriorityLeastUsedDpf {
            load,
            load_increment,
            load_dpf,
            distance,
        } => dpf_key(
            u64::from(*load) + u64::from(*load_increment),
            *distance,
            *load_dpf,
        ),
        P::PriorityLeastUsedDegradationDpf {
            load,
            degradation,
            load_dpf,
            distance,
        } => dpf_key(
            u64::from(*load) + u64::from(*degradation) + u64::from(e.deg),
            *distance,
            *load_dpf,
        ),
        _ => 0,
    }
}

/// Draw weight of a randomised policy (docs/rsplib-behaviour.md, "Selection at the pool user").
fn draw_value(e: &Entry) -> u64 {
    use SelectionPolicy as P;
    let clamp = |v: i64| v.clamp(1, i64::from(MAX)) as u64;
    let max = i64::from(MAX);
    match &e.element.policy {
        P::Random => 1,
        // Weight 0 is allowed here: such a PE is never chosen.
        P::WeightedRandom { weight } => u64::from(*weight),
        P::WeightedRandomDpf {
            weight,
            weight_dpf,
            distance,
        } => {
            if *weight == 0 {
                return 0;
            }
            let w = f64::from(*weight);
            let penalty =
                (w * f64::from(*distance) * f64::from(*weight_dpf) / f64::from(MAX)).round() as i64;
            let v = i64::from(*weight) - penalty;
            if v <= 0 {
                1
            } else {
                v as u64
            }
        }
        // RSPLIB never increases deg for the randomised LUD variants, so
        // RLUD = RLU and RPLUD = RPLU (observed; docs/rsplib-behaviour.md,
        // "Selection at the pool user").
        P::RandomizedLeastUsed { load } | P::RandomizedLeastUsedDegradation { load, .. } => {
            clamp(max - i64::from(*load))
        }
        P::RandomizedPriorityLeastUsed { load, degradation }
        | P::RandomizedPriorityLeastUsedDegradation { load, degradation } => {
            clamp(max - i64::from(*load) - i64::from(*degradation))
        }
        _ => 1,
    }
}

/// Checks that RSPLIB's cache would accept `pe` at all.
fn check_alone(pe: &PoolElement) -> Result<(), RefuseReason> {
    if pe.id.0 == 0 {
        return Err(RefuseReason::ZeroIdentifier);
    }
    if pe.user_transport.port == 0 {
        return Err(RefuseReason::ZeroPort);
    }
    if matches!(pe.policy, SelectionPolicy::Unknown { .. }) {
        return Err(RefuseReason::UnknownPolicy);
    }
    Ok(())
}

impl PoolSelector {
    /// An empty selector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of cached PEs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no PE is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached elements, in insertion order.
    pub fn elements(&self) -> impl Iterator<Item = &PoolElement> {
        self.entries.iter().map(|e| &e.element)
    }

    /// The cached PE with this identifier, if any.
    pub fn get(&self, id: PoolElementId) -> Option<&PoolElement> {
        self.entries
            .iter()
            .find(|e| e.element.id == id)
            .map(|e| &e.element)
    }

    fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// WRR update hook (docs/rsplib-behaviour.md, "The formulas in detail").
    fn wrr_update(e: &mut Entry) {
        if e.virt > 1 {
            e.virt -= 1;
        } else {
            e.round += 1;
            e.virt = weight_of(&e.element.policy);
        }
    }

    fn charge(e: &mut Entry, seq: u64) {
        e.seq = seq;
        if let Some(d) = degradation_of(&e.element.policy) {
            // RSPLIB's update hook runs twice per selection (docs/rsplib-behaviour.md,
            // "Selection at the pool user").
            e.deg = e.deg.saturating_add(d).saturating_add(d);
        }
        if matches!(e.element.policy, SelectionPolicy::WeightedRoundRobin { .. }) {
            Self::wrr_update(e);
            Self::wrr_update(e);
        }
    }

    /// Inserts or refreshes a PE. A new PE must agree with the pool's
    /// policy type, transport protocol and transport use (the pool takes
    /// them from its first PE; RFC 5356 §3 / RSPLIB cache).
    pub fn insert(&mut self, pe: PoolElement) -> Result<(), RefuseReason> {
        check_alone(&pe)?;
        if let Some(first) = self.entries.iter().find(|e| e.element.id != pe.id) {
            let f = &first.element;
            if discriminant(&f.policy) != discriminant(&pe.policy) {
                return Err(RefuseReason::InconsistentPolicy);
            }
            if f.user_transport.protocol != pe.user_transport.protocol {
                return Err(RefuseReason::InconsistentTransport);
            }
            if f.user_transport.carries_control() != pe.user_transport.carries_control() {
                return Err(RefuseReason::InconsistentDataControl);
            }
        }
        let deg = degradation_of(&pe.policy).unwrap_or(0);
        if let Some(e) = self.entries.iter_mut().find(|e| e.element.id == pe.id) {
            // Refresh: new values, local degradation reset to the PE's
            // reported degradation; position in the order is kept.
            let weight_changed = weight_of(&e.element.policy) != weight_of(&pe.policy);
            e.element = pe;
            e.deg = deg;
            if weight_changed {
                e.virt = weight_of(&e.element.policy);
            }
            return Ok(());
        }
        let seq = self.take_seq();
        let round = if matches!(pe.policy, SelectionPolicy::WeightedRoundRobin { .. }) {
            // Start in the round of the PE currently first in order.
            self.sorted_indices()
                .first()
                .map(|&i| self.entries[i].round)
                .unwrap_or(0)
        } else {
            0
        };
        let mut e = Entry {
            virt: weight_of(&pe.policy),
            element: pe,
            seq,
            deg,
            round,
        };
        if matches!(e.element.policy, SelectionPolicy::WeightedRoundRobin { .. }) {
            Self::wrr_update(&mut e);
        }
        self.entries.push(e);
        Ok(())
    }

    /// Removes a PE (failed, reported unreachable, or expired).
    pub fn remove(&mut self, id: PoolElementId) -> Option<PoolElement> {
        let i = self.entries.iter().position(|e| e.element.id == id)?;
        Some(self.entries.remove(i).element)
    }

    /// Keeps only the PEs for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&PoolElement) -> bool) {
        self.entries.retain(|e| keep(&e.element));
    }

    fn sorted_indices(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.entries.len()).collect();
        let wrr = self.entries.first().is_some_and(|e| {
            matches!(e.element.policy, SelectionPolicy::WeightedRoundRobin { .. })
        });
        // One unstable sort with the index as last key: the order a stable
        // sort gives, with one instantiation of the sort code (browser
        // download size). Weighted round robin sorts by round, virtual
        // slot, sequence; the other policies by policy key, then sequence.
        idx.sort_unstable_by_key(|&i| {
            let e = &self.entries[i];
            if wrr {
                (e.round, u64::from(e.virt), e.seq, i)
            } else {
                (key(e), 0, e.seq, i)
            }
        });
        idx
    }

    /// Selects up to `n` distinct PEs, as RSPLIB's pool user does (every
    /// returned PE is charged).
    pub fn select(&mut self, n: usize, rng: &mut Rng) -> Vec<PoolElement> {
        self.select_with(n, Charge::All, rng)
    }

    /// Selects up to `n` distinct PEs; `charge` says which are charged.
    pub fn select_with(&mut self, n: usize, charge: Charge, rng: &mut Rng) -> Vec<PoolElement> {
        let Some(first) = self.entries.first() else {
            return Vec::new();
        };
        let chosen: Vec<usize> = if is_random(&first.element.policy) {
            let mut candidates: Vec<(usize, u64)> = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| (i, draw_value(e)))
                .collect();
            let mut out = Vec::new();
            while out.len() < n && !candidates.is_empty() {
                let total: u64 = candidates.iter().map(|c| c.1).sum();
                if total == 0 {
                    break;
                }
                let mut r = rng.below(total);
                let pos = candidates
                    .iter()
                    .position(|c| {
                        if r < c.1 {
                            true
                        } else {
                            r -= c.1;
                            false
                        }
                    })
                    .unwrap_or(candidates.len() - 1);
                out.push(candidates.remove(pos).0);
            }
            out
        } else {
            let mut v = self.sorted_indices();
            v.truncate(n);
            v
        };
        for (k, &i) in chosen.iter().enumerate() {
            if k == 0 || charge == Charge::All {
                let seq = self.take_seq();
                Self::charge(&mut self.entries[i], seq);
            }
        }
        chosen
            .into_iter()
            .map(|i| self.entries[i].element.clone())
            .collect()
    }
}
