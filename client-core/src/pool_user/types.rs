//! Inputs, outputs and configuration of the pool user.

use crate::policy::RefuseReason;
use crate::rate_limit::Rate;
use crate::wire::{BusinessCard, Message, PoolElement, PoolElementId, PoolHandle};
use core::time::Duration;

/// A transport channel the driver opens on request (an SCTP association, a
/// WebSocket, an in-memory pipe). Numbered by the pool user, never reused.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub u64);

/// A session of the application with a pool (RFC 5351 §2.2 "session").
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// One application call to [`super::PoolUser::resolve`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Bytes to send on a channel, as one message with this PPID.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The channel to send on.
    pub channel: ChannelId,
    /// SCTP payload protocol identifier to send the message with (11 for ASAP; the
    /// application's own PPID for session data).
    pub ppid: u32,
    /// The whole message, to be sent as one SCTP user message (or WebSocket frame).
    pub bytes: Vec<u8>,
}

/// Something the driver must do with its transports.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open `channel` to a registrar. `endpoint` is the configured or
    /// announced string (`sctp://10.1.0.1:3863`, `wss://host/asap`); the
    /// driver interprets it. Answer with `handle_connected` or `handle_closed`.
    ConnectRegistrar {
        /// The number the pool user gives the new channel; later inputs about it use this number.
        channel: ChannelId,
        /// Where the registrar is, as configured or announced.
        endpoint: String,
    },
    /// Open `channel` to a pool element's user transport.
    ConnectPoolElement {
        /// The number the pool user gives the new channel.
        channel: ChannelId,
        /// The session the channel is for.
        session: SessionId,
        /// The pool the PE was resolved from.
        pool_handle: PoolHandle,
        /// The chosen PE; the driver connects to its `user_transport` (all addresses, for SCTP).
        element: PoolElement,
    },
    /// Close (abort) `channel`; the pool user has forgotten it already.
    Close {
        /// The channel to close.
        channel: ChannelId,
    },
}

/// Why a channel ended, as the driver saw it.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Orderly shutdown by the peer.
    Closed,
    /// Abort / communication lost.
    Aborted,
    /// The connection could not be established.
    ConnectFailed,
    /// The peer failed authentication (TLS certificate, name mismatch...).
    AuthenticationFailed(String),
}

impl CloseReason {
    /// The reason as a stable kebab-case word (`closed`, `aborted`,
    /// `connect-failed`, `authentication-failed`), for JSON and JavaScript.
    pub fn as_str(&self) -> &'static str {
        match self {
            CloseReason::Closed => "closed",
            CloseReason::Aborted => "aborted",
            CloseReason::ConnectFailed => "connect-failed",
            CloseReason::AuthenticationFailed(_) => "authentication-failed",
        }
    }
}

impl core::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CloseReason::Closed => f.write_str("the peer closed the association"),
            CloseReason::Aborted => f.write_str("association aborted or lost"),
            CloseReason::ConnectFailed => f.write_str("could not connect"),
            CloseReason::AuthenticationFailed(why) => write!(f, "authentication failed: {why}"),
        }
    }
}

/// Security properties of an established path, as the driver knows them.
/// Compared on failover: RFC 5355 §2.9 asks that the application learn
/// when its traffic moves to a path with different protection.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathSecurity {
    /// "sctp", "tcp", "websocket", "memory"...
    pub transport: String,
    /// Traffic is protected by TLS (or DTLS) end to end to the peer.
    pub tls: bool,
    /// The peer's authenticated identity (certificate name), if any.
    pub authenticated_peer: Option<String>,
    /// The path goes through a gateway (browser → gateway → SCTP).
    pub via_gateway: bool,
}

impl PathSecurity {
    /// Plain SCTP as RSPLIB uses it: no TLS, nobody authenticated.
    pub fn plain(transport: &str) -> Self {
        PathSecurity {
            transport: transport.to_string(),
            ..PathSecurity::default()
        }
    }

    /// Whether the protection differs (transport, TLS, authentication or
    /// gateway). The authenticated *name* differing counts: it is another
    /// peer identity.
    pub fn differs_from(&self, other: &PathSecurity) -> bool {
        self != other
    }
}

