//! `lying-pe` (RFC 5355 §2.17): an insider pool element of a load-based
//! pool that advertises load 0 whatever its real load. It registers
//! `count` PEs (usually one; fresh ids) with policy Least Used and the
//! `--advertised-load` (0 by default) at the targets, serves CalcApp on
//! its user transport (accepts every job, answers keep-alives, reports it
//! complete after size ÷ `--capacity`), and never registers again with the
//! load it really has, where an honest RSPLIB PE re-registers on every
//! change of 1 %. The registrar's Least Used choice then hands it the
//! pool users' jobs. Its real load (jobs held) is in its samples.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use client_core::policy::Rng;
use client_core::wire::SelectionPolicy;
use rserpool_sctp::SctpListener;

use super::registering::{connect_links, Registered, Registrations};
use super::{delta, spawn_sampler, Act, Attack, Common, Ctx};
use crate::calcapp::{self, Kind};
use crate::fields;
use crate::output::Output;
use crate::stop::Stop;

/// Longest a job of the liar's takes, whatever its size.
pub const MAX_JOB_TIME: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Registrars' ASAP endpoints (registrations go to them in turn).
    #[command(flatten)]
    pub common: Common,
    /// The load the registrations state (0 ..= 1), whatever the real one.
    #[arg(long = "advertised-load", value_name = "LOAD", default_value_t = 0.0)]
    pub advertised_load: f64,
    /// Calculations per second per job the liar does.
    #[arg(long, value_name = "PER_S", default_value_t = 1_000_000.0)]
    pub capacity: f64,
    /// Interval of the attacker's sample lines.
    #[arg(long = "sample-ms", value_name = "MS", default_value_t = 250)]
    pub sample_ms: u64,
}

/// The policy the liar registers with: Least Used at `load` (0 ..= 1,
/// scaled as RSPLIB does), not at the load it has.
pub fn advertised_policy(load: f64) -> SelectionPolicy {
    let load = if load.is_finite() {
        load.clamp(0.0, 1.0)
    } else {
        0.0
    };
    SelectionPolicy::LeastUsed {
        load: (load * f64::from(u32::MAX)).round() as u32,
    }
}

/// What the liar answers one CalcApp message of a pool user: the answer,
/// and whether it starts a job.
pub fn answer(m: &calcapp::Message) -> Option<(calcapp::Message, bool)> {
    match m.kind {
        Kind::Request => Some((calcapp::Message::new(Kind::Accept, m.job_id), true)),
        Kind::KeepAlive => Some((calcapp::Message::new(Kind::KeepAliveAck, m.job_id), false)),
        _ => None,
    }
}

/// How long the liar takes over a job of `size` calculations.
pub fn job_time(size: u64, capacity: f64) -> Duration {
    let capacity = if capacity.is_finite() {
        capacity.max(1.0)
    } else {
        1.0
    };
    let secs = size as f64 / capacity;
    if secs < MAX_JOB_TIME.as_secs_f64() {
        Duration::from_secs_f64(secs)
    } else {
        MAX_JOB_TIME
    }
}

#[derive(Default)]
struct Seen {
    sessions: AtomicU64,
    jobs: AtomicU64,
    held: AtomicU64,
}

/// The liar's CalcApp service.
fn spawn_calcapp_server(
    l: SctpListener,
    seen: Arc<Seen>,
    capacity: f64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((assoc, _)) = l.accept().await {
            seen.sessions.fetch_add(1, Ordering::Relaxed);
            let assoc = Arc::new(assoc);
            let seen = seen.clone();
            tokio::spawn(async move {
                while let Ok(m) = assoc.recv().await {
                    if m.ppid != calcapp::PPID_CALCAPP {
                        continue;
                    }
                    let Ok(msg) = calcapp::Message::parse(&m.data) else {
                        continue;
                    };
                    let Some((reply, starts)) = answer(&msg) else {
                        continue;
                    };
                    if assoc
                        .send(calcapp::PPID_CALCAPP, 0, &reply.to_bytes())
                        .await
                        .is_err()
                    {
                        break;
                    }
                    if starts {
                        seen.jobs.fetch_add(1, Ordering::Relaxed);
                        seen.held.fetch_add(1, Ordering::Relaxed);
                        let (assoc, seen) = (assoc.clone(), seen.clone());
                        tokio::spawn(async move {
                            tokio::time::sleep(job_time(msg.job_size, capacity)).await;
                            let done = calcapp::Message {
                                completed: msg.job_size,
                                ..calcapp::Message::new(Kind::Complete, msg.job_id)
                            };
                            let _ = assoc.send(calcapp::PPID_CALCAPP, 0, &done.to_bytes()).await;
                            seen.held.fetch_sub(1, Ordering::Relaxed);
                        });
                    }
                }
            });
        }
    })
}

