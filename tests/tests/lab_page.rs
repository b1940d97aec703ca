//! The lab control server (the API behind the lab page, `docs/lab-page.md`)
//! on a live lab, started with a topology that is not the default one: two
//! registrars, three PEs in two pools. The API reports exactly that lab,
//! refuses requests without the run's secret, and its node actions reach
//! the real processes.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use rserpool_cli::control::{ControlOptions, ControlServer, LabAccess};
use rserpool_lab::topology::{PoolElement, Process, Registrar, Topology};
use rserpool_tests::{lab_with, LabGuard};
use serde_json::Value;

fn topology() -> Topology {
    let registrar = |name: &str, id: u32| Registrar {
        name: name.into(),
        id,
        options: vec![],
    };
    let pe = |name: &str, pool: &str, registrar: &str| PoolElement {
        name: name.into(),
        pool: pool.into(),
        registrar: registrar.into(),
        service: "echo".into(),
        options: vec![],
    };
    let gateway = Topology::default()
        .processes
        .into_iter()
        .find(|p| p.name == "gateway")
        .expect("the default topology has a gateway");
    Topology {
        registrars: vec![
            registrar("registrar-east", 0x2000_0001),
            registrar("registrar-west", 0x2000_0002),
        ],
        pool_elements: vec![
            pe("pe-east", "EchoPool", "registrar-east"),
            pe("pe-west", "EchoPool", "registrar-west"),
            pe("pe-other", "OtherPool", "registrar-west"),
        ],
        processes: vec![Process {
            // Routes to the two registrars this lab has.
            args: without_route(&gateway.args, "/asap/3="),
            ..gateway
        }],
        forward: Topology::default().forward,
        csp: Default::default(),
    }
}

/// Gateway arguments without the `--registrar PATH=ADDR` whose value
/// starts with `route`.
fn without_route(args: &[String], route: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if a == "--registrar" && it.peek().is_some_and(|v| v.starts_with(route)) {
            it.next();
            continue;
        }
        out.push(a.clone());
    }
    out
}

fn lab() -> LabGuard {
    lab_with(topology)
}

struct Page {
    server: ControlServer,
    http: ureq::Agent,
}

impl Page {
    fn on(lab: &LabGuard) -> Page {
        let server = ControlServer::start(
            LabAccess::of(lab),
            ControlOptions {
                port: 0,
                ui_dir: std::env::temp_dir().join("no-lab-ui-here"),
                ..ControlOptions::default()
            },
        )
        .expect("control server starts");
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Page { server, http }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr())
    }

    /// (status, JSON body) of a request with the run's key.
    fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .header("X-Lab-Key", self.server.secret())
            .call()
            .expect("request");
        answer(r)
    }

    fn post(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .header("X-Lab-Key", self.server.secret())
            .send_empty()
            .expect("request");
        answer(r)
    }

    fn state_of(&self, name: &str) -> String {
        let (status, processes) = self.get("/api/status");
        assert_eq!(status, 200, "{processes}");
        processes
            .as_array()
            .expect("status is a list")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {processes}"))["state"]
            .as_str()
            .expect("state")
            .to_string()
    }
}

/// Reads server-sent events until `want` has seen enough (returns true) or
/// `limit` passes; every `(event, data)` seen is handed to `want`.
fn read_events(page: &Page, limit: Duration, mut want: impl FnMut(&str, &Value) -> bool) {
    let events = page
        .http
        .get(page.url("/api/events"))
        .header("X-Lab-Key", page.server.secret())
        .call()
        .expect("event stream");
    assert_eq!(events.status(), 200);
    let deadline = std::time::Instant::now() + limit;
    let mut kind = String::new();
    for line in BufReader::new(events.into_body().into_reader()).lines() {
        assert!(
            std::time::Instant::now() < deadline,
            "not every expected event arrived within {limit:?}"
        );
        let line = line.expect("event stream line");
        if let Some(k) = line.strip_prefix("event: ") {
            kind = k.to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            let d: Value = serde_json::from_str(d).expect("event data is JSON");
            if want(&kind, &d) {
                return;
            }
        }
    }
    panic!("the event stream ended");
}

fn answer(mut r: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().expect("body");
    match serde_json::from_str(&text) {
        Ok(json) => (status, json),
        Err(_) => (status, Value::String(text)),
    }
}

