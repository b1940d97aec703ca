//! The async driver of client-core's sans-IO [`PoolUser`]: it owns the
//! clock, the timers and the I/O tasks, and moves bytes and transport
//! events between them and the pool user. Registrars at `sctp://` URLs and
//! the pool elements they name are reached through a [`Connector`];
//! registrars at `ws(s)://` URLs, and the sessions opened through them, are
//! links of [`GatewayLinks`], whose WebSockets this driver opens. It makes
//! no protocol decisions (docs/architecture.md, "Drivers are thin").
//!
//! [`Driver::next_event`] is cancel-safe (everything it awaits is a channel
//! receive or a sleep), so a caller can `select!` it with its own inputs.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use client_core::gateway_link::{GatewayLinks, LinkOutput};
use client_core::pool_user::{Action, ChannelId, CloseReason, Event, PathSecurity, PoolUser};
use client_core::wire::{PoolElement, PoolHandle};
use rserpool_sctp::{CloseReason as SctpClose, SctpError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::channel::{Channel, ChannelError, ConnectError};
use crate::endpoint::parse_endpoint;
use crate::gateway::{self, SocketEvent};

/// Result of opening a channel: the channel and what protects it, or why
/// it failed.
pub type Connected = Result<(Channel, PathSecurity), ConnectFailure>;

/// A failed connection attempt, as the pool user and the user see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectFailure {
    /// What the pool user is told.
    pub reason: CloseReason,
    /// The class of failure.
    pub kind: FailureKind,
    /// What the user reads.
    pub text: String,
}

/// Classes of connect failures (a command's exit status depends on them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The kernel has no SCTP.
    NoSctp,
    /// The TLS handshake with a gateway failed.
    Tls,
    /// Anything else: refused, timed out, name not found, gateway refusal.
    Unreachable,
}

impl FailureKind {
    /// The kind as a word for JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::NoSctp => "no-sctp",
            FailureKind::Tls => "tls-failed",
            FailureKind::Unreachable => "unreachable",
        }
    }
}

impl ConnectFailure {
    fn unreachable(text: String) -> Self {
        ConnectFailure {
            reason: CloseReason::ConnectFailed,
            kind: FailureKind::Unreachable,
            text,
        }
    }
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
            _ => ConnectFailure::unreachable(text),
        }
    }
}

/// A boxed future, as [`Connector`] methods return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How channels without a gateway are opened: the network, or an
/// in-process fake in tests.
pub trait Connector: Send + Sync + 'static {
    /// Open a channel to a registrar endpoint string (`sctp://…`).
    fn connect_registrar(&self, endpoint: String) -> BoxFuture<Connected>;
    /// Open a channel to a pool element's user transport.
    fn connect_element(
        &self,
        pool_handle: PoolHandle,
        element: PoolElement,
    ) -> BoxFuture<Connected>;
}

/// The real network: kernel SCTP to registrars and pool elements.
#[derive(Clone, Copy, Debug, Default)]
pub struct NetConnector;

impl Connector for NetConnector {
    fn connect_registrar(&self, endpoint: String) -> BoxFuture<Connected> {
        Box::pin(async move {
            let parsed = parse_endpoint(&endpoint)
                .map_err(|e| ConnectFailure::unreachable(e.to_string()))?;
            let channel = Channel::connect(&parsed).await?;
            Ok((channel, PathSecurity::plain("sctp")))
        })
    }

