//! `rserpool session POOL --registrar URL…`: like RSPLIB's `rspterminal`.
//! Lines from stdin go to a pool element, its replies are printed, and
//! failovers (RFC 5352 §3.10, with the cookie replayed, §3.9) are reported
//! as they happen. The session logic is client-core's pool user; this is
//! its terminal.

use std::io::Write;
use std::time::Duration;

use client_core::pool_user::{
    CloseReason, Event, FailoverNotice, FailoverReason, SessionId, StateChange,
};
use client_core::wire::consts::PPID_APPLICATION_DEFAULT;
use client_core::wire::PoolHandle;
use tokio::io::AsyncBufReadExt;

use crate::exit::{CliError, ExitStatus};
use crate::resolve::{self, RegistrarArgs};
use rserpool_client::Driver;

/// Arguments of `rserpool session`.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// Pool handle, e.g. EchoPool.
    #[arg(value_name = "POOL")]
    pub pool: String,
    #[command(flatten)]
    pub registrar: RegistrarArgs,
    /// SCTP PPID of the lines sent (0 = plain data, as rspterminal).
    #[arg(long, default_value_t = PPID_APPLICATION_DEFAULT)]
    pub ppid: u32,
    /// Milliseconds to wait for a pool element association (RSPLIB: 5000).
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub pe_connect_timeout: u64,
    /// Give up when no pool element could be found this many times in a
    /// row (each wait is the pool user's retry delay).
    #[arg(long, default_value_t = 3)]
    pub max_waits: u32,
    /// Milliseconds to keep printing replies after the end of input.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub linger: u64,
}

/// A line of user-visible session news: stderr text, or a JSON event.
/// JSON events carry `t_ms`, the time since the session started.
fn notice(as_json: bool, t: Duration, text: String, mut json: serde_json::Value) {
    if as_json {
        json["t_ms"] = t_ms(t);
        println!("{json}");
    } else {
        eprintln!("rserpool: {text}");
    }
}

fn failover_reason(r: &FailoverReason) -> String {
    match r {
        FailoverReason::ChannelClosed(c) => match c {
            CloseReason::Closed => "the pool element closed the association".into(),
            CloseReason::Aborted => "association aborted or lost".into(),
            CloseReason::ConnectFailed => "could not connect".into(),
            CloseReason::AuthenticationFailed(why) => format!("authentication failed: {why}"),
        },
        FailoverReason::ConnectTimeout => "connect timeout".into(),
        FailoverReason::ReportedByApplication => "reported unreachable".into(),
    }
}

fn t_ms(t: Duration) -> serde_json::Value {
    serde_json::json!((t.as_secs_f64() * 10_000.0).round() / 10.0)
}

fn failover_notice(as_json: bool, t: Duration, n: &FailoverNotice) {
    let failed: Vec<String> = n.failed_elements.iter().map(|e| e.to_string()).collect();
    let mut text = format!(
        "failover: pool element {} -> {} ({}; failed: {})",
        n.old_element,
        n.new_element,
        failover_reason(&n.reason),
        failed.join(",")
    );
    if n.cookie_replayed {
        text.push_str("; cookie replayed");
    }
    if n.security_changed {
        // RFC 5355 §2.9: the application must learn that the protection
        // of its path changed.
        text.push_str(&format!(
            "; PATH SECURITY CHANGED: {:?} -> {:?}",
            n.old_security, n.new_security
        ));
    }
    notice(
        as_json,
        t,
        text,
        serde_json::json!({
            "event": "failover",
            "pool": n.pool_handle.to_string(),
            "from": n.old_element.to_string(),
            "to": n.new_element.to_string(),
            "reason": failover_reason(&n.reason),
            "failed": failed,
            "cookie_replayed": n.cookie_replayed,
            "security_changed": n.security_changed,
            "notice": serde_json::to_value(n).unwrap_or_default(),
        }),
    );
}

