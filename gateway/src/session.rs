//! One client session: a WebSocket, one registrar association (channel 0)
//! and the pool-element sessions the client opens. This task only moves
//! bytes and owns the sockets and timers; every decision about a client's
//! frame is [`crate::policy::SessionPolicy`]'s.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use client_core::gateway_protocol::{Frame, NoticeCode, REGISTRAR_CHANNEL, VERSION};
use client_core::wire::{self, consts::PPID_ASAP, Protocol};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::config::{Config, Route};
use crate::metrics::Metrics;
use crate::policy::{Decision, RegistrarClosed, ReportBudget, SessionPolicy};
use crate::tap::{Direction, Tap};
use crate::upstream::{Association, Connector};

/// Everything a session needs from the server.
pub struct SessionContext {
    pub config: Arc<Config>,
    pub connector: Arc<dyn Connector>,
    pub metrics: Arc<Metrics>,
    pub tap: Tap,
    pub id: u64,
    pub peer: SocketAddr,
    /// The gateway-wide Endpoint Unreachable budget per PE.
    pub reports: Arc<ReportBudget>,
    /// The gateway's epoch: `now` for the policy is the time since it, so
    /// that the shared report budget sees one clock.
    pub epoch: Instant,
}

enum Upstream {
    Message {
        channel: u16,
        ppid: u32,
        data: Vec<u8>,
    },
    Closed {
        channel: u16,
        /// The peer shut the association down (SCTP SHUTDOWN), rather
        /// than it being aborted or lost.
        graceful: bool,
        reason: String,
    },
}

struct PeSession {
    assoc: Arc<dyn Association>,
    reader: tokio::task::JoinHandle<()>,
}

fn spawn_reader(
    assoc: Arc<dyn Association>,
    channel: u16,
    tx: mpsc::Sender<Upstream>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match assoc.recv().await {
                Ok(Some((ppid, data))) => {
                    if tx
                        .send(Upstream::Message {
                            channel,
                            ppid,
                            data,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(None) => {
                    let _ = tx
                        .send(Upstream::Closed {
                            channel,
                            graceful: true,
                            reason: "the peer shut the association down".into(),
                        })
                        .await;
                    return;
                }
                Err(e) => {
                    let _ = tx
                        .send(Upstream::Closed {
                            channel,
                            graceful: false,
                            reason: e.to_string(),
                        })
                        .await;
                    return;
                }
            }
        }
    })
}

/// Runs one session until the client leaves, the registrar association
/// ends, or the idle timeout passes.
///
/// Not an `async fn` itself: an async fn keeps its arguments for its whole
/// life, and the WebSocket stream (1.5 KB inline, TLS state included) moves
/// into the split halves' shared allocation at once, so keeping its slot
/// would cost every idle session that much for nothing
/// (`cargo bench -p rserpool-gateway --bench session_memory`).
pub fn run<S>(ws: S, route: Route, ctx: SessionContext) -> impl std::future::Future<Output = ()>
where
    S: Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>>
        + Sink<WsMessage, Error = tokio_tungstenite::tungstenite::Error>
        + Unpin,
{
    let (sink, stream) = ws.split();
    run_split(sink, stream, route, ctx)
}