/// Configuration. [`Default`] gives RSPLIB's defaults (docs/rsplib-behaviour.md, "Timers
/// and defaults")
/// plus our Endpoint Unreachable limits.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Static registrars, in order of preference.
    pub registrars: Vec<String>,
    /// Use registrars learned from Server Announces (RFC 5352 §3.6). These
    /// are unauthenticated multicast (RFC 5355 §3.3): turn off in TLS mode
    /// unless the driver authenticates announced registrars.
    pub use_announced_registrars: bool,
    /// An announced registrar is forgotten this long after its last
    /// announce (RSPLIB `ASAP_DEFAULT_REGISTRAR_ANNOUNCE_TIMEOUT`, 5 s).
    pub announce_lifetime: Duration,
    /// How long one registrar connection attempt may take (RSPLIB
    /// `ASAP_DEFAULT_REGISTRAR_CONNECT_TIMEOUT`, 7.5 s).
    pub registrar_connect_timeout: Duration,
    /// Registrars connected to at once during a hunt; the first one up
    /// wins (RSPLIB registrartable.c `MAX_SIMULTANEOUS_REQUESTS`, 3). 1
    /// hunts strictly one after the other.
    pub hunt_parallel: usize,
    /// Full passes over the registrar table before pending requests fail
    /// with [`ResolveError::NoRegistrarReachable`] (RSPLIB: one round per
    /// hunt, and a queued request triggers a second hunt → 2).
    pub hunt_rounds: u32,
    /// Wait for a registrar's response (RSPLIB
    /// `ASAP_DEFAULT_REGISTRAR_RESPONSE_TIMEOUT`, 3 s; RFC 5352 T1).
    pub response_timeout: Duration,
    /// How many registrars a request is sent to before it fails with
    /// [`ResolveError::Timeout`]. RSPLIB: 1 (no retransmission); we default
    /// to 2, RFC 5352's MAX-REQUEST-RETRANSMIT, because the issue asks for
    /// retransmission on the next registrar.
    pub request_max_trials: u32,
    /// Operation Error cause 9 means "unknown pool" *or* "refused by the
    /// registrar's rate limit" (docs/rsplib-behaviour.md, "Unknown pool and rate limiting
    /// look the same"): ask this
    /// many further registrars before reporting "no such pool".
    pub unknown_pool_retries: u32,
    /// How long resolved PEs stay usable in the PU cache (RFC 5352
    /// stale.cache.value; RSPLIB tools pass 0 = resolve on every connect).
    pub stale_cache: Duration,
    /// Items requested by [`super::PoolUser::resolve`]
    /// (`HANDLE_RESOLUTION_ITEMS_ALL` = all). Sessions always ask for 1.
    /// The option is only sent when `stale_cache` is 0 or items = all, as
    /// RSPLIB does (docs/rsplib-behaviour.md, "Handle Resolution and the cache").
    pub resolve_items: u32,
    /// PU → PE connect timeout (RSPLIB sessioncontrol.c: 5 s).
    pub pe_connect_timeout: Duration,
    /// Delay before a session resolves again after an empty pool (RSPLIB:
    /// 250 ms).
    pub empty_pool_retry: Duration,
    /// Delay before a session resolves again after no registrar could be
    /// reached (a whole hunt failed; retrying faster only hammers dead
    /// addresses). Default: the registrar connect timeout.
    pub no_registrar_retry: Duration,
    /// A registrar that failed authentication is not tried again for this
    /// long (RFC 5355 §2.7: do not use an unauthenticated registrar).
    pub auth_failure_holdoff: Duration,
    /// Endpoint Unreachable reports per PE (RFC 5355 §2.13). Default one
    /// per 10 s: RSPLIB registrars evict a PE after 3 reports, so one PU
    /// alone cannot evict a healthy PE in under 20 s, while the first
    /// report of a real failure still goes out at once.
    pub unreachable_per_element: Rate,
    /// Endpoint Unreachable reports in total. Default 1/s, burst 3: a
    /// whole pool failing is reported promptly, a flood is not.
    pub unreachable_total: Rate,
    /// Queue trace events (messages, state changes, timers). Application
    /// events are always queued.
    pub trace: bool,
    /// Seed of the selection PRNG (randomised policies, deterministic).
    pub seed: u64,
    /// Most application messages queued in a session while it has no PE.
    pub session_queue_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            registrars: Vec::new(),
            use_announced_registrars: true,
            announce_lifetime: Duration::from_secs(5),
            registrar_connect_timeout: Duration::from_millis(7500),
            hunt_parallel: 3,
            hunt_rounds: 2,
            response_timeout: Duration::from_secs(3),
            request_max_trials: 2,
            unknown_pool_retries: 1,
            stale_cache: Duration::ZERO,
            resolve_items: crate::wire::consts::HANDLE_RESOLUTION_ITEMS_ALL,
            pe_connect_timeout: Duration::from_secs(5),
            empty_pool_retry: Duration::from_millis(250),
            no_registrar_retry: Duration::from_millis(7500),
            auth_failure_holdoff: Duration::from_secs(300),
            unreachable_per_element: Rate::new(0.1, 1),
            unreachable_total: Rate::new(1.0, 3),
            trace: true,
            seed: 0x5eed_0f70_0001,
            session_queue_limit: 1024,
        }
    }
}

