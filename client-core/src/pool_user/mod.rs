//! The pool user (PU) as a sans-IO state machine, in the style of
//! quinn-proto: it never opens a socket and never reads a clock.
//!
//! Inputs: [`PoolUser::handle_connected`], [`PoolUser::handle_received`],
//! [`PoolUser::handle_closed`], [`PoolUser::handle_server_announce`],
//! [`PoolUser::handle_timeout`] and the application calls
//! ([`PoolUser::resolve`], [`PoolUser::open_session`], [`PoolUser::send`],
//! [`PoolUser::close_session`], [`PoolUser::report_unreachable`]).
//! Every input takes `now`, a [`Duration`] since an epoch the driver chose.
//!
//! Outputs, drained by the driver after each input: [`PoolUser::poll_action`]
//! (open/close channels), [`PoolUser::poll_transmit`] (bytes to send),
//! [`PoolUser::poll_event`] (application and trace events) and
//! [`PoolUser::poll_timeout`] (when to call `handle_timeout`).
//!
//! Procedures follow RFC 5352 and RSPLIB's behaviour (docs/rsplib-behaviour.md):
//! registrar hunt (§3.4 of RFC 5352), handle resolution with the PU cache
//! (§3.5), Endpoint Unreachable (§3.6; rate-limited per RFC 5355 §2.13),
//! cookies and failover (RFC 5352 §3.9-3.10; RFC 5355 §2.9 notice).

mod hunt;
mod inputs;
mod outputs;
mod reports;
mod requests;
mod sessions;
mod timers;
mod types;

pub use types::*;

use crate::policy::{PoolSelector, Rng};
use crate::rate_limit::TokenBucket;
use crate::wire::{
    self, consts, AsapMessage, BusinessCard, Cookie, EndpointUnreachable, HandleResolution,
    HandleResolutionOption, HandleResolutionResponse, Message, PoolElement, PoolElementId,
    PoolHandle, Protocol, TransportProtocol,
};
use core::time::Duration;
use litemap::LiteMap;
use std::collections::VecDeque;

/// The pool user's tables (cache, sessions, channels, report buckets) are
/// small: a sorted `Vec` map keeps `BTreeMap`'s key order at a fraction of
/// its code size, which matters for the browser build (BENCHMARKS.md).
type Map<K, V> = LiteMap<K, V>;

/// What [`PoolUser::report_unreachable`] reports.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// The PE the session currently uses: report it and fail over.
    Session(SessionId),
    /// Any PE of a pool (e.g. from a `resolve` answer).
    Element {
        /// The PE's pool.
        pool_handle: PoolHandle,
        /// The PE to report.
        element: PoolElementId,
    },
}

/// Errors of the application calls on sessions.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// No session with this number (never opened, or already closed).
    UnknownSession(SessionId),
    /// The session has no PE yet and its queue is full.
    QueueFull(SessionId),
    /// The session has no connected PE right now.
    NotConnected(SessionId),
}

impl core::fmt::Display for SessionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SessionError::UnknownSession(s) => write!(f, "unknown session {}", s.0),
            SessionError::QueueFull(s) => write!(f, "session {} queue full", s.0),
            SessionError::NotConnected(s) => write!(f, "session {} has no connected PE", s.0),
        }
    }
}

impl std::error::Error for SessionError {}

#[derive(Clone, Debug)]
struct RegistrarEntry {
    endpoint: String,
    /// Learned from an announce: (server id, forgotten after).
    announced: Option<(u32, Duration)>,
    /// Failed authentication: not tried before this time (RFC 5355 §2.7).
    held_until: Option<Duration>,
}

