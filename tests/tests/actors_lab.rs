//! The attackers of `rserpool-actor` against live RSPLIB in the lab: each
//! one's effect, observed at the registrars with RSPLIB's own hsdump.

use std::time::Duration;

use rserpool_tests::{hsdump_text, json_lines, lab, parse_hsdump, wait_until};

fn actor(lab: &rserpool_lab::Lab, args: &[&str]) -> Vec<serde_json::Value> {
    let out = lab
        .exec("rserpool-actor", args, Duration::from_secs(130))
        .expect("exec rserpool-actor");
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    json_lines(&out.stdout)
}

fn pe_ids(lab: &rserpool_lab::Lab, registrar: usize) -> Vec<(u32, u32)> {
    hsdump_text(lab, registrar)
        .ok()
        .and_then(|t| parse_hsdump(&t, "EchoPool"))
        .map(|p| p.elements.iter().map(|e| (e.id, e.home)).collect())
        .unwrap_or_default()
}

// rogue-enrp, rogue-registrar, announce and the lab stand-in defences
// (the allow-lists of scenarios::defences).

fn legit_ids(lab: &rserpool_lab::Lab) -> String {
    let ids: Vec<String> = pe_ids(lab, 1)
        .iter()
        .map(|(id, _)| format!("0x{id:08x}"))
        .collect();
    assert_eq!(ids.len(), 4);
    ids.join(",")
}

fn done_of(lines: &[serde_json::Value]) -> &serde_json::Value {
    let done = lines.last().expect("actor output");
    assert_eq!(done["done"], true, "{done}");
    done
}

/// The actor never got an association up (its setup ended in an error
/// event: refused, or timed out at its duration).
fn no_association(lines: &[serde_json::Value]) -> bool {
    lines.iter().any(|l| l["event"] == "error") && !lines.iter().any(|l| l.get("action").is_some())
}

/// Switches a lab stand-in defence on, and off again when dropped (also
/// when the test fails), so the next test finds the lab open.
struct Defence<'a>(&'a rserpool_lab::Lab, &'static str);

impl<'a> Defence<'a> {
    fn on(lab: &'a rserpool_lab::Lab, name: &'static str) -> Self {
        let h = rserpool_scenarios::LabHandle::of(lab);
        assert!(rserpool_scenarios::defences::apply(&h, name, true).expect(name));
        Defence(lab, name)
    }

    fn dropped(&self) -> Option<u64> {
        rserpool_scenarios::defences::dropped(&rserpool_scenarios::LabHandle::of(self.0), self.1)
            .expect("nft list")
    }
}

impl Drop for Defence<'_> {
    fn drop(&mut self) {
        let h = rserpool_scenarios::LabHandle::of(self.0);
        let _ = rserpool_scenarios::defences::apply(&h, self.1, false);
    }
}

const ROGUE_ENRP: &[&str] = &[
    "attack",
    "rogue-enrp",
    "--target",
    "10.1.0.1:9901",
    "--source",
    "10.9.0.1",
    "--rate",
    "20",
    "--count",
    "5",
    "--duration-ms",
    "5000",
    "--seed",
    "4",
];

#[test]
fn rogue_enrp_server_gets_fake_pes_listed_and_resolved_until_it_withdraws_them() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let legit = legit_ids(lab);
    let (rogue, resolve, others) = std::thread::scope(|s| {
        let rogue = s.spawn(|| actor(lab, ROGUE_ENRP));
        wait_until(Duration::from_secs(4), "9 PEs at registrar 1", || {
            pe_ids(lab, 1).len() == 9
        });
        // A registrar passes on only the PEs it owns.
        let others = (pe_ids(lab, 2).len(), pe_ids(lab, 3).len());
        let resolve = actor(
            lab,
            &[
                "workload",
                "resolve-loop",
                "--registrar",
                "10.1.0.1:3863",
                "--rate",
                "40",
                "--duration-ms",
                "1500",
                "--legit-ids",
                &legit,
            ],
        );
        (rogue.join().expect("rogue thread"), resolve, others)
    });
    assert_eq!(others, (4, 4));
    let done = done_of(&rogue);
    assert_eq!(
        (done["added"].as_u64(), done["withdrawn"].as_u64()),
        (Some(5), Some(5)),
        "{done}"
    );
    let fake_ids: Vec<&str> = rogue
        .iter()
        .filter(|l| l["action"] == "handle-update")
        .map(|l| l["pe_id"].as_str().unwrap())
        .collect();
    assert_eq!(fake_ids.len(), 5);
    let w = done_of(&resolve);
    let (ok, fake) = (
        w["resolutions_ok"].as_u64().unwrap(),
        w["hit_fake"].as_u64().unwrap(),
    );
    // Round robin over 9 PEs, 5 of them the rogue server's.
    assert!(ok > 10 && fake * 3 > ok, "{fake} of {ok} reached a fake PE");
    // Withdrawn before the actor ended: the lab's four again.
    assert_eq!(pe_ids(lab, 1).len(), 4);
}

