//! Scenario runs from the lab page's API on a live lab (the default
//! topology the scenarios are written for): a run started with `POST
//! /api/runs` streams its progress as `run` events, `GET /api/runs/ID`
//! shows the record growing and then whole, and a stop request ends a run
//! early as `stopped`.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rserpool_cli::control::{ControlOptions, ControlServer, LabAccess, ScenarioLibrary};
use rserpool_tests::lab;
use serde_json::Value;

const ID: &str = "rfc5355-2.13-eu-flood";

struct Page {
    server: ControlServer,
    http: ureq::Agent,
}

impl Page {
    fn on(lab: &rserpool_lab::Lab) -> Page {
        let server = ControlServer::start(
            LabAccess::of(lab),
            ControlOptions {
                runner: Some(Arc::new(ScenarioLibrary)),
                ui_dir: std::env::temp_dir().join("no-lab-ui-here"),
                ..ControlOptions::default()
            },
        )
        .expect("control server");
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Page { server, http }
    }
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
                .send(body)
                .unwrap(),
        )
    }
    fn wait_ended(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, r) = self.get(&format!("/api/runs/{id}"));
            assert_eq!(status, 200, "{r}");
            if r["state"] != "running" {
                return r;
            }
            assert!(Instant::now() < deadline, "run {id} did not end: {r}");
            std::thread::sleep(Duration::from_millis(250));
        }
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

#[test]
fn a_run_from_the_page_streams_progress_and_ends_with_its_record() {
    let lab = lab();
    let page = Page::on(&lab);
    let events = page
        .http
        .get(page.url(&format!("/api/events?key={}", page.server.secret())))
        .call()
        .unwrap();
    let mut lines = BufReader::new(events.into_body().into_reader()).lines();
    let (status, r) = page.post(
        "/api/runs",
        &format!(
            r#"{{"scenario":"{ID}","seed":42,"defences":{{"maxeurate":true}},"phase_scale":0.5}}"#
        ),
    );
    assert_eq!(status, 202, "{r}");
    let id = r["run_id"].as_str().unwrap().to_string();

    // Progress on the stream: phases in order, a sample each time.
    let mut phases: Vec<String> = Vec::new();
    let mut kind = String::new();
    let mut verdict = Value::Null;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(k) = line.strip_prefix("event: ") {
            kind = k.into();
        } else if let Some(d) = line.strip_prefix("data: ") {
            let d: Value = serde_json::from_str(d).unwrap();
            if kind != "run" || d["run_id"] != id.as_str() {
                continue;
            }
            if let Some(p) = d["phase"].as_str() {
                assert!(d["sample"]["values"]["healthy_pes"].is_number(), "{d}");
                if phases.last().map(String::as_str) != Some(p) {
                    phases.push(p.to_string());
                }
            }
            if d["state"] != "running" {
                assert_eq!(d["state"], "finished", "{d}");
                verdict = d["verdict"].clone();
                break;
            }
        }
    }
    assert_eq!(phases, ["baseline", "attack", "recovery"]);
    assert!(verdict.is_object(), "the last event carries the verdict");

    let done = page.wait_ended(&id);
    assert_eq!(done["state"], "finished");
    // The run was captured: the page's download is a pcap whose size and
    // packets the record states, and the project's reader finds the
    // attack's Endpoint Unreachables in it.
    assert_eq!(done["has_pcap"], true, "{done}");
    let mut r = page
        .http
        .get(page.url(&format!("/api/runs/{id}/pcap")))
        .header("X-Lab-Key", page.server.secret())
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/vnd.tcpdump.pcap")
    );
    let bytes = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    assert_eq!(&bytes[..4], &0xa1b2_c3d4u32.to_le_bytes(), "pcap magic");
    assert_eq!(
        done["record"]["pcap"]["bytes"].as_u64(),
        Some(bytes.len() as u64)
    );
    let saved = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("page-run.pcap");
    std::fs::write(&saved, &bytes).unwrap();
    let contents = rserpool_cli::capture::read_capture(&saved).unwrap();
    assert_eq!(
        done["record"]["pcap"]["packets"].as_u64(),
        Some(contents.frames)
    );
    let eus = contents
        .messages
        .iter()
        .filter(|m| {
            matches!(
                client_core::wire::decode(m.protocol, &m.bytes).map(|d| d.message),
                Ok(client_core::wire::Message::Asap(
                    client_core::wire::AsapMessage::EndpointUnreachable(_)
                ))
            )
        })
        .count();
    assert!(eus > 0, "no Endpoint Unreachable in the page's capture");
    let record = &done["record"];
    assert_eq!(record["schema"], "rserpool-run/2");
    assert_eq!(record["seed"], 42);
    assert_eq!(record["defences"]["maxeurate"], true);
    assert_eq!(record["scenario"]["id"], ID);
    // Samples carry the time they were taken (every 250 ms or later when
    // the lab is slow): increasing, and every phase has one.
    let times: Vec<u64> = record["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["t_ms"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    for p in record["phases"].as_array().unwrap() {
        let (start, end) = (
            p["start_ms"].as_u64().unwrap(),
            p["end_ms"].as_u64().unwrap(),
        );
        assert!(
            times.iter().any(|&t| t > start && t <= end),
            "no sample in {p}: {times:?}"
        );
    }
}

#[test]
fn a_stopped_run_ends_early_as_stopped() {
    let lab = lab();
    let page = Page::on(&lab);
    let (status, r) = page.post("/api/runs", &format!(r#"{{"scenario":"{ID}","seed":1}}"#));
    assert_eq!(status, 202, "{r}");
    let id = r["run_id"].as_str().unwrap().to_string();
    // Some samples first: the record grows while it runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, r) = page.get(&format!("/api/runs/{id}"));
        if r["record"]["samples"]
            .as_array()
            .is_some_and(|s| s.len() >= 2)
        {
            assert_eq!(r["state"], "running");
            // The partial record already says what the run will be.
            let planned: Vec<_> = r["record"]["phases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p["name"].as_str().unwrap(), p["end_ms"].as_u64().unwrap()))
                .collect();
            assert_eq!(
                planned,
                [("baseline", 3000), ("attack", 9000), ("recovery", 12_000)]
            );
            assert!(r["record"]["defences"].is_object(), "{r}");
            break;
        }
        assert!(Instant::now() < deadline, "no samples: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = page.post(&format!("/api/runs/{id}/stop"), "");
    assert_eq!(status, 200);
    let done = page.wait_ended(&id);
    assert_eq!(done["state"], "stopped", "{done}");
    // The full run is 12 s: it ended well before.
    let last = done["record"]["phases"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert!(last["end_ms"].as_u64().unwrap() < 12_000, "{last}");
}
