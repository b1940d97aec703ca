//! `rserpool resolve POOL --registrar URL…`: ask registrars for a pool's
//! elements (ASAP Handle Resolution, RFC 5352 §3.5) and print them. The
//! registrar hunt, retries and cause interpretation are client-core's pool
//! user; this module turns its answer into a table and an exit status.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use client_core::pool_user::{Config, Event, PoolUser, ResolveError};
use client_core::wire::{PoolElement, PoolHandle};

use rserpool_client::{
    parse_endpoint, ConnectFailure, Driver, Endpoint, FailureKind, GatewayOptions, NetConnector,
};

use crate::exit::{CliError, ExitStatus};
use crate::summary;

/// Options shared by `resolve` and `session`: which registrars, how to trust
/// them, how long to wait.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistrarArgs {
    /// Registrar to ask: sctp://HOST[,HOST…][:PORT] (ASAP port 3863 by
    /// default) or wss://… through the gateway. Repeat to give fallbacks;
    /// they are tried in order. Default: `RSERPOOL_REGISTRAR` (comma
    /// separated), else the running lab's gateways.
    #[arg(long = "registrar", short = 'r', value_name = "URL")]
    pub registrars: Vec<String>,
    /// PEM file of the CA that signed the gateway's certificate (wss://).
    /// Default: `RSERPOOL_CA`, else the running lab's CA.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Milliseconds to wait for a registrar association (RSPLIB's registrar
    /// connect timeout is 7500).
    #[arg(long, value_name = "MS", default_value_t = 7500)]
    pub connect_timeout: u64,
    /// Milliseconds to wait for a registrar's answer (RSPLIB: 3000).
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub response_timeout: u64,
}

impl RegistrarArgs {
    /// Parse every URL up front so that a typo is a usage error, not a
    /// runtime failure after the first registrar was tried.
    /// TLS trust for `wss://` registrars (`--ca`, else the web PKI), built
    /// only when some registrar is `wss://`.
    pub fn tls(
        &self,
        endpoints: &[Endpoint],
    ) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>, CliError> {
        if !endpoints.iter().any(|e| matches!(e, Endpoint::Wss { .. })) {
            return Ok(None);
        }
        rserpool_client::tls::client_config(self.ca.as_deref())
            .map(Some)
            .map_err(|e| CliError::new(ExitStatus::BadInput, anyhow::anyhow!("--ca {e}")))
    }

    pub fn endpoints(&self) -> Result<Vec<Endpoint>, CliError> {
        if let Some(ca) = &self.ca {
            std::fs::metadata(ca).map_err(|e| {
                CliError::new(
                    ExitStatus::BadInput,
                    anyhow::anyhow!("--ca {}: {e}", ca.display()),
                )
            })?;
        }
        self.registrars
            .iter()
            .map(|u| {
                parse_endpoint(u).map_err(|e| {
                    CliError::new(ExitStatus::Usage, anyhow::anyhow!("--registrar {u}: {e}"))
                })
            })
            .collect()
    }

    /// The pool user's configuration: these registrars in this order,
    /// RSPLIB's defaults otherwise. Announces are not listened to (the CLI
    /// has no multicast socket), so only the given registrars are used.
    pub fn config(&self, endpoints: &[Endpoint]) -> Config {
        Config {
            registrars: endpoints.iter().map(|e| e.to_string()).collect(),
            use_announced_registrars: false,
            registrar_connect_timeout: Duration::from_millis(self.connect_timeout),
            response_timeout: Duration::from_millis(self.response_timeout),
            trace: false,
            ..Config::default()
        }
    }

    /// A driver over the real network for these arguments.
    pub fn driver(&self) -> Result<Driver, CliError> {
        self.driver_with(0, |_| {})
    }