/// Why a resolution failed.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResolveError {
    /// Every registrar asked answered cause 9 (unknown pool handle, or its
    /// rate limit refused us — RSPLIB does not distinguish).
    NoSuchPool {
        /// How many registrars answered cause 9.
        registrars_asked: u32,
    },
    /// The pool exists but had no PE this pool user can use (empty, or all
    /// PEs refused — see [`Event::ElementSkipped`]).
    NoUsableElement,
    /// No registrar could be connected to in `rounds` passes over
    /// `registrars` table entries.
    NoRegistrarReachable {
        /// Registrars in the table.
        registrars: u32,
        /// Passes made over the table.
        rounds: u32,
    },
    /// No response from `registrars_tried` registrars in turn.
    Timeout {
        /// How many registrars the request was sent to.
        registrars_tried: u32,
    },
    /// The registrar answered with another Operation Error cause.
    Refused {
        /// The cause code (RFC 5354 §3.12; RSPLIB may send its internal codes).
        cause: u16,
    },
}

impl core::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ResolveError::NoSuchPool { registrars_asked } => {
                write!(f, "no such pool (asked {registrars_asked} registrar(s))")
            }
            ResolveError::NoUsableElement => f.write_str("pool has no usable pool element"),
            ResolveError::NoRegistrarReachable { registrars, rounds } => write!(
                f,
                "no registrar reachable ({registrars} known, {rounds} round(s))"
            ),
            ResolveError::Timeout { registrars_tried } => {
                write!(f, "no response from {registrars_tried} registrar(s)")
            }
            ResolveError::Refused { cause } => {
                write!(f, "registrar refused the request (cause 0x{cause:04x})")
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// Where bad input came from.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputSource {
    /// The registrar channel.
    Registrar,
    /// A session's channel to a pool element.
    PoolElement,
    /// The announce socket; `source` is the datagram's sender as an
    /// endpoint string.
    Announce {
        /// The sender (`sctp://10.1.0.1:3863`).
        source: String,
    },
}

/// Bad input the pool user dropped ([`Event::Error`]), and the protocol
/// error a registrar was dropped for ([`RegistrarFailure::ProtocolError`]).
///
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputError {
    /// Data on a channel the pool user does not know.
    UnknownChannel,
    /// Data from a registrar channel that is not (or no longer) up.
    RegistrarNotUp,
    /// A PPID that is neither ASAP's nor ENRP's on the registrar channel.
    UnexpectedPpid(u32),
    /// Bytes that do not decode.
    Undecodable {
        /// Who sent them.
        from: InputSource,
        /// What was wrong, and where ([`crate::wire::DecodeError`]'s text:
        /// that type serializes but does not deserialize).
        error: String,
    },
    /// A message that has no place where it arrived.
    Unexpected {
        /// Who sent it.
        from: InputSource,
        /// Its type name ([`Message::type_name`]).
        message: String,
    },
    /// An ASAP Error message from the registrar (its first cause code).
    AsapError {
        /// The first cause code, 0 if none.
        cause: u16,
    },
    /// A Handle Resolution Response with no request outstanding.
    ResponseWithoutRequest,
    /// A Server Announce was ignored: the table of announced registrars is
    /// full.
    AnnounceTableFull {
        /// The registrar the announce named.
        endpoint: String,
    },
}

