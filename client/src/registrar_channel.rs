//! A registrar channel for tools that write ASAP themselves (probes, the
//! lab's attack actors): raw ASAP messages to one registrar, and back what
//! the registrar sends and what a gateway on the way refuses.
//!
//! A [`crate::Client`] decides what to send (its pool user does); this
//! channel sends exactly the bytes it is given, so a tool can send what a
//! well-behaved pool user never would — and see how the path answers. An
//! `sctp://` registrar is one SCTP association ([`Channel`]); a `ws(s)://`
//! one is a gateway link, as a browser has, over the same
//! [`client_core::gateway_link`] rules and WebSocket code as the client's
//! driver: the gateway's role and rate rules apply to it, and each refusal
//! arrives as [`FromRegistrar::Refused`] (docs/gateway-protocol.md,
//! "Notice codes").
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rserpool_client::registrar_channel::{FromRegistrar, RegistrarChannel};
//! use rserpool_client::GatewayOptions;
//!
//! let tls = rserpool_client::tls::client_config(Some("ca.pem".as_ref()))?;
//! let gateway = GatewayOptions { tls: Some(tls), ..GatewayOptions::default() };
//! let channel = RegistrarChannel::connect("wss://localhost:8443/asap/1", &gateway)
//!     .await
//!     .map_err(|failure| failure.text)?;
//! # let endpoint_unreachable = Vec::new();
//! channel.send_asap(&endpoint_unreachable).await?;
//! if let FromRegistrar::Refused { code, text } = channel.recv().await? {
//!     println!("the gateway refused it: {} ({text})", code.slug());
//! }
//! # Ok(()) }
//! ```

use client_core::gateway_link::{GatewayLinks, LinkOutput, LinkProblem};
use client_core::gateway_protocol::NoticeCode;
use client_core::pool_user::{ChannelId, CloseReason, Transmit};
use client_core::wire::consts::PPID_ASAP;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

use crate::channel::{Channel, ChannelError};
use crate::driver::{ConnectFailure, GatewayOptions};
use crate::endpoint::{parse_endpoint, Endpoint};
use crate::gateway::{self, SocketEvent};

/// What arrives on a [`RegistrarChannel`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FromRegistrar {
    /// One ASAP message from the registrar (PPID 11), as it was sent.
    Asap(Vec<u8>),
    /// The gateway did not forward something this channel sent (a notice
    /// from 0x0100 on: a rate limit, a report refused, a forbidden type).
    Refused {
        /// The notice.
        code: NoticeCode,
        /// The gateway's text.
        text: String,
    },
}

/// A raw ASAP channel to one registrar, direct or through a gateway. See
/// the [module docs](self). Its methods take `&self`, so one task can send
/// while another receives.
pub struct RegistrarChannel {
    path: Path,
}

enum Path {
    Sctp(Channel),
    Gateway(GatewayPath),
}

/// The task that owns a gateway link, and its two directions.
struct GatewayPath {
    outbox: mpsc::UnboundedSender<Vec<u8>>,
    inbox: Mutex<mpsc::UnboundedReceiver<FromRegistrar>>,
    task: JoinHandle<()>,
}

