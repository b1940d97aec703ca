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

/// The lab gateway's path to registrar `i` and the lab CA, as the VM sees
/// them (the attacker is a client of the gateway inside the VM).
const GATEWAY_TO_REGISTRAR_2: &str = "wss://localhost:8443/asap/2";
const LAB_CA_IN_VM: &str = "/share/certs/ca.pem";

#[test]
fn eu_flood_through_the_gateway_gets_one_report_per_pe_forwarded_and_evicts_none() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let lines = actor(
        lab,
        &[
            "attack",
            "eu-flood",
            "--target",
            "10.1.0.2:3863",
            "--registrar-url",
            GATEWAY_TO_REGISTRAR_2,
            "--ca",
            LAB_CA_IN_VM,
            "--victims",
            "1",
            "--rate",
            "20",
            "--count",
            "10",
            "--duration-ms",
            "8000",
            "--seed",
            "3",
        ],
    );
    let done = lines.last().unwrap();
    assert_eq!(done["reason"], "count", "{done}");
    assert_eq!(done["sent"], 10, "{done}");
    // The first report of the PE resolved on the session is forwarded;
    // every repeat is refused (RFC 5355 §2.13), as the notices say.
    assert_eq!(done["refused"], 9, "{done}");
    assert_eq!(done["report_refused"], 9, "{done}");
    let victim = lines
        .iter()
        .find(|l| l["event"] == "victims")
        .and_then(|l| l["detail"][0].as_str())
        .expect("the victims event")
        .to_string();
    let victim = u32::from_str_radix(victim.trim_start_matches("0x"), 16).unwrap();
    // One report is not RSPLIB's -maxbadpereports (3): still listed.
    std::thread::sleep(Duration::from_secs(2));
    for i in 1..=3 {
        assert!(
            pe_ids(lab, i).iter().any(|(pe, _)| *pe == victim),
            "0x{victim:08x} gone from registrar {i}"
        );
    }
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

/// A PE homed at registrar `i` (1-based), and its id as the actors write it.
fn pe_homed_at(lab: &rserpool_lab::Lab, i: u32) -> (u32, String) {
    let (id, _) = *pe_ids(lab, i as usize)
        .iter()
        .find(|(_, home)| *home == 0x1000_0000 + i)
        .unwrap_or_else(|| panic!("a PE homed at registrar {i}"));
    (id, format!("0x{id:08x}"))
}

/// Per registrar: `Some(listed)`, or `None` when hsdump did not answer.
fn listed_everywhere(lab: &rserpool_lab::Lab, pe: u32) -> [Option<bool>; 3] {
    [1, 2, 3].map(|i| {
        let ids = pe_ids(lab, i);
        (!ids.is_empty()).then(|| ids.iter().any(|(id, _)| *id == pe))
    })
}

fn samples_of<'a>(lines: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    lines
        .iter()
        .filter_map(|l| l.get("sample").and_then(|s| s.get(name)))
        .collect()
}

#[test]
fn ka_flood_with_the_home_flag_takes_a_pe_away_from_its_registrar() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let (victim, id) = pe_homed_at(lab, 1);
    let ka = |flag: &str, ms: &str| {
        actor(
            lab,
            &[
                "attack",
                "ka-flood",
                "--target",
                "10.1.0.1:9901",
                "--pe-id",
                &id,
                "--home-flag",
                flag,
                "--rate",
                "20",
                "--count",
                "20",
                "--duration-ms",
                ms,
            ],
        )
    };
    // Without the flag the PE ignores a registrar that is not its own.
    let plain = ka("0", "4000");
    let done = plain.last().unwrap();
    assert_eq!(done["sent"], 20, "{done}");
    assert_eq!(done["answered"], 0, "{done}");
    assert_eq!(listed_everywhere(lab, victim), [Some(true); 3]);
    // With it the PE drops its real registrar (which deletes it) and
    // acknowledges the attacker's keep-alives.
    let (taken, gone) = gone_during(lab, victim, Duration::from_secs(8), || ka("1", "6000"));
    let done = taken.last().unwrap();
    assert_eq!(done["server_id"], "0x10000001", "{done}");
    let answered = done["answered"].as_u64().unwrap();
    assert!(answered >= 15, "{done}");
    let per_sample: u64 = samples_of(&taken, "ka_answered")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(per_sample, answered, "samples add up to the total");
    assert!(gone, "the victim was still listed during the takeover");
}

/// Runs `attack` while polling the registrars: its output, and whether
/// `pe` was missing at every registrar at some moment meanwhile (a PE
/// removed by an attack comes back at its next re-registration).
fn gone_during(
    lab: &rserpool_lab::Lab,
    pe: u32,
    limit: Duration,
    attack: impl FnOnce() -> Vec<serde_json::Value> + Send,
) -> (Vec<serde_json::Value>, bool) {
    std::thread::scope(|s| {
        let t = s.spawn(attack);
        let deadline = std::time::Instant::now() + limit;
        let mut gone = false;
        while !gone && std::time::Instant::now() < deadline {
            gone = listed_everywhere(lab, pe) == [Some(false); 3];
            std::thread::sleep(Duration::from_millis(100));
        }
        (t.join().expect("attacker thread"), gone)
    })
}

