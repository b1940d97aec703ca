//! `echo-sessions`: our pool users holding echo sessions with the PEs the
//! registrar picks, failing over when a PE is lost. Every `--session-ms`
//! a session is closed and opened again, so each interval shows fresh
//! choices: per sample, which PEs the sessions started on (the share on
//! fake or rogue PEs, the busiest PE's share), the echo round trips and
//! the failovers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use client_core::pool_user::{Event, PoolUser, SessionId};
use client_core::wire::consts::PPID_APPLICATION_DEFAULT;
use client_core::wire::PoolHandle;
use rserpool_client::{Driver, GatewayOptions, NetConnector};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::{p50, Common, FakeSet, Starts};
use crate::bounds::{self, Bounds};
use crate::fields;
use crate::output::Reason;
use crate::stop::Stop;

/// An echo unanswered this long counts as lost.
pub const ECHO_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Sessions held at once (1 ..= 64).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub sessions: usize,
    /// Echo requests per second per session (0.01 ..= 1000).
    #[arg(long, value_name = "PER_S", default_value_t = 5.0)]
    pub rate: f64,
    /// Close and reopen each session after this long (a new choice of
    /// PE); 0 keeps every session for the whole run.
    #[arg(long = "session-ms", value_name = "MS", default_value_t = 1000)]
    pub session_ms: u64,
    /// Also sample the PEs' load at their side (`busiest_pe_share`,
    /// `pe_associations`: every pool user's associations with the pool's
    /// PEs, from the kernel's table), the pool's PEs resolved once at the
    /// first `--registrar`.
    #[arg(long = "pe-load")]
    pub pe_load: bool,
}

/// The user ports of every PE of `pool` the registrar at `registrar`
/// lists (for [`crate::pe_load`]).
async fn pe_ports(
    registrar: std::net::SocketAddr,
    pool: &PoolHandle,
) -> Result<std::collections::BTreeSet<u16>> {
    let assoc = crate::net::connect(None, registrar).await?;
    let listed = crate::net::resolve_all(&assoc, pool).await?;
    let _ = assoc.shutdown();
    Ok(listed.iter().map(|e| e.user_transport.port).collect())
}

/// What one sample interval saw.
#[derive(Debug, Default, PartialEq)]
pub struct Window {
    /// Sessions that started on each PE (opened, or failed over to it).
    pub started: Starts,
    pub rtts_ms: Vec<f64>,
    pub echoes_lost: u64,
    pub failovers: u64,
}

impl Window {
    pub fn started_on(&mut self, pe: u32, fakes: &FakeSet) {
        self.started.on(pe, fakes);
    }

    /// The sample line's values: `sessions_started`, `rogue_session_share`
    /// (of the sessions started, those on fake PEs), `load_skew` (the
    /// busiest PE's share of them), `pes_used`, `echo_latency_ms`
    /// (median), `echoes_ok`, `echoes_lost`, `failovers`.
    pub fn values(&mut self) -> Map<String, Value> {
        fields! {
            "sessions_started" => self.started.total(),
            "rogue_session_share" => self.started.fake_share(),
            "load_skew" => self.started.busiest_share(),
            "pes_used" => self.started.pes_used(),
            "echo_latency_ms" => p50(&mut self.rtts_ms),
            "echoes_ok" => self.rtts_ms.len(),
            "echoes_lost" => self.echoes_lost,
            "failovers" => self.failovers,
        }
    }
}

/// The echo request number `seq`, and the number in a reply.
pub fn echo_payload(seq: u64) -> Vec<u8> {
    format!("echo {seq}\n").into_bytes()
}

pub fn echo_seq(reply: &[u8]) -> Option<u64> {
    std::str::from_utf8(reply)
        .ok()?
        .trim()
        .strip_prefix("echo ")?
        .parse()
        .ok()
}

struct Held {
    opened: Instant,
    pe: Option<u32>,
    /// Echo requests sent and not answered yet: seq → sent at.
    outstanding: HashMap<u64, Instant>,
}

