//! The gateway's rules for one client session, without I/O and without a
//! clock: what a client may send, to whom, how often, and what it is told
//! when refused. The async session ([`crate::session`]) decodes nothing
//! and decides nothing; it feeds this policy the client's frames, what the
//! registrar and the PEs send, and the time, and carries out the
//! [`Decision`]s (docs/architecture.md: the protocol in a sync core, thin drivers).
//!
//! Rules (docs/gateway.md, "Guarantees"):
//! - role: on the registrar channel only Handle Resolution and Endpoint
//!   Unreachable (RFC 5352 pool-user messages); on a PE session only
//!   Cookie Echo and Business Card as ASAP, else the session's own PPID;
//! - no open proxy: a PE session only to a PE that a Handle Resolution
//!   Response on this session listed, at the addresses it listed;
//! - reports bound to what the client saw (RFC 5355 §2.13): an Endpoint
//!   Unreachable only for a PE listed to this session, at most once per PE
//!   per session per `eu_session_pe_interval_ms`, and within a
//!   gateway-wide per-PE budget shared by all sessions ([`ReportBudget`]),
//!   so that many sessions together cannot reach RSPLIB's
//!   `-maxbadpereports` (3) faster than that budget allows;
//! - rate limits per session for Handle Resolution and Endpoint
//!   Unreachable, and a size limit per frame;
//! - the registrar association outlives RSPLIB's autoclose: a graceful
//!   shutdown of an idle association is answered by reopening it, not by
//!   `registrar-lost` ([`SessionPolicy::on_registrar_closed`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use client_core::gateway_protocol::{Frame, NoticeCode, REGISTRAR_CHANNEL};
use client_core::rate_limit::{Rate, TokenBucket};
use client_core::wire::{
    self,
    consts::{PPID_ASAP, PPID_ENRP},
    AsapMessage, Message, PoolElement, Protocol, TransportProtocol,
};

use crate::config::Limits;

/// What the session must do with one client frame.
#[derive(Debug)]
pub enum Decision {
    /// Send `payload` (unchanged bytes) to the registrar; `message` is its
    /// decode, for the tap.
    ToRegistrar {
        ppid: u32,
        payload: Vec<u8>,
        message: Message,
    },
    /// Send `payload` on an open PE session; ASAP control is decoded for
    /// the tap.
    ToSession {
        channel: u16,
        ppid: u32,
        payload: Vec<u8>,
        message: Option<Message>,
    },
    /// Open an SCTP association to a PE the client was given; report
    /// [`SessionPolicy::session_opened`] or a `session-aborted` notice.
    Open {
        channel: u16,
        pe_id: u32,
        addresses: Vec<SocketAddr>,
        app_ppid: u32,
    },
    /// Close a PE session and tell the client `session-closed`.
    CloseSession { channel: u16 },
    /// Send nothing upstream; tell the client this notice.
    Refuse(Frame),
}

fn refuse(channel: u16, code: NoticeCode, text: impl Into<String>) -> Decision {
    Decision::Refuse(Frame::notice(channel, code, text.into()))
}

/// Gateway-wide budget of Endpoint Unreachable reports per PE, shared by
/// every session (the one piece of state sessions share). A token bucket
/// per PE identifier; `now` is the time since the gateway's own epoch.
pub struct ReportBudget {
    rate: Rate,
    buckets: Mutex<HashMap<u32, (TokenBucket, Duration)>>,
}

/// Entries kept before idle ones are dropped (a bucket that has refilled
/// completely carries no information).
const BUDGET_ENTRIES: usize = 65_536;

