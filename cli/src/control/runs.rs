//! Scenario runs from the page: `GET /api/scenarios`, `POST /api/runs`,
//! `GET /api/runs/ID`, `GET /api/runs/ID/pcap`, `POST /api/runs/ID/stop`,
//! and `run` events on the event stream.
//!
//! The control server keeps the runs (one at a time: they share the lab)
//! and hands each to a [`ScenarioRunner`] on a thread of its own; the
//! runner is the scenario library's (the catalogue, the attackers, the
//! measurements). The server only validates requests, tracks state,
//! relays progress and serves the results.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use rserpool_scenarios::{Catalogue, CatalogueError, Scenario};

use super::events::{now_ms, EventHub};
use super::{ApiError, AppState, LabAccess};

/// What the page asks for: `POST /api/runs`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// A scenario id of the catalogue.
    pub scenario: String,
    /// Seeds every random choice of the run (the same seed, the same attack).
    #[serde(default)]
    pub seed: u64,
    /// Defences to switch on or off (by name, as the catalogue lists them);
    /// the others keep their default.
    #[serde(default)]
    pub defences: BTreeMap<String, bool>,
    /// Stop the run when the scenario's service metric falls below this.
    #[serde(default)]
    pub floor: Option<f64>,
    /// Every phase's duration times this (short runs for a quick look or
    /// a test); 1 when absent. Between 0.05 and 4.
    #[serde(default)]
    pub phase_scale: Option<f64>,
}

/// A progress report from a running scenario.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunProgress {
    pub phase: String,
    pub elapsed_ms: u64,
    /// The latest sample (`{ "t_ms", "values": {…} }` of the run record).
    pub sample: Option<Value>,
    /// The run record so far, if the runner keeps one while it runs.
    pub partial_record: Option<Value>,
}

/// What a finished run leaves.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The run record (`rserpool-run/2`, see the scenario documentation).
    pub record: Value,
    /// A packet capture of the run, if one was taken.
    pub pcap: Option<PathBuf>,
}

/// The scenario runner as the control server uses it.
pub trait ScenarioRunner: Send + Sync + 'static {
    /// Runs one scenario of the catalogue (validated against it: runnable,
    /// known defences) on the lab until it ends or `stop` is set, calling
    /// `progress` as it goes.
    fn run(
        &self,
        lab: &LabAccess,
        scenario: &Scenario,
        request: &RunRequest,
        progress: &mut dyn FnMut(RunProgress),
        stop: &AtomicBool,
    ) -> anyhow::Result<RunOutcome>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    Running,
    /// Ran to its end.
    Finished,
    /// Ended by `POST /api/runs/ID/stop` (or the floor).
    Stopped,
    /// The runner failed; `error` says why.
    Failed,
}

struct Run {
    request: RunRequest,
    state: RunState,
    stop: Arc<AtomicBool>,
    started_ms: u64,
    progress: Option<RunProgress>,
    record: Option<Value>,
    pcap: Option<PathBuf>,
    error: Option<String>,
}

/// The runs of this lab (the last [`KEEP`] of them).
#[derive(Default)]
pub struct Runs {
    runs: Mutex<BTreeMap<u64, Run>>,
}

/// Finished runs kept for `GET /api/runs/ID`.
const KEEP: usize = 50;

impl Runs {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Run>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn view(id: u64, r: &Run) -> Value {
        json!({
            "run_id": id.to_string(),
            "state": r.state,
            "request": r.request,
            "started_ms": r.started_ms,
            "progress": r.progress,
            "record": r.record,
            "has_pcap": r.pcap.is_some(),
            "error": r.error,
        })
    }
}

fn runner(s: &AppState) -> Result<Arc<dyn ScenarioRunner>, ApiError> {
    s.runner.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "no-scenario-runner",
            "this lab has no scenario runner: scenarios can be listed, not run",
        )
    })
}

fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-run",
            format!("no run {id:?}"),
        )
    })
}

/// `GET /api/scenarios`: the catalogue (`rserpool-catalogue/1`).
pub async fn catalogue(State(s): State<AppState>) -> Json<Catalogue> {
    Json(s.catalogue.clone())
}

/// Checks a request against the catalogue: a runnable scenario, known
/// defences, a finite floor.
fn validate<'c>(catalogue: &'c Catalogue, req: &RunRequest) -> Result<&'c Scenario, ApiError> {
    let typed = |e: CatalogueError| {
        let (status, code) = match e {
            CatalogueError::UnknownScenario { .. } => (StatusCode::NOT_FOUND, "unknown-scenario"),
            CatalogueError::NotStaged { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "not-staged"),
            CatalogueError::UnknownDefence { .. } => (StatusCode::BAD_REQUEST, "unknown-defence"),
            _ => (StatusCode::BAD_REQUEST, "bad-request"),
        };
        ApiError::new(status, code, e.to_string())
    };
    let scenario = catalogue.runnable(&req.scenario).map_err(typed)?;
    let switches: Vec<(String, bool)> = req.defences.clone().into_iter().collect();
    scenario.defence_settings(&switches).map_err(typed)?;
    if req.floor.is_some_and(|f| !f.is_finite()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "floor must be a finite number",
        ));
    }
    if req.phase_scale.is_some_and(|f| !(0.05..=4.0).contains(&f)) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "phase_scale must be between 0.05 and 4",
        ));
    }
    Ok(scenario)
}