impl RegistrarEntry {
    fn usable(&self, now: Duration) -> bool {
        self.held_until.is_none_or(|t| now >= t) && self.announced.is_none_or(|(_, exp)| now < exp)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum RegState {
    Idle,
    /// Connection attempts of one hunt batch (RSPLIB tries up to 3
    /// registrars at once; the first one up wins).
    Connecting {
        attempts: Vec<Attempt>,
    },
    Up {
        channel: ChannelId,
        endpoint: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Attempt {
    channel: ChannelId,
    endpoint: String,
}

impl RegState {
    /// The state as the trace shows it.
    fn public(&self) -> RegistrarState {
        match self {
            RegState::Idle => RegistrarState::Idle,
            RegState::Connecting { attempts } => RegistrarState::Connecting {
                endpoints: attempts.iter().map(|a| a.endpoint.clone()).collect(),
            },
            RegState::Up { endpoint, .. } => RegistrarState::Up {
                endpoint: endpoint.clone(),
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReqKind {
    App(RequestId),
    Session(SessionId),
}

#[derive(Clone, Debug)]
struct Request {
    kind: ReqKind,
    pool_handle: PoolHandle,
    items: u32,
    /// Registrars this request was sent to without an answer.
    trials: u32,
    /// Cause-9 answers received so far.
    unknown_answers: u32,
}

#[derive(Clone, Debug)]
struct Outstanding {
    req: Request,
    /// When this request times out once it is the oldest outstanding
    /// (the `RegistrarResponse` timer holds the oldest's).
    deadline: Duration,
}

#[derive(Clone, Debug, Default)]
struct CachedPool {
    selector: PoolSelector,
    expiry: Map<PoolElementId, Duration>,
}

#[derive(Clone, Debug)]
struct FailoverState {
    old: PoolElementId,
    old_security: PathSecurity,
    reason: FailoverReason,
    failed: Vec<PoolElementId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SState {
    /// Waiting for a Handle Resolution Response.
    Resolving,
    Connecting {
        channel: ChannelId,
        element: Box<PoolElement>,
    },
    Up {
        channel: ChannelId,
        element: Box<PoolElement>,
        security: PathSecurity,
    },
    /// Until `SessionRetry` fires.
    Waiting,
}

impl SState {
    /// The state as the trace shows it.
    fn public(&self) -> SessionState {
        match self {
            SState::Resolving => SessionState::Resolving,
            SState::Connecting { element, .. } => SessionState::Connecting {
                element: element.id,
            },
            SState::Up { element, .. } => SessionState::Up {
                element: element.id,
            },
            SState::Waiting => SessionState::Waiting,
        }
    }
}

#[derive(Clone, Debug)]
struct Session {
    pool_handle: PoolHandle,
    app_ppid: u32,
    state: SState,
    cookie: Option<Cookie>,
    outbox: VecDeque<(u32, Vec<u8>)>,
    failover: Option<FailoverState>,
    /// PEs that failed since the session was last up (or last waited).
    recent_failures: Vec<PoolElementId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Registrar,
    Session(SessionId),
}

/// The pool user. See the module documentation and `client-core/README.md`.
#[derive(Debug)]
pub struct PoolUser {
    cfg: Config,
    rng: Rng,
    next_id: u64,
    registrars: Vec<RegistrarEntry>,
    reg: RegState,
    home: Option<String>,
    hunt_position: usize,
    hunt_tried: usize,
    hunt_round: u32,
    queue: VecDeque<Request>,
    outstanding: VecDeque<Outstanding>,
    reports: VecDeque<EndpointUnreachable>,
    cache: Map<PoolHandle, CachedPool>,
    sessions: Map<SessionId, Session>,
    channels: Map<ChannelId, Owner>,
    timers: timers::TimerTable,
    eu_total: TokenBucket,
    eu_per: Map<(PoolHandle, PoolElementId), TokenBucket>,
    actions: VecDeque<Action>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

/// Most Endpoint Unreachable reports kept while no registrar is up.
const MAX_QUEUED_REPORTS: usize = 64;
/// Most registrars learned from announces. Announces are unauthenticated
/// multicast (RFC 5355 §3.3): a flood of forged ones must not grow the
/// table without bound.
const MAX_ANNOUNCED_REGISTRARS: usize = 32;
/// Per-PE report buckets kept before full ones are forgotten.
const MAX_REPORT_BUCKETS: usize = 4096;

impl PoolUser {
    /// A pool user with this configuration. It does nothing until an input arrives: the
    /// first request starts the registrar hunt.
    pub fn new(cfg: Config) -> Self {
        let registrars = cfg
            .registrars
            .iter()
            .map(|e| RegistrarEntry {
                endpoint: e.clone(),
                announced: None,
                held_until: None,
            })
            .collect();
        PoolUser {
            rng: Rng::new(cfg.seed),
            eu_total: TokenBucket::new(cfg.unreachable_total),
            cfg,
            next_id: 0,
            registrars,
            reg: RegState::Idle,
            home: None,
            hunt_position: 0,
            hunt_tried: 0,
            hunt_round: 0,
            queue: VecDeque::new(),
            outstanding: VecDeque::new(),
            reports: VecDeque::new(),
            cache: Map::new(),
            sessions: Map::new(),
            channels: Map::new(),
            timers: timers::TimerTable::default(),
            eu_per: Map::new(),
            actions: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Adds a static registrar (ignored if already known).
    pub fn add_registrar(&mut self, endpoint: impl Into<String>) {
        let endpoint = endpoint.into();
        if !self.registrars.iter().any(|r| r.endpoint == endpoint) {
            self.registrars.push(RegistrarEntry {
                endpoint,
                announced: None,
                held_until: None,
            });
        }
    }

    /// The endpoint of the registrar currently up, if any.
    pub fn home_registrar(&self) -> Option<&str> {
        match &self.reg {
            RegState::Up { endpoint, .. } => Some(endpoint),
            _ => None,
        }
    }

    /// The PE a session currently uses (connected or connecting).
    pub fn session_element(&self, session: SessionId) -> Option<&PoolElement> {
        match &self.sessions.get(&session)?.state {
            SState::Up { element, .. } | SState::Connecting { element, .. } => Some(element),
            _ => None,
        }
    }

    /// The PPID of a session's data without one of its own (as given to
    /// `open_session`; a gateway link announces it in `OpenSession`).
    pub fn session_app_ppid(&self, session: SessionId) -> Option<u32> {
        self.sessions.get(&session).map(|s| s.app_ppid)
    }

    /// Whether the session is connected to a PE now.
    pub fn session_is_up(&self, session: SessionId) -> bool {
        matches!(
            self.sessions.get(&session).map(|s| &s.state),
            Some(SState::Up { .. })
        )
    }

    /// Open sessions.
    pub fn sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.keys().copied()
    }

    /// The PEs cached for a pool (expired ones included until next use).
    pub fn cached_elements(&self, pool_handle: &PoolHandle) -> Vec<PoolElement> {
        self.cache
            .get(pool_handle)
            .map(|p| p.selector.elements().cloned().collect())
            .unwrap_or_default()
    }
}
