//! The same API where the platform has no kernel SCTP support implemented
//! here (not Linux): every constructor says so with
//! [`SctpError::Unsupported`], so callers (the CLI) build everywhere and
//! tell the user to use a `wss://` gateway or the lab instead.

use std::net::SocketAddr;

use crate::error::SctpError;
use crate::notification::Notification;

/// One complete SCTP user message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SctpMessage {
    pub ppid: u32,
    pub stream: u16,
    pub data: Vec<u8>,
}

/// What a receive produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    Message(SctpMessage),
    Notification(Notification),
}

/// Never true off Linux.
pub fn kernel_has_sctp() -> bool {
    false
}

/// A one-to-one SCTP association (not available on this platform).
#[derive(Debug)]
pub struct SctpAssociation {
    _private: (),
}

impl SctpAssociation {
    pub async fn connect(_addrs: &[SocketAddr]) -> Result<Self, SctpError> {
        Err(SctpError::Unsupported)
    }
    pub async fn connect_from(
        _local: Option<SocketAddr>,
        _addrs: &[SocketAddr],
    ) -> Result<Self, SctpError> {
        Err(SctpError::Unsupported)
    }
    pub fn set_max_message_len(&mut self, _max: usize) {}
    pub fn local_addr(&self) -> Result<SocketAddr, SctpError> {
        Err(SctpError::Unsupported)
    }
    pub async fn send(&self, _ppid: u32, _stream: u16, _data: &[u8]) -> Result<(), SctpError> {
        Err(SctpError::Unsupported)
    }
    pub async fn recv_event(&self) -> Result<Received, SctpError> {
        Err(SctpError::Unsupported)
    }
    pub async fn recv(&self) -> Result<SctpMessage, SctpError> {
        Err(SctpError::Unsupported)
    }
    pub fn shutdown(&self) -> Result<(), SctpError> {
        Err(SctpError::Unsupported)
    }
}

/// A listening SCTP socket (not available on this platform).
#[derive(Debug)]
pub struct SctpListener {
    _private: (),
}

impl SctpListener {
    pub fn bind(_addrs: &[SocketAddr]) -> Result<Self, SctpError> {
        Err(SctpError::Unsupported)
    }
    pub fn local_addr(&self) -> Result<SocketAddr, SctpError> {
        Err(SctpError::Unsupported)
    }
    pub async fn accept(&self) -> Result<(SctpAssociation, SocketAddr), SctpError> {
        Err(SctpError::Unsupported)
    }
}
