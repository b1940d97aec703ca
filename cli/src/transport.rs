//! Channels to registrars and pool elements: where a URL points and how the
//! bytes get there. Thin: ASAP decisions are client-core's.

use std::net::SocketAddr;
use std::sync::Arc;

use client_core::gateway_protocol::{Frame, NoticeCode, REGISTRAR_CHANNEL};
use client_core::wire::consts::ASAP_PORT;
use rserpool_sctp::{SctpAssociation, SctpError};
use tokio::sync::mpsc;

use crate::wss::{ChannelEvent, GatewayMux};

/// A registrar (or pool element) address as the user gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `sctp://host[,host…][:port]` or bare `host:port`. Several hosts are
    /// the addresses of one multi-homed endpoint; a name resolving to
    /// several addresses is treated the same way.
    Sctp { hosts: Vec<String>, port: u16 },
    /// `wss://…` through the gateway.
    Wss { url: String },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Sctp { hosts, port } => {
                let hosts: Vec<String> = hosts
                    .iter()
                    .map(|h| {
                        if h.contains(':') {
                            format!("[{h}]")
                        } else {
                            h.clone()
                        }
                    })
                    .collect();
                write!(f, "sctp://{}:{port}", hosts.join(","))
            }
            Endpoint::Wss { url } => write!(f, "{url}"),
        }
    }
}

/// Why a registrar URL is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("unsupported scheme {0:?} (use sctp:// or wss://)")]
    Scheme(String),
    #[error("no host in {0:?}")]
    NoHost(String),
    #[error("bad port in {0:?}")]
    Port(String),
}

/// Parse a registrar URL. The ASAP port (3863) is the default for SCTP.
pub fn parse_endpoint(text: &str) -> Result<Endpoint, UrlError> {
    let text = text.trim();
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("sctp".to_string(), text),
    };
    match scheme.as_str() {
        "wss" | "ws" => {
            if rest.is_empty() || rest.starts_with('/') {
                return Err(UrlError::NoHost(text.to_string()));
            }
            Ok(Endpoint::Wss {
                url: text.to_string(),
            })
        }
        "sctp" => {
            let rest = rest.trim_end_matches('/');
            // The port follows the last ':' that is outside brackets.
            let close = rest.rfind(']').map_or(0, |i| i + 1);
            let (hosts, port) = match rest[close..].rfind(':') {
                Some(i) => {
                    let port_text = &rest[close + i + 1..];
                    let port = port_text
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| UrlError::Port(text.to_string()))?;
                    (&rest[..close + i], port)
                }
                None => (rest, ASAP_PORT),
            };
            let hosts: Vec<String> = hosts
                .split(',')
                .map(|h| {
                    h.trim()
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string()
                })
                .filter(|h| !h.is_empty())
                .collect();
            if hosts.is_empty() {
                return Err(UrlError::NoHost(text.to_string()));
            }
            // A bare IPv6 address without brackets has several ':'.
            if hosts.len() == 1 && hosts[0].contains(':') && !rest.contains('[') {
                return Err(UrlError::Port(text.to_string()));
            }
            Ok(Endpoint::Sctp { hosts, port })
        }
        other => Err(UrlError::Scheme(other.to_string())),
    }
}

/// Why a channel could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    NoSctp(SctpError),
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("{0}")]
    Unreachable(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Why a channel failed after it was open.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{0}")]
    Sctp(#[from] SctpError),
    #[error("channel closed")]
    Closed,
    #[error("WebSocket: {0}")]
    WebSocket(String),
    /// The gateway reports the association aborted or lost.
    #[error("{0}")]
    Aborted(String),
    /// Something this channel cannot carry or did not expect.
    #[error("{0}")]
    Protocol(String),
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
    Gateway(Arc<GatewayEnd>),
}

/// One end of an in-process channel (tests and simulators).
#[derive(Debug)]
struct MemoryEnd {
    tx: mpsc::UnboundedSender<(u32, Vec<u8>)>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<(u32, Vec<u8>)>>,
}

/// A channel inside a gateway WebSocket (`rserpool.asap.v1`): the
/// registrar channel 0 or a pool-element session.
struct GatewayEnd {
    mux: Arc<GatewayMux>,
    channel: u16,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<ChannelEvent>>,
}

impl std::fmt::Debug for GatewayEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GatewayEnd({})", self.channel)
    }
}

impl Drop for GatewayEnd {
    fn drop(&mut self) {
        if self.channel != REGISTRAR_CHANNEL {
            self.mux.close_route(self.channel);
            let mux = self.mux.clone();
            let channel = self.channel;
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = mux.send(Frame::CloseSession { channel }).await;
                });
            }
        }
    }
}

impl Channel {
    /// A channel inside a gateway WebSocket.
    pub(crate) fn gateway(
        mux: Arc<GatewayMux>,
        channel: u16,
        rx: mpsc::UnboundedReceiver<ChannelEvent>,
    ) -> Channel {
        Channel {
            inner: Inner::Gateway(Arc::new(GatewayEnd {
                mux,
                channel,
                rx: tokio::sync::Mutex::new(rx),
            })),
        }
    }

    /// The gateway WebSocket this channel runs in, if any.
    pub fn gateway_mux(&self) -> Option<Arc<GatewayMux>> {
        match &self.inner {
            Inner::Gateway(g) => Some(g.mux.clone()),
            _ => None,
        }
    }
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

