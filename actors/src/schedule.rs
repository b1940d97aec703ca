//! When each action of a run is due: a pure function of the bounds, the
//! jitter and the seed, so a seeded run's plan is reproducible.

use std::time::Duration;

use client_core::policy::Rng;

use crate::bounds::Bounds;

/// Largest jitter: half an interval either way keeps the plan in order.
pub const MAX_JITTER: f64 = 0.5;

/// Seeds of the independent random streams of a run, derived from its
/// `--seed`: the timing jitter never shifts the choices, nor the other way.
pub fn stream_seed(seed: u64, stream: u64) -> u64 {
    // SplitMix64 of (seed, stream): distinct streams, well mixed.
    let mut r = Rng::new(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    r.next_u64()
}

/// Streams of [`stream_seed`].
pub mod stream {
    pub const TIMING: u64 = 1;
    pub const CHOICES: u64 = 2;
    pub const POOL_USER: u64 = 3;
}

/// The planned offsets (from the start of the attack) of every action.
#[derive(Clone, Debug)]
pub struct Schedule {
    interval: Duration,
    jitter: f64,
    count: u64,
    duration: Duration,
    next: u64,
    rng: Rng,
}

impl Schedule {
    /// `jitter` is a fraction of the interval (clamped to 0..=0.5): each
    /// action moves uniformly by up to that much either way.
    pub fn new(bounds: &Bounds, jitter: f64, seed: u64) -> Self {
        Schedule {
            interval: bounds.interval(),
            jitter: if jitter.is_nan() {
                0.0
            } else {
                jitter.clamp(0.0, MAX_JITTER)
            },
            count: bounds.count,
            duration: bounds.duration,
            next: 0,
            rng: Rng::new(stream_seed(seed, stream::TIMING)),
        }
    }
}

impl Iterator for Schedule {
    /// (sequence number, planned offset)
    type Item = (u64, Duration);

    fn next(&mut self) -> Option<(u64, Duration)> {
        if self.next >= self.count {
            return None;
        }
        let seq = self.next;
        let base = self.interval.as_secs_f64() * seq as f64;
        // Uniform in [-jitter, +jitter) intervals; 53 random bits.
        let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let shift = (u * 2.0 - 1.0) * self.jitter * self.interval.as_secs_f64();
        let at = Duration::from_secs_f64((base + shift).max(0.0));
        if at >= self.duration {
            return None;
        }
        self.next += 1;
        Some((seq, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(rate: f64, count: u64, ms: u64) -> Bounds {
        Bounds::clamp(rate, count, ms).0
    }

    #[test]
    fn the_plan_stops_at_the_count() {
        let plan: Vec<_> = Schedule::new(&bounds(100.0, 7, 60_000), 0.0, 1).collect();
        assert_eq!(plan.len(), 7);
        assert_eq!(plan[6], (6, Duration::from_millis(60)));
    }

    #[test]
    fn the_plan_stops_at_the_duration() {
        // 10/s for 1 s: actions at 0, 100, …, 900 ms.
        let plan: Vec<_> = Schedule::new(&bounds(10.0, 1000, 1000), 0.0, 1).collect();
        assert_eq!(plan.len(), 10);
        assert!(plan.iter().all(|(_, at)| *at < Duration::from_secs(1)));
    }

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
        let b = bounds(50.0, 200, 60_000);
        let a: Vec<_> = Schedule::new(&b, 0.3, 42).collect();
        let again: Vec<_> = Schedule::new(&b, 0.3, 42).collect();
        let other: Vec<_> = Schedule::new(&b, 0.3, 43).collect();
        assert_eq!(a, again);
        assert_ne!(a, other);
    }

    #[test]
    fn jitter_stays_within_its_share_of_the_interval_and_in_order() {
        let b = bounds(10.0, 1000, 120_000);
        let plan: Vec<_> = Schedule::new(&b, 5.0, 7).collect();
        for (seq, at) in &plan {
            let nominal = 100.0 * *seq as f64;
            let off = at.as_secs_f64() * 1000.0 - nominal;
            assert!(off.abs() <= 50.0 + 1e-6, "seq {seq} moved {off} ms");
        }
        assert!(plan.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn streams_of_one_seed_differ() {
        assert_ne!(
            stream_seed(42, stream::TIMING),
            stream_seed(42, stream::CHOICES)
        );
        assert_eq!(
            stream_seed(42, stream::CHOICES),
            stream_seed(42, stream::CHOICES)
        );
    }
}