impl core::fmt::Display for InputError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InputError::UnknownChannel => f.write_str("data on an unknown channel"),
            InputError::RegistrarNotUp => f.write_str("data from a registrar that is not up"),
            InputError::UnexpectedPpid(ppid) => write!(f, "PPID {ppid} on the registrar channel"),
            InputError::Undecodable { from, error } => match from {
                InputSource::Registrar => write!(f, "undecodable message from registrar: {error}"),
                InputSource::PoolElement => {
                    write!(f, "undecodable ASAP message from pool element: {error}")
                }
                InputSource::Announce { source } => {
                    write!(f, "undecodable announce from {source}: {error}")
                }
            },
            InputError::Unexpected { from, message } => match from {
                InputSource::Registrar => write!(f, "unexpected {message} from registrar"),
                InputSource::PoolElement => write!(f, "unexpected {message} from pool element"),
                InputSource::Announce { source } => {
                    write!(f, "{message} on the announce socket from {source}")
                }
            },
            InputError::AsapError { cause } => {
                write!(f, "ASAP Error from registrar (cause 0x{cause:04x})")
            }
            InputError::ResponseWithoutRequest => {
                f.write_str("Handle Resolution Response without a request")
            }
            InputError::AnnounceTableFull { endpoint } => {
                write!(f, "announce from {endpoint} ignored: registrar table full")
            }
        }
    }
}

impl std::error::Error for InputError {}

/// Why the pool user gave up on a registrar.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrarFailure {
    /// The association could not be established.
    ConnectFailed,
    /// Connecting took longer than the registrar connect timeout.
    ConnectTimeout,
    /// The registrar closed the association in order.
    Closed,
    /// The association was aborted or lost.
    Aborted,
    /// The registrar failed authentication (TLS certificate, name...).
    AuthenticationFailed(String),
    /// No response within the response timeout.
    ResponseTimeout,
    /// Undecodable bytes, an unexpected response or an ASAP Error: RSPLIB
    /// drops the association (docs/rsplib-behaviour.md, "Registrar hunt") and so do we.
    ProtocolError(InputError),
    /// Dropped to ask another registrar after cause 9.
    AskAnother,
}

impl RegistrarFailure {
    /// The failure as a stable kebab-case word, for JSON and JavaScript.
    pub fn as_str(&self) -> &'static str {
        match self {
            RegistrarFailure::ConnectFailed => "connect-failed",
            RegistrarFailure::ConnectTimeout => "connect-timeout",
            RegistrarFailure::Closed => "closed",
            RegistrarFailure::Aborted => "aborted",
            RegistrarFailure::AuthenticationFailed(_) => "authentication-failed",
            RegistrarFailure::ResponseTimeout => "response-timeout",
            RegistrarFailure::ProtocolError(_) => "protocol-error",
            RegistrarFailure::AskAnother => "ask-another",
        }
    }
}

impl core::fmt::Display for RegistrarFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RegistrarFailure::ConnectFailed => f.write_str("could not connect"),
            RegistrarFailure::ConnectTimeout => f.write_str("connect timeout"),
            RegistrarFailure::Closed => f.write_str("the registrar closed the association"),
            RegistrarFailure::Aborted => f.write_str("association aborted or lost"),
            RegistrarFailure::AuthenticationFailed(why) => {
                write!(f, "authentication failed: {why}")
            }
            RegistrarFailure::ResponseTimeout => f.write_str("no response in time"),
            RegistrarFailure::ProtocolError(e) => write!(f, "protocol error: {e}"),
            RegistrarFailure::AskAnother => f.write_str("dropped to ask another registrar"),
        }
    }
}