struct LyingPe(Registrations);

impl Attack for LyingPe {
    async fn act(&mut self, seq: u64, rng: &mut Rng, _out: &Output) -> Result<Act> {
        let mut fields = self.0.register_next(seq, rng).await?;
        let load = match self.0.pe.policy {
            SelectionPolicy::LeastUsed { load } => load,
            _ => 0,
        };
        fields.insert("advertised_load".into(), load.into());
        Ok(("register", fields))
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
            Ok((l, port, connect_links(&targets, None).await?))
        })
        .await
    else {
        return Ok(());
    };
    let seen = Arc::new(Seen::default());
    let server = spawn_calcapp_server(listener, seen.clone(), a.capacity);
    let pe = Registered {
        policy: advertised_policy(a.advertised_load),
        life_ms: 90_000,
        extra: Vec::new(),
    };
    let mut attack = LyingPe(Registrations::new(links, ctx.pool.clone(), port, pe));
    let readers = attack.0.spawn_readers(true, &ctx.out);
    let sampler = {
        let seen = seen.clone();
        let mut jobs = 0;
        spawn_sampler(ctx.out.clone(), a.sample_ms, move || {
            fields! {
                "liar_jobs_started" => delta(&seen.jobs, &mut jobs),
                "liar_jobs_held" => seen.held.load(Ordering::Relaxed),
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
        "jobs" => seen.jobs.load(Ordering::Relaxed),
    });
    super::done(&ctx, f, counts);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages;
    use client_core::wire::{self, AsapMessage, PoolHandle, Protocol};

    #[test]
    fn the_registration_states_load_zero_on_the_wire() {
        let pe = messages::pool_element(
            0x1234,
            vec!["10.1.0.1".parse().unwrap()],
            40000,
            advertised_policy(0.0),
            90_000,
        );
        let bytes = messages::registration(&PoolHandle::from("LoadPool"), pe);
        let d = wire::decode(Protocol::Asap, &bytes).unwrap();
        let wire::Message::Asap(AsapMessage::Registration(r)) = d.message else {
            panic!("not a registration: {:?}", d.message);
        };
        assert_eq!(
            r.pool_element.policy,
            SelectionPolicy::LeastUsed { load: 0 }
        );
        // The policy parameter (RFC 5354: type 0x0008) carries
        // Least Used (RFC 5356: 0x40000001) and a load field of zero.
        let hexed = hex::encode(&bytes);
        assert!(hexed.contains("0008000c4000000100000000"), "{hexed}");
    }

    #[test]
    fn the_advertised_load_is_what_was_asked_not_what_is_held() {
        assert_eq!(
            advertised_policy(1.0),
            SelectionPolicy::LeastUsed { load: u32::MAX }
        );
        assert_eq!(
            advertised_policy(f64::NAN),
            SelectionPolicy::LeastUsed { load: 0 }
        );
        assert_eq!(
            advertised_policy(-3.0),
            SelectionPolicy::LeastUsed { load: 0 }
        );
    }

    #[test]
    fn every_job_is_accepted_and_keep_alives_answered() {
        let (a, starts) = answer(&calcapp::Message::request(5, 1000)).unwrap();
        assert_eq!((a.kind, a.job_id, starts), (Kind::Accept, 5, true));
        let (a, starts) = answer(&calcapp::Message::new(Kind::KeepAlive, 5)).unwrap();
        assert_eq!((a.kind, starts), (Kind::KeepAliveAck, false));
        assert_eq!(answer(&calcapp::Message::new(Kind::Complete, 5)), None);
        assert_eq!(job_time(2_000_000, 1_000_000.0), Duration::from_secs(2));
        assert_eq!(job_time(u64::MAX, 0.0), MAX_JOB_TIME);
    }
}
