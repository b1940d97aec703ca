//! `calcapp`: pool users of a CalcApp pool (RSPLIB's `rspserver -calcapp`
//! PEs, `docs/calcapp.md`), as RSPLIB's `calcappclient` uses it: every
//! 1/`--rate` s a job of `--job-size` calculations goes to the PE the
//! registrar picks (a Handle Resolution for one PE, so the pool's policy
//! chooses), answered keep-alives, until the PE reports it complete.
//! Samples which PEs the jobs went to (the share on PEs that are not the
//! lab's), how many were accepted, rejected and completed, and the
//! handling speed of those completed (the papers' user-side metric).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use client_core::wire::PoolHandle;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::{p50, Common, FakeSet, Starts};
use crate::attack::biased_pu::session_endpoint;
use crate::bounds::{self, Bounds};
use crate::calcapp::{self, Kind};
use crate::fields;
use crate::net;
use crate::output::Reason;
use crate::stop::Stop;

/// Jobs in progress at once (further ticks count as not started).
pub const MAX_JOBS: usize = 64;
/// A job not complete this long after its request is given up.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Jobs per second (0.01 ..= 1000).
    #[arg(long, value_name = "PER_S", default_value_t = 8.0)]
    pub rate: f64,
    /// Calculations per job (an RSPLIB CalcApp PE does 10^6 per second by
    /// default, shared among its jobs).
    #[arg(
        long = "job-size",
        value_name = "CALCULATIONS",
        default_value_t = 1_000_000
    )]
    pub job_size: u64,
}

/// What one sample interval saw.
#[derive(Debug, Default, PartialEq)]
pub struct Window {
    /// Jobs sent to each PE.
    pub started: Starts,
    pub not_started: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Handling speed of each job completed (calculations per second).
    pub speeds: Vec<f64>,
}

impl Window {
    pub fn started_on(&mut self, pe: u32, fakes: &FakeSet) {
        self.started.on(pe, fakes);
    }

    /// `jobs_started`, `liar_share` (of those, the share sent to PEs that
    /// are not the lab's), `jobs_not_started`, `jobs_accepted`,
    /// `jobs_rejected`, `jobs_completed`, `handling_speed` (median, of the
    /// jobs completed), `pes_used`.
    pub fn values(&mut self) -> Map<String, Value> {
        fields! {
            "jobs_started" => self.started.total(),
            "liar_share" => self.started.fake_share(),
            "jobs_not_started" => self.not_started,
            "jobs_accepted" => self.accepted,
            "jobs_rejected" => self.rejected,
            "jobs_completed" => self.speeds.len(),
            "handling_speed" => p50(&mut self.speeds),
            "pes_used" => self.started.pes_used(),
        }
    }
}

/// Calculations per second of a job of `size` handled in `took`.
pub fn handling_speed(size: u64, took: Duration) -> f64 {
    let s = took.as_secs_f64();
    if s > 0.0 {
        size as f64 / s
    } else {
        0.0
    }
}