impl ReportBudget {
    /// `burst` reports at once per PE, refilled one per `interval`.
    pub fn new(burst: u32, interval: Duration) -> Self {
        let per_second = if interval.is_zero() {
            f64::INFINITY
        } else {
            1.0 / interval.as_secs_f64()
        };
        ReportBudget {
            rate: Rate::new(per_second, burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// From the gateway's limits.
    pub fn from_limits(l: &Limits) -> Self {
        ReportBudget::new(
            l.eu_pe_budget_burst,
            Duration::from_millis(l.eu_pe_budget_interval_ms),
        )
    }

    /// Takes one report for `pe_id`, if the budget has one.
    pub fn try_take(&self, pe_id: u32, now: Duration) -> bool {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() >= BUDGET_ENTRIES && !b.contains_key(&pe_id) {
            b.retain(|_, (bucket, _)| !bucket.is_full(now));
            if b.len() >= BUDGET_ENTRIES {
                // Every entry is in use: refuse rather than grow without
                // bound or forget a spent budget.
                return false;
            }
        }
        let (bucket, last) = b
            .entry(pe_id)
            .or_insert_with(|| (TokenBucket::new(self.rate), now));
        *last = now;
        bucket.try_acquire(now)
    }
}

/// One client session's rules and the state they need.
pub struct SessionPolicy {
    max_payload: usize,
    max_sessions: usize,
    eu_session_pe_interval: Duration,
    hr_limit: TokenBucket,
    eu_limit: TokenBucket,
    /// PEs a Handle Resolution Response on this session listed.
    resolved: HashMap<u32, PoolElement>,
    /// Open PE sessions: channel → application PPID.
    sessions: HashMap<u16, u32>,
    /// Channels asked to open, not yet reported opened or failed.
    opening: HashMap<u16, u32>,
    /// Last forwarded report per PE on this session.
    reported: HashMap<u32, Duration>,
    /// Handle Resolutions forwarded and not answered yet.
    resolutions_pending: usize,
    /// When the current registrar association was opened.
    registrar_since: Duration,
}

/// What the session does when its registrar association ends.
#[derive(Debug, PartialEq, Eq)]
pub enum RegistrarClosed {
    /// Open a new association to the same registrar and tell the client
    /// nothing: the registrar shut an idle association down (RSPLIB closes
    /// ASAP associations idle for its `-autoclosetimeout`, 300 s by
    /// default), which is no failure of the registrar. If the new
    /// association cannot be opened, that is `registrar-lost`.
    Reopen,
    /// Tell the client `registrar-lost` and close the WebSocket (1011):
    /// the association was aborted or lost, a Handle Resolution was
    /// waiting for its answer, or the association had only just opened
    /// (no reopening loop against a registrar that shuts every one down).
    Lost,
}

/// An association younger than this that is shut down is not reopened.
pub const REGISTRAR_REOPEN_MIN_AGE: Duration = Duration::from_secs(1);

impl SessionPolicy {
    pub fn new(limits: &Limits) -> Self {
        SessionPolicy {
            max_payload: limits.max_payload,
            max_sessions: limits.max_sessions,
            eu_session_pe_interval: Duration::from_millis(limits.eu_session_pe_interval_ms),
            hr_limit: TokenBucket::new(Rate::new(limits.hr_per_second, limits.hr_burst)),
            eu_limit: TokenBucket::new(Rate::new(limits.eu_per_second, limits.eu_burst)),
            resolved: HashMap::new(),
            sessions: HashMap::new(),
            opening: HashMap::new(),
            reported: HashMap::new(),
            resolutions_pending: 0,
            registrar_since: Duration::ZERO,
        }
    }

    /// The registrar association is up (first or reopened) at `now`.
    pub fn registrar_opened(&mut self, now: Duration) {
        self.registrar_since = now;
        self.resolutions_pending = 0;
    }

    /// The registrar association ended at `now`: `graceful` when the
    /// registrar shut it down (SCTP SHUTDOWN), not when it was aborted or
    /// lost.
    pub fn on_registrar_closed(&mut self, graceful: bool, now: Duration) -> RegistrarClosed {
        let idle = self.resolutions_pending == 0;
        let aged = now.saturating_sub(self.registrar_since) >= REGISTRAR_REOPEN_MIN_AGE;
        if graceful && idle && aged {
            RegistrarClosed::Reopen
        } else {
            RegistrarClosed::Lost
        }
    }

    /// A frame from the client at `now` (time since any fixed epoch, the
    /// same one as for `budget`).
    pub fn on_client_frame(
        &mut self,
        bytes: &[u8],
        now: Duration,
        budget: &ReportBudget,
    ) -> Decision {
        let frame = match Frame::decode(bytes) {
            Ok(f) => f,
            Err(e) => return refuse(0, NoticeCode::MalformedFrame, e.to_string()),
        };
        match frame {
            Frame::Message {
                channel,
                ppid,
                payload,
            } => {
                if payload.len() > self.max_payload {
                    return refuse(
                        channel,
                        NoticeCode::TooLarge,
                        format!("{} bytes > {}", payload.len(), self.max_payload),
                    );
                }
                if channel == REGISTRAR_CHANNEL {
                    self.registrar_message(ppid, payload, now, budget)
                } else {
                    self.session_message(channel, ppid, payload)
                }
            }
            Frame::OpenSession {
                channel,
                app_ppid,
                pe_id,
                pool_handle: _,
            } => self.open(channel, app_ppid, pe_id),
            Frame::CloseSession { channel } => {
                if self.sessions.remove(&channel).is_some() {
                    Decision::CloseSession { channel }
                } else {
                    refuse(
                        channel,
                        NoticeCode::UnknownChannel,
                        format!("channel {channel} is not open"),
                    )
                }
            }
            Frame::Notice { .. } | Frame::Hello { .. } => refuse(
                0,
                NoticeCode::MalformedFrame,
                "notices and hello come from the gateway only",
            ),
        }
    }

    fn registrar_message(
        &mut self,
        ppid: u32,
        payload: Vec<u8>,
        now: Duration,
        budget: &ReportBudget,
    ) -> Decision {
        let ch = REGISTRAR_CHANNEL;
        if ppid != PPID_ASAP {
            return refuse(
                ch,
                NoticeCode::ForbiddenMessageType,
                format!("PPID {ppid} on the registrar channel (only ASAP, 11)"),
            );
        }
        let message = match wire::decode(Protocol::Asap, &payload) {
            Ok(d) => d.message,
            Err(e) => return refuse(ch, NoticeCode::UndecodableMessage, e.to_string()),
        };
        match &message {
            Message::Asap(AsapMessage::HandleResolution(_)) => {
                if !self.hr_limit.try_acquire(now) {
                    return refuse(ch, NoticeCode::RateLimited, "Handle Resolution rate limit");
                }
                self.resolutions_pending += 1;
            }
            Message::Asap(AsapMessage::EndpointUnreachable(eu)) => {
                let id = eu.pe_id.0;
                // RFC 5355 §2.13: a report only about a PE this client was
                // given, not twice in an interval, within the shared budget.
                if !self.resolved.contains_key(&id) {
                    return refuse(
                        ch,
                        NoticeCode::ReportRefused,
                        format!("PE 0x{id:08x} was not resolved on this session"),
                    );
                }
                if let Some(&last) = self.reported.get(&id) {
                    if now.saturating_sub(last) < self.eu_session_pe_interval {
                        return refuse(
                            ch,
                            NoticeCode::ReportRefused,
                            format!("PE 0x{id:08x} was reported on this session already"),
                        );
                    }
                }
                if !self.eu_limit.try_acquire(now) {
                    return refuse(
                        ch,
                        NoticeCode::RateLimited,
                        "Endpoint Unreachable rate limit",
                    );
                }
                if !budget.try_take(id, now) {
                    return refuse(
                        ch,
                        NoticeCode::ReportRefused,
                        format!("the gateway's report budget for PE 0x{id:08x} is spent"),
                    );
                }
                self.reported.insert(id, now);
            }
            other => {
                return refuse(
                    ch,
                    NoticeCode::ForbiddenMessageType,
                    format!("{} is not a pool-user message", other.type_name()),
                )
            }
        }
        Decision::ToRegistrar {
            ppid,
            payload,
            message,
        }
    }

    fn session_message(&mut self, channel: u16, ppid: u32, payload: Vec<u8>) -> Decision {
        let Some(&app_ppid) = self.sessions.get(&channel) else {
            return refuse(
                channel,
                NoticeCode::UnknownChannel,
                format!("channel {channel} is not open"),
            );
        };
        let message = if ppid == PPID_ASAP {
            match wire::decode(Protocol::Asap, &payload) {
                Ok(d) => match d.message {
                    m
                    @ Message::Asap(AsapMessage::CookieEcho(_) | AsapMessage::BusinessCard(_)) => {
                        Some(m)
                    }
                    m => {
                        return refuse(
                            channel,
                            NoticeCode::ForbiddenMessageType,
                            format!("{} is not allowed on a PE session", m.type_name()),
                        )
                    }
                },
                Err(e) => return refuse(channel, NoticeCode::UndecodableMessage, e.to_string()),
            }
        } else if ppid != app_ppid {
            return refuse(
                channel,
                NoticeCode::ForbiddenMessageType,
                format!("PPID {ppid} on a session opened for PPID {app_ppid}"),
            );
        } else {
            None
        };
        Decision::ToSession {
            channel,
            ppid,
            payload,
            message,
        }
    }

    fn open(&mut self, channel: u16, app_ppid: u32, pe_id: u32) -> Decision {
        if channel == REGISTRAR_CHANNEL
            || self.sessions.contains_key(&channel)
            || self.opening.contains_key(&channel)
        {
            return refuse(
                channel,
                NoticeCode::ChannelInUse,
                format!("channel {channel} is in use"),
            );
        }
        if app_ppid == PPID_ASAP || app_ppid == PPID_ENRP {
            return refuse(
                channel,
                NoticeCode::ForbiddenMessageType,
                "application PPID must not be ASAP or ENRP",
            );
        }
        if self.sessions.len() + self.opening.len() >= self.max_sessions {
            return refuse(
                channel,
                NoticeCode::TooManySessions,
                format!("at most {} sessions", self.max_sessions),
            );
        }
        // No open proxy: only PEs this client was given, at the addresses
        // the registrar gave.
        let Some(pe) = self.resolved.get(&pe_id) else {
            return refuse(
                channel,
                NoticeCode::PeNotResolved,
                format!("PE 0x{pe_id:08x} was not resolved through this gateway"),
            );
        };
        let Some(addresses) = pe_addresses(pe) else {
            return refuse(
                channel,
                NoticeCode::SessionAborted,
                "the PE has no SCTP transport",
            );
        };
        self.opening.insert(channel, app_ppid);
        Decision::Open {
            channel,
            pe_id,
            addresses,
            app_ppid,
        }
    }

    /// The association asked for by [`Decision::Open`] is up.
    pub fn session_opened(&mut self, channel: u16) {
        if let Some(ppid) = self.opening.remove(&channel) {
            self.sessions.insert(channel, ppid);
        }
    }

    /// A PE session failed to open or ended; `true` if it was known (the
    /// client is then told).
    pub fn session_ended(&mut self, channel: u16) -> bool {
        self.opening.remove(&channel).is_some() | self.sessions.remove(&channel).is_some()
    }

    /// A message from the registrar: the PEs a Handle Resolution Response
    /// lists become reachable (and reportable) for this session. Returns
    /// the decode, for the tap.
    pub fn on_registrar_message(&mut self, ppid: u32, data: &[u8]) -> Option<Message> {
        if ppid != PPID_ASAP {
            return None;
        }
        let message = wire::decode(Protocol::Asap, data).ok()?.message;
        if let Message::Asap(AsapMessage::HandleResolutionResponse(h)) = &message {
            self.resolutions_pending = self.resolutions_pending.saturating_sub(1);
            for pe in &h.elements {
                self.resolved.insert(pe.id.0, pe.clone());
            }
        }
        Some(message)
    }
}

/// The addresses of a PE's user transport (SCTP only: the gateway speaks
/// SCTP upstream), with its port.
fn pe_addresses(pe: &PoolElement) -> Option<Vec<SocketAddr>> {
    let t = &pe.user_transport;
    if t.protocol != TransportProtocol::Sctp || t.port == 0 {
        return None;
    }
    let v: Vec<SocketAddr> = t
        .addresses
        .iter()
        .filter(|a: &&IpAddr| !a.is_unspecified() && !a.is_multicast())
        .map(|a| SocketAddr::new(*a, t.port))
        .collect();
    (!v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::wire::{
        EndpointUnreachable, HandleResolution, HandleResolutionResponse, PoolElementId, PoolHandle,
        SelectionPolicy, ServerId, TransportAddress,
    };

    const POOL: &[u8] = b"EchoPool";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn pe(id: u32) -> PoolElement {
        PoolElement {
            id: PoolElementId(id),
            home_registrar: ServerId(0x1000_0001),
            registration_life_ms: 30_000,
            user_transport: TransportAddress::sctp(40_000, 0, vec!["10.1.0.1".parse().unwrap()]),
            policy: SelectionPolicy::RoundRobin,
            registrator_transport: None,
        }
    }

    fn asap(m: AsapMessage) -> Vec<u8> {
        Message::Asap(m).to_bytes()
    }

    fn registrar_frame(m: AsapMessage) -> Vec<u8> {
        Frame::Message {
            channel: REGISTRAR_CHANNEL,
            ppid: PPID_ASAP,
            payload: asap(m),
        }
        .encode()
    }

    fn eu(id: u32) -> Vec<u8> {
        registrar_frame(AsapMessage::EndpointUnreachable(EndpointUnreachable {
            pool_handle: PoolHandle(POOL.to_vec()),
            pe_id: PoolElementId(id),
        }))
    }

    fn hrr(ids: &[u32]) -> Vec<u8> {
        asap(AsapMessage::HandleResolutionResponse(
            HandleResolutionResponse {
                pool_handle: PoolHandle(POOL.to_vec()),
                policy: Some(SelectionPolicy::RoundRobin),
                elements: ids.iter().map(|&i| pe(i)).collect(),
                error: None,
            },
        ))
    }

    fn refused_with(d: &Decision) -> Option<NoticeCode> {
        match d {
            Decision::Refuse(Frame::Notice { code, .. }) => Some(*code),
            _ => None,
        }
    }

    fn policy() -> (SessionPolicy, ReportBudget) {
        let l = Limits::default();
        (SessionPolicy::new(&l), ReportBudget::from_limits(&l))
    }

    fn hr() -> Vec<u8> {
        registrar_frame(AsapMessage::HandleResolution(HandleResolution {
            pool_handle: PoolHandle(POOL.to_vec()),
            option: None,
        }))
    }

    #[test]
    fn an_idle_registrar_association_shut_down_by_the_registrar_is_reopened() {
        // RSPLIB's autoclose: the registrar shuts down an association idle
        // for 300 s; the client had its answer long ago.
        let (mut p, budget) = policy();
        p.registrar_opened(ms(0));
        assert!(matches!(
            p.on_client_frame(&hr(), ms(10), &budget),
            Decision::ToRegistrar { .. }
        ));
        p.on_registrar_message(PPID_ASAP, &hrr(&[1]));
        assert_eq!(
            p.on_registrar_closed(true, ms(300_010)),
            RegistrarClosed::Reopen
        );
    }

    #[test]
    fn a_shutdown_while_a_resolution_waits_is_registrar_lost() {
        let (mut p, budget) = policy();
        p.registrar_opened(ms(0));
        assert!(matches!(
            p.on_client_frame(&hr(), ms(5_000), &budget),
            Decision::ToRegistrar { .. }
        ));
        assert_eq!(
            p.on_registrar_closed(true, ms(5_001)),
            RegistrarClosed::Lost
        );
    }

    #[test]
    fn an_aborted_or_lost_registrar_association_is_registrar_lost() {
        let (mut p, _) = policy();
        p.registrar_opened(ms(0));
        assert_eq!(
            p.on_registrar_closed(false, ms(300_000)),
            RegistrarClosed::Lost
        );
    }

    #[test]
    fn a_registrar_that_shuts_down_every_new_association_is_not_reopened_forever() {
        let (mut p, _) = policy();
        p.registrar_opened(ms(300_000));
        assert_eq!(
            p.on_registrar_closed(true, ms(300_000) + REGISTRAR_REOPEN_MIN_AGE / 2),
            RegistrarClosed::Lost
        );
    }

    #[test]
    fn refuses_reports_about_a_pe_this_session_was_never_given() {
        let (mut p, budget) = policy();
        for t in 0..5 {
            let d = p.on_client_frame(&eu(0x42), ms(t * 2_000), &budget);
            assert_eq!(refused_with(&d), Some(NoticeCode::ReportRefused));
        }
    }

    #[test]
    fn forwards_one_report_per_resolved_pe_per_interval() {
        let l = Limits {
            eu_pe_budget_burst: 100,
            ..Limits::default()
        };
        let (mut p, budget) = (SessionPolicy::new(&l), ReportBudget::from_limits(&l));
        p.on_registrar_message(PPID_ASAP, &hrr(&[1, 2]));
        assert!(matches!(
            p.on_client_frame(&eu(1), ms(0), &budget),
            Decision::ToRegistrar { .. }
        ));
        assert_eq!(
            refused_with(&p.on_client_frame(&eu(1), ms(5_000), &budget)),
            Some(NoticeCode::ReportRefused)
        );
        // Another PE of the same response is reportable at once.
        assert!(matches!(
            p.on_client_frame(&eu(2), ms(5_000), &budget),
            Decision::ToRegistrar { .. }
        ));
        // After the interval the first PE is reportable again.
        assert!(matches!(
            p.on_client_frame(&eu(1), ms(l.eu_session_pe_interval_ms + 1), &budget),
            Decision::ToRegistrar { .. }
        ));
    }

    #[test]
    fn many_sessions_share_one_budget_per_pe() {
        let l = Limits::default();
        let budget = ReportBudget::from_limits(&l);
        let mut forwarded = 0;
        let mut refused = 0;
        // 50 sessions, each given PE 7, each reporting it once within a
        // minute: RSPLIB's third report (eviction) must not arrive.
        for s in 0..50u64 {
            let mut p = SessionPolicy::new(&l);
            p.on_registrar_message(PPID_ASAP, &hrr(&[7]));
            match p.on_client_frame(&eu(7), ms(s * 1_000), &budget) {
                Decision::ToRegistrar { .. } => forwarded += 1,
                d => {
                    assert_eq!(refused_with(&d), Some(NoticeCode::ReportRefused));
                    refused += 1
                }
            }
        }
        assert_eq!(forwarded, l.eu_pe_budget_burst as usize);
        assert_eq!(refused, 50 - forwarded);
        // One more once the budget has refilled.
        let mut p = SessionPolicy::new(&l);
        p.on_registrar_message(PPID_ASAP, &hrr(&[7]));
        assert!(matches!(
            p.on_client_frame(&eu(7), ms(49_000 + l.eu_pe_budget_interval_ms), &budget),
            Decision::ToRegistrar { .. }
        ));
    }

    #[test]
    fn the_budget_of_one_pe_does_not_limit_another() {
        let budget = ReportBudget::new(1, ms(60_000));
        assert!(budget.try_take(1, ms(0)));
        assert!(!budget.try_take(1, ms(1)));
        assert!(budget.try_take(2, ms(1)));
    }

    #[test]
    fn refuses_registration_and_enrp_on_the_registrar_channel() {
        let (mut p, budget) = policy();
        let enrp = Frame::Message {
            channel: REGISTRAR_CHANNEL,
            ppid: PPID_ENRP,
            payload: vec![1, 0, 0, 4],
        }
        .encode();
        assert_eq!(
            refused_with(&p.on_client_frame(&enrp, ms(0), &budget)),
            Some(NoticeCode::ForbiddenMessageType)
        );
        let hr = registrar_frame(AsapMessage::HandleResolution(HandleResolution {
            pool_handle: PoolHandle(POOL.to_vec()),
            option: None,
        }));
        assert!(matches!(
            p.on_client_frame(&hr, ms(0), &budget),
            Decision::ToRegistrar { .. }
        ));
    }

    #[test]
    fn handle_resolutions_beyond_the_rate_are_refused_until_refilled() {
        let l = Limits::default();
        let (mut p, budget) = (SessionPolicy::new(&l), ReportBudget::from_limits(&l));
        let hr = registrar_frame(AsapMessage::HandleResolution(HandleResolution {
            pool_handle: PoolHandle(POOL.to_vec()),
            option: None,
        }));
        let burst = l.hr_burst as usize;
        let ok = (0..burst + 5)
            .filter(|_| {
                matches!(
                    p.on_client_frame(&hr, ms(0), &budget),
                    Decision::ToRegistrar { .. }
                )
            })
            .count();
        assert_eq!(ok, burst);
        assert!(matches!(
            p.on_client_frame(&hr, ms(1_000), &budget),
            Decision::ToRegistrar { .. }
        ));
    }

    #[test]
    fn opens_sessions_only_to_resolved_pes_and_counts_them() {
        let l = Limits {
            max_sessions: 1,
            ..Limits::default()
        };
        let (mut p, budget) = (SessionPolicy::new(&l), ReportBudget::from_limits(&l));
        let open = |ch: u16, id: u32| {
            Frame::OpenSession {
                channel: ch,
                app_ppid: 0,
                pe_id: id,
                pool_handle: POOL.to_vec(),
            }
            .encode()
        };
        assert_eq!(
            refused_with(&p.on_client_frame(&open(1, 9), ms(0), &budget)),
            Some(NoticeCode::PeNotResolved)
        );
        p.on_registrar_message(PPID_ASAP, &hrr(&[9, 10]));
        match p.on_client_frame(&open(1, 9), ms(0), &budget) {
            Decision::Open { addresses, .. } => {
                assert_eq!(addresses, vec!["10.1.0.1:40000".parse().unwrap()])
            }
            d => panic!("expected Open, got {d:?}"),
        }
        // The one slot is taken while opening.
        assert_eq!(
            refused_with(&p.on_client_frame(&open(2, 10), ms(0), &budget)),
            Some(NoticeCode::TooManySessions)
        );
        p.session_opened(1);
        let data = Frame::Message {
            channel: 1,
            ppid: 0,
            payload: b"hi".to_vec(),
        }
        .encode();
        assert!(matches!(
            p.on_client_frame(&data, ms(0), &budget),
            Decision::ToSession { channel: 1, .. }
        ));
        assert!(p.session_ended(1));
        assert_eq!(
            refused_with(&p.on_client_frame(&data, ms(0), &budget)),
            Some(NoticeCode::UnknownChannel)
        );
    }

    #[test]
    fn malformed_frames_get_a_notice_not_a_panic() {
        let (mut p, budget) = policy();
        for bytes in [&[][..], &[9, 0, 0, 0, 0, 0, 0, 0][..], &[0, 1][..]] {
            assert_eq!(
                refused_with(&p.on_client_frame(bytes, ms(0), &budget)),
                Some(NoticeCode::MalformedFrame)
            );
        }
    }
}
