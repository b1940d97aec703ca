//! Associations toward registrars and pool elements. Production uses kernel
//! SCTP (`rserpool-sctp`); tests on hosts without SCTP plug in an in-process
//! fake that speaks the same ASAP bytes.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;

/// What [`Association::recv`] gives: a message (PPID, bytes), or `None`
/// once the peer has shut the association down gracefully.
pub type Delivery = Option<(u32, Vec<u8>)>;

/// One association: messages with their PPID, boundaries preserved.
pub trait Association: Send + Sync {
    fn send<'a>(&'a self, ppid: u32, data: &'a [u8]) -> BoxFuture<'a, io::Result<()>>;
    /// The next message; `None` once the peer has shut the association
    /// down gracefully (SCTP SHUTDOWN: RSPLIB's autoclose of an idle
    /// association does this), an error if it was aborted or lost.
    fn recv(&self) -> BoxFuture<'_, io::Result<Delivery>>;
}

/// EMFILE (24), ENFILE (23), ENOBUFS (105), ENOMEM (12): the gateway host
/// is out of a resource, which says nothing about the peer.
pub fn is_exhaustion_errno(errno: i32) -> bool {
    matches!(errno, 12 | 23 | 24 | 105)
}

/// Whether a connect or accept error is resource exhaustion on this host
/// (reported to the client as `gateway-busy`, never as `registrar-lost`).
pub fn is_exhaustion(e: &io::Error) -> bool {
    e.raw_os_error().is_some_and(is_exhaustion_errno)
}

/// Opens associations to all addresses of one peer.
pub trait Connector: Send + Sync + 'static {
    fn connect(
        &self,
        addrs: Vec<SocketAddr>,
    ) -> BoxFuture<'static, io::Result<Arc<dyn Association>>>;
}

/// Kernel SCTP (one-to-one, all addresses of the peer).
pub struct SctpConnector;

#[cfg(target_os = "linux")]
struct SctpAssoc(rserpool_sctp::SctpAssociation);

#[cfg(target_os = "linux")]
impl Association for SctpAssoc {
    fn send<'a>(&'a self, ppid: u32, data: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            self.0
                .send(ppid, 0, data)
                .await
                .map_err(|e| io::Error::other(e.to_string()))
        })
    }
    fn recv(&self) -> BoxFuture<'_, io::Result<Delivery>> {
        use rserpool_sctp::{CloseReason, SctpError};
        Box::pin(async move {
            match self.0.recv().await {
                Ok(m) => Ok(Some((m.ppid, m.data))),
                Err(SctpError::Closed(CloseReason::Shutdown)) => Ok(None),
                Err(e) => Err(io::Error::other(e.to_string())),
            }
        })
    }
}

impl Connector for SctpConnector {
    fn connect(
        &self,
        addrs: Vec<SocketAddr>,
    ) -> BoxFuture<'static, io::Result<Arc<dyn Association>>> {
        Box::pin(async move {
            #[cfg(target_os = "linux")]
            {
                let a = rserpool_sctp::SctpAssociation::connect(&addrs)
                    .await
                    .map_err(|e| match &e {
                        // Out of descriptors is the gateway's own condition,
                        // kept recognisable (see `is_exhaustion`).
                        rserpool_sctp::SctpError::Io { source, .. }
                            if source.raw_os_error().is_some_and(is_exhaustion_errno) =>
                        {
                            io::Error::from_raw_os_error(source.raw_os_error().unwrap_or(24))
                        }
                        _ => io::Error::other(e.to_string()),
                    })?;
                Ok(Arc::new(SctpAssoc(a)) as Arc<dyn Association>)
            }
            #[cfg(not(target_os = "linux"))]
            {
                let _ = addrs;
                Err(io::Error::other("SCTP needs Linux"))
            }
        })
    }
}
