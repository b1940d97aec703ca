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

#[test]
fn reg_flood_grows_the_handlespace_at_every_registrar_and_resolutions_reach_fake_pes() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let legit: Vec<String> = pe_ids(lab, 1)
        .iter()
        .map(|(id, _)| format!("0x{id:08x}"))
        .collect();
    assert_eq!(legit.len(), 4);
    let legit = legit.join(",");
    let (flood, resolve) = std::thread::scope(|s| {
        let flood = s.spawn(|| {
            actor(
                lab,
                &[
                    "attack",
                    "reg-flood",
                    "--target",
                    "10.1.0.1:3863",
                    "--rate",
                    "50",
                    "--count",
                    "6",
                    "--duration-ms",
                    "9000",
                    "--seed",
                    "7",
                ],
            )
        });
        // Registered at registrar 1, announced to the others over ENRP.
        wait_until(Duration::from_secs(8), "10 PEs at every registrar", || {
            (1..=3).all(|i| pe_ids(lab, i).len() == 10)
        });
        let resolve = actor(
            lab,
            &[
                "workload",
                "resolve-loop",
                "--registrar",
                "10.1.0.2:3863",
                "--rate",
                "40",
                "--duration-ms",
                "2000",
                "--legit-ids",
                &legit,
            ],
        );
        (flood.join().expect("flood thread"), resolve)
    });
    let registered: Vec<&serde_json::Value> =
        flood.iter().filter(|l| l["action"] == "register").collect();
    assert_eq!(registered.len(), 6);
    let done = flood.last().unwrap();
    assert_eq!(done["done"], true);
    assert_eq!(done["reason"], "duration", "{done}");
    assert_eq!(done["accepted"], 6, "{done}");
    let done = resolve.last().unwrap();
    let ok = done["resolutions_ok"].as_u64().unwrap();
    let fake = done["hit_fake"].as_u64().unwrap();
    assert!(ok > 20, "{done}");
    // Round robin over 10 PEs, 6 of them fake.
    assert!(fake * 3 > ok, "{fake} of {ok} reached a fake PE");
    assert!(resolve.iter().any(|l| l.get("sample").is_some()));
    // The association closed with the actor: RSPLIB removes its PEs.
    wait_until(Duration::from_secs(10), "4 PEs again everywhere", || {
        (1..=3).all(|i| pe_ids(lab, i).len() == 4)
    });
}

#[test]
fn eu_flood_evicts_a_healthy_pe_at_the_third_report() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let (victim, _) = *pe_ids(lab, 1)
        .iter()
        .find(|(_, home)| *home == 0x1000_0001)
        .expect("a PE homed at registrar 1");
    let id = format!("0x{victim:08x}");
    let lines = actor(
        lab,
        &[
            "attack",
            "eu-flood",
            "--target",
            "10.1.0.1:3863",
            "--pe-id",
            &id,
            "--rate",
            "20",
            "--count",
            "3",
            "--duration-ms",
            "5000",
        ],
    );
    let reports = lines
        .iter()
        .filter(|l| l["action"] == "endpoint-unreachable" && l["pe_id"] == id.as_str())
        .count();
    assert_eq!(reports, 3);
    assert_eq!(lines.last().unwrap()["reason"], "count");
    // RSPLIB's -maxbadpereports (3): the home registrar deletes the PE
    // and tells its peers.
    wait_until(Duration::from_secs(5), "the victim gone everywhere", || {
        (1..=3).all(|i| {
            let ids = pe_ids(lab, i);
            !ids.is_empty() && ids.iter().all(|(pe, _)| *pe != victim)
        })
    });
}

#[test]
fn hr_flood_is_answered_and_stops_at_its_count() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let lines = actor(
        lab,
        &[
            "attack",
            "hr-flood",
            "--target",
            "10.1.0.3:3863",
            "--rate",
            "200",
            "--count",
            "100",
            "--associations",
            "2",
            "--duration-ms",
            "10000",
        ],
    );
    let done = lines.last().unwrap();
    assert_eq!(done["reason"], "count", "{done}");
    assert_eq!(done["sent"], 100);
    assert_eq!(done["answered"], 100, "{done}");
    assert_eq!(done["refused"], 0);
}
