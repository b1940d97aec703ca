//! Native SCTP transport for RSerPool on Linux, without libsctp.
//!
//! RSPLIB speaks ASAP and ENRP over SCTP only (no TCP mapping), and the
//! protocol is chosen by the SCTP payload protocol identifier (PPID 11 = ASAP,
//! 12 = ENRP, RFC 5352 §3). A pool user therefore needs, per peer, a
//! one-to-one SCTP association that carries a PPID with every user message
//! and preserves message boundaries. This crate provides exactly that:
//!
//! * [`SctpAssociation::connect`]: a one-to-one (`SOCK_STREAM`) client
//!   association to *all* addresses of a peer (multi-homing, the
//!   `sctp_connectx()` equivalent), as RSPLIB's Enhanced Mode does towards a
//!   pool element.
//! * [`SctpAssociation::send`]: one user message with a PPID and stream
//!   (`SCTP_SNDINFO` control message).
//! * [`SctpAssociation::recv`]: one whole user message with its PPID,
//!   reassembled across partial deliveries; association loss and shutdown
//!   become [`SctpError::Closed`].
//! * [`SctpListener`]: the one-to-one server side, for tests and servers.
//!
//! When the kernel has no SCTP (errno 93/94), every constructor returns
//! [`SctpError::NoKernelSupport`], whose message tells the user what to do.
//!
//! The socket code is Linux-only; on other systems the crate builds with the
//! same API, whose constructors return [`SctpError::Unsupported`].

mod error;

pub use error::{CloseReason, SctpError};

#[cfg(target_os = "linux")]
mod cmsg;
mod notification;
#[cfg(target_os = "linux")]
mod socket;
#[cfg(not(target_os = "linux"))]
mod unsupported;

pub use notification::{AssocChangeState, Notification};
#[cfg(target_os = "linux")]
pub use socket::{kernel_has_sctp, Received, SctpAssociation, SctpListener, SctpMessage};
#[cfg(not(target_os = "linux"))]
pub use unsupported::{kernel_has_sctp, Received, SctpAssociation, SctpListener, SctpMessage};