async fn run_split<S>(
    mut sink: futures_util::stream::SplitSink<S, WsMessage>,
    mut stream: futures_util::stream::SplitStream<S>,
    route: Route,
    ctx: SessionContext,
) where
    S: Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>>
        + Sink<WsMessage, Error = tokio_tungstenite::tungstenite::Error>
        + Unpin,
{
    let limits = ctx.config.limits.clone();
    let m = ctx.metrics.clone();
    let send = |f: Frame| WsMessage::Binary(f.encode().into());

    let hello = Frame::Hello {
        version: VERSION,
        max_payload: u32::try_from(limits.max_payload).unwrap_or(u32::MAX),
        max_sessions: u16::try_from(limits.max_sessions).unwrap_or(u16::MAX),
        registrar: route
            .registrar
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
    };
    if sink.send(send(hello)).await.is_err() {
        return;
    }

    // One association per WebSocket session: the registrar's per-association
    // limits then apply per client.
    let mut registrar = match open_registrar(&ctx, &route).await {
        Ok(a) => a,
        Err((code, text)) => {
            m.count_notice(code);
            let _ = sink.send(send(Frame::notice(0, code, text))).await;
            let _ = sink.close().await;
            return;
        }
    };
    let (up_tx, mut up_rx) = mpsc::channel::<Upstream>(64);
    let mut reg_reader = spawn_reader(registrar.clone(), REGISTRAR_CHANNEL, up_tx.clone());
    let _ = sink
        .send(send(Frame::notice(
            0,
            NoticeCode::RegistrarUp,
            hello_registrar(&route),
        )))
        .await;

    let mut policy = SessionPolicy::new(&limits);
    policy.registrar_opened(ctx.epoch.elapsed());
    let mut pe_sessions: HashMap<u16, PeSession> = HashMap::new();
    let idle = limits.idle_timeout();
    let mut last_activity = Instant::now();

    let write_timeout = limits.write_timeout();
    let mut ping = tokio::time::interval_at(
        (Instant::now() + limits.ping_interval()).into(),
        limits.ping_interval(),
    );
    // Why the session ends, as the close frame says it (RFC 6455 §7.4).
    let mut close: Option<(CloseCode, &'static str)> = None;
    'session: loop {
        let deadline = last_activity + idle;
        tokio::select! {
            msg = stream.next() => {
                let msg = match msg {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => {
                        close = Some(close_for(&e));
                        break;
                    }
                    None => break,
                };
                last_activity = Instant::now();
                let bytes = match msg {
                    WsMessage::Binary(b) => b,
                    WsMessage::Text(_) => {
                        m.count_notice(NoticeCode::TextFrame);
                        if let Err(c) = deliver(&mut sink, send(Frame::notice(0, NoticeCode::TextFrame, "text frames are not part of rserpool.asap.v1")), write_timeout).await { close = c; break; }
                        continue;
                    }
                    WsMessage::Close(_) => {
                        close = Some((CloseCode::Normal, ""));
                        break;
                    }
                    _ => continue,
                };
                let now = ctx.epoch.elapsed();
                let reply = match policy.on_client_frame(&bytes, now, &ctx.reports) {
                    Decision::ToRegistrar { ppid, payload, message } => {
                        ctx.tap.publish(ctx.id, Direction::FromClient, REGISTRAR_CHANNEL, &message);
                        m.messages_from_client.inc();
                        // The bytes go upstream unchanged.
                        match registrar.send(ppid, &payload).await {
                            Ok(()) => None,
                            Err(e) => Some(Frame::notice(0, NoticeCode::RegistrarLost, e.to_string())),
                        }
                    }
                    Decision::ToSession { channel, ppid, payload, message } => {
                        if let Some(msg) = &message {
                            ctx.tap.publish(ctx.id, Direction::FromClient, channel, msg);
                        }
                        m.messages_from_client.inc();
                        match pe_sessions.get(&channel) {
                            Some(s) => match s.assoc.send(ppid, &payload).await {
                                Ok(()) => None,
                                Err(e) => Some(Frame::notice(channel, NoticeCode::SessionAborted, e.to_string())),
                            },
                            None => Some(Frame::notice(channel, NoticeCode::UnknownChannel, format!("channel {channel} is not open"))),
                        }
                    }
                    Decision::Open { channel, pe_id, addresses, app_ppid: _ } => {
                        match tokio::time::timeout(limits.connect_timeout(), ctx.connector.connect(addresses)).await {
                            Ok(Ok(assoc)) => {
                                let reader = spawn_reader(assoc.clone(), channel, up_tx.clone());
                                pe_sessions.insert(channel, PeSession { assoc, reader });
                                policy.session_opened(channel);
                                Some(Frame::notice(channel, NoticeCode::SessionUp, format!("PE 0x{pe_id:08x}")))
                            }
                            Ok(Err(e)) => {
                                policy.session_ended(channel);
                                let code = if crate::upstream::is_exhaustion(&e) { NoticeCode::GatewayBusy } else { NoticeCode::SessionAborted };
                                Some(Frame::notice(channel, code, format!("connect failed: {e}")))
                            }
                            Err(_) => {
                                policy.session_ended(channel);
                                Some(Frame::notice(channel, NoticeCode::SessionAborted, "connect timed out"))
                            }
                        }
                    }
                    Decision::CloseSession { channel } => {
                        if let Some(s) = pe_sessions.remove(&channel) {
                            s.reader.abort();
                        }
                        Some(Frame::notice(channel, NoticeCode::SessionClosed, "closed by the client"))
                    }
                    Decision::Refuse(f) => Some(f),
                };
                if let Some(f) = reply {
                    if let Frame::Notice { code, .. } = &f { m.count_notice(*code); }
                    if let Err(c) = deliver(&mut sink, send(f), write_timeout).await { close = c; break 'session; }
                }
            }
            up = up_rx.recv() => {
                let Some(up) = up else { break };
                match up {
                    Upstream::Message { channel, ppid, data } => {
                        if channel == REGISTRAR_CHANNEL {
                            if let Some(msg) = policy.on_registrar_message(ppid, &data) {
                                ctx.tap.publish(ctx.id, Direction::FromRegistrar, channel, &msg);
                            }
                        } else if ppid == PPID_ASAP {
                            if let Ok(d) = wire::decode(Protocol::Asap, &data) {
                                ctx.tap.publish(ctx.id, Direction::FromPoolElement, channel, &d.message);
                            }
                        }
                        m.messages_to_client.inc();
                        if let Err(c) = deliver(&mut sink, send(Frame::Message { channel, ppid, payload: data }), write_timeout).await { close = c; break; }
                    }
                    Upstream::Closed { channel, graceful, reason } if channel == REGISTRAR_CHANNEL => {
                        let lost = match policy.on_registrar_closed(graceful, ctx.epoch.elapsed()) {
                            // RSPLIB's autoclose, not a failure: a new
                            // association, the client is told nothing.
                            RegistrarClosed::Reopen => match open_registrar(&ctx, &route).await {
                                Ok(a) => {
                                    tracing::info!(session = ctx.id, "registrar shut the idle association down; reopened");
                                    m.registrar_reopened.inc();
                                    reg_reader = spawn_reader(a.clone(), REGISTRAR_CHANNEL, up_tx.clone());
                                    registrar = a;
                                    policy.registrar_opened(ctx.epoch.elapsed());
                                    None
                                }
                                Err(why) => Some(why),
                            },
                            RegistrarClosed::Lost => Some((NoticeCode::RegistrarLost, reason)),
                        };
                        if let Some((code, text)) = lost {
                            m.count_notice(code);
                            let _ = deliver(&mut sink, send(Frame::notice(0, code, text)), write_timeout).await;
                            close = Some((CloseCode::Error, "registrar association lost"));
                            break;
                        }
                    }
                    Upstream::Closed { channel, reason, .. } => {
                        if let Some(s) = pe_sessions.remove(&channel) {
                            s.reader.abort();
                            policy.session_ended(channel);
                            m.count_notice(NoticeCode::SessionAborted);
                            if let Err(c) = deliver(&mut sink, send(Frame::notice(channel, NoticeCode::SessionAborted, reason)), write_timeout).await { close = c; break; }
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                tracing::info!(session = ctx.id, "idle timeout");
                close = Some((CloseCode::Away, "idle timeout"));
                break;
            }
            _ = ping.tick() => {
                // Keeps NATs and proxies from dropping a quiet session;
                // the client's Pong counts as activity.
                if let Err(c) = deliver(&mut sink, WsMessage::Ping(Vec::new().into()), write_timeout).await {
                    close = c;
                    break;
                }
            }
        }
    }
    reg_reader.abort();
    for (_, s) in pe_sessions {
        s.reader.abort();
    }
    if let Some((code, reason)) = close {
        if code == CloseCode::Policy {
            tracing::info!(session = ctx.id, "{reason}");
        }
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(write_timeout, sink.send(WsMessage::Close(Some(frame)))).await;
    }
    let _ = tokio::time::timeout(write_timeout, sink.close()).await;
}

/// Sends one message within `limit`. A client that does not read holds
/// the send; past the limit the session ends with 1008 (its associations
/// are freed with it), whatever else it was doing.
async fn deliver<S>(
    sink: &mut S,
    msg: WsMessage,
    limit: std::time::Duration,
) -> Result<(), Option<(CloseCode, &'static str)>>
where
    S: Sink<WsMessage, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    match tokio::time::timeout(limit, sink.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(None),
        Err(_) => Err(Some((
            CloseCode::Policy,
            "write timeout: the client does not read",
        ))),
    }
}

/// The close code for a WebSocket error from the client's side.
fn close_for(e: &tokio_tungstenite::tungstenite::Error) -> (CloseCode, &'static str) {
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error};
    match e {
        Error::Capacity(CapacityError::MessageTooLong { .. }) => {
            (CloseCode::Size, "message too big")
        }
        Error::Capacity(_) => (CloseCode::Size, "frame too big"),
        Error::Protocol(_) | Error::Utf8(_) => (CloseCode::Protocol, "WebSocket protocol error"),
        _ => (CloseCode::Error, "connection error"),
    }
}

/// Opens the session's association to its registrar, or says which
/// notice the client gets: `gateway-busy` when this host is out of
/// descriptors or memory (the registrar is fine), else `registrar-lost`.
async fn open_registrar(
    ctx: &SessionContext,
    route: &Route,
) -> Result<Arc<dyn Association>, (NoticeCode, String)> {
    match tokio::time::timeout(
        ctx.config.limits.connect_timeout(),
        ctx.connector.connect(route.registrar.clone()),
    )
    .await
    {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(e)) => {
            let code = if crate::upstream::is_exhaustion(&e) {
                tracing::warn!(session = ctx.id, "out of resources: {e}");
                NoticeCode::GatewayBusy
            } else {
                NoticeCode::RegistrarLost
            };
            Err((code, format!("connect failed: {e}")))
        }
        Err(_) => Err((NoticeCode::RegistrarLost, "connect timed out".into())),
    }
}

fn hello_registrar(route: &Route) -> String {
    route
        .registrar
        .first()
        .map(ToString::to_string)
        .unwrap_or_default()
}
