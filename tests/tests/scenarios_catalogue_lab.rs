//! The scenario catalogue against live RSPLIB 3.4.4: every staged
//! scenario, run with short phases from one seed with every defence off,
//! then once with each defence on, and held to the expectation its
//! catalogue entry states. The assertion is the runner's verdict on
//! measured samples, so a test fails when the attack stops doing harm, or
//! the defence stops stopping it. One test per scenario (named after it);
//! `every_staged_scenario_has_a_test_here` keeps the list and the
//! catalogue equal.

use std::sync::atomic::AtomicBool;

use rserpool_scenarios::catalogue::PhaseName;
use rserpool_scenarios::{run, Catalogue, LabHandle, RunOptions, RunRecord};
use rserpool_tests::lab;

/// One lab for the file; runs take turns (an attack would reach the other
/// scenario's samples).
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Phases at half the catalogue's length (1.5 s, 3 s, 1.5 s for most).
const SCALE: f64 = 0.5;

/// The phase scale of `id`: half length, but the rogue PE's whole attack
/// window (a slow lab registers it late, and the workload needs a few
/// session rounds to be handed it; CI measured 0 sessions at 0.5).
fn scale_for(id: &str) -> f64 {
    if id == "rfc5355-2.4-rogue-pe" {
        1.0
    } else {
        SCALE
    }
}
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
        phase_scale: scale_for(id),
        command: format!(
            "rserpool scenario run {id} --seed {SEED} --phase-scale {}{}",
            scale_for(id),
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

/// Runs `id` with every defence off, then with each defence on in turn
/// (the others off), and holds every run to the catalogue's expectation.
/// Returns the runs: every defence off first, then one per defence.
fn off_then_each_defence_on(id: &str) -> Vec<RunRecord> {
    let cat = Catalogue::builtin();
    let scenario = cat.get(id).expect("scenario");
    let names: Vec<&str> = scenario.defences.iter().map(|d| d.name.as_str()).collect();
    for n in &names {
        assert!(
            rserpool_scenarios::run::can_apply(n),
            "{id}: the runner cannot apply the catalogue's defence {n}"
        );
    }
    let mut runs = Vec::new();
    let all_off: Vec<(&str, bool)> = names.iter().map(|n| (*n, false)).collect();
    let off = run_with(id, &all_off);
    assert_verdict(&off);
    runs.push(off);
    for on in &names {
        let switches: Vec<(&str, bool)> = names.iter().map(|n| (*n, n == on)).collect();
        let rec = run_with(id, &switches);
        assert_verdict(&rec);
        runs.push(rec);
    }
    runs
}

macro_rules! scenario_tests {
    ($($test:ident => $id:literal,)*) => {
        $(
            #[test]
            fn $test() {
                off_then_each_defence_on($id);
            }
        )*
        const TESTED: &[&str] = &[$($id),*];
    };
}

// The scenarios whose runs need nothing beyond their verdicts.
scenario_tests! {
    rfc5355_2_1_reg_flood => "rfc5355-2.1-reg-flood",
    rfc5355_2_2_black_hole => "rfc5355-2.2-black-hole",
    rfc5355_2_3_reg_spoof => "rfc5355-2.3-reg-spoof",
    rfc5355_2_4_rogue_pe => "rfc5355-2.4-rogue-pe",
    rfc5355_2_5_rogue_enrp => "rfc5355-2.5-rogue-enrp",
    rfc5355_2_7_rogue_registrar => "rfc5355-2.7-rogue-registrar",
    rfc5355_2_8_replay => "rfc5355-2.8-replay",
    rfc5355_2_12_announce => "rfc5355-2.12-announce",
    rfc5355_2_14_ka_flood => "rfc5355-2.14-ka-flood",
}

/// Scenarios with a test of their own below.
const TESTED_BELOW: &[&str] = &[
    "rfc5355-2.13-eu-flood",
    "hr-flood",
    "rfc5355-2.16-cookie-tamper",
    "rfc5355-2.17-biased-pu",
    "rfc5355-2.17-lying-pe",
];

#[test]
fn every_staged_scenario_has_a_test_here() {
    let cat = Catalogue::builtin();
    let mut staged: Vec<&str> = cat
        .scenarios
        .iter()
        .filter(|s| cat.runnable(&s.id).is_ok() && !s.phases.is_empty())
        .map(|s| s.id.as_str())
        .collect();
    let mut tested: Vec<&str> = TESTED.iter().chain(TESTED_BELOW).copied().collect();
    staged.sort_unstable();
    tested.sort_unstable();
    assert_eq!(
        staged, tested,
        "every staged scenario (left) needs a test here (right): add it to scenario_tests! above"
    );
}

#[test]
fn eu_flood_evicts_healthy_pes_and_each_defence_keeps_them() {
    let runs = off_then_each_defence_on("rfc5355-2.13-eu-flood");
    let off = &runs[0];
    assert_eq!(worst(off, PhaseName::Baseline, "healthy_pes"), 4.0);
    assert!(worst(off, PhaseName::Attack, "healthy_pes") <= 3.0);
    let on = &runs[1];
    assert_eq!(on.defences.get("maxeurate"), Some(&true));
    assert_eq!(worst(on, PhaseName::Attack, "healthy_pes"), 4.0);
    assert!(on
        .events
        .iter()
        .any(|e| e.detail.as_deref() == Some("restarted with -maxeurate=1")));
}

#[test]
fn hr_flood_is_answered_and_each_defence_refuses_most_of_it() {
    let runs = off_then_each_defence_on("hr-flood");
    let off = worst(&runs[0], PhaseName::Attack, "attacker_answered_share");
    for on in &runs[1..] {
        assert!(
            worst(on, PhaseName::Attack, "attacker_answered_share") < off,
            "{}",
            on.command
        );
    }
}

#[test]
fn a_calcapp_pe_accepts_a_tampered_cookie_at_failover() {
    let rec = &off_then_each_defence_on("rfc5355-2.16-cookie-tamper")[0];
    assert!(worst(rec, PhaseName::Attack, "forged_completes") >= 1.0);
    // The run's own CalcApp PEs were listed, and are gone after it.
    assert_eq!(worst(rec, PhaseName::Baseline, "healthy_pes"), 3.0);
}

#[test]
fn a_biased_pool_user_piles_sessions_onto_one_pe() {
    let rec = &off_then_each_defence_on("rfc5355-2.17-biased-pu")[0];
    assert!(
        worst(rec, PhaseName::Attack, "busiest_pe_share")
            > worst(rec, PhaseName::Baseline, "busiest_pe_share")
    );
}

#[test]
fn a_pe_that_advertises_load_zero_draws_the_least_used_pools_jobs() {
    let rec = &off_then_each_defence_on("rfc5355-2.17-lying-pe")[0];
    assert_eq!(worst(rec, PhaseName::Baseline, "liar_share"), 0.0);
}
