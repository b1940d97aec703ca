//! `reg-flood` (RFC 5355 §2.1, §2.2): registrations of fake PEs with
//! fresh identifiers whose address accepts associations and ignores what
//! arrives (black holes). The fake PEs answer the registrar's Endpoint
//! Keep-Alives (else RSPLIB drops them after its keep-alive timeout) and
//! stay registered until the run ends: closing the association makes the
//! registrar remove them.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use anyhow::Result;
use client_core::policy::Rng;
use client_core::wire::SelectionPolicy;

use super::registering::{connect_links, Registered, Registrations};
use super::{Act, Attack, Common, Ctx};
use crate::fields;
use crate::messages::parse_policy;
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

struct RegFlood(Registrations);

impl Attack for RegFlood {
    async fn act(&mut self, seq: u64, rng: &mut Rng, _out: &Output) -> Result<Act> {
        Ok(("register", self.0.register_next(seq, rng).await?))
    }
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let targets = ctx.targets.clone();
    let Some(((port, ignored, listener), links)) = ctx
        .setup(async {
            let l = net::ignoring_listener()?;
            Ok((l, connect_links(&targets, a.source).await?))
        })
        .await
    else {
        return Ok(());
    };
    let pe = Registered {
        policy: a.policy.clone(),
        life_ms: a.life_ms.min(MAX_LIFE_MS),
        extra: a.pe_addrs.clone(),
    };
    let mut attack = RegFlood(Registrations::new(links, ctx.pool.clone(), port, pe));
    let readers = attack.0.spawn_readers(!a.no_keepalive_ack, &ctx.out);
    let f = super::run_paced(&mut attack, &mut ctx, !a.no_hold).await;
    drop(readers);
    listener.abort();
    let tally = &attack.0.tally;
    let mut counts = tally.fields();
    counts.extend(fields! {
        "keepalives" => tally.keepalives.load(Ordering::Relaxed),
        "user_messages_ignored" => ignored.load(Ordering::Relaxed),
    });
    super::done(&ctx, f, counts);
    Ok(())
}
