//! `resolve-loop`: our pool user resolving the pool at a rate; per
//! sample, resolutions answered / failed, their median latency and how
//! many reached a fake PE.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use client_core::pool_user::{Event, PoolUser, RequestId};
use client_core::wire::PoolHandle;
use rserpool_client::{Driver, GatewayOptions, NetConnector};
use tokio::time::Instant;

use super::{p50, Common};
use crate::bounds::{self, Bounds};
use crate::fields;
use crate::output::Reason;
use crate::stop::Stop;

/// Most resolutions outstanding at once (a dead registrar must not make
/// the loop pile up requests).
pub const MAX_OUTSTANDING: usize = 64;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Resolutions per second (0.01 ..= 1000).
    #[arg(long, value_name = "PER_S", default_value_t = 10.0)]
    pub rate: f64,
    /// Every resolution by a pool user of its own that hunts from the
    /// first registrar of the list, one at a time (as each run of one of
    /// RSPLIB's tools does), instead of one pool user that stays with the
    /// registrar it found: a registrar that comes up first in the list
    /// (a rogue one) is used from then on.
    #[arg(long = "fresh-pool-user")]
    pub fresh_pool_user: bool,
}

/// How long one fresh pool user may take for its resolution (hunt
/// included) before it counts as failed.
pub const FRESH_RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A pool user on the network: SCTP, and `wss://` through the gateway.
fn driver(config: client_core::pool_user::Config, gateway: GatewayOptions) -> Driver {
    Driver::new(PoolUser::new(config), Arc::new(NetConnector)).with_gateway(gateway)
}

/// One fresh pool user's resolution: the first PE's id, or why not.
async fn resolve_once(
    config: client_core::pool_user::Config,
    gateway: GatewayOptions,
    pool: PoolHandle,
) -> Result<Option<u32>, String> {
    let mut d = driver(config, gateway);
    let now = d.now();
    let id = d.pool_user().resolve(pool, now);
    let r = tokio::time::timeout(FRESH_RESOLVE_TIMEOUT, async {
        loop {
            match d.next_event().await {
                Event::Resolved {
                    request, elements, ..
                } if request == id => return Ok(elements.first().map(|e| e.id.0)),
                Event::ResolveFailed { request, error, .. } if request == id => {
                    return Err(error.to_string())
                }
                _ => {}
            }
        }
    })
    .await;
    r.unwrap_or_else(|_| Err(format!("no answer within {FRESH_RESOLVE_TIMEOUT:?}")))
}

#[derive(Default)]
struct Window {
    ok: u64,
    failed: u64,
    hit_fake: u64,
    latencies_ms: Vec<f64>,
}

pub async fn run(a: Args, mut stop: Stop) -> Result<()> {
    let s = a.common.setup()?;
    let (b, notes) = Bounds::clamp(a.rate, bounds::MAX_COUNT, a.common.duration_ms);
    for note in notes.into_iter().filter(|n| n.what == "rate") {
        s.out.event(
            "clamped",
            serde_json::json!({"what": note.what, "asked": note.asked, "used": note.used}),
        );
    }
    let pool = PoolHandle::from(a.common.pool.as_str());
    let gateway = GatewayOptions {
        tls: s.tls.clone(),
        ..GatewayOptions::default()
    };
    let mut driver = driver(s.config.clone(), gateway.clone());
    let fresh_config = client_core::pool_user::Config {
        hunt_parallel: 1,
        ..s.config.clone()
    };
    let (fresh_tx, mut fresh_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut fresh_outstanding: HashMap<u64, Instant> = HashMap::new();
    let start = Instant::now();
    let deadline = start + s.duration;
    let mut next_resolve = start;
    let mut next_sample = start + s.sample;
    let mut outstanding: HashMap<RequestId, Instant> = HashMap::new();
    let mut w = Window::default();
    let (mut total_ok, mut total_failed, mut total_fake, mut sent) = (0u64, 0u64, 0u64, 0u64);
    let reason = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break Reason::Duration,
            _ = stop.wait() => break Reason::Signal,
            _ = tokio::time::sleep_until(next_resolve) => {
                next_resolve += b.interval();
                if a.fresh_pool_user {
                    if fresh_outstanding.len() < MAX_OUTSTANDING {
                        fresh_outstanding.insert(sent, Instant::now());
                        let (tx, cfg, conn, pool, key) =
                            (fresh_tx.clone(), fresh_config.clone(), gateway.clone(), pool.clone(), sent);
                        tokio::spawn(async move {
                            let _ = tx.send((key, resolve_once(cfg, conn, pool).await));
                        });
                        sent += 1;
                    } else {
                        w.failed += 1;
                        total_failed += 1;
                    }
                } else if outstanding.len() < MAX_OUTSTANDING {
                    let now = driver.now();
                    let id = driver.pool_user().resolve(pool.clone(), now);
                    outstanding.insert(id, Instant::now());
                    sent += 1;
                } else {
                    w.failed += 1;
                    total_failed += 1;
                }
            }
            _ = tokio::time::sleep_until(next_sample) => {
                next_sample += s.sample;
                let share = if w.ok > 0 { w.hit_fake as f64 / w.ok as f64 } else { 0.0 };
                s.out.sample(fields! {
                    "resolutions_ok" => w.ok,
                    "resolutions_failed" => w.failed,
                    "latency_p50_ms" => p50(&mut w.latencies_ms),
                    "hit_fake" => w.hit_fake,
                    "hit_fake_share" => share,
                    "outstanding" => outstanding.len() + fresh_outstanding.len(),
                });
                w = Window::default();
            }
            Some((key, r)) = fresh_rx.recv() => {
                if let Some(t0) = fresh_outstanding.remove(&key) {
                    match r {
                        Ok(first) => {
                            w.latencies_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                            w.ok += 1;
                            total_ok += 1;
                            if first.is_some_and(|id| s.fakes.is_fake(id)) {
                                w.hit_fake += 1;
                                total_fake += 1;
                            }
                        }
                        Err(e) => {
                            w.failed += 1;
                            total_failed += 1;
                            s.out.event("resolve-failed", e);
                        }
                    }
                }
            }
            ev = driver.next_event() => match ev {
                Event::Resolved { request, elements, .. } => {
                    if let Some(t0) = outstanding.remove(&request) {
                        w.latencies_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                        w.ok += 1;
                        total_ok += 1;
                        if elements.first().is_some_and(|e| s.fakes.is_fake(e.id.0)) {
                            w.hit_fake += 1;
                            total_fake += 1;
                        }
                    }
                }
                Event::ResolveFailed { request, error, .. } if outstanding.remove(&request).is_some() => {
                    w.failed += 1;
                    total_failed += 1;
                    s.out.event("resolve-failed", error.to_string());
                }
                Event::RegistrarChanged { from, to } => {
                    s.out.event("registrar-change", format!("{from} -> {to}"));
                }
                Event::RegistrarUp { endpoint, .. } => {
                    s.out.event("registrar-up", endpoint);
                }
                Event::RegistrarFailed { endpoint, reason } => {
                    s.out.event("registrar-failed", format!("{endpoint}: {reason:?}"));
                }
                _ => {}
            },
        }
    };
    s.out.done(
        reason,
        sent,
        fields! {
            "resolutions_ok" => total_ok,
            "resolutions_failed" => total_failed,
            "hit_fake" => total_fake,
        },
    );
    Ok(())
}
