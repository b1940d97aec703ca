//! WebSocket-over-TLS channels to the gateway (`wss://`): TLS trust and
//! the readable classification of TLS failures.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::transport::ConnectError;

/// An open WebSocket to the gateway.
pub type GatewayStream = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Why a trust configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("--ca {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The TLS client configuration: the certificates of `ca` if given (the
/// lab's or a gateway's own CA), else the public web PKI roots.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, TrustError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let shown = path.display().to_string();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| TrustError::CaFile {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TrustError::CaFile {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(TrustError::CaFile {
                    path: shown,
                    reason: "no PEM certificate in the file".into(),
                });
            }
            for cert in certs {
                roots.add(cert).map_err(|e| TrustError::CaFile {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // An explicit provider: `ClientConfig::builder()` would panic if some
    // other crate in the build enabled a second one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Turn a WebSocket connect failure into "TLS" (with rustls' reason, e.g.
/// `invalid peer certificate: UnknownIssuer`) or "unreachable".
pub fn classify(e: tungstenite::Error) -> ConnectError {
    match e {
        tungstenite::Error::Io(io) => {
            let tls = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .map(|t| t.to_string());
            match tls {
                Some(reason) => ConnectError::Tls(reason),
                None => ConnectError::Unreachable(io.to_string()),
            }
        }
        tungstenite::Error::Tls(t) => ConnectError::Tls(t.to_string()),
        other => ConnectError::Unreachable(other.to_string()),
    }
}

/// TCP + TLS + WebSocket handshake to the gateway.
pub async fn connect(url: &str, tls: Arc<ClientConfig>) -> Result<GatewayStream, ConnectError> {
    tokio_tungstenite::connect_async_tls_with_config(url, None, true, Some(Connector::Rustls(tls)))
        .await
        .map(|(stream, _response)| stream)
        .map_err(classify)
}

// ------------------------------------------------------------------
// The gateway subprotocol `rserpool.asap.v1` (docs/gateway-protocol.md):
// one WebSocket carries the registrar channel (0) and pool-element sessions
// (1–65535). The codec is client_core::gateway_protocol; this is the
// multiplexer that routes frames to channels.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Mutex;

use base64::Engine as _;
use client_core::gateway_protocol::{Frame, NoticeCode, REGISTRAR_CHANNEL, SUBPROTOCOL};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// What arrives for one channel.
#[derive(Debug)]
pub enum ChannelEvent {
    Message {
        ppid: u32,
        payload: Vec<u8>,
    },
    Notice {
        code: NoticeCode,
        text: String,
    },
    /// The WebSocket ended.
    Gone(String),
}

/// One WebSocket to the gateway, shared by its channels.
pub struct GatewayMux {
    sink: tokio::sync::Mutex<SplitSink<GatewayStream, WsMessage>>,
    routes: Mutex<HashMap<u16, mpsc::UnboundedSender<ChannelEvent>>>,
    next_channel: AtomicU16,
    alive: AtomicBool,
}

impl std::fmt::Debug for GatewayMux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayMux")
            .field("alive", &self.alive.load(Ordering::Relaxed))
            .finish()
    }
}

/// The gateway token set by `--token-file` (see [`set_token`]).
static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the gateway token for every `wss://` connection of this process
/// (`--token-file`); without it, `RSERPOOL_TOKEN` from the environment.
/// Never taken from the command line itself (`ps` would show it).
pub fn set_token(token: String) {
    let _ = TOKEN.set(token);
}

fn token() -> Option<String> {
    TOKEN
        .get()
        .cloned()
        .or_else(|| std::env::var("RSERPOOL_TOKEN").ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

impl GatewayMux {
    /// Connect with the subprotocol and start routing. Returns the mux and
    /// the registrar channel's receiver.
    pub async fn connect(
        url: &str,
        tls: Arc<ClientConfig>,
    ) -> Result<(Arc<GatewayMux>, mpsc::UnboundedReceiver<ChannelEvent>), ConnectError> {
        let mut request = url
            .into_client_request()
            .map_err(|e| ConnectError::Unreachable(e.to_string()))?;
        // With a gateway token, a second subprotocol value carries it
        // (docs/gateway.md, "Token"); the gateway answers with the first.
        let protocols = match token() {
            Some(t) => format!(
                "{SUBPROTOCOL}, rserpool.token.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t)
            ),
            None => SUBPROTOCOL.to_string(),
        };
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            protocols
                .parse()
                .map_err(|e| ConnectError::Unreachable(format!("subprotocol header: {e}")))?,
        );
        let (stream, _) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            None,
            true,
            Some(Connector::Rustls(tls)),
        )
        .await
        .map_err(classify)?;
        let (sink, mut source) = stream.split();
        let mux = Arc::new(GatewayMux {
            sink: tokio::sync::Mutex::new(sink),
            routes: Mutex::new(HashMap::new()),
            next_channel: AtomicU16::new(1),
            alive: AtomicBool::new(true),
        });
        let registrar = mux.open_route(REGISTRAR_CHANNEL);
        let reader = mux.clone();
        tokio::spawn(async move {
            let why = loop {
                match source.next().await {
                    Some(Ok(WsMessage::Binary(b))) => match Frame::decode(&b) {
                        Ok(frame) => reader.route(frame),
                        Err(e) => tracing::info!("undecodable gateway frame: {e}"),
                    },
                    Some(Ok(WsMessage::Close(_))) | None => {
                        break "gateway closed the WebSocket".to_string()
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break e.to_string(),
                }
            };
            reader.alive.store(false, Ordering::SeqCst);
            let routes: Vec<_> = reader
                .routes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain()
                .collect();
            for (_, tx) in routes {
                let _ = tx.send(ChannelEvent::Gone(why.clone()));
            }
        });
        Ok((mux, registrar))
    }

    fn route(&self, frame: Frame) {
        let (channel, event) = match frame {
            Frame::Message {
                channel,
                ppid,
                payload,
            } => (channel, ChannelEvent::Message { ppid, payload }),
            Frame::Notice {
                channel,
                code,
                text,
            } => (channel, ChannelEvent::Notice { code, text }),
            Frame::Hello {
                version, registrar, ..
            } => {
                tracing::info!(version, %registrar, "gateway hello");
                return;
            }
            other => {
                tracing::info!(?other, "unexpected frame from the gateway");
                return;
            }
        };
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        match routes.get(&channel) {
            Some(tx) => {
                let _ = tx.send(event);
            }
            None => tracing::debug!(channel, "frame for a closed channel"),
        }
    }

    fn open_route(&self, channel: u16) -> mpsc::UnboundedReceiver<ChannelEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(channel, tx);
        rx
    }

    /// Forget a channel (its session was closed).
    pub fn close_route(&self, channel: u16) {
        self.routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&channel);
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Send one frame.
    pub async fn send(&self, frame: Frame) -> Result<(), String> {
        self.sink
            .lock()
            .await
            .send(WsMessage::binary(frame.encode()))
            .await
            .map_err(|e| e.to_string())
    }

    /// Open a pool-element session through the gateway (`OpenSession`);
    /// returns its channel number and receiver once the gateway says
    /// `session-up`.
    pub async fn open_session(
        self: &Arc<Self>,
        app_ppid: u32,
        pe_id: u32,
        pool_handle: Vec<u8>,
    ) -> Result<(u16, mpsc::UnboundedReceiver<ChannelEvent>), String> {
        // Channels 1–65535, never 0; wrap around if a long session used many.
        let mut channel = self.next_channel.fetch_add(1, Ordering::SeqCst);
        if channel == REGISTRAR_CHANNEL {
            channel = self.next_channel.fetch_add(1, Ordering::SeqCst);
        }
        let mut rx = self.open_route(channel);
        self.send(Frame::OpenSession {
            channel,
            app_ppid,
            pe_id,
            pool_handle,
        })
        .await?;
        loop {
            match rx.recv().await {
                Some(ChannelEvent::Notice {
                    code: NoticeCode::SessionUp,
                    ..
                }) => return Ok((channel, rx)),
                Some(ChannelEvent::Notice { code, text }) => {
                    self.close_route(channel);
                    return Err(format!("gateway: {} {text}", code.slug()));
                }
                Some(ChannelEvent::Gone(why)) => return Err(why),
                Some(ChannelEvent::Message { .. }) => {}
                None => return Err("gateway gone".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_errors_are_readable() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(
            err.to_string().starts_with("--ca /nonexistent/ca.pem: "),
            "{err}"
        );

        let dir = std::env::temp_dir().join(format!("rserpool-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(Some(&empty)).unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn default_trust_uses_the_web_pki_roots() {
        assert!(client_config(None).is_ok());
    }

    #[test]
    fn rustls_errors_inside_io_errors_are_tls_failures() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        match classify(tungstenite::Error::Io(io)) {
            ConnectError::Tls(reason) => assert!(reason.contains("UnknownIssuer"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            classify(tungstenite::Error::Io(refused)),
            ConnectError::Unreachable(_)
        ));
    }
}
