//! `rserpool session POOL --registrar URL…`: like RSPLIB's `rspterminal`.
//! Lines from stdin go to a pool element, its replies are printed, and when
//! the element fails the session fails over to another one (RFC 5351 §4,
//! RFC 5352 §3.7–3.9).
//!
//! Until client-core's pool-user state machine lands, this module holds the
//! small amount of session logic itself (pick the next element the
//! registrar returned, re-resolve on failure, Cookie Echo to the new
//! element); the driver loop around it stays the same once it moves there.

use std::collections::HashSet;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use client_core::wire::consts::PPID_APPLICATION_DEFAULT;
use client_core::wire::{
    self, AsapMessage, Cookie, EndpointUnreachable, Message, PoolElement, PoolElementId,
    PoolHandle, Protocol,
};
use tokio::io::AsyncBufReadExt;

use crate::exit::{CliError, ExitStatus};
use crate::resolve::{self, RegistrarArgs};
use crate::transport::{Channel, ConnectError, Endpoint};

/// Arguments of `rserpool session`.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// Pool handle, e.g. EchoPool.
    #[arg(value_name = "POOL")]
    pub pool: String,
    #[command(flatten)]
    pub registrar: RegistrarArgs,
    /// SCTP PPID of the lines sent (0 = plain data, as rspterminal; Echo
    /// service 38).
    #[arg(long, default_value_t = PPID_APPLICATION_DEFAULT)]
    pub ppid: u32,
    /// Milliseconds to wait for a pool element association (RSPLIB: 5000).
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub pe_connect_timeout: u64,
    /// How many failovers to attempt before giving up.
    #[arg(long, default_value_t = 8)]
    pub max_failovers: u32,
    /// Report a failed pool element to the registrar (ASAP Endpoint
    /// Unreachable). RSPLIB's rspterminal does not; RFC 5352 §3.7 suggests it.
    #[arg(long)]
    pub report_unreachable: bool,
}

/// Something the user should hear about.
#[derive(Debug)]
enum Notice {
    Connected { pe: PoolElementId, addr: String },
    Failover { from: PoolElementId, reason: String },
    Reported { pe: PoolElementId },
}

fn notice(as_json: bool, n: &Notice) {
    let (event, text, json) = match n {
        Notice::Connected { pe, addr } => (
            "connected",
            format!("connected to pool element {pe} at {addr}"),
            serde_json::json!({"event": "connected", "pe": pe.to_string(), "addr": addr}),
        ),
        Notice::Failover { from, reason } => (
            "failover",
            format!("pool element {from} failed ({reason}); failing over"),
            serde_json::json!({"event": "failover", "from": from.to_string(), "reason": reason}),
        ),
        Notice::Reported { pe } => (
            "reported",
            format!("reported pool element {pe} as unreachable to the registrar"),
            serde_json::json!({"event": "endpoint-unreachable-sent", "pe": pe.to_string()}),
        ),
    };
    let _ = event;
    if as_json {
        println!("{json}");
    } else {
        eprintln!("rserpool: {text}");
    }
}

fn pe_addrs(e: &PoolElement) -> Vec<SocketAddr> {
    let port = e.user_transport.port;
    let mut addrs: Vec<SocketAddr> = e
        .user_transport
        .addresses
        .iter()
        // RSPLIB drops loopback/link-local from what it advertises to
        // others, but a PE in the lab may list 127.0.0.1 too: try routable
        // addresses first.
        .map(|a| SocketAddr::new(*a, port))
        .collect();
    addrs.sort_by_key(|a| a.ip().is_loopback());
    // One family per association (see transport::connect_sctp).
    if let Some(first) = addrs.first().copied() {
        addrs.retain(|a| a.is_ipv4() == first.is_ipv4());
    }
    addrs
}

/// The open session with one pool element.
struct Connected {
    pe: PoolElementId,
    channel: Channel,
}

struct Session<'a> {
    args: &'a SessionArgs,
    pool: PoolHandle,
    endpoints: Vec<Endpoint>,
    failed: HashSet<PoolElementId>,
    cookie: Option<Cookie>,
    as_json: bool,
}

