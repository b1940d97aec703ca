//! Gateway configuration: a TOML file, overridable by flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// A gateway URL path and the registrar it stands for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// URL path, e.g. `/asap` or `/asap/2`.
    pub path: String,
    /// The registrar's ASAP endpoint(s), all addresses of one registrar.
    pub registrar: Vec<SocketAddr>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest frame payload (ASAP message or application message).
    pub max_payload: usize,
    /// Pool-element sessions open at once per WebSocket session.
    pub max_sessions: usize,
    /// Handle Resolutions per second per session, and burst.
    pub hr_per_second: f64,
    pub hr_burst: u32,
    /// Endpoint Unreachable reports per second per session, and burst
    /// (RFC 5355 §2.13: a client must not evict PEs by flooding).
    pub eu_per_second: f64,
    pub eu_burst: u32,
    /// An Endpoint Unreachable for one PE is forwarded at most once per
    /// this interval per session (RFC 5355 §2.13).
    pub eu_session_pe_interval_ms: u64,
    /// Gateway-wide, over all sessions: at most `eu_pe_budget_burst`
    /// reports per PE at once, refilled one per `eu_pe_budget_interval_ms`.
    /// RSPLIB deletes a PE at its `-maxbadpereports`-th report (3 by
    /// default, counted over the whole registration), so with the defaults
    /// (1, 60 s) clients of this gateway alone need at least 2 minutes to
    /// evict a healthy PE, however many sessions they open.
    pub eu_pe_budget_burst: u32,
    pub eu_pe_budget_interval_ms: u64,
    /// WebSocket sessions open at once, in total and per client address.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// TLS + WebSocket handshake must finish within this.
    pub handshake_timeout_ms: u64,
    /// A session with no frame from the client for this long is closed.
    pub idle_timeout_ms: u64,
    /// SCTP connect to a registrar or PE (RSPLIB: 5 s towards PEs).
    pub connect_timeout_ms: u64,
    /// A message to the client that cannot be sent within this closes the
    /// session with 1008 (a client that never reads).
    pub write_timeout_ms: u64,
    /// Server Ping interval (below the idle timeout; Pongs are activity).
    pub ping_interval_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload: 65_536,
            max_sessions: 8,
            hr_per_second: 10.0,
            hr_burst: 20,
            eu_per_second: 1.0,
            eu_burst: 3,
            eu_session_pe_interval_ms: 60_000,
            eu_pe_budget_burst: 1,
            eu_pe_budget_interval_ms: 60_000,
            max_connections: 1024,
            max_connections_per_ip: 32,
            handshake_timeout_ms: 5_000,
            idle_timeout_ms: 300_000,
            connect_timeout_ms: 5_000,
            write_timeout_ms: 10_000,
            ping_interval_ms: 30_000,
        }
    }
}

/// Descriptors kept aside for listeners, logs and the runtime.
const RESERVED_FDS: usize = 64;

/// WebSocket sessions that `fds` descriptors hold when each session has
/// its TCP socket and its registrar association open, plus one PE session
/// on average (more PE sessions get `gateway-busy`, not a crash).
pub fn connections_for_fds(fds: usize) -> usize {
    fds.saturating_sub(RESERVED_FDS) / 3
}

impl Limits {
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms.max(1))
    }
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms.max(100))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: SocketAddr,
    /// PEM certificate chain and private key (TLS 1.2+).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Serve plain WebSocket instead of TLS: only allowed on loopback.
    pub plaintext: bool,
    /// Prometheus metrics and the message tap (`/metrics`, `/tap`); must be loopback.
    pub metrics: Option<SocketAddr>,
    /// If set, clients must present this token (`Authorization: Bearer`
    /// or the `rserpool.token.<base64url>` subprotocol; `--token-file`).
    pub bearer_token: Option<String>,
    /// Allowed `Origin` values (exact); `"*"` allows any. A request without
    /// Origin (not a browser) is allowed.
    pub allowed_origins: Vec<String>,
    #[serde(rename = "route")]
    pub routes: Vec<Route>,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8443".parse().expect("valid"),
            cert: None,
            key: None,
            plaintext: false,
            metrics: None,
            bearer_token: None,
            allowed_origins: vec!["*".into()],
            routes: Vec::new(),
            limits: Limits::default(),
        }
    }
}

impl Config {
    pub fn load(path: &std::path::Path) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Refuses configurations that would make the gateway unsafe to expose.
    pub fn validate(&self) -> Result<()> {
        if self.routes.is_empty() {
            bail!("no route: give at least one registrar (--registrar PATH=ADDR or [[route]])");
        }
        for r in &self.routes {
            if !r.path.starts_with('/') {
                bail!("route path {:?} must start with '/'", r.path);
            }
            if r.registrar.is_empty() {
                bail!("route {} has no registrar address", r.path);
            }
        }
        if self.plaintext {
            if !self.listen.ip().is_loopback() {
                bail!(
                    "plaintext WebSocket only on loopback ({} is not): use TLS",
                    self.listen
                );
            }
        } else if self.cert.is_none() || self.key.is_none() {
            bail!("TLS needs --cert and --key (PEM); plaintext only with --plaintext on loopback");
        }
        if let Some(m) = self.metrics {
            if !m.ip().is_loopback() {
                bail!("the metrics/tap listener must be on loopback ({m} is not)");
            }
        }
        if self.limits.max_payload > client_core::wire::consts::MAX_MESSAGE_LEN {
            bail!("max_payload above the ASAP maximum of 65536");
        }
        Ok(())
    }

    pub fn route(&self, path: &str) -> Option<&Route> {
        let path = path.split('?').next().unwrap_or(path);
        self.routes.iter().find(|r| r.path == path)
    }

    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(o) => self.allowed_origins.iter().any(|a| a == "*" || a == o),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        Config {
            plaintext: true,
            routes: vec![Route {
                path: "/asap".into(),
                registrar: vec!["10.1.0.1:3863".parse().unwrap()],
            }],
            ..Config::default()
        }
    }

    #[test]
    fn plaintext_is_refused_off_loopback() {
        let mut c = base();
        assert!(c.validate().is_ok());
        c.listen = "0.0.0.0:8080".parse().unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("loopback"));
    }

    #[test]
    fn tls_needs_certificate_and_key() {
        let mut c = base();
        c.plaintext = false;
        assert!(c.validate().unwrap_err().to_string().contains("--cert"));
    }

    #[test]
    fn origins_and_routes_match_exactly() {
        let mut c = base();
        c.allowed_origins = vec!["https://lab.example".into()];
        assert!(c.origin_allowed(None));
        assert!(c.origin_allowed(Some("https://lab.example")));
        assert!(!c.origin_allowed(Some("https://evil.example")));
        assert!(c.route("/asap?x=1").is_some());
        assert!(c.route("/asap/").is_none());
    }

    #[test]
    fn parses_a_config_file() {
        let c: Config = toml::from_str(
            r#"
            listen = "0.0.0.0:8443"
            cert = "g.pem"
            key = "g.key"
            allowed_origins = ["http://127.0.0.1:8080"]
            [[route]]
            path = "/asap/1"
            registrar = ["10.1.0.1:3863"]
            [limits]
            max_sessions = 2
            "#,
        )
        .unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.limits.max_sessions, 2);
        assert_eq!(c.limits.hr_burst, Limits::default().hr_burst);
    }
}