impl Drop for GatewayPath {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The one registrar channel of a link (the link's id in [`GatewayLinks`]).
const LINK: ChannelId = ChannelId(1);

impl RegistrarChannel {
    /// Opens a channel to `endpoint` (`sctp://…` or `ws(s)://…`) and waits
    /// until the registrar is reachable: the association is up, or the
    /// gateway said `registrar-up`. `gateway` gives the TLS trust (and a
    /// token) for `wss://`.
    pub async fn connect(
        endpoint: &str,
        gateway: &GatewayOptions,
    ) -> Result<RegistrarChannel, ConnectFailure> {
        let parsed = parse_endpoint(endpoint).map_err(|e| ConnectFailure {
            reason: CloseReason::ConnectFailed,
            kind: crate::FailureKind::Unreachable,
            text: format!("{endpoint}: {e}"),
        })?;
        let path = match parsed {
            Endpoint::Sctp { .. } => Path::Sctp(Channel::connect(&parsed).await?),
            Endpoint::Wss { url } => Path::Gateway(open_gateway(url, gateway).await?),
        };
        Ok(RegistrarChannel { path })
    }

    /// Sends one ASAP message (PPID 11) to the registrar. Through a gateway
    /// the message is queued for the link; a refusal comes back later from
    /// [`Self::recv`].
    pub async fn send_asap(&self, message: &[u8]) -> Result<(), ChannelError> {
        match &self.path {
            Path::Sctp(c) => c.send(PPID_ASAP, message).await,
            Path::Gateway(g) => g
                .outbox
                .send(message.to_vec())
                .map_err(|_| ChannelError::Closed),
        }
    }

    /// The next ASAP message from the registrar or refusal from the gateway
    /// (other PPIDs are passed over); an error once the channel has ended.
    pub async fn recv(&self) -> Result<FromRegistrar, ChannelError> {
        match &self.path {
            Path::Sctp(c) => loop {
                let (ppid, bytes) = c.recv().await?;
                if ppid == PPID_ASAP {
                    return Ok(FromRegistrar::Asap(bytes));
                }
            },
            Path::Gateway(g) => g
                .inbox
                .lock()
                .await
                .recv()
                .await
                .ok_or(ChannelError::Closed),
        }
    }

    /// Whether this channel goes through a gateway.
    pub fn via_gateway(&self) -> bool {
        matches!(self.path, Path::Gateway(_))
    }
}

/// Starts the task of one gateway link and waits for `registrar-up` (or
/// the reason it will not come).
async fn open_gateway(
    url: String,
    options: &GatewayOptions,
) -> Result<GatewayPath, ConnectFailure> {
    let (outbox, outgoing) = mpsc::unbounded_channel();
    let (incoming, inbox) = mpsc::unbounded_channel();
    let (up_tx, up_rx) = oneshot::channel();
    let mut links = GatewayLinks::new();
    links.set_token(options.token.as_deref());
    links.open(LINK, &url);
    let link = Link {
        links,
        tls: options.tls.clone(),
        url,
        up: Some(up_tx),
        failure: None,
        incoming,
    };
    let task = tokio::spawn(link.run(outgoing));
    match up_rx.await {
        Ok(Ok(())) => Ok(GatewayPath {
            outbox,
            inbox: Mutex::new(inbox),
            task,
        }),
        Ok(Err(failure)) => Err(failure),
        Err(_) => Err(ConnectFailure {
            reason: CloseReason::ConnectFailed,
            kind: crate::FailureKind::Unreachable,
            text: "the gateway link ended before the registrar was up".into(),
        }),
    }
}

/// One gateway link's state inside its task: the link rules, the socket,
/// and where connection and messages are reported.
struct Link {
    links: GatewayLinks,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    url: String,
    /// Told once: up, or why not.
    up: Option<oneshot::Sender<Result<(), ConnectFailure>>>,
    /// Why the link failed before it was up, once known.
    failure: Option<ConnectFailure>,
    incoming: mpsc::UnboundedSender<FromRegistrar>,
}

impl Link {
    async fn run(mut self, mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>) {
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let mut socket: Option<gateway::Socket> = None;
        loop {
            while let Some(out) = self.links.poll() {
                match out {
                    LinkOutput::Open { url, protocols, .. } => {
                        let tx = events_tx.clone();
                        socket = Some(gateway::open(url, protocols, self.tls.clone(), move |e| {
                            let _ = tx.send(e);
                        }));
                    }
                    LinkOutput::Send { frame, .. } => {
                        if let Some(s) = &socket {
                            let _ = s.writer.send(frame);
                        }
                    }
                    LinkOutput::Close { .. } => socket = None,
                    LinkOutput::Connected { .. } => {
                        if let Some(up) = self.up.take() {
                            let _ = up.send(Ok(()));
                        }
                    }
                    LinkOutput::Received { ppid, payload, .. } => {
                        if ppid == PPID_ASAP {
                            let _ = self.incoming.send(FromRegistrar::Asap(payload));
                        }
                    }
                    LinkOutput::Closed { reason, .. } => {
                        if let Some(up) = self.up.take() {
                            let failure = self.failure.take().unwrap_or_else(|| ConnectFailure {
                                reason,
                                kind: crate::FailureKind::Unreachable,
                                text: format!("{}: gateway closed the WebSocket", self.url),
                            });
                            let _ = up.send(Err(failure));
                        }
                        if let Some(s) = socket.take() {
                            s.task.abort();
                        }
                        // Dropping `incoming` ends the receiver's stream.
                        return;
                    }
                    LinkOutput::Problem(LinkProblem::Refused { code, text }) => {
                        if self.up.is_some() {
                            self.failure.get_or_insert_with(|| ConnectFailure {
                                reason: CloseReason::ConnectFailed,
                                kind: crate::FailureKind::Unreachable,
                                text: format!("{}: gateway: {}: {text}", self.url, code.slug()),
                            });
                        }
                        let _ = self.incoming.send(FromRegistrar::Refused { code, text });
                    }
                    LinkOutput::Problem(p) => tracing::info!(url = %self.url, "gateway link: {p}"),
                }
            }
            tokio::select! {
                m = outgoing.recv() => match m {
                    Some(bytes) => self.links.transmit(Transmit {
                        channel: LINK,
                        ppid: PPID_ASAP,
                        bytes,
                    }),
                    // The channel was dropped: close the WebSocket in order.
                    None => return,
                },
                e = events.recv() => match e {
                    Some(SocketEvent::Frame(bytes)) => self.links.handle_frame(LINK, &bytes),
                    Some(SocketEvent::Text) => self.links.handle_text_frame(LINK),
                    Some(SocketEvent::OpenFailed(e)) => {
                        let failure = ConnectFailure::from(e);
                        let reason = failure.reason.clone();
                        self.failure = Some(failure);
                        self.links.handle_open_failed(LINK, reason);
                    }
                    Some(SocketEvent::Closed(why)) => {
                        self.failure.get_or_insert_with(|| ConnectFailure {
                            reason: CloseReason::ConnectFailed,
                            kind: crate::FailureKind::Unreachable,
                            text: format!("{}: {why}", self.url),
                        });
                        self.links.handle_socket_closed(LINK);
                    }
                    // `events_tx` is held here: never ends.
                    None => return,
                },
            }
        }
    }
}
