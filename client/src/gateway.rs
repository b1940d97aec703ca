//! The sockets of gateway links: one WebSocket per link, moving binary
//! messages between it and the driver. What the frames mean, and how a
//! gateway's notices end channels, is `client_core::gateway_link`'s; this
//! module only opens, reads, writes and closes.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::channel::ConnectError;
use crate::tls::classify;

/// What a link's socket reports.
#[derive(Debug)]
pub(crate) enum SocketEvent {
    /// The WebSocket could not be opened.
    OpenFailed(ConnectError),
    /// One binary message.
    Frame(Vec<u8>),
    /// A text message (not part of the subprotocol).
    Text,
    /// The WebSocket ended (after it was open), and why.
    Closed(String),
}

/// A link's socket: frames to send go into `writer`; dropping it closes the
/// WebSocket in an orderly way.
pub(crate) struct Socket {
    pub writer: mpsc::UnboundedSender<Vec<u8>>,
    pub task: JoinHandle<()>,
}

/// Opens a WebSocket to `url` offering `protocols` and moves its messages
/// until it ends or the writer is dropped. `report` hears everything.
pub(crate) fn open(
    url: String,
    protocols: Vec<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
    report: impl Fn(SocketEvent) + Send + 'static,
) -> Socket {
    let (writer, mut outbox) = mpsc::unbounded_channel::<Vec<u8>>();
    let task = tokio::spawn(async move {
        let ws = match connect(&url, &protocols, tls).await {
            Ok(ws) => ws,
            Err(e) => return report(SocketEvent::OpenFailed(e)),
        };
        let (mut sink, mut source) = ws.split();
        loop {
            tokio::select! {
                out = outbox.recv() => match out {
                    Some(frame) => {
                        if let Err(e) = sink.send(WsMessage::binary(frame)).await {
                            return report(SocketEvent::Closed(e.to_string()));
                        }
                    }
                    None => {
                        let _ = sink.close().await;
                        return;
                    }
                },
                m = source.next() => match m {
                    Some(Ok(WsMessage::Binary(b))) => report(SocketEvent::Frame(b.to_vec())),
                    Some(Ok(WsMessage::Text(_))) => report(SocketEvent::Text),
                    Some(Ok(WsMessage::Close(_))) | None => {
                        return report(SocketEvent::Closed("gateway closed the WebSocket".into()))
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return report(SocketEvent::Closed(e.to_string())),
                },
            }
        }
    });
    Socket { writer, task }
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    url: &str,
    protocols: &[String],
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Stream, ConnectError> {
    if url.starts_with("wss://") && tls.is_none() {
        return Err(ConnectError::Unsupported(
            "wss:// needs a TLS configuration".into(),
        ));
    }
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Unreachable(e.to_string()))?;
    let offer = protocols
        .join(", ")
        .parse()
        .map_err(|e| ConnectError::Unreachable(format!("subprotocol header: {e}")))?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", offer);
    let connector = tls.map(tokio_tungstenite::Connector::Rustls);
    tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector)
        .await
        .map(|(stream, _response)| stream)
        .map_err(classify)
}
