//! The lab control server's page side, without a lab: it serves the built
//! page from its directory, explains how to build it when it is missing,
//! and keeps `/api` closed without the run's key. (The API on a live lab:
//! tests/tests/lab_page.rs.)

use std::time::Duration;

use rserpool_cli::control::{ControlOptions, ControlServer, LabAccess};
use rserpool_lab::{Mode, Topology};

fn server(ui_dir: &std::path::Path) -> ControlServer {
    ControlServer::start(
        LabAccess {
            mode: Mode::Vm,
            topology: Topology::default(),
            // Nothing listens there: only the page side is exercised.
            agent: "127.0.0.1:9".into(),
            token: "t".into(),
            gateway_urls: vec![],
            share: None,
        },
        ControlOptions {
            port: 0,
            ui_dir: ui_dir.to_path_buf(),
            ..ControlOptions::default()
        },
    )
    .expect("control server starts")
}

fn get(url: &str) -> (u16, String, String) {
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut r = http.get(url).call().expect("request");
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    (
        r.status().as_u16(),
        ct,
        r.body_mut().read_to_string().expect("body"),
    )
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rserpool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn serves_the_built_page_and_its_assets() {
    let dir = temp_dir("ui");
    std::fs::write(dir.join("index.html"), "<!doctype html><title>lab</title>").unwrap();
    std::fs::write(dir.join("app.js"), "console.log(1)").unwrap();
    let s = server(&dir);
    let base = format!("http://{}", s.addr());
    let (status, ct, body) = get(&format!("{base}/"));
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(body.contains("<title>lab</title>"));
    let (status, ct, _) = get(&format!("{base}/app.js"));
    assert_eq!(status, 200);
    assert!(ct.contains("javascript"), "{ct}");
    // Nothing outside the directory is reachable.
    let (status, _, _) = get(&format!("{base}/../Cargo.toml"));
    assert_eq!(status, 404);
    assert!(s
        .page_url()
        .starts_with(&format!("http://127.0.0.1:{}/#key=", s.addr().port())));
    assert!(s.page_url().ends_with(s.secret()));
    assert_eq!(s.secret().len(), 32);
}

#[test]
fn a_missing_page_gets_a_page_that_says_how_to_build_it() {
    let dir = temp_dir("no-ui");
    let s = server(&dir.join("dist"));
    let (status, ct, body) = get(&format!("http://{}/", s.addr()));
    assert_eq!(status, 503);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(body.contains("scripts/setup"), "{body}");
    assert!(body.contains("npm run build"), "{body}");
}

#[test]
fn the_event_stream_needs_the_key_too() {
    let s = server(&temp_dir("ui-events"));
    let (status, _, body) = get(&format!("http://{}/api/events", s.addr()));
    assert_eq!(status, 401);
    assert!(body.contains("missing-key"), "{body}");
    let (status, _, body) = get(&format!("http://{}/api/events?key=nope", s.addr()));
    assert_eq!(status, 401);
    assert!(body.contains("wrong-key"), "{body}");
}

#[test]
fn each_run_has_its_own_secret() {
    let dir = temp_dir("ui-secret");
    let (a, b) = (server(&dir), server(&dir));
    assert_ne!(a.secret(), b.secret());
}
