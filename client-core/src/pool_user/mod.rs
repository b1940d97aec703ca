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
        pool_handle: PoolHandle,
        element: PoolElementId,
    },
}

/// Errors of the application calls on sessions.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
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
        deadline: Duration,
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
    fn name(&self) -> String {
        match self {
            RegState::Idle => "idle".into(),
            // Pushed piece by piece rather than `format!` + `join`: same
            // text without `join`'s generic copy code in the browser build.
            RegState::Connecting { attempts, .. } => {
                let mut s = String::from("connecting ");
                for (n, a) in attempts.iter().enumerate() {
                    if n > 0 {
                        s.push_str(", ");
                    }
                    s.push_str(&a.endpoint);
                }
                s
            }
            RegState::Up { endpoint, .. } => String::from("up ") + endpoint,
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
        deadline: Duration,
    },
    Up {
        channel: ChannelId,
        element: Box<PoolElement>,
        security: PathSecurity,
    },
    Waiting {
        until: Duration,
    },
}

impl SState {
    fn name(&self) -> String {
        match self {
            SState::Resolving => "resolving".into(),
            SState::Connecting { element, .. } => format!("connecting {}", element.id),
            SState::Up { element, .. } => format!("up {}", element.id),
            SState::Waiting { .. } => "waiting".into(),
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
            eu_per: Map::new(),
            actions: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

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

    // ------------------------------------------------------------ outputs

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline, if any timer is armed.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let mut t: Option<Duration> = None;
        let mut consider = |d: Duration| t = Some(t.map_or(d, |x| x.min(d)));
        if let RegState::Connecting { deadline, .. } = self.reg {
            consider(deadline);
        }
        if let Some(o) = self.outstanding.front() {
            consider(o.deadline);
        }
        for s in self.sessions.values() {
            match s.state {
                SState::Connecting { deadline, .. } => consider(deadline),
                SState::Waiting { until } => consider(until),
                _ => {}
            }
        }
        t
    }

    // ------------------------------------------------------------ helpers

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    fn trace(&mut self, e: Event) {
        if self.cfg.trace {
            self.events.push_back(e);
        }
    }

    /// Traces a received message at queue position `at` (where it stood
    /// before handling it), so the message is handled by reference and
    /// moved into its trace event instead of cloned for it (browser
    /// download size: no `Message::clone`).
    fn trace_received_at(&mut self, at: usize, channel: ChannelId, message: Message) {
        if self.cfg.trace {
            let at = at.min(self.events.len());
            self.events
                .insert(at, Event::MessageReceived { channel, message });
        }
    }

    fn arm(&mut self, timer: Timer, at: Duration) {
        self.trace(Event::TimerArmed { timer, at });
    }

    fn send_message(&mut self, channel: ChannelId, message: Message) {
        self.transmits.push_back(Transmit {
            channel,
            ppid: message.ppid(),
            bytes: message.to_bytes(),
        });
        self.trace(Event::MessageSent { channel, message });
    }

    fn set_reg(&mut self, new: RegState) {
        let from = self.reg.name();
        self.reg = new;
        let to = self.reg.name();
        self.trace(Event::StateChanged(StateChange::Registrar { from, to }));
    }

    fn set_session(&mut self, sid: SessionId, new: SState) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let from = s.state.name();
        let to = new.name();
        s.state = new;
        self.trace(Event::StateChanged(StateChange::Session {
            session: sid,
            from,
            to,
        }));
    }

    fn close_channel(&mut self, channel: ChannelId) {
        if self.channels.remove(&channel).is_some() {
            self.actions.push_back(Action::Close { channel });
        }
    }

    // ------------------------------------------------------------ hunt

    fn usable_registrars(&self, now: Duration) -> usize {
        self.registrars.iter().filter(|r| r.usable(now)).count()
    }

    fn ensure_registrar(&mut self, now: Duration) {
        match self.reg {
            RegState::Idle => {
                self.hunt_round = 0;
                self.hunt_tried = 0;
                self.try_next_registrar(now);
            }
            RegState::Connecting { .. } => {}
            RegState::Up { .. } => self.flush_registrar(now),
        }
    }