    /// Like [`Self::driver`], with a last adjustment of the configuration.
    /// `app_ppid` is the sessions' data PPID (announced to a gateway).
    pub fn driver_with(
        &self,
        app_ppid: u32,
        adjust: impl FnOnce(&mut Config),
    ) -> Result<Driver, CliError> {
        let endpoints = self.endpoints()?;
        let tls = self.tls(&endpoints)?;
        let mut config = self.config(&endpoints);
        adjust(&mut config);
        Ok(
            Driver::new(PoolUser::new(config), Arc::new(NetConnector)).with_gateway(
                GatewayOptions {
                    tls,
                    token: crate::gateway_token(),
                    app_ppid,
                },
            ),
        )
    }
}

/// Arguments of `rserpool resolve`.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// Pool handle, e.g. EchoPool.
    #[arg(value_name = "POOL")]
    pub pool: String,
    #[command(flatten)]
    pub registrar: RegistrarArgs,
}

/// A resolution failure as the user reads it, with its exit status. The
/// connection failures the driver saw explain "no registrar reachable":
/// all "no kernel SCTP" → 13, all TLS (or no SCTP) → 11.
pub fn resolve_error(
    pool: &PoolHandle,
    error: &ResolveError,
    failures: &[(String, ConnectFailure)],
) -> CliError {
    let status = match error {
        ResolveError::NoSuchPool { .. } | ResolveError::NoUsableElement => ExitStatus::PoolNotFound,
        ResolveError::NoRegistrarReachable { .. } => {
            let kinds: Vec<FailureKind> = failures.iter().map(|(_, f)| f.kind).collect();
            if !kinds.is_empty() && kinds.iter().all(|k| *k == FailureKind::NoSctp) {
                ExitStatus::NoSctp
            } else if kinds.contains(&FailureKind::Tls)
                && kinds.iter().all(|k| *k != FailureKind::Unreachable)
            {
                ExitStatus::Tls
            } else {
                ExitStatus::NoRegistrar
            }
        }
        ResolveError::Timeout { .. } => ExitStatus::NoRegistrar,
        ResolveError::Refused { .. } => ExitStatus::Failure,
    };
    let mut text = format!("resolving {pool}: {error}");
    if matches!(error, ResolveError::NoSuchPool { .. }) {
        // RSPLIB answers rate-limited requests exactly like an unknown pool
        // (docs/rsplib-behaviour.md, "Unknown pool and rate limiting look
        // the same").
        text.push_str(" — cause 0x0009: unknown pool handle, or the registrar's rate limit refused the request");
    }
    // Each distinct reason once, in the order seen.
    let mut seen: Vec<String> = Vec::new();
    for (what, f) in failures {
        let line = match f.kind {
            FailureKind::Tls => format!("  {what}: TLS: {}", f.text.trim_start_matches("TLS: ")),
            _ => format!("  {what}: {}", f.text),
        };
        if !seen.contains(&line) {
            seen.push(line);
        }
    }
    for line in seen {
        text.push('\n');
        text.push_str(&line);
    }
    CliError::new(status, anyhow::anyhow!(text))
}

/// A successful resolution.
#[derive(Debug)]
pub struct Resolution {
    /// The registrar that answered, if known.
    pub registrar: Option<String>,
    pub elements: Vec<PoolElement>,
}

/// Resolve through the driver's pool user.
pub async fn resolve(driver: &mut Driver, pool: &PoolHandle) -> Result<Resolution, CliError> {
    let now = driver.now();
    let request = driver.pool_user().resolve(pool.clone(), now);
    loop {
        match driver.next_event().await {
            Event::Resolved {
                request: r,
                elements,
                ..
            } if r == request => {
                let registrar = driver.pool_user().home_registrar().map(str::to_string);
                return Ok(Resolution {
                    registrar,
                    elements,
                });
            }
            Event::ResolveFailed {
                request: r, error, ..
            } if r == request => {
                return Err(resolve_error(pool, &error, driver.connect_failures()));
            }
            other => log_event(&other),
        }
    }
}