impl Session<'_> {
    /// Resolve and connect to an element not known to have failed.
    async fn connect(&mut self) -> Result<Connected, CliError> {
        let resolution =
            resolve::resolve(&self.pool, &self.endpoints, &self.args.registrar).await?;
        resolve::check_found(&self.pool, &resolution)?;
        let mut last_error = String::new();
        let mut candidates: Vec<&PoolElement> = resolution
            .response
            .elements
            .iter()
            .filter(|e| !self.failed.contains(&e.id))
            .collect();
        if candidates.is_empty() {
            // Every element failed once; they may be back, start over.
            self.failed.clear();
            candidates = resolution.response.elements.iter().collect();
        }
        for e in candidates {
            let addrs = pe_addrs(e);
            let attempt = tokio::time::timeout(
                Duration::from_millis(self.args.pe_connect_timeout),
                Channel::connect_sctp(&addrs),
            )
            .await;
            match attempt {
                Ok(Ok(channel)) => {
                    notice(
                        self.as_json,
                        &Notice::Connected {
                            pe: e.id,
                            addr: addrs.first().map(|a| a.to_string()).unwrap_or_default(),
                        },
                    );
                    // RFC 5352 §3.9: after failover, hand the new element
                    // the state cookie the old one gave us.
                    if let Some(cookie) = &self.cookie {
                        let m = Message::Asap(AsapMessage::CookieEcho(cookie.clone()));
                        if let Err(err) = channel.send(m.ppid(), &m.to_bytes()).await {
                            last_error = err.to_string();
                            self.failed.insert(e.id);
                            continue;
                        }
                    }
                    return Ok(Connected { pe: e.id, channel });
                }
                Ok(Err(ConnectError::NoSctp(err))) => {
                    return Err(CliError::new(ExitStatus::NoSctp, anyhow::anyhow!("{err}")))
                }
                Ok(Err(err)) => last_error = err.to_string(),
                Err(_) => {
                    last_error =
                        format!("no association within {} ms", self.args.pe_connect_timeout)
                }
            }
            self.failed.insert(e.id);
        }
        Err(CliError::new(
            ExitStatus::PoolElementUnreachable,
            anyhow::anyhow!("no pool element of {} reachable: {last_error}", self.pool),
        ))
    }

    /// Tell a registrar that an element failed (RFC 5352 §3.7).
    async fn report(&self, pe: PoolElementId) {
        let m = Message::Asap(AsapMessage::EndpointUnreachable(EndpointUnreachable {
            pool_handle: self.pool.clone(),
            pe_id: pe,
        }));
        let tls = self.args.registrar.tls(&self.endpoints).ok().flatten();
        for endpoint in &self.endpoints {
            if let Ok(Ok(ch)) = tokio::time::timeout(
                Duration::from_millis(self.args.registrar.connect_timeout),
                Channel::connect(endpoint, tls.clone()),
            )
            .await
            {
                if ch.send(m.ppid(), &m.to_bytes()).await.is_ok() {
                    notice(self.as_json, &Notice::Reported { pe });
                    return;
                }
            }
        }
    }
}

/// Print what a pool element sent.
fn deliver(as_json: bool, ppid: u32, data: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
    if as_json {
        let v = serde_json::json!({
            "event": "data",
            "ppid": ppid,
            "text": String::from_utf8_lossy(data),
            "hex": hex::encode(data),
        });
        writeln!(out, "{v}")?;
    } else {
        out.write_all(data)?;
        if !data.ends_with(b"\n") {
            out.write_all(b"\n")?;
        }
    }
    out.flush()
}

async fn run_session(
    args: &SessionArgs,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut session = Session {
        args,
        pool: PoolHandle::from(args.pool.as_str()),
        endpoints: args.registrar.endpoints()?,
        failed: HashSet::new(),
        cookie: None,
        as_json,
    };
    let (tx, mut lines) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            if tx.send(line).await.is_err() {
                break;
            }
        }
    });
    let mut failovers = 0u32;
    let mut current = session.connect().await?;
    let mut pending: Option<String> = None;
    loop {
        // A line that could not be sent before a failover goes first.
        if let Some(line) = pending.take() {
            let mut data = line.clone().into_bytes();
            data.push(b'\n');
            if let Err(e) = current.channel.send(args.ppid, &data).await {
                pending = Some(line);
                current = failover(&mut session, &mut failovers, current.pe, e.to_string()).await?;
                continue;
            }
        }
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => pending = Some(line),
                None => {
                    // End of input: wait briefly for the last replies, then stop.
                    let grace = tokio::time::sleep(Duration::from_millis(500));
                    tokio::pin!(grace);
                    loop {
                        tokio::select! {
                            _ = &mut grace => return Ok(()),
                            r = current.channel.recv() => match r {
                                Ok((ppid, data)) => handle_incoming(&mut session, ppid, &data, out)?,
                                Err(_) => return Ok(()),
                            }
                        }
                    }
                }
            },
            r = current.channel.recv() => match r {
                Ok((ppid, data)) => handle_incoming(&mut session, ppid, &data, out)?,
                Err(e) => {
                    current = failover(&mut session, &mut failovers, current.pe, e.to_string()).await?;
                }
            },
        }
    }
}

fn handle_incoming(
    session: &mut Session<'_>,
    ppid: u32,
    data: &[u8],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if Protocol::from_ppid(ppid) == Some(Protocol::Asap) {
        // Control channel on the same association (rserpool-wire §1.2).
        match wire::decode(Protocol::Asap, data) {
            Ok(d) => match d.message {
                Message::Asap(AsapMessage::Cookie(c)) => session.cookie = Some(c),
                other => tracing::info!("control message from pool element: {}", other.type_name()),
            },
            Err(e) => tracing::info!("undecodable control message from pool element: {e}"),
        }
        return Ok(());
    }
    deliver(session.as_json, ppid, data, out)
        .map_err(|e| CliError::new(ExitStatus::Failure, e.into()))
}

async fn failover(
    session: &mut Session<'_>,
    failovers: &mut u32,
    from: PoolElementId,
    reason: String,
) -> Result<Connected, CliError> {
    notice(session.as_json, &Notice::Failover { from, reason });
    session.failed.insert(from);
    if session.args.report_unreachable {
        session.report(from).await;
    }
    *failovers += 1;
    if *failovers > session.args.max_failovers {
        return Err(CliError::new(
            ExitStatus::PoolElementUnreachable,
            anyhow::anyhow!("giving up after {} failovers", session.args.max_failovers),
        ));
    }
    session.connect().await
}

/// `rserpool session`.
pub fn run(args: &SessionArgs, as_json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let rt = crate::runtime()?;
    rt.block_on(run_session(args, as_json, out))
}
