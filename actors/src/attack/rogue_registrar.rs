//! `rogue-registrar` (RFC 5355 §2.7): an ASAP endpoint that pool users
//! take for a registrar and that answers every Handle Resolution with the
//! attacker's own PEs (fresh identifiers; their user address accepts and
//! ignores). It listens at `--target` (its own address and port, e.g.
//! `127.0.0.66:3863`); the scenario runner puts that address first in the
//! workload's registrar list. Answers are bounded: at most `--rate` per
//! second (further resolutions are dropped unanswered, counted) and
//! `--count` in all, then it stops.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, Result};
use client_core::policy::Rng;
use client_core::rate_limit::{Rate, TokenBucket};
use client_core::wire::{
    self, AsapMessage, HandleResolutionResponse, Message, PoolElement, PoolElementId, Protocol,
    SelectionPolicy,
};
use rserpool_sctp::{SctpAssociation, SctpListener};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{fresh_pe_id, Common, Ctx};
use crate::bounds::MAX_ASSOCIATIONS;
use crate::fields;
use crate::messages::{self, parse_policy};
use crate::net;
use crate::output::Reason;
use crate::stop::Stop;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Where the rogue registrar listens, IP:PORT (the first --target).
    #[command(flatten)]
    pub common: Common,
    /// How many PEs of its own each answer lists (1 ..= 16).
    #[arg(long = "pes", value_name = "N", default_value_t = 1)]
    pub pes: usize,
    /// Policy its answers give for the pool.
    #[arg(long, value_name = "POLICY", default_value = "round-robin", value_parser = parse_policy)]
    pub policy: SelectionPolicy,
}

/// Most PEs of the attacker's own in one answer.
pub const MAX_PES: usize = 16;

/// The rogue registrar's answers (no I/O): whatever pool is asked for, the
/// attacker's PEs, within a rate and a count.
pub struct RogueRegistrar {
    pes: Vec<PoolElement>,
    policy: SelectionPolicy,
    bucket: TokenBucket,
    left: u64,
    pub answered: u64,
    pub dropped: u64,
}

/// What the rogue registrar does with one message.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// Answer with these bytes (a Handle Resolution Response).
    Answer(Vec<u8>),
    /// A Handle Resolution beyond the rate: left unanswered.
    Dropped,
    /// Not a Handle Resolution (or not ASAP at all): ignored.
    Ignored,
}

impl RogueRegistrar {
    /// `n` fake PEs with fresh ids from `rng`, reachable at `address:port`.
    pub fn new(
        n: usize,
        rng: &mut Rng,
        address: IpAddr,
        port: u16,
        policy: SelectionPolicy,
        rate_per_s: f64,
        count: u64,
    ) -> Self {
        let mut used = Default::default();
        let pes = (0..n.clamp(1, MAX_PES))
            .map(|_| {
                messages::pool_element(
                    fresh_pe_id(rng, &mut used),
                    vec![address],
                    port,
                    policy.clone(),
                    90_000,
                )
            })
            .collect();
        RogueRegistrar {
            pes,
            policy,
            // Burst of one second's worth (at least 1).
            bucket: TokenBucket::new(Rate::new(rate_per_s, rate_per_s.ceil().max(1.0) as u32)),
            left: count,
            answered: 0,
            dropped: 0,
        }
    }

    pub fn pe_ids(&self) -> Vec<u32> {
        self.pes.iter().map(|p| p.id.0).collect()
    }

    /// Every answer of the count has been given.
    pub fn exhausted(&self) -> bool {
        self.left == 0
    }

    /// The reply to `bytes` (an ASAP message) at time `now`.
    pub fn handle(&mut self, bytes: &[u8], now: std::time::Duration) -> Reply {
        let Ok(d) = wire::decode(Protocol::Asap, bytes) else {
            return Reply::Ignored;
        };
        let Message::Asap(AsapMessage::HandleResolution(hr)) = d.message else {
            return Reply::Ignored;
        };
        if self.left == 0 || !self.bucket.try_acquire(now) {
            self.dropped += 1;
            return Reply::Dropped;
        }
        self.left -= 1;
        self.answered += 1;
        Reply::Answer(
            Message::Asap(AsapMessage::HandleResolutionResponse(
                HandleResolutionResponse {
                    pool_handle: hr.pool_handle,
                    policy: Some(self.policy.clone()),
                    elements: self.pes.clone(),
                    error: None,
                },
            ))
            .to_bytes(),
        )
    }
}

