//! Typed errors of the SCTP transport.

/// Why an association ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer shut the association down gracefully (SHUTDOWN, or end of
    /// stream on the one-to-one socket).
    Shutdown,
    /// The association was lost (COMM_LOST: retransmissions exhausted or
    /// ABORT received). `error` is the SCTP error cause the kernel reported.
    Lost { error: u16 },
    /// The association could not be started (CANT_STR_ASSOC).
    CannotStart { error: u16 },
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Shutdown => write!(f, "peer shut the association down"),
            CloseReason::Lost { error } => {
                write!(
                    f,
                    "association lost (aborted or unreachable, cause {error})"
                )
            }
            CloseReason::CannotStart { error } => {
                write!(f, "association could not be started (cause {error})")
            }
        }
    }
}

/// Errors of the SCTP transport.
#[derive(Debug, thiserror::Error)]
pub enum SctpError {
    /// `socket(…, IPPROTO_SCTP)` failed with EPROTONOSUPPORT (93) or
    /// ESOCKTNOSUPPORT (94): the running kernel has no SCTP.
    #[error("kernel has no SCTP: load the sctp module or use `rserpool lab` (socket(): {0})")]
    NoKernelSupport(#[source] std::io::Error),
    /// The platform is not Linux.
    #[error("native SCTP is only implemented for Linux")]
    Unsupported,
    /// No address to connect to or bind.
    #[error("no address given")]
    NoAddress,
    /// Connecting failed.
    #[error("connecting to {peer} failed: {source}")]
    Connect {
        peer: String,
        #[source]
        source: std::io::Error,
    },
    /// Binding or listening failed.
    #[error("binding {addr} failed: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The association has ended.
    #[error("association closed: {0}")]
    Closed(CloseReason),
    /// A user message exceeds the size the receiver accepts.
    #[error("incoming message exceeds {max} bytes")]
    MessageTooLong { max: usize },
    /// Any other system call failure.
    #[error("{op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl SctpError {
    /// Map the error of `socket()`: errno 93/94 mean "no SCTP in this kernel"
    /// (lab-environment: `SOCK_STREAM` gives 93, `SOCK_SEQPACKET` 94).
    pub fn from_socket_error(err: std::io::Error) -> Self {
        match err.raw_os_error() {
            // EPROTONOSUPPORT = 93, ESOCKTNOSUPPORT = 94 on Linux.
            Some(93) | Some(94) => SctpError::NoKernelSupport(err),
            _ => SctpError::Io {
                op: "socket",
                source: err,
            },
        }
    }

    /// True if the kernel lacks SCTP (the caller may suggest the lab VM).
    pub fn is_no_kernel_support(&self) -> bool {
        matches!(self, SctpError::NoKernelSupport(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_93_and_94_mean_no_kernel_sctp_with_advice() {
        for errno in [93, 94] {
            let e = SctpError::from_socket_error(std::io::Error::from_raw_os_error(errno));
            assert!(e.is_no_kernel_support());
            let text = e.to_string();
            assert!(
                text.starts_with("kernel has no SCTP: load the sctp module or use `rserpool lab`"),
                "{text}"
            );
        }
    }

    #[test]
    fn other_socket_errors_stay_io_errors() {
        // EMFILE (24): too many open files.
        let e = SctpError::from_socket_error(std::io::Error::from_raw_os_error(24));
        assert!(!e.is_no_kernel_support());
        assert!(e.to_string().starts_with("socket: "), "{e}");
    }

    #[test]
    fn close_reasons_read_well() {
        assert_eq!(
            SctpError::Closed(CloseReason::Shutdown).to_string(),
            "association closed: peer shut the association down"
        );
        assert!(SctpError::Closed(CloseReason::Lost { error: 0 })
            .to_string()
            .contains("association lost"));
    }
}