    /// Open a channel to an endpoint.
    /// `tls` is the trust for `wss://` endpoints ([`crate::wss::client_config`]).
    pub async fn connect(
        endpoint: &Endpoint,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Channel, ConnectError> {
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
            Endpoint::Wss { url } => {
                let tls = tls.ok_or_else(|| {
                    ConnectError::Unsupported("wss:// needs a TLS configuration".into())
                })?;
                let (mux, mut rx) = GatewayMux::connect(url, tls).await?;
                // The registrar channel is usable once the gateway's SCTP
                // association to the registrar is up.
                loop {
                    match rx.recv().await {
                        Some(ChannelEvent::Notice {
                            code: NoticeCode::RegistrarUp,
                            ..
                        }) => break,
                        Some(ChannelEvent::Notice { code, text }) => {
                            return Err(ConnectError::Unreachable(format!(
                                "gateway: {} {text}",
                                code.slug()
                            )))
                        }
                        Some(ChannelEvent::Gone(why)) => {
                            return Err(ConnectError::Unreachable(why))
                        }
                        Some(ChannelEvent::Message { .. }) => {}
                        None => return Err(ConnectError::Unreachable("gateway gone".into())),
                    }
                }
                Ok(Channel::gateway(mux, REGISTRAR_CHANNEL, rx))
            }
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

    pub async fn send(&self, ppid: u32, data: &[u8]) -> Result<(), ChannelError> {
        match &self.inner {
            // ASAP and application data both go on stream 0, ordered (RSPLIB).
            Inner::Sctp(a) => Ok(a.send(ppid, 0, data).await?),
            Inner::Memory(m) => {
                m.tx.send((ppid, data.to_vec()))
                    .map_err(|_| ChannelError::Closed)
            }
            Inner::Gateway(g) => g
                .mux
                .send(Frame::Message {
                    channel: g.channel,
                    ppid,
                    payload: data.to_vec(),
                })
                .await
                .map_err(ChannelError::WebSocket),
        }
    }

    pub async fn recv(&self) -> Result<(u32, Vec<u8>), ChannelError> {
        match &self.inner {
            Inner::Sctp(a) => {
                let m = a.recv().await?;
                Ok((m.ppid, m.data))
            }
            Inner::Memory(m) => m.rx.lock().await.recv().await.ok_or(ChannelError::Closed),
            Inner::Gateway(g) => {
                let mut rx = g.rx.lock().await;
                loop {
                    match rx.recv().await {
                        Some(ChannelEvent::Message { ppid, payload }) => {
                            return Ok((ppid, payload))
                        }
                        Some(ChannelEvent::Notice { code, text }) => match code {
                            NoticeCode::RegistrarLost | NoticeCode::SessionAborted => {
                                return Err(ChannelError::Aborted(format!(
                                    "gateway: {} {text}",
                                    code.slug()
                                )))
                            }
                            NoticeCode::SessionClosed => return Err(ChannelError::Closed),
                            // A refusal drops one frame; the channel stays.
                            other => tracing::warn!(
                                channel = g.channel,
                                "gateway notice {}: {text}",
                                other.slug()
                            ),
                        },
                        Some(ChannelEvent::Gone(why)) => return Err(ChannelError::Aborted(why)),
                        None => return Err(ChannelError::Closed),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sctp(hosts: &[&str], port: u16) -> Endpoint {
        Endpoint::Sctp {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            port,
        }
    }

    #[test]
    fn parses_sctp_urls_with_default_port_and_multi_homing() {
        assert_eq!(
            parse_endpoint("sctp://10.1.0.3:3863").unwrap(),
            sctp(&["10.1.0.3"], 3863)
        );
        assert_eq!(
            parse_endpoint("10.1.0.3:4000").unwrap(),
            sctp(&["10.1.0.3"], 4000)
        );
        assert_eq!(
            parse_endpoint("sctp://registrar.example").unwrap(),
            sctp(&["registrar.example"], 3863)
        );
        assert_eq!(
            parse_endpoint("sctp://10.1.0.1,10.0.2.15:3863").unwrap(),
            sctp(&["10.1.0.1", "10.0.2.15"], 3863)
        );
        assert_eq!(
            parse_endpoint("sctp://[::1]:3863").unwrap(),
            sctp(&["::1"], 3863)
        );
        assert_eq!(
            parse_endpoint("sctp://[::1]").unwrap(),
            sctp(&["::1"], 3863)
        );
    }

    #[test]
    fn parses_wss_urls_verbatim() {
        assert_eq!(
            parse_endpoint("wss://127.0.0.1:8443/asap").unwrap(),
            Endpoint::Wss {
                url: "wss://127.0.0.1:8443/asap".into()
            }
        );
    }

    #[test]
    fn refuses_bad_urls_with_reasons() {
        assert_eq!(
            parse_endpoint("http://x"),
            Err(UrlError::Scheme("http".into()))
        );
        assert!(matches!(
            parse_endpoint("sctp://:3863"),
            Err(UrlError::NoHost(_))
        ));
        assert!(matches!(
            parse_endpoint("sctp://h:99999"),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            parse_endpoint("sctp://h:0"),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(parse_endpoint("wss://"), Err(UrlError::NoHost(_))));
    }

    #[test]
    fn endpoints_print_back_as_urls() {
        assert_eq!(
            sctp(&["::1", "10.0.0.1"], 3863).to_string(),
            "sctp://[::1],10.0.0.1:3863"
        );
    }
}
