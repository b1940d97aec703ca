//! `rserpool resolve POOL --registrar URL…`: ask registrars for a pool's
//! elements (ASAP Handle Resolution, RFC 5352 §3.5) and print them.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use client_core::wire::consts::{cause_code, HANDLE_RESOLUTION_ITEMS_ALL};
use client_core::wire::{
    self, AsapMessage, HandleResolution, HandleResolutionOption, HandleResolutionResponse, Message,
    PoolElement, PoolHandle, Protocol,
};

use crate::exit::{CliError, ExitStatus};
use crate::summary;
use crate::transport::{parse_endpoint, Channel, ConnectError, Endpoint};

/// Options shared by `resolve` and `session`: which registrars, how to trust
/// them, how long to wait.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistrarArgs {
    /// Registrar to ask: sctp://HOST[,HOST…][:PORT] (ASAP port 3863 by
    /// default) or wss://… through the gateway. Repeat to give fallbacks;
    /// they are tried in order.
    #[arg(long = "registrar", short = 'r', value_name = "URL", required = true)]
    pub registrars: Vec<String>,
    /// PEM file of the CA that signed the gateway's certificate (wss://).
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
        crate::wss::client_config(self.ca.as_deref())
            .map(Some)
            .map_err(|e| CliError::new(ExitStatus::BadInput, e.into()))
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

/// What went wrong with one registrar, kept to explain the final failure.
#[derive(Debug)]
pub enum Attempt {
    NoSctp(String),
    Tls(String),
    Unreachable(String),
    Failed(String),
}

/// Summarise failed attempts as one error with the most telling status:
/// no kernel SCTP beats TLS beats "unreachable".
pub fn attempts_error(what: &str, attempts: &[(Endpoint, Attempt)]) -> CliError {
    let mut lines = vec![format!("{what}: no registrar answered")];
    for (e, a) in attempts {
        let why = match a {
            Attempt::Tls(s) => format!("TLS: {s}"),
            Attempt::NoSctp(s) | Attempt::Unreachable(s) | Attempt::Failed(s) => s.clone(),
        };
        lines.push(format!("  {e}: {why}"));
    }
    let status = if !attempts.is_empty()
        && attempts
            .iter()
            .all(|(_, a)| matches!(a, Attempt::NoSctp(_)))
    {
        ExitStatus::NoSctp
    } else if attempts.iter().any(|(_, a)| matches!(a, Attempt::Tls(_)))
        && attempts
            .iter()
            .all(|(_, a)| matches!(a, Attempt::Tls(_) | Attempt::NoSctp(_)))
    {
        ExitStatus::Tls
    } else {
        ExitStatus::NoRegistrar
    };
    CliError::new(status, anyhow::anyhow!(lines.join("\n")))
}

/// A successful resolution.
#[derive(Debug)]
pub struct Resolution {
    pub registrar: Endpoint,
    pub response: HandleResolutionResponse,
}

/// Ask the registrars in turn until one answers.
pub async fn resolve(
    pool: &PoolHandle,
    endpoints: &[Endpoint],
    args: &RegistrarArgs,
) -> Result<Resolution, CliError> {
    let tls = args.tls(endpoints)?;
    let mut attempts = Vec::new();
    for endpoint in endpoints {
        match ask(pool, endpoint, args, tls.clone()).await {
            Ok(response) => {
                return Ok(Resolution {
                    registrar: endpoint.clone(),
                    response,
                })
            }
            Err(a) => {
                tracing::info!(registrar = %endpoint, "registrar failed: {a:?}");
                attempts.push((endpoint.clone(), a));
            }
        }
    }
    Err(attempts_error(&format!("resolving {pool}"), &attempts))
}