#[test]
fn enrp_allow_list_keeps_the_rogue_enrp_server_out() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let defence = Defence::on(lab, "enrp-allow-list");
    let rogue = actor(lab, ROGUE_ENRP);
    let done = done_of(&rogue);
    assert_eq!(done["sent"], 0, "{done}");
    assert!(no_association(&rogue), "{rogue:?}");
    assert!(
        defence.dropped().unwrap() > 0,
        "the filter dropped its INITs"
    );
    // The registrars still peer and answer hsdump through the filter.
    assert_eq!(pe_ids(lab, 1).len(), 4);
    assert_eq!(pe_ids(lab, 3).len(), 4);
}

#[test]
fn registration_allow_list_keeps_the_flood_out_and_lets_the_lab_resolve() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let legit = legit_ids(lab);
    let defence = Defence::on(lab, "registration-allow-list");
    let (flood, resolve) = std::thread::scope(|s| {
        let flood = s.spawn(|| {
            actor(
                lab,
                &[
                    "attack",
                    "reg-flood",
                    "--target",
                    "10.1.0.1:3863",
                    "--source",
                    "10.9.0.1",
                    "--rate",
                    "50",
                    "--count",
                    "5",
                    "--duration-ms",
                    "3000",
                ],
            )
        });
        let resolve = actor(
            lab,
            &[
                "workload",
                "resolve-loop",
                "--registrar",
                "10.1.0.1:3863",
                "--rate",
                "20",
                "--duration-ms",
                "1500",
                "--legit-ids",
                &legit,
            ],
        );
        (flood.join().expect("flood thread"), resolve)
    });
    let done = done_of(&flood);
    assert_eq!(done["sent"], 0, "{done}");
    assert!(no_association(&flood), "{flood:?}");
    let w = done_of(&resolve);
    assert!(w["resolutions_ok"].as_u64().unwrap() > 10, "{w}");
    assert_eq!(w["hit_fake"], 0, "{w}");
    assert!(defence.dropped().unwrap() > 0);
    assert_eq!(pe_ids(lab, 1).len(), 4);
}

#[test]
fn rogue_registrar_answers_fresh_pool_users_that_list_it_first() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let legit = legit_ids(lab);
    let workload = [
        "workload",
        "resolve-loop",
        "--registrar",
        "10.9.0.1:3863",
        "--registrar",
        "10.1.0.1:3863",
        "--fresh-pool-user",
        "--rate",
        "10",
        "--duration-ms",
        "1500",
        "--legit-ids",
        &legit,
    ];
    let (rogue, during) = std::thread::scope(|s| {
        let rogue = s.spawn(|| {
            actor(
                lab,
                &[
                    "attack",
                    "rogue-registrar",
                    "--target",
                    "10.9.0.1:3863",
                    "--rate",
                    "100",
                    "--count",
                    "1000",
                    "--duration-ms",
                    "3500",
                ],
            )
        });
        std::thread::sleep(Duration::from_millis(500));
        let during = actor(lab, &workload);
        (rogue.join().expect("rogue thread"), during)
    });
    let w = done_of(&during);
    let ok = w["resolutions_ok"].as_u64().unwrap();
    assert!(ok > 0, "{w}");
    assert_eq!(
        w["hit_fake"].as_u64(),
        Some(ok),
        "every answer was the rogue's: {w}"
    );
    let done = done_of(&rogue);
    assert!(done["answered"].as_u64().unwrap() >= ok, "{done}");
    // Gone: the same pool users fall back to registrar 1 and the lab's PEs.
    let after = actor(lab, &workload);
    let w = done_of(&after);
    assert!(w["resolutions_ok"].as_u64().unwrap() > 0, "{w}");
    assert_eq!(w["hit_fake"], 0, "{w}");
}

#[test]
fn forged_announces_do_not_divert_the_projects_pool_user() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let legit = legit_ids(lab);
    let (announce, resolve) = std::thread::scope(|s| {
        let announce = s.spawn(|| {
            actor(
                lab,
                &[
                    "attack",
                    "announce",
                    "--target",
                    "239.0.0.50:3863",
                    "--rate",
                    "10",
                    "--count",
                    "15",
                    "--duration-ms",
                    "3000",
                ],
            )
        });
        let resolve = actor(
            lab,
            &[
                "workload",
                "resolve-loop",
                "--registrar",
                "10.1.0.1:3863",
                "--rate",
                "20",
                "--duration-ms",
                "1500",
                "--legit-ids",
                &legit,
            ],
        );
        (announce.join().expect("announce thread"), resolve)
    });
    let done = done_of(&announce);
    assert_eq!(
        (done["reason"].as_str(), done["sent"].as_u64()),
        (Some("count"), Some(15)),
        "{done}"
    );
    let w = done_of(&resolve);
    assert!(w["resolutions_ok"].as_u64().unwrap() > 10, "{w}");
    assert_eq!(w["hit_fake"], 0, "{w}");
}
