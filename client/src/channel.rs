//! Channels that carry (PPID, message) pairs to a registrar or a pool
//! element without a gateway: a kernel SCTP association, or an in-process
//! pair for tests. Gateway channels are the driver's, over
//! `client_core::gateway_link` ([`crate::Driver`]).

use std::net::SocketAddr;
use std::sync::Arc;

use rserpool_sctp::{SctpAssociation, SctpError};
use tokio::sync::mpsc;

use crate::endpoint::Endpoint;

/// Why a channel could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// This kernel has no SCTP (`socket(…, IPPROTO_SCTP)` refused).
    #[error("{0}")]
    NoSctp(SctpError),
    /// A host name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// The peer could not be reached (refused, timed out, gateway gone).
    #[error("{0}")]
    Unreachable(String),
    /// The TLS handshake failed; rustls' reason (e.g. `invalid peer
    /// certificate: UnknownIssuer`).
    #[error("TLS: {0}")]
    Tls(String),
    /// The endpoint needs something this client was not given.
    #[error("{0}")]
    Unsupported(String),
}

/// Why a channel failed after it was open.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The SCTP association failed or ended.
    #[error("{0}")]
    Sctp(#[from] SctpError),
    /// The other end closed the channel.
    #[error("channel closed")]
    Closed,
}

/// An open channel that carries (PPID, message) pairs.
#[derive(Clone, Debug)]
pub struct Channel {
    inner: Inner,
}

#[derive(Clone, Debug)]
enum Inner {
    Sctp(Arc<SctpAssociation>),
    Memory(Arc<MemoryEnd>),
}

/// One end of an in-process channel (tests and simulators).
#[derive(Debug)]
struct MemoryEnd {
    tx: mpsc::UnboundedSender<(u32, Vec<u8>)>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<(u32, Vec<u8>)>>,
}

impl Channel {
    /// Two connected in-process channel ends: what one sends, the other
    /// receives, PPID included. For fake registrars and pool elements in
    /// tests on hosts without kernel SCTP.
    pub fn memory_pair() -> (Channel, Channel) {
        let (a_tx, b_rx) = mpsc::unbounded_channel();
        let (b_tx, a_rx) = mpsc::unbounded_channel();
        let end = |tx, rx| Channel {
            inner: Inner::Memory(Arc::new(MemoryEnd {
                tx,
                rx: tokio::sync::Mutex::new(rx),
            })),
        };
        (end(a_tx, a_rx), end(b_tx, b_rx))
    }

    /// Open an SCTP association to an `sctp://` endpoint, every address of
    /// every host in one association (multi-homing).
    pub async fn connect(endpoint: &Endpoint) -> Result<Channel, ConnectError> {
        match endpoint {
            Endpoint::Sctp { hosts, port } => {
                let mut addrs = Vec::new();
                for host in hosts {
                    let found = tokio::net::lookup_host((host.as_str(), *port))
                        .await
                        .map_err(|e| ConnectError::Resolve {
                            host: host.clone(),
                            reason: e.to_string(),
                        })?;
                    addrs.extend(found);
                }
                Self::connect_sctp(&addrs).await
            }
            Endpoint::Wss { url } => Err(ConnectError::Unsupported(format!(
                "{url}: a gateway URL is a link of the driver, not an SCTP channel"
            ))),
        }
    }

    /// Open an SCTP association to all addresses of one endpoint.
    pub async fn connect_sctp(addrs: &[SocketAddr]) -> Result<Channel, ConnectError> {
        match SctpAssociation::connect(addrs).await {
            Ok(a) => Ok(Channel {
                inner: Inner::Sctp(Arc::new(a)),
            }),
            Err(e) if e.is_no_kernel_support() => Err(ConnectError::NoSctp(e)),
            Err(e) => Err(ConnectError::Unreachable(e.to_string())),
        }
    }

    /// Send one message with its PPID.
    pub async fn send(&self, ppid: u32, data: &[u8]) -> Result<(), ChannelError> {
        match &self.inner {
            // ASAP and application data both go on stream 0, ordered (RSPLIB).
            Inner::Sctp(a) => Ok(a.send(ppid, 0, data).await?),
            Inner::Memory(m) => {
                m.tx.send((ppid, data.to_vec()))
                    .map_err(|_| ChannelError::Closed)
            }
        }
    }

    /// The next message and its PPID.
    pub async fn recv(&self) -> Result<(u32, Vec<u8>), ChannelError> {
        match &self.inner {
            Inner::Sctp(a) => {
                let m = a.recv().await?;
                Ok((m.ppid, m.data))
            }
            Inner::Memory(m) => m.rx.lock().await.recv().await.ok_or(ChannelError::Closed),
        }
    }
}
