//! The scenario runner (crate `rserpool-scenarios`, `docs/run-record.md`)
//! against live RSPLIB registrars in one lab: it restores a broken
//! topology before a run and says what it restored, samples every
//! registrar's handlespace every 250 ms through the agent (as a process
//! other than the one that started the lab would), cuts the phases where
//! a stop is requested, and lays phases out the same way for the same
//! seed.

use std::sync::atomic::{AtomicBool, Ordering};

use rserpool_scenarios::catalogue::PhaseName;
use rserpool_scenarios::record::EventKind;
use rserpool_scenarios::{run, Catalogue, LabHandle, RunOptions};
use rserpool_tests::lab;

const ID: &str = "rfc5355-2.13-eu-flood";

/// The tests share one lab; two runs at once would see each other's
/// attacks and restores, so they take turns.
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn opts(seed: u64) -> RunOptions {
    RunOptions {
        seed,
        phase_scale: 0.5,
        command: format!("rserpool scenario run {ID} --seed {seed} --phase-scale 0.5"),
        ..RunOptions::default()
    }
}

#[test]
fn a_run_restores_the_topology_then_samples_every_registrar_every_250_ms() {
    let _turn = turn();
    let lab = lab();
    lab.kill("pe-1").expect("kill pe-1");
    let handle = LabHandle::of(&lab);
    let cat = Catalogue::builtin();
    let scenario = cat.get(ID).unwrap();
    let mut progress = 0;
    let rec = run(
        &handle,
        scenario,
        &opts(7),
        |_| progress += 1,
        &AtomicBool::new(false),
    )
    .expect("run");
    // What the run restored before it started is said, at time 0.
    let before = rec
        .events
        .iter()
        .find(|e| e.kind == EventKind::Restored && e.t_ms == 0)
        .unwrap_or_else(|| panic!("no restore before the run: {:?}", rec.events));
    assert!(
        before.detail.as_deref().unwrap_or("").contains("pe-1"),
        "{before:?}"
    );
    let names: Vec<PhaseName> = rec.phases.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [PhaseName::Baseline, PhaseName::Attack, PhaseName::Recovery]
    );
    let total = rec.phases.last().unwrap().end_ms;
    assert_eq!(total, (3000 + 6000 + 3000) / 2);
    assert_eq!(progress, rec.samples.len());
    // Samples carry the time they were taken: increasing, every phase
    // has some, the last at or after the end.
    assert!(rec.samples.windows(2).all(|w| w[0].t_ms < w[1].t_ms));
    for p in &rec.phases {
        assert!(
            rec.samples
                .iter()
                .any(|s| s.t_ms > p.start_ms && s.t_ms <= p.end_ms),
            "no sample in {p:?}: {:?}",
            rec.samples.iter().map(|s| s.t_ms).collect::<Vec<_>>()
        );
    }
    assert!(rec.samples.last().unwrap().t_ms >= total);
    for s in &rec.samples {
        assert!(s.values.contains_key("healthy_pes"), "{s:?}");
        assert!(s.values.contains_key("fake_pes"), "{s:?}");
    }
    // Before any attack, every registrar lists the lab's four PEs and
    // nothing else, in every baseline sample (the summary is the worst).
    let base = &rec.summary[&PhaseName::Baseline];
    assert_eq!(base["healthy_pes"], 4.0, "{base:?}");
    assert_eq!(base["fake_pes"], 0.0, "{base:?}");
    // The workload ran the whole time and its samples were merged in.
    assert!(
        rec.samples
            .iter()
            .filter(|s| s.values.contains_key("resolutions_ok"))
            .count()
            >= rec.samples.len() / 2,
        "{:?}",
        rec.samples
    );
    assert_eq!(rec.topology.registrars.len(), 3);
    assert!(rec.verdict.is_some());
    let json = serde_json::to_value(&rec).unwrap();
    assert_eq!(json["schema"], "rserpool-run/2");
    assert_eq!(json["defences"]["maxeurate"], false);
}