    /// RFC 5352 §3.4 hunt: the next `hunt_parallel` usable registrars in
    /// table order, at once (RSPLIB `MAX_SIMULTANEOUS_REQUESTS` = 3).
    fn try_next_registrar(&mut self, now: Duration) {
        // Forget announced registrars whose lifetime is over (T7, RSPLIB 5 s).
        self.registrars
            .retain(|r| r.announced.is_none_or(|(_, exp)| now < exp));
        let usable = self.usable_registrars(now);
        if usable > 0 && self.hunt_tried >= usable {
            self.hunt_round += 1;
            self.hunt_tried = 0;
        }
        if usable == 0 || self.hunt_round >= self.cfg.hunt_rounds {
            let error = ResolveError::NoRegistrarReachable {
                registrars: self.registrars.len() as u32,
                rounds: self.hunt_round,
            };
            self.set_reg(RegState::Idle);
            self.reports.clear();
            while let Some(req) = self.queue.pop_front() {
                self.fail_request(req, error.clone(), now);
            }
            return;
        }
        let n = self.registrars.len();
        let want = self.cfg.hunt_parallel.max(1).min(usable - self.hunt_tried);
        let start = self.hunt_position % n;
        let picked: Vec<usize> = (0..n)
            .map(|k| (start + k) % n)
            .filter(|&i| self.registrars[i].usable(now))
            .take(want)
            .collect();
        let Some(&last) = picked.last() else {
            return;
        };
        self.hunt_position = last + 1;
        self.hunt_tried += picked.len();
        let deadline = now + self.cfg.registrar_connect_timeout;
        let mut attempts = Vec::new();
        for idx in picked {
            let endpoint = self.registrars[idx].endpoint.clone();
            let channel = ChannelId(self.next());
            self.channels.insert(channel, Owner::Registrar);
            attempts.push(Attempt {
                channel,
                endpoint: endpoint.clone(),
            });
            self.actions
                .push_back(Action::ConnectRegistrar { channel, endpoint });
        }
        self.set_reg(RegState::Connecting { attempts, deadline });
        self.arm(Timer::RegistrarConnect, deadline);
    }

    /// One connection attempt of the current batch failed. When none is
    /// left, the hunt goes on with the next batch.
    fn registrar_attempt_failed(
        &mut self,
        channel: ChannelId,
        reason: RegistrarFailure,
        now: Duration,
    ) {
        let RegState::Connecting { attempts, deadline } = self.reg.clone() else {
            return;
        };
        let Some(pos) = attempts.iter().position(|a| a.channel == channel) else {
            return;
        };
        let mut attempts = attempts;
        let endpoint = attempts.remove(pos).endpoint;
        self.close_channel(channel);
        if let RegistrarFailure::AuthenticationFailed(_) = reason {
            // RFC 5355 §2.7: do not use a registrar that failed
            // authentication; keep it out of hunts for a while.
            let until = now + self.cfg.auth_failure_holdoff;
            for r in self
                .registrars
                .iter_mut()
                .filter(|r| r.endpoint == endpoint)
            {
                r.held_until = Some(until);
            }
        }
        self.event(Event::RegistrarFailed { endpoint, reason });
        if !attempts.is_empty() {
            self.reg = RegState::Connecting { attempts, deadline };
            return;
        }
        self.set_reg(RegState::Idle);
        if self.queue.is_empty() && self.reports.is_empty() {
            return;
        }
        self.try_next_registrar(now);
    }

    /// Gives up the registrar that is up (RSPLIB drops the association on
    /// timeouts, unexpected responses and errors; §5.2). Outstanding
    /// requests go back to the queue; with `count_trial` each has used
    /// up one trial.
    fn drop_registrar(&mut self, reason: RegistrarFailure, count_trial: bool, now: Duration) {
        let RegState::Up { channel, endpoint } = self.reg.clone() else {
            return;
        };
        self.close_channel(channel);
        self.event(Event::RegistrarFailed { endpoint, reason });
        self.set_reg(RegState::Idle);
        // The taken deque itself, not `drain(..).collect()` into a Vec: no
        // Drain iterator or conversion per element type (browser download
        // size, BENCHMARKS.md "Browser package size").
        let outstanding = std::mem::take(&mut self.outstanding);
        for o in outstanding.into_iter().rev() {
            let mut req = o.req;
            if count_trial {
                req.trials += 1;
                if req.trials >= self.cfg.request_max_trials {
                    let error = ResolveError::Timeout {
                        registrars_tried: req.trials,
                    };
                    self.fail_request(req, error, now);
                    continue;
                }
            }
            self.queue.push_front(req);
        }
        if !self.queue.is_empty() || !self.reports.is_empty() {
            self.hunt_round = 0;
            self.hunt_tried = 0;
            self.try_next_registrar(now);
        }
    }

