//! One client session: a WebSocket, one registrar association (channel 0)
//! and the pool-element sessions the client opens. All the gateway's rules
//! live here: role enforcement, no open proxy, limits, notices.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use client_core::gateway_protocol::{Frame, NoticeCode, REGISTRAR_CHANNEL, VERSION};
use client_core::rate_limit::{Rate, TokenBucket};
use client_core::wire::{
    self, consts::PPID_ASAP, AsapMessage, Message, PoolElement, Protocol, TransportProtocol,
};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::config::{Config, Route};
use crate::metrics::Metrics;
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
}

enum Upstream {
    Message {
        channel: u16,
        ppid: u32,
        data: Vec<u8>,
    },
    Closed {
        channel: u16,
        reason: String,
    },
}

struct PeSession {
    assoc: Arc<dyn Association>,
    app_ppid: u32,
    reader: tokio::task::JoinHandle<()>,
}

/// What a client may send on the registrar channel (RFC 5352 pool-user role).
fn allowed_from_client_to_registrar(m: &AsapMessage) -> bool {
    matches!(
        m,
        AsapMessage::HandleResolution(_) | AsapMessage::EndpointUnreachable(_)
    )
}

/// What a client may send as ASAP control on a pool-element session.
fn allowed_from_client_to_pe(m: &AsapMessage) -> bool {
    matches!(m, AsapMessage::CookieEcho(_) | AsapMessage::BusinessCard(_))
}

fn spawn_reader(
    assoc: Arc<dyn Association>,
    channel: u16,
    tx: mpsc::Sender<Upstream>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match assoc.recv().await {
                Ok((ppid, data)) => {
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
                Err(e) => {
                    let _ = tx
                        .send(Upstream::Closed {
                            channel,
                            reason: e.to_string(),
                        })
                        .await;
                    return;
                }
            }
        }
    })
}

/// The addresses of a PE's user transport (SCTP only: the gateway speaks
/// SCTP upstream), with its port.
fn pe_addresses(pe: &PoolElement) -> Option<Vec<SocketAddr>> {
    let t = &pe.user_transport;
    if t.protocol != TransportProtocol::Sctp || t.port == 0 {
        return None;
    }
    let v: Vec<SocketAddr> = t
        .addresses
        .iter()
        .filter(|a: &&IpAddr| !a.is_unspecified() && !a.is_multicast())
        .map(|a| SocketAddr::new(*a, t.port))
        .collect();
    (!v.is_empty()).then_some(v)
}