#[test]
fn a_stop_request_cuts_the_run_before_the_attack_and_the_same_seed_plans_the_same_attack() {
    let _turn = turn();
    let lab = lab();
    let handle = LabHandle::of(&lab);
    let cat = Catalogue::builtin();
    let scenario = cat.get(ID).unwrap();
    let stop = AtomicBool::new(false);
    let mut n = 0;
    let rec = run(
        &handle,
        scenario,
        &opts(3),
        |_| {
            n += 1;
            if n == 1 {
                stop.store(true, Ordering::Relaxed);
            }
        },
        &stop,
    )
    .expect("run");
    assert_eq!(rec.samples.len(), 1);
    assert_eq!(rec.phases.len(), 1, "{:?}", rec.phases);
    assert_eq!(rec.phases[0].end_ms, rec.samples[0].t_ms);
    assert!(rec
        .events
        .iter()
        .any(|e| e.detail.as_deref() == Some("stopped on request")));
    // Stopped in the baseline: the attacker never started.
    assert!(
        !rec.events.iter().any(|e| e.kind == EventKind::AttackStart),
        "{:?}",
        rec.events
    );
    assert!(rec.actions.is_empty(), "{:?}", rec.actions);
    // Two whole runs from one seed: the same phases and the same planned
    // attack (which report, in which order, when). The attack is bounded
    // by its count (12 reports at 20/s in a 3 s window), so a slow lab
    // cannot cut one run's plan short. The victims' PE ids are not
    // compared: an evicted PE comes back under a new id.
    let counted = || RunOptions {
        params: vec![("count".to_string(), 12.0), ("rate".to_string(), 20.0)],
        ..opts(3)
    };
    let a = run(
        &handle,
        scenario,
        &counted(),
        |_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    let b = run(
        &handle,
        scenario,
        &counted(),
        |_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    let plan = |r: &rserpool_scenarios::RunRecord| -> Vec<(String, u64, u64)> {
        r.actions
            .iter()
            .map(|x| {
                (
                    x["action"].as_str().unwrap_or("").to_string(),
                    x["seq"].as_u64().unwrap_or(u64::MAX),
                    x["plan_ms"].as_u64().unwrap_or(u64::MAX),
                )
            })
            .collect()
    };
    assert_eq!(a.phases, b.phases);
    assert_eq!(a.params, b.params);
    assert_eq!(plan(&a).len(), 12, "{:?}", a.events);
    assert_eq!(plan(&a), plan(&b));
}

/// Issue 12 item 4: a run with a capture. The pcap holds the whole run as
/// tcpdump saw it inside the lab (`-i any`: Linux cooked frames), opens
/// with the project's own reader, and holds every Endpoint Unreachable
/// the attacker says it sent (decoded with client-core, to the registrar
/// and about the PE each action names) and the registrars' own traffic.
#[test]
fn a_captured_run_holds_every_endpoint_unreachable_the_attacker_sent_and_the_registrars_traffic() {
    use client_core::wire::{decode, AsapMessage, Message, Protocol};
    use std::collections::BTreeMap;

    let _turn = turn();
    let lab = lab();
    let cat = Catalogue::builtin();
    let scenario = cat.get(ID).unwrap();
    let pcap = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("run-eu-flood.pcap");
    let _ = std::fs::remove_file(&pcap);
    let rec = run(
        &LabHandle::of(&lab),
        scenario,
        &RunOptions {
            pcap: Some(pcap.clone()),
            ..opts(11)
        },
        |_| {},
        &AtomicBool::new(false),
    )
    .expect("run");
    let info = rec.pcap.clone().unwrap_or_else(|| {
        panic!("no capture in the record: {:?}", rec.events);
    });
    let len = std::fs::metadata(&pcap).expect("the capture file").len();
    eprintln!("capture: {info:?}, file {len} bytes");
    assert_eq!(info.file, "run-eu-flood.pcap");
    assert_eq!(info.bytes, len);
    assert_eq!(info.truncated, None, "{info:?}");
    assert!(info.bytes <= info.cap_bytes + 65_536 + 16);
    assert!(
        [113, 276].contains(&info.link_type),
        "not a Linux cooked capture: {info:?}"
    );

    let contents = rserpool_cli::capture::read_capture(&pcap).expect("the project reads it");
    assert_eq!(contents.frames, info.packets);
    assert_eq!(contents.unsupported_frames, 0, "{info:?}");
    let mut eus: BTreeMap<(String, String), usize> = BTreeMap::new();
    let (mut enrp_between_registrars, mut asap_from_registrars) = (0, 0);
    let registrars: Vec<std::net::IpAddr> = (0..lab.topology().registrars.len())
        .map(|i| {
            rserpool_lab::Topology::registrar_address(i)
                .parse()
                .unwrap()
        })
        .collect();
    let mut undecoded = Vec::new();
    for m in &contents.messages {
        let decoded = match decode(m.protocol, &m.bytes) {
            Ok(d) => d,
            Err(e) => {
                undecoded.push(format!("frame {}: {e}", m.frame));
                continue;
            }
        };
        match (&decoded.message, m.protocol) {
            (Message::Asap(AsapMessage::EndpointUnreachable(eu)), _) => {
                *eus.entry((m.dst.to_string(), eu.pe_id.to_string()))
                    .or_default() += 1;
            }
            (Message::Enrp(_), Protocol::Enrp)
                if registrars.contains(&m.src.ip()) && registrars.contains(&m.dst.ip()) =>
            {
                enrp_between_registrars += 1
            }
            (Message::Asap(_), _) if m.src.port() == 3863 && registrars.contains(&m.src.ip()) => {
                asap_from_registrars += 1
            }
            _ => {}
        }
    }
    eprintln!(
        "{} messages in {} frames: Endpoint Unreachable by (registrar, PE) {eus:?}, \
         ENRP between registrars {enrp_between_registrars}, ASAP from registrars {asap_from_registrars}",
        contents.messages.len(),
        contents.frames
    );
    assert!(undecoded.is_empty(), "{undecoded:?}");
    // Every report the attacker made is in the capture, where it sent it
    // and about the PE it named (SCTP may carry one twice, never less).
    let mut sent: BTreeMap<(String, String), usize> = BTreeMap::new();
    for a in rec
        .actions
        .iter()
        .filter(|a| a["action"] == "endpoint-unreachable")
    {
        let key = (
            a["target"].as_str().unwrap().to_string(),
            a["pe_id"].as_str().unwrap().to_string(),
        );
        *sent.entry(key).or_default() += 1;
    }
    assert!(sent.values().sum::<usize>() >= 10, "{:?}", rec.actions);
    for (key, n) in &sent {
        let got = eus.get(key).copied().unwrap_or(0);
        assert!(
            got >= *n,
            "{key:?}: the attacker sent {n}, the capture holds {got}"
        );
    }
    // The registrars' own traffic: ENRP among them, ASAP to PEs and PUs.
    assert!(enrp_between_registrars > 0);
    assert!(asap_from_registrars > 0);
}