/// Background events, visible with `-v`.
pub fn log_event(e: &Event) {
    match e {
        Event::RegistrarUp { endpoint, .. } => tracing::info!(%endpoint, "registrar up"),
        Event::RegistrarChanged { from, to } => tracing::info!(%from, %to, "registrar changed"),
        Event::RegistrarFailed { endpoint, reason } => {
            tracing::info!(%endpoint, ?reason, "registrar failed")
        }
        Event::ElementSkipped {
            element, reason, ..
        } => tracing::info!(%element, %reason, "pool element skipped"),
        Event::Error { channel, error } => tracing::info!(?channel, %error, "dropped input"),
        other => tracing::debug!(?other, "event"),
    }
}

/// The resolution as a table.
pub fn table(pool: &PoolHandle, r: &Resolution) -> String {
    let mut out = format!("pool {pool}");
    if let Some(reg) = &r.registrar {
        out.push_str(&format!(" via {reg}"));
    }
    out.push('\n');
    let rows: Vec<[String; 6]> = r
        .elements
        .iter()
        .map(|e| {
            let addrs: Vec<String> = e
                .user_transport
                .addresses
                .iter()
                .map(|a| a.to_string())
                .collect();
            [
                e.id.to_string(),
                format!("{:?}", e.user_transport.protocol).to_lowercase(),
                format!("{}", e.user_transport.port),
                summary::policy(&e.policy),
                e.home_registrar.to_string(),
                addrs.join(","),
            ]
        })
        .collect();
    let header = ["PE", "TRANSPORT", "PORT", "POLICY", "HOME", "ADDRESSES"];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  "));
            }
        }
        l.push('\n');
        l
    };
    out.push_str(&line(header.to_vec()));
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

pub fn element_json(e: &PoolElement) -> serde_json::Value {
    serde_json::json!({
        "id": e.id.0,
        "id_hex": e.id.to_string(),
        "home_registrar": e.home_registrar.0,
        "registration_life_ms": e.registration_life_ms,
        "transport": format!("{:?}", e.user_transport.protocol).to_lowercase(),
        "port": e.user_transport.port,
        "addresses": e.user_transport.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "carries_control": e.user_transport.carries_control(),
        "policy": summary::policy(&e.policy),
        "policy_code": policy_words(&e.policy).first(),
        "policy_values": policy_words(&e.policy).get(1..),
    })
}

/// The policy as on the wire (RFC 5354 §3.8, RFC 5356): type code, then
/// its values, e.g. `[0x00000002, 7]` for Weighted Round Robin weight 7.
fn policy_words(p: &client_core::wire::SelectionPolicy) -> Vec<u32> {
    use client_core::wire::Codec;
    let tlv = p.to_bytes();
    let len = tlv
        .get(2..4)
        .map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
    tlv.get(4..len.min(tlv.len()))
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .collect()
}

pub fn json(pool: &PoolHandle, r: &Resolution) -> serde_json::Value {
    serde_json::json!({
        "pool": pool.to_string(),
        "registrar": r.registrar,
        "elements": r.elements.iter().map(element_json).collect::<Vec<_>>(),
    })
}

/// `rserpool resolve`.
pub fn run(args: &ResolveArgs, as_json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let mut driver = args.registrar.driver()?;
    let pool = PoolHandle::from(args.pool.as_str());
    let rt = crate::runtime()?;
    let resolution = rt.block_on(resolve(&mut driver, &pool))?;
    // Registrars that failed before one answered: a URL whose certificate
    // was refused must not go unnoticed because a later one worked (RFC
    // 5355 §3.1: the user should know which registrar was not trusted).
    let failed = driver.connect_failures();
    let text = if as_json {
        let mut v = json(&pool, &resolution);
        let mut attempts: Vec<serde_json::Value> = failed
            .iter()
            .map(|(what, f)| {
                serde_json::json!({
                    "registrar": what,
                    "outcome": f.kind.as_str(),
                    "error": f.text,
                })
            })
            .collect();
        attempts
            .push(serde_json::json!({"registrar": resolution.registrar, "outcome": "answered"}));
        v["attempts"] = serde_json::Value::Array(attempts);
        format!("{v}\n")
    } else {
        for (what, f) in failed {
            eprintln!("rserpool: skipped {what}: {}", f.text);
        }
        table(&pool, &resolution)
    };
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::new(ExitStatus::Failure, e.into()))
}