/// Why a session changed PE.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailoverReason {
    /// The channel to the PE ended.
    ChannelClosed(CloseReason),
    /// Connecting to the PE took longer than the PE connect timeout.
    ConnectTimeout,
    /// The application reported the PE unreachable.
    ReportedByApplication,
}

impl FailoverReason {
    /// The reason as a stable kebab-case word (`channel-closed`,
    /// `connect-timeout`, `reported-by-application`); for
    /// `channel-closed`, [`Self::close_reason`] says how it closed.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailoverReason::ChannelClosed(_) => "channel-closed",
            FailoverReason::ConnectTimeout => "connect-timeout",
            FailoverReason::ReportedByApplication => "reported-by-application",
        }
    }

    /// How the channel to the old PE ended, if that was the reason.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        match self {
            FailoverReason::ChannelClosed(c) => Some(c),
            _ => None,
        }
    }
}

impl core::fmt::Display for FailoverReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FailoverReason::ChannelClosed(CloseReason::Closed) => {
                f.write_str("the pool element closed the association")
            }
            FailoverReason::ChannelClosed(c) => c.fmt(f),
            FailoverReason::ConnectTimeout => f.write_str("connect timeout"),
            FailoverReason::ReportedByApplication => f.write_str("reported unreachable"),
        }
    }
}

/// RFC 5355 §2.9 failover notice: what changed under the session.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverNotice {
    /// The session that moved.
    pub session: SessionId,
    /// The session's pool.
    pub pool_handle: PoolHandle,
    /// The PE the session used before.
    pub old_element: PoolElementId,
    /// The PE the session uses now.
    pub new_element: PoolElementId,
    /// The first failure that started this failover.
    pub reason: FailoverReason,
    /// PEs tried (and failed) before `new_element` was reached, old one first.
    pub failed_elements: Vec<PoolElementId>,
    /// A Cookie Echo with the last cookie was sent to the new PE.
    pub cookie_replayed: bool,
    /// Protection of the path to the old PE.
    pub old_security: PathSecurity,
    /// Protection of the path to the new PE.
    pub new_security: PathSecurity,
    /// `old_security != new_security`: the application must decide whether
    /// the new path is acceptable.
    pub security_changed: bool,
}

/// Why a session ended.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionCloseReason {
    /// The application closed it.
    ByApplication,
}

impl SessionCloseReason {
    /// The reason as a stable kebab-case word (`by-application`).
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionCloseReason::ByApplication => "by-application",
        }
    }
}

/// Which limit suppressed an Endpoint Unreachable report.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportLimit {
    /// The per-PE limit ([`Config::unreachable_per_element`]).
    PerElement,
    /// The overall limit ([`Config::unreachable_total`]).
    Total,
}

/// A timer of the pool user (trace events).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// A hunt batch is connecting ([`Config::registrar_connect_timeout`]).
    RegistrarConnect,
    /// The oldest outstanding request awaits its answer ([`Config::response_timeout`]).
    RegistrarResponse,
    /// The session is connecting to a PE ([`Config::pe_connect_timeout`]).
    ElementConnect(SessionId),
    /// The session waits before resolving again ([`Config::empty_pool_retry`] or
    /// [`Config::no_registrar_retry`]).
    SessionRetry(SessionId),
}

/// Where the pool user stands with its registrars (RFC 5352 §3.4), as a
/// lab draws it. `Display` gives the short text the CLI traces print
/// (`idle`, `connecting A, B`, `up A`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrarState {
    /// No registrar connected and none being tried.
    Idle,
    /// A hunt batch: these registrars are being connected at once; the
    /// first one up wins.
    Connecting {
        /// The registrars of the batch, in hunt order.
        endpoints: Vec<String>,
    },
    /// The home registrar is up.
    Up {
        /// The registrar's endpoint as configured or announced.
        endpoint: String,
    },
}

/// Where a session stands, as a lab draws it. `Display` gives the short
/// text the CLI traces print (`resolving`, `connecting PE`, `up PE`,
/// `waiting`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Waiting for a registrar's answer naming PEs.
    Resolving,
    /// Connecting to a PE.
    Connecting {
        /// The PE being connected.
        element: PoolElementId,
    },
    /// Connected to a PE.
    Up {
        /// The PE serving the session.
        element: PoolElementId,
    },
    /// No PE found: waiting before it resolves again.
    Waiting,
}

