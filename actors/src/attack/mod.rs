//! Attackers (RFC 5355 threats): each one a paced loop of actions over the
//! common bounds, with its own setup and options.

pub mod announce;
pub mod biased_pu;
pub mod cookie_tamper;
pub mod eu_flood;
pub mod hr_flood;
pub mod ka_flood;
pub mod lying_pe;
pub mod pool_user_path;
pub mod reg_flood;
pub mod reg_spoof;
pub mod registering;
pub mod replay;
pub mod rogue_enrp;
pub mod rogue_pe;
pub mod rogue_registrar;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Result;
use client_core::policy::Rng;
use client_core::wire::PoolHandle;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::bounds::{self, Bounds};
use crate::net::parse_target;
use crate::output::{Output, Reason};
use crate::schedule::{stream, stream_seed, Schedule};
use crate::stop::{until, Ended, Stop};

/// Options every attacker takes (contract 3).
#[derive(Clone, Debug, clap::Args)]
pub struct Common {
    /// What to attack, IP:PORT (a registrar's ASAP or ENRP endpoint, a
    /// PE's endpoint; see the kind). Repeat for several; at most 16.
    #[arg(long = "target", value_name = "IP:PORT", value_parser = parse_target, required = true)]
    pub targets: Vec<SocketAddr>,
    /// Actions per second (0.01 ..= 1000).
    #[arg(long, value_name = "PER_S", default_value_t = 10.0)]
    pub rate: f64,
    /// Most actions (≤ 100000).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub count: u64,
    /// Longest run in milliseconds, setup included (≤ 120000).
    #[arg(long = "duration-ms", value_name = "MS", default_value_t = 10_000)]
    pub duration_ms: u64,
    /// Seed of every choice and of the timing jitter.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Timing jitter, a fraction of the interval between actions (0 ..= 0.5).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub jitter: f64,
    /// Pool handle the attack is about.
    #[arg(long, value_name = "HANDLE", default_value = "EchoPool")]
    pub pool: String,
}

/// What an attacker has while it runs.
pub struct Ctx {
    pub out: Output,
    pub stop: Stop,
    /// The end of the run (start + duration), setup included.
    pub deadline: Instant,
    pub bounds: Bounds,
    pub seed: u64,
    pub jitter: f64,
    pub targets: Vec<SocketAddr>,
    pub pool: PoolHandle,
    /// The choices stream (ids, victims), independent of the timing.
    pub rng: Rng,
}

impl Ctx {
    pub fn new(c: &Common, stop: Stop) -> Ctx {
        let out = Output::new();
        let (b, mut notes) = Bounds::clamp(c.rate, c.count, c.duration_ms);
        let n = bounds::clamp_usize("targets", c.targets.len(), bounds::MAX_TARGETS, &mut notes);
        for note in notes {
            out.event(
                "clamped",
                serde_json::json!({"what": note.what, "asked": note.asked, "used": note.used}),
            );
        }
        Ctx {
            deadline: Instant::now() + b.duration,
            out,
            stop,
            bounds: b,
            seed: c.seed,
            jitter: c.jitter,
            targets: c.targets[..n].to_vec(),
            pool: PoolHandle::from(c.pool.as_str()),
            rng: Rng::new(stream_seed(c.seed, stream::CHOICES)),
        }
    }

    /// Runs `setup` within the deadline; on failure prints the error and
    /// the `done` line.
    pub async fn setup<T>(&mut self, f: impl Future<Output = Result<T>>) -> Option<T> {
        let r = tokio::select! {
            r = tokio::time::timeout_at(self.deadline, f) => r,
            _ = self.stop.wait() => {
                self.out.done(Reason::Signal, 0, Map::new());
                return None;
            }
        };
        match r {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.out.event("error", format!("{e:#}"));
                self.out.done(Reason::Error, 0, Map::new());
                None
            }
            Err(_) => {
                self.out
                    .event("error", "setup did not finish within the duration (no association came up: a packet filter that drops silently looks like this)");
                self.out.done(Reason::Duration, 0, Map::new());
                None
            }
        }
    }
}

/// One action of an attacker: its name and fields for the action line.
pub type Act = (&'static str, Map<String, Value>);

/// An attacker's action step.
pub trait Attack {
    /// Does action number `seq`, drawing choices from `rng`.
    fn act(&mut self, seq: u64, rng: &mut Rng, out: &Output) -> impl Future<Output = Result<Act>>;
}

/// How a paced run ended, for the `done` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finish {
    pub reason: Reason,
    pub sent: u64,
    /// Every planned action was done before the end (the state was then
    /// held until the duration ran out).
    pub count_reached: bool,
}

