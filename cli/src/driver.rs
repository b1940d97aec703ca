//! The async driver of client-core's sans-IO [`PoolUser`]: it owns the
//! clock, the timers and one reader and one writer task per channel, and
//! moves bytes and transport events between them and the pool user. It makes
//! no protocol decisions (STYLE.md "Async adapters: thin").
//!
//! [`Driver::next_event`] is cancel-safe (everything it awaits is a channel
//! receive or a sleep), so a command can `select!` it with its own inputs.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use client_core::pool_user::{Action, ChannelId, CloseReason, Event, PathSecurity, PoolUser};
use client_core::wire::{PoolElement, PoolHandle};
use rserpool_sctp::{CloseReason as SctpClose, SctpError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::transport::{parse_endpoint, Channel, ChannelError, ConnectError, Endpoint};
use crate::wss::GatewayMux;

/// Result of opening a channel: the channel and what protects it, or why
/// it failed (kept as text for the user, see [`Driver::connect_failures`]).
pub type Connected = Result<(Channel, PathSecurity), ConnectFailure>;

/// A failed connection attempt, as the pool user and the user see it.
#[derive(Clone, Debug)]
pub struct ConnectFailure {
    pub reason: CloseReason,
    pub kind: FailureKind,
    pub text: String,
}

/// Classes of connect failures that decide the CLI's exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    NoSctp,
    Tls,
    Unreachable,
}

impl From<ConnectError> for ConnectFailure {
    fn from(e: ConnectError) -> Self {
        let text = e.to_string();
        match e {
            ConnectError::NoSctp(_) => ConnectFailure {
                reason: CloseReason::ConnectFailed,
                kind: FailureKind::NoSctp,
                text,
            },
            ConnectError::Tls(reason) => ConnectFailure {
                reason: CloseReason::AuthenticationFailed(reason),
                kind: FailureKind::Tls,
                text,
            },
            _ => ConnectFailure {
                reason: CloseReason::ConnectFailed,
                kind: FailureKind::Unreachable,
                text,
            },
        }
    }
}

/// A boxed future, as [`Connector`] methods return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How channels are opened: the network, or an in-process fake in tests.
pub trait Connector: Send + Sync + 'static {
    /// Open a channel to a registrar endpoint string (`sctp://…`, `wss://…`).
    fn connect_registrar(&self, endpoint: String) -> BoxFuture<Connected>;
    /// Open a channel to a pool element's user transport.
    fn connect_element(
        &self,
        pool_handle: PoolHandle,
        element: PoolElement,
    ) -> BoxFuture<Connected>;
}

/// The real network: SCTP (kernel) and WebSocket over TLS. Pool elements
/// learned through a gateway are reached through the same gateway
/// (`OpenSession`; the gateway only opens PEs it resolved for this client).
pub struct NetConnector {
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// PPID of the application's data, announced in `OpenSession`.
    pub app_ppid: u32,
    gateway: Arc<std::sync::Mutex<Option<Arc<GatewayMux>>>>,
}

impl NetConnector {
    pub fn new(tls: Option<Arc<rustls::ClientConfig>>, app_ppid: u32) -> Self {
        NetConnector {
            tls,
            app_ppid,
            gateway: Arc::new(std::sync::Mutex::new(None)),
        }
    }
}

impl Connector for NetConnector {
    fn connect_registrar(&self, endpoint: String) -> BoxFuture<Connected> {
        let tls = self.tls.clone();
        let gateway = self.gateway.clone();
        Box::pin(async move {
            let parsed = parse_endpoint(&endpoint).map_err(|e| ConnectFailure {
                reason: CloseReason::ConnectFailed,
                kind: FailureKind::Unreachable,
                text: e.to_string(),
            })?;
            let security = match &parsed {
                Endpoint::Sctp { .. } => PathSecurity::plain("sctp"),
                Endpoint::Wss { url } => PathSecurity {
                    transport: "websocket".into(),
                    tls: true,
                    authenticated_peer: url_host(url),
                    via_gateway: true,
                },
            };
            let channel = Channel::connect(&parsed, tls).await?;
            if let Some(mux) = channel.gateway_mux() {
                *gateway.lock().unwrap_or_else(|p| p.into_inner()) = Some(mux);
            }
            Ok((channel, security))
        })
    }

