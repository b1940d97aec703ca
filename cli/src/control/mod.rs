//! The lab control server: the HTTP side of the lab page, run inside the
//! `rserpool lab up` process (`docs/lab-page.md` is its reference).
//!
//! It listens on 127.0.0.1 only and holds a secret that is random per run:
//! `lab up` prints `http://127.0.0.1:PORT/#key=SECRET`, the page reads the
//! key from the fragment (which browsers never send) and sends it as
//! `X-Lab-Key` on every `/api` request. Every `/api` route refuses a
//! request without it (401), so another page or local user who can reach
//! the port cannot kill or restart anything. The server reaches the lab
//! through its agent, exactly as the other `lab` commands do; it serves the
//! built page (`lab-ui/dist`) from disk.

mod assets;
mod events;
mod handlespace;
mod library;
pub(crate) mod nodes;
mod runs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rserpool_lab::proto::{ProcessState, Request as AgentRequest, Response as AgentResponse};
use rserpool_lab::topology::{ProcessKind, ENRP_PORT};
use rserpool_lab::{request_agent, Lab, Mode, Topology};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use events::PageEvent;
pub use library::ScenarioLibrary;
pub use runs::{RunOutcome, RunProgress, RunRequest, ScenarioRunner};

/// The header that carries the run's secret on every `/api` request.
pub const KEY_HEADER: &str = "x-lab-key";

/// Environment variable naming the directory of the built page.
pub const UI_DIR_ENV: &str = "RSERPOOL_LAB_UI";

/// What the control server needs to know about the running lab: how to
/// reach its agent and what it was started with.
#[derive(Clone, Debug)]
pub struct LabAccess {
    pub mode: Mode,
    /// The topology the lab was started with (never the default's drawing).
    pub topology: Topology,
    pub agent: String,
    pub token: String,
    pub gateway_urls: Vec<String>,
    /// The directory the lab shares with the host: runs from the page are
    /// captured into it (`None`: runs without a capture).
    pub share: Option<rserpool_lab::Share>,
}

impl LabAccess {
    pub fn of(lab: &Lab) -> LabAccess {
        let n = lab.topology().registrars.len();
        LabAccess {
            mode: lab.mode(),
            topology: lab.topology().clone(),
            agent: lab.agent_addr().to_string(),
            token: lab.token().to_string(),
            gateway_urls: (1..=n).filter_map(|i| lab.gateway_url(i)).collect(),
            share: Some(lab.share()),
        }
    }

    fn request(&self, req: AgentRequest) -> Result<AgentResponse> {
        request_agent(&self.agent, &self.token, req)
    }
}

/// How to run the control server.
#[derive(Clone)]
pub struct ControlOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Directory of the built page (`index.html` and its assets).
    pub ui_dir: PathBuf,
    /// What runs scenarios (`/api/runs`); without one those answer 501
    /// (the catalogue is served regardless).
    pub runner: Option<Arc<dyn ScenarioRunner>>,
}

impl Default for ControlOptions {
    fn default() -> Self {
        ControlOptions {
            port: 0,
            ui_dir: default_ui_dir(),
            runner: None,
        }
    }
}

/// `$RSERPOOL_LAB_UI`, else the repository's `lab-ui/dist` (where
/// `scripts/setup` builds the page).
pub fn default_ui_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(UI_DIR_ENV) {
        return PathBuf::from(d);
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lab-ui/dist")
        .components()
        .collect()
}

/// A running control server; dropping it stops it.
pub struct ControlServer {
    addr: SocketAddr,
    secret: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    relay: events::AgentRelay,
}

