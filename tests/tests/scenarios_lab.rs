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
