//! The scenario library's runner (`rserpool_scenarios::run`) behind the
//! control server's run API, with the page's service floor: a run stops
//! itself when the scenario's service metric falls below the floor the page
//! chose. Every run is captured (`rserpool_scenarios::capture`) into the
//! lab's share, for `GET /api/runs/ID/pcap`; the file goes with the lab
//! (or when the run is no longer kept).

use std::sync::atomic::{AtomicBool, Ordering};

use rserpool_scenarios::catalogue::Worse;
use rserpool_scenarios::run::{LabHandle, Progress, RunOptions};
use rserpool_scenarios::Scenario;

use super::runs::{RunOutcome, RunProgress, RunRequest, ScenarioRunner};
use super::LabAccess;

/// `rserpool_scenarios::run` on the lab this control server serves.
pub struct ScenarioLibrary;

/// The metric a floor applies to: the one the scenario's expectation is
/// about, if lower is worse for it, else the first metric where lower is
/// worse (service that can fall).
pub fn service_metric(scenario: &Scenario) -> Option<&str> {
    let falls = |name: &str| {
        scenario
            .metric(name)
            .is_some_and(|m| m.worse == Worse::Lower)
    };
    scenario
        .expectation
        .as_ref()
        .map(|e| e.metric())
        .filter(|m| falls(m))
        .or_else(|| {
            scenario
                .metrics
                .iter()
                .find(|m| m.worse == Worse::Lower)
                .map(|m| m.name.as_str())
        })
}

/// The phases of a run as planned (`{name, start_ms, end_ms}`, scaled as
/// the runner scales them).
fn planned_phases(scenario: &Scenario, scale: f64) -> Vec<serde_json::Value> {
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let mut t = 0;
    scenario
        .scaled_phases(scale)
        .iter()
        .map(|p| {
            let span = serde_json::json!({
                "name": p.name.as_str(), "start_ms": t, "end_ms": t + p.duration_ms,
            });
            t += p.duration_ms;
            span
        })
        .collect()
}

impl ScenarioRunner for ScenarioLibrary {
    fn run(
        &self,
        lab: &LabAccess,
        scenario: &Scenario,
        request: &RunRequest,
        progress: &mut dyn FnMut(RunProgress),
        stop: &AtomicBool,
    ) -> anyhow::Result<RunOutcome> {
        let handle = LabHandle {
            agent: lab.agent.clone(),
            token: lab.token.clone(),
            topology: lab.topology.clone(),
            share: lab.share.clone(),
        };
        let pcap = lab.share.as_ref().map(|s| {
            s.host.join("captures").join(format!(
                "page-{}-seed{}-{}.pcap",
                scenario.id,
                request.seed,
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ))
        });
        let opts = RunOptions {
            seed: request.seed,
            defences: request.defences.clone().into_iter().collect(),
            command: format!(
                "POST /api/runs {}",
                serde_json::to_string(request).unwrap_or_default()
            ),
            phase_scale: request.phase_scale.unwrap_or(1.0),
            pcap: pcap.clone(),
            ..RunOptions::default()
        };
        let floor = request
            .floor
            .and_then(|f| service_metric(scenario).map(|m| (m.to_string(), f)));
        // The record so far, for GET /api/runs/ID while it runs: what the
        // run will be (phases as planned, defences, parameters) and the
        // samples taken; events and the summary come with the whole record.
        let mut partial = serde_json::json!({
            "schema": rserpool_scenarios::record::SCHEMA,
            "scenario": serde_json::to_value(scenario)?,
            "seed": request.seed,
            "defences": scenario
                .defence_settings(&opts.defences)?
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
            "params": scenario
                .param_values(&opts.params)?
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
            "phases": planned_phases(scenario, opts.phase_scale),
            "samples": [],
            "events": [],
            "actions": [],
        });
        let record = rserpool_scenarios::run::run(
            &handle,
            scenario,
            &opts,
            |p: &Progress| {
                let sample = serde_json::to_value(&p.sample).ok();
                if let (Some(s), Some(samples)) = (&sample, partial["samples"].as_array_mut()) {
                    samples.push(s.clone());
                }
                if let Some((metric, floor)) = &floor {
                    if p.sample.values.get(metric).is_some_and(|v| v < floor) {
                        stop.store(true, Ordering::SeqCst);
                    }
                }
                progress(RunProgress {
                    phase: p.phase.as_str().to_string(),
                    elapsed_ms: p.elapsed_ms,
                    sample,
                    partial_record: Some(partial.clone()),
                });
            },
            stop,
        )?;
        Ok(RunOutcome {
            // A capture that failed is a note in the record, not a file.
            pcap: pcap.filter(|_| record.pcap.is_some()),
            record: serde_json::to_value(&record)?,
        })
    }
}
