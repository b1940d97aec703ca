//! The lab agent's control protocol: JSON, one object per line, over one TCP
//! connection. The first request must be `hello` with the per-run token;
//! anything else closes the connection.

use serde::{Deserialize, Serialize};

use crate::topology::ProcessKind;

/// Port the agent listens on inside the environment.
pub const AGENT_PORT: u16 = 7000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Authenticates the connection (per-run random token).
    Hello { token: String },
    /// State of every process, and whether the topology is ready.
    Status,
    /// Starts a process of the topology that is not running.
    Start { name: String },
    /// SIGINT: RSPLIB PEs deregister, registrars shut down.
    Stop { name: String },
    /// SIGKILL: the process vanishes without a word (failure injection).
    Kill { name: String },
    /// Stop (SIGKILL) if running, then start again.
    Restart { name: String },
    /// Runs a command to completion (e.g. `hsdump`, our CLI) and returns its output.
    Exec {
        program: String,
        args: Vec<String>,
        timeout_ms: u64,
    },
    /// The last `lines` lines of a process's log.
    Logs { name: String, lines: usize },
    /// Waits until every registrar shows every PE of the topology.
    WaitReady { timeout_ms: u64 },
    /// Streams [`Event`]s on this connection from now on.
    Subscribe,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Response {
    Ok,
    Error {
        message: String,
    },
    Status {
        processes: Vec<ProcessState>,
        /// Milliseconds from agent start to "all PEs visible at every registrar".
        ready_after_ms: Option<u64>,
    },
    Exec {
        /// Exit code; `None` if killed by a signal or the timeout.
        code: Option<i32>,
        stdout: String,
        stderr: String,
        timed_out: bool,
    },
    Logs {
        lines: Vec<String>,
    },
    /// A streamed event (after `subscribe`).
    Event(Event),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    NotStarted,
    Running,
    /// Exited by itself (or after SIGINT) with this code.
    Exited,
    /// Ended by a signal (SIGKILL from `kill`, or a crash).
    Killed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessState {
    pub name: String,
    pub kind: ProcessKind,
    pub state: RunState,
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub command: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    ProcessStarted {
        name: String,
        pid: u32,
    },
    ProcessEnded {
        name: String,
        exit_code: Option<i32>,
        signal: Option<i32>,
    },
    Ready {
        after_ms: u64,
    },
    /// A datagram arrived at the Component Status collector, forwarded as
    /// received (hex): the host decodes it (`crate::csp`), so that a bad or
    /// forged one reaches the page too.
    ComponentStatus {
        from: String,
        datagram: String,
    },
    /// A message the gateway's tap reported (its JSON line, as the gateway
    /// wrote it), relayed from the gateway's metrics listener.
    Tap {
        gateway: String,
        message: serde_json::Value,
    },
}