pub async fn run(a: Args, mut stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop.clone());
    let listen = ctx.targets[0];
    let Some((listener, (pe_port, ignored, pe_task))) = ctx
        .setup(async {
            let l = SctpListener::bind(&[listen])
                .with_context(|| format!("listening as a registrar at {listen}"))?;
            let pe = net::ignoring_listener_on(listen.ip())?;
            Ok((l, pe))
        })
        .await
    else {
        return Ok(());
    };
    let mut rogue = RogueRegistrar::new(
        a.pes,
        &mut ctx.rng,
        listen.ip(),
        pe_port,
        a.policy.clone(),
        ctx.bounds.rate_per_s,
        ctx.bounds.count,
    );
    let ids: Vec<String> = rogue
        .pe_ids()
        .into_iter()
        .map(|i| PoolElementId(i).to_string())
        .collect();
    ctx.out.event(
        "rogue-registrar",
        serde_json::json!({"listen": listen.to_string(), "pe_ids": ids}),
    );
    // Associations feed one channel; answers go back on the association.
    let (tx, mut rx) = mpsc::channel::<(Arc<SctpAssociation>, SocketAddr, Vec<u8>)>(256);
    let max_assocs = MAX_ASSOCIATIONS;
    let acceptor = tokio::spawn(async move {
        let mut readers = Vec::new();
        while let Ok((assoc, peer)) = listener.accept().await {
            readers.retain(|r: &tokio::task::JoinHandle<()>| !r.is_finished());
            if readers.len() >= max_assocs {
                continue; // dropped: the association closes with `assoc`
            }
            let assoc = Arc::new(assoc);
            let tx = tx.clone();
            readers.push(tokio::spawn(async move {
                while let Ok(m) = assoc.recv().await {
                    if m.ppid == client_core::wire::consts::PPID_ASAP
                        && tx.send((assoc.clone(), peer, m.data)).await.is_err()
                    {
                        break;
                    }
                }
            }));
        }
    });
    let start = Instant::now();
    let mut seq = 0u64;
    let reason = loop {
        let (assoc, peer, bytes) = tokio::select! {
            _ = tokio::time::sleep_until(ctx.deadline) => break Reason::Duration,
            _ = stop.wait() => break Reason::Signal,
            m = rx.recv() => match m {
                Some(m) => m,
                None => break Reason::Error,
            },
        };
        match rogue.handle(&bytes, start.elapsed()) {
            Reply::Answer(answer) => {
                if net::send_asap(&assoc, &answer).await.is_ok() {
                    ctx.out.action(
                        seq,
                        start.elapsed(),
                        "answer-resolution",
                        fields! {"peer" => peer.to_string(), "pe_ids" => ids.clone()},
                    );
                    seq += 1;
                }
                if rogue.exhausted() {
                    break Reason::Count;
                }
            }
            Reply::Dropped | Reply::Ignored => {}
        }
    };
    acceptor.abort();
    pe_task.abort();
    ctx.out.done(
        reason,
        seq,
        fields! {
            "answered" => rogue.answered,
            "dropped_over_rate" => rogue.dropped,
            "user_messages_ignored" => ignored.load(std::sync::atomic::Ordering::Relaxed),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rogue(rate: f64, count: u64) -> RogueRegistrar {
        RogueRegistrar::new(
            2,
            &mut Rng::new(5),
            "127.0.0.66".parse().unwrap(),
            4000,
            SelectionPolicy::RoundRobin,
            rate,
            count,
        )
    }

    fn hr(pool: &str) -> Vec<u8> {
        messages::handle_resolution(&pool.into(), Some(1))
    }

    fn answer_of(r: Reply) -> HandleResolutionResponse {
        let Reply::Answer(b) = r else {
            panic!("no answer: {r:?}")
        };
        match wire::decode(Protocol::Asap, &b).unwrap().message {
            Message::Asap(AsapMessage::HandleResolutionResponse(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_pool_asked_for_is_answered_with_the_attackers_pes() {
        let mut r = rogue(100.0, 10);
        for pool in ["EchoPool", "CalcAppPool"] {
            let a = answer_of(r.handle(&hr(pool), Duration::ZERO));
            assert_eq!(a.pool_handle, pool.into());
            assert!(a.error.is_none());
            let ids: Vec<u32> = a.elements.iter().map(|e| e.id.0).collect();
            assert_eq!(ids, r.pe_ids());
            for e in &a.elements {
                assert_eq!(e.user_transport.port, 4000);
                assert_eq!(
                    e.user_transport.addresses,
                    vec!["127.0.0.66".parse::<IpAddr>().unwrap()]
                );
            }
        }
        assert_eq!(r.answered, 2);
    }

    #[test]
    fn its_pes_have_fresh_ids_from_the_seed() {
        let a = rogue(1.0, 1).pe_ids();
        assert_eq!(a, rogue(1.0, 1).pe_ids());
        assert_eq!(a.len(), 2);
        assert!(a[0] != a[1] && a.iter().all(|i| *i != 0));
    }

    #[test]
    fn answers_beyond_the_rate_are_dropped_and_the_count_ends_it() {
        let mut r = rogue(2.0, 3);
        let t0 = Duration::from_secs(1);
        assert!(matches!(r.handle(&hr("P"), t0), Reply::Answer(_)));
        assert!(matches!(r.handle(&hr("P"), t0), Reply::Answer(_)));
        assert_eq!(r.handle(&hr("P"), t0), Reply::Dropped);
        // Half a second later one token is back.
        assert!(matches!(
            r.handle(&hr("P"), t0 + Duration::from_millis(500)),
            Reply::Answer(_)
        ));
        assert!(r.exhausted());
        assert_eq!(
            r.handle(&hr("P"), t0 + Duration::from_secs(10)),
            Reply::Dropped
        );
        assert_eq!((r.answered, r.dropped), (3, 2));
    }

    #[test]
    fn other_messages_and_garbage_are_ignored_without_panicking() {
        let mut r = rogue(10.0, 10);
        let reg = messages::deregistration(&"P".into(), 7);
        assert_eq!(r.handle(&reg, Duration::ZERO), Reply::Ignored);
        for junk in [&b""[..], b"\x05", b"\x05\x00\xff\xff\x00\x00", &[0xff; 64]] {
            assert_eq!(r.handle(junk, Duration::ZERO), Reply::Ignored);
        }
        assert_eq!((r.answered, r.dropped), (0, 0));
    }
}
