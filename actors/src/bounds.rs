//! Hard limits of every actor, enforced here whatever the caller asks
//! (issue 12 "Bad input and safety": attack tools are bounded in rate,
//! count and time and stop by themselves).

use std::time::Duration;

/// Most actions per second of any actor.
pub const MAX_RATE_PER_S: f64 = 1000.0;
/// Least actions per second (below this a run of the longest allowed
/// duration would not act once).
pub const MIN_RATE_PER_S: f64 = 0.01;
/// Most actions of one run.
pub const MAX_COUNT: u64 = 100_000;
/// Longest run, setup included.
pub const MAX_DURATION_MS: u64 = 120_000;
/// Shortest sample interval of a workload.
pub const MIN_SAMPLE_MS: u64 = 50;
/// Most SCTP associations one actor opens at once.
pub const MAX_ASSOCIATIONS: usize = 64;
/// Most pool-user sessions a workload holds.
pub const MAX_SESSIONS: usize = 64;
/// Most targets (`--target`, `--registrar`) of one actor.
pub const MAX_TARGETS: usize = 16;

/// The bounds of one run, after clamping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub rate_per_s: f64,
    pub count: u64,
    pub duration: Duration,
}

/// A requested value that was out of range and what it became.
#[derive(Clone, Debug, PartialEq)]
pub struct Clamped {
    pub what: &'static str,
    pub asked: String,
    pub used: String,
}

impl Bounds {
    /// Clamps the requested rate, count and duration into the hard limits;
    /// returns the bounds used and one note per value that was changed.
    /// A rate that is not a number becomes the least rate.
    pub fn clamp(rate_per_s: f64, count: u64, duration_ms: u64) -> (Bounds, Vec<Clamped>) {
        let mut notes = Vec::new();
        let rate = if rate_per_s.is_nan() {
            MIN_RATE_PER_S
        } else {
            rate_per_s.clamp(MIN_RATE_PER_S, MAX_RATE_PER_S)
        };
        if rate != rate_per_s {
            notes.push(Clamped {
                what: "rate",
                asked: rate_per_s.to_string(),
                used: rate.to_string(),
            });
        }
        let c = count.min(MAX_COUNT);
        if c != count {
            notes.push(Clamped {
                what: "count",
                asked: count.to_string(),
                used: c.to_string(),
            });
        }
        let d = duration_ms.min(MAX_DURATION_MS);
        if d != duration_ms {
            notes.push(Clamped {
                what: "duration_ms",
                asked: duration_ms.to_string(),
                used: d.to_string(),
            });
        }
        (
            Bounds {
                rate_per_s: rate,
                count: c,
                duration: Duration::from_millis(d),
            },
            notes,
        )
    }

    /// Time between two actions at this rate.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate_per_s)
    }
}

/// Clamps a count-like option (associations, sessions, targets) to `max`,
/// noting the change.
pub fn clamp_usize(
    what: &'static str,
    asked: usize,
    max: usize,
    notes: &mut Vec<Clamped>,
) -> usize {
    let used = asked.clamp(1, max);
    if used != asked {
        notes.push(Clamped {
            what,
            asked: asked.to_string(),
            used: used.to_string(),
        });
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_within_the_limits_are_kept() {
        let (b, notes) = Bounds::clamp(20.0, 500, 10_000);
        assert_eq!(b.rate_per_s, 20.0);
        assert_eq!(b.count, 500);
        assert_eq!(b.duration, Duration::from_secs(10));
        assert!(notes.is_empty());
    }

    #[test]
    fn excessive_rate_count_and_duration_are_clamped_to_the_hard_caps() {
        let (b, notes) = Bounds::clamp(1e9, u64::MAX, u64::MAX);
        assert_eq!(b.rate_per_s, MAX_RATE_PER_S);
        assert_eq!(b.count, MAX_COUNT);
        assert_eq!(b.duration, Duration::from_millis(MAX_DURATION_MS));
        let what: Vec<&str> = notes.iter().map(|n| n.what).collect();
        assert_eq!(what, ["rate", "count", "duration_ms"]);
    }

    #[test]
    fn zero_negative_or_nan_rates_become_the_least_rate() {
        for r in [0.0, -5.0, f64::NAN, f64::NEG_INFINITY] {
            let (b, notes) = Bounds::clamp(r, 1, 1);
            assert_eq!(b.rate_per_s, MIN_RATE_PER_S, "{r}");
            assert_eq!(notes.len(), 1, "{r}");
        }
        let (b, _) = Bounds::clamp(f64::INFINITY, 1, 1);
        assert_eq!(b.rate_per_s, MAX_RATE_PER_S);
    }

    #[test]
    fn association_and_session_counts_are_at_least_one_and_at_most_the_cap() {
        let mut notes = Vec::new();
        assert_eq!(
            clamp_usize("associations", 0, MAX_ASSOCIATIONS, &mut notes),
            1
        );
        assert_eq!(
            clamp_usize("associations", 10_000, MAX_ASSOCIATIONS, &mut notes),
            MAX_ASSOCIATIONS
        );
        assert_eq!(clamp_usize("sessions", 4, MAX_SESSIONS, &mut notes), 4);
        assert_eq!(notes.len(), 2);
    }
}