impl SessionState {
    /// The PE the session is connected to, if it is up.
    pub fn up_element(&self) -> Option<PoolElementId> {
        match self {
            SessionState::Up { element } => Some(*element),
            _ => None,
        }
    }
}

impl core::fmt::Display for RegistrarState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RegistrarState::Idle => f.write_str("idle"),
            RegistrarState::Connecting { endpoints } => {
                f.write_str("connecting ")?;
                for (n, e) in endpoints.iter().enumerate() {
                    if n > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(e)?;
                }
                Ok(())
            }
            RegistrarState::Up { endpoint } => write!(f, "up {endpoint}"),
        }
    }
}

impl core::fmt::Display for SessionState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SessionState::Resolving => f.write_str("resolving"),
            SessionState::Connecting { element } => write!(f, "connecting {element}"),
            SessionState::Up { element } => write!(f, "up {element}"),
            SessionState::Waiting => f.write_str("waiting"),
        }
    }
}

/// A state change (trace events).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateChange {
    /// The registrar state changed.
    Registrar {
        /// Before.
        from: RegistrarState,
        /// After.
        to: RegistrarState,
    },
    /// A session's state changed.
    Session {
        /// The session.
        session: SessionId,
        /// Before.
        from: SessionState,
        /// After.
        to: SessionState,
    },
}