    fn connect_element(
        &self,
        _pool_handle: PoolHandle,
        element: PoolElement,
    ) -> BoxFuture<Connected> {
        Box::pin(async move {
            let channel = Channel::connect_sctp(&element_addrs(&element)).await?;
            Ok((channel, PathSecurity::plain("sctp")))
        })
    }
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

/// How the driver reaches gateways (`ws://`, `wss://` registrars).
#[derive(Clone, Debug, Default)]
pub struct GatewayOptions {
    /// Trust for `wss://` ([`crate::tls::client_config`]); without it a
    /// `wss://` registrar fails to connect with a readable reason.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Gateway token, presented as the subprotocol value
    /// `rserpool.token.<base64url>` (docs/gateway.md, "Token").
    pub token: Option<String>,
    /// PPID of the sessions' data, announced in `OpenSession`.
    pub app_ppid: u32,
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
    Link {
        link: ChannelId,
        event: SocketEvent,
    },
}

struct Open {
    writer: mpsc::UnboundedSender<(u32, Vec<u8>)>,
    tasks: Vec<JoinHandle<()>>,
}

/// A gateway link's socket and what the user is told if it never comes up.
struct LinkSocket {
    socket: gateway::Socket,
    endpoint: String,
    up: bool,
    /// Why it failed, once known (a refusal, the socket's error).
    failure: Option<ConnectFailure>,
}

/// The driver: a pool user plus its transports and clock.
pub struct Driver {
    pu: PoolUser,
    epoch: Instant,
    connector: Arc<dyn Connector>,
    gateway: GatewayOptions,
    links: GatewayLinks,
    sockets: HashMap<ChannelId, LinkSocket>,
    io_tx: mpsc::UnboundedSender<Io>,
    io_rx: mpsc::UnboundedReceiver<Io>,
    open: HashMap<ChannelId, Open>,
    connecting: HashMap<ChannelId, JoinHandle<()>>,
    failures: Vec<(String, ConnectFailure)>,
}

fn close_reason(e: &ChannelError) -> CloseReason {
    match e {
        ChannelError::Closed | ChannelError::Sctp(SctpError::Closed(SctpClose::Shutdown)) => {
            CloseReason::Closed
        }
        _ => CloseReason::Aborted,
    }
}

impl Driver {
    /// A driver for `pu` whose direct channels `connector` opens; gateway
    /// links need [`Self::with_gateway`] for TLS, a token or a data PPID.
    pub fn new(pu: PoolUser, connector: Arc<dyn Connector>) -> Self {
        let (io_tx, io_rx) = mpsc::unbounded_channel();
        Driver {
            pu,
            epoch: Instant::now(),
            connector,
            gateway: GatewayOptions::default(),
            links: GatewayLinks::new(),
            sockets: HashMap::new(),
            io_tx,
            io_rx,
            open: HashMap::new(),
            connecting: HashMap::new(),
            failures: Vec::new(),
        }
    }