fn run_event(
    hub: &EventHub,
    id: u64,
    state: RunState,
    progress: Option<&RunProgress>,
    extra: Value,
) {
    let mut v = json!({
        "run_id": id.to_string(),
        "state": state,
        "phase": progress.map(|p| p.phase.clone()),
        "elapsed_ms": progress.map(|p| p.elapsed_ms),
        "sample": progress.and_then(|p| p.sample.clone()),
        "t_ms": now_ms(),
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    hub.publish("run", v);
}

/// `POST /api/runs` `{scenario, seed, defences, floor?}` → `{run_id}`.
pub async fn start(State(s): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let runner = runner(&s)?;
    let req: RunRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("the body must be {{\"scenario\", \"seed\", \"defences\", \"floor\"?}}: {e}"),
        )
    })?;
    let scenario = validate(&s.catalogue, &req)?.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let id = {
        let mut runs = s.runs.lock();
        if let Some((id, _)) = runs.iter().find(|(_, r)| r.state == RunState::Running) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "run-in-progress",
                format!("run {id} is still running (one run at a time: they share the lab)"),
            ));
        }
        let id = runs.keys().next_back().map_or(1, |k| k + 1);
        runs.insert(
            id,
            Run {
                request: req.clone(),
                state: RunState::Running,
                stop: stop.clone(),
                started_ms: now_ms(),
                progress: None,
                record: None,
                pcap: None,
                error: None,
            },
        );
        while runs.len() > KEEP {
            let Some(oldest) = runs.keys().next().copied() else {
                break;
            };
            // Its capture goes with it: the captures kept are bounded by
            // KEEP times the capture's size cap.
            if let Some(p) = runs.remove(&oldest).and_then(|r| r.pcap) {
                let _ = std::fs::remove_file(p);
            }
        }
        id
    };
    run_event(
        &s.hub,
        id,
        RunState::Running,
        None,
        json!({ "request": req }),
    );
    let st = s.clone();
    std::thread::Builder::new()
        .name(format!("run-{id}"))
        .spawn(move || {
            let mut progress = |p: RunProgress| {
                run_event(&st.hub, id, RunState::Running, Some(&p), json!({}));
                if let Some(r) = st.runs.lock().get_mut(&id) {
                    if p.partial_record.is_some() {
                        r.record = p.partial_record.clone();
                    }
                    r.progress = Some(p);
                }
            };
            let result = runner.run(&st.lab, &scenario, &req, &mut progress, &stop);
            let (state, extra) = {
                let mut runs = st.runs.lock();
                let Some(r) = runs.get_mut(&id) else { return };
                match result {
                    Ok(outcome) => {
                        r.state = if stop.load(Ordering::SeqCst) {
                            RunState::Stopped
                        } else {
                            RunState::Finished
                        };
                        let verdict = outcome.record["verdict"].clone();
                        r.record = Some(outcome.record);
                        r.pcap = outcome.pcap;
                        (r.state, json!({ "verdict": verdict }))
                    }
                    Err(e) => {
                        r.state = RunState::Failed;
                        r.error = Some(format!("{e:#}"));
                        (r.state, json!({ "error": r.error }))
                    }
                }
            };
            run_event(&st.hub, id, state, None, extra);
        })
        .map_err(|e| ApiError::agent(e.into()))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "run_id": id.to_string() })),
    )
        .into_response())
}

/// `GET /api/runs/ID`: state, latest progress, the record (partial while
/// running, if the runner gives one).
pub async fn get(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let n = parse_id(&id)?;
    let runs = s.runs.lock();
    let r = runs.get(&n).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-run",
            format!("no run {id:?}"),
        )
    })?;
    Ok(Json(Runs::view(n, r)))
}

/// `POST /api/runs/ID/stop`: asks the run to stop (it ends its current
/// phase's bookkeeping and reports `stopped`).
pub async fn stop(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let n = parse_id(&id)?;
    let runs = s.runs.lock();
    let r = runs.get(&n).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-run",
            format!("no run {id:?}"),
        )
    })?;
    if r.state != RunState::Running {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not-running",
            format!("run {id} has already ended ({:?})", r.state),
        ));
    }
    r.stop.store(true, Ordering::SeqCst);
    Ok(Json(json!({ "run_id": id, "stopping": true })))
}

/// `GET /api/runs/ID/pcap`: the run's capture, as a download.
pub async fn pcap(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let n = parse_id(&id)?;
    let path = {
        let runs = s.runs.lock();
        let r = runs.get(&n).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown-run",
                format!("no run {id:?}"),
            )
        })?;
        r.pcap.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no-pcap",
                format!("run {id} has no capture (still running, or none was taken)"),
            )
        })?
    };
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        ApiError::new(
            StatusCode::GONE,
            "pcap-gone",
            format!("the capture of run {id} is no longer there: {e}"),
        )
    })?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.tcpdump.pcap".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"run-{id}.pcap\""),
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}