/// Runs one session until the client leaves, the registrar association
/// ends, or the idle timeout passes.
pub async fn run<S>(ws: S, route: Route, ctx: SessionContext)
where
    S: Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>>
        + Sink<WsMessage, Error = tokio_tungstenite::tungstenite::Error>
        + Unpin,
{
    let (mut sink, mut stream) = ws.split();
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
    let registrar = match tokio::time::timeout(
        limits.connect_timeout(),
        ctx.connector.connect(route.registrar.clone()),
    )
    .await
    {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            m.count_notice(NoticeCode::RegistrarLost);
            let _ = sink
                .send(send(Frame::notice(
                    0,
                    NoticeCode::RegistrarLost,
                    format!("connect failed: {e}"),
                )))
                .await;
            let _ = sink.close().await;
            return;
        }
        Err(_) => {
            m.count_notice(NoticeCode::RegistrarLost);
            let _ = sink
                .send(send(Frame::notice(
                    0,
                    NoticeCode::RegistrarLost,
                    "connect timed out",
                )))
                .await;
            let _ = sink.close().await;
            return;
        }
    };
    let (up_tx, mut up_rx) = mpsc::channel::<Upstream>(64);
    let reg_reader = spawn_reader(registrar.clone(), REGISTRAR_CHANNEL, up_tx.clone());
    let _ = sink
        .send(send(Frame::notice(
            0,
            NoticeCode::RegistrarUp,
            hello_registrar(&route),
        )))
        .await;

    let mut hr_limit = TokenBucket::new(Rate::new(limits.hr_per_second, limits.hr_burst));
    let mut eu_limit = TokenBucket::new(Rate::new(limits.eu_per_second, limits.eu_burst));
    let epoch = Instant::now();
    // PEs this client learned through this gateway, by identifier.
    let mut resolved: HashMap<u32, PoolElement> = HashMap::new();
    let mut pe_sessions: HashMap<u16, PeSession> = HashMap::new();
    let idle = limits.idle_timeout();
    let mut last_activity = Instant::now();

    loop {
        let deadline = last_activity + idle;
        tokio::select! {
            msg = stream.next() => {
                let Some(Ok(msg)) = msg else { break };
                last_activity = Instant::now();
                let bytes = match msg {
                    WsMessage::Binary(b) => b,
                    WsMessage::Text(_) => {
                        m.count_notice(NoticeCode::TextFrame);
                        if sink.send(send(Frame::notice(0, NoticeCode::TextFrame, "text frames are not part of rserpool.asap.v1"))).await.is_err() { break; }
                        continue;
                    }
                    WsMessage::Close(_) => break,
                    _ => continue,
                };
                let now = epoch.elapsed();
                let reply = handle_client_frame(&bytes, &ctx, &registrar, &mut resolved, &mut pe_sessions, &up_tx, &mut hr_limit, &mut eu_limit, now).await;
                for f in reply {
                    if let Frame::Notice { code, .. } = &f { m.count_notice(*code); }
                    if sink.send(send(f)).await.is_err() { break; }
                }
            }
            up = up_rx.recv() => {
                let Some(up) = up else { break };
                match up {
                    Upstream::Message { channel, ppid, data } => {
                        if channel == REGISTRAR_CHANNEL && ppid == PPID_ASAP {
                            if let Ok(d) = wire::decode(Protocol::Asap, &data) {
                                ctx.tap.publish(ctx.id, Direction::FromRegistrar, channel, &d.message);
                                if let Message::Asap(AsapMessage::HandleResolutionResponse(h)) = &d.message {
                                    for pe in &h.elements {
                                        resolved.insert(pe.id.0, pe.clone());
                                    }
                                }
                            }
                        } else if ppid == PPID_ASAP {
                            if let Ok(d) = wire::decode(Protocol::Asap, &data) {
                                ctx.tap.publish(ctx.id, Direction::FromPoolElement, channel, &d.message);
                            }
                        }
                        m.messages_to_client.inc();
                        if sink.send(send(Frame::Message { channel, ppid, payload: data })).await.is_err() { break; }
                    }
                    Upstream::Closed { channel, reason } if channel == REGISTRAR_CHANNEL => {
                        m.count_notice(NoticeCode::RegistrarLost);
                        let _ = sink.send(send(Frame::notice(0, NoticeCode::RegistrarLost, reason))).await;
                        break;
                    }
                    Upstream::Closed { channel, reason } => {
                        if let Some(s) = pe_sessions.remove(&channel) {
                            s.reader.abort();
                            m.count_notice(NoticeCode::SessionAborted);
                            if sink.send(send(Frame::notice(channel, NoticeCode::SessionAborted, reason))).await.is_err() { break; }
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                tracing::info!(session = ctx.id, "idle timeout");
                break;
            }
        }
    }
    reg_reader.abort();
    for (_, s) in pe_sessions {
        s.reader.abort();
    }
    let _ = sink.close().await;
}

fn hello_registrar(route: &Route) -> String {
    route
        .registrar
        .first()
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
async fn handle_client_frame(
    bytes: &[u8],
    ctx: &SessionContext,
    registrar: &Arc<dyn Association>,
    resolved: &mut HashMap<u32, PoolElement>,
    pe_sessions: &mut HashMap<u16, PeSession>,
    up_tx: &mpsc::Sender<Upstream>,
    hr_limit: &mut TokenBucket,
    eu_limit: &mut TokenBucket,
    now: std::time::Duration,
) -> Vec<Frame> {
    let limits = &ctx.config.limits;
    let frame = match Frame::decode(bytes) {
        Ok(f) => f,
        Err(e) => return vec![Frame::notice(0, NoticeCode::MalformedFrame, e.to_string())],
    };
    let refuse = |ch: u16, code: NoticeCode, text: String| vec![Frame::notice(ch, code, text)];
    match frame {
        Frame::Message {
            channel,
            ppid,
            payload,
        } => {
            if payload.len() > limits.max_payload {
                return refuse(
                    channel,
                    NoticeCode::TooLarge,
                    format!("{} bytes > {}", payload.len(), limits.max_payload),
                );
            }
            if channel == REGISTRAR_CHANNEL {
                if ppid != PPID_ASAP {
                    return refuse(
                        channel,
                        NoticeCode::ForbiddenMessageType,
                        format!("PPID {ppid} on the registrar channel (only ASAP, 11)"),
                    );
                }
                let msg = match wire::decode(Protocol::Asap, &payload) {
                    Ok(d) => d.message,
                    Err(e) => {
                        return refuse(channel, NoticeCode::UndecodableMessage, e.to_string())
                    }
                };
                let Message::Asap(a) = &msg else {
                    unreachable!("decoded as ASAP")
                };
                if !allowed_from_client_to_registrar(a) {
                    return refuse(
                        channel,
                        NoticeCode::ForbiddenMessageType,
                        format!("{} is not a pool-user message", msg.type_name()),
                    );
                }
                let bucket = if matches!(a, AsapMessage::HandleResolution(_)) {
                    hr_limit
                } else {
                    eu_limit
                };
                if !bucket.try_acquire(now) {
                    return refuse(
                        channel,
                        NoticeCode::RateLimited,
                        format!("{} rate limit", msg.type_name()),
                    );
                }
                ctx.tap
                    .publish(ctx.id, Direction::FromClient, channel, &msg);
                ctx.metrics.messages_from_client.inc();
                // The bytes go upstream unchanged.
                if let Err(e) = registrar.send(ppid, &payload).await {
                    return refuse(channel, NoticeCode::RegistrarLost, e.to_string());
                }
                Vec::new()
            } else {
                let Some(s) = pe_sessions.get(&channel) else {
                    return refuse(
                        channel,
                        NoticeCode::UnknownChannel,
                        format!("channel {channel} is not open"),
                    );
                };
                if ppid == PPID_ASAP {
                    match wire::decode(Protocol::Asap, &payload) {
                        Ok(d) => match &d.message {
                            Message::Asap(a) if allowed_from_client_to_pe(a) => {
                                ctx.tap
                                    .publish(ctx.id, Direction::FromClient, channel, &d.message);
                            }
                            m => {
                                return refuse(
                                    channel,
                                    NoticeCode::ForbiddenMessageType,
                                    format!("{} is not allowed on a PE session", m.type_name()),
                                )
                            }
                        },
                        Err(e) => {
                            return refuse(channel, NoticeCode::UndecodableMessage, e.to_string())
                        }
                    }
                } else if ppid != s.app_ppid {
                    return refuse(
                        channel,
                        NoticeCode::ForbiddenMessageType,
                        format!("PPID {ppid} on a session opened for PPID {}", s.app_ppid),
                    );
                }
                ctx.metrics.messages_from_client.inc();
                if let Err(e) = s.assoc.send(ppid, &payload).await {
                    return refuse(channel, NoticeCode::SessionAborted, e.to_string());
                }
                Vec::new()
            }
        }
        Frame::OpenSession {
            channel,
            app_ppid,
            pe_id,
            pool_handle,
        } => {
            if channel == REGISTRAR_CHANNEL || pe_sessions.contains_key(&channel) {
                return refuse(
                    channel,
                    NoticeCode::ChannelInUse,
                    format!("channel {channel} is in use"),
                );
            }
            if app_ppid == PPID_ASAP || app_ppid == client_core::wire::consts::PPID_ENRP {
                return refuse(
                    channel,
                    NoticeCode::ForbiddenMessageType,
                    "application PPID must not be ASAP or ENRP".into(),
                );
            }
            if pe_sessions.len() >= limits.max_sessions {
                return refuse(
                    channel,
                    NoticeCode::TooManySessions,
                    format!("at most {} sessions", limits.max_sessions),
                );
            }
            // No open proxy: only PEs this client was given, at the
            // addresses the registrar gave (RFC 5355 threat: SSRF).
            let Some(pe) = resolved.get(&pe_id) else {
                return refuse(
                    channel,
                    NoticeCode::PeNotResolved,
                    format!("PE 0x{pe_id:08x} was not resolved through this gateway"),
                );
            };
            let _ = pool_handle;
            let Some(addrs) = pe_addresses(pe) else {
                return refuse(
                    channel,
                    NoticeCode::SessionAborted,
                    "the PE has no SCTP transport".into(),
                );
            };
            match tokio::time::timeout(limits.connect_timeout(), ctx.connector.connect(addrs)).await
            {
                Ok(Ok(assoc)) => {
                    let reader = spawn_reader(assoc.clone(), channel, up_tx.clone());
                    pe_sessions.insert(
                        channel,
                        PeSession {
                            assoc,
                            app_ppid,
                            reader,
                        },
                    );
                    vec![Frame::notice(
                        channel,
                        NoticeCode::SessionUp,
                        format!("PE 0x{pe_id:08x}"),
                    )]
                }
                Ok(Err(e)) => vec![Frame::notice(
                    channel,
                    NoticeCode::SessionAborted,
                    format!("connect failed: {e}"),
                )],
                Err(_) => vec![Frame::notice(
                    channel,
                    NoticeCode::SessionAborted,
                    "connect timed out".to_string(),
                )],
            }
        }
        Frame::CloseSession { channel } => match pe_sessions.remove(&channel) {
            Some(s) => {
                s.reader.abort();
                vec![Frame::notice(
                    channel,
                    NoticeCode::SessionClosed,
                    "closed by the client",
                )]
            }
            None => refuse(
                channel,
                NoticeCode::UnknownChannel,
                format!("channel {channel} is not open"),
            ),
        },
        Frame::Notice { .. } | Frame::Hello { .. } => refuse(
            0,
            NoticeCode::MalformedFrame,
            "notices and hello come from the gateway only".into(),
        ),
    }
}