impl ControlServer {
    /// Binds 127.0.0.1:`opts.port` and serves on a thread of its own.
    pub fn start(lab: LabAccess, opts: ControlOptions) -> Result<ControlServer> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", opts.port))
            .with_context(|| format!("binding the lab page's port 127.0.0.1:{}", opts.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let secret = random_secret()?;
        let hub = events::EventHub::default();
        let ports = nodes::PortNames::start(lab.clone());
        let naming = events::Naming {
            registrars: nodes::registrar_names(&lab),
            ports: Some(ports.clone()),
        };
        let relay =
            events::AgentRelay::start(lab.agent.clone(), lab.token.clone(), hub.clone(), naming);
        let state = Arc::new(Shared {
            lab,
            ports,
            secret: secret.clone(),
            hub,
            ui_dir: opts.ui_dir,
            runner: opts.runner,
            catalogue: rserpool_scenarios::Catalogue::builtin(),
            runs: runs::Runs::default(),
        });
        let app = router(state);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("lab-control".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("lab page listener: {e}");
                            return;
                        }
                    };
                    tokio::select! {
                        r = axum::serve(listener, app) => {
                            if let Err(e) = r {
                                tracing::error!("lab page server: {e}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime ends every open connection,
                // event streams included.
            })?;
        Ok(ControlServer {
            addr,
            secret,
            stop: Some(stop),
            thread: Some(thread),
            relay,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The run's secret (the `X-Lab-Key` value).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `http://127.0.0.1:PORT/#key=SECRET`: what the user opens.
    pub fn page_url(&self) -> String {
        format!("http://127.0.0.1:{}/#key={}", self.addr.port(), self.secret)
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.relay.stop();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// 128 random bits from the kernel, as hex.
fn random_secret() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(hex::encode(b))
}

struct Shared {
    lab: LabAccess,
    ports: nodes::PortNames,
    secret: String,
    hub: events::EventHub,
    ui_dir: PathBuf,
    runner: Option<Arc<dyn ScenarioRunner>>,
    catalogue: rserpool_scenarios::Catalogue,
    runs: runs::Runs,
}

type AppState = Arc<Shared>;

fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/lab", get(get_lab))
        .route("/status", get(get_status))
        .route("/handlespace", get(handlespace::get))
        .route("/nodes/{name}/{action}", post(node_action))
        .route("/events", get(events::stream))
        .route("/scenarios", get(runs::catalogue))
        .route("/runs", post(runs::start))
        .route("/runs/{id}", get(runs::get))
        .route("/runs/{id}/stop", post(runs::stop))
        .route("/runs/{id}/pcap", get(runs::pcap))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no-such-endpoint",
                "no such API endpoint",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .nest("/api", api)
        .fallback(assets::serve)
        .with_state(state)
}

/// A typed API error: `{"error": code, "message": text}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn agent(e: anyhow::Error) -> ApiError {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "agent-unreachable",
            format!("the lab agent did not answer: {e:#}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": self.code, "message": self.message })),
        )
            .into_response()
    }
}

#[derive(Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

/// Every `/api` request carries the run's secret in `X-Lab-Key`. The event
/// stream may carry it as `?key=` instead: a browser's `EventSource` cannot
/// send headers.
async fn require_key(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let query = if req.uri().path().ends_with("/events") {
        Query::<KeyQuery>::try_from_uri(req.uri())
            .ok()
            .and_then(|q| q.0.key)
    } else {
        None
    };
    let given = header.or(query);
    match given {
        Some(k) if rserpool_lab::agent::constant_time_eq(&k, &s.secret) => next.run(req).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong-key",
            "X-Lab-Key does not match this run's secret (see the URL `lab up` printed)",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing-key",
            "send the run's secret in X-Lab-Key (the #key=… part of the URL `lab up` printed)",
        )
        .into_response(),
    }
}

/// Runs a blocking agent request off the async threads.
async fn ask_agent(s: &AppState, req: AgentRequest) -> Result<AgentResponse, ApiError> {
    let lab = s.lab.clone();
    tokio::task::spawn_blocking(move || lab.request(req))
        .await
        .map_err(|e| ApiError::agent(e.into()))?
        .map_err(ApiError::agent)
}

async fn agent_status(s: &AppState) -> Result<Vec<ProcessState>, ApiError> {
    match ask_agent(s, AgentRequest::Status).await? {
        AgentResponse::Status { processes, .. } => Ok(processes),
        other => Err(ApiError::agent(anyhow::anyhow!(
            "unexpected answer {other:?}"
        ))),
    }
}

/// `GET /api/lab`: the lab as it was started.
#[derive(Serialize)]
struct LabDescription {
    mode: &'static str,
    topology: TopologyDescription,
    gateway_urls: Vec<String>,
    /// Component Status reporting: the interval each report states too
    /// (a node is stale after a few missed ones); `null` when off.
    csp_interval_ms: Option<u64>,
}

