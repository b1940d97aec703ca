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
    /// Stop (SIGKILL) if running, then start again with the topology's
    /// arguments (undoing a `restart-with`).
    Restart { name: String },
    /// Stop (SIGKILL) if running, then start again with the topology's
    /// arguments plus `extra_args` (e.g. a registrar with RSPLIB's
    /// `-maxeurate=1` for a scenario's defence). They stay until the next
    /// `restart` or `restart-with`.
    RestartWith {
        name: String,
        extra_args: Vec<String>,
    },
    /// Runs a command to completion (e.g. `hsdump`, our CLI) and returns its output.
    Exec {
        program: String,
        args: Vec<String>,
        timeout_ms: u64,
    },
    /// Starts an ad-hoc process (an attacker, a workload) that runs next to
    /// the topology's: bounded by `timeout_ms` (killed then, at most
    /// [`MAX_SPAWN_MS`]), in a process group of its own. Its stdout lines
    /// are kept (at most [`MAX_SPAWN_LINES`]) for `spawn-output`.
    /// Answered with `spawned`.
    Spawn {
        program: String,
        args: Vec<String>,
        timeout_ms: u64,
    },
    /// The stdout lines of spawned process `id` from line `from_line` on,
    /// and whether it still runs. Answered with `spawn-output`.
    SpawnOutput { id: u64, from_line: usize },
    /// Ends spawned process `id`: SIGINT to its group (actors stop and print
    /// their last line), SIGKILL after [`SPAWN_STOP_GRACE_MS`].
    /// Answered with `spawn-output` once it has ended, with every line from
    /// `from_line` on.
    SpawnStop { id: u64, from_line: usize },
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
    Spawned {
        id: u64,
    },
    SpawnOutput(SpawnOutput),
    /// A streamed event (after `subscribe`).
    Event(Event),
}

/// Longest a spawned process may run.
pub const MAX_SPAWN_MS: u64 = 600_000;
/// Most stdout lines kept per spawned process (later ones are counted in
/// `dropped_lines`).
pub const MAX_SPAWN_LINES: usize = 200_000;
/// Longest stdout line kept, in bytes (longer ones are cut).
pub const MAX_SPAWN_LINE: usize = 64 * 1024;
/// Most spawned processes running at once.
pub const MAX_SPAWNED: usize = 16;
/// Between SIGINT and SIGKILL on `spawn-stop`.
pub const SPAWN_STOP_GRACE_MS: u64 = 2_000;

/// What a spawned process printed and how it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnOutput {
    pub id: u64,
    /// Stdout lines `from_line ..next_line`.
    pub lines: Vec<String>,
    pub next_line: usize,
    pub running: bool,
    /// Exit code once it has ended by itself.
    pub code: Option<i32>,
    /// Signal that ended it (the timeout's or `spawn-stop`'s SIGKILL, or a crash).
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// Lines beyond [`MAX_SPAWN_LINES`], not kept.
    pub dropped_lines: usize,
    /// The last lines of its stderr.
    pub stderr_tail: Vec<String>,
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
