//! Exit statuses: distinct per failure class so scripts can react.

/// Process exit status of `rserpool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Ok = 0,
    /// Anything not classified below.
    Failure = 1,
    /// Bad command line (clap uses 2 as well).
    Usage = 2,
    /// Input (hex, capture file, CA file) unreadable or undecodable.
    BadInput = 3,
    /// No registrar could be reached.
    NoRegistrar = 10,
    /// Every registrar that answered failed TLS (untrusted certificate, …).
    Tls = 11,
    /// The registrar knows no such pool (or rate-limited the request:
    /// RSPLIB answers both with cause 0x0009).
    PoolNotFound = 12,
    /// The kernel has no SCTP (use `rserpool lab` or a wss:// registrar).
    NoSctp = 13,
    /// No pool element could be reached, or the session ended.
    PoolElementUnreachable = 14,
}

/// An error with the exit status it should produce.
#[derive(Debug)]
pub struct CliError {
    pub status: ExitStatus,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn new(status: ExitStatus, error: anyhow::Error) -> Self {
        CliError { status, error }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        CliError::new(ExitStatus::Failure, error)
    }
}