pub async fn run(a: Args, mut stop: Stop) -> Result<()> {
    let s = a.common.setup()?;
    let (b, notes) = Bounds::clamp(a.rate, bounds::MAX_COUNT, a.common.duration_ms);
    let mut notes: Vec<_> = notes.into_iter().filter(|n| n.what == "rate").collect();
    let n = bounds::clamp_usize("sessions", a.sessions, bounds::MAX_SESSIONS, &mut notes);
    for note in notes {
        s.out.event(
            "clamped",
            serde_json::json!({"what": note.what, "asked": note.asked, "used": note.used}),
        );
    }
    let pool = PoolHandle::from(a.common.pool.as_str());
    let mut driver = Driver::new(PoolUser::new(s.config.clone()), Arc::new(NetConnector))
        .with_gateway(GatewayOptions {
            tls: s.tls.clone(),
            token: None,
            app_ppid: PPID_APPLICATION_DEFAULT,
        });
    let start = Instant::now();
    let deadline = start + s.duration;
    let load_ports = match (a.pe_load, a.common.registrars.first()) {
        (true, Some(r)) => match pe_ports(*r, &pool).await {
            Ok(p) => Some(p),
            Err(e) => {
                s.out.event("error", format!("pe-load: {e:#}"));
                None
            }
        },
        _ => None,
    };
    let lifetime = (a.session_ms > 0).then(|| Duration::from_millis(a.session_ms));
    let mut held: HashMap<SessionId, Held> = HashMap::new();
    let open = |driver: &mut Driver, held: &mut HashMap<SessionId, Held>| {
        let now = driver.now();
        let sid = driver
            .pool_user()
            .open_session(pool.clone(), PPID_APPLICATION_DEFAULT, now);
        held.insert(
            sid,
            Held {
                opened: Instant::now(),
                pe: None,
                outstanding: HashMap::new(),
            },
        );
    };
    for _ in 0..n {
        open(&mut driver, &mut held);
    }
    // One echo per session per tick.
    let tick = b.interval();
    let mut next_echo = start + tick;
    let mut next_sample = start + s.sample;
    let mut seq = 0u64;
    let mut w = Window::default();
    let (mut total_started, mut total_fake, mut total_ok, mut total_lost, mut total_failovers) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let reason = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break Reason::Duration,
            _ = stop.wait() => break Reason::Signal,
            _ = tokio::time::sleep_until(next_echo) => {
                next_echo += tick;
                let t = Instant::now();
                // Renew sessions past their lifetime: a fresh choice of PE.
                if let Some(life) = lifetime {
                    let old: Vec<SessionId> = held
                        .iter()
                        .filter(|(_, h)| t.duration_since(h.opened) >= life)
                        .map(|(sid, _)| *sid)
                        .collect();
                    for sid in old {
                        if let Some(h) = held.remove(&sid) {
                            w.echoes_lost += h.outstanding.len() as u64;
                            total_lost += h.outstanding.len() as u64;
                        }
                        let now = driver.now();
                        let _ = driver.pool_user().close_session(sid, now);
                        open(&mut driver, &mut held);
                    }
                }
                for (sid, h) in held.iter_mut() {
                    let lost = h.outstanding.len();
                    h.outstanding.retain(|_, at| t.duration_since(*at) < ECHO_TIMEOUT);
                    let lost = (lost - h.outstanding.len()) as u64;
                    w.echoes_lost += lost;
                    total_lost += lost;
                    if h.pe.is_none() {
                        continue;
                    }
                    seq += 1;
                    let now = driver.now();
                    if driver.pool_user().send(*sid, None, echo_payload(seq), now).is_ok() {
                        h.outstanding.insert(seq, t);
                    }
                }
            }
            _ = tokio::time::sleep_until(next_sample) => {
                next_sample += s.sample;
                let mut values = w.values();
                if let Some((share, n)) = load_ports.as_ref().and_then(crate::pe_load::sample) {
                    values.insert("busiest_pe_share".into(), share.into());
                    values.insert("pe_associations".into(), n.into());
                }
                s.out.sample(values);
                w = Window::default();
            }
            ev = driver.next_event() => match ev {
                Event::SessionUp { session, element, .. } => {
                    if let Some(h) = held.get_mut(&session) {
                        h.pe = Some(element.0);
                        w.started_on(element.0, &s.fakes);
                        total_started += 1;
                        if s.fakes.is_fake(element.0) {
                            total_fake += 1;
                        }
                    }
                }
                Event::Failover(f) => {
                    if let Some(h) = held.get_mut(&f.session) {
                        h.pe = Some(f.new_element.0);
                        w.failovers += 1;
                        total_failovers += 1;
                        w.started_on(f.new_element.0, &s.fakes);
                        total_started += 1;
                        if s.fakes.is_fake(f.new_element.0) {
                            total_fake += 1;
                        }
                        s.out.event("failover", format!("{} -> {}", f.old_element, f.new_element));
                    }
                }
                Event::SessionData { session, bytes, .. } => {
                    if let (Some(h), Some(n)) = (held.get_mut(&session), echo_seq(&bytes)) {
                        if let Some(at) = h.outstanding.remove(&n) {
                            w.rtts_ms.push(at.elapsed().as_secs_f64() * 1000.0);
                            total_ok += 1;
                        }
                    }
                }
                Event::SessionWaiting { error, .. } => {
                    s.out.event("session-waiting", error.to_string());
                }
                Event::RegistrarChanged { from, to } => {
                    s.out.event("registrar-change", format!("{from} -> {to}"));
                }
                _ => {}
            },
        }
    };
    for sid in held.keys() {
        let now = driver.now();
        let _ = driver.pool_user().close_session(*sid, now);
    }
    s.out.done(
        reason,
        seq,
        fields! {
            "sessions_started" => total_started,
            "sessions_on_fake" => total_fake,
            "echoes_ok" => total_ok,
            "echoes_lost" => total_lost,
            "failovers" => total_failovers,
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_load_skew_is_the_busiest_pes_share_of_the_sessions_started() {
        let skew = |per_pe: BTreeMap<u32, u64>| Starts { per_pe, fake: 0 }.busiest_share();
        assert_eq!(skew(BTreeMap::new()), 0.0);
        assert_eq!(skew([(1, 1), (2, 1), (3, 1), (4, 1)].into()), 0.25);
        assert_eq!(skew([(1, 6), (2, 2)].into()), 0.75);
    }

    #[test]
    fn a_window_counts_sessions_on_fake_pes_and_echo_round_trips() {
        let fakes = FakeSet::new(&[], &[1, 2]);
        let mut w = Window::default();
        for pe in [1, 2, 9, 9] {
            w.started_on(pe, &fakes);
        }
        w.rtts_ms = vec![3.0, 1.0, 2.0];
        w.echoes_lost = 1;
        let v = w.values();
        assert_eq!(v["sessions_started"], 4);
        assert_eq!(v["rogue_session_share"], 0.5);
        assert_eq!(v["load_skew"], 0.5);
        assert_eq!(v["pes_used"], 3);
        assert_eq!(v["echo_latency_ms"], 2.0);
        assert_eq!(v["echoes_ok"], 3);
        assert_eq!(v["echoes_lost"], 1);
    }

    #[test]
    fn echo_replies_carry_their_request_number() {
        assert_eq!(echo_seq(&echo_payload(42)), Some(42));
        assert_eq!(echo_seq(b"something else"), None);
        assert_eq!(echo_seq(&[0xff, 0xfe]), None);
    }
}