    fn registrar_up(&mut self, channel: ChannelId, now: Duration) {
        let RegState::Connecting { attempts, .. } = self.reg.clone() else {
            return;
        };
        let Some(endpoint) = attempts
            .iter()
            .find(|a| a.channel == channel)
            .map(|a| a.endpoint.clone())
        else {
            return;
        };
        // The first association up wins; the other attempts are abandoned.
        for a in attempts.iter().filter(|a| a.channel != channel) {
            self.close_channel(a.channel);
        }
        // The next hunt starts after this registrar (a dropped registrar is
        // not asked again first).
        if let Some(i) = self.registrars.iter().position(|r| r.endpoint == endpoint) {
            self.hunt_position = i + 1;
        }
        self.set_reg(RegState::Up {
            channel,
            endpoint: endpoint.clone(),
        });
        self.hunt_round = 0;
        self.hunt_tried = 0;
        self.event(Event::RegistrarUp {
            channel,
            endpoint: endpoint.clone(),
        });
        if let Some(prev) = self.home.replace(endpoint.clone()) {
            if prev != endpoint {
                self.event(Event::RegistrarChanged {
                    from: prev,
                    to: endpoint,
                });
            }
        }
        self.flush_registrar(now);
    }

    /// Sends queued requests and reports to the registrar that is up.
    fn flush_registrar(&mut self, now: Duration) {
        let RegState::Up { channel, .. } = self.reg else {
            return;
        };
        while let Some(eu) = self.reports.pop_front() {
            let (pool_handle, element) = (eu.pool_handle.clone(), eu.pe_id);
            self.send_message(channel, Message::Asap(AsapMessage::EndpointUnreachable(eu)));
            self.event(Event::ReportSent {
                pool_handle,
                element,
            });
        }
        while let Some(req) = self.queue.pop_front() {
            // The Items option is RSPLIB's; it sends it only with stale
            // cache 0 or "all" (docs/rsplib-behaviour.md, "Handle Resolution and the cache").
            let option = (self.cfg.stale_cache.is_zero()
                || req.items == consts::HANDLE_RESOLUTION_ITEMS_ALL)
                .then_some(HandleResolutionOption { items: req.items });
            let msg = Message::Asap(AsapMessage::HandleResolution(HandleResolution {
                pool_handle: req.pool_handle.clone(),
                option,
            }));
            self.send_message(channel, msg);
            let deadline = now + self.cfg.response_timeout;
            if self.outstanding.is_empty() {
                self.arm(Timer::RegistrarResponse, deadline);
            }
            self.outstanding.push_back(Outstanding { req, deadline });
        }
    }

    // ------------------------------------------------------------ requests

    fn fail_request(&mut self, req: Request, error: ResolveError, now: Duration) {
        match req.kind {
            ReqKind::App(request) => self.event(Event::ResolveFailed {
                request,
                pool_handle: req.pool_handle,
                error,
            }),
            ReqKind::Session(sid) => self.session_wait(sid, error, now),
        }
    }

    fn cache_select(
        &mut self,
        pool_handle: &PoolHandle,
        n: usize,
        now: Duration,
        purge: bool,
    ) -> Vec<PoolElement> {
        let Some(pool) = self.cache.get_mut(pool_handle) else {
            return Vec::new();
        };
        if purge {
            // Drop entries whose stale-cache time has passed (RFC 5352 §3.5).
            let expired: Vec<PoolElementId> = pool
                .expiry
                .iter()
                .filter(|(_, &t)| t <= now)
                .map(|(&id, _)| id)
                .collect();
            for id in expired {
                pool.expiry.remove(&id);
                pool.selector.remove(id);
            }
        }
        let chosen = pool.selector.select(n, &mut self.rng);
        if pool.selector.is_empty() {
            self.cache.remove(pool_handle);
        }
        chosen
    }

    fn cache_remove(&mut self, pool_handle: &PoolHandle, id: PoolElementId) {
        if let Some(pool) = self.cache.get_mut(pool_handle) {
            pool.selector.remove(id);
            pool.expiry.remove(&id);
            if pool.selector.is_empty() {
                self.cache.remove(pool_handle);
            }
        }
    }

    /// Resolves a pool handle: from the cache if it has usable PEs,
    /// otherwise by asking a registrar. Answers with
    /// [`Event::Resolved`] or [`Event::ResolveFailed`].
    pub fn resolve(&mut self, pool_handle: PoolHandle, now: Duration) -> RequestId {
        let request = RequestId(self.next());
        let n = usize::try_from(self.cfg.resolve_items).unwrap_or(usize::MAX);
        let cached = self.cache_select(&pool_handle, n, now, true);
        if !cached.is_empty() {
            self.event(Event::Resolved {
                request,
                pool_handle,
                elements: cached,
            });
            return request;
        }
        self.queue.push_back(Request {
            kind: ReqKind::App(request),
            pool_handle,
            items: self.cfg.resolve_items,
            trials: 0,
            unknown_answers: 0,
        });
        self.ensure_registrar(now);
        request
    }

