//! The control server's run management on the real catalogue, with a
//! scenario runner that plays a scenario without a lab (a test double: it reports progress every 20 ms
//! until it is stopped or done, and leaves a record and a capture). What is
//! under test is the server: validation against the catalogue, one run at
//! a time, progress as `run` events, stop, the record and the pcap
//! download. (Runs of the real scenario library on a live lab are the
//! scenario crate's tests.)

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rserpool_cli::control::{
    ControlOptions, ControlServer, LabAccess, RunOutcome, RunProgress, RunRequest, ScenarioRunner,
};
use rserpool_lab::{Mode, Topology};
use rserpool_scenarios::Scenario;
use serde_json::{json, Value};

struct Rehearsal {
    pcap_dir: std::path::PathBuf,
}

impl ScenarioRunner for Rehearsal {
    fn run(
        &self,
        _lab: &LabAccess,
        scenario: &Scenario,
        request: &RunRequest,
        progress: &mut dyn FnMut(RunProgress),
        stop: &AtomicBool,
    ) -> anyhow::Result<RunOutcome> {
        assert_eq!(scenario.id, request.scenario);
        let steps = if request.seed == 7 { 5 } else { 500 };
        let mut samples = Vec::new();
        for i in 0..steps {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let sample = json!({ "t_ms": i * 20, "values": { "healthy_pes": 4 - (i % 2) } });
            samples.push(sample.clone());
            progress(RunProgress {
                phase: if i < 2 { "baseline" } else { "attack" }.into(),
                elapsed_ms: i * 20,
                sample: Some(sample),
                partial_record: Some(json!({ "schema": "rserpool-run/2", "samples": samples })),
            });
            std::thread::sleep(Duration::from_millis(20));
        }
        let pcap = self.pcap_dir.join(format!("seed-{}.pcap", request.seed));
        std::fs::write(&pcap, b"\xd4\xc3\xb2\xa1capture")?;
        Ok(RunOutcome {
            record: json!({ "schema": "rserpool-run/2", "seed": request.seed,
                            "samples": samples, "verdict": { "passed": true, "text": "ok" } }),
            pcap: Some(pcap),
        })
    }
}

struct Page {
    server: ControlServer,
    http: ureq::Agent,
}

fn page(runner: Option<Arc<dyn ScenarioRunner>>) -> Page {
    let server = ControlServer::start(
        LabAccess {
            mode: Mode::Vm,
            topology: Topology::default(),
            agent: "127.0.0.1:9".into(),
            token: "t".into(),
            gateway_urls: vec![],
            share: None,
        },
        ControlOptions {
            runner,
            ui_dir: std::env::temp_dir(),
            ..ControlOptions::default()
        },
    )
    .expect("control server");
    let http = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    Page { server, http }
}

impl Page {
    fn url(&self, p: &str) -> String {
        format!("http://{}{p}", self.server.addr())
    }
    fn get(&self, p: &str) -> (u16, Value) {
        answer(
            self.http
                .get(self.url(p))
                .header("X-Lab-Key", self.server.secret())
                .call()
                .unwrap(),
        )
    }
    fn post(&self, p: &str, body: &str) -> (u16, Value) {
        answer(
            self.http
                .post(self.url(p))
                .header("X-Lab-Key", self.server.secret())
                .header("Content-Type", "application/json")
                .send(body)
                .unwrap(),
        )
    }
}

fn answer(mut r: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    match serde_json::from_str(&text) {
        Ok(v) => (status, v),
        Err(_) => (status, Value::String(text)),
    }
}