/// One job's session with `pe`: the request, keep-alives answered, until
/// it is complete, rejected, lost or [`JOB_TIMEOUT`].
async fn job(pe: SocketAddr, job_id: u32, size: u64, w: Arc<Mutex<Window>>) -> Result<()> {
    let assoc = net::connect(None, pe).await?;
    let sent = Instant::now();
    assoc
        .send(
            calcapp::PPID_CALCAPP,
            0,
            &calcapp::Message::request(job_id, size).to_bytes(),
        )
        .await
        .context("sending the CalcApp request")?;
    let r = tokio::time::timeout(JOB_TIMEOUT, async {
        loop {
            let m = assoc.recv().await.context("receiving")?;
            if m.ppid != calcapp::PPID_CALCAPP {
                continue; // cookies: a failover would echo them
            }
            let Ok(msg) = calcapp::Message::parse(&m.data) else {
                continue;
            };
            if msg.job_id != job_id {
                continue;
            }
            match msg.kind {
                Kind::Accept => {
                    if let Ok(mut g) = w.lock() {
                        g.accepted += 1;
                    }
                }
                Kind::Reject => {
                    if let Ok(mut g) = w.lock() {
                        g.rejected += 1;
                    }
                    return Ok::<_, anyhow::Error>(());
                }
                Kind::KeepAlive => {
                    let ack = calcapp::Message::new(Kind::KeepAliveAck, job_id);
                    assoc
                        .send(calcapp::PPID_CALCAPP, 0, &ack.to_bytes())
                        .await
                        .context("answering a keep-alive")?;
                }
                Kind::Complete => {
                    if let Ok(mut g) = w.lock() {
                        g.speeds.push(handling_speed(size, sent.elapsed()));
                    }
                    return Ok(());
                }
                _ => {}
            }
        }
    })
    .await;
    let _ = assoc.shutdown();
    match r {
        Ok(r) => r,
        Err(_) => Ok(()),
    }
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
    let start = Instant::now();
    let deadline = start + s.duration;
    let Some(registrar) = a.common.registrars.first().copied() else {
        s.out.event("error", "calcapp needs an SCTP --registrar");
        s.out.done(Reason::Error, 0, Map::new());
        return Ok(());
    };
    let assoc = match net::connect(None, registrar).await {
        Ok(a) => a,
        Err(e) => {
            s.out.event("error", format!("{e:#}"));
            s.out.done(Reason::Error, 0, Map::new());
            return Ok(());
        }
    };
    let w = Arc::new(Mutex::new(Window::default()));
    let mut jobs = tokio::task::JoinSet::new();
    let tick = b.interval();
    let mut next_job = start + tick;
    let mut next_sample = start + s.sample;
    let mut seq = 0u64;
    let mut total_started = 0u64;
    let mut total_fake = 0u64;
    let reason = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break Reason::Duration,
            _ = stop.wait() => break Reason::Signal,
            _ = tokio::time::sleep_until(next_job) => {
                next_job += tick;
                while jobs.try_join_next().is_some() {}
                if jobs.len() >= MAX_JOBS {
                    if let Ok(mut g) = w.lock() {
                        g.not_started += 1;
                    }
                    continue;
                }
                let picked = tokio::time::timeout(
                    net::CONNECT_TIMEOUT,
                    net::resolve_items(&assoc, &pool, 1),
                )
                .await;
                let pe = match picked {
                    Ok(Ok(listed)) => listed.into_iter().next(),
                    Ok(Err(e)) => {
                        s.out.event("resolve-failed", format!("{e:#}"));
                        None
                    }
                    Err(_) => None,
                };
                let Some((id, addr)) = pe.and_then(|e| session_endpoint(&e).map(|a| (e.id.0, a))) else {
                    if let Ok(mut g) = w.lock() {
                        g.not_started += 1;
                    }
                    continue;
                };
                seq += 1;
                total_started += 1;
                if s.fakes.is_fake(id) {
                    total_fake += 1;
                }
                if let Ok(mut g) = w.lock() {
                    g.started_on(id, &s.fakes);
                }
                let (w, size) = (w.clone(), a.job_size.max(1));
                let job_id = u32::try_from(seq).unwrap_or(u32::MAX);
                jobs.spawn(async move {
                    let _ = job(addr, job_id, size, w).await;
                });
            }
            _ = tokio::time::sleep_until(next_sample) => {
                next_sample += s.sample;
                let values = w.lock().map(|mut g| g.values()).unwrap_or_default();
                s.out.sample(values);
                if let Ok(mut g) = w.lock() {
                    *g = Window::default();
                }
            }
        }
    };
    jobs.abort_all();
    let _ = assoc.shutdown();
    s.out.done(
        reason,
        seq,
        fields! {
            "jobs_started" => total_started,
            "jobs_on_fake" => total_fake,
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_jobs_sent_to_pes_that_are_not_the_labs() {
        let fakes = FakeSet::new(&[], &[1, 2, 3]);
        let mut w = Window::default();
        for pe in [1, 9, 9, 9] {
            w.started_on(pe, &fakes);
        }
        w.accepted = 4;
        w.speeds = vec![500_000.0, 250_000.0, 1_000_000.0];
        let v = w.values();
        assert_eq!(v["jobs_started"], 4);
        assert_eq!(v["liar_share"], 0.75);
        assert_eq!(v["jobs_completed"], 3);
        assert_eq!(v["handling_speed"], 500_000.0);
        assert_eq!(v["pes_used"], 2);
        assert_eq!(Window::default().values()["liar_share"], 0.0);
    }

    #[test]
    fn handling_speed_is_calculations_per_second() {
        assert_eq!(
            handling_speed(1_000_000, Duration::from_millis(2000)),
            500_000.0
        );
        assert_eq!(handling_speed(5, Duration::ZERO), 0.0);
    }
}
