//! The run record (`rserpool-run/2`): everything one scenario run saw.
//! Written by `rserpool scenario run --out run.json` and served as
//! `GET /api/runs/ID`; the layout is documented in `docs/run-record.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalogue::{Expectation, Over, PhaseName, Scenario, Worse};

/// Schema tag of a run record.
pub const SCHEMA: &str = "rserpool-run/2";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema: String,
    pub scenario: Scenario,
    pub seed: u64,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub topology: RunTopology,
    pub defences: BTreeMap<String, bool>,
    pub params: BTreeMap<String, f64>,
    pub phases: Vec<PhaseSpan>,
    pub samples: Vec<Sample>,
    pub events: Vec<Event>,
    /// Attacker actions as the actor reported them (reproducible from the
    /// seed): each is the actor's JSON line.
    pub actions: Vec<serde_json::Value>,
    /// Per phase, every metric's worst value (see [`summarise`]); the
    /// verdict is judged on it.
    pub summary: BTreeMap<PhaseName, BTreeMap<String, f64>>,
    /// Per phase, every metric's mean, for context.
    #[serde(default)]
    pub means: BTreeMap<PhaseName, BTreeMap<String, f64>>,
    pub verdict: Option<Verdict>,
    /// The command that reproduces this run.
    pub command: String,
    /// The run's packet capture, when one was taken (`--pcap`, and every
    /// run from the lab page): the file beside the record, what it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcap: Option<PcapInfo>,
}