async fn ask(
    pool: &PoolHandle,
    endpoint: &Endpoint,
    args: &RegistrarArgs,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> Result<HandleResolutionResponse, Attempt> {
    let connect = Channel::connect(endpoint, tls);
    let channel =
        match tokio::time::timeout(Duration::from_millis(args.connect_timeout), connect).await {
            Err(_) => {
                return Err(Attempt::Unreachable(format!(
                    "no association within {} ms",
                    args.connect_timeout
                )))
            }
            Ok(Err(ConnectError::NoSctp(e))) => return Err(Attempt::NoSctp(e.to_string())),
            Ok(Err(ConnectError::Tls(e))) => return Err(Attempt::Tls(e)),
            Ok(Err(e)) => return Err(Attempt::Unreachable(e.to_string())),
            Ok(Ok(c)) => c,
        };
    ask_on(&channel, pool, args.response_timeout).await
}

/// Send a Handle Resolution on an open registrar channel and wait up to
/// `response_timeout_ms` for the response.
pub async fn ask_on(
    channel: &Channel,
    pool: &PoolHandle,
    response_timeout_ms: u64,
) -> Result<HandleResolutionResponse, Attempt> {
    // Items = "all": list every element the registrar will give
    // (draft-dreibholz-rserpool-asap-hropt; rserpool-wire §3.12).
    let request = Message::Asap(AsapMessage::HandleResolution(HandleResolution {
        pool_handle: pool.clone(),
        option: Some(HandleResolutionOption {
            items: HANDLE_RESOLUTION_ITEMS_ALL,
        }),
    }));
    channel
        .send(request.ppid(), &request.to_bytes())
        .await
        .map_err(|e| Attempt::Failed(e.to_string()))?;
    let wait = Duration::from_millis(response_timeout_ms);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (ppid, bytes) = match tokio::time::timeout_at(deadline, channel.recv()).await {
            Err(_) => {
                return Err(Attempt::Failed(format!(
                    "no answer within {response_timeout_ms} ms"
                )))
            }
            Ok(Err(e)) => return Err(Attempt::Failed(e.to_string())),
            Ok(Ok(m)) => m,
        };
        if Protocol::from_ppid(ppid) != Some(Protocol::Asap) {
            continue;
        }
        let decoded = wire::decode(Protocol::Asap, &bytes)
            .map_err(|e| Attempt::Failed(format!("undecodable answer: {e}")))?;
        match decoded.message {
            Message::Asap(AsapMessage::HandleResolutionResponse(r)) => return Ok(r),
            // Keep-alives and other unsolicited messages are not answers.
            Message::Asap(AsapMessage::Error(e)) => {
                return Err(Attempt::Failed(format!(
                    "registrar sent ASAP Error {:?}",
                    e.causes
                )))
            }
            _ => continue,
        }
    }
}

/// Map a response to "found" or the pool-not-found error.
pub fn check_found(pool: &PoolHandle, r: &Resolution) -> Result<(), CliError> {
    if let Some(err) = &r.response.error {
        let unknown = err
            .causes
            .iter()
            .any(|c| c.code.0 == cause_code::UNKNOWN_POOL_HANDLE);
        let text = if unknown {
            // RSPLIB answers rate-limited requests the same way (lab notes).
            format!("pool {pool} not found at {} (cause 0x0009: unknown pool handle, or the request was rate-limited)", r.registrar)
        } else {
            let causes: Vec<String> = err
                .causes
                .iter()
                .map(|c| format!("0x{:04x}", c.code.0))
                .collect();
            format!(
                "{} refused resolving {pool}: causes {}",
                r.registrar,
                causes.join(",")
            )
        };
        return Err(CliError::new(
            ExitStatus::PoolNotFound,
            anyhow::anyhow!(text),
        ));
    }
    if r.response.elements.is_empty() {
        return Err(CliError::new(
            ExitStatus::PoolNotFound,
            anyhow::anyhow!("pool {pool} has no pool elements at {}", r.registrar),
        ));
    }
    Ok(())
}

/// The resolution as a table.
pub fn table(pool: &PoolHandle, r: &Resolution) -> String {
    let mut out = format!("pool {pool} via {}", r.registrar);
    if let Some(p) = &r.response.policy {
        out.push_str(&format!(", policy {}", summary::policy(p)));
    }
    out.push('\n');
    let rows: Vec<[String; 5]> = r
        .response
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
                addrs.join(","),
            ]
        })
        .collect();
    let header = ["PE", "TRANSPORT", "PORT", "POLICY", "ADDRESSES"];
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
    })
}

pub fn json(pool: &PoolHandle, r: &Resolution) -> serde_json::Value {
    serde_json::json!({
        "pool": pool.to_string(),
        "registrar": r.registrar.to_string(),
        "policy": r.response.policy.as_ref().map(summary::policy),
        "elements": r.response.elements.iter().map(element_json).collect::<Vec<_>>(),
    })
}

/// `rserpool resolve`.
pub fn run(args: &ResolveArgs, as_json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let endpoints = args.registrar.endpoints()?;
    let pool = PoolHandle::from(args.pool.as_str());
    let rt = crate::runtime()?;
    let resolution = rt.block_on(resolve(&pool, &endpoints, &args.registrar))?;
    check_found(&pool, &resolution)?;
    let text = if as_json {
        format!("{}\n", json(&pool, &resolution))
    } else {
        table(&pool, &resolution)
    };
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::new(ExitStatus::Failure, e.into()))
}