    /// How gateways are reached from now on.
    pub fn with_gateway(mut self, options: GatewayOptions) -> Self {
        self.links.set_token(options.token.as_deref());
        self.gateway = options;
        self
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

    /// Whether the pool user's home registrar is reached through a gateway
    /// (then its pool elements are too: the gateway opens only elements it
    /// resolved for this client).
    fn home_is_gateway(&self) -> bool {
        self.pu
            .home_registrar()
            .is_some_and(GatewayLinks::is_gateway_endpoint)
    }

    /// Carry out what the pool user and the links ask for, until neither
    /// has anything left. Synchronous: connects run in tasks, sends go to
    /// per-channel writer tasks.
    fn flush(&mut self) {
        loop {
            let mut busy = false;
            while let Some(action) = self.pu.poll_action() {
                busy = true;
                self.perform(action);
            }
            while let Some(t) = self.pu.poll_transmit() {
                busy = true;
                match self.open.get(&t.channel) {
                    Some(open) => {
                        let _ = open.writer.send((t.ppid, t.bytes));
                    }
                    None => self.links.transmit(t),
                }
            }
            while let Some(out) = self.links.poll() {
                busy = true;
                self.link_output(out);
            }
            if !busy {
                return;
            }
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::ConnectRegistrar { channel, endpoint }
                if GatewayLinks::is_gateway_endpoint(&endpoint) =>
            {
                tracing::debug!(?channel, %endpoint, "open gateway link");
                self.links.open(channel, &endpoint);
            }
            Action::ConnectRegistrar { channel, endpoint } => {
                tracing::debug!(?channel, %endpoint, "connect registrar");
                let fut = self.connector.connect_registrar(endpoint.clone());
                self.spawn_connect(channel, endpoint, fut);
            }
            action @ Action::ConnectPoolElement { .. } if self.home_is_gateway() => {
                let home = self.pu.home_registrar().map(str::to_string);
                self.links
                    .perform(action, self.gateway.app_ppid, home.as_deref());
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
                self.links.close(channel);
            }
        }
    }

    fn link_output(&mut self, out: LinkOutput) {
        let now = self.now();
        match out {
            LinkOutput::Open {
                link,
                url,
                protocols,
            } => {
                let tx = self.io_tx.clone();
                let socket = gateway::open(url.clone(), protocols, self.gateway.tls.clone(), {
                    move |event| {
                        let _ = tx.send(Io::Link { link, event });
                    }
                });
                let old = self.sockets.insert(
                    link,
                    LinkSocket {
                        socket,
                        endpoint: url,
                        up: false,
                        failure: None,
                    },
                );
                if let Some(old) = old {
                    old.socket.task.abort();
                }
            }
            LinkOutput::Send { link, frame } => {
                if let Some(s) = self.sockets.get(&link) {
                    let _ = s.socket.writer.send(frame);
                }
            }
            // Dropping the writer closes the WebSocket in order.
            LinkOutput::Close { link } => drop(self.sockets.remove(&link)),
            LinkOutput::Connected { channel, security } => {
                if let Some(s) = self.sockets.get_mut(&channel) {
                    s.up = true;
                }
                self.pu.handle_connected(channel, security, now);
            }
            LinkOutput::Received {
                channel,
                ppid,
                payload,
            } => self.pu.handle_received(channel, ppid, &payload, now),
            LinkOutput::Closed { channel, reason } => {
                if let Some(s) = self.sockets.remove(&channel) {
                    if !s.up {
                        let failure = s.failure.unwrap_or_else(|| {
                            ConnectFailure::unreachable("gateway closed the WebSocket".into())
                        });
                        tracing::info!(endpoint = %s.endpoint, "connect failed: {}", failure.text);
                        self.failures.push((s.endpoint, failure));
                    }
                    s.socket.task.abort();
                }
                self.pu.handle_closed(channel, reason, now);
            }
            LinkOutput::Problem(p) => {
                tracing::info!("gateway link: {p}");
                // A refusal before the registrar is up explains the close
                // that follows it.
                let text = p.to_string();
                for s in self.sockets.values_mut().filter(|s| !s.up) {
                    s.failure
                        .get_or_insert_with(|| ConnectFailure::unreachable(text.clone()));
                }
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
                        let received = Io::Received {
                            channel: id,
                            ppid,
                            bytes,
                        };
                        if tx.send(received).is_err() {
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
            Io::Link { link, event } => {
                if !self.sockets.contains_key(&link) {
                    // A socket the links closed already.
                    return;
                }
                match event {
                    SocketEvent::Frame(bytes) => self.links.handle_frame(link, &bytes),
                    SocketEvent::Text => self.links.handle_text_frame(link),
                    SocketEvent::OpenFailed(e) => {
                        let failure = ConnectFailure::from(e);
                        let reason = failure.reason.clone();
                        if let Some(s) = self.sockets.get_mut(&link) {
                            s.failure = Some(failure);
                        }
                        self.links.handle_open_failed(link, reason);
                    }
                    SocketEvent::Closed(why) => {
                        if let Some(s) = self.sockets.get_mut(&link) {
                            s.failure
                                .get_or_insert_with(|| ConnectFailure::unreachable(why));
                        }
                        self.links.handle_socket_closed(link);
                    }
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
        self.links.close_all();
        for (_, s) in self.sockets.drain() {
            s.socket.task.abort();
        }
    }
}
