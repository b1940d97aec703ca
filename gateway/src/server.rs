//! Listening, TLS, the WebSocket handshake (path, subprotocol, Origin,
//! bearer token), connection caps, the metrics/tap listener and shutdown.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use client_core::gateway_protocol::SUBPROTOCOL;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::config::{Config, Route};
use crate::metrics::Metrics;
use crate::policy::ReportBudget;
use crate::session::{self, SessionContext};
use crate::tap::Tap;
use crate::upstream::Connector;

/// WebSocket read buffer per session (see the handshake).
const WS_READ_BUFFER: usize = 1024;

/// A client that cannot set headers (a browser's WebSocket) presents the
/// gateway's token as a second subprotocol value beside `rserpool.asap.v1`:
/// this prefix and the token in base64url without padding. The gateway
/// answers with `rserpool.asap.v1` only (docs/gateway.md, "Token").
pub const TOKEN_PROTOCOL_PREFIX: &str = "rserpool.token.";

/// The subprotocol value for `token` (after [`TOKEN_PROTOCOL_PREFIX`]).
pub fn token_protocol_value(token: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.as_bytes())
}

/// Compares a presented token with the configured one in constant time
/// (for equal lengths; the length itself is not secret).
fn token_matches(presented: &[u8], expected: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    presented.len() == expected.len() && bool::from(presented.ct_eq(expected))
}

/// A running gateway's shared state.
pub struct Gateway {
    pub config: Arc<Config>,
    pub connector: Arc<dyn Connector>,
    pub metrics: Arc<Metrics>,
    pub tap: Tap,
    tls: Option<tokio_rustls::TlsAcceptor>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    next_id: AtomicU64,
    /// Endpoint Unreachable budget per PE, shared by every session.
    reports: Arc<ReportBudget>,
    epoch: std::time::Instant,
}

/// The WebSocket settings of every session, sized for ASAP, whose messages
/// are small (issue 10, item 4): tungstenite's default 128 KiB read buffer
/// was most of the ~153 KB an idle session cost. Reads of
/// `WS_READ_BUFFER`; every message written at once (no write-side
/// batching); the write buffer bounded to one largest message plus a
/// little (the sink flushes before each send, so it never holds more).
/// Frames up to twice the payload limit reach the session and get a typed
/// `too-large` notice; beyond that tungstenite closes the connection (1009)
/// before buffering more.
pub fn ws_config(limits: &crate::Limits) -> WebSocketConfig {
    let max = 2 * (limits.max_payload + client_core::gateway_protocol::HEADER_LEN);
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(max + WS_READ_BUFFER)
}

/// The rustls server configuration: TLS 1.2 and 1.3 only, ring provider.
pub fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> Result<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("certificate {}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(cfg)
}