    fn on_resolution_response(&mut self, hrr: &HandleResolutionResponse, now: Duration) {
        let Some(out) = self.outstanding.pop_front() else {
            self.event(Event::Error {
                channel: self.reg_channel(),
                error: "Handle Resolution Response without a request".into(),
            });
            self.drop_registrar(
                RegistrarFailure::ProtocolError("unexpected response".into()),
                false,
                now,
            );
            return;
        };
        if let Some(next) = self.outstanding.front() {
            let at = next.deadline;
            self.arm(Timer::RegistrarResponse, at);
        }
        let mut req = out.req;
        if let Some(err) = &hrr.error {
            let cause = err.causes.first().map_or(0, |c| c.code.0);
            if cause == consts::cause_code::UNKNOWN_POOL_HANDLE {
                req.unknown_answers += 1;
                // Cause 9 may be a rate limit, not a missing pool: ask
                // another registrar first (docs/rsplib-behaviour.md, "Unknown pool and rate limiting look the same").
                if req.unknown_answers <= self.cfg.unknown_pool_retries
                    && self.usable_registrars(now) > 1
                {
                    self.queue.push_front(req);
                    self.drop_registrar(RegistrarFailure::AskAnother, false, now);
                    return;
                }
                let error = ResolveError::NoSuchPool {
                    registrars_asked: req.unknown_answers,
                };
                self.fail_request(req, error, now);
            } else {
                self.fail_request(req, ResolveError::Refused { cause }, now);
            }
            return;
        }
        // PEs go under the pool handle we asked for (RSPLIB, §6.2 item 20).
        let expiry = now + self.cfg.stale_cache;
        for pe in &hrr.elements {
            let id = pe.id;
            let pe = pe.clone();
            let pool = self.cache.entry(req.pool_handle.clone()).or_default();
            match pool.selector.insert(pe) {
                Ok(()) => {
                    pool.expiry.insert(id, expiry);
                }
                Err(reason) => self.event(Event::ElementSkipped {
                    pool_handle: req.pool_handle.clone(),
                    element: id,
                    reason,
                }),
            }
        }
        if self
            .cache
            .get(&req.pool_handle)
            .is_some_and(|p| p.selector.is_empty())
        {
            self.cache.remove(&req.pool_handle);
        }
        match req.kind {
            ReqKind::App(request) => {
                let n = usize::try_from(req.items).unwrap_or(usize::MAX);
                let elements = self.cache_select(&req.pool_handle, n, now, false);
                if elements.is_empty() {
                    self.fail_request(req, ResolveError::NoUsableElement, now);
                } else {
                    self.event(Event::Resolved {
                        request,
                        pool_handle: req.pool_handle,
                        elements,
                    });
                }
            }
            ReqKind::Session(sid) => {
                if !self.sessions.contains_key(&sid) {
                    return;
                }
                let pick = self.cache_select(&req.pool_handle, 1, now, false);
                match pick.into_iter().next() {
                    Some(pe) => self.session_connect(sid, pe, now),
                    None => self.session_wait(sid, ResolveError::NoUsableElement, now),
                }
            }
        }
    }

    fn reg_channel(&self) -> Option<ChannelId> {
        match self.reg {
            RegState::Up { channel, .. } => Some(channel),
            RegState::Connecting { .. } | RegState::Idle => None,
        }
    }

    // ------------------------------------------------------------ reports

    /// Reports a PE unreachable (RFC 5352 §3.6). A session's PE is also
    /// failed over.
    pub fn report_unreachable(&mut self, target: Unreachable, now: Duration) {
        match target {
            Unreachable::Element {
                pool_handle,
                element,
            } => self.report(pool_handle, element, now),
            Unreachable::Session(sid) => {
                self.session_failed(sid, FailoverReason::ReportedByApplication, now)
            }
        }
    }

