//! The command lines of the actors a run starts inside the lab
//! (`rserpool-actor attack …` / `rserpool-actor workload …`, the actors
//! crate's CLI): which registrar, PE or address each kind aims at, and what
//! every actor is told about the lab (its registrars and the lab's own PE
//! identifiers, so it can tell a fake or rogue PE from a real one).

use std::collections::{BTreeMap, BTreeSet};

use rserpool_lab::topology::{ASAP_PORT, ATTACKER_ADDRESS, ENRP_PORT};
use rserpool_lab::Topology;

use crate::catalogue::{DefenceKind, Scenario};
use crate::run::SAMPLE_MS;

/// The lab's own PE identifiers as the actors' `--legit-ids` value.
fn legit_ids(own: &BTreeSet<u32>) -> String {
    own.iter()
        .map(|id| format!("0x{id:08x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The actor command line for the attacker (contract: `rserpool-actor
/// attack KIND --target … --rate --count --duration-ms --seed`) with every
/// defence off.
pub fn attacker_args(
    scenario: &Scenario,
    topology: &Topology,
    own: &BTreeSet<u32>,
    params: &BTreeMap<String, f64>,
    duration_ms: u64,
    seed: u64,
) -> Option<Vec<String>> {
    attacker_args_with(
        scenario,
        topology,
        own,
        params,
        &BTreeMap::new(),
        duration_ms,
        seed,
    )
}

/// Whether a defence of the project's gateway is on for this run: then
/// the registrars are reachable only through the gateway, as a deployment
/// that puts its registrars behind it configures (docs/lab-defences.md,
/// "Gateway defences"), and the attacker is a client of the gateway.
pub fn through_gateway(scenario: &Scenario, defences: &BTreeMap<String, bool>) -> bool {
    scenario
        .defences
        .iter()
        .any(|d| d.kind == DefenceKind::Gateway && defences.get(&d.name) == Some(&true))
}

/// The attacker's command line under the run's defence settings: with a
/// gateway defence on, each registrar target is reached through the lab
/// gateway inside the VM (`--registrar-url wss://localhost:8443/asap/N
/// --ca /share/certs/ca.pem`) instead of by SCTP.
pub fn attacker_args_with(
    scenario: &Scenario,
    topology: &Topology,
    own: &BTreeSet<u32>,
    params: &BTreeMap<String, f64>,
    defences: &BTreeMap<String, bool>,
    duration_ms: u64,
    seed: u64,
) -> Option<Vec<String>> {
    let a = scenario.attacker.as_ref()?;
    let asap = |i: usize| format!("{}:{ASAP_PORT}", Topology::registrar_address(i));
    let enrp = |i: usize| format!("{}:{ENRP_PORT}", Topology::registrar_address(i));
    // Per kind: its targets and the options that are not catalogue
    // parameters (those are numbers, appended below).
    let (targets, options): (Vec<String>, Vec<String>) = match a.kind.as_str() {
        // The victim PE's ASAP endpoint is in registrar-1's handle table
        // (ENRP); the actor looks it up and picks the victim by the seed.
        "ka-flood" => (vec![enrp(0)], vec![]),
        // The victim's deregistration, from the attacker's association.
        "replay" => (
            vec![asap(0)],
            vec!["--mode".into(), "deregistration".into()],
        ),
        "reg-spoof" => (vec![asap(0)], vec![]),
        // It listens, as a registrar, at the attackers' own address.
        ROGUE_REGISTRAR => (vec![rogue_registrar_endpoint()], vec![]),
        // RSPLIB's ASAP announce group; the announces advertise the
        // attackers' address as a registrar.
        "announce" => (vec![ASAP_ANNOUNCE_GROUP.to_string()], vec![]),
        _ if a.target.contains("ENRP") => (vec![enrp(0)], vec![]),
        _ => (vec![asap(0)], vec![]),
    };
    let mut v = vec!["attack".to_string(), a.kind.clone()];
    let gateway_paths: Vec<String> = if through_gateway(scenario, defences) {
        targets.iter().filter_map(|t| gateway_url_of(t)).collect()
    } else {
        Vec::new()
    };
    for t in targets {
        v.extend(["--target".into(), t]);
    }
    v.extend(options);
    if !gateway_paths.is_empty() {
        for url in gateway_paths {
            v.extend(["--registrar-url".into(), url]);
        }
        v.extend(["--ca".into(), LAB_CA_IN_VM.into()]);
    }
    let _ = (topology, own);
    // Kinds that act from the attackers' own lab address (so a lab
    // allow-list can tell them apart).
    if matches!(a.kind.as_str(), "rogue-enrp" | "reg-flood" | "rogue-pe") {
        v.extend(["--source".into(), ATTACKER_ADDRESS.into()]);
    }
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

/// The lab gateway's URL for the registrar whose ASAP endpoint is
/// `target` (registrar *i* at `10.1.0.i:3863` is `/asap/i`).
fn gateway_url_of(target: &str) -> Option<String> {
    let i =
        (0..16).find(|i| format!("{}:{ASAP_PORT}", Topology::registrar_address(*i)) == target)?;
    Some(format!("wss://{GATEWAY_IN_VM}/asap/{}", i + 1))
}

/// RSPLIB's default ASAP announce group (`rserpool.h`).
pub const ASAP_ANNOUNCE_GROUP: &str = "239.0.0.50:3863";

/// The `biased-pu` attacker's kind name.
pub const BIASED_PU: &str = "biased-pu";

/// The `rogue-registrar` attacker's kind name.
pub const ROGUE_REGISTRAR: &str = "rogue-registrar";

/// Where the rogue registrar listens (the attackers' address, ASAP port).
pub fn rogue_registrar_endpoint() -> String {
    format!("{ATTACKER_ADDRESS}:3863")
}

/// The lab CA inside the VM (the gateway's certificate is issued by it).
pub const LAB_CA_IN_VM: &str = "/share/certs/ca.pem";
/// The gateway inside the VM, as its certificate names it.
pub const GATEWAY_IN_VM: &str = "localhost:8443";

/// The workload's command line with every defence off.
pub fn workload_args(
    scenario: &Scenario,
    topology: &Topology,
    own: &BTreeSet<u32>,
    duration_ms: u64,
    seed: u64,
) -> Option<Vec<String>> {
    workload_args_with(scenario, topology, own, &BTreeMap::new(), duration_ms, seed)
}

/// The workload's command line under the run's defence settings. Where the
/// attacker is a rogue registrar, the workload is told its address first
/// and each resolution is a fresh pool user's (so it hunts from the top of
/// the list and uses the rogue registrar once that is up); with
/// `pool-user-tls-gateway` on, the workload reaches registrars only
/// through the lab gateway over `wss://` with the lab CA pinned, and the
/// rogue one is offered the same way (it has no certificate from the lab
/// CA, so it is never used).
pub fn workload_args_with(
    scenario: &Scenario,
    topology: &Topology,
    own: &BTreeSet<u32>,
    defences: &BTreeMap<String, bool>,
    duration_ms: u64,
    seed: u64,
) -> Option<Vec<String>> {
    let w = scenario.workload.as_ref()?;
    let mut v = vec!["workload".to_string(), w.kind.clone()];
    let rogue = scenario
        .attacker
        .as_ref()
        .is_some_and(|a| a.kind == ROGUE_REGISTRAR);
    let tls = defences.get("pool-user-tls-gateway") == Some(&true);
    if tls {
        if rogue {
            v.push("--registrar-url".into());
            v.push(format!("wss://{ATTACKER_ADDRESS}:8443/asap/1"));
        }
        for i in 0..topology.registrars.len() {
            v.push("--registrar-url".into());
            v.push(format!("wss://{GATEWAY_IN_VM}/asap/{}", i + 1));
        }
        v.extend(["--ca".into(), LAB_CA_IN_VM.into()]);
    } else {
        if rogue {
            v.extend(["--registrar".into(), rogue_registrar_endpoint()]);
        }
        for i in 0..topology.registrars.len() {
            v.push("--registrar".into());
            v.push(format!("{}:3863", Topology::registrar_address(i)));
        }
    }
    if rogue {
        v.push("--fresh-pool-user".into());
    }
    // The insider's skew is seen at the PEs' side, where its sessions
    // count as much as the workload's (the PEs' association table).
    if scenario
        .attacker
        .as_ref()
        .is_some_and(|a| a.kind == BIASED_PU)
    {
        v.push("--pe-load".into());
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
    fn forged_announces_go_to_rsplibs_announce_group() {
        let cat = Catalogue::builtin();
        let s = cat.get("rfc5355-2.12-announce").unwrap();
        let params = s.param_values(&[]).unwrap().into_iter().collect();
        let line = attacker_args(s, &Topology::default(), &BTreeSet::new(), &params, 1, 1)
            .unwrap()
            .join(" ");
        assert!(
            line.starts_with("attack announce --target 239.0.0.50:3863"),
            "{line}"
        );
    }

    #[test]
    fn registrations_and_enrp_come_from_the_attackers_address() {
        let cat = Catalogue::builtin();
        for id in ["rfc5355-2.1-reg-flood", "rfc5355-2.2-black-hole"] {
            let s = cat.get(id).unwrap();
            let params = s.param_values(&[]).unwrap().into_iter().collect();
            let line = attacker_args(s, &Topology::default(), &BTreeSet::new(), &params, 1, 1)
                .unwrap()
                .join(" ");
            assert!(
                line.starts_with("attack reg-flood --target 10.1.0.1:3863 --source 10.9.0.1"),
                "{line}"
            );
        }
    }

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
        assert!(
            line.starts_with("attack rogue-enrp --target 10.1.0.1:9901 --source 10.9.0.1"),
            "{line}"
        );
    }

    fn attack_line(id: &str) -> String {
        let cat = Catalogue::builtin();
        let s = cat.get(id).unwrap();
        let params = s.param_values(&[]).unwrap().into_iter().collect();
        attacker_args(s, &Topology::default(), &BTreeSet::new(), &params, 3000, 1)
            .unwrap()
            .join(" ")
    }

    #[test]
    fn ka_flood_looks_its_victim_up_over_enrp_and_sets_the_home_flag() {
        let line = attack_line("rfc5355-2.14-ka-flood");
        assert!(
            line.starts_with(&format!("attack ka-flood --target 10.1.0.1:{ENRP_PORT}")),
            "{line}"
        );
        assert!(line.contains("--home-flag 1"), "{line}");
    }

    #[test]
    fn replay_and_reg_spoof_go_to_registrar_1s_asap_endpoint() {
        let line = attack_line("rfc5355-2.8-replay");
        assert!(
            line.starts_with("attack replay --target 10.1.0.1:3863 --mode deregistration"),
            "{line}"
        );
        let line = attack_line("rfc5355-2.3-reg-spoof");
        assert!(
            line.starts_with("attack reg-spoof --target 10.1.0.1:3863 --"),
            "{line}"
        );
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
        assert!(!none.contains("--fresh-pool-user"), "{none}");
    }

    #[test]
    fn a_rogue_registrar_listens_at_the_attackers_address_and_heads_the_workloads_list() {
        let cat = Catalogue::builtin();
        let s = cat.get("rfc5355-2.7-rogue-registrar").unwrap();
        let topo = Topology::default();
        let params = s.param_values(&[]).unwrap().into_iter().collect();
        let a = attacker_args(s, &topo, &BTreeSet::new(), &params, 6000, 1)
            .unwrap()
            .join(" ");
        assert!(
            a.starts_with("attack rogue-registrar --target 10.9.0.1:3863"),
            "{a}"
        );
        let w = workload_args(s, &topo, &BTreeSet::new(), 12_000, 1)
            .unwrap()
            .join(" ");
        assert!(
            w.starts_with(
                "workload resolve-loop --registrar 10.9.0.1:3863 --registrar 10.1.0.1:3863"
            ),
            "{w}"
        );
        assert!(w.contains("--fresh-pool-user"), "{w}");
        assert!(!w.contains("wss://"), "{w}");
        let on: BTreeMap<String, bool> = [("pool-user-tls-gateway".to_string(), true)].into();
        let w = workload_args_with(s, &topo, &BTreeSet::new(), &on, 12_000, 1)
            .unwrap()
            .join(" ");
        assert!(!w.contains("--registrar "), "no plain SCTP registrar: {w}");
        assert!(
            w.contains(
                "--registrar-url wss://10.9.0.1:8443/asap/1 --registrar-url wss://localhost:8443/asap/1"
            ),
            "{w}"
        );
        assert_eq!(
            w.matches("--registrar-url").count(),
            1 + topo.registrars.len()
        );
        assert!(w.contains("--ca /share/certs/ca.pem"), "{w}");
    }

    #[test]
    fn with_a_gateway_defence_on_the_pool_user_attackers_go_through_the_lab_gateway() {
        let cat = Catalogue::builtin();
        for (id, defence) in [
            ("rfc5355-2.13-eu-flood", "gateway-eu-limit"),
            ("hr-flood", "gateway-hr-limit"),
        ] {
            let s = cat.get(id).unwrap();
            let params = s.param_values(&[]).unwrap().into_iter().collect();
            let topo = Topology::default();
            let off = attacker_args(s, &topo, &BTreeSet::new(), &params, 3000, 1)
                .unwrap()
                .join(" ");
            assert!(!off.contains("--registrar-url"), "{off}");
            let on: BTreeMap<String, bool> = [(defence.to_string(), true)].into();
            let line = attacker_args_with(s, &topo, &BTreeSet::new(), &params, &on, 3000, 1)
                .unwrap()
                .join(" ");
            assert!(
                line.contains(
                    "--target 10.1.0.1:3863 --registrar-url wss://localhost:8443/asap/1 --ca /share/certs/ca.pem"
                ),
                "{line}"
            );
            // Another defence on (an RSPLIB option) leaves the path direct.
            let other: BTreeMap<String, bool> = s
                .defences
                .iter()
                .filter(|d| d.kind != DefenceKind::Gateway)
                .map(|d| (d.name.clone(), true))
                .collect();
            let direct = attacker_args_with(s, &topo, &BTreeSet::new(), &params, &other, 3000, 1)
                .unwrap()
                .join(" ");
            assert!(!direct.contains("wss://"), "{direct}");
        }
    }

    #[test]
    fn the_insider_scenarios_aim_at_registrar_1_in_their_own_pools() {
        let cat = Catalogue::builtin();
        let topo = Topology::default();
        let own: BTreeSet<u32> = [0x10].into();
        let line = attack_line("rfc5355-2.17-biased-pu");
        assert!(
            line.starts_with("attack biased-pu --target 10.1.0.1:3863"),
            "{line}"
        );
        assert!(line.contains("--pool EchoPool"), "{line}");
        let w = workload_args(
            cat.get("rfc5355-2.17-biased-pu").unwrap(),
            &topo,
            &own,
            1,
            1,
        )
        .unwrap()
        .join(" ");
        assert!(w.starts_with("workload echo-sessions"), "{w}");
        assert!(
            w.contains("--pe-load"),
            "the skew is read at the PEs' side: {w}"
        );
        let line = attack_line("rfc5355-2.16-cookie-tamper");
        assert!(
            line.starts_with("attack cookie-tamper --target 10.1.0.1:3863"),
            "{line}"
        );
        assert!(line.contains("--pool CalcAppPool"), "{line}");
        let line = attack_line("rfc5355-2.17-lying-pe");
        assert!(
            line.starts_with("attack lying-pe --target 10.1.0.1:3863"),
            "{line}"
        );
        let lying = cat.get("rfc5355-2.17-lying-pe").unwrap();
        let w = workload_args(lying, &topo, &own, 1, 1).unwrap().join(" ");
        assert!(
            w.starts_with("workload calcapp --registrar 10.1.0.1:3863"),
            "{w}"
        );
        assert!(w.contains("--pool LeastUsedPool --duration-ms 1"), "{w}");
        assert!(w.contains("--legit-ids 0x00000010"), "{w}");
        // Nothing else of the lab's gets --pe-load.
        let rogue = workload_args(cat.get("rfc5355-2.4-rogue-pe").unwrap(), &topo, &own, 1, 1)
            .unwrap()
            .join(" ");
        assert!(!rogue.contains("--pe-load"), "{rogue}");
    }

    #[test]
    fn scenarios_with_pools_of_their_own_start_rspserver_pes_for_the_run() {
        let cat = Catalogue::builtin();
        let lines = crate::run::run_pe_args(cat.get("rfc5355-2.17-lying-pe").unwrap());
        assert_eq!(lines.len(), 3);
        let first = lines[0].join(" ");
        assert!(
            first.starts_with("-calcapp -registrar=10.1.0.1:3863 -poolhandle=LeastUsedPool"),
            "{first}"
        );
        assert!(first.contains("-policy=LeastUsed"), "{first}");
        assert!(first.contains("-capscalar=/tmp/run-pe-0-0.sca"), "{first}");
        assert_ne!(lines[0], lines[1], "each PE writes its own files");
        let tamper = crate::run::run_pe_args(cat.get("rfc5355-2.16-cookie-tamper").unwrap());
        assert!(tamper
            .iter()
            .all(|l| l.contains(&"-capcookiemaxtime=0.2".to_string())));
        assert!(crate::run::run_pe_args(cat.get("rfc5355-2.1-reg-flood").unwrap()).is_empty());
    }
}