/// Releases a connection slot when the connection ends.
struct Slot<'a> {
    gw: &'a Gateway,
    ip: IpAddr,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut m = self.gw.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl Gateway {
    pub fn new(config: Config, connector: Arc<dyn Connector>) -> Result<Arc<Gateway>> {
        config.validate()?;
        let tls = match (&config.cert, &config.key, config.plaintext) {
            (Some(c), Some(k), false) => {
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(c, k)?)))
            }
            _ => None,
        };
        let reports = Arc::new(ReportBudget::from_limits(&config.limits));
        Ok(Arc::new(Gateway {
            config: Arc::new(config),
            connector,
            metrics: Arc::new(Metrics::default()),
            tap: Tap::default(),
            tls,
            per_ip: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            reports,
            epoch: std::time::Instant::now(),
        }))
    }

    fn take_slot(&self, ip: IpAddr) -> Option<Slot<'_>> {
        let mut m = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = m.values().sum();
        let mine = m.get(&ip).copied().unwrap_or(0);
        let l = &self.config.limits;
        if total >= l.max_connections || mine >= l.max_connections_per_ip {
            return None;
        }
        m.insert(ip, mine + 1);
        Some(Slot { gw: self, ip })
    }

    /// Accepts connections until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of descriptors: accepting again at once
                            // spins a core until sessions close. Back off.
                            if crate::upstream::is_exhaustion(&e) {
                                tracing::warn!("accept: {e}; backing off 100 ms");
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                            continue;
                        }
                    };
                    let gw = self.clone();
                    tasks.spawn(async move { gw.connection(tcp, peer).await });
                    // Reap finished connections so the set does not grow.
                    while tasks.try_join_next().is_some() {}
                }
            }
        }
        tracing::info!("shutting down: closing sessions");
        tasks.abort_all();
    }

    async fn connection(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr) {
        let Some(_slot) = self.take_slot(peer.ip()) else {
            self.metrics.connections_refused.inc();
            tracing::warn!(%peer, "connection cap reached");
            return;
        };
        let _ = tcp.set_nodelay(true);
        let timeout = self.config.limits.handshake_timeout();
        match &self.tls {
            Some(acceptor) => {
                // Boxed, like the WebSocket handshake below: a handshake's
                // state inlined here would stay allocated for the whole
                // life of the session (an async fn is as large as its
                // largest state).
                let tls = match tokio::time::timeout(timeout, Box::pin(acceptor.accept(tcp))).await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        self.metrics.handshakes_failed.inc();
                        tracing::info!(%peer, "TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        self.metrics.handshakes_failed.inc();
                        tracing::info!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                self.websocket(tls, peer, timeout).await
            }
            None => self.websocket(tcp, peer, timeout).await,
        }
    }

    async fn websocket<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        peer: SocketAddr,
        timeout: std::time::Duration,
    ) {
        let cfg = self.config.clone();
        let mut route: Option<Route> = None;
        let route_out = &mut route;
        // The signature is tungstenite's Callback trait; its error type is fixed.
        #[allow(clippy::result_large_err)]
        let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
            let refuse = |status: StatusCode, why: &str| {
                let mut r = ErrorResponse::new(Some(why.to_string()));
                *r.status_mut() = status;
                r
            };
            let Some(r) = cfg.route(req.uri().path()) else {
                return Err(refuse(StatusCode::NOT_FOUND, "no such registrar path"));
            };
            // Exactly one Origin that parses, or none (non-browser
            // clients): several, or one that is not text, fail closed.
            let mut origins = req.headers().get_all("origin").iter();
            let origin = match (origins.next(), origins.next()) {
                (None, _) => None,
                (Some(v), None) => match v.to_str() {
                    Ok(o) => Some(o),
                    Err(_) => {
                        return Err(refuse(StatusCode::FORBIDDEN, "Origin is not valid text"))
                    }
                },
                (Some(_), Some(_)) => {
                    return Err(refuse(StatusCode::FORBIDDEN, "more than one Origin header"))
                }
            };
            if !cfg.origin_allowed(origin) {
                return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed"));
            }
            let protocols: Vec<&str> = req
                .headers()
                .get_all("sec-websocket-protocol")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect();
            if let Some(token) = &cfg.bearer_token {
                let bearer = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "));
                let ok = bearer.is_some_and(|t| token_matches(t.as_bytes(), token.as_bytes()))
                    || protocols.iter().any(|p| {
                        p.strip_prefix(TOKEN_PROTOCOL_PREFIX).is_some_and(|t| {
                            token_matches(t.as_bytes(), token_protocol_value(token).as_bytes())
                        })
                    });
                if !ok {
                    return Err(refuse(StatusCode::UNAUTHORIZED, "token required"));
                }
            }
            let offered = protocols.contains(&SUBPROTOCOL);
            if !offered {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "subprotocol rserpool.asap.v1 required",
                ));
            }
            resp.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static(SUBPROTOCOL),
            );
            *route_out = Some(r.clone());
            Ok(resp)
        };
        let ws_cfg = ws_config(&self.config.limits);
        let ws = match tokio::time::timeout(
            timeout,
            // Boxed: the handshake's 8 KB state would otherwise stay inside
            // this future, and so in every idle session's task, after the
            // handshake (cargo bench -p rserpool-gateway --bench
            // session_memory; BENCHMARKS.md).
            Box::pin(tokio_tungstenite::accept_hdr_async_with_config(
                stream,
                callback,
                Some(ws_cfg),
            )),
        )
        .await
        {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                self.metrics.handshakes_failed.inc();
                tracing::info!(%peer, "WebSocket handshake refused: {e}");
                return;
            }
            Err(_) => {
                self.metrics.handshakes_failed.inc();
                tracing::info!(%peer, "WebSocket handshake timed out");
                return;
            }
        };
        let Some(route) = route else { return };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.metrics.sessions_total.inc();
        self.metrics.sessions_active.inc();
        tracing::info!(session = id, %peer, path = %route.path, "session up");
        session::run(
            ws,
            route,
            SessionContext {
                config: self.config.clone(),
                connector: self.connector.clone(),
                metrics: self.metrics.clone(),
                tap: self.tap.clone(),
                id,
                peer,
                reports: self.reports.clone(),
                epoch: self.epoch,
            },
        )
        .await;
        self.metrics.sessions_active.dec();
        tracing::info!(session = id, "session closed");
    }

    /// Serves `GET /metrics` (Prometheus text) and `GET /tap` (JSON lines,
    /// streaming) on a loopback listener.
    pub async fn serve_metrics(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let gw = self.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n =
                    match tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
                        .await
                    {
                        Ok(Ok(n)) => n,
                        _ => return,
                    };
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap_or("");
                match path {
                    "/metrics" => {
                        let body = gw.metrics.render();
                        let _ = s
                            .write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes())
                            .await;
                    }
                    "/tap" => {
                        let mut rx = gw.tap.subscribe();
                        if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\n").await.is_err() {
                            return;
                        }
                        while let Ok(ev) = rx.recv().await {
                            let mut line = serde_json::to_string(&ev).unwrap_or_default();
                            line.push('\n');
                            if s.write_all(line.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                    _ => {
                        let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                    }
                }
            });
        }
    }
}