/// The common bounded loop: actions at their planned times until the
/// count, the duration or a signal. With `hold`, a run whose count is
/// reached keeps its state (associations, listeners) until the duration
/// ends or a signal arrives.
pub async fn run_paced<A: Attack>(a: &mut A, ctx: &mut Ctx, hold: bool) -> Finish {
    let start = Instant::now();
    let mut sent = 0u64;
    let plan = Schedule::new(&ctx.bounds, ctx.jitter, ctx.seed);
    for (seq, offset) in plan {
        let at = start + offset;
        if at >= ctx.deadline {
            break;
        }
        if until(at, &mut ctx.stop).await == Ended::Signal {
            return finish(Reason::Signal, sent, false);
        }
        let r = tokio::select! {
            r = tokio::time::timeout_at(ctx.deadline, a.act(seq, &mut ctx.rng, &ctx.out)) => r,
            _ = ctx.stop.wait() => return finish(Reason::Signal, sent, false),
        };
        match r {
            Err(_) => return finish(Reason::Duration, sent, false),
            Ok(Ok((name, fields))) => {
                ctx.out.action(seq, offset, name, fields);
                sent += 1;
            }
            Ok(Err(e)) => {
                ctx.out.event("error", format!("{e:#}"));
                return finish(Reason::Error, sent, false);
            }
        }
    }
    let count_reached = sent >= ctx.bounds.count;
    if count_reached && !hold {
        return finish(Reason::Count, sent, true);
    }
    // The plan ran out before the deadline (or the count was reached and
    // the state is held): wait for the end.
    match until(ctx.deadline, &mut ctx.stop).await {
        Ended::Deadline => finish(Reason::Duration, sent, count_reached),
        Ended::Signal => finish(Reason::Signal, sent, count_reached),
    }
}

fn finish(reason: Reason, sent: u64, count_reached: bool) -> Finish {
    Finish {
        reason,
        sent,
        count_reached,
    }
}

/// Prints the `done` line of a paced run, with `extra` fields.
pub fn done(ctx: &Ctx, f: Finish, mut extra: Map<String, Value>) {
    if f.count_reached && f.reason != Reason::Count {
        extra.insert("actions_ended".into(), "count".into());
    }
    ctx.out.done(f.reason, f.sent, extra);
}

/// Prints a sample line every `every` (at least [`bounds::MIN_SAMPLE_MS`])
/// with what `values` returns, until the task is aborted: an attacker's
/// own view of its effect (e.g. keep-alives the victim acknowledged),
/// which the runner merges into its samples by time.
pub fn spawn_sampler(
    out: Output,
    every_ms: u64,
    mut values: impl FnMut() -> Map<String, Value> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let every = std::time::Duration::from_millis(every_ms.max(bounds::MIN_SAMPLE_MS));
    tokio::spawn(async move {
        let mut next = Instant::now() + every;
        loop {
            tokio::time::sleep_until(next).await;
            next += every;
            out.sample(values());
        }
    })
}

/// The count since the last call (a per-interval figure from a total).
pub fn delta(counter: &std::sync::atomic::AtomicU64, last: &mut u64) -> u64 {
    let now = counter.load(std::sync::atomic::Ordering::Relaxed);
    let d = now.saturating_sub(*last);
    *last = now;
    d
}

/// The victim among the PEs `listed` in `pool`: the one `want` names, or
/// one chosen by `rng` (the attackers that aim at one PE).
pub fn pick_victim(
    listed: Vec<client_core::wire::PoolElement>,
    want: Option<u32>,
    pool: &PoolHandle,
    rng: &mut Rng,
) -> Result<client_core::wire::PoolElement> {
    let ids: Vec<u32> = listed.iter().map(|e| e.id.0).collect();
    let id = match want {
        Some(id) => id,
        None => match choose(&ids, 1, rng).first() {
            Some(id) => *id,
            None => anyhow::bail!("pool {pool} is empty and no --pe-id given"),
        },
    };
    listed.into_iter().find(|e| e.id.0 == id).ok_or_else(|| {
        anyhow::anyhow!(
            "PE {} is not in pool {pool}",
            client_core::wire::PoolElementId(id)
        )
    })
}