#[derive(Serialize)]
struct TopologyDescription {
    registrars: Vec<RegistrarDescription>,
    pool_elements: Vec<PoolElementDescription>,
    processes: Vec<ProcessDescription>,
}

#[derive(Serialize)]
struct RegistrarDescription {
    name: String,
    /// Its registrar (server) identifier, as in ENRP and CSP.
    id: u32,
    asap: String,
    enrp: String,
}

#[derive(Serialize)]
struct PoolElementDescription {
    name: String,
    pool: String,
    registrar: String,
}

#[derive(Serialize)]
struct ProcessDescription {
    name: String,
    kind: ProcessKind,
}

fn describe(lab: &LabAccess) -> LabDescription {
    let t = &lab.topology;
    let asap = t.registrar_asap_endpoints();
    LabDescription {
        mode: match lab.mode {
            Mode::Native => "native",
            Mode::Vm => "vm",
        },
        topology: TopologyDescription {
            registrars: t
                .registrars
                .iter()
                .zip(asap)
                .enumerate()
                .map(|(i, (r, asap))| RegistrarDescription {
                    name: r.name.clone(),
                    id: r.id,
                    asap,
                    enrp: format!("{}:{ENRP_PORT}", Topology::registrar_address(i)),
                })
                .collect(),
            pool_elements: t
                .pool_elements
                .iter()
                .map(|p| PoolElementDescription {
                    name: p.name.clone(),
                    pool: p.pool.clone(),
                    registrar: p.registrar.clone(),
                })
                .collect(),
            processes: t
                .process_specs()
                .into_iter()
                .map(|p| ProcessDescription {
                    name: p.name,
                    kind: p.kind,
                })
                .collect(),
        },
        gateway_urls: lab.gateway_urls.clone(),
        csp_interval_ms: (t.csp.interval_ms > 0).then_some(t.csp.interval_ms),
    }
}

async fn get_lab(State(s): State<AppState>) -> Json<LabDescription> {
    Json(describe(&s.lab))
}

/// `GET /api/status`: every process's state (as `lab status --json`).
async fn get_status(State(s): State<AppState>) -> Result<Json<Vec<ProcessState>>, ApiError> {
    Ok(Json(agent_status(&s).await?))
}

/// What a node action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeAction {
    /// SIGKILL: gone without a word (failure injection).
    Kill,
    /// SIGINT: an RSPLIB PE deregisters, a registrar shuts down.
    Stop,
    /// Kill if running, then start again.
    Restart,
}

impl NodeAction {
    fn parse(s: &str) -> Option<NodeAction> {
        match s {
            "kill" => Some(NodeAction::Kill),
            "stop" => Some(NodeAction::Stop),
            "restart" => Some(NodeAction::Restart),
            _ => None,
        }
    }
}

/// `POST /api/nodes/NAME/kill|stop|restart`: answers with the process's
/// state once the agent has done it.
async fn node_action(
    State(s): State<AppState>,
    Path((name, action)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(act) = NodeAction::parse(&action) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-action",
            format!("no node action {action:?} (use kill, stop or restart)"),
        ));
    };
    if !s
        .lab
        .topology
        .process_specs()
        .iter()
        .any(|p| p.name == name)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-node",
            format!("this lab has no node named {name:?}"),
        ));
    }
    let req = match act {
        NodeAction::Kill => AgentRequest::Kill { name: name.clone() },
        NodeAction::Stop => AgentRequest::Stop { name: name.clone() },
        NodeAction::Restart => AgentRequest::Restart { name: name.clone() },
    };
    match ask_agent(&s, req).await? {
        AgentResponse::Ok => {}
        // e.g. "pe-1 is not running": the lab refused, nothing changed.
        AgentResponse::Error { message } => {
            return Err(ApiError::new(StatusCode::CONFLICT, "refused", message))
        }
        other => {
            return Err(ApiError::agent(anyhow::anyhow!(
                "unexpected answer {other:?}"
            )))
        }
    }
    let process = agent_status(&s).await?.into_iter().find(|p| p.name == name);
    Ok(Json(
        json!({ "name": name, "action": action, "process": process }),
    ))
}