    /// Drops the PE from the cache and sends an Endpoint Unreachable unless
    /// a limit refuses it (RFC 5355 §2.13).
    fn report(&mut self, pool_handle: PoolHandle, element: PoolElementId, now: Duration) {
        self.cache_remove(&pool_handle, element);
        if self.eu_per.len() >= MAX_REPORT_BUCKETS {
            // `is_full` refills the bucket, so it needs `&mut`.
            let full: Vec<_> = self
                .eu_per
                .iter_mut()
                .filter_map(|(k, b)| b.is_full(now).then(|| k.clone()))
                .collect();
            for k in full {
                self.eu_per.remove(&k);
            }
        }
        let key = (pool_handle.clone(), element);
        let rate = self.cfg.unreachable_per_element;
        let bucket = self
            .eu_per
            .entry(key)
            .or_insert_with(|| TokenBucket::new(rate));
        let limit = if bucket.next_available(now) != Some(now) {
            Some(ReportLimit::PerElement)
        } else if !self.eu_total.try_acquire(now) {
            Some(ReportLimit::Total)
        } else {
            bucket.try_acquire(now);
            None
        };
        if let Some(limit) = limit {
            self.event(Event::ReportSuppressed {
                pool_handle,
                element,
                limit,
            });
            return;
        }
        if self.reports.len() >= MAX_QUEUED_REPORTS {
            self.event(Event::ReportSuppressed {
                pool_handle,
                element,
                limit: ReportLimit::Total,
            });
            return;
        }
        self.reports.push_back(EndpointUnreachable {
            pool_handle,
            pe_id: element,
        });
        self.ensure_registrar(now);
    }

    // ------------------------------------------------------------ sessions

    /// Opens a session to a pool: resolves, picks a PE by the pool's
    /// policy and asks the driver to connect to it. `app_ppid` is the PPID
    /// of application data sent without an explicit one.
    pub fn open_session(
        &mut self,
        pool_handle: PoolHandle,
        app_ppid: u32,
        now: Duration,
    ) -> SessionId {
        let sid = SessionId(self.next());
        self.sessions.insert(
            sid,
            Session {
                pool_handle,
                app_ppid,
                state: SState::Resolving,
                cookie: None,
                outbox: VecDeque::new(),
                failover: None,
                recent_failures: Vec::new(),
            },
        );
        self.session_need_pe(sid, now);
        sid
    }

    /// Sends application data on a session (queued while it has no PE).
    pub fn send(
        &mut self,
        session: SessionId,
        ppid: Option<u32>,
        bytes: Vec<u8>,
        _now: Duration,
    ) -> Result<(), SessionError> {
        let limit = self.cfg.session_queue_limit;
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(SessionError::UnknownSession(session))?;
        let ppid = ppid.unwrap_or(s.app_ppid);
        if let SState::Up { channel, .. } = s.state {
            self.transmits.push_back(Transmit {
                channel,
                ppid,
                bytes,
            });
            return Ok(());
        }
        if s.outbox.len() >= limit {
            return Err(SessionError::QueueFull(session));
        }
        s.outbox.push_back((ppid, bytes));
        Ok(())
    }

    /// Sends an ASAP Business Card (RFC 5352 §3.9: the PEs to fail over
    /// to, from the PU's side) on the session's channel. RSPLIB PEs only log
    /// it. Fails if the session is not connected.
    pub fn send_business_card(
        &mut self,
        session: SessionId,
        card: BusinessCard,
        _now: Duration,
    ) -> Result<(), SessionError> {
        let s = self
            .sessions
            .get(&session)
            .ok_or(SessionError::UnknownSession(session))?;
        let SState::Up { channel, .. } = s.state else {
            return Err(SessionError::NotConnected(session));
        };
        self.send_message(channel, Message::Asap(AsapMessage::BusinessCard(card)));
        Ok(())
    }

    /// Ends a session and closes its channel.
    pub fn close_session(
        &mut self,
        session: SessionId,
        _now: Duration,
    ) -> Result<(), SessionError> {
        let s = self
            .sessions
            .remove(&session)
            .ok_or(SessionError::UnknownSession(session))?;
        if let SState::Up { channel, .. } | SState::Connecting { channel, .. } = s.state {
            self.close_channel(channel);
        }
        self.event(Event::SessionClosed {
            session,
            reason: SessionCloseReason::ByApplication,
        });
        Ok(())
    }