    fn connect_element(
        &self,
        pool_handle: PoolHandle,
        element: PoolElement,
    ) -> BoxFuture<Connected> {
        let gateway = self
            .gateway
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|g| g.is_alive());
        let app_ppid = self.app_ppid;
        Box::pin(async move {
            if let Some(mux) = gateway {
                let (channel, rx) = mux
                    .open_session(app_ppid, element.id.0, pool_handle.as_bytes().to_vec())
                    .await
                    .map_err(|text| ConnectFailure {
                        reason: CloseReason::ConnectFailed,
                        kind: FailureKind::Unreachable,
                        text,
                    })?;
                let security = PathSecurity {
                    transport: "websocket".into(),
                    tls: true,
                    authenticated_peer: None,
                    via_gateway: true,
                };
                return Ok((Channel::gateway(mux, channel, rx), security));
            }
            let addrs = element_addrs(&element);
            let channel = Channel::connect_sctp(&addrs).await?;
            Ok((channel, PathSecurity::plain("sctp")))
        })
    }
}

fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = match authority.rfind(']') {
        Some(i) => &authority[..=i],
        None => authority.split(':').next()?,
    };
    Some(host.to_string())
}

/// Addresses of a PE's user transport, routable ones first (the first
/// address is the primary path). Both families go into one association:
/// the SCTP transport uses an IPv6 socket when they are mixed.
pub fn element_addrs(e: &PoolElement) -> Vec<SocketAddr> {
    let port = e.user_transport.port;
    let mut addrs: Vec<SocketAddr> = e
        .user_transport
        .addresses
        .iter()
        .map(|a| SocketAddr::new(*a, port))
        .collect();
    addrs.sort_by_key(|a| (a.ip().is_loopback(), a.is_ipv6()));
    addrs
}

/// What the I/O tasks report.
enum Io {
    Connected {
        channel: ChannelId,
        result: Connected,
        what: String,
    },
    Received {
        channel: ChannelId,
        ppid: u32,
        bytes: Vec<u8>,
    },
    Closed {
        channel: ChannelId,
        reason: CloseReason,
    },
}

struct Open {
    writer: mpsc::UnboundedSender<(u32, Vec<u8>)>,
    tasks: Vec<JoinHandle<()>>,
}

/// The driver: a pool user plus its transports and clock.
pub struct Driver {
    pu: PoolUser,
    epoch: Instant,
    connector: Arc<dyn Connector>,
    io_tx: mpsc::UnboundedSender<Io>,
    io_rx: mpsc::UnboundedReceiver<Io>,
    open: HashMap<ChannelId, Open>,
    connecting: HashMap<ChannelId, JoinHandle<()>>,
    failures: Vec<(String, ConnectFailure)>,
}

fn close_reason(e: &ChannelError) -> CloseReason {
    match e {
        ChannelError::Aborted(_) => CloseReason::Aborted,
        ChannelError::Closed | ChannelError::Sctp(SctpError::Closed(SctpClose::Shutdown)) => {
            CloseReason::Closed
        }
        _ => CloseReason::Aborted,
    }
}

impl Driver {
    pub fn new(pu: PoolUser, connector: Arc<dyn Connector>) -> Self {
        let (io_tx, io_rx) = mpsc::unbounded_channel();
        Driver {
            pu,
            epoch: Instant::now(),
            connector,
            io_tx,
            io_rx,
            open: HashMap::new(),
            connecting: HashMap::new(),
            failures: Vec::new(),
        }
    }

    /// Time since the driver started: the pool user's clock.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The pool user, for application calls (`resolve`, `open_session`, …).
    pub fn pool_user(&mut self) -> &mut PoolUser {
        &mut self.pu
    }

    /// Every failed connection attempt so far: (what, why).
    pub fn connect_failures(&self) -> &[(String, ConnectFailure)] {
        &self.failures
    }