/// `n` distinct items of `from` chosen with `rng` (all of them, shuffled,
/// when `n` is larger); `from` is sorted first so the choice depends only
/// on the set and the seed.
pub fn choose<T: Ord + Clone>(from: &[T], n: usize, rng: &mut Rng) -> Vec<T> {
    let mut v = from.to_vec();
    v.sort();
    v.dedup();
    // Fisher–Yates.
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v.truncate(n);
    v
}

/// A fresh non-zero PE identifier not in `used` (RFC 5354 §2.2.8: 0 is
/// invalid; RSPLIB draws 1 + random % 0xfffffffe).
pub fn fresh_pe_id(rng: &mut Rng, used: &mut std::collections::BTreeSet<u32>) -> u32 {
    loop {
        let id = 1 + (rng.next_u64() % 0xffff_fffe) as u32;
        if used.insert(id) {
            return id;
        }
    }
}

/// A paced run against an attacker that never fails, for the tests of
/// the loop itself.
#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Counting {
        ids: Vec<u32>,
        used: std::collections::BTreeSet<u32>,
    }

    impl Attack for Counting {
        async fn act(&mut self, _seq: u64, rng: &mut Rng, _out: &Output) -> Result<Act> {
            let id = fresh_pe_id(rng, &mut self.used);
            self.ids.push(id);
            Ok(("register", crate::fields! {"pe_id" => id}))
        }
    }

    fn ctx(rate: f64, count: u64, ms: u64, seed: u64) -> Ctx {
        let c = Common {
            targets: vec!["127.0.0.1:1".parse().unwrap()],
            rate,
            count,
            duration_ms: ms,
            seed,
            jitter: 0.2,
            pool: "EchoPool".into(),
        };
        Ctx::new(&c, Stop::never())
    }

    fn run(rate: f64, count: u64, ms: u64, seed: u64, hold: bool) -> (Finish, Vec<u32>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut c = ctx(rate, count, ms, seed);
            let mut a = Counting {
                ids: Vec::new(),
                used: Default::default(),
            };
            let f = run_paced(&mut a, &mut c, hold).await;
            (f, a.ids)
        })
    }

    #[test]
    fn a_run_stops_at_its_count() {
        let (f, ids) = run(1000.0, 25, 60_000, 1, false);
        assert_eq!(f.reason, Reason::Count);
        assert_eq!((f.sent, ids.len()), (25, 25));
    }

    #[test]
    fn a_run_stops_at_its_duration() {
        // 100/s for 500 ms: about 50 actions, never the 10000 asked for.
        let (f, ids) = run(100.0, 10_000, 500, 1, false);
        assert_eq!(f.reason, Reason::Duration);
        assert!((45..=51).contains(&ids.len()), "{}", ids.len());
    }

    #[test]
    fn a_held_run_waits_for_its_duration_after_the_count() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let t0 = Instant::now();
            let mut c = ctx(1000.0, 3, 2000, 1);
            let mut a = Counting {
                ids: Vec::new(),
                used: Default::default(),
            };
            let f = run_paced(&mut a, &mut c, true).await;
            assert_eq!(f.reason, Reason::Duration);
            assert!(f.count_reached);
            assert!(t0.elapsed() >= Duration::from_millis(2000));
        });
    }

    #[test]
    fn a_run_asked_for_more_than_the_caps_is_clamped() {
        let c = ctx(1e6, u64::MAX, u64::MAX, 1);
        assert_eq!(c.bounds.rate_per_s, bounds::MAX_RATE_PER_S);
        assert_eq!(c.bounds.count, bounds::MAX_COUNT);
        assert_eq!(
            c.bounds.duration,
            Duration::from_millis(bounds::MAX_DURATION_MS)
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_actions_and_another_seed_others() {
        let (_, a) = run(500.0, 40, 60_000, 42, false);
        let (_, again) = run(500.0, 40, 60_000, 42, false);
        let (_, other) = run(500.0, 40, 60_000, 43, false);
        assert_eq!(a, again);
        assert_ne!(a, other);
        assert!(a.iter().all(|id| *id != 0));
        let distinct: std::collections::BTreeSet<_> = a.iter().collect();
        assert_eq!(distinct.len(), a.len());
    }

    #[test]
    fn choices_depend_on_the_set_and_the_seed_only() {
        let mut r1 = Rng::new(9);
        let mut r2 = Rng::new(9);
        let a = choose(&[5u32, 1, 3, 2], 2, &mut r1);
        let b = choose(&[2u32, 3, 1, 5], 2, &mut r2);
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        assert_eq!(choose(&[1u32, 2], 10, &mut r1).len(), 2);
    }
}