    fn session_need_pe(&mut self, sid: SessionId, now: Duration) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let ph = s.pool_handle.clone();
        match self.cache_select(&ph, 1, now, true).into_iter().next() {
            Some(pe) => self.session_connect(sid, pe, now),
            None => {
                self.set_session(sid, SState::Resolving);
                self.queue.push_back(Request {
                    kind: ReqKind::Session(sid),
                    pool_handle: ph,
                    items: 1,
                    trials: 0,
                    unknown_answers: 0,
                });
                self.ensure_registrar(now);
            }
        }
    }

    fn session_wait(&mut self, sid: SessionId, error: ResolveError, now: Duration) {
        if !self.sessions.contains_key(&sid) {
            return;
        }
        let retry_in = match error {
            ResolveError::NoRegistrarReachable { .. } => self.cfg.no_registrar_retry,
            _ => self.cfg.empty_pool_retry,
        };
        let until = now + retry_in;
        self.set_session(sid, SState::Waiting { until });
        self.arm(Timer::SessionRetry(sid), until);
        self.event(Event::SessionWaiting {
            session: sid,
            error,
            retry_in,
        });
    }

    fn session_connect(&mut self, sid: SessionId, pe: PoolElement, now: Duration) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if s.recent_failures.contains(&pe.id) {
            // Offered a PE that already failed in this round (the registrar
            // still lists it): wait like RSPLIB after a failed failover
            // instead of spinning, then start a fresh round.
            s.recent_failures.clear();
            self.session_wait(sid, ResolveError::NoUsableElement, now);
            return;
        }
        let pool_handle = s.pool_handle.clone();
        let channel = ChannelId(self.next());
        self.channels.insert(channel, Owner::Session(sid));
        let deadline = now + self.cfg.pe_connect_timeout;
        self.actions.push_back(Action::ConnectPoolElement {
            channel,
            session: sid,
            pool_handle,
            element: pe.clone(),
        });
        self.set_session(
            sid,
            SState::Connecting {
                channel,
                element: Box::new(pe),
                deadline,
            },
        );
        self.arm(Timer::ElementConnect(sid), deadline);
    }

    /// The session's PE failed: report it (unless it closed in an orderly
    /// way), drop it from the cache, pick the next PE (RFC 5352 §3.10).
    fn session_failed(&mut self, sid: SessionId, reason: FailoverReason, now: Duration) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let (channel, element) = match &s.state {
            SState::Up {
                channel,
                element,
                security,
            } => {
                s.failover = Some(FailoverState {
                    old: element.id,
                    old_security: security.clone(),
                    reason: reason.clone(),
                    failed: vec![element.id],
                });
                (*channel, element.id)
            }
            SState::Connecting {
                channel, element, ..
            } => {
                if let Some(f) = s.failover.as_mut() {
                    f.failed.push(element.id);
                }
                (*channel, element.id)
            }
            _ => return,
        };
        s.recent_failures.push(element);
        let pool_handle = s.pool_handle.clone();
        self.close_channel(channel);
        if reason == FailoverReason::ChannelClosed(CloseReason::Closed) {
            self.cache_remove(&pool_handle, element);
        } else {
            self.report(pool_handle, element, now);
        }
        self.session_need_pe(sid, now);
    }

    fn session_up(&mut self, sid: SessionId, channel: ChannelId, security: PathSecurity) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let SState::Connecting { element, .. } = s.state.clone() else {
            return;
        };
        let failover = s.failover.take();
        s.recent_failures.clear();
        let cookie = s.cookie.clone();
        let outbox = std::mem::take(&mut s.outbox);
        let pool_handle = s.pool_handle.clone();
        let new_id = element.id;
        self.set_session(
            sid,
            SState::Up {
                channel,
                element,
                security: security.clone(),
            },
        );
        let mut cookie_replayed = false;
        if let (Some(_), Some(cookie)) = (&failover, cookie) {
            // RFC 5352 §3.10: the Cookie Echo goes first on the new PE.
            self.send_message(channel, Message::Asap(AsapMessage::CookieEcho(cookie)));
            cookie_replayed = true;
        }
        self.event(Event::SessionUp {
            session: sid,
            element: new_id,
            security: security.clone(),
        });
        if let Some(f) = failover {
            let security_changed = f.old_security.differs_from(&security);
            self.event(Event::Failover(FailoverNotice {
                session: sid,
                pool_handle,
                old_element: f.old,
                new_element: new_id,
                reason: f.reason,
                failed_elements: f.failed,
                cookie_replayed,
                old_security: f.old_security,
                new_security: security,
                security_changed,
            }));
        }
        for (ppid, bytes) in outbox {
            self.transmits.push_back(Transmit {
                channel,
                ppid,
                bytes,
            });
        }
    }

    fn on_session_message(&mut self, sid: SessionId, channel: ChannelId, ppid: u32, bytes: &[u8]) {
        if ppid != consts::PPID_ASAP {
            self.event(Event::SessionData {
                session: sid,
                ppid,
                bytes: bytes.to_vec(),
            });
            return;
        }
        // ASAP control on the session channel (RFC 5352 §3.9).
        let decoded = match wire::decode(Protocol::Asap, bytes) {
            Ok(d) => d,
            Err(e) => {
                self.event(Event::Error {
                    channel: Some(channel),
                    error: format!("undecodable ASAP message from pool element: {e}"),
                });
                return;
            }
        };
        let at = self.events.len();
        match &decoded.message {
            Message::Asap(AsapMessage::Cookie(c)) => {
                let len = c.0.len();
                if let Some(s) = self.sessions.get_mut(&sid) {
                    // Only the latest cookie is kept (RSPLIB, §5.6).
                    s.cookie = Some(c.clone());
                }
                self.event(Event::CookieReceived { session: sid, len });
            }
            Message::Asap(AsapMessage::BusinessCard(card)) => {
                let card = card.clone();
                self.event(Event::BusinessCardReceived { session: sid, card });
            }
            other => self.event(Event::Error {
                channel: Some(channel),
                error: format!("unexpected {} from pool element", other.type_name()),
            }),
        }
        self.trace_received_at(at, channel, decoded.message);
    }

    // ------------------------------------------------------------ inputs

    /// The driver established `channel`.
    pub fn handle_connected(&mut self, channel: ChannelId, security: PathSecurity, now: Duration) {
        match self.channels.get(&channel).copied() {
            Some(Owner::Registrar) => {
                self.registrar_up(channel, now);
            }
            Some(Owner::Session(sid)) => self.session_up(sid, channel, security),
            // A connect that completed after the pool user gave up on it
            // (a losing hunt attempt, a timed-out PE): close it again.
            None => self.actions.push_back(Action::Close { channel }),
        }
    }

    /// `channel` ended (or never came up).
    pub fn handle_closed(&mut self, channel: ChannelId, reason: CloseReason, now: Duration) {
        // Channels the pool user closed itself are already forgotten.
        let Some(owner) = self.channels.remove(&channel) else {
            return;
        };
        match owner {
            Owner::Registrar => match &self.reg {
                RegState::Connecting { .. } => {
                    let failure = match reason {
                        CloseReason::AuthenticationFailed(m) => {
                            RegistrarFailure::AuthenticationFailed(m)
                        }
                        CloseReason::Closed => RegistrarFailure::Closed,
                        CloseReason::Aborted | CloseReason::ConnectFailed => {
                            RegistrarFailure::ConnectFailed
                        }
                    };
                    self.registrar_attempt_failed(channel, failure, now);
                }
                RegState::Up { .. } => {
                    let failure = match reason {
                        CloseReason::AuthenticationFailed(m) => {
                            RegistrarFailure::AuthenticationFailed(m)
                        }
                        CloseReason::Closed => RegistrarFailure::Closed,
                        CloseReason::Aborted | CloseReason::ConnectFailed => {
                            RegistrarFailure::Aborted
                        }
                    };
                    self.drop_registrar(failure, true, now);
                }
                RegState::Idle => {}
            },
            Owner::Session(sid) => {
                // The channel is already forgotten: no Close action for it.
                self.session_failed(sid, FailoverReason::ChannelClosed(reason), now);
            }
        }
    }

    /// One message received on `channel` with `ppid`.
    pub fn handle_received(&mut self, channel: ChannelId, ppid: u32, bytes: &[u8], now: Duration) {
        match self.channels.get(&channel).copied() {
            None => self.event(Event::Error {
                channel: Some(channel),
                error: "data on an unknown channel".into(),
            }),
            Some(Owner::Session(sid)) => self.on_session_message(sid, channel, ppid, bytes),
            Some(Owner::Registrar) => self.on_registrar_message(channel, ppid, bytes, now),
        }
    }

    fn on_registrar_message(&mut self, channel: ChannelId, ppid: u32, bytes: &[u8], now: Duration) {
        if !matches!(self.reg, RegState::Up { channel: c, .. } if c == channel) {
            self.event(Event::Error {
                channel: Some(channel),
                error: "data from a registrar that is not up".into(),
            });
            return;
        }
        let Some(protocol) = Protocol::from_ppid(ppid) else {
            self.event(Event::Error {
                channel: Some(channel),
                error: format!("PPID {ppid} on the registrar channel"),
            });
            return;
        };
        let decoded = match wire::decode(protocol, bytes) {
            Ok(d) => d,
            Err(e) => {
                let error = format!("undecodable message from registrar: {e}");
                self.event(Event::Error {
                    channel: Some(channel),
                    error: error.clone(),
                });
                // FIFO matching may be out of step now: start afresh.
                self.drop_registrar(RegistrarFailure::ProtocolError(error), false, now);
                return;
            }
        };
        let at = self.events.len();
        match &decoded.message {
            Message::Asap(AsapMessage::HandleResolutionResponse(hrr)) => {
                self.on_resolution_response(hrr, now)
            }
            // Keep-alives are for PEs, announces for the multicast socket;
            // neither concerns a pool user's requests.
            Message::Asap(AsapMessage::EndpointKeepAlive(_))
            | Message::Asap(AsapMessage::ServerAnnounce(_)) => {}
            Message::Asap(AsapMessage::Error(err)) => {
                let cause = err.causes.first().map_or(0, |c| c.code.0);
                let error = format!("ASAP Error from registrar (cause 0x{cause:04x})");
                self.event(Event::Error {
                    channel: Some(channel),
                    error: error.clone(),
                });
                self.drop_registrar(RegistrarFailure::ProtocolError(error), false, now);
            }
            other => {
                let error = format!("unexpected {} from registrar", other.type_name());
                self.event(Event::Error {
                    channel: Some(channel),
                    error: error.clone(),
                });
                self.drop_registrar(RegistrarFailure::ProtocolError(error), false, now);
            }
        }
        self.trace_received_at(at, channel, decoded.message);
    }

    /// A UDP datagram from the ASAP announce group (RFC 5352 §3.6, RSPLIB
    /// §5.5). `source` is the datagram's source as an endpoint string
    /// (`sctp://10.1.0.1:3863`): RSPLIB's announces carry no transport, the
    /// receiver uses the UDP source address and port.
    pub fn handle_server_announce(&mut self, source: &str, bytes: &[u8], now: Duration) {
        let msg = match wire::decode(Protocol::Asap, bytes) {
            Ok(d) => d.message,
            Err(e) => {
                self.event(Event::Error {
                    channel: None,
                    error: format!("undecodable announce from {source}: {e}"),
                });
                return;
            }
        };
        let Message::Asap(AsapMessage::ServerAnnounce(ann)) = msg else {
            self.event(Event::Error {
                channel: None,
                error: format!("{} on the announce socket from {source}", msg.type_name()),
            });
            return;
        };
        if !self.cfg.use_announced_registrars {
            return;
        }
        let endpoint = ann
            .transports
            .iter()
            .find(|t| t.protocol == TransportProtocol::Sctp && !t.addresses.is_empty())
            .map(|t| match t.addresses[0] {
                std::net::IpAddr::V4(a) => format!("sctp://{a}:{}", t.port),
                std::net::IpAddr::V6(a) => format!("sctp://[{a}]:{}", t.port),
            })
            .unwrap_or_else(|| source.to_string());
        let exp = now + self.cfg.announce_lifetime;
        let id = ann.server_id.0;
        match self.registrars.iter_mut().find(|r| r.endpoint == endpoint) {
            Some(r) => {
                if r.announced.is_some() {
                    r.announced = Some((id, exp));
                }
            }
            None => {
                let announced = self
                    .registrars
                    .iter()
                    .filter(|r| r.announced.is_some_and(|(_, exp)| now < exp))
                    .count();
                if announced >= MAX_ANNOUNCED_REGISTRARS {
                    self.event(Event::Error {
                        channel: None,
                        error: format!("announce from {endpoint} ignored: registrar table full"),
                    });
                    return;
                }
                self.registrars
                    .retain(|r| r.announced.is_none_or(|(_, exp)| now < exp));
                self.registrars.push(RegistrarEntry {
                    endpoint: endpoint.clone(),
                    announced: Some((id, exp)),
                    held_until: None,
                });
                self.event(Event::RegistrarAnnounced {
                    endpoint,
                    server_id: id,
                });
                if self.reg == RegState::Idle && !self.queue.is_empty() {
                    self.ensure_registrar(now);
                }
            }
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        if let RegState::Connecting { attempts, deadline } = self.reg.clone() {
            if deadline <= now {
                self.trace(Event::TimerFired {
                    timer: Timer::RegistrarConnect,
                    at: now,
                });
                for a in attempts {
                    self.registrar_attempt_failed(a.channel, RegistrarFailure::ConnectTimeout, now);
                }
            }
        }
        if self.outstanding.front().is_some_and(|o| o.deadline <= now) {
            self.trace(Event::TimerFired {
                timer: Timer::RegistrarResponse,
                at: now,
            });
            self.drop_registrar(RegistrarFailure::ResponseTimeout, true, now);
        }
        let due: Vec<(SessionId, bool)> = self
            .sessions
            .iter()
            .filter_map(|(&sid, s)| match s.state {
                SState::Connecting { deadline, .. } if deadline <= now => Some((sid, true)),
                SState::Waiting { until } if until <= now => Some((sid, false)),
                _ => None,
            })
            .collect();
        for (sid, connecting) in due {
            if connecting {
                self.trace(Event::TimerFired {
                    timer: Timer::ElementConnect(sid),
                    at: now,
                });
                self.session_failed(sid, FailoverReason::ConnectTimeout, now);
            } else {
                self.trace(Event::TimerFired {
                    timer: Timer::SessionRetry(sid),
                    at: now,
                });
                self.session_need_pe(sid, now);
            }
        }
    }
}
