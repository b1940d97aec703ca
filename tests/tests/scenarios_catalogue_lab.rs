//! The scenario catalogue against live RSPLIB 3.4.4: each staged scenario
//! run with short phases, its defence off and (where the runner can apply
//! one) on, from one seed, and held to the expectation its catalogue entry
//! states. The assertion is the runner's verdict on measured samples, so
//! a test fails when the attack stops doing harm, or the defence stops
//! stopping it.

use std::sync::atomic::AtomicBool;

use rserpool_scenarios::catalogue::PhaseName;
use rserpool_scenarios::{run, Catalogue, LabHandle, RunOptions, RunRecord};
use rserpool_tests::lab;

/// One lab for the file; runs take turns (an attack would reach the other
/// scenario's samples).
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Phases at half the catalogue's length (1.5 s, 3 s, 1.5 s for most).
const SCALE: f64 = 0.5;
const SEED: u64 = 5;

fn run_with(id: &str, defences: &[(&str, bool)]) -> RunRecord {
    let _turn = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let lab = lab();
    let cat = Catalogue::builtin();
    let scenario = cat.get(id).expect("scenario");
    let switches: Vec<String> = defences
        .iter()
        .map(|(d, on)| format!(" --defence {d}={}", if *on { "on" } else { "off" }))
        .collect();
    let opts = RunOptions {
        seed: SEED,
        defences: defences
            .iter()
            .map(|(d, on)| (d.to_string(), *on))
            .collect(),
        phase_scale: SCALE,
        command: format!(
            "rserpool scenario run {id} --seed {SEED} --phase-scale {SCALE}{}",
            switches.concat()
        ),
        ..RunOptions::default()
    };
    let rec = run(
        &LabHandle::of(&lab),
        scenario,
        &opts,
        |_| {},
        &AtomicBool::new(false),
    )
    .unwrap_or_else(|e| panic!("{id}: {e:#}"));
    // Every record is kept for a look after the run (CI keeps target/).
    let on: Vec<&str> = defences.iter().filter(|d| d.1).map(|d| d.0).collect();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "run-{id}-{}.json",
        if on.is_empty() {
            "off".to_string()
        } else {
            on.join("+")
        }
    ));
    let _ = std::fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap_or_default());
    eprintln!(
        "{} ({}): {}\n  summary (worst per phase): {:?}",
        rec.command,
        path.display(),
        rec.verdict
            .as_ref()
            .map_or("no verdict", |v| v.text.as_str()),
        rec.summary
    );
    rec
}

fn worst(rec: &RunRecord, phase: PhaseName, metric: &str) -> f64 {
    rec.summary
        .get(&phase)
        .and_then(|m| m.get(metric))
        .copied()
        .unwrap_or_else(|| panic!("no {metric} in {phase:?}: {:?}", rec.summary))
}

fn assert_verdict(rec: &RunRecord) {
    let v = rec.verdict.as_ref().expect("verdict");
    assert!(v.passed, "{}: {}", rec.command, v.text);
}

#[test]
fn eu_flood_evicts_healthy_pes_and_maxeurate_keeps_them() {
    let id = "rfc5355-2.13-eu-flood";
    let off = run_with(id, &[("maxeurate", false)]);
    assert_verdict(&off);
    assert_eq!(worst(&off, PhaseName::Baseline, "healthy_pes"), 4.0);
    assert!(worst(&off, PhaseName::Attack, "healthy_pes") <= 3.0);
    let on = run_with(id, &[("maxeurate", true)]);
    assert_verdict(&on);
    assert_eq!(worst(&on, PhaseName::Attack, "healthy_pes"), 4.0);
    assert!(on
        .events
        .iter()
        .any(|e| e.detail.as_deref() == Some("restarted with -maxeurate=1")));
}

#[test]
fn hr_flood_is_answered_and_maxhrrate_refuses_most_of_it() {
    let id = "hr-flood";
    let off = run_with(id, &[("maxhrrate", false)]);
    assert_verdict(&off);
    let on = run_with(id, &[("maxhrrate", true)]);
    assert_verdict(&on);
    assert!(
        worst(&on, PhaseName::Attack, "attacker_answered_share")
            < worst(&off, PhaseName::Attack, "attacker_answered_share")
    );
}

#[test]
fn a_registration_flood_fills_every_registrars_handlespace() {
    // RSPLIB has no registration authentication; the lab's allow-list
    // stand-in is not built yet, so only the harm is asserted here.
    let off = run_with("rfc5355-2.1-reg-flood", &[]);
    assert_verdict(&off);
    assert_eq!(worst(&off, PhaseName::Baseline, "fake_pes"), 0.0);
}

#[test]
fn a_calcapp_pe_accepts_a_tampered_cookie_at_failover() {
    let rec = run_with("rfc5355-2.16-cookie-tamper", &[]);
    assert_verdict(&rec);
    assert!(worst(&rec, PhaseName::Attack, "forged_completes") >= 1.0);
    // The run's own CalcApp PEs were listed, and are gone after it.
    assert_eq!(worst(&rec, PhaseName::Baseline, "healthy_pes"), 3.0);
}

#[test]
fn a_biased_pool_user_piles_sessions_onto_one_pe() {
    let rec = run_with("rfc5355-2.17-biased-pu", &[]);
    assert_verdict(&rec);
    assert!(
        worst(&rec, PhaseName::Attack, "busiest_pe_share")
            > worst(&rec, PhaseName::Baseline, "busiest_pe_share")
    );
}

#[test]
fn a_pe_that_advertises_load_zero_draws_the_least_used_pools_jobs() {
    let rec = run_with("rfc5355-2.17-lying-pe", &[]);
    assert_verdict(&rec);
    assert_eq!(worst(&rec, PhaseName::Baseline, "liar_share"), 0.0);
}