    /// Carry out what the pool user asked for. Synchronous: connects run in
    /// tasks, sends go to per-channel writer tasks.
    fn flush(&mut self) {
        while let Some(action) = self.pu.poll_action() {
            match action {
                Action::ConnectRegistrar { channel, endpoint } => {
                    tracing::debug!(?channel, %endpoint, "connect registrar");
                    let fut = self.connector.connect_registrar(endpoint.clone());
                    self.spawn_connect(channel, endpoint, fut);
                }
                Action::ConnectPoolElement {
                    channel,
                    element,
                    pool_handle,
                    ..
                } => {
                    tracing::debug!(?channel, pe = %element.id, "connect pool element");
                    let what = format!("pool element {}", element.id);
                    let fut = self.connector.connect_element(pool_handle, element);
                    self.spawn_connect(channel, what, fut);
                }
                Action::Close { channel } => {
                    if let Some(t) = self.connecting.remove(&channel) {
                        t.abort();
                    }
                    if let Some(open) = self.open.remove(&channel) {
                        for t in open.tasks {
                            t.abort();
                        }
                    }
                }
            }
        }
        while let Some(t) = self.pu.poll_transmit() {
            match self.open.get(&t.channel) {
                Some(open) => {
                    let _ = open.writer.send((t.ppid, t.bytes));
                }
                None => tracing::debug!(channel = ?t.channel, "transmit on a channel that is gone"),
            }
        }
    }

    fn spawn_connect(&mut self, channel: ChannelId, what: String, fut: BoxFuture<Connected>) {
        let tx = self.io_tx.clone();
        let task = tokio::spawn(async move {
            let result = fut.await;
            let _ = tx.send(Io::Connected {
                channel,
                result,
                what,
            });
        });
        self.connecting.insert(channel, task);
    }

    fn start_io(&mut self, id: ChannelId, channel: Channel) {
        let (writer, mut outbox) = mpsc::unbounded_channel::<(u32, Vec<u8>)>();
        let tx = self.io_tx.clone();
        let reader_channel = channel.clone();
        let reader = tokio::spawn(async move {
            loop {
                match reader_channel.recv().await {
                    Ok((ppid, bytes)) => {
                        if tx
                            .send(Io::Received {
                                channel: id,
                                ppid,
                                bytes,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Io::Closed {
                            channel: id,
                            reason: close_reason(&e),
                        });
                        return;
                    }
                }
            }
        });
        let tx = self.io_tx.clone();
        let writer_task = tokio::spawn(async move {
            while let Some((ppid, bytes)) = outbox.recv().await {
                if let Err(e) = channel.send(ppid, &bytes).await {
                    let _ = tx.send(Io::Closed {
                        channel: id,
                        reason: close_reason(&e),
                    });
                    return;
                }
            }
        });
        self.open.insert(
            id,
            Open {
                writer,
                tasks: vec![reader, writer_task],
            },
        );
    }

    fn handle_io(&mut self, io: Io) {
        let now = self.now();
        match io {
            Io::Connected {
                channel,
                result,
                what,
            } => {
                if self.connecting.remove(&channel).is_none() {
                    // Closed by the pool user meanwhile.
                    return;
                }
                match result {
                    Ok((ch, security)) => {
                        self.start_io(channel, ch);
                        self.pu.handle_connected(channel, security, now);
                    }
                    Err(failure) => {
                        tracing::info!(%what, "connect failed: {}", failure.text);
                        let reason = failure.reason.clone();
                        self.failures.push((what, failure));
                        self.pu.handle_closed(channel, reason, now);
                    }
                }
            }
            Io::Received {
                channel,
                ppid,
                bytes,
            } => {
                if self.open.contains_key(&channel) {
                    self.pu.handle_received(channel, ppid, &bytes, now);
                }
            }
            Io::Closed { channel, reason } => {
                if let Some(open) = self.open.remove(&channel) {
                    for t in open.tasks {
                        t.abort();
                    }
                    self.pu.handle_closed(channel, reason, now);
                }
            }
        }
    }

    /// Run until the pool user has an event, and return it.
    pub async fn next_event(&mut self) -> Event {
        loop {
            self.flush();
            if let Some(event) = self.pu.poll_event() {
                return event;
            }
            let deadline = self.pu.poll_timeout().map(|t| self.epoch + t);
            tokio::select! {
                io = self.io_rx.recv() => {
                    // The driver holds a sender itself, so this never ends.
                    if let Some(io) = io {
                        self.handle_io(io);
                    }
                }
                _ = sleep_until(deadline) => {
                    let now = self.now();
                    self.pu.handle_timeout(now);
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        for (_, t) in self.connecting.drain() {
            t.abort();
        }
        for (_, open) in self.open.drain() {
            for t in open.tasks {
                t.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_host_for_path_security() {
        assert_eq!(
            url_host("wss://gw.example:8443/asap").as_deref(),
            Some("gw.example")
        );
        assert_eq!(url_host("wss://[::1]:8443/").as_deref(), Some("[::1]"));
    }
}