/// An application or trace event.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    // ---- application events
    /// A [`super::PoolUser::resolve`] call succeeded, from the cache or from a registrar's answer.
    Resolved {
        /// The call this answers.
        request: RequestId,
        /// The pool asked for.
        pool_handle: PoolHandle,
        /// The PEs picked by the pool user's selection policy, best first; never empty.
        elements: Vec<PoolElement>,
    },
    /// A [`super::PoolUser::resolve`] call failed.
    ResolveFailed {
        /// The call this answers.
        request: RequestId,
        /// The pool asked for.
        pool_handle: PoolHandle,
        /// Why it failed.
        error: ResolveError,
    },
    /// A registrar connection is up (the home registrar, RFC 5352 §3.2).
    RegistrarUp {
        /// The registrar's channel.
        channel: ChannelId,
        /// The registrar's endpoint string.
        endpoint: String,
    },
    /// The home registrar changed from a previous one.
    RegistrarChanged {
        /// Endpoint of the previous home registrar.
        from: String,
        /// Endpoint of the new one.
        to: String,
    },
    /// A registrar was given up; the hunt goes on.
    RegistrarFailed {
        /// The registrar given up.
        endpoint: String,
        /// Why.
        reason: RegistrarFailure,
    },
    /// A registrar learned from a Server Announce (new entry only).
    RegistrarAnnounced {
        /// The registrar's endpoint (from the announce's transport, or the UDP source
        /// address and port).
        endpoint: String,
        /// The registrar's Server ID from the announce.
        server_id: u32,
    },
    /// A PE from a response was not cached (RSPLIB would refuse it).
    ElementSkipped {
        /// The pool of the response.
        pool_handle: PoolHandle,
        /// The PE not cached.
        element: PoolElementId,
        /// Why it was refused.
        reason: RefuseReason,
    },
    /// An Endpoint Unreachable report was sent.
    ReportSent {
        /// The PE's pool.
        pool_handle: PoolHandle,
        /// The PE reported.
        element: PoolElementId,
    },
    /// An Endpoint Unreachable report was not sent (RFC 5355 §2.13 limit).
    ReportSuppressed {
        /// The PE's pool.
        pool_handle: PoolHandle,
        /// The PE not reported.
        element: PoolElementId,
        /// Which limit held it back.
        limit: ReportLimit,
    },
    /// A session is connected to a PE (first connect, or after failover).
    SessionUp {
        /// The session.
        session: SessionId,
        /// The PE now serving it.
        element: PoolElementId,
        /// Protection of the new path, as the driver reported it.
        security: PathSecurity,
    },
    /// The session has no PE for now and will retry after a delay.
    SessionWaiting {
        /// The session.
        session: SessionId,
        /// Why no PE was found.
        error: ResolveError,
        /// Delay until it resolves again.
        retry_in: Duration,
    },
    /// Application data from the session's PE (any PPID but ASAP's).
    SessionData {
        /// The session.
        session: SessionId,
        /// The PPID the PE sent the data with.
        ppid: u32,
        /// The data.
        bytes: Vec<u8>,
    },
    /// The PE sent a (new) cookie; it replaces the previous one.
    CookieReceived {
        /// The session.
        session: SessionId,
        /// Length of the cookie in bytes (the cookie itself stays opaque and internal).
        len: usize,
    },
    /// The PE sent an ASAP Business Card.
    BusinessCardReceived {
        /// The session.
        session: SessionId,
        /// The card as decoded.
        card: BusinessCard,
    },
    /// A session moved to another PE (RFC 5355 §2.9 notice).
    Failover(FailoverNotice),
    /// A session ended; the pool user has forgotten it.
    SessionClosed {
        /// The session.
        session: SessionId,
        /// Why it ended.
        reason: SessionCloseReason,
    },
    /// Bad input that was dropped (undecodable bytes, unknown channel,
    /// unexpected message). The pool user keeps serving.
    Error {
        /// The channel it arrived on, if any (none for announces).
        channel: Option<ChannelId>,
        /// What was wrong with it.
        error: InputError,
    },
    // ---- trace events
    /// Trace: a message (ASAP) was queued for sending.
    MessageSent {
        /// The channel.
        channel: ChannelId,
        /// The message as sent.
        message: Message,
    },
    /// Trace: a message was received and decoded.
    MessageReceived {
        /// The channel.
        channel: ChannelId,
        /// The message as decoded.
        message: Message,
    },
    /// Trace: the registrar or a session changed state.
    StateChanged(StateChange),
    /// Trace: a timer was armed or re-armed.
    TimerArmed {
        /// Which timer.
        timer: Timer,
        /// Its deadline, on the driver's clock (time since the driver's epoch).
        at: Duration,
    },
    /// Trace: a timer expired.
    TimerFired {
        /// Which timer.
        timer: Timer,
        /// When it was handled (the `now` of [`super::PoolUser::handle_timeout`]).
        at: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_have_stable_kebab_case_words_for_javascript() {
        let closes = [
            CloseReason::Closed,
            CloseReason::Aborted,
            CloseReason::ConnectFailed,
            CloseReason::AuthenticationFailed("UnknownIssuer".into()),
        ];
        let words: Vec<_> = closes.iter().map(CloseReason::as_str).collect();
        assert_eq!(
            words,
            [
                "closed",
                "aborted",
                "connect-failed",
                "authentication-failed"
            ]
        );
        let f = FailoverReason::ChannelClosed(CloseReason::Aborted);
        assert_eq!(
            (f.as_str(), f.close_reason().map(CloseReason::as_str)),
            ("channel-closed", Some("aborted"))
        );
        assert_eq!(FailoverReason::ConnectTimeout.close_reason(), None);
        assert_eq!(SessionCloseReason::ByApplication.as_str(), "by-application");
        assert_eq!(
            RegistrarFailure::ProtocolError(InputError::RegistrarNotUp).as_str(),
            "protocol-error"
        );
    }

    #[test]
    fn input_errors_read_as_before_they_were_typed() {
        let cases = [
            (InputError::UnknownChannel, "data on an unknown channel"),
            (
                InputError::UnexpectedPpid(51),
                "PPID 51 on the registrar channel",
            ),
            (
                InputError::AsapError { cause: 9 },
                "ASAP Error from registrar (cause 0x0009)",
            ),
            (
                InputError::Unexpected {
                    from: InputSource::PoolElement,
                    message: "ASAP Registration".into(),
                },
                "unexpected ASAP Registration from pool element",
            ),
            (
                InputError::Undecodable {
                    from: InputSource::Announce {
                        source: "sctp://10.1.0.1:3863".into(),
                    },
                    error: "too short".into(),
                },
                "undecodable announce from sctp://10.1.0.1:3863: too short",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }
}
