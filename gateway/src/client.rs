//! A minimal client of the gateway's WebSocket subprotocol
//! (`rserpool.asap.v1`, `docs/gateway-protocol.md`), for the benchmark and
//! for tests that speak to a gateway frame by frame — including frames a
//! well-behaved pool user never sends. Applications use client-core's pool
//! user through the CLI or the npm package instead.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use client_core::gateway_protocol::{Frame, NoticeCode, SUBPROTOCOL};
use client_core::wire::{
    self, AsapMessage, HandleResolution, HandleResolutionResponse, Message, PoolHandle, Protocol,
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Ws;

/// WebSocket messages, for [`Client::send_raw`].
pub use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A TLS client configuration, shared between connections.
pub type TlsConfig = Arc<rustls::ClientConfig>;

/// TLS client configuration trusting exactly the CA certificates in a PEM
/// file: the pool-user client's trust builder (`rserpool_client::tls`).
pub fn tls_trusting(ca_pem: &Path) -> Result<TlsConfig> {
    Ok(rserpool_client::tls::client_config(Some(ca_pem))?)
}

/// What the WebSocket handshake carries besides the URL.
#[derive(Clone, Debug)]
pub struct Handshake {
    /// `Origin` header, if any.
    pub origin: Option<String>,
    /// Offer the `rserpool.asap.v1` subprotocol (a browser client does).
    pub subprotocol: bool,
    /// `Authorization: Bearer …`, if any.
    pub bearer: Option<String>,
    /// The gateway token presented the way a browser can: as the
    /// subprotocol `rserpool.token.<base64url>` beside `rserpool.asap.v1`.
    pub token_protocol: Option<String>,
    /// Headers added as they are (raw bytes, repeated names allowed): for
    /// tests of what a hostile client may send.
    pub raw_headers: Vec<(&'static str, Vec<u8>)>,
}

impl Default for Handshake {
    fn default() -> Self {
        Handshake {
            origin: None,
            subprotocol: true,
            bearer: None,
            token_protocol: None,
            raw_headers: Vec::new(),
        }
    }
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One WebSocket session with a gateway.
pub struct Client {
    ws: Stream,
}

/// A Handle Resolution for `pool`, as the registrar channel carries it.
pub fn handle_resolution(pool: &str) -> Vec<u8> {
    Message::Asap(AsapMessage::HandleResolution(HandleResolution {
        pool_handle: PoolHandle::from(pool),
        option: None,
    }))
    .to_bytes()
}

impl Client {
    /// Opens the WebSocket session. The error text of a refused handshake
    /// includes the HTTP status (e.g. `403 Forbidden`).
    pub async fn connect(
        url: &str,
        tls: Arc<rustls::ClientConfig>,
        handshake: &Handshake,
    ) -> Result<Client> {
        let mut req = url.into_client_request()?;
        let h = req.headers_mut();
        let mut protocols: Vec<String> = Vec::new();
        if handshake.subprotocol {
            protocols.push(SUBPROTOCOL.into());
        }
        if let Some(t) = &handshake.token_protocol {
            protocols.push(format!(
                "{}{}",
                crate::server::TOKEN_PROTOCOL_PREFIX,
                crate::server::token_protocol_value(t)
            ));
        }
        if !protocols.is_empty() {
            h.insert("sec-websocket-protocol", protocols.join(", ").parse()?);
        }
        for (name, value) in &handshake.raw_headers {
            h.append(
                *name,
                tokio_tungstenite::tungstenite::http::HeaderValue::from_bytes(value)?,
            );
        }
        if let Some(o) = &handshake.origin {
            h.insert("origin", o.parse()?);
        }
        if let Some(t) = &handshake.bearer {
            h.insert("authorization", format!("Bearer {t}").parse()?);
        }
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
            req,
            None,
            true,
            Some(tokio_tungstenite::Connector::Rustls(tls)),
        )
        .await
        .with_context(|| format!("connecting to {url}"))?;
        Ok(Client { ws })
    }

    /// [`Self::connect`], then waits for Hello and the registrar being up.
    pub async fn connect_ready(
        url: &str,
        tls: Arc<rustls::ClientConfig>,
        handshake: &Handshake,
    ) -> Result<Client> {
        let mut c = Client::connect(url, tls, handshake).await?;
        loop {
            match c.next(Duration::from_secs(15)).await? {
                Frame::Notice {
                    code: NoticeCode::RegistrarUp,
                    ..
                } => return Ok(c),
                Frame::Notice { code, text, .. } => bail!("gateway: {} {text}", code.slug()),
                _ => {}
            }
        }
    }

    /// The next frame from the gateway (non-binary messages are skipped).
    pub async fn next(&mut self, limit: Duration) -> Result<Frame> {
        loop {
            let m = tokio::time::timeout(limit, self.ws.next())
                .await
                .with_context(|| format!("no frame from the gateway within {limit:?}"))?
                .context("the gateway closed the WebSocket")??;
            match m {
                Ws::Binary(b) => {
                    return Frame::decode(&b).context("invalid frame from the gateway")
                }
                Ws::Close(c) => bail!("the gateway closed the WebSocket: {c:?}"),
                _ => {}
            }
        }
    }

    /// Sends one frame.
    pub async fn send(&mut self, f: &Frame) -> Result<()> {
        Ok(self.ws.send(Ws::Binary(f.encode().into())).await?)
    }

    /// Sends any WebSocket message (text, oversized binary, …).
    pub async fn send_raw(&mut self, m: Ws) -> Result<()> {
        Ok(self.ws.send(m).await?)
    }

    /// Resolves `pool` on the registrar channel; a notice instead of the
    /// answer is an error naming its code.
    pub async fn resolve(&mut self, pool: &str) -> Result<HandleResolutionResponse> {
        self.send(&Frame::registrar(handle_resolution(pool)))
            .await?;
        loop {
            match self.next(Duration::from_secs(15)).await? {
                Frame::Message {
                    channel: 0,
                    payload,
                    ..
                } => match wire::decode(Protocol::Asap, &payload)?.message {
                    Message::Asap(AsapMessage::HandleResolutionResponse(h)) => return Ok(h),
                    m => bail!("unexpected {} on the registrar channel", m.type_name()),
                },
                Frame::Notice { code, text, .. } => bail!("gateway: {} {text}", code.slug()),
                _ => {}
            }
        }
    }

    /// The next frame must be a notice with `code`; returns its text.
    pub async fn expect_notice(&mut self, code: NoticeCode) -> Result<String> {
        match self.next(Duration::from_secs(15)).await? {
            Frame::Notice { code: c, text, .. } if c == code => Ok(text),
            f => bail!("expected notice {}, got {f:?}", code.slug()),
        }
    }

    /// Waits until the gateway ends the session; returns the close frame's
    /// code, if it sent one.
    pub async fn closed(&mut self, limit: Duration) -> Result<Option<u16>> {
        loop {
            match tokio::time::timeout(limit, self.ws.next())
                .await
                .with_context(|| format!("still open after {limit:?}"))?
            {
                None | Some(Err(_)) => return Ok(None),
                Some(Ok(Ws::Close(c))) => return Ok(c.map(|c| c.code.into())),
                Some(Ok(_)) => {}
            }
        }
    }
}

/// A bare TLS record with a ClientHello that offers only `version` (e.g.
/// `0x0302`, TLS 1.1) and one cipher suite: a server that requires TLS 1.2+
/// must answer with an alert or close, never a ServerHello (RFC 5355 §4).
pub fn legacy_client_hello(version: u16) -> Vec<u8> {
    let mut hello = vec![0x01, 0, 0, 0]; // ClientHello, length patched below
    hello.extend_from_slice(&version.to_be_bytes());
    hello.extend_from_slice(&[0u8; 32]); // random
    hello.push(0); // no session id
    hello.extend_from_slice(&[0x00, 0x02, 0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    let len = u32::try_from(hello.len() - 4).unwrap_or(0);
    hello[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(hello.len()).unwrap_or(0).to_be_bytes());
    record.extend_from_slice(&hello);
    record
}
