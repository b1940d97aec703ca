//! `rogue-pe` (RFC 5355 §2.4): an unauthorised pool element that joins the
//! pool, serves echo and records the sessions it gets. Registers `count`
//! PEs with fresh identifiers (usually one) whose user transport is the
//! attacker's echo listener, answers the registrar's keep-alives, and
//! holds them until the run ends. What pool users send is echoed back
//! (ASAP on the control channel is recorded, not echoed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use client_core::policy::Rng;
use client_core::wire::{consts, SelectionPolicy};
use rserpool_sctp::SctpListener;

use super::registering::{connect_links, Registered, Registrations};
use super::{delta, spawn_sampler, Act, Attack, Common, Ctx};
use crate::fields;
use crate::messages::parse_policy;
use crate::output::Output;
use crate::stop::Stop;

/// Sessions recorded one by one with an event (the rest are counted).
pub const MAX_SESSION_EVENTS: u64 = 32;
/// Bytes of a session's first message kept in its event.
pub const FIRST_BYTES: usize = 64;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Registrars' ASAP endpoints (registrations go to them in turn).
    #[command(flatten)]
    pub common: Common,
    /// Policy of the rogue PEs; must match the pool's.
    #[arg(long, value_name = "POLICY", default_value = "round-robin", value_parser = parse_policy)]
    pub policy: SelectionPolicy,
    /// Interval of the attacker's sample lines (`rogue_sessions`).
    #[arg(long = "sample-ms", value_name = "MS", default_value_t = 250)]
    pub sample_ms: u64,
    /// Local address of the registration associations (the lab's
    /// attackers' address, so a lab allow-list can tell them apart; the
    /// registrar then stores it as the PE's address); default: whatever
    /// the kernel picks.
    #[arg(long, value_name = "IP")]
    pub source: Option<std::net::IpAddr>,
}

/// What the rogue PE saw.
#[derive(Default)]
pub struct Seen {
    pub sessions: AtomicU64,
    pub echoed: AtomicU64,
    pub asap: AtomicU64,
}

/// What the rogue PE does with one message of a pool user: echo it back
/// (`Some`), or only record it (ASAP on the control channel).
pub fn reply(ppid: u32, data: &[u8]) -> Option<(u32, Vec<u8>)> {
    (ppid != consts::PPID_ASAP).then(|| (ppid, data.to_vec()))
}

/// The echo server: accepts pool users' associations, echoes and counts.
fn spawn_echo_server(l: SctpListener, seen: Arc<Seen>, out: Output) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((assoc, peer)) = l.accept().await {
            let n = seen.sessions.fetch_add(1, Ordering::Relaxed) + 1;
            let (seen, out) = (seen.clone(), out.clone());
            tokio::spawn(async move {
                let mut first = true;
                while let Ok(m) = assoc.recv().await {
                    if first && n <= MAX_SESSION_EVENTS {
                        let keep = &m.data[..m.data.len().min(FIRST_BYTES)];
                        out.event(
                            "session",
                            serde_json::json!({
                                "n": n,
                                "peer": peer.to_string(),
                                "ppid": m.ppid,
                                "first_bytes": String::from_utf8_lossy(keep),
                            }),
                        );
                    }
                    first = false;
                    match reply(m.ppid, &m.data) {
                        Some((ppid, data)) => {
                            if assoc.send(ppid, m.stream, &data).await.is_err() {
                                break;
                            }
                            seen.echoed.fetch_add(1, Ordering::Relaxed);
                        }
                        None => {
                            seen.asap.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    })
}

struct RoguePe(Registrations);

impl Attack for RoguePe {
    async fn act(&mut self, seq: u64, rng: &mut Rng, _out: &Output) -> Result<Act> {
        Ok(("register", self.0.register_next(seq, rng).await?))
    }
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let targets = ctx.targets.clone();
    let Some((listener, port, links)) = ctx
        .setup(async {
            let l = SctpListener::bind(&["0.0.0.0:0".parse().expect("address")])
                .context("listening for pool users")?;
            let port = l.local_addr()?.port();
            Ok((l, port, connect_links(&targets, a.source).await?))
        })
        .await
    else {
        return Ok(());
    };
    let seen = Arc::new(Seen::default());
    let server = spawn_echo_server(listener, seen.clone(), ctx.out.clone());
    let pe = Registered {
        policy: a.policy.clone(),
        life_ms: 90_000,
        extra: Vec::new(),
    };
    let mut attack = RoguePe(Registrations::new(links, ctx.pool.clone(), port, pe));
    let readers = attack.0.spawn_readers(true, &ctx.out);
    let sampler = {
        let seen = seen.clone();
        let (mut sessions, mut echoed) = (0, 0);
        spawn_sampler(ctx.out.clone(), a.sample_ms, move || {
            fields! {
                "rogue_sessions" => delta(&seen.sessions, &mut sessions),
                "rogue_echoes" => delta(&seen.echoed, &mut echoed),
            }
        })
    };
    let f = super::run_paced(&mut attack, &mut ctx, true).await;
    sampler.abort();
    server.abort();
    drop(readers);
    let mut counts = attack.0.tally.fields();
    counts.extend(fields! {
        "sessions" => seen.sessions.load(Ordering::Relaxed),
        "echoed" => seen.echoed.load(Ordering::Relaxed),
        "asap_seen" => seen.asap.load(Ordering::Relaxed),
    });
    super::done(&ctx, f, counts);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_is_echoed_and_control_channel_asap_only_recorded() {
        assert_eq!(reply(0, b"hello\n"), Some((0, b"hello\n".to_vec())));
        assert_eq!(reply(34, b"x"), Some((34, b"x".to_vec())));
        assert_eq!(reply(consts::PPID_ASAP, b"\x0c\x00"), None);
    }
}
