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
    /// Exit with this code instead of `status`'s: `lab exec` passes the
    /// inner command's exit status through.
    pub passthrough: Option<u8>,
}

impl CliError {
    pub fn new(status: ExitStatus, error: anyhow::Error) -> Self {
        CliError {
            status,
            error,
            passthrough: None,
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.passthrough.unwrap_or(self.status as u8)
    }

    /// The error as one JSON object (`--json`): its message, exit status,
    /// the causes below it and, for resolutions, every registrar tried
    /// with why it failed (the indented `  URL: reason` lines).
    pub fn to_json(&self) -> serde_json::Value {
        let text = format!("{:#}", self.error);
        let mut lines = text.lines();
        let message = lines.next().unwrap_or_default().to_string();
        let attempts: Vec<serde_json::Value> = lines
            .filter_map(|l| l.strip_prefix("  ")?.split_once(": "))
            .map(|(registrar, error)| serde_json::json!({ "registrar": registrar, "error": error }))
            .collect();
        let causes: Vec<String> = self.error.chain().skip(1).map(|c| c.to_string()).collect();
        serde_json::json!({
            "error": {
                "message": message,
                "exit_status": self.exit_code(),
                "causes": causes,
                "attempts": attempts,
            }
        })
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
