//! The command lines of the actors a run starts inside the lab
//! (`rserpool-actor attack …` / `rserpool-actor workload …`, the actors
//! crate's CLI): which registrar, PE or address each kind aims at, and what
//! every actor is told about the lab (its registrars and the lab's own PE
//! identifiers, so it can tell a fake or rogue PE from a real one).

use std::collections::{BTreeMap, BTreeSet};

use rserpool_lab::topology::ENRP_PORT;
use rserpool_lab::Topology;

use crate::catalogue::Scenario;
use crate::run::SAMPLE_MS;

/// The lab's own PE identifiers as the actors' `--legit-ids` value.
fn legit_ids(own: &BTreeSet<u32>) -> String {
    own.iter()
        .map(|id| format!("0x{id:08x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The actor command line for the attacker (contract: `rserpool-actor
/// attack KIND --target … --rate --count --duration-ms --seed`).
pub fn attacker_args(
    scenario: &Scenario,
    topology: &Topology,
    own: &BTreeSet<u32>,
    params: &BTreeMap<String, f64>,
    duration_ms: u64,
    seed: u64,
) -> Option<Vec<String>> {
    let a = scenario.attacker.as_ref()?;
    let port = if a.target.contains("ENRP") {
        ENRP_PORT
    } else {
        3863
    };
    let mut v = vec![
        "attack".to_string(),
        a.kind.clone(),
        "--target".into(),
        format!("{}:{port}", Topology::registrar_address(0)),
    ];
    let _ = (topology, own);
    for (name, value) in params {
        v.push(format!("--{name}"));
        v.push(format!("{value}"));
    }
    v.extend([
        "--duration-ms".into(),
        duration_ms.to_string(),
        "--seed".into(),
        seed.to_string(),
        "--pool".into(),
        scenario.topology.pool.clone(),
    ]);
    Some(v)
}

/// The workload's command line.
pub fn workload_args(
    scenario: &Scenario,
    topology: &Topology,
    own: &BTreeSet<u32>,
    duration_ms: u64,
    seed: u64,
) -> Option<Vec<String>> {
    let w = scenario.workload.as_ref()?;
    let mut v = vec!["workload".to_string(), w.kind.clone()];
    for i in 0..topology.registrars.len() {
        v.push("--registrar".into());
        v.push(format!("{}:3863", Topology::registrar_address(i)));
    }
    v.extend([
        "--pool".into(),
        scenario.topology.pool.clone(),
        "--duration-ms".into(),
        duration_ms.to_string(),
        "--sample-ms".into(),
        SAMPLE_MS.to_string(),
        "--seed".into(),
        seed.to_string(),
    ]);
    if !own.is_empty() {
        v.extend(["--legit-ids".into(), legit_ids(own)]);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalogue;

    #[test]
    fn attacker_command_carries_the_bounds_and_the_seed() {
        let cat = Catalogue::builtin();
        let s = cat.get("rfc5355-2.13-eu-flood").unwrap();
        let params = s.param_values(&[]).unwrap().into_iter().collect();
        let a =
            attacker_args(s, &Topology::default(), &BTreeSet::new(), &params, 3000, 42).unwrap();
        let line = a.join(" ");
        assert!(
            line.starts_with("attack eu-flood --target 10.1.0.1:3863"),
            "{line}"
        );
        for part in [
            "--rate 20",
            "--count 200",
            "--duration-ms 3000",
            "--seed 42",
        ] {
            assert!(line.contains(part), "{line} lacks {part}");
        }
        let e = cat.get("rfc5355-2.5-rogue-enrp").unwrap();
        let params = e.param_values(&[]).unwrap().into_iter().collect();
        let line = attacker_args(e, &Topology::default(), &BTreeSet::new(), &params, 1, 1)
            .unwrap()
            .join(" ");
        assert!(line.contains(&format!(":{ENRP_PORT}")), "{line}");
    }

    #[test]
    fn the_workload_is_told_every_registrar_and_the_labs_own_pes() {
        let cat = Catalogue::builtin();
        let s = cat.get("rfc5355-2.1-reg-flood").unwrap();
        let topo = Topology::default();
        let own: BTreeSet<u32> = [0x10, 0xdead_beef].into();
        let line = workload_args(s, &topo, &own, 12_000, 7).unwrap().join(" ");
        assert!(
            line.starts_with("workload resolve-loop --registrar"),
            "{line}"
        );
        assert_eq!(
            line.matches("--registrar ").count(),
            topo.registrars.len(),
            "{line}"
        );
        assert!(line.contains("--legit-ids 0x00000010,0xdeadbeef"), "{line}");
        assert!(
            line.contains("--duration-ms 12000 --sample-ms 250 --seed 7"),
            "{line}"
        );
        let none = workload_args(s, &topo, &BTreeSet::new(), 1, 1)
            .unwrap()
            .join(" ");
        assert!(!none.contains("--legit-ids"), "{none}");
    }
}