/// Print what a pool element sent (`pe`: the session's PE at the time).
fn deliver(
    as_json: bool,
    t: Duration,
    pe: Option<&str>,
    ppid: u32,
    data: &[u8],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if as_json {
        let v = serde_json::json!({
            "event": "data",
            "t_ms": t_ms(t),
            "pe": pe,
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

/// Session state the terminal keeps: how often in a row no PE was found.
struct Terminal<'a> {
    session: SessionId,
    pool: PoolHandle,
    as_json: bool,
    waits: u32,
    max_waits: u32,
    /// A pool element has been reached at least once.
    up_once: bool,
    /// The pool element the session uses now.
    current: Option<String>,
    out: &'a mut dyn Write,
}

impl Terminal<'_> {
    /// React to one event; `Err` ends the session.
    fn event(&mut self, driver: &Driver, e: Event) -> Result<(), CliError> {
        match e {
            Event::SessionUp {
                session,
                element,
                security,
            } if session == self.session => {
                self.waits = 0;
                self.up_once = true;
                self.current = Some(element.to_string());
                notice(
                    self.as_json,
                    driver.now(),
                    format!(
                        "connected to pool element {element} ({})",
                        security.transport
                    ),
                    serde_json::json!({"event": "connected", "pe": element.to_string(), "transport": security.transport}),
                );
            }
            Event::SessionData {
                session,
                ppid,
                bytes,
            } if session == self.session => {
                deliver(
                    self.as_json,
                    driver.now(),
                    self.current.as_deref(),
                    ppid,
                    &bytes,
                    self.out,
                )
                .map_err(|e| CliError::new(ExitStatus::Failure, e.into()))?;
            }
            Event::Failover(n) if n.session == self.session => {
                self.waits = 0;
                self.current = Some(n.new_element.to_string());
                failover_notice(self.as_json, driver.now(), &n);
            }
            Event::SessionWaiting {
                session,
                error,
                retry_in,
            } if session == self.session => {
                self.waits += 1;
                let mut err = resolve::resolve_error(&self.pool, &error, driver.connect_failures());
                // Without kernel SCTP, waiting cannot help.
                if self.waits >= self.max_waits || err.status == ExitStatus::NoSctp {
                    if err.status == ExitStatus::NoRegistrar
                        && matches!(error, client_core::pool_user::ResolveError::NoUsableElement)
                    {
                        err.status = ExitStatus::PoolElementUnreachable;
                    }
                    return Err(err);
                }
                notice(
                    self.as_json,
                    driver.now(),
                    format!(
                        "no pool element yet ({error}); retrying in {} ms",
                        retry_in.as_millis()
                    ),
                    serde_json::json!({"event": "waiting", "error": error.to_string(), "retry_in_ms": retry_in.as_millis() as u64}),
                );
            }
            Event::ReportSent { element, .. } => notice(
                self.as_json,
                driver.now(),
                format!("reported pool element {element} unreachable to the registrar"),
                serde_json::json!({"event": "endpoint-unreachable-sent", "pe": element.to_string()}),
            ),
            // The trace tells the moment the PE was lost, before the
            // failover completes (the failover notice comes when the new PE
            // is up): users and the lab time failovers from here.
            Event::StateChanged(StateChange::Session { session, from, to })
                if session == self.session && to.up_element().is_none() =>
            {
                if let Some(pe) = from.up_element() {
                    notice(
                        self.as_json,
                        driver.now(),
                        format!("lost pool element {pe}; failing over"),
                        serde_json::json!({"event": "pe-lost", "pe": pe.to_string()}),
                    );
                }
            }
            Event::CookieReceived { len, .. } => tracing::info!(len, "cookie from pool element"),
            Event::BusinessCardReceived { card, .. } => {
                tracing::info!(pool = %card.pool_handle, "business card from pool element")
            }
            other => resolve::log_event(&other),
        }
        Ok(())
    }
}

async fn run_session(
    args: &SessionArgs,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut driver: Driver = args.registrar.driver_with(args.ppid, |cfg| {
        cfg.pe_connect_timeout = Duration::from_millis(args.pe_connect_timeout);
        // For the moment a PE is lost (state changes); other trace events
        // are only logged.
        cfg.trace = true;
    })?;
    let pool = PoolHandle::from(args.pool.as_str());
    let now = driver.now();
    let session = driver
        .pool_user()
        .open_session(pool.clone(), args.ppid, now);
    let mut term = Terminal {
        session,
        pool,
        as_json,
        waits: 0,
        max_waits: args.max_waits,
        up_once: false,
        current: None,
        out,
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

    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    let mut data = line.into_bytes();
                    data.push(b'\n');
                    let now = driver.now();
                    // Queued by the pool user until a PE is up.
                    driver
                        .pool_user()
                        .send(session, None, data, now)
                        .map_err(|e| CliError::new(ExitStatus::Failure, anyhow::anyhow!("{e}")))?;
                }
                None => break,
            },
            e = driver.next_event() => term.event(&driver, e)?,
        }
    }
    // End of input. Lines typed before any pool element was reached are
    // still queued: wait for one (or for the pool user to give up).
    while !term.up_once {
        let e = driver.next_event().await;
        term.event(&driver, e)?;
    }
    // Print late replies for a moment, then close.
    let linger = tokio::time::sleep(Duration::from_millis(args.linger));
    tokio::pin!(linger);
    loop {
        tokio::select! {
            _ = &mut linger => break,
            e = driver.next_event() => term.event(&driver, e)?,
        }
    }
    let now = driver.now();
    let _ = driver.pool_user().close_session(session, now);
    Ok(())
}

/// `rserpool session`.
pub fn run(args: &SessionArgs, as_json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let rt = crate::runtime()?;
    rt.block_on(run_session(args, as_json, out))
}