#[test]
fn api_describes_the_topology_the_lab_was_started_with() {
    let lab = lab();
    let page = Page::on(&lab);
    let (status, d) = page.get("/api/lab");
    assert_eq!(status, 200, "{d}");
    let t = &d["topology"];
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("list")
            .iter()
            .map(|x| x["name"].as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(
        names(&t["registrars"]),
        ["registrar-east", "registrar-west"]
    );
    assert_eq!(t["registrars"][1]["id"], 0x2000_0002);
    assert_eq!(t["registrars"][1]["asap"], "10.1.0.2:3863");
    assert_eq!(t["registrars"][1]["enrp"], "10.1.0.2:9901");
    assert_eq!(
        names(&t["pool_elements"]),
        ["pe-east", "pe-west", "pe-other"]
    );
    assert_eq!(t["pool_elements"][2]["pool"], "OtherPool");
    assert_eq!(t["pool_elements"][2]["registrar"], "registrar-west");
    assert_eq!(
        names(&t["processes"]),
        [
            "registrar-east",
            "registrar-west",
            "pe-east",
            "pe-west",
            "pe-other",
            "gateway"
        ]
    );
    assert_eq!(t["processes"][2]["kind"], "pool-element");
    let urls = d["gateway_urls"].as_array().expect("gateway urls");
    assert_eq!(urls.len(), 2);
    assert!(urls[1].as_str().unwrap().ends_with("/asap/2"), "{urls:?}");
}

#[test]
fn api_refuses_requests_without_the_run_key() {
    let lab = lab();
    let page = Page::on(&lab);
    let without = answer(
        page.http
            .post(page.url("/api/nodes/pe-east/kill"))
            .send_empty()
            .expect("request"),
    );
    assert_eq!(without.0, 401);
    assert_eq!(without.1["error"], "missing-key");
    let wrong = answer(
        page.http
            .get(page.url("/api/status"))
            .header("X-Lab-Key", "0123456789abcdef0123456789abcdef")
            .call()
            .expect("request"),
    );
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong.1["error"], "wrong-key");
    // Nothing was killed, and the key opens the same endpoint.
    assert_eq!(page.state_of("pe-east"), "running");
}

#[test]
fn kill_from_the_api_turns_the_process_killed_and_streams_the_event() {
    let lab = lab();
    let page = Page::on(&lab);
    // The event stream, with the key as a query parameter (EventSource).
    let events = page
        .http
        .get(page.url(&format!("/api/events?key={}", page.server.secret())))
        .call()
        .expect("event stream");
    assert_eq!(events.status(), 200);
    assert_eq!(
        events.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut lines = BufReader::new(events.into_body().into_reader()).lines();
    // The relay subscribes to the agent in the background: give it a moment.
    std::thread::sleep(Duration::from_millis(500));

    let (status, r) = page.post("/api/nodes/pe-west/kill");
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["process"]["state"], "killed");
    assert_eq!(r["process"]["signal"], 9);
    assert_eq!(page.state_of("pe-west"), "killed");
    assert!(lab.is_running("pe-east").unwrap(), "only pe-west was hit");

    let mut event = None;
    let mut kind = String::new();
    for line in lines.by_ref() {
        let line = line.expect("event stream line");
        if let Some(k) = line.strip_prefix("event: ") {
            kind = k.to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            let d: Value = serde_json::from_str(d).expect("event data is JSON");
            if kind == "process" && d["name"] == "pe-west" && d["change"] == "ended" {
                event = Some(d);
                break;
            }
        }
    }
    let event = event.expect("a process event for pe-west");
    assert_eq!(event["state"], "killed");

    // Restart brings it back.
    let (status, r) = page.post("/api/nodes/pe-west/restart");
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["process"]["state"], "running");
}

#[test]
fn bad_node_requests_get_typed_errors_and_the_server_keeps_serving() {
    let lab = lab();
    let page = Page::on(&lab);
    let (status, e) = page.post("/api/nodes/pe-9/kill");
    assert_eq!(status, 404);
    assert_eq!(e["error"], "unknown-node");
    let (status, e) = page.post("/api/nodes/pe-east/explode");
    assert_eq!(status, 404);
    assert_eq!(e["error"], "unknown-action");
    let (status, e) = page.get("/api/nodes/pe-east/kill");
    assert_eq!(status, 405);
    assert_eq!(e["error"], "method-not-allowed");
    let (status, e) = page.get("/api/nothing-here");
    assert_eq!(status, 404);
    assert_eq!(e["error"], "no-such-endpoint");
    // Stopping a process that is not running is refused by the lab.
    let (status, _) = page.post("/api/nodes/pe-other/stop");
    assert_eq!(status, 200);
    let (status, e) = page.post("/api/nodes/pe-other/stop");
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["error"], "refused");
    // None of that disturbed the server.
    assert_eq!(page.get("/api/lab").0, 200);
    assert_eq!(page.state_of("pe-east"), "running");
}