fn rehearsal() -> Option<Arc<dyn ScenarioRunner>> {
    let dir = std::env::temp_dir().join(format!("rserpool-runs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Some(Arc::new(Rehearsal { pcap_dir: dir }))
}

fn wait_state(p: &Page, id: &str, state: &str) -> Value {
    for _ in 0..500 {
        let (status, r) = p.get(&format!("/api/runs/{id}"));
        assert_eq!(status, 200, "{r}");
        if r["state"] == state {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("run {id} never became {state}");
}

#[test]
fn a_run_reports_progress_finishes_with_its_record_and_its_capture() {
    let p = page(rehearsal());
    let (status, cat) = p.get("/api/scenarios");
    assert_eq!(status, 200);
    assert_eq!(cat["schema"], "rserpool-catalogue/1");
    assert!(cat["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == "rfc5355-2.13-eu-flood"));

    let events = p
        .http
        .get(p.url(&format!("/api/events?key={}", p.server.secret())))
        .call()
        .unwrap();
    let mut lines = BufReader::new(events.into_body().into_reader()).lines();

    let (status, r) = p.post(
        "/api/runs",
        r#"{"scenario":"rfc5355-2.13-eu-flood","seed":7,"defences":{"maxeurate":true}}"#,
    );
    assert_eq!(status, 202, "{r}");
    let id = r["run_id"].as_str().unwrap().to_string();
    let done = wait_state(&p, &id, "finished");
    assert_eq!(done["record"]["seed"], 7);
    assert_eq!(done["record"]["samples"].as_array().unwrap().len(), 5);
    assert_eq!(done["request"]["defences"]["maxeurate"], true);
    assert_eq!(done["has_pcap"], true);

    // The stream told the same story: started, progress per sample, finished.
    let mut kind = String::new();
    let mut states = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(k) = line.strip_prefix("event: ") {
            kind = k.into();
        } else if let Some(d) = line.strip_prefix("data: ") {
            let d: Value = serde_json::from_str(d).unwrap();
            if kind == "run" && d["run_id"] == id.as_str() {
                states.push((d["state"].as_str().unwrap().to_string(), d["phase"].clone()));
                if d["state"] == "finished" {
                    assert_eq!(d["verdict"]["passed"], true);
                    break;
                }
            }
        }
    }
    assert_eq!(states.len(), 1 + 5 + 1, "{states:?}");
    assert_eq!(states[3], ("running".into(), json!("attack")));

    let mut r = p
        .http
        .get(p.url(&format!("/api/runs/{id}/pcap")))
        .header("X-Lab-Key", p.server.secret())
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/vnd.tcpdump.pcap"
    );
    assert_eq!(
        r.body_mut().read_to_vec().unwrap(),
        b"\xd4\xc3\xb2\xa1capture"
    );
}

#[test]
fn one_run_at_a_time_and_a_stopped_run_says_so() {
    let p = page(rehearsal());
    let body = r#"{"scenario":"rfc5355-2.13-eu-flood","seed":1}"#;
    let (status, r) = p.post("/api/runs", body);
    assert_eq!(status, 202, "{r}");
    let id = r["run_id"].as_str().unwrap().to_string();
    let (status, e) = p.post("/api/runs", body);
    assert_eq!(status, 409);
    assert_eq!(e["error"], "run-in-progress");
    // While it runs, the record so far is there.
    std::thread::sleep(Duration::from_millis(200));
    let (_, partial) = p.get(&format!("/api/runs/{id}"));
    assert_eq!(partial["state"], "running");
    assert!(!partial["record"]["samples"].as_array().unwrap().is_empty());
    let (status, _) = p.post(&format!("/api/runs/{id}/stop"), "");
    assert_eq!(status, 200);
    wait_state(&p, &id, "stopped");
    let (status, e) = p.post(&format!("/api/runs/{id}/stop"), "");
    assert_eq!(status, 409);
    assert_eq!(e["error"], "not-running");
    // The lab is free again.
    let (status, _) = p.post(
        "/api/runs",
        r#"{"scenario":"rfc5355-2.13-eu-flood","seed":7}"#,
    );
    assert_eq!(status, 202);
}

#[test]
fn bad_run_requests_get_typed_errors() {
    let p = page(rehearsal());
    let cases = [
        ("not json", 400, "bad-request"),
        (r#"{"seed":1}"#, 400, "bad-request"),
        (r#"{"scenario":"x","seed":-1}"#, 400, "bad-request"),
        (r#"{"scenario":"x","colour":"red"}"#, 400, "bad-request"),
        (
            r#"{"scenario":"rfc5355-2.13-eu-flood","phase_scale":0}"#,
            400,
            "bad-request",
        ),
        (
            r#"{"scenario":"rfc5355-2.13-eu-flood","floor":"low"}"#,
            400,
            "bad-request",
        ),
        (r#"{"scenario":"nope"}"#, 404, "unknown-scenario"),
        (
            r#"{"scenario":"rfc5355-2.10-integrity"}"#,
            422,
            "not-staged",
        ),
        (
            r#"{"scenario":"rfc5355-2.13-eu-flood","defences":{"magic":true}}"#,
            400,
            "unknown-defence",
        ),
    ];
    for (body, status, code) in cases {
        let (s, e) = p.post("/api/runs", body);
        assert_eq!(
            (s, e["error"].as_str()),
            (status, Some(code)),
            "{body}: {e}"
        );
    }
    for path in ["/api/runs/999", "/api/runs/abc", "/api/runs/999/pcap"] {
        let (s, e) = p.get(path);
        assert_eq!(
            (s, e["error"].as_str()),
            (404, Some("unknown-run")),
            "{path}"
        );
    }
    assert_eq!(p.get("/api/scenarios").0, 200, "still serving");
}

#[test]
fn without_a_runner_the_catalogue_is_served_and_runs_are_refused() {
    let p = page(None);
    let (s, cat) = p.get("/api/scenarios");
    assert_eq!(s, 200);
    assert_eq!(cat["schema"], "rserpool-catalogue/1");
    let (s, e) = p.post("/api/runs", r#"{"scenario":"rfc5355-2.13-eu-flood"}"#);
    assert_eq!((s, e["error"].as_str()), (501, Some("no-scenario-runner")));
}