/// A run's packet capture (`crate::capture`): a classic pcap file that
/// Wireshark and `rserpool decode --pcap` open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcapInfo {
    /// Its file name, as written (`--pcap PATH`'s last component).
    pub file: String,
    pub bytes: u64,
    pub packets: u64,
    /// The pcap link type: 276 (LINUX_SLL2), what `tcpdump -i any` writes.
    pub link_type: u32,
    /// tcpdump's capture filter.
    pub filter: String,
    /// The size cap: the file holds at most this many bytes plus one packet.
    pub cap_bytes: u64,
    /// Packets the kernel dropped before tcpdump saw them, as tcpdump
    /// counted them (`None` if it did not say).
    #[serde(default)]
    pub dropped_by_kernel: Option<u64>,
    /// Why the capture ended before the run did: `"size-cap"` (later
    /// packets are not in it) or `"time-limit"` (the agent's bound on
    /// spawned processes); `None` when it covers the whole run.
    #[serde(default)]
    pub truncated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RunTopology {
    pub registrars: Vec<RegistrarInfo>,
    pub pool_elements: Vec<PeInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrarInfo {
    pub name: String,
    pub id: String,
    pub asap: String,
    pub enrp: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeInfo {
    pub name: String,
    pub pool: String,
    pub registrar: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSpan {
    pub name: PhaseName,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// One sample: every metric's value over the interval ending at `t_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub t_ms: u64,
    pub values: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    AttackStart,
    AttackStop,
    PeKilled,
    Failover,
    RegistrarChange,
    Eviction,
    Restored,
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub t_ms: u64,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    pub text: String,
}

/// Per phase, every metric's worst value among the samples inside it: the
/// least where lower is worse (`healthy_pes`), the most otherwise (metrics
/// the scenario does not list count as higher-is-worse). One sample with
/// a PE evicted is harm, however short; a mean would hide it.
pub fn summarise(
    phases: &[PhaseSpan],
    samples: &[Sample],
    worse: &BTreeMap<String, Worse>,
) -> BTreeMap<PhaseName, BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for p in phases {
        let mut worst: BTreeMap<String, f64> = BTreeMap::new();
        for s in in_phase(p, samples) {
            for (k, &v) in &s.values {
                let lower = worse.get(k) == Some(&Worse::Lower);
                worst
                    .entry(k.clone())
                    .and_modify(|w| *w = if lower { w.min(v) } else { w.max(v) })
                    .or_insert(v);
            }
        }
        out.insert(p.name, worst);
    }
    out
}

/// Per phase, every metric's mean over the samples inside it.
pub fn means(
    phases: &[PhaseSpan],
    samples: &[Sample],
) -> BTreeMap<PhaseName, BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for p in phases {
        let mut sums: BTreeMap<String, (f64, u32)> = BTreeMap::new();
        for s in in_phase(p, samples) {
            for (k, v) in &s.values {
                let e = sums.entry(k.clone()).or_insert((0.0, 0));
                e.0 += v;
                e.1 += 1;
            }
        }
        out.insert(
            p.name,
            sums.into_iter()
                .map(|(k, (sum, n))| (k, sum / f64::from(n)))
                .collect(),
        );
    }
    out
}

fn in_phase<'a>(p: &'a PhaseSpan, samples: &'a [Sample]) -> impl Iterator<Item = &'a Sample> {
    samples
        .iter()
        .filter(|s| s.t_ms > p.start_ms && s.t_ms <= p.end_ms)
}

/// Holds the run's summary to the scenario's expectation, given which
/// defences were on.
pub fn judge(
    expectation: &Expectation,
    defences: &BTreeMap<String, bool>,
    summary: &BTreeMap<PhaseName, BTreeMap<String, f64>>,
    means: &BTreeMap<PhaseName, BTreeMap<String, f64>>,
) -> Verdict {
    let metric = expectation.metric();
    let phase = expectation.phase();
    let (bound, label, over) = match expectation {
        Expectation::Compare { without, .. } => {
            // The first defence switched on that the expectation bounds;
            // with none on, the harm bound.
            match expectation
                .with_defences()
                .into_iter()
                .find(|w| defences.get(&w.defence).copied().unwrap_or(false))
            {
                Some(w) => (
                    crate::catalogue::Bound {
                        op: w.op,
                        value: w.value,
                    },
                    format!("with {}", w.defence),
                    w.over,
                ),
                None => (*without, "without the defence".to_string(), Over::Worst),
            }
        }
        Expectation::ObservedOnly { harm, .. } => (*harm, "observed".to_string(), Over::Worst),
    };
    let (table, of) = match over {
        Over::Worst => (summary, ""),
        Over::Mean => (means, "mean "),
    };
    let Some(measured) = table.get(&phase).and_then(|m| m.get(metric)).copied() else {
        return Verdict {
            passed: false,
            text: format!("no {of}{metric} measured in the {} phase", phase.as_str()),
        };
    };
    let passed = bound.holds(measured);
    Verdict {
        passed,
        text: format!(
            "{of}{metric} in {} = {measured:.3} ({label}: expected {bound}) — {}",
            phase.as_str(),
            if passed {
                "as expected"
            } else {
                "NOT as expected"
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;

    fn sample(t: u64, v: f64) -> Sample {
        Sample {
            t_ms: t,
            values: [("healthy_pes".to_string(), v)].into(),
        }
    }

    #[test]
    fn summary_is_the_worst_value_inside_each_phase_and_the_verdict_follows_the_defence() {
        let phases = [
            PhaseSpan {
                name: PhaseName::Baseline,
                start_ms: 0,
                end_ms: 500,
            },
            PhaseSpan {
                name: PhaseName::Attack,
                start_ms: 500,
                end_ms: 1000,
            },
        ];
        let samples = [
            sample(250, 4.0),
            sample(500, 4.0),
            sample(750, 3.0),
            sample(1000, 1.0),
        ];
        let worse: BTreeMap<String, Worse> = [("healthy_pes".to_string(), Worse::Lower)].into();
        let summary = summarise(&phases, &samples, &worse);
        assert_eq!(summary[&PhaseName::Baseline]["healthy_pes"], 4.0);
        assert_eq!(summary[&PhaseName::Attack]["healthy_pes"], 1.0);
        let higher = summarise(&phases, &samples, &BTreeMap::new());
        assert_eq!(higher[&PhaseName::Attack]["healthy_pes"], 3.0);
        assert_eq!(
            means(&phases, &samples)[&PhaseName::Attack]["healthy_pes"],
            2.0
        );
        let cat = Catalogue::builtin();
        let e = cat
            .get("rfc5355-2.13-eu-flood")
            .unwrap()
            .expectation
            .clone()
            .unwrap();
        let off: BTreeMap<String, bool> = [("maxeurate".to_string(), false)].into();
        let on: BTreeMap<String, bool> = [("maxeurate".to_string(), true)].into();
        let m = means(&phases, &samples);
        assert!(judge(&e, &off, &summary, &m).passed);
        let v = judge(&e, &on, &summary, &m);
        assert!(!v.passed, "{}", v.text);
        assert!(v.text.contains("with maxeurate"), "{}", v.text);
        let empty = BTreeMap::new();
        assert!(!judge(&e, &off, &empty, &empty).passed);
    }

    #[test]
    fn a_bucket_defence_is_judged_on_the_phase_mean_and_the_rest_on_the_worst_interval() {
        let e = Catalogue::builtin()
            .get("hr-flood")
            .unwrap()
            .expectation
            .clone()
            .unwrap();
        let gateway = e
            .with_defences()
            .into_iter()
            .find(|w| w.defence == "gateway-hr-limit")
            .unwrap();
        assert_eq!(gateway.over, Over::Mean);
        let phase = |v: f64| -> BTreeMap<PhaseName, BTreeMap<String, f64>> {
            [(
                PhaseName::Attack,
                [("attacker_answered_share".to_string(), v)].into(),
            )]
            .into()
        };
        let on: BTreeMap<String, bool> = [("gateway-hr-limit".to_string(), true)].into();
        // A burst in the first interval (worst 0.6) with a low mean passes…
        let v = judge(&e, &on, &phase(0.6), &phase(0.16));
        assert!(v.passed, "{}", v.text);
        assert!(
            v.text.starts_with("mean attacker_answered_share"),
            "{}",
            v.text
        );
        // …a high mean does not, whatever the worst interval says.
        assert!(!judge(&e, &on, &phase(0.2), &phase(0.4)).passed);
        // maxhrrate (no burst by design) is still held to its worst interval.
        let rsplib: BTreeMap<String, bool> = [("maxhrrate".to_string(), true)].into();
        assert!(!judge(&e, &rsplib, &phase(0.6), &phase(0.1)).passed);
        // Off: the harm is the worst interval.
        let off = BTreeMap::new();
        assert!(judge(&e, &off, &phase(0.95), &phase(0.5)).passed);
    }
}