#[test]
fn component_status_reports_of_every_registrar_and_pe_reach_the_page() {
    let lab = lab();
    let page = Page::on(&lab);
    let mut reports: std::collections::BTreeMap<String, Value> = Default::default();
    let expected = [
        "registrar-east",
        "registrar-west",
        "pe-east",
        "pe-west",
        "pe-other",
    ];
    read_events(&page, Duration::from_secs(30), |kind, d| {
        assert_ne!(kind, "csp-error", "an RSPLIB report did not decode: {d}");
        if kind == "csp" {
            if let Some(node) = d["node"].as_str() {
                if std::env::var_os("LAB_PAGE_SHOW_CSP").is_some() {
                    eprintln!("{node}: {}", d["datagram"]);
                }
                reports.insert(node.to_string(), d.clone());
            }
        }
        expected.iter().all(|n| reports.contains_key(*n))
    });
    let east = &reports["registrar-east"];
    assert_eq!(east["kind"], "registrar");
    assert_eq!(east["id"], 0x2000_0001);
    assert_eq!(east["sender_id"], "0x0100000020000001");
    assert_eq!(east["interval_ms"], 500);
    assert!(
        east["status"].as_str().unwrap().contains("PEs in"),
        "{east}"
    );
    // A registrar lists its ENRP associations (its peer; every hsdump
    // that asked it counts as one too while its association lasts).
    let peers = east["associations"].as_array().unwrap();
    assert!(
        peers
            .iter()
            .all(|a| a["receiver_kind"] == "registrar" && a["ppid"] == 12),
        "{east}"
    );
    assert!(!peers.is_empty(), "{east}");
    // A PE lists its association with its registrar, over ASAP (in its
    // first reports RSPLIB 3.4.4 names the registrar with object id 0).
    let pe = &reports["pe-other"];
    assert_eq!(pe["kind"], "pe");
    assert_eq!(pe["status"], "0 Sessions");
    let asap = pe["associations"].as_array().unwrap();
    assert_eq!(asap.len(), 1, "{pe}");
    assert_eq!(asap[0]["ppid"], 11);
    assert_eq!(asap[0]["receiver_kind"], "registrar");
}

#[test]
fn handlespace_shows_every_pe_at_every_registrar_with_its_process() {
    let lab = lab();
    let page = Page::on(&lab);
    // A PE killed and restarted by another test of this lab stays listed
    // (without a process) until the registrars' keep-alive drops it: ask
    // again until every listed element is a running PE, for up to 60 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let h = loop {
        let (status, h) = page.get("/api/handlespace");
        assert_eq!(status, 200, "{h}");
        let stale = h["registrars"].as_array().is_some_and(|rs| {
            rs.iter().any(|r| {
                r["pools"].as_object().is_some_and(|pools| {
                    pools.values().any(|p| {
                        p["elements"]
                            .as_array()
                            .is_some_and(|es| es.iter().any(|e| e["node"].is_null()))
                    })
                })
            })
        });
        if !stale || std::time::Instant::now() > deadline {
            break h;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let registrars = h["registrars"].as_array().expect("registrars");
    assert_eq!(registrars.len(), 2);
    for r in registrars {
        assert_eq!(r["error"], Value::Null, "{r}");
        let echo = r["pools"]["EchoPool"]["elements"]
            .as_array()
            .expect("EchoPool");
        let other = r["pools"]["OtherPool"]["elements"]
            .as_array()
            .expect("OtherPool");
        let mut nodes: Vec<&str> = echo
            .iter()
            .map(|e| e["node"].as_str().unwrap_or("?"))
            .collect();
        nodes.sort();
        assert_eq!(nodes, ["pe-east", "pe-west"], "{r}");
        assert_eq!(other.len(), 1);
        assert_eq!(other[0]["node"], "pe-other");
        assert_eq!(other[0]["home_registrar"], "registrar-west");
    }
}

#[test]
fn the_gateways_tap_reaches_the_page() {
    let lab = lab();
    let page = Page::on(&lab);
    let url = lab.gateway_url(1).expect("gateway url");
    assert!(
        lab.is_running("gateway").unwrap(),
        "{:?}",
        lab.logs("gateway", 20)
    );
    let tls = rserpool_gateway::client::tls_trusting(&lab.gateway_ca()).expect("lab CA");
    // Resolve through the gateway now and then while the stream is read
    // (the agent connects to the tap once a subscriber exists).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let resolver = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut c =
                    rserpool_gateway::client::Client::connect_ready(&url, tls, &Default::default())
                        .await
                        .expect("gateway session");
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    c.resolve("OtherPool").await.expect("resolution");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            })
        })
    };
    let mut seen = Vec::new();
    read_events(&page, Duration::from_secs(30), |kind, d| {
        if kind == "tap" {
            seen.push(d.clone());
        }
        seen.iter().any(|t| t["direction"] == "from-client")
            && seen.iter().any(|t| t["direction"] == "from-registrar")
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    resolver.join().expect("resolver");
    let request = seen
        .iter()
        .find(|t| t["direction"] == "from-client")
        .unwrap();
    assert_eq!(request["gateway"], "gateway");
    assert_eq!(request["message_type"], "ASAP Handle Resolution");
    assert!(request["t_ms"].as_u64().is_some());
}
