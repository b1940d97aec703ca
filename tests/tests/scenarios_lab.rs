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

fn opts(seed: u64) -> RunOptions {
    RunOptions {
        seed,
        phase_scale: 0.25,
        command: format!("rserpool scenario run {ID} --seed {seed} --phase-scale 0.25"),
        ..RunOptions::default()
    }
}

#[test]
fn a_run_restores_the_topology_then_samples_every_registrar_every_250_ms() {
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
    let restored: Vec<_> = rec
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Restored)
        .collect();
    assert_eq!(restored.len(), 1, "{:?}", rec.events);
    assert!(
        restored[0].detail.as_deref().unwrap_or("").contains("pe-1"),
        "{:?}",
        restored[0]
    );
    let names: Vec<PhaseName> = rec.phases.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [PhaseName::Baseline, PhaseName::Attack, PhaseName::Recovery]
    );
    let total = rec.phases.last().unwrap().end_ms;
    assert_eq!(total, (3000 + 6000 + 3000) / 4);
    assert_eq!(rec.samples.len() as u64, total / 250);
    assert_eq!(progress, rec.samples.len());
    for (i, s) in rec.samples.iter().enumerate() {
        assert_eq!(s.t_ms, 250 * (i as u64 + 1));
        assert!(s.values.contains_key("healthy_pes"), "{s:?}");
    }
    // Before any attack, every registrar lists the lab's four PEs and
    // nothing else.
    let base = &rec.summary[&PhaseName::Baseline];
    assert_eq!(base["healthy_pes"], 4.0, "{base:?}");
    assert_eq!(base["fake_pes"], 0.0, "{base:?}");
    assert_eq!(rec.topology.registrars.len(), 3);
    assert!(rec.verdict.is_some());
    let json = serde_json::to_value(&rec).unwrap();
    assert_eq!(json["schema"], "rserpool-run/1");
    assert_eq!(json["defences"]["maxeurate"], false);
}

#[test]
fn a_stop_request_cuts_the_run_and_the_same_seed_lays_out_the_same_phases() {
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
            if n == 3 {
                stop.store(true, Ordering::Relaxed);
            }
        },
        &stop,
    )
    .expect("run");
    assert_eq!(rec.samples.len(), 3);
    assert_eq!(rec.phases.len(), 1, "{:?}", rec.phases);
    assert_eq!(rec.phases[0].end_ms, 750);
    assert!(rec
        .events
        .iter()
        .any(|e| e.detail.as_deref() == Some("stopped on request")));
    let a = run(&handle, scenario, &opts(3), |_| {}, &AtomicBool::new(true)).unwrap();
    let b = run(&handle, scenario, &opts(3), |_| {}, &AtomicBool::new(true)).unwrap();
    assert_eq!(a.phases, b.phases);
    assert_eq!(a.params, b.params);
    assert_eq!(a.actions, b.actions);
}