#[test]
fn replayed_deregistration_and_registration_from_another_association_remove_their_victims() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let replay = |target: &str, id: &str, mode: &str, count: &str| {
        let args = [
            "attack",
            "replay",
            "--target",
            target,
            "--pe-id",
            id,
            "--mode",
            mode,
            "--rate",
            "5",
            "--count",
            count,
            "--duration-ms",
            "6000",
        ];
        actor(lab, &args)
    };
    // RSPLIB does not check which association a deregistration comes
    // from, and deletes a PE with the association it last registered on
    // (one registration replay: a second one would register it again).
    for (home, target, mode, count) in [
        (1, "10.1.0.1:3863", "deregistration", 10),
        (2, "10.1.0.2:3863", "registration", 1),
    ] {
        let (victim, id) = pe_homed_at(lab, home);
        let (lines, gone) = gone_during(lab, victim, Duration::from_secs(8), || {
            replay(target, &id, mode, &count.to_string())
        });
        let done = lines.last().unwrap();
        assert_eq!(done["reason"], "count", "{mode}: {done}");
        assert_eq!(done["accepted"], count, "{mode}: {done}");
        assert!(gone, "{mode}: PE {id} was listed somewhere throughout");
    }
}

#[test]
fn reg_spoof_registers_pes_that_lead_to_the_victims_transport() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let (victim, id) = pe_homed_at(lab, 3);
    let (lines, at_registrar_2) = std::thread::scope(|s| {
        let t = s.spawn(|| {
            actor(
                lab,
                &[
                    "attack",
                    "reg-spoof",
                    "--target",
                    "10.1.0.1:3863",
                    "--pe-id",
                    &id,
                    "--rate",
                    "20",
                    "--count",
                    "3",
                    "--duration-ms",
                    "6000",
                ],
            )
        });
        wait_until(Duration::from_secs(6), "7 PEs at registrar 2", || {
            pe_ids(lab, 2).len() == 7
        });
        let pool = hsdump_text(lab, 2)
            .ok()
            .and_then(|t| parse_hsdump(&t, "EchoPool"))
            .expect("registrar 2's pool");
        (t.join().expect("reg-spoof thread"), pool)
    });
    let done = lines.last().unwrap();
    assert_eq!(done["accepted"], 3, "{done}");
    assert_eq!(done["spoofed_pes_max"], 3, "{done}");
    assert!(samples_of(&lines, "spoofed_pes").iter().any(|v| **v == 3));
    // Every registrar stores the spoofed user transport: the victim's port
    // and addresses under identifiers that are not the victim's.
    let v = at_registrar_2
        .elements
        .iter()
        .find(|e| e.id == victim)
        .unwrap();
    let spoofed = at_registrar_2
        .elements
        .iter()
        .filter(|e| e.id != victim && e.port == v.port && !e.addresses.is_disjoint(&v.addresses))
        .count();
    assert_eq!(spoofed, 3);
    wait_until(Duration::from_secs(10), "4 PEs again everywhere", || {
        (1..=3).all(|i| pe_ids(lab, i).len() == 4)
    });
}

#[test]
fn a_rogue_pe_serves_echo_sessions_that_pool_users_hand_it() {
    let guard = lab();
    let lab: &rserpool_lab::Lab = &guard;
    let legit: Vec<String> = pe_ids(lab, 2)
        .iter()
        .map(|(id, _)| format!("0x{id:08x}"))
        .collect();
    assert_eq!(legit.len(), 4);
    let legit = legit.join(",");
    let (rogue, users) = std::thread::scope(|s| {
        let rogue = s.spawn(|| {
            actor(
                lab,
                &[
                    "attack",
                    "rogue-pe",
                    "--target",
                    "10.1.0.1:3863",
                    "--rate",
                    "10",
                    "--count",
                    "1",
                    "--duration-ms",
                    "9000",
                ],
            )
        });
        wait_until(Duration::from_secs(6), "5 PEs at registrar 2", || {
            pe_ids(lab, 2).len() == 5
        });
        let users = actor(
            lab,
            &[
                "workload",
                "echo-sessions",
                "--registrar",
                "10.1.0.2:3863",
                "--sessions",
                "4",
                "--session-ms",
                "500",
                "--rate",
                "10",
                "--duration-ms",
                "3000",
                "--legit-ids",
                &legit,
            ],
        );
        (rogue.join().expect("rogue thread"), users)
    });
    let done = rogue.last().unwrap();
    assert_eq!(done["accepted"], 1, "{done}");
    let sessions = done["sessions"].as_u64().unwrap();
    assert!(sessions >= 1, "{done}");
    assert!(done["echoed"].as_u64().unwrap() >= 1, "{done}");
    assert!(rogue.iter().any(|l| l["event"] == "session"));
    let done = users.last().unwrap();
    let started = done["sessions_started"].as_u64().unwrap();
    let on_rogue = done["sessions_on_fake"].as_u64().unwrap();
    assert!(done["echoes_ok"].as_u64().unwrap() > 10, "{done}");
    // Round robin over 5 PEs, one of them the rogue's.
    assert!(started >= 10 && on_rogue >= 1, "{done}");
    assert!(
        on_rogue <= sessions,
        "the rogue saw every session handed to it: {done}"
    );
    assert!(samples_of(&users, "rogue_session_share")
        .iter()
        .any(|v| v.as_f64().unwrap() > 0.0));
    assert!(samples_of(&users, "echo_latency_ms")
        .iter()
        .any(|v| v.as_f64().unwrap() > 0.0));
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
